"""GeoPackage layers written in two processes and joined at the SQLite level (urbankit._gpkg).

The joined file is compared with one GDAL writes layer after layer: same layers in the same order, the
same features, a working spatial index (R-tree check, bbox reads, a feature appended afterwards by
GDAL is indexed and counted), the same bookkeeping rows. Every failure path falls back to writing the
layers in this process and leaves no side file.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from urbankit import _gpkg

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the two-process writer needs os.fork (Linux)")


def _layers(seed: int = 0) -> dict[str, gpd.GeoDataFrame]:
    rng = np.random.default_rng(seed)
    n = 3_000
    x, y = rng.uniform(2.0, 2.3, n), rng.uniform(41.3, 41.5, n)
    points = gpd.GeoDataFrame(
        {"node_id": np.arange(n, dtype=np.int64), "time_min": rng.uniform(0, 30, n).round(3),
         "label": [f"n{i}" for i in range(n)]},
        geometry=gpd.points_from_xy(x, y), crs="EPSG:4326",
    )
    points.loc[5, "time_min"] = np.nan
    lines = gpd.GeoDataFrame(
        {"u": np.arange(n - 1), "v": np.arange(1, n), "length_m": rng.uniform(10, 200, n - 1)},
        geometry=shapely.linestrings(np.stack([np.c_[x[:-1], y[:-1]], np.c_[x[1:], y[1:]]], axis=1)),
        crs="EPSG:4326",
    )
    polys = gpd.GeoDataFrame({"h3": ["a", "b"], "residents": [1.5, 2.5]},
                             geometry=[shapely.box(2.0, 41.3, 2.1, 41.4), shapely.box(2.1, 41.3, 2.2, 41.4)],
                             crs="EPSG:4326")
    return {"nodes": points, "edges": lines, "pois": points.iloc[:40].copy(), "hex": polys}


def _writer(layers, log: Path | None = None, fail_in_child: bool = False):
    parent = os.getpid()

    def write(name: str, path: Path) -> None:
        if fail_in_child and os.getpid() != parent:
            raise RuntimeError("the forked writer fails")
        if log is not None:
            with open(log, "a") as fh:
                fh.write(f"{name} {os.getpid()}\n")
        pyogrio.write_dataframe(layers[name], path, layer=name, driver="GPKG")

    return write


def _sqlite(path: Path, sql: str) -> list:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _assert_same_geopackage(joined: Path, reference: Path, names) -> None:
    assert [r[0] for r in pyogrio.list_layers(joined)] == [r[0] for r in pyogrio.list_layers(reference)] == list(names)
    for name in names:
        expected = pyogrio.read_dataframe(reference, layer=name)
        assert_geodataframe_equal(pyogrio.read_dataframe(joined, layer=name), expected)
        bbox = (2.05, 41.32, 2.15, 41.42)
        got = pyogrio.read_dataframe(joined, layer=name, bbox=bbox)
        assert len(got) == len(pyogrio.read_dataframe(reference, layer=name, bbox=bbox))
        assert pyogrio.read_info(joined, layer=name)["capabilities"]["fast_spatial_filter"]
        assert _sqlite(joined, f"SELECT rtreecheck('rtree_{name}_geom')") == [("ok",)]
        assert _sqlite(joined, f"SELECT count(*) FROM rtree_{name}_geom") == [(len(expected),)]
    assert _sqlite(joined, "PRAGMA integrity_check") == [("ok",)]
    for sql in ("SELECT name, seq FROM sqlite_sequence ORDER BY name",
                "SELECT * FROM gpkg_geometry_columns ORDER BY table_name",
                "SELECT * FROM gpkg_extensions ORDER BY table_name, extension_name",
                "SELECT * FROM gpkg_ogr_contents ORDER BY table_name",
                "SELECT table_name, data_type, identifier, min_x, min_y, max_x, max_y, srs_id FROM gpkg_contents "
                "ORDER BY table_name",
                "SELECT type, name, tbl_name FROM sqlite_master ORDER BY type, name"):
        assert _sqlite(joined, sql) == _sqlite(reference, sql), sql


@pytest.fixture
def forking(monkeypatch):
    """The test runner may have threads of its own (pytest-xdist); the writer's fork is safe here."""
    monkeypatch.setattr(_gpkg, "can_fork", lambda: True)


