"""Road traffic noise emission per street segment with CNOSSOS-EU (Directive (EU) 2021/1226).

The model, per street segment and vehicle category ``m`` (1 light, 2 medium heavy, 3 heavy, 4a mopeds,
4b motorcycles) and octave band ``i`` (63 Hz to 8 kHz), follows Annex II section 2.2 of Directive
2002/49/EC as amended by Commission Delegated Directive (EU) 2021/1226:

* rolling noise ``L_WR = A_R + B_R lg(v / v_ref)`` (categories 1-3 only; eq. 2.2.4),
* propulsion noise ``L_WP = A_P + B_P (v - v_ref) / v_ref`` (eq. 2.2.11), ``v_ref = 70 km/h``,
* one vehicle ``L_W = 10 lg(10^(L_WR/10) + 10^(L_WP/10))`` (eq. 2.2.3),
* a steady flow ``Q_m`` veh/h at ``v_m`` km/h as a line source per metre
  ``L_W',eq,line = L_W + 10 lg(Q_m / (1000 v_m))`` (eq. 2.2.1), summed over categories,
* A-weighted with the IEC 61672-1 octave weights and summed over bands.

Coefficients (reference road surface, 20 degC, no gradient, no junction or studded-tyre correction)
are read from ``urbankit/data/cnossos_2021.csv`` (Appendix F, Table F-1; see the file header).

From emission to a level at the street: ``roadside level = L_W' - 10 lg(pi d)`` at a reference
distance ``d`` (hemicylindrical spreading of a line source over reflecting ground), ``d = 10 m`` by
default: Eixample streets are 20 m wide (Cerda plan), so a facade is about 10 m from the carriageway
axis. A documented residual background (:data:`BACKGROUND_DB`) is then added energetically so that a
street without traffic keeps the level of the surrounding city instead of falling to silence.

Documented check (tests/environment/test_env_noise.py): a street of 4,000 veh/day at 30 km/h (EU fleet
mix, RLS-90 profile, background 53/53/45 dB(A), roadside at 10 m) whose traffic falls by 82 % at the
same speed changes by -4.5 dB by day, -4.1 in the evening, -5.4 at night and -4.8 in Lden; Sant Antoni
(Barcelona city council, 2019) measured -4.1 by day, -5.3 in the evening and -5.4 at night. Busier
streets drop more (10,000 veh/day: -5.8 dB by day), quieter ones less; without the background every
period drops by 10 lg 0.18 = -7.4 dB. The background is one constant for every street, not a fit.

Limits (read before using the numbers): this is an emission index, not a noise map. There is no
propagation (ground, air absorption, diffraction), no barriers or screening by buildings, no facade
reflections or canyon effect, no junction, gradient, road-surface or temperature corrections and no
traffic from neighbouring streets except through the flat background. Facade levels for exposure
assessment under the END need a propagation model (e.g. NoiseModelling). Use the differences
before/after (``noise_change_db``) rather than absolute levels.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd

from .._errors import InvalidOptionError

logger = logging.getLogger(__name__)

__all__ = [
    "A_WEIGHTING_DB",
    "BACKGROUND_DB",
    "CATEGORIES",
    "DAY_EVENING_NIGHT_HOURS",
    "FLEET_MIX",
    "OCTAVE_BANDS_HZ",
    "PERIOD_SHARES",
    "REFERENCE_DISTANCE_M",
    "SPEED_MAX_KMH",
    "SPEED_MIN_KMH",
    "NoiseLevels",
    "cnossos_coefficients",
    "lden_db",
    "line_emission_db",
    "noise_change_db",
    "street_noise",
    "vehicle_sound_power_db",
]

#: CNOSSOS-EU vehicle categories (Directive 2002/49/EC Annex II, 2.2.1, Table 2.2.a as amended by
#: (EU) 2021/1226): 1 light motor vehicles (cars, vans <= 3.5 t), 2 medium heavy vehicles (> 3.5 t,
#: two axles: delivery trucks, buses), 3 heavy vehicles (three or more axles), 4a two-, three- and
#: four-wheel mopeds, 4b motorcycles.
CATEGORIES = ("1", "2", "3", "4a", "4b")
#: octave band centre frequencies of the method (Annex II 2.2.1), Hz
OCTAVE_BANDS_HZ = (63, 125, 250, 500, 1000, 2000, 4000, 8000)
#: A-weighting of the octave bands, dB (IEC 61672-1:2013, Table 3, octave-band values)
A_WEIGHTING_DB = (-26.2, -16.1, -8.6, -3.2, 0.0, 1.2, 1.0, -1.1)
#: reference speed of the emission model, km/h (Annex II 2.2.2, v_ref = 70 km/h)
SPEED_REF_KMH = 70.0
#: speed range of the road source model of Annex II 2.2 (20 to 130 km/h); lower (congested,
#: walking-pace) speeds are taken at 20 km/h, the floor of the method, higher ones at 130 km/h
SPEED_MIN_KMH = 20.0
SPEED_MAX_KMH = 130.0
#: END periods (Directive 2002/49/EC Annex I: day 07-19, evening 19-23, night 23-07), hours
DAY_EVENING_NIGHT_HOURS = {"day": 12.0, "evening": 4.0, "night": 8.0}
#: share of the daily (24 h) flow in each END period. Derived from RLS-90 (Richtlinien fuer den
#: Laermschutz an Strassen, 1990, Table 3, "Gemeindestrassen" = municipal streets): hourly flow
#: 0.06 x AADT from 06 to 22 h and 0.011 x AADT from 22 to 06 h. Day 07-19 = 12 x 0.06 = 0.72;
#: evening 19-23 = 3 x 0.06 + 1 x 0.011 = 0.191; night 23-07 = 7 x 0.011 + 1 x 0.06 = 0.137; the sum
#: (1.048) is normalised to 1. Override with ``period_shares=`` where counts exist.
_RLS90_RAW = {"day": 12 * 0.06, "evening": 3 * 0.06 + 0.011, "night": 7 * 0.011 + 0.06}
PERIOD_SHARES = {k: v / sum(_RLS90_RAW.values()) for k, v in _RLS90_RAW.items()}
#: share of the flow in each CNOSSOS-EU category, by country code.
#: ``"EU"`` (default): RLS-90 Table 3, municipal streets, 10 % of vehicles above 2.8 t by day,
#: taken as category 2 (urban delivery trucks and buses are mostly two-axle); no two-wheelers
#: (RLS-90 does not count them). ``"ES"``: Barcelona: powered two-wheelers are 14.7 % of the vehicles
#: on the roads entering Barcelona (RACC 2019 report, reported by Catalan News 2019), split 4a/4b by
#: the registered fleet of Barcelona province in 2022 (DGT via Idescat: 159,239 mopeds, 696,678
#: motorcycles); 10 % of the four-wheeled rest above 2.8 t as for ``"EU"``. Pass a dict
#: ``{"1": ..., "2": ..., ...}`` summing to 1 for measured counts.
_ES_PTW = 0.147
_ES_MOPED = 159_239 / (159_239 + 696_678)
FLEET_MIX: dict[str, dict[str, float]] = {
    "EU": {"1": 0.90, "2": 0.10, "3": 0.0, "4a": 0.0, "4b": 0.0},
    "ES": {
        "1": (1 - _ES_PTW) * 0.90,
        "2": (1 - _ES_PTW) * 0.10,
        "3": 0.0,
        "4a": _ES_PTW * _ES_MOPED,
        "4b": _ES_PTW * (1 - _ES_MOPED),
    },
}
#: distance from the carriageway axis at which the roadside level is stated, m (half the 20 m street
#: width of Barcelona's Eixample, Cerda plan of 1859)
REFERENCE_DISTANCE_M = 10.0
#: residual background added energetically to every street, LAeq in dB(A) per period: the WHO
#: Environmental Noise Guidelines for the European Region (2018), road traffic: Lden 53 dB, Lnight
#: 45 dB. The assumption is that a street emptied of traffic is left with the level the guidelines
#: deem acceptable from the surrounding city (day and evening at the Lden value, night at Lnight).
#: Measured backgrounds bracket it: the EEA's Dobris Assessment (Europe's Environment, 1995, ch. 10,
#: Table 10.8, after von Meier 1993) gives typical L95 (the level exceeded 95 % of the time, i.e.
#: without the passing vehicles) of 45 dB(A) by day and 30 at night in purely residential areas and
#: 55 / 40 in the "typical urban noise situation". A lower background gives larger drops where little
#: traffic remains (on the Barcelona extract the median internal Lden change is about -6.5 dB with
#: 45/45/35, -3 with these values, -7 with none): the value is not fitted to any measured change.
BACKGROUND_DB = {"day": 53.0, "evening": 53.0, "night": 45.0}
#: Lden penalties (Directive 2002/49/EC Annex I): +5 dB evening, +10 dB night
_PENALTY_DB = {"day": 0.0, "evening": 5.0, "night": 10.0}


@lru_cache(maxsize=1)
def cnossos_coefficients() -> pd.DataFrame:
    """CNOSSOS-EU (EU) 2021/1226 Table F-1 coefficients: one row per category and octave band.

    Returns
    -------
    DataFrame
        Columns ``category``, ``band_hz``, ``ar``, ``br``, ``ap``, ``bp`` (dB); ``ar``/``br`` are 0
        for the two-wheeler categories 4a/4b, which have no rolling-noise term.
    """
    text = (files("urbankit") / "data" / "cnossos_2021.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#")))
    df = pd.DataFrame(rows)
    for col in ("band_hz", "ar", "br", "ap", "bp"):
        df[col] = pd.to_numeric(df[col].replace("", np.nan))
    df["has_rolling"] = df["ar"].notna()
    return df.fillna({"ar": 0.0, "br": 0.0})


def _clip_speed(speed_kmh) -> np.ndarray:
    v = np.asarray(speed_kmh, dtype=float)
    if np.any(~np.isfinite(v)) or np.any(v < 0):
        raise InvalidOptionError("speed_kmh must be finite and >= 0 km/h; fill missing speeds first.")
    return np.clip(v, SPEED_MIN_KMH, SPEED_MAX_KMH)


def _band_power(category: str, v: np.ndarray) -> np.ndarray:
    """Per-band sound power of one vehicle, shape ``v.shape + (8,)``, unweighted dB."""
    co = cnossos_coefficients()
    co = co[co["category"] == category].sort_values("band_hz")
    vv = v[..., None]
    lwp = co["ap"].to_numpy() + co["bp"].to_numpy() * (vv - SPEED_REF_KMH) / SPEED_REF_KMH
    if not bool(co["has_rolling"].iloc[0]):
        return lwp
    lwr = co["ar"].to_numpy() + co["br"].to_numpy() * np.log10(vv / SPEED_REF_KMH)
    return 10.0 * np.log10(10.0 ** (lwr / 10.0) + 10.0 ** (lwp / 10.0))


def _check_category(category) -> str:
    cat = str(category)
    if cat not in CATEGORIES:
        raise InvalidOptionError(f"category={category!r} is not a CNOSSOS-EU category; use one of {CATEGORIES}.")
    return cat


def vehicle_sound_power_db(category, speed_kmh, *, a_weighted: bool = True) -> np.ndarray:
    """Sound power level of one vehicle of a CNOSSOS-EU category at a speed, dB (A-weighted total).

    Parameters
    ----------
    category : {"1", "2", "3", "4a", "4b"}
        CNOSSOS-EU vehicle category (see :data:`CATEGORIES`).
    speed_kmh : float or array
        Mean speed, km/h; taken within the 20-130 km/h range of the method.
    a_weighted : bool, default True
        Return the A-weighted band sum; ``False`` returns the unweighted per-band levels with a last
        axis of 8 octave bands.

    Returns
    -------
    ndarray
        dB(A) re 1 pW, same shape as ``speed_kmh`` (plus a band axis when ``a_weighted=False``).

    Raises
    ------
    InvalidOptionError
        Unknown category or negative/NaN speeds.
    """
    band = _band_power(_check_category(category), _clip_speed(speed_kmh))
    if not a_weighted:
        return band
    return 10.0 * np.log10(np.sum(10.0 ** ((band + np.asarray(A_WEIGHTING_DB)) / 10.0), axis=-1))


def _mix(fleet_mix) -> dict[str, float]:
    if isinstance(fleet_mix, str):
        if fleet_mix not in FLEET_MIX:
            raise InvalidOptionError(
                f"fleet_mix={fleet_mix!r} has no default; use one of {sorted(FLEET_MIX)} or a dict of category shares."
            )
        return FLEET_MIX[fleet_mix]
    if not isinstance(fleet_mix, Mapping):
        raise InvalidOptionError("fleet_mix must be a country code or a dict {category: share}.")
    mix = {_check_category(k): float(v) for k, v in fleet_mix.items()}
    total = sum(mix.values())
    if any(v < 0 for v in mix.values()) or not np.isclose(total, 1.0, atol=1e-6):
        raise InvalidOptionError(f"fleet_mix shares must be >= 0 and sum to 1 (they sum to {total:.4f}).")
    return mix


def line_emission_db(flow_veh_h, speed_kmh, *, fleet_mix="EU") -> np.ndarray:
    """A-weighted sound power per metre of a street's traffic, L_W' in dB(A)/m re 1 pW.

    ``L_W' = 10 lg sum_m,i 10^((L_W,i,m + 10 lg(Q_m / (1000 v)) + A_i) / 10)`` with ``Q_m`` the flow
    of category ``m`` (``fleet_mix`` share of ``flow_veh_h``) at the same mean speed ``v``. A zero
    flow gives ``-inf``.

    Parameters
    ----------
    flow_veh_h : float or array
        Total flow of both directions, vehicles per hour.
    speed_kmh : float or array
        Mean speed, km/h (taken within 20-130 km/h; the density term uses the same clipped speed).
    fleet_mix : str or dict, default "EU"
        Country code of :data:`FLEET_MIX` or a dict of category shares summing to 1.

    Returns
    -------
    ndarray
        dB(A)/m, broadcast shape of the inputs.

    Raises
    ------
    InvalidOptionError
        Negative flows or speeds, or an invalid fleet mix.
    """
    q = np.asarray(flow_veh_h, dtype=float)
    if np.any(~np.isfinite(q)) or np.any(q < 0):
        raise InvalidOptionError("flow_veh_h must be finite and >= 0 vehicles per hour.")
    v = _clip_speed(speed_kmh)
    q, v = np.broadcast_arrays(q, v)
    energy = np.zeros(q.shape)
    for cat, share in _mix(fleet_mix).items():
        if share <= 0:
            continue
        lw = vehicle_sound_power_db(cat, v)
        energy = energy + share * q / (1000.0 * v) * 10.0 ** (lw / 10.0)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(energy)


def _energy_sum(*levels_db) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(sum(10.0 ** (np.asarray(x, dtype=float) / 10.0) for x in levels_db))


def lden_db(l_day, l_evening, l_night) -> np.ndarray:
    """Day-evening-night level with the +5/+10 dB penalties (Directive 2002/49/EC Annex I).

    ``Lden = 10 lg((12 10^(Lday/10) + 4 10^((Levening+5)/10) + 8 10^((Lnight+10)/10)) / 24)``

    Parameters
    ----------
    l_day, l_evening, l_night : float or array
        LAeq of the periods 07-19, 19-23 and 23-07 h, dB(A).

    Returns
    -------
    ndarray
        Lden, dB(A).

    >>> round(float(lden_db(60.0, 60.0, 60.0)), 1)
    66.4
    """
    h = DAY_EVENING_NIGHT_HOURS
    e = (
        h["day"] * 10.0 ** ((np.asarray(l_day, float) + _PENALTY_DB["day"]) / 10.0)
        + h["evening"] * 10.0 ** ((np.asarray(l_evening, float) + _PENALTY_DB["evening"]) / 10.0)
        + h["night"] * 10.0 ** ((np.asarray(l_night, float) + _PENALTY_DB["night"]) / 10.0)
    )
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(e / sum(h.values()))


@dataclass(frozen=True)
class NoiseLevels:
    """Roadside LAeq per END period and Lden of each street segment, dB(A) (arrays, one per segment).

    Parameters
    ----------
    l_day, l_evening, l_night : ndarray
        LAeq of the periods 07-19, 19-23 and 23-07 h.
    l_den : ndarray
        Day-evening-night level (:func:`lden_db`).
    """

    l_day: np.ndarray
    l_evening: np.ndarray
    l_night: np.ndarray
    l_den: np.ndarray

    def to_frame(self, index=None) -> pd.DataFrame:
        """The four levels as columns ``l_day_db``, ``l_evening_db``, ``l_night_db``, ``l_den_db``.

        Parameters
        ----------
        index : array-like, optional
            Index of the frame (e.g. the edges' index).

        Returns
        -------
        DataFrame
        """
        return pd.DataFrame(
            {
                "l_day_db": np.atleast_1d(self.l_day),
                "l_evening_db": np.atleast_1d(self.l_evening),
                "l_night_db": np.atleast_1d(self.l_night),
                "l_den_db": np.atleast_1d(self.l_den),
            },
            index=index,
        )


def street_noise(
    flow_veh_day,
    speed_kmh,
    *,
    fleet_mix="EU",
    period_shares: Mapping[str, float] | None = None,
    background_db: Mapping[str, float] | None = None,
    reference_distance_m: float = REFERENCE_DISTANCE_M,
) -> NoiseLevels:
    """Roadside Lday, Levening, Lnight and Lden of street segments from their daily flow and speed.

    Each period's hourly flow is ``share x flow_veh_day / hours``; its line emission
    (:func:`line_emission_db`) becomes a roadside level ``L_W' - 10 lg(pi d)`` at
    ``reference_distance_m`` and the residual background is added energetically. See the module
    docstring for what the model leaves out.

    Parameters
    ----------
    flow_veh_day : float or array
        Daily (24 h) flow of both directions, vehicles/day.
    speed_kmh : float or array
        Mean speed, km/h (the same in every period).
    fleet_mix : str or dict, default "EU"
        See :data:`FLEET_MIX`.
    period_shares : dict, optional
        Shares of the daily flow in ``"day"``, ``"evening"``, ``"night"`` (sum 1); default
        :data:`PERIOD_SHARES`.
    background_db : dict, optional
        Residual LAeq per period, dB(A); default :data:`BACKGROUND_DB`. ``{"day": -inf, ...}``
        switches it off.
    reference_distance_m : float, default 10
        Distance from the carriageway axis, m.

    Returns
    -------
    NoiseLevels

    Raises
    ------
    InvalidOptionError
        Invalid shares, flows, speeds or distance.
    """
    shares = dict(PERIOD_SHARES if period_shares is None else period_shares)
    background = dict(BACKGROUND_DB if background_db is None else background_db)
    for name, d in (("period_shares", shares), ("background_db", background)):
        if set(d) != set(DAY_EVENING_NIGHT_HOURS):
            raise InvalidOptionError(f"{name} needs exactly the keys 'day', 'evening', 'night'.")
    if any(v < 0 for v in shares.values()) or not np.isclose(sum(shares.values()), 1.0, atol=1e-6):
        raise InvalidOptionError("period_shares must be >= 0 and sum to 1.")
    if not reference_distance_m > 0:
        raise InvalidOptionError("reference_distance_m must be > 0 m.")
    q_day = np.asarray(flow_veh_day, dtype=float)
    spreading = 10.0 * np.log10(np.pi * reference_distance_m)
    out = {}
    for period, hours in DAY_EVENING_NIGHT_HOURS.items():
        emission = line_emission_db(shares[period] * q_day / hours, speed_kmh, fleet_mix=fleet_mix)
        out[period] = _energy_sum(emission - spreading, background[period])
    return NoiseLevels(out["day"], out["evening"], out["night"], lden_db(out["day"], out["evening"], out["night"]))


def noise_change_db(before, after) -> np.ndarray | pd.DataFrame:
    """Change of level per segment, ``after - before`` in dB.

    Parameters
    ----------
    before, after : NoiseLevels or array
        Levels of the same segments before and after the scenario.

    Returns
    -------
    DataFrame or ndarray
        For :class:`NoiseLevels`, columns ``d_l_day_db``, ``d_l_evening_db``, ``d_l_night_db``,
        ``d_l_den_db``; for arrays, the element-wise difference.

    Raises
    ------
    InvalidOptionError
        Inputs of different kinds or lengths.
    """
    if isinstance(before, NoiseLevels) != isinstance(after, NoiseLevels):
        raise InvalidOptionError("before and after must both be NoiseLevels or both arrays.")
    if isinstance(before, NoiseLevels):
        b, a = before.to_frame(), after.to_frame()
        if len(a) != len(b):
            raise InvalidOptionError(f"before has {len(b)} segments, after has {len(a)}; they must match.")
        return (a - b).add_prefix("d_")
    b, a = np.asarray(before, float), np.asarray(after, float)
    if a.shape != b.shape:
        raise InvalidOptionError(f"before has shape {b.shape}, after {a.shape}; they must match.")
    return a - b
