"""Bad input: each case gives the exact urbankit error class and a message naming the input and the fix.

This module holds the cases of the bad-input matrix (issue 6, item 1) that no other test file
covers, and the regression tests of the crashes found by ``make test-fuzz`` (``tests/fuzz_loaders.py``).
Cases that fail today because of a bug are strict ``xfail`` tests whose reason states the bug: they
start failing (XPASS) the day the bug is fixed, so the marker is removed then.

Where every case of the matrix is tested
----------------------------------------

Files are ``tests/<file>::<test>``; "here" is this module. "xfail" marks a known bug (see the test).

=====================================================  ==========================================  ====================================================================
case                                                   expected                                    test
=====================================================  ==========================================  ====================================================================
empty file: ``.osm.pbf``                               CorruptFileError "is empty (0 bytes)"       test_ingest.py::test_empty_file
empty file: ``.osm``, ``.osm.bz2``, ``.osm.gz``,       CorruptFileError / TaxonomyError naming     here: test_empty_file_of_every_kind
``.graphml``, population ``.gpkg``/``.geojson``,       the file and the fix
taxonomy ``.toml``
missing file, folder, unsupported extension            InputFileError / UnsupportedFormatError     test_ingest.py::test_missing_file, test_directory,
                                                                                                   test_unsupported_extension; test_population.py::test_grid_file_errors;
                                                                                                   test_destinations.py::test_missing_file
truncated PBF                                          CorruptFileError                            test_ingest.py::test_truncated_pbf
truncated ``.osm.bz2``                                 CorruptFileError                            test_ingest.py::test_truncated_bz2
truncated XML (several cut points), truncated gzip     CorruptFileError                            here: test_truncated_xml, test_truncated_gzip
corrupted PBF (random byte flips)                      CorruptFileError or a valid extract         test_ingest.py::test_corrupted_pbf
corrupted XML (random byte flips)                      CorruptFileError or a valid extract         here: test_corrupted_xml_byte_flips
invalid UTF-8 in a tag                                 CorruptFileError                            test_ingest.py::test_invalid_utf8_tag_is_corrupt_file
corrupted uncompressed PBF (swapped bytes)             CorruptFileError -- today a SEGFAULT        here: test_fuzz_regressions[pbf_segfault_swapped_bytes.osm.pbf] (xfail)
                                                       inside pyosmium
malformed XML values (fuzz): id beyond 64 bits,        CorruptFileError -- today raw ValueError /  here: test_malformed_xml_attribute_is_corrupt_file (xfail),
coordinate "nan"/"abc", version/changeset/uid/         osmium.InvalidLocationError                 test_fuzz_regressions (xfail)
timestamp/visible garbage, tag key or value longer
than 1024 characters
GraphML node without x/y (fuzz)                        CorruptFileError -- today KeyError          here: test_graphml_node_without_coordinates (xfail)
text file named ``.osm``                               CorruptFileError                            test_ingest.py::test_text_file_named_osm
text file named ``.graphml``                           CorruptFileError                            test_ingest.py::test_text_file_named_graphml
not OSM at all: random bytes, GeoJSON, HTML error      CorruptFileError naming the file            here: test_not_osm_at_all
page, GPX, PNG, XML named ``.pbf``, PBF named
``.osm``, garbage ``.bz2``, whitespace only
XML without any OSM object                             CorruptFileError                            test_ingest.py::test_xml_without_osm_objects
no streets for the mode (buildings only)               NoStreetsError naming file and mode         test_networks.py::test_no_streets, test_ingest.py::test_xml_without_highway
no streets for the mode (motorways: walk, bike)        NoStreetsError                              test_networks.py::test_motorway_only
no streets for the mode (footways only: drive)         NoStreetsError                              here: test_footways_only_has_no_drive_streets
streets of zero length only                            NoStreetsError "form no edge"               here: test_zero_length_streets_form_no_edge
drive: one-way streets with no way back                NoStreetsError -- today an empty network    here: test_drive_without_any_way_back_is_no_streets (xfail)
area outside the UTM range (|lat| > 84/80)             a network or a clear urbankit error --      here: test_area_beyond_utm_range (xfail)
                                                       today IndexError
ways referencing missing nodes (clipped)               ways cut at the gap, counted, warning       test_ingest.py::test_missing_node_refs_helsinki (real clipped extract);
                                                       naming the file                             here: test_clipped_way_is_cut_at_missing_nodes
every node of the streets missing                      NoStreetsError at build                     here: test_streets_with_every_node_missing
nonsensical maxspeed ("walk", "50 mph", "none",        parsed (6, 80.47 km/h) or the class         here: test_nonsensical_maxspeed_values (network speeds end to end);
"fast", "-30", "0", "50;30", ...)                      fallback; never an error                    urbankit/network/modes.py::parse_maxspeed doctest
nonsensical oneway/access/lanes values                 ignored (two-way), never an error           here: test_nonsensical_oneway_and_access_values
nonsensical building:levels ("3;4")                    the largest number (4)                      test_population.py::test_buildings_hand_computed
nonsensical building:levels ("lots", "-2", "999",      the default levels, never an error          here: test_nonsensical_building_levels;
"", "3.5.1")                                                                                       test_population.py::test_buildings_levels_height_default_and_min_level
duplicate node ids                                     CorruptFileError (XML; PBF: see read_osm)      here: test_duplicate_node_ids_are_an_error
                                                       the first version
duplicate way ids                                      CorruptFileError naming the file            here: test_duplicate_way_ids_are_corrupt_file
population grid in another CRS                         reprojected, same answer                    test_population.py::test_grid_reprojected_from_wgs84_gives_same_answer
population grid without CRS                            CRSError ".set_crs"                         test_population.py::test_grid_without_crs
population grid not overlapping the area               PopulationError, both bounds in lon/lat     test_population.py::test_grid_not_overlapping
population grid with negative values                   PopulationError with the rows               test_population.py::test_grid_negative_values
population grid with NaN values                        PopulationError with the rows and fillna    test_population.py::test_grid_nan_values_are_an_error
population grid: non-numeric, not polygons, no or      PopulationError                             test_population.py::test_grid_non_numeric_and_non_polygon,
ambiguous column, several layers                                                                   test_grid_column_explicit_and_missing, test_grid_column_ambiguous,
                                                                                                   test_grid_several_layers_need_layer
taxonomy with unknown keys                             TaxonomyError naming file and key           test_destinations.py::test_unknown_key_in_service, test_structure_problems
taxonomy: bad TOML, undeclared function, bad rules     TaxonomyError                               test_destinations.py::test_bad_toml_names_file_and_line,
                                                                                                   test_undeclared_function, test_rule_problems
thresholds negative, zero, non-numeric, NaN, inf,      InvalidOptionError quoting the value        test_accessibility.py::test_invalid_thresholds
empty, repeated, bool
threshold not computed (``residents_within``)          InvalidOptionError naming the thresholds    test_accessibility.py::test_population_summary
per-service thresholds above the computed maximum      InvalidOptionError naming the maximum       here: test_own_thresholds_above_the_computed_maximum
a request beyond the memory available                  MemoryBudgetError (a MemoryError) with      here: test_memory_budget_error, test_memory_budget_generous_limit_runs
                                                       size, budget and the fix
isochrone minutes invalid                              InvalidOptionError                          test_isochrones.py::test_invalid_inputs
OD tables with unknown nodes (superblocks)             InvalidOptionError naming the column, the   here: test_od_table_with_unknown_nodes (``superblocks.assign``;
(also negative trips, missing columns)                 ids and the fix                             skipped while urbankit/superblocks.py is not importable)
papermill parameters of the wrong type (overview)      ReportError before anything runs            test_reports.py::test_bad_parameters_fail_before_running
papermill parameters of the wrong type                 ReportError before anything runs; CLI       here: test_accessibility_report_parameters_of_the_wrong_type,
(accessibility report, CLI ``-p``)                     exit code 2                                 test_cli_report_parameter_of_the_wrong_type
papermill parameter whose default is None given a      ReportError (annotated parameters cell)      here: test_parameters_with_none_default_are_type_checked (xfail)
wrong type (``services="grocery"``)                    the notebook
online fetch offline / cache                           OnlineFetchError "offline"; cached answer   test_online.py::test_offline_with_empty_cache_place,
                                                                                                   test_offline_with_empty_cache_bbox_fails_fast,
                                                                                                   test_repeated_call_is_answered_from_the_cache_offline
=====================================================  ==========================================  ====================================================================
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import osm_xml

import urbankit
from urbankit import (
    CorruptFileError,
    InvalidOptionError,
    NoStreetsError,
    ReportError,
    ReportParameterError,
    TaxonomyError,
    UrbankitError,
)
from urbankit.mock import grid_extract, random_destinations

HERE = Path(__file__).resolve().parent
CRASHES = HERE / "fuzz_crashes"


@pytest.fixture(autouse=True)
def _no_progress(monkeypatch):
    monkeypatch.setattr(urbankit.settings, "progress", False)


def grid_xml(n: int = 4, *, tags=None) -> str:
    """OSM XML of an n x n street grid ~111 m apart near (3 E, 0.01 N); way ids 100+ rows, 200+ columns."""
    nodes = {1 + r * n + c: (3.0 + 0.001 * c, 0.01 + 0.001 * r, {}) for r in range(n) for c in range(n)}
    tags = tags or {"highway": "residential"}
    ways = {100 + r: ([1 + r * n + c for c in range(n)], dict(tags)) for r in range(n)}
    ways.update({200 + c: ([1 + r * n + c for r in range(n)], dict(tags)) for c in range(n)})
    return osm_xml(nodes, ways)


def raises_exactly(exc_type, func, *args, names=None, **kwargs):
    """Call ``func``: it must raise exactly ``exc_type`` (an urbankit error) naming ``names``."""
    with pytest.raises(Exception) as info:
        func(*args, **kwargs)
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value}"
    assert isinstance(info.value, UrbankitError)
    if names is not None:
        assert str(names) in str(info.value), str(info.value)
    return info.value


def read_or_corrupt(path: Path):
    """``read_osm(path)``: a CorruptFileError naming the file, or an extract networks can be built from
    (or that raises an urbankit error)."""
    try:
        ex = urbankit.read_osm(path)
    except UrbankitError as err:
        assert type(err) is CorruptFileError, f"{type(err).__name__}: {err}"
        assert str(path) in str(err)
        return None
    assert isinstance(ex, urbankit.OSMExtract)
    assert list(ex.way_nodes.columns) == ["way", "node_id", "lon", "lat"]
    for mode in urbankit.MODES:
        try:
            urbankit.build_network(ex, mode, cache=False)
        except UrbankitError:
            pass
    return ex


# ------------------------------------------------------------------------------------------------
# empty, truncated, corrupted, not OSM


@pytest.mark.parametrize(
    "name",
    ["area.osm", "area.osm.bz2", "area.osm.gz", "area.graphml", "grid.gpkg", "grid.geojson", "taxonomy.toml"],
)
def test_empty_file_of_every_kind(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    if name.endswith(".toml"):
        err = raises_exactly(TaxonomyError, urbankit.load_taxonomy, path, names=path)
        assert "no service declared" in str(err)
        return
    if name.startswith("grid"):
        err = raises_exactly(CorruptFileError, urbankit.read_population_grid, path, names=path)
    else:
        reader = urbankit.read_graphml if name.endswith(".graphml") else urbankit.read_osm
        err = raises_exactly(CorruptFileError, reader, path, names=path)
        raises_exactly(CorruptFileError, urbankit.load, path, names=path)  # the one entry point too
    assert "empty (0 bytes)" in str(err) and "re-" in str(err)  # the fix: re-download / re-export


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_xml(tmp_path, keep):
    text = grid_xml(5)
    path = tmp_path / "cut.osm"
    path.write_text(text[: int(len(text) * keep)])
    err = raises_exactly(CorruptFileError, urbankit.read_osm, path, names=path)
    assert "truncated" in str(err) and "re-download" in str(err)


def test_truncated_gzip(tmp_path):
    data = gzip.compress(grid_xml(5).encode(), mtime=0)
    path = tmp_path / "cut.osm.gz"
    path.write_bytes(data[: len(data) // 2])
    raises_exactly(CorruptFileError, urbankit.read_osm, path, names=path)


@pytest.mark.parametrize("seed", range(6))
def test_corrupted_xml_byte_flips(tmp_path, seed):
    """Random byte flips in an XML extract: a CorruptFileError naming the file, or (if the flips
    hit only values) an extract that builds or raises an urbankit error."""
    data = bytearray(grid_xml(5).encode())
    rng = np.random.default_rng(seed)
    for i in rng.integers(len(data) // 4, len(data), size=4):
        data[i] ^= int(rng.integers(1, 256))
    path = tmp_path / "flipped.osm"
    path.write_bytes(bytes(data))
    read_or_corrupt(path)


NOT_OSM = {
    "random.osm.pbf": np.random.default_rng(0).bytes(4000),
    "random.osm": np.random.default_rng(1).bytes(4000),
    "features.osm": b'{"type": "FeatureCollection", "features": []}',
    "download.osm": b"<!DOCTYPE html><html><head><title>429 Too Many Requests</title></head><body></body></html>",
    "track.osm": b'<?xml version="1.0"?><gpx version="1.1"><trk><trkseg><trkpt lat="1" lon="2"/></trkseg></trk></gpx>',
    "picture.osm.pbf": b"\x89PNG\r\n\x1a\n" + bytes(200),
    "xml_named.osm.pbf": grid_xml(3).encode(),
    "garbage.osm.bz2": b"BZh9" + b"x" * 100,
    "plain_text.osm.bz2": b"streets of Barcelona",
    "blank.osm": b"   \n\n  ",
}


@pytest.mark.parametrize("name", list(NOT_OSM))
def test_not_osm_at_all(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(NOT_OSM[name])
    err = raises_exactly(CorruptFileError, urbankit.read_osm, path, names=path)
    assert "osmium fileinfo" in str(err) or "right area" in str(err)  # how to check / fix it


def test_pbf_saved_with_osm_extension_is_corrupt(tmp_path, monaco):
    path = tmp_path / "monaco.osm"  # a PBF under an XML name
    path.write_bytes(monaco.read_bytes()[:20_000])
    raises_exactly(CorruptFileError, urbankit.read_osm, path, names=path)


# ------------------------------------------------------------------------------------------------
# malformed values osmium rejects (found by make test-fuzz)

MALFORMED_XML = {
    "id_beyond_64_bits": ('<node id="1"', '<node id="99999999999999999999"'),
    "id_with_spaces": ('<node id="1"', '<node id=" 5 "'),
    "lat_nan": ('lat="0.0100000" lon="3.0000000"', 'lat="nan" lon="3.0000000"'),
    "lon_text": ('lat="0.0100000" lon="3.0000000"', 'lat="0.0100000" lon="abc"'),
    "lat_trailing_characters": ('lat="0.0100000" lon="3.0000000"', 'lat="0.0100000)~" lon="3.0000000"'),
    "version_text": ('<node id="1" version="1"', '<node id="1" version="one"'),
    "changeset_text": ('<node id="1" version="1"', '<node id="1" version="1" changeset="x"'),
    "uid_text": ('<node id="1" version="1"', '<node id="1" version="1" uid="x"'),
    "timestamp_text": ('<node id="1" version="1"', '<node id="1" version="1" timestamp="yesterday"'),
    "visible_maybe": ('<node id="1" version="1"', '<node id="1" version="1" visible="maybe"'),
    "tag_key_too_long": ('<tag k="highway"', '<tag k="' + "k" * 1100 + '" v="x"/><tag k="highway"'),
    "tag_value_too_long": ('<tag k="highway"', '<tag k="name" v="' + "v" * 1100 + '"/><tag k="highway"'),
}


@pytest.mark.parametrize("case", list(MALFORMED_XML))
def test_malformed_xml_attribute_is_corrupt_file(tmp_path, case):
    old, new = MALFORMED_XML[case]
    text = grid_xml(3)
    assert old in text
    path = tmp_path / f"{case}.osm"
    path.write_text(text.replace(old, new, 1))
    err = raises_exactly(CorruptFileError, urbankit.read_osm, path, names=path)
    assert "re-download" in str(err)


@pytest.mark.parametrize("drop", ["x", "y"])
def test_graphml_node_without_coordinates(tmp_path, drop):
    import osmnx as ox

    src = tmp_path / "grid.osm"
    src.write_text(grid_xml(3))
    graph = ox.graph_from_xml(src, simplify=False, retain_all=True)
    path = tmp_path / "grid.graphml"
    ox.save_graphml(graph, path)
    text = path.read_text()
    key = next(
        line.split('id="')[1].split('"')[0]
        for line in text.splitlines()
        if f'attr.name="{drop}"' in line and 'for="node"' in line
    )
    start = text.index('<node id="1">')
    end = text.index("</node>", start)
    block = text[start:end]
    cut = "\n".join(line for line in block.splitlines() if f'key="{key}"' not in line)
    path.write_text(text[:start] + cut + text[end:])
    raises_exactly(CorruptFileError, urbankit.read_graphml, path, names=path)


# ------------------------------------------------------------------------------------------------
# no streets for the mode


def test_footways_only_has_no_drive_streets(tmp_path):
    path = tmp_path / "footways.osm"
    path.write_text(grid_xml(3, tags={"highway": "footway"}))
    ex = urbankit.read_osm(path)
    assert len(urbankit.build_network(ex, "walk", cache=False).edges) == 12
    err = raises_exactly(NoStreetsError, urbankit.build_network, ex, "drive", cache=False, names="footways.osm")
    assert "mode='drive'" in str(err) and "choose another mode" in str(err)


def test_zero_length_streets_form_no_edge(tmp_path):
    nodes = {1: (3.0, 0.01, {}), 2: (3.0, 0.01, {}), 3: (3.0, 0.01, {})}
    path = tmp_path / "points.osm"
    path.write_text(osm_xml(nodes, {10: ([1, 2, 3], {"highway": "residential"})}))
    ex = urbankit.read_osm(path)
    for mode in urbankit.MODES:
        err = raises_exactly(NoStreetsError, urbankit.build_network, ex, mode, cache=False, names="points.osm")
        assert "form no edge" in str(err)


@pytest.mark.parametrize("tags", [{"highway": "residential", "oneway": "yes"}, {"highway": "motorway"}])
def test_drive_without_any_way_back_is_no_streets(tmp_path, tags):
    nodes = {1: (3.0, 0.01, {}), 2: (3.001, 0.01, {}), 3: (3.002, 0.01, {})}
    path = tmp_path / "oneway.osm"
    path.write_text(osm_xml(nodes, {10: ([1, 2, 3], tags)}))
    ex = urbankit.read_osm(path)
    if "oneway" in tags:  # walking ignores one-way rules
        assert len(urbankit.build_network(ex, "walk", cache=False).nodes) >= 1
    raises_exactly(NoStreetsError, urbankit.build_network, ex, "drive", cache=False, names="oneway.osm")


@pytest.mark.parametrize("lat", [85.0, -81.0])
def test_area_beyond_utm_range(tmp_path, lat):
    nodes = {1: (10.0, lat, {}), 2: (10.01, lat, {}), 3: (10.01, lat + 0.001, {})}
    path = tmp_path / "polar.osm"
    path.write_text(osm_xml(nodes, {10: ([1, 2, 3], {"highway": "residential"})}))
    ex = urbankit.read_osm(path)
    try:
        net = urbankit.build_network(ex, "walk", cache=False)
    except UrbankitError as err:
        assert "polar.osm" in str(err)
    else:
        # one way, no shared node: one edge 1 -> 3 through node 2, measured in a polar projection
        from pyproj import Geod

        assert len(net.edges) == 1
        lons, lats = [nodes[i][0] for i in (1, 2, 3)], [nodes[i][1] for i in (1, 2, 3)]
        assert net.edges.length_m.iloc[0] == pytest.approx(Geod(ellps="WGS84").line_length(lons, lats), rel=0.01)


# ------------------------------------------------------------------------------------------------
# clipped extracts


def test_clipped_way_is_cut_at_missing_nodes(tmp_path, caplog):
    nodes = {i: (3.0 + 0.001 * i, 0.01, {}) for i in (1, 2, 4, 5, 6)}
    nodes[8] = (3.005, 0.011, {})
    ways = {
        10: ([1, 2, 3, 4, 5, 6], {"highway": "residential"}),
        11: ([6, 7], {"highway": "residential"}),
        12: ([5, 8], {"highway": "residential"}),
    }
    path = tmp_path / "clipped.osm"
    path.write_text(osm_xml(nodes, ways))
    with caplog.at_level(logging.WARNING, logger="urbankit.osm"):
        ex = urbankit.read_osm(path)
    # nodes 3 and 7 are absent: way 10 becomes runs 1-2 and 4-5-6; way 11 keeps one node and is dropped
    assert ex.missing_node_refs == 2
    assert ex.ways.way_id.tolist() == [10, 10, 12]
    assert ex.way_nodes.groupby("way").node_id.apply(list).tolist() == [[1, 2], [4, 5, 6], [5, 8]]
    msg = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "clipped.osm" in msg and "2 node references" in msg and "clipped extract" in msg
    net = urbankit.build_network(ex, "walk", cache=False, largest_component=False)
    assert sorted(map(tuple, net.edges[["u", "v"]].to_numpy().tolist())) == [(1, 2), (4, 5), (5, 6), (5, 8)]
    # the largest component keeps the longer part, and says what it dropped
    net = urbankit.build_network(ex, "walk", cache=False)
    assert set(net.nodes.index) == {4, 5, 6, 8} and net.meta["dropped_node_share"] == pytest.approx(2 / 6)


def test_streets_with_every_node_missing(tmp_path):
    path = tmp_path / "only_ways.osm"
    ways = {100 + r: ([1 + 3 * r + c for c in range(3)], {"highway": "residential"}) for r in range(3)}
    ways.update({200 + c: ([1 + 3 * r + c for r in range(3)], {"highway": "residential"}) for c in range(3)})
    path.write_text(osm_xml({}, ways))
    ex = urbankit.read_osm(path)
    assert len(ex.ways) == 0 and ex.missing_node_refs == 18
    err = raises_exactly(NoStreetsError, urbankit.build_network, ex, "walk", cache=False, names="only_ways.osm")
    assert "larger extract" in str(err)


# ------------------------------------------------------------------------------------------------
# nonsensical tags


def test_nonsensical_maxspeed_values(tmp_path):
    """Each one-segment residential street (fallback 30 km/h) with a different maxspeed."""
    values = {
        "walk": 6.0,
        "50 mph": 50 * 1.609344,
        "none": 30.0,
        "fast": 30.0,
        "-30": 30.0,
        "0": 30.0,
        "signals": 30.0,
        "50;30": 30.0,
        "": 30.0,
        "20 knots": 20 * 1.852,
        "FR:urban": 50.0,
        "30 km/h": 30.0,
    }
    nodes = {i: (3.0 + 0.001 * i, 0.01, {}) for i in range(1, len(values) + 2)}
    ways = {
        100 + i: ([i + 1, i + 2], {"highway": "residential", "maxspeed": v}) for i, v in enumerate(values)
    }
    path = tmp_path / "speeds.osm"
    path.write_text(osm_xml(nodes, ways))
    net = urbankit.build_network(urbankit.read_osm(path), "drive", cache=False)
    got = net.edges.drop_duplicates("way_id").set_index("way_id").speed_kmh
    want = pd.Series(list(values.values()), index=[100 + i for i in range(len(values))])
    np.testing.assert_allclose(got.loc[want.index].to_numpy(), want.to_numpy(), rtol=1e-9)
    assert (net.edges.time_min > 0).all() and np.isfinite(net.edges.time_min).all()


def test_nonsensical_oneway_and_access_values(tmp_path):
    nodes = {i: (3.0 + 0.001 * i, 0.01, {}) for i in range(1, 5)}
    ways = {
        10: ([1, 2], {"highway": "residential", "oneway": "perhaps"}),
        11: ([2, 3], {"highway": "residential", "access": "???", "lanes": "many", "width": "wide"}),
        12: ([3, 4], {"highway": "residential", "oneway": "-1;yes", "foot": "maybe"}),
    }
    path = tmp_path / "odd.osm"
    path.write_text(osm_xml(nodes, ways))
    ex = urbankit.read_osm(path)
    drive = urbankit.build_network(ex, "drive", cache=False)
    walk = urbankit.build_network(ex, "walk", cache=False)
    # unknown values are ignored: every street is two-way and open to everyone
    assert len(drive.edges) == 6 and not drive.edges.oneway.any()
    assert len(walk.edges) == 3


def test_nonsensical_building_levels():
    import geopandas as gpd
    from shapely.geometry import Point, box

    nodes = gpd.GeoDataFrame(
        {"x": [430_000.0], "y": [4_580_000.0]},
        geometry=[Point(430_000.0, 4_580_000.0)],
        index=pd.Index([7], name="node_id"),
        crs="EPSG:32631",
    )
    values = ["lots", "-2", "999", "", "3.5.1", "NaN", "0"]
    b = gpd.GeoDataFrame(
        {"building": "house", "building:levels": values},
        geometry=[box(430_000 + 20 * i, 4_580_010, 430_010 + 20 * i, 4_580_020) for i in range(len(values))],
        crs="EPSG:32631",
    )
    est = urbankit.population_per_node(nodes, buildings=b, default_levels=2, floor_area_per_resident_m2=40)
    # every value is unusable: 7 buildings of 100 m2 x 2 default levels / 40 m2
    assert est.details["buildings_default_levels"] == len(values)
    assert est.total == pytest.approx(len(values) * 100 * 2 / 40)


# ------------------------------------------------------------------------------------------------
# duplicates


def _dup_xml(extra: str) -> str:
    return grid_xml(3).replace("</osm>", extra + "\n</osm>")


def test_duplicate_node_ids_are_an_error(tmp_path):
    text = grid_xml(3)
    twin = '<node id="5" version="2" lat="0.0500000" lon="3.0500000"/>'
    path = tmp_path / "twice.osm"
    path.write_text(text.replace('<node id="6"', twin + '\n<node id="6"', 1))
    err = raises_exactly(CorruptFileError, urbankit.read_osm, path, names=path)
    assert "twice" in str(err)


def test_duplicate_way_ids_are_corrupt_file(tmp_path):
    path = tmp_path / "twice.osm"
    way = '<way id="100" version="2"><nd ref="1"/><nd ref="9"/><tag k="highway" v="footway"/></way>'
    path.write_text(_dup_xml(way))
    err = raises_exactly(CorruptFileError, urbankit.read_osm, path, names=path)
    assert "twice" in str(err) and "osmium fileinfo" in str(err)


# ------------------------------------------------------------------------------------------------
# thresholds and memory


@pytest.fixture(scope="module")
def small_acc():
    urbankit.settings.progress = False
    net = urbankit.build_network(grid_extract(6, 6, block_m=112.0), "walk", cache=False)
    dest = random_destinations(net, services=["grocery", "pharmacy"], per_service=3, seed=3)
    return urbankit.compute_accessibility(net, dest, minutes=[5, 10], services=["grocery", "pharmacy"])


@pytest.mark.parametrize(
    "service_minutes, fragments",
    [
        ({"grocery": 15}, ["grocery: 15 min exceeds the largest threshold 10", "rerun with larger minutes"]),
        ({"grocery": 10.5, "pharmacy": 5}, ["10.5 min exceeds"]),
        ({"grocery": -1}, ["-1 is not a positive number"]),
        ({"grocery": 0}, ["0 is not a positive number"]),
        ({"grocery": "10"}, ["'10' is not a positive number"]),
        ({"bakery": 5}, ["unknown service 'bakery'", "Services: ['grocery', 'pharmacy']"]),
    ],
)
def test_own_thresholds_above_the_computed_maximum(small_acc, service_minutes, fragments):
    err = raises_exactly(InvalidOptionError, small_acc.within_own_threshold, service_minutes)
    for f in fragments:
        assert f in str(err)


def test_own_thresholds_within_the_maximum_work(small_acc):
    out = small_acc.within_own_threshold({"grocery": 10, "pharmacy": 5})
    assert list(out.columns) == ["ok_grocery", "ok_pharmacy", "share_ok"]


def test_memory_budget_error_node_table(monkeypatch):
    net = urbankit.build_network(grid_extract(20, 20), "walk", cache=False)
    dest = random_destinations(net, per_service=3, seed=0)
    monkeypatch.setattr(urbankit.settings, "memory_limit_gb", 1e-6)  # 1 kB: not even the per-node table fits
    err = raises_exactly(urbankit.MemoryBudgetError, urbankit.compute_accessibility, net, dest, minutes=[10, 15, 30])
    assert isinstance(err, MemoryError)
    for fragment in (f"{len(net.nodes):,} nodes", "19 services", "3 thresholds", "urbankit.settings.memory_limit_gb"):
        assert fragment in str(err), (fragment, str(err))


def test_memory_budget_error(monkeypatch):
    net = urbankit.build_network(grid_extract(20, 20), "walk", cache=False)
    dest = random_destinations(net, per_service=3, seed=0)
    # room for the per-node table (19 services x 5 columns + 7, float64, three copies) but not for
    # the reach table of nearly every (node, destination) pair within 30 minutes (~80 bytes a row)
    node_table = 3 * 8 * (19 * 5 + 7) * len(net.nodes)
    assert node_table < 0.7 * 80 * len(dest) * len(net.nodes)
    monkeypatch.setattr(urbankit.settings, "memory_limit_gb", 1.2 * node_table / 1e9)
    with pytest.raises(Exception) as info:
        urbankit.compute_accessibility(net, dest, minutes=[10, 15, 30])
    err = info.value
    assert type(err) is urbankit.MemoryBudgetError
    assert isinstance(err, UrbankitError) and isinstance(err, MemoryError)
    msg = str(err)
    n_dest = len(dest)
    for fragment in (
        f"{n_dest:,} destinations",
        "within 30 min",
        f"{len(net.nodes):,} nodes",
        "MB available",
        "lower the largest threshold",
        "urbankit.settings.memory_limit_gb",
    ):
        assert fragment in msg, (fragment, msg)


def test_memory_budget_generous_limit_runs(monkeypatch):
    net = urbankit.build_network(grid_extract(8, 8), "walk", cache=False)
    dest = random_destinations(net, services=["grocery"], per_service=4, seed=0)
    monkeypatch.setattr(urbankit.settings, "memory_limit_gb", 1.0)
    acc = urbankit.compute_accessibility(net, dest, minutes=[10])
    monkeypatch.setattr(urbankit.settings, "memory_limit_gb", None)
    again = urbankit.compute_accessibility(net, dest, minutes=[10])
    pd.testing.assert_frame_equal(acc.nodes.drop(columns="geometry"), again.nodes.drop(columns="geometry"))


# ------------------------------------------------------------------------------------------------
# OD tables (superblocks)


@pytest.mark.parametrize(
    "column, od, fragments",
    [
        ("origin", {"origin": [1, 999_999], "destination": [2, 3]}, ["od.origin", "1 node id(s)", "999999"]),
        (
            "destination",
            {"origin": [1, 2], "destination": [-5, 77_777]},
            ["od.destination", "2 node id(s)", "-5", "77777"],
        ),
        ("trips", {"origin": [1, 2], "destination": [2, 3], "trips": [1.0, -2.0]}, ["od.trips", ">= 0", "rows 1"]),
        ("columns", {"from": [1], "to": [2]}, ["lacks column(s) ['origin', 'destination']"]),
    ],
)
def test_od_table_with_unknown_nodes(column, od, fragments):
    sb = pytest.importorskip("urbankit.superblocks", reason="urbankit/superblocks.py is not importable yet")
    if not hasattr(sb, "assign"):
        pytest.skip("urbankit.superblocks has no assign() yet")
    net = urbankit.build_network(grid_extract(3, 3), "drive", cache=False)
    err = raises_exactly(InvalidOptionError, sb.assign, net, pd.DataFrame(od), n_jobs=1)
    for f in fragments:
        assert f in str(err), (f, str(err))
    if column in ("origin", "destination"):
        assert "network.nodes.index" in str(err)  # the fix


# ------------------------------------------------------------------------------------------------
# report parameters


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ({"minutes": "15"}, "parameter 'minutes' must be list"),
        ({"mode": 3}, "parameter 'mode' must be str"),
        ({"hex_resolution": "9"}, "parameter 'hex_resolution' must be int"),
        ({"minutes": [10], "tiles": False}, "parameter 'tiles' must be str"),
        ({"minute": [10]}, "unknown parameter 'minute'"),
    ],
)
def test_accessibility_report_parameters_of_the_wrong_type(tmp_path, bad, fragment):
    err = raises_exactly(
        ReportParameterError, urbankit.run_report, "accessibility", parameters=bad, out_dir=tmp_path
    )
    assert fragment in str(err) and "accessibility.ipynb" in str(err)
    assert not any(tmp_path.iterdir())  # nothing ran, nothing written


def test_cli_report_parameter_of_the_wrong_type(tmp_path, capsys):
    from urbankit.cli import main

    assert main(["report", "accessibility", "-p", "minutes", "'15'", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "urbankit: error:" in err and "parameter 'minutes' must be list" in err
    assert not any(tmp_path.iterdir())


def test_parameters_with_none_default_are_type_checked():
    from urbankit.reporting.parameters import validate_parameters

    with pytest.raises(ReportError, match="services"):
        validate_parameters("accessibility", {"services": "grocery"})


# ------------------------------------------------------------------------------------------------
# regressions of make test-fuzz crashes: every input in tests/fuzz_crashes/ is replayed in a worker
# process (a segfault must not take pytest down) with the fuzzer's own checks

#: crash inputs whose bug is known and not fixed yet: file name -> the bug
_ESCAPES = "BUG urbankit/ingest.py _parse_osm: {} escapes as a non-urbankit error (not CorruptFileError)"
KNOWN_CRASHES = {
    "pbf_segfault_swapped_bytes.osm.pbf": "BUG pyosmium 4.3.2 / libosmium (upstream): an uncompressed PBF "
    "block with swapped bytes corrupts memory while its tags are read (plain osmium.FileProcessor iteration "
    "too): the process SEGFAULTS (exit -11), or, on other runs, ValueError 'OSM tag key is too long' escapes; "
    "a segfault cannot be caught in-process (reading in a subprocess would turn it into CorruptFileError)",
}


def _crash_files() -> list[str]:
    """Names of the crash inputs: each is kept as a recipe ``<name>.json`` (seed + patches), not as bytes."""
    if not CRASHES.is_dir():
        return []
    return sorted(p.name[: -len(".json")] for p in CRASHES.glob("*.json"))


@pytest.fixture(scope="module")
def fuzz_worker(tmp_path_factory):
    import fuzz_loaders

    w = fuzz_loaders.Worker(str(tmp_path_factory.mktemp("fuzz-replay")))
    yield w
    w.close()


@pytest.fixture(scope="module")
def fuzz_seeds(tmp_path_factory) -> dict[str, dict]:
    """The fuzzer's synthetic seed files (what most recipes patch), built once."""
    import fuzz_loaders

    seeds = fuzz_loaders.build_corpus(tmp_path_factory.mktemp("fuzz-seeds"))
    return {f"{s['name']}{s['suffix']}": s for s in seeds if "synthetic" in s["source"]}


