"""The accessibility GeoPackage: layers, columns, CRS and rows read back; atomic replacement."""

from __future__ import annotations

import dataclasses
import os

import geopandas as gpd
import numpy as np
import pyogrio
import pytest

import urbankit
from urbankit import io as outputs
from urbankit._errors import InvalidOptionError
from urbankit.accessibility import compute_accessibility
from urbankit.io import edges_layer, write_accessibility_gpkg
from urbankit.zones import to_hex


@pytest.fixture(scope="module")
def area():
    return urbankit.load("monaco")


@pytest.fixture(scope="module")
def acc(area):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(urbankit.settings, "progress", False)
        net = urbankit.build_network(area, "walk", cache=False)
        pop = urbankit.population_per_node(net.nodes, buildings=area.buildings)
        yield compute_accessibility(net, urbankit.find_destinations(area), population=pop)


@pytest.fixture(scope="module")
def gpkg(acc, tmp_path_factory):
    path = tmp_path_factory.mktemp("gpkg") / "monaco.gpkg"
    assert write_accessibility_gpkg(acc, path, crs="EPSG:4326") == path
    return path


@pytest.fixture(scope="module")
def gpkg_analysis_crs(acc, tmp_path_factory):
    """Written with the defaults of ``acc.to_gpkg``: the analysis CRS."""
    path = tmp_path_factory.mktemp("gpkg-default") / "monaco.gpkg"
    return acc.to_gpkg(path)


def read(path, layer):
    return gpd.read_file(path, layer=layer, engine="pyogrio")


def test_layers_and_crs(gpkg, acc):
    assert [name for name, _ in pyogrio.list_layers(gpkg)] == ["nodes", "edges", "pois", "hex", "metadata"]
    for layer, geom in [("nodes", "Point"), ("edges", "LineString"), ("pois", "Point"), ("hex", "Polygon")]:
        info = pyogrio.read_info(gpkg, layer=layer)
        assert info["crs"] == "EPSG:4326", layer
        assert info["geometry_type"] == geom, layer
    counts = {layer: pyogrio.read_info(gpkg, layer=layer)["features"] for layer in ("nodes", "edges", "pois", "hex")}
    assert counts == {
        "nodes": len(acc.nodes),
        "edges": len(acc.network.edges),
        "pois": len(acc.pois),
        "hex": len(to_hex(acc, 9)),
    }
    # no temporary file left beside it
    assert sorted(p.name for p in gpkg.parent.iterdir()) == [gpkg.name]


def test_nodes_layer(gpkg, acc):
    nodes = read(gpkg, "nodes")
    want = ["node_id", "population"] + [f"time_{s}_min" for s in acc.services]
    assert list(nodes.columns[: len(want)]) == want
    for s in acc.services:
        for m in acc.minutes:
            assert f"n_{s}_{m}min" in nodes.columns
    for m in acc.minutes:
        assert nodes[f"score_{m}min"].between(0, 1).all()
    nodes = nodes.set_index("node_id")
    assert list(nodes.index) == list(acc.nodes.index)
    for col in acc.nodes.columns.drop("geometry"):
        np.testing.assert_array_equal(nodes[col].to_numpy(), acc.nodes[col].to_numpy(), err_msg=col)  # NaN kept
    assert nodes["time_university_min"].isna().any()  # beyond 30 min stays NaN, not a cap value
    np.testing.assert_allclose(nodes["all_functions_min"], acc.all_functions_minutes())
    ll = acc.nodes.to_crs("EPSG:4326").geometry
    np.testing.assert_allclose(nodes.geometry.x, ll.x, atol=1e-9)
    np.testing.assert_allclose(nodes.geometry.y, ll.y, atol=1e-9)
    np.testing.assert_allclose(nodes.geometry.x, acc.network.nodes["lon"], atol=1e-6)


def test_edges_layer(gpkg, acc):
    edges = read(gpkg, "edges")
    assert list(edges.columns[:4]) == ["u", "v", "length_m", "time_min"]
    e = acc.network.edges
    for col in ("u", "v", "length_m", "time_min"):
        np.testing.assert_array_equal(edges[col].to_numpy(), e[col].to_numpy())
    # walk: each undirected edge once
    pairs = set(zip(np.minimum(edges.u, edges.v), np.maximum(edges.u, edges.v), edges.way_id, edges.length_m.round(2)))
    assert len(pairs) == len(edges)
    back = edges.to_crs(acc.network.crs)
    np.testing.assert_allclose(back.length, e.length_m, rtol=1e-6)


