"""Ranking of candidates after a scenario: Pareto ranks by hand, per-cell sums against the totals."""

from __future__ import annotations

import numpy as np
import pytest

import urbankit as uk
from urbankit.mock import grid_extract
from urbankit.superblocks import rank_superblocks, run_scenario
from urbankit.superblocks.ranking import _pareto_ranks


def test_pareto_ranks_by_hand():
    # (residents, removed, -detour): a beats c on all; b and a trade off; d is beaten by everything
    crit = np.array([[10, 5, -1], [20, 1, -1], [9, 4, -2], [1, 0, -9]], dtype=float)
    assert _pareto_ranks(crit).tolist() == [1, 1, 2, 3]


def test_rank_superblocks_sums():
    net = uk.build_network(grid_extract(9, 9), "drive", cache=False)
    pop = net.nodes["x"] * 0 + 10.0
    sc = run_scenario(net, population=pop, demand="open", h3_resolution=None)
    r = rank_superblocks(sc)
    s = sc.summary().iloc[0]
    assert sorted(r["superblock_id"]) == list(range(len(sc.superblocks)))
    assert r["internal_vkm_removed"].sum() == pytest.approx(s.vkm_internal_before - s.vkm_internal_after)
    assert r["ratrun_vkm_before"].sum() == pytest.approx(s.vkm_ratrun_before)
    od = sc.od
    o, d = od["origin_superblock"], od["destination_superblock"]
    # a trip counts for each distinct superblock it starts or ends in
    cells = o.notna().astype(int) + d.notna().astype(int) - (o.notna() & d.notna() & (o == d)).astype(int)
    hours = ((od["time_after_min"] - od["time_before_min"]) / 60 * od["trips_after"] * cells).sum()
    assert r["detour_veh_h"].sum() == pytest.approx(hours)
    assert r["rank"].min() == 1 and r["rank"].is_monotonic_increasing
