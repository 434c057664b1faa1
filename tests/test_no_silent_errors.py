"""No silently wrong figures (issue #10, items 4, 6 and 8): inputs that used to give a plausible
but wrong result, or a dependency's traceback, now give the correct figure or a clear urbankit error.

Every expected value is computed independently in the test (areas, lengths, sums), never copied
from urbankit's own output.
"""

from __future__ import annotations

import logging
import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import dataset
from shapely.geometry import Point, Polygon, box

import urbankit
from urbankit import InvalidOptionError
from urbankit.accessibility import compute_accessibility, validate_minutes
from urbankit.cli import main
from urbankit.mock import grid_extract, random_destinations

# --------------------------------------------------------------------------- thresholds and maxspeed


@pytest.mark.parametrize(
    "minutes, named",
    [
        ([10, 10.0000001], ["10", "10.0000001"]),  # one label "10"
        ([10, 10.0004], ["10", "10.0004"]),  # same 0.001-min grid step: the same trips
        ([123.4567, 123.4574], ["123.4567", "123.4574"]),  # different steps, one label "123.457"
        ([15, 30, 30.0000004], ["30", "30.0000004"]),
    ],
)
def test_thresholds_that_collide_are_refused(minutes, named):
    with pytest.raises(InvalidOptionError) as err:
        validate_minutes(minutes)
    for text in named:
        assert text in str(err.value)
    assert "0.001" in str(err.value)


def test_distinct_thresholds_on_the_grid_are_kept():
    assert validate_minutes([10.001, 10, 0.5]) == (0.5, 10, 10.001)


def test_collision_is_refused_by_the_public_api_before_any_work():
    ex = grid_extract(2, 2)
    with pytest.raises(InvalidOptionError, match="10.0000001"):
        urbankit.x_minute_city(ex, minutes=[10, 10.0000001])


@pytest.mark.parametrize("tag", ["0.0001", "0", "2", "3 mph", "99999", "0.0001;0.5"])
def test_implausible_maxspeed_falls_back_to_the_highway_class_with_a_warning(tag, caplog):
    block_m = 110.0
    ex = grid_extract(2, 1, block_m=block_m, arterial_every=None)  # every street residential, maxspeed 30
    ways = ex.ways
    target = ways.index[1]
    ways.loc[target, "maxspeed"] = tag
    urbankit.settings.use_cache = False
    with caplog.at_level(logging.WARNING, logger="urbankit.networks"):
        net = urbankit.build_network(ex, "drive")
    fallback = urbankit.settings.drive_speed_kmh["residential"]
    e = net.edges[net.edges["way_id"] == ways.loc[target, "way_id"]]
    assert len(e) > 0
    assert np.allclose(e["speed_kmh"], fallback)
    # 110 m at 30 km/h: 0.22 min (old code: 66,000 min for maxspeed=0.0001)
    assert np.allclose(e["time_min"], block_m / (fallback * 1000 / 60), atol=1e-3)
    assert net.edges["time_min"].max() < 1.0
    warned = [r.getMessage() for r in caplog.records if "implausible maxspeed" in r.getMessage()]
    assert len(warned) == 1 and repr(tag) in warned[0]


def test_plausible_maxspeed_is_kept_without_warning(caplog):
    ex = grid_extract(2, 1, block_m=110.0, arterial_every=None)
    ex.ways.loc[ex.ways.index[1], "maxspeed"] = "5"
    urbankit.settings.use_cache = False
    with caplog.at_level(logging.WARNING, logger="urbankit.networks"):
        net = urbankit.build_network(ex, "drive")
    e = net.edges[net.edges["way_id"] == ex.ways.loc[ex.ways.index[1], "way_id"]]
    assert np.allclose(e["speed_kmh"], 5.0)
    assert not [r for r in caplog.records if "implausible" in r.getMessage()]


# --------------------------------------------------------------------------- services without destinations