def test_no_crash_input_is_committed_as_bytes():
    """Crash inputs made from third-party files must not be committed: only recipes, notes and the README."""
    stray = sorted(p.name for p in CRASHES.iterdir() if p.is_file() and not p.name.endswith((".json", ".txt", ".md")))
    assert not stray, f"tests/fuzz_crashes/ holds input bytes {stray}: keep them as recipes (fuzz_loaders.make_recipe)"
    for name in _crash_files():
        assert (CRASHES / f"{name}.txt").is_file(), f"{name}.json has no .txt beside it"


def test_save_crash_writes_a_recipe_not_bytes(tmp_path, monkeypatch):
    import json

    import fuzz_loaders

    monkeypatch.setattr(fuzz_loaders, "CRASH_DIR", tmp_path)
    text = b'<osm>\n<node id="1" lat="1" lon="2"/>\n</osm>\n'
    seed = {
        "name": "s", "suffix": ".osm", "source": {"synthetic": "s.osm"}, "data": text, "text": text, "compress": None
    }
    data = text.replace(b'id="1"', b'id="abc"')
    path = fuzz_loaders.save_crash("ValueError at ingest.py:_parse_osm: illegal id", seed, data, ["attr"], "tb", 0, 7)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, path.name.replace(".json", ".txt")]
    assert path.name.endswith("-s.osm.json")
    recipe = json.loads(path.read_text())
    assert recipe["reproduce"] == "--seed 0 --case 7" and recipe["source_sha256"] == fuzz_loaders._sha(text)
    assert fuzz_loaders.rebuild(recipe, {"s.osm": seed}) == data
    assert fuzz_loaders.known_signatures() == {"ValueError at ingest.py:_parse_osm: illegal id": path.name}


