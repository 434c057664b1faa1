"""Old names keep working for one release, each with a DeprecationWarning, and give the same results."""

from __future__ import annotations

import importlib
import sys

import pytest

import urbankit as uk
from urbankit.mock import grid_extract, random_destinations


@pytest.fixture(scope="module")
def small():
    ex = grid_extract(4, 4)
    net = uk.build_network(ex, "walk", cache=False)
    return ex, net, random_destinations(net, per_service=2, seed=1)


def test_old_function_names_warn_and_give_the_same_result(small):
    _, net, dest = small
    new = uk.compute_accessibility(net, dest, minutes=[5, 10])
    with pytest.warns(DeprecationWarning, match="compute_accessibility"):
        old = uk.accessibility(net, dest, minutes=[5, 10])
    assert old.nodes.drop(columns="geometry").equals(new.nodes.drop(columns="geometry"))
    with pytest.warns(DeprecationWarning, match="compute_accessibility"):
        uk.accessibility.accessibility(net, dest, minutes=[5, 10])


def test_destinations_module_is_still_callable(small):
    ex, _, _ = small
    new = uk.find_destinations(ex)
    with pytest.warns(DeprecationWarning, match="find_destinations"):
        old = uk.destinations(ex)
    assert old.equals(new)


@pytest.mark.parametrize(
    "old, new",
    [("networks", "network"), ("ingest", "osm"), ("outputs", "io"), ("reports", "reporting"),
     ("maps", "viz.maps"), ("population_sources", "population.sources"), ("isochrones", "accessibility.isochrones")],
)
def test_moved_modules_warn_on_import(old, new):
    sys.modules.pop(f"urbankit.{old}", None)
    with pytest.warns(DeprecationWarning, match=f"urbankit.{old} moved to urbankit.{new}"):
        importlib.import_module(f"urbankit.{old}")