@pytest.fixture(scope="module")
def grid_city():
    net = urbankit.build_network(grid_extract(5, 5, block_m=112.0), "walk", cache=False)
    pop = pd.Series(np.arange(1.0, len(net.nodes) + 1.0), index=net.nodes.index)
    dest = random_destinations(net, per_service=2, seed=3)
    return net, pop, dest


def _share_within(acc, service, m, pop):
    """Independent: residents whose nearest destination of ``service`` is within m minutes (a
    brute-force Dijkstra from each destination's node, networkx)."""
    import networkx as nx

    g = nx.Graph()
    for u, v, t in acc.network.edges[["u", "v", "time_min"]].itertuples(index=False):
        if not g.has_edge(u, v) or g[u][v]["t"] > t:
            g.add_edge(u, v, t=t)
    best = pd.Series(np.inf, index=acc.network.nodes.index)
    for node, snap in acc.pois.loc[acc.pois["service"] == service, ["node_id", "snap_min"]].itertuples(index=False):
        for other, t in nx.single_source_dijkstra_path_length(g, node, weight="t").items():
            best[other] = min(best[other], t + snap)
    return float(pop[best <= m + 1e-6].sum() / pop.sum())


def test_a_function_without_destinations_is_not_computable_not_zero(grid_city):
    net, pop, dest = grid_city
    without_work = dest[dest["function"] != "working"].reset_index(drop=True)
    acc = compute_accessibility(net, without_work, minutes=[5, 10], population=pop)
    summ = acc.summary()
    assert acc.missing_services == ["workplace"] and acc.missing_functions == ["working"]
    assert summ.attrs["missing_functions"] == ["working"] and summ.attrs["missing_services"] == ["workplace"]
    # old code: 0.0 for the service and for all functions, reported as a finding
    assert summ.loc["workplace", ["within_5min", "within_10min"]].isna().all()
    assert summ.loc["workplace", "note"] == "no destination in the area"
    assert summ.loc["all functions", ["within_5min", "within_10min"]].isna().all()
    assert "not computable" in summ.loc["all functions", "note"] and "working" in summ.loc["all functions", "note"]
    assert np.isnan(acc.residents_within(10))
    # the services that have destinations keep their figures
    assert summ.loc["grocery", "within_10min"] == pytest.approx(_share_within(acc, "grocery", 10, pop), abs=1e-12)
    assert summ.loc["grocery", "note"] == ""
    # adding a workplace makes the share computable again
    after = acc.what_if(add=dest[dest["function"] == "working"].reset_index(drop=True)).after
    assert after.missing_functions == [] and np.isfinite(after.residents_within(10))


def test_a_missing_service_of_a_present_function_keeps_the_all_functions_share(grid_city):
    net, pop, dest = grid_city
    kept = dest[dest["service"] != "bakery"].reset_index(drop=True)
    acc = compute_accessibility(net, kept, minutes=[10], population=pop)
    summ = acc.summary()
    assert acc.missing_services == ["bakery"] and acc.missing_functions == []
    assert np.isnan(summ.loc["bakery", "within_10min"]) and summ.loc["bakery", "note"] == "no destination in the area"
    # every function has a destination: the share is a number, computed independently here
    fn = acc.function_names
    ok = np.ones(len(net.nodes), bool)
    for f in fn:
        cols = [f"time_{s}_min" for s in acc.services if acc.functions[s] == f]
        ok &= (acc.nodes[cols].min(axis=1) <= 10 + 1e-6).to_numpy()
    want = float(pop[ok].sum() / pop.sum())
    assert summ.loc["all functions", "within_10min"] == pytest.approx(want, abs=1e-12)
    assert summ.loc["all functions", "note"] == ""