def test_recipe_round_trip_is_exact_and_small():
    """make_recipe -> rebuild gives the mutated input back, with patches holding only the changed bytes."""
    import random

    import fuzz_loaders

    text = "".join(f'<node id="{i}" lat="1.0" lon="2.0"/>\n' for i in range(2000)).encode()
    mutated = text.replace(b'id="77"', b'id="abc"')
    mutated = mutated.replace(b'lon="2.0"/>\n<node id="1500"', b'lon="\xe9"/>\n<node id="1500"')
    lines = mutated.split(b"\n")
    lines[10], lines[900] = lines[900], lines[10]
    mutated = b"\n".join(lines)
    seed = {"source": {"synthetic": "t.osm.bz2"}, "data": fuzz_loaders.bz2.compress(text), "text": text}
    seed["compress"] = "bz2"
    recipe = fuzz_loaders.make_recipe(seed, fuzz_loaders.bz2.compress(mutated), ["text", "attr", "lines"])
    inserted = sum(len(fuzz_loaders._decode(p[2])) for p in recipe["patches"])
    assert inserted <= 2 * len(lines[10]) + len(lines[900]) + 8  # the moved lines and the changed values only
    rebuilt = fuzz_loaders.rebuild(recipe, {"t.osm.bz2": seed})
    assert rebuilt == fuzz_loaders.bz2.compress(mutated)
    # byte level, binary data
    rng = random.Random(5)
    blob = rng.randbytes(3000)
    changed = blob[:100] + b"\x00\xff" + blob[102:2900] + blob[2950:]
    seed = {"source": {"synthetic": "b.osm.pbf"}, "data": blob, "text": None, "compress": None}
    recipe = fuzz_loaders.make_recipe(seed, changed, ["flip", "delete"])
    assert fuzz_loaders.rebuild(recipe, {"b.osm.pbf": seed}) == changed
    assert sum(len(fuzz_loaders._decode(p[2])) for p in recipe["patches"]) <= 2
    # an absent seed file is reported as such (the replay test skips), never guessed
    with pytest.raises(fuzz_loaders.RecipeSourceMissing, match="absent"):
        fuzz_loaders.rebuild({**recipe, "source": {"shared": "no/such/seed.osm.pbf"}}, {})
    # a changed seed is refused, not silently patched
    with pytest.raises(fuzz_loaders.RecipeError, match="the recipe was made from"):
        fuzz_loaders.rebuild(recipe, {"b.osm.pbf": {**seed, "data": blob[::-1]}})