def test_drive_edges_one_row_per_street(area, acc, tmp_path):
    """#16: a two-way street is one row (its two directed edges have the same values), a one-way
    street one row; counted independently from the directed edges."""
    drive = urbankit.build_network(area, "drive", cache=False)
    layer = edges_layer(dataclasses.replace(acc, network=drive), crs=None)
    e = drive.edges
    # independent count: directed edges grouped by their unordered end nodes, way and length
    streets = {}
    for u, v, way, length in zip(e.u, e.v, e.way_id, e.length_m.round(6)):
        streets.setdefault((min(u, v), max(u, v), way, length), []).append((u, v))
    assert len(layer) == len(streets) < len(e)
    two_way = {k for k, d in streets.items() if len(d) == 2}
    assert two_way and len(two_way) == int((~e.oneway).sum()) // 2
    rows = {(min(u, v), max(u, v), w, ln): both for u, v, w, ln, both in zip(
        layer.u, layer.v, layer.way_id, layer.length_m.round(6), layer.both_directions)}
    assert set(rows) == set(streets)
    assert all(rows[k] == (k in two_way) for k in streets)
    # a folded row is its u -> v edge: same geometry and minutes
    directed = e.set_index(["u", "v"])
    for row in layer[layer.both_directions].head(50).itertuples():
        edge = directed.loc[(row.u, row.v)]
        assert edge.geometry.equals_exact(row.geometry, 1e-9) and edge.time_min == row.time_min
    assert not layer.loc[~layer.both_directions, "oneway"].eq(False).any()  # monaco: differing pairs do not occur
    # written and documented
    drive_acc = dataclasses.replace(acc, network=drive)
    path = write_accessibility_gpkg(drive_acc, tmp_path / "drive.gpkg", hex_resolution=None)
    assert pyogrio.read_info(path, layer="edges")["features"] == len(streets)
    meta = dict(pyogrio.read_dataframe(path, layer="metadata")[["key", "value"]].to_numpy())
    assert "one street travelled both ways" in meta["column:edges.both_directions"]


def test_two_way_street_with_different_values_keeps_both_directions():
    """Per-direction values that differ keep a row per direction; a walk layer is one row per edge."""
    import pandas as pd
    from shapely.geometry import LineString

    from urbankit.network.street_rows import one_row_per_street

    line = LineString([(0, 0), (100, 0)])
    e = gpd.GeoDataFrame(
        {"u": [1, 2, 2, 3], "v": [2, 1, 3, 2], "way_id": [5, 5, 6, 6], "length_m": [100.0, 100.0, 50.0, 50.0],
         "time_min": [1.0, 1.0, 0.5, 0.75], "flow": [10.0, 30.0, 1.0, 2.0]},
        geometry=[line, line.reverse(), LineString([(100, 0), (150, 0)]), LineString([(150, 0), (100, 0)])],
        crs="EPSG:3857",
    )
    out = one_row_per_street(e, directed=True, flow_columns=["flow"])
    assert out[["u", "v"]].to_numpy().tolist() == [[1, 2], [2, 3], [3, 2]]
    assert out["both_directions"].tolist() == [True, False, False]
    assert out["flow"].tolist() == [40.0, 1.0, 2.0]
    assert out["flow_forward"].tolist() == [10.0, 1.0, 2.0]
    assert out["flow_backward"].isna().tolist() == [False, True, True] and out["flow_backward"].iloc[0] == 30.0
    walk = one_row_per_street(e, directed=False)
    assert len(walk) == len(e) and walk["both_directions"].all()
    assert isinstance(out, gpd.GeoDataFrame) and out.crs == e.crs and pd.api.types.is_bool_dtype(out["both_directions"])


def test_pois_layer(gpkg, acc):
    pois = read(gpkg, "pois")
    assert list(pois.columns[:4]) == ["service", "function", "node_id", "snap_m"]
    assert {"name", "osm_type", "osm_id"} <= set(pois.columns)
    assert pois["service"].tolist() == acc.pois["service"].tolist()
    np.testing.assert_array_equal(pois["node_id"], acc.pois["node_id"])
    np.testing.assert_allclose(pois["snap_m"], acc.pois["snap_m"])
    assert set(pois["node_id"]) <= set(acc.nodes.index)


