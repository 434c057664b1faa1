"""An ESTIMATE of the health impact of a change of road-traffic noise and NO2: premature deaths avoided per year.

This is a comparative risk assessment in the manner of Mueller et al. (2020), "Changing the urban
design of cities for health: The superblock model", Environment International 134:105132 (Barcelona's
503-superblock scenario: 667 premature deaths avoided per year, 163 of them from road-traffic noise):
a published exposure-response function turns each resident's change of exposure into a change of
risk, and a baseline death rate turns the risk into deaths.

What is estimated
-----------------
* **Road-traffic noise -> ischaemic heart disease (IHD) deaths.** The relative risk of IHD rises by a
  factor 1.08 (95% CI 1.01-1.15) per 10 dB Lden of road-traffic noise (van Kempen et al. 2018, the
  systematic review behind the WHO 2018 Environmental Noise Guidelines), counted above the WHO guideline
  level of 53 dB Lden. For residents of a street whose Lden goes from ``L_b`` to ``L_a``::

      RR(L)          = 1.08 ** (max(L - 53, 0) / 10)
      deaths_avoided = residents * rate / 100 000 * (1 - RR(L_a) / RR(L_b))

  where ``rate`` is the baseline IHD death rate (deaths per 100 000 inhabitants per year) observed
  under the "before" exposure. A street that gets louder gives a negative number (deaths added). The
  coefficients and their sources are in ``urbankit/data/health_erf.csv``
  (:func:`health_coefficients`); the default rate is Spain's (Eurostat), ``region="EU"`` the EU's,
  or give ``baseline_rate_per_100k``.

* **NO2 -> all-cause (natural) mortality**, when NO2 concentrations before and after are given (the
  superblock effects compute them per street with :mod:`urbankit.environment.air`: SRM1 roadside
  increment from each street's NOx emission, Duering et al. 2011 NOx -> NO2 conversion, over an urban
  background). The default function is the WHO/HRAPIE recommendation (WHO 2013): RR 1.055 (95% CI
  1.031-1.080) per 10 ug/m3 of annual-mean NO2 above 20 ug/m3; ``no2_function="who2021"`` uses the
  review behind the WHO 2021 guidelines (Huangfu & Atkinson 2020: RR 1.02, 1.01-1.04, per 10 ug/m3)
  above the 2021 guideline level of 10 ug/m3. With the same form as for noise::

      RR(c)          = rr ** (max(c - threshold, 0) / 10)
      deaths_avoided = residents * rate / 100 000 * (1 - RR(c_after) / RR(c_before))

  which is ``1 - rr ** (-dNO2 / 10)`` for a fall ``dNO2`` above the threshold; ``rate`` is the crude
  all-cause death rate (INE for Spain, Eurostat for the EU; ``health_erf.csv``) or
  ``no2_baseline_rate_per_100k``. The roadside increments are uncertain (see
  :data:`urbankit.environment.air.AIR_CAVEAT`): without NO2 concentrations the ``no2`` row says
  :data:`NO2_NOT_ESTIMATED` instead of giving a number.

Limits (carried in :data:`HEALTH_CAVEAT`)
-----------------------------------------
The exposure is the roadside Lden of the resident's nearest street (urbankit's CNOSSOS-EU emission
index, no propagation, screening or quiet facades), not a facade level; the relative risk is for IHD
incidence and is applied to IHD deaths; the baseline rate is a national age-standardised rate applied
to every resident, whatever the local age structure; there is no time lag, no other cause of death,
no PM2.5, heat, green space or physical activity pathway. The NO2 exposure is a screening estimate at
the roadside of each resident's nearest street over an assumed urban background, and NO2 partly stands
for the traffic pollution mixture (the HRAPIE function may overlap with PM2.5 effects). Read the result as an order of
magnitude for comparing scenarios, never as a forecast of deaths.
"""

from __future__ import annotations

import csv
import logging
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd

from .._errors import InvalidOptionError
from .air import AIR_CAVEAT

logger = logging.getLogger(__name__)

