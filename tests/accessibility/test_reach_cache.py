"""The reach-table cache: reused only for the same search graph, destinations and bound; a damaged
entry is ignored and recomputed; nothing is written when the cache is off."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import urbankit
from urbankit.accessibility import reach as reach_mod
from urbankit.mock import grid_extract, random_destinations


@pytest.fixture
def case():
    ex = grid_extract(8, 8)
    net = urbankit.build_network(ex, "walk", cache=False)
    dest = random_destinations(net, services=["grocery", "primary_school", "park"], per_service=6, seed=3)
    snapped = reach_mod.snap_destinations(net, dest).reset_index(drop=True)
    return net, snapped


def _entries():
    folder = urbankit.settings.cache_folder / "reach"
    return sorted(folder.glob("*.ukreach")) if folder.exists() else []


def _counting(monkeypatch):
    calls = []
    original = reach_mod.reach_table

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(reach_mod, "reach_table", counted)
    return calls


def test_second_run_reads_the_same_table(case, monkeypatch):
    net, snapped = case
    assert len(snapped) == 18
    calls = _counting(monkeypatch)
    first = reach_mod.cached_reach_table(net, snapped, 15)
    again = reach_mod.cached_reach_table(net, snapped, 15)
    assert len(calls) == 1 and len(_entries()) == 1
    pd.testing.assert_frame_equal(first, again)
    # the table itself is the plain computation's
    pd.testing.assert_frame_equal(first, reach_mod.reach_table(net, snapped, 15))


def test_other_graph_destinations_or_bound_are_not_reused(case, monkeypatch):
    net, snapped = case
    calls = _counting(monkeypatch)
    reach_mod.cached_reach_table(net, snapped, 15)
    reach_mod.cached_reach_table(net, snapped, 10)  # another bound
    moved = snapped.copy()
    moved.loc[0, "snap_min"] += 0.5
    reach_mod.cached_reach_table(net, moved, 15)  # another destination offset
    slower = urbankit.StreetNetwork(mode=net.mode, nodes=net.nodes, edges=net.edges.assign(
        time_min=np.where(np.arange(len(net.edges)) == 3, net.edges.time_min * 2, net.edges.time_min)),
        crs=net.crs, directed=net.directed, meta=dict(net.meta))  # same key in meta, another graph
    got = reach_mod.cached_reach_table(slower, snapped, 15)
    assert len(calls) == 4 and len(_entries()) == 4
    pd.testing.assert_frame_equal(got, reach_mod.reach_table(slower, snapped, 15))


def test_damaged_entry_is_ignored_and_recomputed(case, monkeypatch, caplog):
    net, snapped = case
    first = reach_mod.cached_reach_table(net, snapped, 15)
    (entry,) = _entries()
    entry.write_bytes(entry.read_bytes()[:-100])
    calls = _counting(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="urbankit.accessibility.reach"):
        again = reach_mod.cached_reach_table(net, snapped, 15)
    assert len(calls) == 1 and "unreadable" in caplog.text
    pd.testing.assert_frame_equal(first, again)


def test_cache_off_writes_nothing(case, monkeypatch):
    net, snapped = case
    monkeypatch.setattr(urbankit.settings, "use_cache", False)
    calls = _counting(monkeypatch)
    reach_mod.cached_reach_table(net, snapped, 15)
    reach_mod.cached_reach_table(net, snapped, 15)
    assert len(calls) == 2 and _entries() == []


def test_large_tables_are_not_stored(case, monkeypatch):
    net, snapped = case
    monkeypatch.setattr(reach_mod, "REACH_CACHE_MAX_BYTES", 10)
    reach_mod.cached_reach_table(net, snapped, 15)
    assert _entries() == []