def test_compare_areas_reports_a_missing_function_as_not_computable(grid_city):
    from urbankit.reporting.compare import compare_areas, formatted

    net, pop, dest = grid_city
    full = compute_accessibility(net, dest, minutes=[10], population=pop)
    without = dest[dest["function"] != "working"].reset_index(drop=True)
    no_work = compute_accessibility(net, without, minutes=[10], population=pop)
    table = compare_areas({"full": full, "no work": no_work}, 10)
    assert table.loc["functions without destinations", "no work"] == "working"
    assert table.loc["functions without destinations", "full"] == ""
    for row in ("working within 10 min", "all functions within 10 min", "working median min"):
        assert np.isnan(table.loc[row, "no work"]), row  # old code: 0.0 within
    assert table.loc["all functions within 10 min", "full"] == pytest.approx(full.residents_within(10))
    assert table.loc["commerce within 10 min", "no work"] == table.loc["commerce within 10 min", "full"]
    text = formatted(table)
    assert text.loc["all functions within 10 min", "no work"] == "n/a"
    assert text.loc["working within 10 min", "no work"] == "n/a"
    assert text.loc["all functions within 10 min", "full"].endswith("%")


def test_cli_headline_says_not_computable(tmp_path, capsys):
    taxonomy = tmp_path / "two.toml"
    taxonomy.write_text(
        '[functions.shopping]\n[functions.volcanoes]\n'
        '[services.grocery]\nfunction = "shopping"\ntags = { shop = ["supermarket", "convenience"] }\n'
        '[services.volcano]\nfunction = "volcanoes"\ntags = { natural = ["volcano"] }\n'
    )
    out = tmp_path / "out.gpkg"
    code = main(["accessibility", "monaco", "--minutes", "10", "--taxonomy", str(taxonomy), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "no destination in the area for services: volcano" in printed
    line = next(x for x in printed.splitlines() if "of all 2 functions" in x)
    assert "not computable" in line and "volcanoes" in line and "%" not in line


# --------------------------------------------------------------------------- what_if arguments


@pytest.fixture(scope="module")
def grid_acc(grid_city):
    net, pop, dest = grid_city
    return compute_accessibility(net, dest, minutes=[5, 10], population=pop)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"close_edges": [-1]}, ["close_edges", "[-1]", "do not exist", "not counted from the end"]),
        ({"close_edges": [10**6]}, ["close_edges", "1000000", "do not exist"]),
        ({"close_edges": [1.0, 2.0]}, ["close_edges", "1.0", "whole-number", "float ids"]),
        ({"close_edges": np.array([0.5])}, ["close_edges", "0.5"]),
        ({"close_edges": [np.nan]}, ["close_edges", "nan"]),
        ({"close_edges": [True, False]}, ["close_edges", "boolean mask of 2 entries"]),
        ({"close_edges": "3"}, ["close_edges", "'3'"]),
        ({"remove": [-2]}, ["remove", "[-2]", "do not exist"]),
        ({"remove": [0.0]}, ["remove", "0.0", "whole-number"]),
    ],
)
def test_what_if_refuses_bad_positions(grid_acc, kwargs, words):
    with pytest.raises(InvalidOptionError) as err:
        grid_acc.what_if(**kwargs)
    for w in words:
        assert w in str(err.value)


def test_what_if_closes_exactly_the_edges_named(grid_acc):
    last = len(grid_acc.network.edges) - 1
    after = grid_acc.what_if(close_edges=[last]).after
    kept = grid_acc.network.edges.drop(index=grid_acc.network.edges.index[last])
    assert len(after.network.edges) == last
    assert after.network.edges[["u", "v"]].values.tolist() == kept[["u", "v"]].values.tolist()
    assert len(grid_acc.what_if(close_edges=[]).after.network.edges) == last + 1


def _additions(dest, geometries):
    rows = dest.iloc[: len(geometries)].drop(columns="geometry").reset_index(drop=True)
    return gpd.GeoDataFrame(rows, geometry=list(geometries), crs="EPSG:4326")


