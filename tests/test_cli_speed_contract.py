"""The fast-CLI contract (issue 11, item 6): lazy imports, the Arrow GeoPackage path, the read cache.

* ``import urbankit`` and ``urbankit accessibility`` load none of the viz/reporting/scheduling
  libraries (checked in fresh processes), while ``uk.maps``, ``uk.plots``, ``uk.run_report`` ... still
  work when first touched;
* the accessibility GeoPackage is written through pyogrio's Arrow path and reads back equal to the
  frames it was written from (layers, columns, values, CRS);
* ``read_osm`` keeps what it read in a data-only cache: a warm read equals a cold one without parsing,
  a tampered or planted entry is ignored and rebuilt, a full disk is tolerated, and the memory budget
  still applies.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
from geopandas.testing import assert_geodataframe_equal

import urbankit as uk
from urbankit import _datacache, settings
from urbankit import io as outputs
from urbankit._errors import InvalidOptionError
from urbankit.osm import cache as _readcache
from urbankit.osm import read as ingest

HEAVY = ("folium", "matplotlib", "dask", "distributed", "papermill", "nbconvert", "bokeh", "branca", "mapclassify")
LAYERS = ("nodes", "edges", "pois", "hex")


def write_small_osm(path: Path, *, n: int = 8, block_deg: float = 0.001, extra_tag: str = "") -> Path:
    """A small OSM XML street grid (``n`` x ``n`` nodes) with a few destinations, written independently of urbankit."""
    lines = ["<?xml version='1.0' encoding='UTF-8'?>", '<osm version="0.6" generator="test">']
    node = lambda i, j: 1 + j * n + i  # noqa: E731
    for j in range(n):
        for i in range(n):
            lines.append(f'  <node id="{node(i, j)}" version="1" lat="{41.38 + j * block_deg:.7f}" '
                         f'lon="{2.15 + i * block_deg:.7f}"/>')
    pois = [("shop", "supermarket"), ("amenity", "school"), ("leisure", "park"), ("amenity", "pharmacy"),
            ("highway", "bus_stop"), ("amenity", "cafe")]
    for k, (key, value) in enumerate(pois):
        lines.append(f'  <node id="{1000 + k}" version="1" lat="{41.38 + (k + 0.5) * block_deg:.7f}" '
                     f'lon="{2.15 + (k % 3 + 0.3) * block_deg:.7f}">')
        lines.append(f'    <tag k="{key}" v="{value}"/>')
        lines.append(f'    <tag k="name" v="{value} {k}{extra_tag}"/>')
        lines.append("  </node>")
    way = 1
    for j in range(n):
        lines.append(f'  <way id="{way}" version="1">')
        lines += [f'    <nd ref="{node(i, j)}"/>' for i in range(n)]
        lines += ['    <tag k="highway" v="residential"/>', "  </way>"]
        way += 1
    for i in range(n):
        lines.append(f'  <way id="{way}" version="1">')
        lines += [f'    <nd ref="{node(i, j)}"/>' for j in range(n)]
        lines += ['    <tag k="highway" v="residential"/>', "  </way>"]
        way += 1
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run_python(code: str, *, env_extra: dict | None = None, cwd: Path | None = None) -> dict:
    env = {**os.environ, "URBANKIT_PROGRESS": "0", **(env_extra or {})}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------
# lazy imports


def test_import_urbankit_loads_no_viz_reporting_or_scheduler_library():
    got = _run_python(
        "import json, sys\nimport urbankit\n"
        f"print(json.dumps({{'loaded': sorted(m for m in {list(HEAVY)!r} if m in sys.modules)}}))"
    )
    assert got["loaded"] == []


@pytest.mark.slow
def test_cli_accessibility_loads_no_heavy_library_and_lazy_names_still_work(tmp_path):
    osm = write_small_osm(tmp_path / "small.osm")
    out = tmp_path / "out.gpkg"
    code = f"""