def test_hex_layer(gpkg, acc):
    hexes = read(gpkg, "hex")
    ref = to_hex(acc, 9)
    assert hexes["h3"].tolist() == list(ref.index)
    assert hexes["population"].sum() == pytest.approx(acc.nodes["population"].sum())
    for s in acc.services:
        np.testing.assert_allclose(hexes[f"time_{s}_min"], ref[f"time_{s}_min"], equal_nan=True)
    assert hexes["populated"].dtype == bool


def test_no_hex_and_overwrite(acc, tmp_path):
    path = tmp_path / "out.gpkg"
    write_accessibility_gpkg(acc, path)
    assert len(pyogrio.list_layers(path)) == 5
    acc.to_gpkg(path, hex_resolution=None)  # replaces the earlier file
    assert [n for n, _ in pyogrio.list_layers(path)] == ["nodes", "edges", "pois", "metadata"]
    write_accessibility_gpkg(acc, tmp_path / "new" / "folder" / "x.GPKG", hex_resolution=7)
    assert pyogrio.read_info(tmp_path / "new" / "folder" / "x.GPKG", layer="hex")["features"] == len(to_hex(acc, 7))


@pytest.mark.parametrize("failing_layer", ["nodes", "pois", "hex"])
def test_failure_leaves_previous_file_untouched(acc, tmp_path, monkeypatch, failing_layer):
    path = tmp_path / "result.gpkg"
    write_accessibility_gpkg(acc, path, hex_resolution=8)
    before = path.read_bytes()
    stat = os.stat(path)
    real = outputs._write_layer

    def flaky(gdf, target, layer):
        if layer == failing_layer:
            raise OSError("disk full (simulated)")
        real(gdf, target, layer)

    monkeypatch.setattr(outputs, "_write_layer", flaky)
    with pytest.raises(OSError, match="simulated"):
        write_accessibility_gpkg(acc, path)
    assert path.read_bytes() == before
    assert os.stat(path).st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.gpkg"]  # temporary file removed
    # and with no earlier file, a failure leaves no file at all
    fresh = tmp_path / "fresh.gpkg"
    with pytest.raises(OSError):
        write_accessibility_gpkg(acc, fresh)
    assert not fresh.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.gpkg"]


def test_interrupt_leaves_previous_file_untouched(acc, tmp_path, monkeypatch):
    path = tmp_path / "result.gpkg"
    write_accessibility_gpkg(acc, path, hex_resolution=None)
    before = path.read_bytes()

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_accessibility_gpkg(acc, path, hex_resolution=None)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.gpkg"]


def test_invalid_options(acc, tmp_path):
    with pytest.raises(InvalidOptionError, match=".gpkg"):
        write_accessibility_gpkg(acc, tmp_path / "out.shp")
    with pytest.raises(InvalidOptionError, match="0 to 15"):
        write_accessibility_gpkg(acc, tmp_path / "out.gpkg", hex_resolution=20)
    (tmp_path / "dir.gpkg").mkdir()
    with pytest.raises(InvalidOptionError, match="folder"):
        write_accessibility_gpkg(acc, tmp_path / "dir.gpkg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.gpkg"]  # nothing written


def test_metadata_layer_states_provenance(gpkg, acc):
    """The ``metadata`` table says what the file was computed from (issue #12): read back with pyogrio."""
    import json

    meta = pyogrio.read_dataframe(gpkg, layer="metadata")
    assert list(meta.columns) == ["key", "value"]
    got = dict(zip(meta["key"], meta["value"]))
    for key in ("urbankit_version", "source", "osm_data_date", "mode", "minutes", "services", "engine",
                "h3_resolution", "population_source", "population_total", "crs", "written_at"):
        assert key in got, key
    assert got["mode"] == acc.network.mode and got["crs"] == "EPSG:4326"
    assert json.loads(got["minutes"]) == list(acc.minutes)
    assert json.loads(got["services"]) == list(acc.services)
    assert float(got["population_total"]) == pytest.approx(acc.nodes["population"].sum())
    assert got["engine"] == acc.params["engine"]
    assert got["written_at"].endswith("+00:00")