__all__ = [
    "ESTIMATE_LABEL",
    "HEALTH_CAVEAT",
    "NO2_FUNCTIONS",
    "NO2_NOT_ESTIMATED",
    "REGIONS",
    "deaths_avoided_no2",
    "deaths_avoided_noise",
    "health_coefficients",
    "health_impact",
    "health_table",
    "no2_relative_risk",
    "noise_relative_risk",
]

#: the label every health result carries
ESTIMATE_LABEL = (
    "ESTIMATE: premature deaths avoided per year from published exposure-response functions; "
    "not a measurement or a forecast"
)
#: the method and its limits, carried by every health result
HEALTH_CAVEAT = (
    "Health impact ESTIMATE in the manner of Mueller et al. 2020 (Environ Int 134:105132). Road-traffic "
    "noise: ischaemic heart disease relative risk 1.08 (95% CI 1.01-1.15) per 10 dB Lden above 53 dB "
    "(van Kempen et al. 2018 for the WHO 2018 Environmental Noise Guidelines), times a national baseline "
    "IHD death rate (Eurostat). Exposure is the roadside Lden of each resident's nearest street (an "
    "emission index without propagation or quiet facades), the risk is for IHD incidence applied to "
    "deaths, the rate is age-standardised and applied to all residents. NO2 (when estimated): all-cause "
    "mortality RR 1.055 (1.031-1.080) per 10 ug/m3 above 20 ug/m3 (WHO 2013 HRAPIE) at the roadside NO2 of "
    "each resident's nearest street (SRM1 screening increment from its NOx emission over an assumed urban "
    "background: uncertain), times the crude all-cause death rate. No PM2.5, heat, green-space or "
    "physical-activity pathway. An order of magnitude for comparing scenarios, not a forecast."
)
#: why the NO2 row gives no number when no NO2 concentrations are given
NO2_NOT_ESTIMATED = (
    "NO2 not estimated: no NO2 concentrations before and after were given (health_impact(no2_before_ugm3=, "
    "no2_after_ugm3=), or effects edges with no2_before_ugm3/no2_after_ugm3 from the 'cnossos' model)."
)
#: the NO2 exposure-response functions (``no2_function``)
NO2_FUNCTIONS = ("hrapie", "who2021")

_KEY_RR = "noise_ihd_rr_per_10db"
_KEY_THRESHOLD = "noise_threshold_lden_db"
_KEY_RATE = "ihd_deaths_per_100k"
_KEY_NO2_RR = "no2_rr_per_10ugm3"
_KEY_NO2_THRESHOLD = "no2_threshold_ugm3"
_KEY_ALL_CAUSE = "all_cause_deaths_per_100k"


@lru_cache(maxsize=1)
def health_coefficients() -> pd.DataFrame:
    """The coefficients of the estimate, each with its source (``urbankit/data/health_erf.csv``).

    Returns
    -------
    pandas.DataFrame
        Columns ``key``, ``region`` ("" for any), ``value``, ``unit``, ``low``, ``high`` (95%
        confidence interval where published, else NaN), ``source`` and ``note``.
    """
    text = (files("urbankit") / "data" / "health_erf.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#")))
    df = pd.DataFrame(rows)
    for col in ("value", "low", "high"):
        df[col] = pd.to_numeric(df[col].replace("", np.nan))
    return df


def _coefficient(key: str, region: str = "") -> pd.Series:
    co = health_coefficients()
    rows = co[(co["key"] == key) & (co["region"] == region)]
    if rows.empty:
        known = sorted(co.loc[co["key"] == key, "region"])
        raise InvalidOptionError(
            f"region={region!r} has no {key} in urbankit/data/health_erf.csv; use one of {known} or give "
            "baseline_rate_per_100k."
        )
    return rows.iloc[0]


#: the regions with a packaged baseline IHD death rate
REGIONS = tuple(sorted(health_coefficients().loc[lambda d: d["key"] == _KEY_RATE, "region"]))