import json, sys
import urbankit as uk
from urbankit import cli
rc = cli.main(["accessibility", {str(osm)!r}, "--minutes", "10", "15", "--out", {str(out)!r}])
heavy = {list(HEAVY)!r}
after_cli = sorted(m for m in heavy if m in sys.modules)
# the lazily loaded modules and names still work when touched
names = {{
    "maps": uk.maps.__name__, "plots": uk.plots.__name__, "superblocks": uk.superblocks.__name__,
    "reports": uk.reports.__name__, "batch": uk.batch.__name__,
    "run_report": uk.run_report.__module__, "AreaOverview": uk.AreaOverview.__module__,
    "area_overview": uk.area_overview.__module__, "assign": uk.assign.__module__,
    "find_superblocks": uk.find_superblocks.__module__, "superblocks_scenario": uk.superblocks_scenario.__module__,
}}
from urbankit import gravity_demand, run_scenario, effects
names["from_import"] = [gravity_demand.__module__, run_scenario.__module__, effects.__module__]
names["same_object"] = uk.assign is uk.superblocks.assign and uk.run_report is uk.reports.run_report
names["in_dir"] = all(n in dir(uk) for n in ("maps", "plots", "run_report", "find_superblocks"))
try:
    uk.no_such_name
    names["missing"] = "no error"
except AttributeError as exc:
    names["missing"] = str(exc)
