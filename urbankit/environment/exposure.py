"""Who is exposed, who gains and who loses: residents per Lden band and per change of level.

Every function takes per-edge arrays: the level (or its change) of each street segment and the
residents assigned to that segment (each resident to their nearest street segment; the assignment is
done by the caller). Residents are counted at the level of their street's roadside index
(:func:`urbankit.environment.noise.street_noise`), not at their facade: there is no propagation,
screening by buildings, reflections or quiet side, so the bands describe the streets people live
on, not a strategic noise map under the Environmental Noise Directive.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .._errors import InvalidOptionError
from .._stats import weighted_quantile

logger = logging.getLogger(__name__)

__all__ = [
    "BAND_WIDTH_DB",
    "LOWEST_BAND_DB",
    "HIGHEST_BAND_DB",
    "WINNER_LOSER_THRESHOLD_DB",
    "exposure_bands",
    "residents_by_band",
    "winners_losers",
]

#: width of the exposure bands, dB: the 5-dB Lden bands of the Environmental Noise Directive
#: (Directive 2002/49/EC Annex VI, 1.5: 55-59, 60-64, 65-69, 70-74, >= 75 dB)
BAND_WIDTH_DB = 5.0
#: lower edge of the first closed band, dB: 40 dB to show the levels below the END reporting
#: threshold down to the WHO 2018 night guideline (Lnight 45 dB) region; below is "< 40"
LOWEST_BAND_DB = 40.0
#: lower edge of the open top band, dB (">= 75", Directive 2002/49/EC Annex VI)
HIGHEST_BAND_DB = 75.0
#: change that counts as louder or quieter, dB: 1 dB, the definition of a winner/loser in urbankit
#: issue #15 ("residents whose street gets louder by 1 dB or more vs quieter by 1 dB or more")
WINNER_LOSER_THRESHOLD_DB = 1.0


def _arrays(name_a, a, name_b, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise InvalidOptionError(f"{name_a} and {name_b} must be 1-D arrays of the same length (one per edge).")
    return a, b


def _check_residents(residents) -> None:
    if np.any(~np.isfinite(residents)) or np.any(residents < 0):
        raise InvalidOptionError("residents must be finite and >= 0 per edge; fill missing values with 0.")


def _band_labels(band_width_db: float, lowest_db: float, highest_db: float) -> tuple[np.ndarray, list[str]]:
    if not band_width_db > 0 or not highest_db > lowest_db:
        raise InvalidOptionError("band_width_db must be > 0 and highest_db > lowest_db.")
    edges = np.arange(lowest_db, highest_db + 1e-9, band_width_db)
    if not np.isclose(edges[-1], highest_db):
        raise InvalidOptionError("highest_db - lowest_db must be a multiple of band_width_db.")

    def fmt(x):
        return f"{x:g}"

    labels = [f"<{fmt(edges[0])}"]
    labels += [
        f"{fmt(lo)}-{fmt(hi - 1)}" if float(lo).is_integer() and float(hi).is_integer() else f"{fmt(lo)}-{fmt(hi)}"
        for lo, hi in zip(edges[:-1], edges[1:])
    ]
    labels.append(f">={fmt(edges[-1])}")
    return edges, labels


def residents_by_band(
    level_db,
    residents,
    *,
    band_width_db: float = BAND_WIDTH_DB,
    lowest_db: float = LOWEST_BAND_DB,
    highest_db: float = HIGHEST_BAND_DB,
) -> pd.Series:
    """Residents per level band (band ``"55-59"`` holds 55 <= L < 60 dB).

    Parameters
    ----------
    level_db : array
        Level of each edge (e.g. Lden), dB. NaN levels are counted in no band and logged.
    residents : array
        Residents assigned to each edge.
    band_width_db, lowest_db, highest_db : float
        Band layout: ``"<lowest"``, closed bands of ``band_width_db``, ``">=highest"``.

    Returns
    -------
    Series
        Residents per band label, in increasing order; sums to the residents of edges with a level.

    Raises
    ------
    InvalidOptionError
        Arrays of different lengths, negative residents or an invalid band layout.
    """
    level, res = _arrays("level_db", level_db, "residents", residents)
    _check_residents(res)
    edges, labels = _band_labels(band_width_db, lowest_db, highest_db)
    known = ~np.isnan(level)
    if not known.all():
        logger.warning(
            "%d edges without a level (%.0f residents) are left out of the bands", (~known).sum(), res[~known].sum()
        )
    idx = np.searchsorted(edges, level[known], side="right")
    counts = np.bincount(idx, weights=res[known], minlength=len(labels))
    return pd.Series(counts, index=pd.Index(labels, name="band_db"), name="residents")


def exposure_bands(lden_before_db, lden_after_db, residents, **band_options) -> pd.DataFrame:
    """Residents per Lden band before and after a scenario.

    Parameters
    ----------
    lden_before_db, lden_after_db : array
        Lden of each edge before and after, dB.
    residents : array
        Residents assigned to each edge (the same people before and after).
    **band_options
        ``band_width_db``, ``lowest_db``, ``highest_db`` of :func:`residents_by_band`.

    Returns
    -------
    DataFrame
        Index ``band_db``; columns ``residents_before``, ``residents_after``, ``change``.

    Raises
    ------
    InvalidOptionError
        Arrays of different lengths or negative residents.
    """
    before = residents_by_band(lden_before_db, residents, **band_options)
    after = residents_by_band(lden_after_db, residents, **band_options)
    return pd.DataFrame({"residents_before": before, "residents_after": after, "change": after - before})


def _quintiles(values: np.ndarray, residents: np.ndarray) -> np.ndarray:
    """Resident-weighted quintile (1..5) of each edge's value; 0 where the value is NaN."""
    cuts = weighted_quantile(values, residents, [0.2, 0.4, 0.6, 0.8], nan="omit")
    q = np.searchsorted(cuts, values, side="left") + 1
    return np.where(np.isnan(values), 0, q)