def _positive(name: str, value, *, allow_zero: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InvalidOptionError(f"{name}={value!r} must be a number.") from None
    if not np.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        raise InvalidOptionError(f"{name}={value!r} must be a finite number {'>=' if allow_zero else '>'} 0.")
    return x


def noise_relative_risk(lden_db, *, rr_per_10db: float | None = None, threshold_db: float | None = None) -> np.ndarray:
    """Relative risk of ischaemic heart disease at a road-traffic noise level, relative to the threshold.

    ``RR(L) = rr_per_10db ** (max(L - threshold_db, 0) / 10)``: log-linear in Lden above the WHO
    guideline level, 1 at and below it.

    Parameters
    ----------
    lden_db : array
        Road-traffic Lden, dB.
    rr_per_10db : float, optional
        Relative risk per 10 dB; default 1.08 (van Kempen et al. 2018, ``health_erf.csv``).
    threshold_db : float, optional
        Level below which no risk is counted; default 53 dB Lden (WHO 2018).

    Returns
    -------
    numpy.ndarray
        The relative risk of each level (NaN where the level is NaN).

    Raises
    ------
    InvalidOptionError
        A non-positive ``rr_per_10db`` or a non-finite threshold.
    """
    rr = _positive("rr_per_10db", _coefficient(_KEY_RR)["value"] if rr_per_10db is None else rr_per_10db)
    thr = _coefficient(_KEY_THRESHOLD)["value"] if threshold_db is None else threshold_db
    if not np.isfinite(float(thr)):
        raise InvalidOptionError(f"threshold_db={threshold_db!r} must be a finite level in dB.")
    level = np.asarray(lden_db, dtype=float)
    return np.power(rr, np.maximum(level - float(thr), 0.0) / 10.0)


def _baseline_rate(
    region: str, baseline_rate_per_100k, *, key: str = _KEY_RATE, name: str = "baseline_rate_per_100k"
) -> tuple[float, str]:
    if baseline_rate_per_100k is not None:
        return _positive(name, baseline_rate_per_100k, allow_zero=True), "user"
    row = _coefficient(key, str(region))
    return float(row["value"]), str(row["source"])


def _inputs(lden_before_db, lden_after_db, residents, *, names: str = "lden_before_db, lden_after_db"):
    lb = np.asarray(lden_before_db, dtype=float)
    la = np.asarray(lden_after_db, dtype=float)
    res = np.asarray(residents, dtype=float)
    if lb.ndim != 1 or lb.shape != la.shape or lb.shape != res.shape:
        raise InvalidOptionError(f"{names} and residents must be 1-D arrays of the same length (one per street).")
    if np.any(~np.isfinite(res)) or np.any(res < 0):
        raise InvalidOptionError("residents must be finite and >= 0 per street; fill missing values with 0.")
    unknown = (np.isnan(lb) | np.isnan(la)) & (res > 0)
    if unknown.any():
        logger.warning(
            "%d streets without a level (%.0f residents) are left out of the health estimate",
            unknown.sum(),
            res[unknown].sum(),
        )
    return lb, la, np.where(np.isnan(lb) | np.isnan(la), 0.0, res)


def deaths_avoided_noise(
    lden_before_db,
    lden_after_db,
    residents,
    *,
    region: str = "ES",
    baseline_rate_per_100k: float | None = None,
    rr_per_10db: float | None = None,
    threshold_db: float | None = None,
) -> np.ndarray:
    """ESTIMATED IHD deaths avoided per year on each street by its change of road-traffic noise.

    ``residents * rate / 100 000 * (1 - RR(L_after) / RR(L_before))`` with
    :func:`noise_relative_risk`; negative where the street gets louder above the threshold. See the
    module docstring for the method and its limits.

    Parameters
    ----------
    lden_before_db, lden_after_db : array
        Lden of each street before and after, dB.
    residents : array
        Residents of each street.
    region : {"ES", "EU"}, default "ES"
        Region of the packaged baseline IHD death rate (``health_erf.csv``).
    baseline_rate_per_100k : float, optional
        IHD deaths per 100 000 inhabitants per year under the "before" exposure; overrides ``region``.
    rr_per_10db, threshold_db : float, optional
        Exposure-response function (default 1.08 per 10 dB above 53 dB Lden).

    Returns
    -------
    numpy.ndarray
        Deaths avoided per year on each street (0 where a level is NaN).

    Raises
    ------
    InvalidOptionError
        Arrays of different lengths, negative residents, an unknown region or a bad coefficient.
    """
    lb, la, res = _inputs(lden_before_db, lden_after_db, residents)
    rate, _ = _baseline_rate(region, baseline_rate_per_100k)
    rb = noise_relative_risk(lb, rr_per_10db=rr_per_10db, threshold_db=threshold_db)
    ra = noise_relative_risk(la, rr_per_10db=rr_per_10db, threshold_db=threshold_db)
    with np.errstate(invalid="ignore"):
        out = res * rate / 1e5 * (1.0 - ra / rb)
    return np.where(res > 0, out, 0.0)


def _no2_function(no2_function: str, rr_per_10ugm3, threshold_ugm3) -> tuple[float, float, pd.Series]:
    if no2_function not in NO2_FUNCTIONS:
        raise InvalidOptionError(f"no2_function={no2_function!r} is not one of {NO2_FUNCTIONS}.")
    row = _coefficient(_KEY_NO2_RR, no2_function)
    rr = _positive("rr_per_10ugm3", row["value"] if rr_per_10ugm3 is None else rr_per_10ugm3)
    thr = _coefficient(_KEY_NO2_THRESHOLD, no2_function)["value"] if threshold_ugm3 is None else threshold_ugm3
    try:
        thr = float(thr)
    except (TypeError, ValueError):
        thr = float("nan")
    if not np.isfinite(thr):
        raise InvalidOptionError(f"threshold_ugm3={threshold_ugm3!r} must be a finite concentration in ug/m3.")
    return rr, thr, row


def no2_relative_risk(
    no2_ugm3, *, no2_function: str = "hrapie", rr_per_10ugm3: float | None = None, threshold_ugm3: float | None = None
) -> np.ndarray:
    """Relative risk of all-cause (natural) death at an annual-mean NO2, relative to the threshold.

    ``RR(c) = rr_per_10ugm3 ** (max(c - threshold_ugm3, 0) / 10)``.

    Parameters
    ----------
    no2_ugm3 : array
        Annual-mean NO2, ug/m3.
    no2_function : {"hrapie", "who2021"}, default "hrapie"
        ``hrapie``: RR 1.055 per 10 ug/m3 above 20 ug/m3 (WHO 2013); ``who2021``: RR 1.02 per
        10 ug/m3 above 10 ug/m3 (Huangfu & Atkinson 2020, WHO 2021 guideline level).
    rr_per_10ugm3, threshold_ugm3 : float, optional
        Override the function's relative risk and threshold.

    Returns
    -------
    numpy.ndarray
        The relative risk of each concentration (NaN where it is NaN).

    Raises
    ------
    InvalidOptionError
        An unknown function, a non-positive relative risk or a non-finite threshold.
    """
    rr, thr, _ = _no2_function(no2_function, rr_per_10ugm3, threshold_ugm3)
    c = np.asarray(no2_ugm3, dtype=float)
    return np.power(rr, np.maximum(c - thr, 0.0) / 10.0)


def deaths_avoided_no2(
    no2_before_ugm3,
    no2_after_ugm3,
    residents,
    *,
    region: str = "ES",
    baseline_rate_per_100k: float | None = None,
    no2_function: str = "hrapie",
    rr_per_10ugm3: float | None = None,
    threshold_ugm3: float | None = None,
) -> np.ndarray:
    """ESTIMATED all-cause deaths avoided per year on each street by its change of annual-mean NO2.

    ``residents * rate / 100 000 * (1 - RR(c_after) / RR(c_before))`` with :func:`no2_relative_risk`,
    i.e. ``1 - rr ** (-dNO2 / 10)`` for a fall ``dNO2`` above the threshold; negative where NO2 rises.

    Parameters
    ----------
    no2_before_ugm3, no2_after_ugm3 : array
        Annual-mean NO2 of each street before and after, ug/m3.
    residents : array
        Residents of each street.
    region : {"ES", "EU"}, default "ES"
        Region of the packaged crude all-cause death rate (``health_erf.csv``).
    baseline_rate_per_100k : float, optional
        All-cause deaths per 100 000 inhabitants per year; overrides ``region``.
    no2_function, rr_per_10ugm3, threshold_ugm3
        Of :func:`no2_relative_risk`.

    Returns
    -------
    numpy.ndarray
        Deaths avoided per year on each street (0 where a concentration is NaN).

    Raises
    ------
    InvalidOptionError
        Arrays of different lengths, negative residents, an unknown region or function, a bad coefficient.
    """
    cb, ca, res = _inputs(no2_before_ugm3, no2_after_ugm3, residents, names="no2_before_ugm3, no2_after_ugm3")
    rate, _ = _baseline_rate(region, baseline_rate_per_100k, key=_KEY_ALL_CAUSE)
    kw = {"no2_function": no2_function, "rr_per_10ugm3": rr_per_10ugm3, "threshold_ugm3": threshold_ugm3}
    rb, ra = no2_relative_risk(cb, **kw), no2_relative_risk(ca, **kw)
    with np.errstate(invalid="ignore"):
        out = res * rate / 1e5 * (1.0 - ra / rb)
    return np.where(res > 0, out, 0.0)


def _no2_row(no2_before_ugm3, no2_after_ugm3, residents, *, region, baseline_rate_per_100k, no2_function,
             rr_per_10ugm3, threshold_ugm3, note) -> dict:
    cb, ca, res = _inputs(no2_before_ugm3, no2_after_ugm3, residents, names="no2_before_ugm3, no2_after_ugm3")
    rate, rate_source = _baseline_rate(
        region, baseline_rate_per_100k, key=_KEY_ALL_CAUSE, name="no2_baseline_rate_per_100k"
    )
    rr, thr, row = _no2_function(no2_function, rr_per_10ugm3, threshold_ugm3)
    kw = {"baseline_rate_per_100k": rate, "no2_function": no2_function, "threshold_ugm3": thr}
    out = _pathway_row(
        lambda r: deaths_avoided_no2(cb, ca, res, rr_per_10ugm3=r, **kw),
        cb,
        ca,
        res,
        rr=rr,
        rr_bounds=(row["low"], row["high"]) if rr_per_10ugm3 is None else None,
        threshold=thr,
        rate=rate,
        rate_source=rate_source,
        exposure_response=f"all-cause mortality RR {rr:g} per 10 ug/m3 NO2 above {thr:g} ug/m3",
        erf_source=str(row["source"]) if rr_per_10ugm3 is None else "user",
        note=" ".join(x for x in (str(row["note"]), note) if x),
    )
    logger.info(
        "health ESTIMATE: %.2f all-cause deaths avoided per year from NO2 (%s)", out["deaths_avoided_per_year"],
        no2_function,
    )
    return out


def _pathway_row(deaths_at, before, after, res, *, rr, rr_bounds, threshold, rate, rate_source,
                 exposure_response, erf_source, note) -> dict:
    """One pathway's row of :func:`health_impact`: deaths avoided at the relative risk ``rr``
    (``deaths_at(rr)``: per street), their range at ``rr_bounds`` (None: not given), and the
    residents whose street lies above the threshold before and after."""
    deaths = float(deaths_at(rr).sum())
    low = high = float("nan")
    if rr_bounds is not None:
        bounds = [float(deaths_at(r).sum()) for r in rr_bounds]
        low, high = min(bounds), max(bounds)
    known = ~(np.isnan(before) | np.isnan(after))
    return {
        "label": ESTIMATE_LABEL,
        "deaths_avoided_per_year": deaths,
        "deaths_avoided_low": low,
        "deaths_avoided_high": high,
        "residents": float(res.sum()),
        "residents_above_threshold_before": float(res[known & (before > threshold)].sum()),
        "residents_above_threshold_after": float(res[known & (after > threshold)].sum()),
        "exposure_response": exposure_response,
        "baseline_rate_per_100k": rate,
        "baseline_source": rate_source,
        "erf_source": erf_source,
        "caveat": HEALTH_CAVEAT,
        "note": note,
    }


def health_impact(
    lden_before_db,
    lden_after_db,
    residents,
    *,
    region: str = "ES",
    baseline_rate_per_100k: float | None = None,
    rr_per_10db: float | None = None,
    threshold_db: float | None = None,
    no2_before_ugm3=None,
    no2_after_ugm3=None,
    no2_function: str = "hrapie",
    no2_baseline_rate_per_100k: float | None = None,
    no2_note: str = "",
) -> pd.DataFrame:
    """ESTIMATED premature deaths avoided per year by a change of road-traffic noise and NO2 (Mueller et al. 2020).

    Parameters
    ----------
    lden_before_db, lden_after_db : array
        Lden of each street before and after, dB (e.g. ``lden_before_db``/``lden_after_db`` of the
        superblock effects edges, one row per street segment).
    residents : array
        Residents of each street (each resident on their nearest street).
    region : {"ES", "EU"}, default "ES"
        Region of the packaged baseline IHD death rate (Eurostat, ``health_erf.csv``).
    baseline_rate_per_100k : float, optional
        IHD deaths per 100 000 inhabitants per year; overrides ``region`` (e.g. the city's own rate).
    rr_per_10db, threshold_db : float, optional
        Override the exposure-response function (default 1.08 per 10 dB above 53 dB Lden, WHO 2018).
    no2_before_ugm3, no2_after_ugm3 : array, optional
        Annual-mean NO2 at each street before and after, ug/m3 (e.g. ``no2_before_ugm3`` and
        ``no2_after_ugm3`` of the superblock effects edges). Without them the ``no2`` row is not
        estimated.
    no2_function : {"hrapie", "who2021"}, default "hrapie"
        NO2 exposure-response function (:func:`no2_relative_risk`).
    no2_baseline_rate_per_100k : float, optional
        All-cause deaths per 100 000 inhabitants per year; default the crude rate of ``region``.
    no2_note : str, optional
        Appended to the ``no2`` row's note (e.g. how the concentrations were estimated).

    Returns
    -------
    pandas.DataFrame
        Index ``pathway``: ``noise_ihd`` (road-traffic noise -> IHD deaths), ``no2`` (NO2 -> all-cause
        deaths; without NO2 concentrations NaN with the reason in ``note``) and ``total`` (the estimated
        pathways; its range adds the pathways' bounds). Columns ``label``
        (:data:`ESTIMATE_LABEL`), ``deaths_avoided_per_year`` and its 95% interval from the relative
        risk's confidence interval (``deaths_avoided_low``, ``deaths_avoided_high``; only with the
        default function), ``residents``, ``residents_above_threshold_before``/``_after``,
        ``exposure_response``, ``baseline_rate_per_100k``, ``baseline_source``, ``erf_source``,
        ``caveat`` (:data:`HEALTH_CAVEAT`) and ``note``.

    Raises
    ------
    InvalidOptionError
        Arrays of different lengths, negative residents, an unknown region or a bad coefficient.
    """
    lb, la, res = _inputs(lden_before_db, lden_after_db, residents)
    rate, rate_source = _baseline_rate(region, baseline_rate_per_100k)
    rr_row, thr_row = _coefficient(_KEY_RR), _coefficient(_KEY_THRESHOLD)
    rr = rr_row["value"] if rr_per_10db is None else rr_per_10db
    thr = float(thr_row["value"] if threshold_db is None else threshold_db)
    kw = {"baseline_rate_per_100k": rate, "threshold_db": thr}
    noise = _pathway_row(
        lambda r: deaths_avoided_noise(lb, la, res, rr_per_10db=r, **kw),
        lb,
        la,
        res,
        rr=rr,
        rr_bounds=(rr_row["low"], rr_row["high"]) if rr_per_10db is None else None,
        threshold=thr,
        rate=rate,
        rate_source=rate_source,
        exposure_response=f"ischaemic heart disease RR {float(rr):g} per 10 dB Lden above {thr:g} dB",
        erf_source=str(rr_row["source"]) if rr_per_10db is None else "user",
        note=str(rr_row["note"]),
    )
    if (no2_before_ugm3 is None) != (no2_after_ugm3 is None):
        raise InvalidOptionError("give both no2_before_ugm3 and no2_after_ugm3, or neither.")
    if no2_before_ugm3 is None:
        no2 = {**{k: np.nan for k in noise}, "label": ESTIMATE_LABEL, "caveat": HEALTH_CAVEAT}
        no2.update({"note": NO2_NOT_ESTIMATED, "residents": noise["residents"], "exposure_response": ""})
        no2.update({"baseline_source": "", "erf_source": ""})
        total = {
            **noise,
            "exposure_response": "road-traffic noise only",
            "note": "sum of the estimated pathways (noise only)",
        }
    else:
        no2 = _no2_row(
            no2_before_ugm3,
            no2_after_ugm3,
            residents,
            region=region,
            baseline_rate_per_100k=no2_baseline_rate_per_100k,
            no2_function=no2_function,
            rr_per_10ugm3=None,
            threshold_ugm3=None,
            note=no2_note,
        )
        total = {
            **noise,
            **{k: noise[k] + no2[k] for k in ("deaths_avoided_per_year", "deaths_avoided_low", "deaths_avoided_high")},
            "residents_above_threshold_before": np.nan,
            "residents_above_threshold_after": np.nan,
            "exposure_response": "road-traffic noise and NO2",
            "baseline_rate_per_100k": np.nan,
            "baseline_source": f"noise: {noise['baseline_source']}; NO2: {no2['baseline_source']}",
            "erf_source": f"noise: {noise['erf_source']}; NO2: {no2['erf_source']}",
            "note": "sum of the estimated pathways (noise and NO2); the range adds the pathways' bounds",
        }
    out = pd.DataFrame([noise, no2, total], index=pd.Index(["noise_ihd", "no2", "total"], name="pathway"))
    logger.info(
        "health ESTIMATE: %.2f IHD deaths avoided per year from road-traffic noise", noise["deaths_avoided_per_year"]
    )
    return out


def health_table(edges: pd.DataFrame, **options) -> pd.DataFrame:
    """:func:`health_impact` of the per-street results of the superblock effects (``"cnossos"`` model).

    Parameters
    ----------
    edges : DataFrame
        With ``residents`` (on the first edge row of each street segment, NaN or 0 elsewhere),
        ``lden_before_db`` and ``lden_after_db``.
    **options
        ``region``, ``baseline_rate_per_100k``, ``rr_per_10db``, ``threshold_db``, ``no2_function``,
        ``no2_baseline_rate_per_100k`` of :func:`health_impact`. The NO2 pathway is estimated when the
        edges carry ``no2_before_ugm3`` and ``no2_after_ugm3`` (the ``"cnossos"`` effects do).

    Returns
    -------
    pandas.DataFrame or None
        The :func:`health_impact` table; None when the edges carry no residents.

    Raises
    ------
    InvalidOptionError
        Missing columns or a bad option.
    """
    need = {"residents", "lden_before_db", "lden_after_db"}
    if not need <= set(edges.columns):
        raise InvalidOptionError(f"edges lack {sorted(need - set(edges.columns))}; use effects(model='cnossos').")
    res = edges["residents"].to_numpy(float)
    if np.isnan(res).all():
        return None
    if {"no2_before_ugm3", "no2_after_ugm3"} <= set(edges.columns):
        options = {
            "no2_before_ugm3": edges["no2_before_ugm3"].to_numpy(float),
            "no2_after_ugm3": edges["no2_after_ugm3"].to_numpy(float),
            "no2_note": AIR_CAVEAT,
            **options,
        }
    return health_impact(
        edges["lden_before_db"].to_numpy(float), edges["lden_after_db"].to_numpy(float), np.nan_to_num(res), **options
    )
