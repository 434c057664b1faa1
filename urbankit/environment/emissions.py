"""Road traffic emissions per vehicle-km as functions of mean speed (COPERT / EMEP/EEA Tier 3).

Hot exhaust NOx, exhaust PM (all PM2.5) and fuel consumption follow the Tier 3 speed functions of the
EMEP/EEA air pollutant emission inventory guidebook (chapter 1.A.3.b.i-iv; coefficients of the 2013
guidebook annex updated in September 2014, Euro 5/6/6c passenger cars and light commercial vehicles,
``urbankit/data/copert_2014_hot.csv``). CO2 follows from fuel consumption with the guidebook's
carbon balance. Non-exhaust PM (tyre, brake, road surface wear) follows the Tier 2 method of chapters
1.A.3.b.vi-vii with its speed corrections (``urbankit/data/copert_nonexhaust.csv``).

Emission factors are weighted over a documented fleet (:data:`FLEETS`, share of vehicle-km by vehicle
type, fuel and Euro class); pass your own dict or a table in the same CSV schema
(``coefficients=``) to switch.

Where the annex coefficients are missing (passenger-car fuel consumption, hence CO2; heavy-duty
trucks), the factors come from COPERT 5 itself, tabulated every 10 km/h from 10 to 130 km/h for the
EU27 fleet average of each Euro class (``urbankit/data/copert5_tabulated_hot.csv``: COPERT 5.4.52 as
run by EUROCONTROL and published with Open-ALAQS; see the file header) and interpolated linearly in
speed (:func:`tabulated_emission_factor`). A coefficient row always wins over a tabulated one.

Limits: hot emissions only (no cold-start excess, which matters for short urban trips), no road
gradient, load, temperature or degradation corrections; speeds outside a function's validity range
are taken at its bounds. Two-wheelers have no rows. The factors are emissions, not concentrations:
NO2 exposure needs a dispersion model.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd

from .._errors import InvalidOptionError

logger = logging.getLogger(__name__)

__all__ = [
    "CO2_PER_FUEL",
    "FLEETS",
    "coefficient_table",
    "co2_from_fuel",
    "fleet_emission_factors",
    "hot_emission_factor",
    "non_exhaust_pm",
    "street_emissions",
    "tabulated_emission_factor",
]

#: g CO2 per g fuel: EMEP/EEA guidebook 1.A.3.b.i-iv, CO2 = 44.011 FC / (12.011 + 1.008 r_H:C) for
#: fuels without oxygenates, with hydrogen-to-carbon ratios r_H:C ~1.8 (petrol) and ~2.0 (diesel) as given
#: there: 3.183 g/g for petrol, 3.138 g/g for diesel.
CO2_PER_FUEL = {"petrol": 44.011 / (12.011 + 1.008 * 1.80), "diesel": 44.011 / (12.011 + 1.008 * 2.00)}

#: vehicle-km shares of the light-vehicle fleet (CNOSSOS-EU category 1) by (vehicle, fuel, Euro class).
#: ``"EU"``: cars 89.4 % and vans 10.6 % (EU stock 2021: ~250 million cars, 29.5 million vans, ACEA
#: "Vehicles in use, Europe 2023"); cars 54.7 % petrol, 45.3 % diesel (EU car stock 2020: petrol 51.7 %,
#: diesel 42.8 %, ACEA "Vehicles in use, Europe 2022", renormalised over the two fuels); vans 91 % diesel
#: (ACEA 2023); all Euro 6 (a/b/c, the annex class "6"). Real fleets are older (mean car age 11.8
#: years, ACEA 2022) and emit more NOx: give a local fleet where known. ``"EU_vans"``: the van part
#: only, the one fleet of the packaged table with fuel consumption (hence CO2) rows. ``"HDV"``: heavy-duty
#: diesel trucks of Euro VI D/E (EU27 average of the COPERT 5 segments, the tabulated rows), the fleet
#: of CNOSSOS-EU categories 2 and 3 in the superblock effects.
_CAR, _VAN = 250.0 / 279.5, 29.5 / 279.5
_PETROL = 51.7 / (51.7 + 42.8)
FLEETS: dict[str, dict[tuple[str, str, str], float]] = {
    "EU": {
        ("PC", "petrol", "6"): _CAR * _PETROL,
        ("PC", "diesel", "6"): _CAR * (1 - _PETROL),
        ("LCV", "petrol", "6"): _VAN * 0.09,
        ("LCV", "diesel", "6"): _VAN * 0.91,
    },
    "EU_vans": {("LCV", "petrol", "6"): 0.09, ("LCV", "diesel", "6"): 0.91},
    "HDV": {("HDV", "diesel", "VI-D/E"): 1.0},
}
#: mean speeds of the tabulated COPERT 5 factors, km/h
TABULATED_SPEEDS_KMH = tuple(range(10, 131, 10))
_POLLUTANTS = ("NOx", "PM2.5", "CO2")
_PM_SIZES = {"PM2.5": "f_pm25", "PM10": "f_pm10", "TSP": None}


def _read_csv(name: str) -> pd.DataFrame:
    text = (files("urbankit") / "data" / name).read_text(encoding="utf-8")
    rows = list(csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#")))
    return pd.DataFrame(rows)


def _normalise_table(df: pd.DataFrame, source: str) -> pd.DataFrame:
    need = ["vehicle", "fuel", "euro", "pollutant", "alpha", "beta", "gamma", "delta", "epsilon", "zita", "rf"]
    need += ["vmin", "vmax", "equation"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InvalidOptionError(f"coefficient table {source} lacks columns {missing}; see copert_2014_hot.csv.")
    df = df[need].copy()
    for c in need[4:]:
        df[c] = pd.to_numeric(df[c], errors="raise")
    df["equation"] = df["equation"].astype(int)
    for c in ("vehicle", "fuel", "euro", "pollutant"):
        df[c] = df[c].astype(str).str.strip()
    return df


@lru_cache(maxsize=1)
def _packaged_table() -> pd.DataFrame:
    return _normalise_table(_read_csv("copert_2014_hot.csv"), "copert_2014_hot.csv")


def coefficient_table(coefficients=None) -> pd.DataFrame:
    """The Tier 3 coefficient table: the packaged one, or ``coefficients`` (a DataFrame or CSV path).

    Parameters
    ----------
    coefficients : DataFrame, str or Path, optional
        A table with the columns of ``urbankit/data/copert_2014_hot.csv``.

    Returns
    -------
    DataFrame

    Raises
    ------
    InvalidOptionError
        Missing columns or non-numeric coefficients.
    """
    if coefficients is None:
        return _packaged_table()
    if isinstance(coefficients, pd.DataFrame):
        return _normalise_table(coefficients, "coefficients=")
    return _normalise_table(pd.read_csv(coefficients, comment="#"), str(coefficients))


def _equation(n: int, c: Mapping[str, float], v: np.ndarray) -> np.ndarray:
    a, b, cc, d, e, f = (c[k] for k in ("alpha", "beta", "gamma", "delta", "epsilon", "zita"))
    if n == 1:
        out = (a + cc * v + e * v**2 + f / v) / (1 + b * v + d * v**2)
    elif n == 6:
        out = a + b / (1 + np.exp(-cc + d * np.log(v) + e * v))
    elif n == 9:
        out = a * v**b + cc * v**d
    elif n == 12:
        out = 1 / (cc * v**2 + b * v + a)
    elif n == 17:
        out = a * v**5 + b * v**4 + cc * v**3 + d * v**2 + e * v + f
    else:
        raise InvalidOptionError(f"equation {n} of the EMEP/EEA annex is not implemented (1, 6, 9, 12, 17 are).")
    return out * (1 - c["rf"])


def _speed(speed_kmh) -> np.ndarray:
    v = np.asarray(speed_kmh, dtype=float)
    if np.any(~np.isfinite(v)) or np.any(v <= 0):
        raise InvalidOptionError("speed_kmh must be finite and > 0 km/h.")
    return v


def hot_emission_factor(
    pollutant: str, speed_kmh, *, vehicle: str = "PC", fuel: str = "diesel", euro: str = "6", coefficients=None
) -> np.ndarray:
    """Hot exhaust emission factor of one technology at a mean speed, g per vehicle-km.

    Parameters
    ----------
    pollutant : {"NOx", "PM_exhaust", "FC"}
        As in the coefficient table (FC = fuel consumption, g/km).
    speed_kmh : float or array
        Mean speed, km/h; taken within the function's ``vmin``-``vmax`` range.
    vehicle, fuel, euro : str
        ``"PC"``/``"LCV"``, ``"petrol"``/``"diesel"``, ``"5"``/``"6"``/``"6c"`` in the packaged table.
    coefficients : DataFrame or path, optional
        Another table in the same schema (e.g. transcribed from a newer guidebook annex).

    Returns
    -------
    ndarray
        g/km, shape of ``speed_kmh``.

    Raises
    ------
    InvalidOptionError
        No row for that technology and pollutant, or invalid speeds.
    """
    table = coefficient_table(coefficients)
    key = (table.vehicle == vehicle) & (table.fuel == fuel) & (table.euro == str(euro)) & (table.pollutant == pollutant)
    if not key.any():
        have = sorted(set(zip(table.vehicle, table.fuel, table.euro, table.pollutant)))
        raise InvalidOptionError(
            f"no {pollutant} coefficients for vehicle={vehicle!r}, fuel={fuel!r}, euro={euro!r}; the table has {have}."
        )
    row = table[key].iloc[0]
    v = np.clip(_speed(speed_kmh), row["vmin"], row["vmax"])
    return _equation(int(row["equation"]), row, v)


def co2_from_fuel(fc_g_per_km, fuel: str) -> np.ndarray:
    """CO2 in g/km from fuel consumption in g/km (:data:`CO2_PER_FUEL`).

    Parameters
    ----------
    fc_g_per_km : float or array
        Fuel consumption, g/km.
    fuel : {"petrol", "diesel"}

    Returns
    -------
    ndarray

    Raises
    ------
    InvalidOptionError
        Unknown fuel.
    """
    if fuel not in CO2_PER_FUEL:
        raise InvalidOptionError(f"fuel={fuel!r} has no carbon balance; use one of {sorted(CO2_PER_FUEL)}.")
    return np.asarray(fc_g_per_km, dtype=float) * CO2_PER_FUEL[fuel]


@lru_cache(maxsize=1)
def _tabulated_table() -> pd.DataFrame:
    df = _read_csv("copert5_tabulated_hot.csv")
    for c in df.columns[5:]:
        df[c] = pd.to_numeric(df[c])
    return df


def tabulated_emission_factor(
    pollutant: str, speed_kmh, *, vehicle: str = "PC", fuel: str = "petrol", euro: str = "6", country: str = "EU27"
) -> np.ndarray:
    """Hot emission factor from the tabulated COPERT 5 factors, g per vehicle-km.

    Linear interpolation between the factors at 10, 20, ..., 130 km/h of
    ``urbankit/data/copert5_tabulated_hot.csv``; speeds outside are taken at the bounds.

    Parameters
    ----------
    pollutant : {"CO2", "NOx", "PM_exhaust"}
    speed_kmh : float or array
        Mean speed, km/h.
    vehicle, fuel, euro, country : str
        A row of the table: ``("PC", "petrol"|"diesel", "6")`` or ``("HDV", "diesel", "VI-D/E")``,
        country ``"EU27"``.

    Returns
    -------
    ndarray
        g/km, shape of ``speed_kmh``.

    Raises
    ------
    InvalidOptionError
        No row for that technology and pollutant, or invalid speeds.
    """
    t = _tabulated_table()
    key = (t.vehicle == vehicle) & (t.fuel == fuel) & (t.euro == str(euro)) & (t.pollutant == pollutant)
    key &= t.country == country
    if not key.any():
        have = sorted(set(zip(t.vehicle, t.fuel, t.euro, t.pollutant)))
        raise InvalidOptionError(
            f"no tabulated {pollutant} factors for vehicle={vehicle!r}, fuel={fuel!r}, euro={euro!r}, "
            f"country={country!r}; the table has {have}."
        )
    values = t.loc[key, [f"v{s}" for s in TABULATED_SPEEDS_KMH]].iloc[0].to_numpy(float)
    return np.interp(_speed(speed_kmh), TABULATED_SPEEDS_KMH, values)


def _has_coefficients(pollutant: str, key: tuple, coefficients) -> bool:
    t = coefficient_table(coefficients)
    return bool(((t.vehicle == key[0]) & (t.fuel == key[1]) & (t.euro == key[2]) & (t.pollutant == pollutant)).any())


def _component(pollutant: str, v: np.ndarray, key: tuple, coefficients) -> np.ndarray:
    """g/km of one fleet component: the Tier 3 coefficients, else the tabulated COPERT 5 factors."""
    vehicle, fuel, euro = key
    if pollutant == "CO2":
        if _has_coefficients("FC", key, coefficients):
            fc = hot_emission_factor("FC", v, vehicle=vehicle, fuel=fuel, euro=euro, coefficients=coefficients)
            return co2_from_fuel(fc, fuel)
        return tabulated_emission_factor("CO2", v, vehicle=vehicle, fuel=fuel, euro=euro)
    if _has_coefficients(pollutant, key, coefficients):
        return hot_emission_factor(pollutant, v, vehicle=vehicle, fuel=fuel, euro=euro, coefficients=coefficients)
    return tabulated_emission_factor(pollutant, v, vehicle=vehicle, fuel=fuel, euro=euro)


@lru_cache(maxsize=1)
def _non_exhaust_table() -> pd.DataFrame:
    df = _read_csv("copert_nonexhaust.csv")
    for c in ("tsp_g_per_vkm", "f_pm10", "f_pm25"):
        df[c] = pd.to_numeric(df[c])
    return df


def _tyre_speed_factor(v: np.ndarray) -> np.ndarray:
    # EMEP/EEA 1.A.3.b.vi, Tier 2 tyre wear speed correction S_T(V)
    return np.where(v < 40, 1.39, np.where(v <= 90, -0.00974 * v + 1.78, 0.902))


def _brake_speed_factor(v: np.ndarray) -> np.ndarray:
    # EMEP/EEA 1.A.3.b.vi, Tier 2 brake wear speed correction S_B(V)
    return np.where(v < 40, 1.67, np.where(v <= 95, -0.0270 * v + 2.75, 0.185))


def non_exhaust_pm(speed_kmh, *, vehicle: str = "PC", size: str = "PM2.5") -> pd.DataFrame:
    """Tyre, brake and road-surface wear PM per vehicle-km (EMEP/EEA 1.A.3.b.vi-vii, Tier 2).

    Parameters
    ----------
    speed_kmh : float or array
        Mean speed, km/h (tyre and brake wear fall with speed; road wear does not depend on it).
    vehicle : {"PC", "LCV", "HDV"}
    size : {"PM2.5", "PM10", "TSP"}

    Returns
    -------
    DataFrame
        Columns ``tyre``, ``brake``, ``road``, ``total`` in g/km, one row per speed.

    Raises
    ------
    InvalidOptionError
        Unknown vehicle or size, or invalid speeds.
    """
    if size not in _PM_SIZES:
        raise InvalidOptionError(f"size={size!r} is not one of {sorted(_PM_SIZES)}.")
    table = _non_exhaust_table()
    rows = table[table.vehicle == vehicle].set_index("source")
    if rows.empty:
        raise InvalidOptionError(f"vehicle={vehicle!r} has no wear factors; use one of {sorted(set(table.vehicle))}.")
    v = np.atleast_1d(_speed(speed_kmh))
    frac = (lambda s: 1.0) if _PM_SIZES[size] is None else (lambda s: rows.loc[s, _PM_SIZES[size]])
    out = pd.DataFrame(
        {
            "tyre": rows.loc["tyre", "tsp_g_per_vkm"] * frac("tyre") * _tyre_speed_factor(v),
            "brake": rows.loc["brake", "tsp_g_per_vkm"] * frac("brake") * _brake_speed_factor(v),
            "road": np.full(v.shape, rows.loc["road", "tsp_g_per_vkm"] * frac("road")),
        }
    )
    out["total"] = out.sum(axis=1)
    return out


def _fleet(fleet) -> dict[tuple[str, str, str], float]:
    if isinstance(fleet, str):
        if fleet not in FLEETS:
            raise InvalidOptionError(f"fleet={fleet!r} is not one of {sorted(FLEETS)}; or pass a dict of shares.")
        return FLEETS[fleet]
    if not isinstance(fleet, Mapping):
        raise InvalidOptionError("fleet must be a name of FLEETS or a dict {(vehicle, fuel, euro): share}.")
    shares = {tuple(map(str, k)): float(v) for k, v in fleet.items()}
    total = sum(shares.values())
    if any(v < 0 for v in shares.values()) or not np.isclose(total, 1.0, atol=1e-6):
        raise InvalidOptionError(f"fleet shares must be >= 0 and sum to 1 (they sum to {total:.4f}).")
    return shares


def fleet_emission_factors(speed_kmh, *, fleet="EU", pollutants=("NOx", "PM2.5"), coefficients=None) -> pd.DataFrame:
    """Fleet-weighted emission factors at mean speeds, g per vehicle-km.

    Parameters
    ----------
    speed_kmh : float or array
        Mean speed of each street segment, km/h.
    fleet : str or dict, default "EU"
        A name of :data:`FLEETS` or ``{(vehicle, fuel, euro): vehicle-km share}`` summing to 1.
    pollutants : sequence of {"NOx", "PM2.5", "CO2"}
        ``"PM2.5"`` is exhaust plus tyre, brake and road wear; ``"CO2"`` needs ``FC`` rows or tabulated
        CO2 factors for every fleet component.
    coefficients : DataFrame or path, optional
        Another hot-emission coefficient table (see :func:`coefficient_table`).

    Returns
    -------
    DataFrame
        One row per speed; columns ``nox_g_per_vkm``; ``pm25_exhaust_g_per_vkm``,
        ``pm25_non_exhaust_g_per_vkm``, ``pm25_g_per_vkm``; ``co2_g_per_vkm`` as requested.

    Raises
    ------
    InvalidOptionError
        Unknown pollutant or fleet, or a fleet component without coefficients.
    """
    bad = [p for p in pollutants if p not in _POLLUTANTS]
    if bad:
        raise InvalidOptionError(f"pollutants {bad} are not among {_POLLUTANTS}.")
    shares = _fleet(fleet)
    v = np.atleast_1d(_speed(speed_kmh))
    out = pd.DataFrame(index=range(len(v)))
    if "NOx" in pollutants:
        out["nox_g_per_vkm"] = sum(s * _component("NOx", v, k, coefficients) for k, s in shares.items())
    if "PM2.5" in pollutants:
        exhaust = sum(s * _component("PM_exhaust", v, k, coefficients) for k, s in shares.items())
        wear = sum(s * non_exhaust_pm(v, vehicle=k[0], size="PM2.5")["total"].to_numpy() for k, s in shares.items())
        out["pm25_exhaust_g_per_vkm"] = exhaust
        out["pm25_non_exhaust_g_per_vkm"] = wear
        out["pm25_g_per_vkm"] = exhaust + wear
    if "CO2" in pollutants:
        try:
            out["co2_g_per_vkm"] = sum(s * _component("CO2", v, k, coefficients) for k, s in shares.items())
        except InvalidOptionError as exc:
            raise InvalidOptionError(
                f"CO2 needs fuel-consumption (FC) coefficients or tabulated CO2 factors for every fleet "
                f"component: {exc} Pass coefficients= with FC rows, or a fleet such as 'EU'."
            ) from None
    return out


def street_emissions(
    flow_veh_day, length_m, speed_kmh, *, fleet="EU", pollutants=("NOx", "PM2.5"), coefficients=None
) -> pd.DataFrame:
    """Daily emissions of each street segment: flow x length x fleet emission factor at its speed.

    Parameters
    ----------
    flow_veh_day : array
        Daily flow of both directions, vehicles/day.
    length_m : array
        Segment length, m.
    speed_kmh : array
        Mean (e.g. congested) speed, km/h.
    fleet, pollutants, coefficients
        As in :func:`fleet_emission_factors`.

    Returns
    -------
    DataFrame
        ``vkm_day`` and, per pollutant, ``nox_g_day``, ``pm25_g_day`` (and its exhaust and
        non-exhaust parts), ``co2_kg_day``; one row per segment.

    Raises
    ------
    InvalidOptionError
        Arrays of different lengths, negative flows or lengths.
    """
    q = np.atleast_1d(np.asarray(flow_veh_day, dtype=float))
    length = np.atleast_1d(np.asarray(length_m, dtype=float))
    v = np.broadcast_to(np.atleast_1d(np.asarray(speed_kmh, dtype=float)), q.shape)
    if q.shape != length.shape:
        raise InvalidOptionError("flow_veh_day and length_m must have one value per segment.")
    if np.any(~np.isfinite(q)) or np.any(q < 0) or np.any(~np.isfinite(length)) or np.any(length < 0):
        raise InvalidOptionError("flow_veh_day and length_m must be finite and >= 0.")
    ef = fleet_emission_factors(v, fleet=fleet, pollutants=pollutants, coefficients=coefficients)
    vkm = q * length / 1000.0
    out = pd.DataFrame({"vkm_day": vkm})
    for col in ef.columns:
        name = col.replace("_g_per_vkm", "")
        if name == "co2":
            out["co2_kg_day"] = vkm * ef[col].to_numpy() / 1000.0
        else:
            out[f"{name}_g_day"] = vkm * ef[col].to_numpy()
    return out