def test_layers_written_in_two_processes_form_the_file_gdal_writes(tmp_path, forking):
    layers = _layers()
    log = tmp_path / "who.txt"
    _gpkg.write_layers(tmp_path / "joined.gpkg", list(layers), _writer(layers, log), parallel=True)
    for name in layers:
        pyogrio.write_dataframe(layers[name], tmp_path / "reference.gpkg", layer=name, driver="GPKG")
    _assert_same_geopackage(tmp_path / "joined.gpkg", tmp_path / "reference.gpkg", list(layers))
    writers = dict(line.split() for line in log.read_text().splitlines())
    assert writers["nodes"] == str(os.getpid())
    assert {writers[n] for n in ("edges", "pois", "hex")} != {str(os.getpid())}  # written by the forked process
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joined.gpkg", "reference.gpkg", "who.txt"]


def test_joined_layers_keep_working_triggers(tmp_path, forking):
    """GDAL appends to a joined layer: its spatial index and feature count follow (the triggers)."""
    layers = _layers()
    path = tmp_path / "joined.gpkg"
    _gpkg.write_layers(path, list(layers), _writer(layers), parallel=True)
    extra = layers["edges"].iloc[:1].copy()
    extra["geometry"] = [shapely.LineString([(2.9, 42.9), (2.95, 42.95)])]
    pyogrio.write_dataframe(extra, path, layer="edges", driver="GPKG", append=True)
    assert pyogrio.read_info(path, layer="edges")["features"] == len(layers["edges"]) + 1
    found = pyogrio.read_dataframe(path, layer="edges", bbox=(2.89, 42.89, 2.96, 42.96))
    assert len(found) == 1 and found["u"].iloc[0] == extra["u"].iloc[0]
    assert _sqlite(path, "SELECT rtreecheck('rtree_edges_geom')") == [("ok",)]


def test_a_failing_forked_writer_falls_back_to_this_process(tmp_path, forking, caplog):
    layers = _layers()
    path = tmp_path / "joined.gpkg"
    with caplog.at_level("INFO", logger="urbankit._gpkg"):
        _gpkg.write_layers(path, list(layers), _writer(layers, fail_in_child=True), parallel=True)
    assert "exited with code 1" in caplog.text
    for name in layers:
        pyogrio.write_dataframe(layers[name], tmp_path / "reference.gpkg", layer=name, driver="GPKG")
    _assert_same_geopackage(path, tmp_path / "reference.gpkg", list(layers))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joined.gpkg", "reference.gpkg"]


def test_a_join_failing_half_way_is_rolled_back_and_the_layers_written_here(tmp_path, forking, monkeypatch, caplog):
    """The join copies the feature table first; a failure at the R-tree (here: a shadow table that
    does not exist) rolls all of it back before the layers are written the ordinary way."""
    monkeypatch.setattr(_gpkg, "_RTREE_SHADOWS", (*_gpkg._RTREE_SHADOWS, "missing"))
    layers = _layers()
    path = tmp_path / "joined.gpkg"
    with caplog.at_level("INFO", logger="urbankit._gpkg"):
        _gpkg.write_layers(path, list(layers), _writer(layers), parallel=True)
    assert "not joined" in caplog.text
    for name in layers:
        pyogrio.write_dataframe(layers[name], tmp_path / "reference.gpkg", layer=name, driver="GPKG")
    _assert_same_geopackage(path, tmp_path / "reference.gpkg", list(layers))


def test_a_spatial_reference_defined_differently_is_refused(tmp_path):
    a, b = tmp_path / "a.gpkg", tmp_path / "b.gpkg"
    layers = _layers()
    pyogrio.write_dataframe(layers["nodes"], a, layer="nodes", driver="GPKG")
    pyogrio.write_dataframe(layers["edges"], b, layer="edges", driver="GPKG")
    con = sqlite3.connect(b)
    con.execute("UPDATE gpkg_spatial_ref_sys SET definition = 'something else' WHERE srs_id = 4326")
    con.commit()
    con.close()
    with pytest.raises(_gpkg._Refused, match="defined differently"):
        _gpkg.join_layers(a, b, ["edges"])
    assert [r[0] for r in pyogrio.list_layers(a)] == ["nodes"]  # left as it was
    assert _sqlite(a, "SELECT count(*) FROM sqlite_master WHERE name = 'edges'") == [(0,)]


def test_an_error_in_this_process_stops_the_forked_one_and_leaves_no_side_file(tmp_path, forking):
    layers = _layers()

    def write(name, path):
        if name == "nodes":
            raise OSError("disk full")
        pyogrio.write_dataframe(layers[name], path, layer=name, driver="GPKG")

    with pytest.raises(OSError, match="disk full"):
        _gpkg.write_layers(tmp_path / "joined.gpkg", list(layers), write, parallel=True)
    assert not any(p.name.endswith(".part.gpkg") for p in tmp_path.iterdir())