print(json.dumps({{"rc": rc, "after_cli": after_cli, "after_touch": "folium" in sys.modules, **names}}))
"""
    got = _run_python(code, env_extra={"URBANKIT_CACHE": str(tmp_path / "cache")})
    assert got["rc"] == 0 and out.exists()
    assert got["after_cli"] == []
    assert got["after_touch"] is True  # uk.maps really imported folium when it was touched
    assert got["maps"] == "urbankit.viz.maps" and got["plots"] == "urbankit.viz.plots"
    assert got["superblocks"] == "urbankit.superblocks" and got["reports"] == "urbankit.reporting"
    assert got["batch"] == "urbankit.reporting.batch"
    assert got["run_report"] == "urbankit.reporting.runner"
    assert got["AreaOverview"] == got["area_overview"] == "urbankit.pipelines"
    assert got["assign"] == "urbankit.superblocks.assign"
    assert got["find_superblocks"] == "urbankit.superblocks.detect"
    assert got["superblocks_scenario"] == "urbankit.superblocks.scenario"
    assert got["from_import"] == [
        "urbankit.superblocks.demand", "urbankit.superblocks.scenario", "urbankit.superblocks.effects"
    ]
    assert got["same_object"] is True and got["in_dir"] is True
    assert got["missing"] == "module 'urbankit' has no attribute 'no_such_name'"


def test_every_name_of_all_resolves():
    missing = [name for name in uk.__all__ if getattr(uk, name, None) is None]
    assert missing == []


# ------------------------------------------------------------------------------------------------
# GeoPackage through Arrow


@pytest.fixture(scope="module")
def small_acc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    osm = write_small_osm(folder / "small.osm")
    previous = uk.settings.progress
    uk.settings.progress = False
    try:
        return uk.x_minute_city(osm, minutes=[5, 10])
    finally:
        uk.settings.progress = previous


def test_gpkg_is_written_through_arrow_and_reads_back_equal(small_acc, tmp_path, monkeypatch):
    calls = []
    real = pyogrio.write_dataframe

    def spy(df, path, *args, **kwargs):
        calls.append((kwargs.get("layer"), kwargs.get("use_arrow")))
        return real(df, path, *args, **kwargs)

    monkeypatch.setattr(pyogrio, "write_dataframe", spy)
    path = outputs.write_accessibility_gpkg(small_acc, tmp_path / "acc.gpkg", hex_resolution=9)
    # the data layers go to the layer cache first (then the file starts as its copy)
    assert sorted(calls) == sorted([(name, True) for name in LAYERS] + [("metadata", None)])  # metadata: no geometry
    assert [row[0] for row in pyogrio.list_layers(path)] == [*LAYERS, "metadata"]
    calls.clear()
    again = outputs.write_accessibility_gpkg(small_acc, tmp_path / "again.gpkg", hex_resolution=9)
    assert calls == [("metadata", None)]  # the data layers are copied, not rewritten
    assert [row[0] for row in pyogrio.list_layers(again)] == [*LAYERS, "metadata"]
    want = {
        "nodes": outputs.nodes_layer(small_acc),
        "edges": outputs.edges_layer(small_acc),
        "pois": outputs.pois_layer(small_acc),
        "hex": outputs.hex_layer(small_acc, 9),
    }
    for name, frame in want.items():
        got = pyogrio.read_dataframe(path, layer=name)
        assert list(got.columns) == list(frame.columns), name
        assert got.crs == frame.crs == "EPSG:4326", name
        assert len(got) == len(frame) > 0, name
        for col in frame.columns:
            if col == frame.geometry.name:
                assert got.geometry.geom_equals_exact(frame.geometry, 0).all(), name
                continue
            a, b = got[col].to_numpy(), frame[col].to_numpy()
            if np.issubdtype(np.asarray(b).dtype, np.number) or np.asarray(b).dtype == bool:
                np.testing.assert_array_equal(a, b, err_msg=f"{name}.{col}")
            else:
                assert [None if pd.isna(x) else x for x in a] == [None if pd.isna(x) else x for x in b], (name, col)


def test_gpkg_arrow_output_equals_the_feature_by_feature_output(small_acc, tmp_path):
    arrow = outputs.write_accessibility_gpkg(small_acc, tmp_path / "arrow.gpkg")
    classic = tmp_path / "classic.gpkg"
    for name, frame in (("nodes", outputs.nodes_layer(small_acc)), ("edges", outputs.edges_layer(small_acc)),
                        ("pois", outputs.pois_layer(small_acc)), ("hex", outputs.hex_layer(small_acc, 9))):
        frame.to_file(classic, layer=name, driver="GPKG", engine="pyogrio", index=False)
    for name in LAYERS:
        a = pyogrio.read_dataframe(arrow, layer=name)
        b = pyogrio.read_dataframe(classic, layer=name)
        assert pyogrio.read_info(arrow, layer=name)["fields"].tolist() == pyogrio.read_info(classic, layer=name)[
            "fields"].tolist()
        assert_geodataframe_equal(a, b, check_less_precise=False)


def test_a_frame_arrow_cannot_convert_is_still_written(tmp_path):
    import geopandas as gpd
    import shapely

    gdf = gpd.GeoDataFrame({"x": [1, "a"]}, geometry=[shapely.Point(0, 0), shapely.Point(1, 1)], crs="EPSG:4326")
    path = tmp_path / "mixed.gpkg"
    outputs._write_layer(gdf, path, "mixed")
    back = pyogrio.read_dataframe(path, layer="mixed")
    assert back["x"].tolist() == ["1", "a"] and back.crs == "EPSG:4326"


# ------------------------------------------------------------------------------------------------
# read cache


def _extracts_equal(a, b) -> None:
    for name in ("ways", "way_nodes", "features", "buildings"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert (a.sha256, a.crs, a.missing_node_refs, a.meta) == (b.sha256, b.crs, b.missing_node_refs, b.meta)


def _count_parses(monkeypatch) -> list:
    calls = []
    real = ingest._parse_osm

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest, "_parse_osm", counted)
    return calls


def _entries(cache_folder: Path) -> list[Path]:
    folder = cache_folder / "extracts"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_warm_read_equals_cold_read_without_parsing(tmp_path, cache_folder, monkeypatch):
    osm = write_small_osm(tmp_path / "a.osm")
    parses = _count_parses(monkeypatch)
    cold = uk.read_osm(osm)
    assert len(parses) == 1 and [p.suffix for p in _entries(cache_folder)] == [_readcache.CACHE_SUFFIX]
    warm = uk.read_osm(osm)
    assert len(parses) == 1  # loaded, not parsed
    _extracts_equal(warm, cold)
    assert warm.source == cold.source == str(osm)
    # the same content under another name is the same entry, and the extract names the new path
    moved = tmp_path / "moved.osm"
    moved.write_bytes(osm.read_bytes())
    again = uk.read_osm(moved)
    assert len(parses) == 1 and again.source == str(moved)
    _extracts_equal(again, cold)
    # other options or other content: a new read
    uk.read_osm(osm, buildings=False)
    assert len(parses) == 2
    changed = write_small_osm(tmp_path / "a.osm", extra_tag=" changed")
    fresh = uk.read_osm(changed)
    assert len(parses) == 3
    assert fresh.features["name"].str.endswith(" changed").all()
    # the cache off: always parsed, nothing new written
    monkeypatch.setattr(uk.settings, "use_cache", False)
    n_entries = len(_entries(cache_folder))
    uk.read_osm(osm)
    assert len(parses) == 4 and len(_entries(cache_folder)) == n_entries


def test_tampered_or_planted_entry_is_ignored_and_rebuilt(tmp_path, cache_folder, monkeypatch, caplog):
    osm = write_small_osm(tmp_path / "a.osm")
    cold = uk.read_osm(osm)
    (entry,) = _entries(cache_folder)
    valid = entry.read_bytes()
    marker = tmp_path / "ran"
    plants = {
        "flipped byte": valid[:-40] + bytes([valid[-40] ^ 0xFF]) + valid[-39:],
        "truncated": valid[: len(valid) // 2],
        "pickle": b"\x80\x04cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.",
        # a well-formed entry (valid hash) that holds something else
        "other kind": None,
    }
    for case, data in plants.items():
        if data is None:
            _datacache.dump_entry(entry, {"kind": "StreetNetwork", "key": entry.stem})
        else:
            entry.write_bytes(data)
        parses = _count_parses(monkeypatch)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="urbankit._readcache"):
            got = uk.read_osm(osm)
        assert len(parses) == 1, case  # read again from the file
        assert any("ignoring it and reading the file again" in r.getMessage() for r in caplog.records), case
        _extracts_equal(got, cold)
        assert not marker.exists()
        # rebuilt: the entry is valid again and used by the next read
        assert _datacache.load_entry(entry)["sha256"] == cold.sha256, case
        uk.read_osm(osm)
        assert len(parses) == 1, case
        monkeypatch.undo()
        monkeypatch.setattr(uk.settings, "cache_folder", cache_folder)
        monkeypatch.setattr(uk.settings, "use_cache", True)


def test_disk_full_while_caching_a_read_keeps_the_result_and_leaves_nothing(tmp_path, cache_folder, monkeypatch,
                                                                            caplog):
    osm = write_small_osm(tmp_path / "a.osm")
    real = _datacache._write_all

    def full(fd, data):
        real(fd, bytes(data)[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_datacache, "_write_all", full)
    with caplog.at_level(logging.WARNING, logger="urbankit._readcache"):
        got = uk.read_osm(osm)
    assert any("could not write the extract cache" in r.getMessage() and "No space left" in r.getMessage()
               for r in caplog.records)
    assert len(got.ways) == 16
    folder = cache_folder / "extracts"
    assert (list(folder.iterdir()) if folder.exists() else []) == []


def test_cached_read_respects_the_memory_budget(tmp_path, cache_folder, monkeypatch):
    osm = write_small_osm(tmp_path / "a.osm")
    uk.read_osm(osm)
    assert len(_entries(cache_folder)) == 1
    monkeypatch.setattr(uk.settings, "memory_limit_gb", 1e-9)
    with pytest.raises(uk.MemoryBudgetError, match="reading"):
        uk.read_osm(osm)


@pytest.mark.slow
def test_cli_warm_run_writes_the_same_file_as_the_cold_run(tmp_path):
    osm = write_small_osm(tmp_path / "small.osm")
    cache = tmp_path / "cache"
    code = """