@pytest.mark.parametrize(
    "geometries, words",
    [
        ([Point(np.nan, np.nan)], ["row positions 0", "NaN or infinite coordinates"]),
        ([Point(2.151, 41.381), Point()], ["row positions 1", "no geometry or an empty one"]),
        ([Point(2.151, 41.381), None], ["row positions 1", "no geometry"]),
        ([Polygon([(2.15, 41.38), (2.151, 41.38), (2.151, 41.381)])], ["Polygon", "not points", "representative"]),
    ],
)
def test_what_if_refuses_bad_additions(grid_city, grid_acc, geometries, words):
    with pytest.raises(InvalidOptionError) as err:
        grid_acc.what_if(add=_additions(grid_city[2], geometries))
    assert str(err.value).startswith("add: ")
    for w in words:
        assert w in str(err.value)


def test_what_if_refuses_additions_with_unknown_or_wrong_services(grid_city, grid_acc):
    dest = grid_city[2]
    with pytest.raises(InvalidOptionError, match="no service"):
        grid_acc.what_if(add=dest.iloc[:1].assign(service=[None]))
    with pytest.raises(InvalidOptionError, match="'volcano'"):
        grid_acc.what_if(add=dest.iloc[:1].assign(service=["volcano"]))
    with pytest.raises(InvalidOptionError, match="function 'living'.*'commerce'"):
        grid_acc.what_if(add=dest[dest["service"] == "grocery"].iloc[:1].assign(function="living"))
    with pytest.raises(InvalidOptionError, match="GeoDataFrame"):
        grid_acc.what_if(add=pd.DataFrame(dest.drop(columns="geometry")))
    # nothing of a bad call is half-applied: a valid call afterwards equals a fresh one
    one = dest.iloc[:1]
    with pytest.raises(InvalidOptionError):
        grid_acc.what_if(close_edges=[0], add=one.assign(service=["volcano"]))
    assert len(grid_acc.what_if(add=one).after.pois) == len(grid_acc.pois) + 1


# --------------------------------------------------------------------------- outputs never destroy inputs


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.is_symlink()}


@pytest.fixture
def population_copy(tmp_path):
    src = dataset("helsinki_population")
    copy = tmp_path / "population.gpkg"
    copy.write_bytes(src.read_bytes())
    copy.chmod(0o644)
    return copy


@pytest.mark.parametrize("how", ["same", "dot", "symlink", "detour", "hardlink"])
def test_cli_accessibility_refuses_out_equal_to_population(population_copy, monkeypatch, capsys, how):
    folder = population_copy.parent
    monkeypatch.chdir(folder)
    out = {
        "same": str(population_copy),
        "dot": "./population.gpkg",
        "detour": f"../{folder.name}/population.gpkg",
        "symlink": "link.gpkg",
        "hardlink": "hard.gpkg",
    }[how]
    if how == "symlink":
        (folder / "link.gpkg").symlink_to(population_copy)
    if how == "hardlink":
        os.link(population_copy, folder / "hard.gpkg")
    before = _snapshot(folder)
    code = main(["accessibility", "helsinki", "--population", "population.gpkg", "--out", out])
    err = capsys.readouterr().err
    assert code == 2
    assert "--out" in err and "--population input" in err and "population.gpkg" in err and "another output" in err
    assert _snapshot(folder) == before  # byte-identical, and nothing else written
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["population.gpkg"] + {"symlink": ["link.gpkg"], "hardlink": ["hard.gpkg"]}.get(how, [])
    )


def test_cli_accessibility_refuses_out_equal_to_the_osm_file(tmp_path, capsys):
    osm = tmp_path / "city.osm.pbf"
    osm.write_bytes(urbankit.datasets.get_path("monaco").read_bytes())
    link = tmp_path / "city.gpkg"
    link.symlink_to(osm)
    before = osm.read_bytes()
    assert main(["accessibility", str(osm), "--out", str(link)]) == 2
    assert "source input" in capsys.readouterr().err
    assert osm.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["city.gpkg", "city.osm.pbf"]