def test_one_process_without_fork_or_for_one_layer(tmp_path, monkeypatch):
    monkeypatch.setattr(_gpkg, "can_fork", lambda: False)
    layers = _layers()
    log = tmp_path / "who.txt"
    _gpkg.write_layers(tmp_path / "one.gpkg", list(layers), _writer(layers, log), parallel=True)
    assert set(line.split()[1] for line in log.read_text().splitlines()) == {str(os.getpid())}


def test_layers_started_early_are_joined_in_their_place(tmp_path, forking):
    """A layer started by an earlier process (the CLI starts the edges layer once the network is
    built) is joined in its place in the layer order; the others are written as usual."""
    layers = _layers()
    log = tmp_path / "who.txt"
    write = _writer(layers, log)
    with _gpkg.start_side_writer(tmp_path, ["edges"], write) as started:
        early_pid = started._pid
        _gpkg.write_layers(tmp_path / "joined.gpkg", list(layers), write, parallel=True, started=started)
    for name in layers:
        pyogrio.write_dataframe(layers[name], tmp_path / "reference.gpkg", layer=name, driver="GPKG")
    _assert_same_geopackage(tmp_path / "joined.gpkg", tmp_path / "reference.gpkg", list(layers))
    writers = dict(line.split() for line in log.read_text().splitlines())
    assert writers["edges"] == str(early_pid) != str(os.getpid())
    assert writers["nodes"] == str(os.getpid())
    assert {writers["pois"], writers["hex"]} - {str(os.getpid()), str(early_pid)}  # the usual second process
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joined.gpkg", "reference.gpkg", "who.txt"]


def test_layers_started_early_join_in_one_process_too(tmp_path, forking):
    layers = _layers()
    log = tmp_path / "who.txt"
    write = _writer(layers, log)
    with _gpkg.start_side_writer(tmp_path, ["edges", "hex"], write) as started:
        _gpkg.write_layers(tmp_path / "joined.gpkg", list(layers), write, parallel=False, started=started)
    for name in layers:
        pyogrio.write_dataframe(layers[name], tmp_path / "reference.gpkg", layer=name, driver="GPKG")
    _assert_same_geopackage(tmp_path / "joined.gpkg", tmp_path / "reference.gpkg", list(layers))
    writers = dict(line.split() for line in log.read_text().splitlines())
    assert [n for n, pid in writers.items() if pid == str(os.getpid())] == ["nodes", "pois"]


def test_a_failing_early_writer_leaves_its_layer_to_this_process(tmp_path, forking, caplog):
    layers = _layers()
    path = tmp_path / "joined.gpkg"
    with caplog.at_level("INFO", logger="urbankit._gpkg"):
        with _gpkg.start_side_writer(tmp_path, ["edges"], _writer(layers, fail_in_child=True)) as started:
            _gpkg.write_layers(path, list(layers), _writer(layers), parallel=True, started=started)
    assert "early GeoPackage writer of layers ['edges'] exited with code 1" in caplog.text
    for name in layers:
        pyogrio.write_dataframe(layers[name], tmp_path / "reference.gpkg", layer=name, driver="GPKG")
    _assert_same_geopackage(path, tmp_path / "reference.gpkg", list(layers))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joined.gpkg", "reference.gpkg"]


def test_an_early_writer_closed_unused_is_stopped_and_leaves_nothing(tmp_path, forking):
    layers = _layers()

    def slow(name, path):
        import time

        time.sleep(30)

    started = _gpkg.start_side_writer(tmp_path, ["edges"], slow)
    pid = started._pid
    started.close()
    started.close()  # twice is harmless
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # stopped and reaped
    assert list(tmp_path.iterdir()) == []
    with _gpkg.start_side_writer(tmp_path, ["nodes"], _writer(layers)) as first:
        with pytest.raises(ValueError, match="first layer"):
            _gpkg.write_layers(tmp_path / "x.gpkg", list(layers), _writer(layers), parallel=True, started=first)


def test_no_early_writer_without_fork(tmp_path, monkeypatch):
    monkeypatch.setattr(_gpkg, "can_fork", lambda: False)
    assert _gpkg.start_side_writer(tmp_path, ["edges"], _writer(_layers())) is None