def test_osm_data_date_from_the_file_header(tmp_path):
    """The OSM data date comes from the file's header, independently written here; none is not an error."""
    from urbankit.osm.files import osm_data_date

    xml = tmp_path / "dated.osm"
    xml.write_text(
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<osm version="0.6" generator="test" timestamp="2012-05-01T10:00:00Z">\n'
        '  <node id="1" version="1" lat="43.7" lon="7.4"/>\n</osm>\n'
    )
    assert osm_data_date(xml) == "2012-05-01T10:00:00Z"
    overpass = tmp_path / "overpass.osm"
    overpass.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="Overpass API">\n'
        '<meta osm_base="2024-02-03T04:05:06Z"/>\n  <node id="1" version="1" lat="43.7" lon="7.4"/>\n</osm>\n'
    )
    assert osm_data_date(overpass) == "2024-02-03T04:05:06Z"
    # the packaged Monaco extract is named after its data date; its PBF header carries the replication time
    monaco = urbankit.datasets.get_path("monaco")
    assert osm_data_date(monaco).startswith(monaco.name.split("_")[1].split(".")[0])
    assert osm_data_date(tmp_path / "missing.osm") is None
    (tmp_path / "x.graphml").write_text("<graphml/>")
    assert osm_data_date(tmp_path / "x.graphml") is None


# ----------------------------------------------------------------------------- for GIS analysts (#16)


def _meta(path) -> dict:
    meta = pyogrio.read_dataframe(path, layer="metadata")
    return dict(zip(meta["key"], meta["value"]))


def test_default_crs_is_the_analysis_crs(gpkg_analysis_crs, acc):
    from pyproj import CRS

    want = CRS.from_user_input(acc.network.crs)
    assert want.is_projected  # a metric CRS, not longitude/latitude
    for layer in ("nodes", "edges", "pois", "hex"):
        assert CRS.from_user_input(pyogrio.read_info(gpkg_analysis_crs, layer=layer)["crs"]) == want, layer
    assert CRS.from_user_input(_meta(gpkg_analysis_crs)["crs"]) == want
    # the CLI's writer keeps longitude/latitude as its default; crs=None is the analysis CRS there
    assert write_accessibility_gpkg(acc, gpkg_analysis_crs.with_name("w.gpkg"), hex_resolution=None)
    assert pyogrio.read_info(gpkg_analysis_crs.with_name("w.gpkg"), layer="nodes")["crs"] == "EPSG:4326"
    write_accessibility_gpkg(acc, gpkg_analysis_crs.with_name("a.gpkg"), hex_resolution=None, crs=None)
    assert CRS.from_user_input(pyogrio.read_info(gpkg_analysis_crs.with_name("a.gpkg"), layer="nodes")["crs"]) == want
    nodes = read(gpkg_analysis_crs, "nodes").set_index("node_id")
    np.testing.assert_allclose(nodes.geometry.x, acc.nodes.geometry.x, atol=1e-6)  # not reprojected
    edges = read(gpkg_analysis_crs, "edges")
    np.testing.assert_allclose(edges.length, acc.network.edges["length_m"], rtol=1e-6)


def test_crs_option(acc, tmp_path):
    path = write_accessibility_gpkg(acc, tmp_path / "a.gpkg", crs=4326, hex_resolution=None, styles=False)
    assert pyogrio.read_info(path, layer="nodes")["crs"] == "EPSG:4326"
    assert _meta(path)["crs"] == "EPSG:4326"
    with pytest.raises(InvalidOptionError, match="not a CRS"):
        write_accessibility_gpkg(acc, tmp_path / "b.gpkg", crs="EPSG:999999")
    assert not (tmp_path / "b.gpkg").exists()


def test_cli_refuses_an_unknown_crs_before_computing(tmp_path, capsys):
    from urbankit.cli import main

    out = tmp_path / "x.gpkg"
    assert main(["accessibility", "monaco", "--crs", "EPSG:999999", "--out", str(out)]) != 0
    assert "not a CRS" in capsys.readouterr().err
    assert not out.exists()


def test_null_semantics_status_columns(gpkg, acc):
    """A NULL minutes value means either "beyond the threshold" or "no such destination in the area";
    ``status_<S>`` tells which (checked against the destinations and minutes directly)."""
    nodes = read(gpkg, "nodes").set_index("node_id")
    present = set(acc.pois["service"])
    assert set(acc.services) - present, "Monaco has a service without destinations (dentist)"
    for s in acc.services:
        t = acc.nodes[f"time_{s}_min"].to_numpy(float)
        status = nodes[f"status_{s}"].to_numpy()
        if s not in present:
            assert (status == "no destination in area").all(), s
        else:
            np.testing.assert_array_equal(status == "reached", np.isfinite(t), err_msg=s)
            np.testing.assert_array_equal(status == "beyond threshold", ~np.isfinite(t), err_msg=s)
        # NULL minutes exactly where the status is not "reached"
        np.testing.assert_array_equal(nodes[f"time_{s}_min"].isna().to_numpy(), status != "reached", err_msg=s)
    assert (nodes["status_kindergarten"] == "beyond threshold").any()  # both meanings occur in Monaco