def winners_losers(
    change_db,
    residents,
    *,
    threshold_db: float = WINNER_LOSER_THRESHOLD_DB,
    deprivation=None,
) -> pd.DataFrame:
    """Residents whose street gets louder or quieter by at least ``threshold_db``.

    Parameters
    ----------
    change_db : array
        Change of level of each edge, after - before, dB.
    residents : array
        Residents assigned to each edge.
    threshold_db : float, default 1.0
        ``change >= threshold`` is louder, ``change <= -threshold`` quieter, the rest unchanged.
    deprivation : array, optional
        A deprivation (or income) value per edge, e.g. of the area polygon the edge lies in. Edges
        are grouped into resident-weighted quintiles of it (1 = lowest value); NaN values form
        group 0 ("unknown").

    Returns
    -------
    DataFrame
        Columns ``louder``, ``quieter``, ``unchanged``, ``residents`` (residents) and
        ``mean_change_db`` (resident-weighted). One row ``"all"``; with ``deprivation``, also one
        row per quintile (index ``"q1"`` .. ``"q5"``, ``"unknown"``).

    Raises
    ------
    InvalidOptionError
        Arrays of different lengths, negative residents, NaN changes or a non-positive threshold.
    """
    change, res = _arrays("change_db", change_db, "residents", residents)
    _check_residents(res)
    if np.any(np.isnan(change)):
        raise InvalidOptionError("change_db has NaN values; compute the change for every edge with residents.")
    if not threshold_db > 0:
        raise InvalidOptionError(f"threshold_db={threshold_db!r} must be > 0 dB.")
    groups = {"all": np.ones(len(res), bool)}
    if deprivation is not None:
        dep, _ = _arrays("deprivation", deprivation, "residents", res)
        q = _quintiles(dep, res)
        groups.update({f"q{k}": q == k for k in range(1, 6)})
        if (q == 0).any():
            groups["unknown"] = q == 0
    rows = {}
    for name, m in groups.items():
        r, c = res[m], change[m]
        total = r.sum()
        rows[name] = {
            "louder": r[c >= threshold_db].sum(),
            "quieter": r[c <= -threshold_db].sum(),
            "unchanged": r[(c > -threshold_db) & (c < threshold_db)].sum(),
            "residents": total,
            "mean_change_db": float((r * c).sum() / total) if total > 0 else np.nan,
        }
    return pd.DataFrame.from_dict(rows, orient="index")