@pytest.mark.parametrize(
    "name",
    [
        # not strict: memory corruption inside pyosmium segfaults on some runs and raises (now caught) on others
        pytest.param(n, marks=pytest.mark.xfail(strict=False, reason=KNOWN_CRASHES[n])) if n in KNOWN_CRASHES else n
        for n in _crash_files()
    ],
)
def test_fuzz_regressions(fuzz_worker, fuzz_seeds, name):
    import fuzz_loaders

    recipe = fuzz_loaders.load_recipes(CRASHES)[name]
    try:
        data = fuzz_loaders.rebuild(recipe, fuzz_seeds)
    except fuzz_loaders.RecipeSourceMissing as exc:
        pytest.skip(f"{name}: its seed file is absent, the input cannot be rebuilt ({exc})")
    except fuzz_loaders.RecipeError as exc:
        pytest.fail(
            f"{name}: {exc}. The seed generator's output changed (e.g. a new osmnx or pyosmium writes the synthetic "
            "seeds differently): re-run `make test-fuzz` and record the crash again (tests/fuzz_crashes/README.md)"
        )
    suffix = next(s for s in (".osm.pbf", ".osm.bz2", ".osm.gz", ".graphml", ".osm") if name.endswith(s))
    result = fuzz_worker.run(data, suffix, 60)
    assert result[0] == "ok", f"{name}: {result[1]}\n{result[2] if len(result) > 2 else ''}"