def test_metadata_column_dictionary(gpkg, acc):
    import json

    meta = _meta(gpkg)
    for layer in ("nodes", "edges", "pois", "hex"):
        for column in pyogrio.read_info(gpkg, layer=layer)["fields"]:
            entry = json.loads(meta[f"column:{layer}.{column}"])
            assert set(entry) == {"unit", "meaning"} and entry["meaning"], (layer, column)
    assert json.loads(meta["column:nodes.time_grocery_min"])["unit"] == "min"
    assert "status_grocery" in json.loads(meta["column:nodes.time_grocery_min"])["meaning"]
    assert json.loads(meta["column:nodes.score_15min"])["unit"] == "share 0..1"
    assert json.loads(meta["column:edges.length_m"])["unit"] == "m"
    assert json.loads(meta["column:nodes.population"])["unit"] == "residents"
    assert "beyond threshold" in meta["null_meaning"] and "no destination in area" in meta["null_meaning"]


def test_metadata_source_file_date_and_hash(gpkg):
    """An embedded data set's name is resolved to its file: its OSM data date and SHA-256 are recorded."""
    import hashlib

    from urbankit.osm.files import osm_data_date

    meta = _meta(gpkg)
    file = urbankit.datasets.get_path("monaco")
    assert meta["source_file"] == str(file)
    assert meta["source_sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    assert meta["osm_data_date"] == osm_data_date(file) and meta["osm_data_date"].startswith("2023-12-26")


def test_qgis_styles_in_layer_styles(gpkg):
    """QGIS reads the default style of a layer from the GeoPackage's ``layer_styles`` table."""
    import sqlite3
    import xml.etree.ElementTree as ET

    con = sqlite3.connect(gpkg)
    try:
        rows = con.execute(
            "SELECT f_table_name, f_geometry_column, styleQML, useAsDefault FROM layer_styles ORDER BY f_table_name"
        ).fetchall()
        geom_cols = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall())
    finally:
        con.close()
    assert [r[0] for r in rows] == ["hex", "nodes", "pois"]
    for table, geom, qml, default in rows:
        assert default == 1 and geom == geom_cols[table]
        root = ET.fromstring(qml.split("\n", 1)[1])  # after the DOCTYPE line
        renderer = root.find("renderer-v2")
        attr = renderer.get("attr")
        assert attr in pyogrio.read_info(gpkg, layer=table)["fields"], (table, attr)
        n_classes = len(renderer.findall("ranges/range") or renderer.findall("categories/category"))
        assert n_classes == len(renderer.findall("symbols/symbol")) > 1, table
    # the styles do not show up as layers
    assert [name for name, _ in pyogrio.list_layers(gpkg)] == ["nodes", "edges", "pois", "hex", "metadata"]


def test_embedded_data_set_name_is_resolved():
    from urbankit.io import provenance
    from urbankit.osm.files import osm_data_date

    got = provenance("monaco", {})
    file = urbankit.datasets.get_path("monaco")
    assert got["source"] == "monaco" and got["source_file"] == str(file)
    assert got["osm_data_date"] == osm_data_date(file) is not None


@pytest.mark.slow
def test_cli_crs_option(tmp_path, capsys):
    """The CLI keeps EPSG:4326 by default (its contract); ``--crs analysis`` writes the analysis CRS."""
    from pyproj import CRS

    from urbankit.cli import main

    out = tmp_path / "analysis.gpkg"
    args = ["accessibility", "monaco", "--minutes", "10", "--hex-resolution", "8", "--out", str(out)]
    assert main(args + ["--crs", "analysis"]) == 0
    walk = urbankit.build_network(urbankit.load("monaco"), "walk")
    got = CRS.from_user_input(pyogrio.read_info(out, layer="nodes")["crs"])
    assert got == CRS.from_user_input(walk.crs) and got.is_projected
    assert main(args + ["--crs", "3857"]) == 0
    assert pyogrio.read_info(out, layer="edges")["crs"] == "EPSG:3857"