import json, sys
from urbankit import cli
calls = []
import urbankit.osm.read as ingest_read
real = ingest_read._parse_osm
ingest_read._parse_osm = lambda *a, **k: calls.append(1) or real(*a, **k)
rc = cli.main(["accessibility", sys.argv[1], "--minutes", "5", "10", "--out", sys.argv[2]])
print(json.dumps({"rc": rc, "parses": len(calls)}))
"""
    outs = []
    for run in ("cold", "warm"):
        out = tmp_path / f"{run}.gpkg"
        env = {**os.environ, "URBANKIT_PROGRESS": "0", "URBANKIT_CACHE": str(cache)}
        proc = subprocess.run([sys.executable, "-c", code, str(osm), str(out)], capture_output=True, text=True,
                              env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        assert got == {"rc": 0, "parses": 1 if run == "cold" else 0}, run
        outs.append(out)
    assert sorted(p.parent.name for p in cache.rglob("*.uk*")) == ["extracts", "networks", "reach"]
    for name in LAYERS:
        warm, cold = (pyogrio.read_dataframe(out, layer=name) for out in outs[::-1])
        assert_geodataframe_equal(warm, cold)


def test_hex_polygons_equal_one_polygon_per_cell_boundary():
    import h3
    import shapely

    from urbankit.zones import hex_polygons

    cells = list(h3.get_res0_cells())[:40] + list(h3.get_pentagons(9))  # hexagons and 5-vertex pentagons
    cells += [h3.latlng_to_cell(41.38 + i * 0.003, 2.15 + j * 0.003, 9) for i in range(5) for j in range(5)]
    got = hex_polygons(cells)
    want = [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells]
    assert len(got) == len(cells)
    assert all(shapely.equals_exact(a, b, 0) for a, b in zip(got, want))
    # closed rings of pentagons (5 vertices), hexagons (6) and res-0 cells distorted across icosahedron edges
    assert {len(shapely.get_coordinates(g)) for g in got} >= {6, 7, 11}
    assert len(hex_polygons([])) == 0


def test_cached_edges_layer_damaged_or_swapped_is_rewritten(small_acc, tmp_path, monkeypatch, caplog):
    """The layer cache copies a file only when its SHA-256 still matches the one recorded when it was
    written; a damaged entry is rewritten and the output equals a fresh write."""
    first = outputs.write_accessibility_gpkg(small_acc, tmp_path / "first.gpkg")
    (cached,) = (settings.cache_folder / "layers").glob("*.gpkg")
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    calls = []
    real = pyogrio.write_dataframe
    monkeypatch.setattr(pyogrio, "write_dataframe", lambda df, path, *a, **k: (calls.append(k.get("layer")),
                                                                                 real(df, path, *a, **k))[1])
    second = outputs.write_accessibility_gpkg(small_acc, tmp_path / "second.gpkg")
    assert "edges" in calls  # rewritten, not copied
    for name in LAYERS:
        assert_geodataframe_equal(pyogrio.read_dataframe(first, layer=name), pyogrio.read_dataframe(second, layer=name))


def test_changed_result_never_reuses_cached_layers(small_acc, tmp_path):
    """The layer cache is keyed by the content of every layer: one changed value of one node, or
    another CRS, writes the layers again and the file holds the new values."""
    import dataclasses

    first = outputs.write_accessibility_gpkg(small_acc, tmp_path / "first.gpkg")
    nodes = small_acc.nodes.copy()
    col = next(c for c in nodes.columns if c.startswith("time_") and nodes[c].notna().any())
    row = nodes.index[nodes[col].notna()][0]
    nodes.loc[row, col] = nodes.loc[row, col] + 0.5
    changed = dataclasses.replace(small_acc, nodes=nodes)
    second = outputs.write_accessibility_gpkg(changed, tmp_path / "second.gpkg")
    a = pyogrio.read_dataframe(first, layer="nodes").set_index("node_id")[col]
    b = pyogrio.read_dataframe(second, layer="nodes").set_index("node_id")[col]
    assert b.loc[row] == a.loc[row] + 0.5
    assert (a.drop(row).fillna(-1) == b.drop(row).fillna(-1)).all()
    utm = outputs.write_accessibility_gpkg(small_acc, tmp_path / "utm.gpkg", crs=None)
    assert pyogrio.read_dataframe(utm, layer="edges").crs == small_acc.network.crs
    assert len(list((settings.cache_folder / "layers").glob("*.gpkg"))) == 3


def test_layer_cache_off_writes_every_layer_directly(small_acc, tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "use_cache", False)
    path = outputs.write_accessibility_gpkg(small_acc, tmp_path / "acc.gpkg")
    assert not (settings.cache_folder / "layers").exists()
    assert [row[0] for row in pyogrio.list_layers(path)] == [*LAYERS, "metadata"]


def test_accessibility_geopackage_is_the_same_in_one_or_two_processes(small_acc, tmp_path, monkeypatch):
    """Large results write the nodes layer here and the others in a forked process (urbankit._gpkg);
    forced here on a small result, the file holds the same layers as one written in one process."""
    from urbankit import _gpkg


    monkeypatch.setattr(settings, "use_cache", False)
    monkeypatch.setattr(_gpkg, "can_fork", lambda: True)
    monkeypatch.setattr(_gpkg, "PARALLEL_MIN_ROWS", 0)
    two = outputs.write_accessibility_gpkg(small_acc, tmp_path / "two.gpkg")
    monkeypatch.setattr(_gpkg, "PARALLEL_MIN_ROWS", 10**12)
    one = outputs.write_accessibility_gpkg(small_acc, tmp_path / "one.gpkg")
    names = ["nodes", "edges", "pois", "hex"]
    for name in names:
        assert_geodataframe_equal(pyogrio.read_dataframe(two, layer=name), pyogrio.read_dataframe(one, layer=name))
    meta = [pd.DataFrame(pyogrio.read_dataframe(p, layer="metadata")) for p in (two, one)]
    assert meta[0].columns.tolist() == meta[1].columns.tolist() and len(meta[0]) == len(meta[1])
    import sqlite3

    def rows(path, sql):
        con = sqlite3.connect(path)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    styles = "SELECT f_table_name, styleName FROM layer_styles ORDER BY 1"
    assert rows(two, styles) == rows(one, styles) and len(rows(one, styles)) == 3
    assert rows(two, "PRAGMA integrity_check") == [("ok",)]


def test_edges_layer_started_early_gives_the_same_file(small_acc, tmp_path, monkeypatch):
    """The CLI starts the edges layer once the network is built (io.start_edges_layer); joined, the
    file holds the same layers as one written at the end. A start for another network or CRS is not
    used (the layer is written here), and closing leaves no side file."""
    from urbankit import _gpkg

    monkeypatch.setattr(settings, "use_cache", False)
    monkeypatch.setattr(_gpkg, "can_fork", lambda: True)
    monkeypatch.setattr(_gpkg, "PARALLEL_MIN_ROWS", 0)
    plain = outputs.write_accessibility_gpkg(small_acc, tmp_path / "plain.gpkg")
    joined = []
    real_join = _gpkg.join_layers
    monkeypatch.setattr(_gpkg, "join_layers", lambda t, side, names: (joined.append((side.name, names)),
                                                                       real_join(t, side, names))[1])
    with outputs.start_edges_layer(small_acc.network, tmp_path / "early.gpkg") as started:
        early = outputs.write_accessibility_gpkg(small_acc, tmp_path / "early.gpkg", started=started)
    assert any(side.startswith(".urbankit-") and names == ["edges"] for side, names in joined)
    joined.clear()
    with outputs.start_edges_layer(small_acc.network, tmp_path / "utm.gpkg", crs=None) as other_crs:
        mismatch = outputs.write_accessibility_gpkg(small_acc, tmp_path / "mismatch.gpkg", started=other_crs)
    assert not any(side.startswith(".urbankit-") for side, _ in joined)
    for path in (early, mismatch):
        for name in ["nodes", "edges", "pois", "hex"]:
            assert_geodataframe_equal(pyogrio.read_dataframe(path, layer=name),
                                      pyogrio.read_dataframe(plain, layer=name))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["early.gpkg", "mismatch.gpkg", "plain.gpkg"]


def test_no_edges_layer_is_started_for_a_small_network(small_acc, tmp_path):
    assert outputs.start_edges_layer(small_acc.network, tmp_path / "x.gpkg") is None
    with pytest.raises(InvalidOptionError, match="not a CRS"):
        outputs.start_edges_layer(small_acc.network, tmp_path / "x.gpkg", crs="EPSG:nonsense")


@pytest.mark.parametrize("progress", ["0", "1"])
def test_cli_writes_layers_in_two_processes(tmp_path, progress):
    """`urbankit accessibility` starts no thread of its own (tqdm's monitor thread included), so its
    GeoPackage writer may fork; forced here on a small grid, the nodes layer is written by the CLI's
    process and the other layers by a second one."""
    osm = write_small_osm(tmp_path / "small.osm")
    code = """
import json, os, sys
from urbankit import _gpkg, cli
_gpkg.PARALLEL_MIN_ROWS = 0
seen, writers = {}, {}
real = _gpkg.write_layers
def spy(target, names, write, *, parallel, started=None):
    seen["can_fork"] = _gpkg.can_fork()
    seen["early"] = None if started is None else started.names
    log = target.with_name("who.txt")
    def logged(name, path):
        with open(log, "a") as fh:
            fh.write(f"{name} {os.getpid()}\\n")
        write(name, path)
    real(target, names, logged, parallel=parallel, started=started)
    writers.update(line.split() for line in log.read_text().splitlines())
_gpkg.write_layers = spy
rc = cli.main(["accessibility", sys.argv[1], "--minutes", "5", "--out", sys.argv[2]])
print(json.dumps({"rc": rc, **seen, "own": sorted(k for k, v in writers.items() if v == str(os.getpid()))}))
"""
    env = {**os.environ, "URBANKIT_PROGRESS": progress, "URBANKIT_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", code, str(osm), str(tmp_path / "out.gpkg")], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    # the edges layer was started as soon as the network existed, the others forked at the end
    assert got == {"rc": 0, "can_fork": True, "early": ["edges"], "own": ["nodes"]}
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part.gpkg")]
    assert [r[0] for r in pyogrio.list_layers(tmp_path / "out.gpkg")][:4] == list(LAYERS)