def test_cli_superblocks_refuses_out_equal_to_an_input(population_copy, tmp_path, capsys):
    before = population_copy.read_bytes()
    for argv in (
        ["superblocks", "helsinki", "--method", "polygons", str(population_copy), "--out", str(population_copy)],
        ["superblocks", "helsinki", "--population", str(population_copy), "--out", str(population_copy)],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "would destroy the input" in err and str(population_copy.name) in err
    osm = tmp_path / "sb.osm.pbf"
    osm.write_bytes(urbankit.datasets.get_path("monaco").read_bytes())
    (tmp_path / "sb.gpkg").symlink_to(osm)
    assert main(["superblocks", str(osm), "--out", str(tmp_path / "sb.gpkg")]) == 2
    assert "source input" in capsys.readouterr().err
    assert population_copy.read_bytes() == before
    assert osm.read_bytes() == urbankit.datasets.get_path("monaco").read_bytes()


@pytest.mark.slow  # several seconds on 2 shared cores
def test_python_writers_refuse_to_overwrite_inputs(population_copy, monkeypatch):
    folder = population_copy.parent
    acc = urbankit.x_minute_city("helsinki", minutes=[10], population_source=str(population_copy))
    (folder / "link.gpkg").symlink_to(population_copy)
    before = _snapshot(folder)
    monkeypatch.chdir(folder.parent)  # the result remembers the input by its absolute path
    for target in (population_copy, folder / "link.gpkg", f"./{folder.name}/population.gpkg"):
        with pytest.raises(InvalidOptionError, match="population input.*would destroy the input"):
            acc.to_gpkg(target)
    with pytest.raises(InvalidOptionError, match="population input"):
        acc.what_if(remove=[0]).after.to_gpkg(population_copy)
    assert _snapshot(folder) == before
    # an ordinary output still works
    assert acc.to_gpkg(folder / "result.gpkg").exists()


# --------------------------------------------------------------------------- compare: populations keyed by source


@pytest.fixture
def area_copies(tmp_path):
    """A folder with an OSM file and its population grid, under relative names."""
    osm = tmp_path / "hki.osm.pbf"
    osm.write_bytes(urbankit.datasets.get_path("helsinki").read_bytes())
    pop = tmp_path / "grid.gpkg"
    pop.write_bytes(dataset("helsinki_population").read_bytes())
    return tmp_path


def test_populations_keys_match_sources_as_files(area_copies, monkeypatch):
    from urbankit.reporting.compare import match_populations

    monkeypatch.chdir(area_copies)
    absolute = str(area_copies / "hki.osm.pbf")
    (area_copies / "alias.osm.pbf").symlink_to(area_copies / "hki.osm.pbf")
    # the report runner makes sources absolute; keys written relative name the same file
    for sources, key in (
        ([absolute], "hki.osm.pbf"),
        ([absolute], "./hki.osm.pbf"),
        (["hki.osm.pbf"], absolute),
        (["alias.osm.pbf"], "hki.osm.pbf"),
        (["monaco", absolute], f"../{area_copies.name}/hki.osm.pbf"),
    ):
        assert match_populations(sources, {key: "grid.gpkg"}) == {sources[-1]: "grid.gpkg"}, (sources, key)
    # an embedded data set by name and by its path
    assert match_populations(["helsinki"], {str(urbankit.datasets.get_path("helsinki")): 1}) == {"helsinki": 1}
    assert match_populations(["monaco", "helsinki"], {"helsinki": 1}) == {"helsinki": 1}


def test_a_populations_key_that_matches_no_source_is_an_error(area_copies, monkeypatch):
    from urbankit.reporting.compare import match_populations, x_minute_cities

    monkeypatch.chdir(area_copies)
    with pytest.raises(InvalidOptionError, match=r"'helsinki_center.osm.pbf'.*match none of the sources"):
        match_populations([str(area_copies / "hki.osm.pbf")], {"helsinki_center.osm.pbf": "grid.gpkg"})
    with pytest.raises(InvalidOptionError, match="'Helsinki'"):
        x_minute_cities(["monaco", "helsinki"], populations={"Helsinki": "grid.gpkg"})  # before any work
    with pytest.raises(InvalidOptionError, match="both name the source"):
        match_populations(["hki.osm.pbf"], {"hki.osm.pbf": "grid.gpkg", "./hki.osm.pbf": "grid.gpkg"})
    with pytest.raises(InvalidOptionError, match="must be a dict"):
        match_populations(["hki.osm.pbf"], [("hki.osm.pbf", "grid.gpkg")])


def test_batch_resolves_populations_keys_like_sources(area_copies):
    from urbankit.reporting.batch import load_config

    config = area_copies / "batch.toml"
    config.write_text(
        '[[report]]\nnotebook = "compare"\nname = "pop"\n'
        'parameters = { sources = ["hki.osm.pbf"], populations = { "hki.osm.pbf" = "grid.gpkg" } }\n'
    )
    _, entries = load_config(config)
    params = entries[0].parameters
    assert params["sources"] == [str(area_copies / "hki.osm.pbf")]
    assert params["populations"] == {str(area_copies / "hki.osm.pbf"): str(area_copies / "grid.gpkg")}


@pytest.mark.slow
def test_compare_report_with_relative_paths_uses_the_grid(area_copies, monkeypatch):
    from urbankit.population import population_per_node
    from urbankit.reporting.runner import run_report

    monkeypatch.chdir(area_copies)
    out = run_report(
        "compare",
        parameters={"sources": ["hki.osm.pbf"], "populations": {"hki.osm.pbf": "grid.gpkg"}, "minutes": 5},
        out_dir="reports",
    )
    table = pd.read_csv(out / "comparison.csv", index_col=0)
    column = table.columns[0]
    assert table.loc["population source", column] == "grid"  # old code: "buildings" (47,074 residents)
    # the same residents as the grid gives on this network, computed here directly
    net = urbankit.build_network(urbankit.load(str(area_copies / "hki.osm.pbf")), "walk")
    want = population_per_node(net.nodes, grid=area_copies / "grid.gpkg").total
    assert float(table.loc["residents", column]) == round(want)


# --------------------------------------------------------------------------- overlapping population cells


def _nodes_3067(width_m=400.0, height_m=100.0, step_m=20.0):
    xs, ys = np.meshgrid(np.arange(5.0, width_m, step_m), np.arange(5.0, height_m, step_m))
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs.ravel(), ys.ravel()), crs=3067)


