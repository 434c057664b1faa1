"""An ESTIMATE of the health impact of a change of road-traffic noise: premature deaths avoided per year.

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

What is not estimated
---------------------
* **NO2.** The brief for this module asked for the NO2 pathway of Mueller et al. (the HRAPIE all-cause
  mortality function) driven by the change of each street's NOx emission through a roadside increment
  calibrated to a published roadside-minus-urban-background figure. No defensible published figure
  was found for that calibration: the roadside increments (roadside minus urban background) of NOx in
  nine European cities showed "an overall very diverse picture in their absolute values and trends and
  also in their relation to traffic emissions", which the authors attribute to a combination of local
  influences (Macdonald, Otero & Butler 2021, Atmos. Chem. Phys. 21:4007, doi:10.5194/acp-21-4007-2021);
  and NO2, unlike NOx, is mostly formed from emitted NO by reaction with ozone, so the NO2 at a street
  does not scale with the street's NOx emission. A street-canyon dispersion model
  (e.g. OSPM) with a measured urban background would be needed. The ``no2`` row of
  :func:`health_impact` says so instead of giving a number.

Limits (carried in :data:`HEALTH_CAVEAT`)
-----------------------------------------
The exposure is the roadside Lden of the resident's nearest street (urbankit's CNOSSOS-EU emission
index, no propagation, screening or quiet facades), not a facade level; the relative risk is for IHD
incidence and is applied to IHD deaths; the baseline rate is a national age-standardised rate applied
to every resident, whatever the local age structure; there is no time lag, no other cause of death,
no air pollution, heat, green space or physical activity pathway. Read the result as an order of
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

logger = logging.getLogger(__name__)

__all__ = [
    "ESTIMATE_LABEL",
    "HEALTH_CAVEAT",
    "NO2_NOT_ESTIMATED",
    "REGIONS",
    "deaths_avoided_noise",
    "health_coefficients",
    "health_impact",
    "health_table",
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
    "deaths, the rate is age-standardised and applied to all residents; no NO2, heat, green-space or "
    "physical-activity pathway. An order of magnitude for comparing scenarios, not a forecast."
)
#: why the NO2 pathway gives no number
NO2_NOT_ESTIMATED = (
    "NO2 not estimated: no defensible published figure links a street's NOx emission to the NO2 its "
    "residents breathe (roadside NOx increments in nine European cities were very diverse and did not "
    "consistently follow traffic emissions, Macdonald et al. 2021, Atmos Chem Phys 21:4007; NO2 forms from "
    "NO through ozone chemistry). A street-canyon dispersion model with a measured urban background is needed."
)

_KEY_RR = "noise_ihd_rr_per_10db"
_KEY_THRESHOLD = "noise_threshold_lden_db"
_KEY_RATE = "ihd_deaths_per_100k"


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


def _baseline_rate(region: str, baseline_rate_per_100k) -> tuple[float, str]:
    if baseline_rate_per_100k is not None:
        return _positive("baseline_rate_per_100k", baseline_rate_per_100k, allow_zero=True), "user"
    row = _coefficient(_KEY_RATE, str(region))
    return float(row["value"]), str(row["source"])


def _inputs(lden_before_db, lden_after_db, residents):
    lb = np.asarray(lden_before_db, dtype=float)
    la = np.asarray(lden_after_db, dtype=float)
    res = np.asarray(residents, dtype=float)
    if lb.ndim != 1 or lb.shape != la.shape or lb.shape != res.shape:
        raise InvalidOptionError(
            "lden_before_db, lden_after_db and residents must be 1-D arrays of the same length (one per street)."
        )
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


def health_impact(
    lden_before_db,
    lden_after_db,
    residents,
    *,
    region: str = "ES",
    baseline_rate_per_100k: float | None = None,
    rr_per_10db: float | None = None,
    threshold_db: float | None = None,
) -> pd.DataFrame:
    """ESTIMATED premature deaths avoided per year by a change of road-traffic noise (Mueller et al. 2020).

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

    Returns
    -------
    pandas.DataFrame
        Index ``pathway``: ``noise_ihd`` (road-traffic noise -> IHD deaths), ``no2`` (not estimated:
        NaN and the reason in ``note``) and ``total`` (the estimated pathways). Columns ``label``
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
    deaths = float(deaths_avoided_noise(lb, la, res, rr_per_10db=rr, **kw).sum())
    low = high = float("nan")
    if rr_per_10db is None:
        bounds = [
            float(deaths_avoided_noise(lb, la, res, rr_per_10db=r, **kw).sum()) for r in (rr_row["low"], rr_row["high"])
        ]
        low, high = min(bounds), max(bounds)
    known = ~(np.isnan(lb) | np.isnan(la))
    noise = {
        "label": ESTIMATE_LABEL,
        "deaths_avoided_per_year": deaths,
        "deaths_avoided_low": low,
        "deaths_avoided_high": high,
        "residents": float(res.sum()),
        "residents_above_threshold_before": float(res[known & (lb > thr)].sum()),
        "residents_above_threshold_after": float(res[known & (la > thr)].sum()),
        "exposure_response": f"ischaemic heart disease RR {float(rr):g} per 10 dB Lden above {thr:g} dB",
        "baseline_rate_per_100k": rate,
        "baseline_source": rate_source,
        "erf_source": str(rr_row["source"]) if rr_per_10db is None else "user",
        "caveat": HEALTH_CAVEAT,
        "note": str(rr_row["note"]),
    }
    no2 = {**{k: np.nan for k in noise}, "label": ESTIMATE_LABEL, "caveat": HEALTH_CAVEAT, "note": NO2_NOT_ESTIMATED}
    no2.update({"residents": noise["residents"], "exposure_response": "", "baseline_source": "", "erf_source": ""})
    total = {
        **noise,
        "exposure_response": "road-traffic noise only",
        "note": "sum of the estimated pathways (noise only)",
    }
    out = pd.DataFrame([noise, no2, total], index=pd.Index(["noise_ihd", "no2", "total"], name="pathway"))
    logger.info("health ESTIMATE: %.2f IHD deaths avoided per year from road-traffic noise", deaths)
    return out


def health_table(edges: pd.DataFrame, **options) -> pd.DataFrame:
    """:func:`health_impact` of the per-street results of the superblock effects (``"cnossos"`` model).

    Parameters
    ----------
    edges : DataFrame
        With ``residents`` (on the first edge row of each street segment, NaN or 0 elsewhere),
        ``lden_before_db`` and ``lden_after_db``.
    **options
        ``region``, ``baseline_rate_per_100k``, ``rr_per_10db``, ``threshold_db`` of
        :func:`health_impact`.

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
    return health_impact(
        edges["lden_before_db"].to_numpy(float), edges["lden_after_db"].to_numpy(float), np.nan_to_num(res), **options
    )
