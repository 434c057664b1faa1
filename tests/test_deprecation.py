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


def test_population_file_argument_is_population_source():
    """``population=`` (a file or grid to read) is now ``population_source=`` in x_minute_city and
    area_overview: the old name warns and gives the same residents; both names at once is an error."""
    import geopandas as gpd
    import shapely

    grid = gpd.GeoDataFrame({"population": [1000.0]}, geometry=[shapely.box(7.40, 43.72, 7.45, 43.76)], crs=4326)
    new = uk.x_minute_city("monaco", minutes=[5], population_source=grid)
    with pytest.warns(DeprecationWarning, match="population_source"):
        old = uk.x_minute_city("monaco", minutes=[5], population=grid)
    assert old.nodes["population"].equals(new.nodes["population"])
    assert new.nodes["population"].sum() == pytest.approx(1000.0)
    with pytest.warns(DeprecationWarning, match="population_source"):
        area = uk.area_overview("monaco", modes=["walk"], population=grid)
    assert area.population.total == pytest.approx(1000.0)
    with pytest.raises(uk.InvalidOptionError, match="both"):
        uk.x_minute_city("monaco", population=grid, population_source=grid)


def test_x_minute_city_and_overview_prepare_the_area_one_way(monkeypatch):
    """x_minute_city and area_overview both go through pipelines.prepare_area (one load -> network
    -> destinations -> residents path), with the same residents for the same inputs."""
    from urbankit import pipelines

    seen = []
    real = pipelines.prepare_area

    def spy(*args, **kwargs):
        area = real(*args, **kwargs)
        seen.append(area)
        return area

    monkeypatch.setattr(pipelines, "prepare_area", spy)
    acc = uk.x_minute_city("monaco", minutes=[5])
    overview = uk.area_overview("monaco", modes=["walk"])
    assert len(seen) == 2
    assert acc.nodes["population"].sum() == pytest.approx(overview.population.total)
    assert list(acc.network.nodes.index) == list(overview.networks["walk"].nodes.index)
