"""Accessibility before/after a superblock scenario: hand times on a 3 x 3 grid, and the assignment's
restricted times (checked independently in test_superblocks.py) on a 12 x 12 grid."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import urbankit as uk
from urbankit.mock import grid_extract
from urbankit.superblocks import assign, find_superblocks
from urbankit.superblocks.access import accessibility_change

BLOCK = 113.0


def _lattice(net):
    x0, y0 = net.nodes["x"].min(), net.nodes["y"].min()
    return {
        (round((x - x0) / BLOCK), round((y - y0) / BLOCK)): n
        for n, x, y in zip(net.nodes.index, net.nodes["x"], net.nodes["y"])
    }


def _points(net, node_ids, services):
    xy = net.nodes.loc[list(node_ids), ["x", "y"]].to_numpy()
    return gpd.GeoDataFrame({"service": services}, geometry=shapely.points(xy), crs=net.crs)


def test_hand_times_on_one_superblock():
    net = uk.build_network(grid_extract(3, 3), "drive", cache=False)
    at = _lattice(net)
    sb = find_superblocks(net)
    ch = accessibility_change(net, _points(net, [at[(1, 1)]], ["school"]), superblocks=sb)
    row = ch.nodes.loc[at[(0, 0)]]
    # before: 113 m of arterial (50 km/h, 0.136 min) then 113 m of residential (30 km/h, 0.226 min);
    # after: the residential street is internal, driven at 10 km/h (0.678 min)
    assert row["school_before_min"] == pytest.approx(0.136 + 0.226)
    assert row["school_after_min"] == pytest.approx(0.136 + 0.678)
    assert row["school_change_min"] == pytest.approx(0.678 - 0.226)
    s = ch.summary()
    assert list(s["service"]) == ["school", "all"]
    assert s.loc[0, "share_within_10min_before"] == 1.0 == s.loc[0, "share_within_10min_after"]


def test_drive_after_equals_the_assignments_restricted_times():
    net = uk.build_network(grid_extract(12, 12), "drive", cache=False)
    sb = find_superblocks(net)
    at = _lattice(net)
    targets = [at[(4, 4)], at[(10, 2)]]  # inside two superblocks
    ch = accessibility_change(net, _points(net, targets, ["shop", "shop"]), superblocks=sb)
    od = pd.DataFrame([(o, d) for o in net.nodes.index for d in targets if o != d], columns=["origin", "destination"])
    a = assign(net, od, superblocks=sb)
    best_after = a.od.groupby("origin")["time_after_min"].min()
    best_before = a.od.groupby("origin")["time_before_min"].min()
    got = ch.nodes.drop(index=targets)
    assert np.allclose(got["shop_after_min"], best_after.reindex(got.index))
    assert np.allclose(got["shop_before_min"], best_before.reindex(got.index))
    assert (ch.nodes.loc[targets, "shop_before_min"] == 0).all()
    assert (got["shop_change_min"] > 0).any()


def test_walking_unchanged():
    walk = uk.build_network(grid_extract(6, 6), "walk", cache=False)
    drive = uk.build_network(grid_extract(6, 6), "drive", cache=False)
    at = _lattice(walk)
    ch = accessibility_change(walk, _points(walk, [at[(1, 1)]], ["school"]), superblocks=find_superblocks(drive))
    assert (ch.nodes["school_change_min"] == 0).all()
    assert ch.summary().loc[0, "mean_change_min"] == 0


@pytest.mark.slow  # the whole Barcelona scenario (equilibrium by default): seconds on 2 shared cores
@pytest.mark.requires_dataset("barcelona")
def test_scenario_reports_walk_and_drive_accessibility():
    from urbankit.superblocks import superblocks_scenario

    sc = superblocks_scenario("barcelona", accessibility=True, metrics=False)
    s = sc.summary().iloc[0]
    assert s.walk_mean_change_min == 0
    assert s.walk_share_within_15min_before == s.walk_share_within_15min_after
    assert s.drive_mean_change_min > 0  # slower internal streets, no short-cuts
    drive = sc.accessibility["drive"].nodes
    changes = drive.filter(like="_change_min").to_numpy()
    assert np.nanmin(changes) >= 0  # the rule only removes paths and slows streets