def _raster_residents(cells: gpd.GeoDataFrame, pixel_m: float = 2.5) -> float:
    """Independent: residents of the union of the cells, each pixel holding the mean density of the
    cells covering its centre (what sharing overlapping areas by area means)."""
    x0, y0, x1, y1 = cells.total_bounds
    xs, ys = np.meshgrid(np.arange(x0 + pixel_m / 2, x1, pixel_m), np.arange(y0 + pixel_m / 2, y1, pixel_m))
    pts = gpd.points_from_xy(xs.ravel(), ys.ravel())
    density = (cells["population"] / cells.area).to_numpy()
    total = np.zeros(len(pts))
    count = np.zeros(len(pts))
    for d, geom in zip(density, cells.geometry):
        inside = np.asarray(geom.contains(pts))
        total += inside * d
        count += inside
    covered = count > 0
    return float((total[covered] / count[covered]).sum() * pixel_m**2)


def test_duplicated_cells_are_refused_naming_them():
    cells = gpd.GeoDataFrame(
        {"population": [100.0, 40.0, 100.0]},
        geometry=[box(0, 0, 100, 100), box(200, 0, 300, 100), box(0, 0, 100, 100)],
        crs=3067,
    )
    with pytest.raises(urbankit.PopulationError) as err:
        urbankit.population_per_node(_nodes_3067(), grid=cells)  # old code: 240 residents, 100 of them twice
    msg = str(err.value)
    assert "row 0 and row 2" in msg and "duplicate" in msg and "overlaps='split'" in msg


