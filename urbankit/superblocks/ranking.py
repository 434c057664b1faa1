"""Ranking superblock candidates after a scenario: residents, internal traffic removed, detour cost.

Per candidate (:func:`rank_superblocks`):

* ``residents``: from detection;
* ``internal_vkm_removed``: vehicle-km per day on its internal streets before minus after (the
  traffic taken off the streets that become internal);
* ``ratrun_vkm_before``: of that traffic before, the part of trips with neither end in any
  superblock (through traffic; a lower bound), from a separate all-or-nothing pass at free-flow
  times (:func:`~urbankit.superblocks.congestion.ratrun_vkm`);
* ``detour_veh_h``: extra vehicle-hours per day of the trips starting or ending inside it (their
  access detours and slower internal streets, after minus before, trips still driving after).

Through trips' detours are shared by all candidates they avoid and are not attributed here.
``rank`` is the Pareto (non-dominated sorting) rank over the three criteria (more residents, more
internal traffic removed, less detour): rank 1 holds the candidates no other beats on all three,
rank 2 those beaten only by rank 1, and so on, without weighing the criteria against each other
(Eggimann 2022 ranks candidates on several such criteria side by side). Ties within a rank are
ordered by internal traffic removed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._errors import InvalidOptionError


def _pareto_ranks(benefit: np.ndarray) -> np.ndarray:
    """Non-dominated sorting rank (1 = best) of rows of ``benefit`` (larger is better in each column)."""
    n = len(benefit)
    rank = np.zeros(n, dtype=np.int64)
    left = np.arange(n)
    r = 1
    while len(left):
        b = benefit[left]
        ge = (b[:, None, :] >= b[None, :, :]).all(axis=2)
        gt = (b[:, None, :] > b[None, :, :]).any(axis=2)
        dominated = (ge & gt).any(axis=0)  # some row beats this one
        rank[left[~dominated]] = r
        left = left[dominated]
        r += 1
    return rank


def rank_superblocks(scenario) -> pd.DataFrame:
    """Candidates of a scenario with their benefits and costs, ranked.

    Parameters
    ----------
    scenario : Scenario
        From :func:`run_scenario` or :func:`superblocks_scenario`.

    Returns
    -------
    pandas.DataFrame
        One row per candidate (``superblock_id``), sorted by ``rank``: ``residents``,
        ``internal_vkm_before``, ``internal_vkm_after``, ``internal_vkm_removed``,
        ``ratrun_vkm_before``, ``detour_veh_h``, ``rank``.

    Raises
    ------
    InvalidOptionError
        If ``scenario`` is not a scenario with superblocks.
    """
    sb = getattr(scenario, "superblocks", None)
    a = getattr(scenario, "assignment", None)
    if sb is None or a is None or "superblock_id" not in sb.columns:
        raise InvalidOptionError("scenario must be a Scenario from run_scenario or superblocks_scenario.")
    ids = sb["superblock_id"].to_numpy(np.int64)
    fl = a.flows
    lab = fl["superblock_id"].fillna(-1).to_numpy(np.int64)
    km = a.network.edges["length_m"].to_numpy(float) / 1000.0
    n = int(ids.max()) + 1 if len(ids) else 0
    m = lab >= 0
    before = np.bincount(lab[m], weights=fl["flow_before"].to_numpy(float)[m] * km[m], minlength=n)
    after = np.bincount(lab[m], weights=fl["flow_after"].to_numpy(float)[m] * km[m], minlength=n)
    od = a.od
    t_after = od["trips_after"].to_numpy(float)
    extra_h = (od["time_after_min"].to_numpy(float) - od["time_before_min"].to_numpy(float)) / 60.0
    extra_h = np.where(np.isfinite(extra_h), extra_h, 0.0) * t_after
    detour = np.zeros(n)
    for col in ("origin_superblock", "destination_superblock"):
        k = od[col].fillna(-1).to_numpy(np.int64)
        own = k >= 0
        o_sb = od["origin_superblock"].fillna(-2).to_numpy(np.int64)
        same = own & (o_sb == od["destination_superblock"].fillna(-3).to_numpy(np.int64))
        w = np.where(same & (col == "destination_superblock"), 0.0, extra_h)  # a trip within one cell counts once
        detour += np.bincount(k[own], weights=w[own], minlength=n)
    ratrun = getattr(scenario, "ratrun_by_superblock", None)
    out = pd.DataFrame(
        {
            "superblock_id": ids,
            "residents": sb["residents"].to_numpy(float),
            "internal_vkm_before": before[ids],
            "internal_vkm_after": after[ids],
            "internal_vkm_removed": before[ids] - after[ids],
            "ratrun_vkm_before": ratrun[ids] if ratrun is not None else np.nan,
            "detour_veh_h": detour[ids],
        }
    )
    res = np.nan_to_num(out["residents"].to_numpy(float), nan=0.0)
    crit = np.c_[res, out["internal_vkm_removed"].to_numpy(), -out["detour_veh_h"].to_numpy()]
    out["rank"] = _pareto_ranks(crit)
    return out.sort_values(["rank", "internal_vkm_removed"], ascending=[True, False]).reset_index(drop=True)