def test_every_known_crash_file_exists():
    missing = sorted(set(KNOWN_CRASHES) - set(_crash_files()))
    assert not missing, f"KNOWN_CRASHES lists files absent from tests/fuzz_crashes/: {missing}"


def test_duplicate_check_scan_equals_osmium_pass(tmp_path):
    """The plain-XML scan of node ids finds exactly the ids osmium's parser reads (attributes in any
    order, either quote, negative ids, ``<nd>`` references and way/relation ids are not nodes); a
    duplicate written with other attribute order or quotes is still found."""
    import bz2

    from urbankit.osm.read import _node_ids_by_osmium, _xml_node_ids

    text = grid_xml(4).replace("</osm>", (
        "<node version='1' lat='0.01' lon='0.02' id='-7'/>\n"
        '<node\n  lat="0.03" lon="0.04"\n  id="900"><tag k="id" v="5"/></node>\n</osm>'))
    plain = tmp_path / "a.osm"
    plain.write_text(text)
    got, want = _xml_node_ids(plain), _node_ids_by_osmium(plain)
    assert len(got) > 10 and sorted(got.tolist()) == sorted(want.tolist())
    packed = tmp_path / "a.osm.bz2"
    packed.write_bytes(bz2.compress(text.encode()))
    assert sorted(_node_ids_by_osmium(packed).tolist()) == sorted(want.tolist())
    twin = tmp_path / "twin.osm"
    twin.write_text(text.replace("</osm>", "<node lon='0.05' id='900' lat='0.06' version='2'/>\n</osm>"))
    err = raises_exactly(CorruptFileError, urbankit.read_osm, twin, names=twin)
    assert "900" in str(err)