def test_partially_overlapping_cells_are_refused_naming_their_ids():
    cells = gpd.GeoDataFrame(
        {"population": [100.0, 100.0, 40.0]},
        geometry=[box(0, 0, 100, 100), box(50, 0, 150, 100), box(200, 0, 300, 100)],
        index=["cell-a", "cell-b", "cell-c"],
        crs=3067,
    )
    with pytest.raises(urbankit.PopulationError) as err:
        urbankit.population_per_node(_nodes_3067(), grid=cells)
    msg = str(err.value)
    assert "'cell-a' (row 0) and 'cell-b' (row 1)" in msg and "5,000 m²" in msg and "50% of the smaller" in msg
    assert "cell-c" not in msg


@pytest.mark.parametrize(
    "boxes, residents",
    [
        ([(0, 0, 100, 100), (0, 0, 100, 100)], [100.0, 100.0]),  # duplicate: 100, not 200
        ([(0, 0, 100, 100), (50, 0, 150, 100), (200, 0, 300, 100)], [100.0, 100.0, 40.0]),
        ([(0, 0, 100, 100), (0, 0, 100, 100), (50, 0, 150, 100), (120, 20, 170, 70)], [90.0, 60.0, 30.0, 12.0]),
    ],
)
def test_overlaps_split_shares_overlapping_areas_by_area(boxes, residents, caplog):
    cells = gpd.GeoDataFrame({"population": residents}, geometry=[box(*b) for b in boxes], crs=3067)
    with caplog.at_level(logging.WARNING, logger="urbankit.population"):
        est = urbankit.population_per_node(_nodes_3067(), grid=cells, overlaps="split")
    want = _raster_residents(cells)
    assert want < sum(residents)
    assert est.total == pytest.approx(want, rel=1e-9)
    assert est.details["residents_in_overlaps_removed"] == pytest.approx(sum(residents) - want, rel=1e-9)
    assert est.details["residents_outside_extent"] == pytest.approx(0.0, abs=1e-9)
    assert any("overlap" in r.getMessage() for r in caplog.records)


def test_touching_cells_and_rounding_slivers_are_not_overlaps():
    # a regular grid (cells share edges) and a neighbour shifted by 1 cm: no double counting to speak of
    cells = gpd.GeoDataFrame(
        {"population": [10.0, 20.0, 30.0, 40.0]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100), box(0, 100, 100, 200), box(199.99, 0, 300, 100)],
        crs=3067,
    )
    est = urbankit.population_per_node(_nodes_3067(height_m=200.0), grid=cells)
    assert est.total == pytest.approx(100.0)


def test_bad_overlaps_option():
    cells = gpd.GeoDataFrame({"population": [1.0]}, geometry=[box(0, 0, 100, 100)], crs=3067)
    with pytest.raises(InvalidOptionError, match="overlaps='sum'.*'error'.*'split'"):
        urbankit.population_per_node(_nodes_3067(), grid=cells, overlaps="sum")


def test_x_minute_city_refuses_a_grid_file_with_duplicated_cells(tmp_path):
    from urbankit.population import read_population_grid

    grid = read_population_grid(dataset("helsinki_population"))
    doubled = tmp_path / "doubled.gpkg"
    pd.concat([grid, grid], ignore_index=True).to_file(doubled, driver="GPKG")
    with pytest.raises(urbankit.PopulationError, match=r"doubled.gpkg.*overlapping cells.*row \d+ and row \d+"):
        urbankit.x_minute_city("helsinki", minutes=[10], population_source=str(doubled))  # old code: 15,602 residents
