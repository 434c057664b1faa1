"""The accessibility CLI contract and the accessibility report on Helsinki with its population grid."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest

import urbankit
from urbankit.cli import main
from urbankit.reporting.runner import run_report


@pytest.mark.slow
def test_cli_accessibility_contract(tmp_path, capsys):
    out = tmp_path / "monaco.gpkg"
    assert main(["accessibility", "monaco", "--mode", "walk", "--minutes", "10", "15", "30", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "residents within 15 min of all 6 functions (walk)" in printed
    layers = dict(pyogrio.list_layers(out))
    assert {"nodes", "edges", "pois", "hex"} <= set(layers)
    nodes = gpd.read_file(out, layer="nodes")
    assert nodes.crs.to_epsg() == 4326
    services = urbankit.load_taxonomy().service_names()
    for s in services:
        assert f"time_{s}_min" in nodes.columns
        for m in (10, 15, 30):
            assert f"n_{s}_{m}min" in nodes.columns
    for m in (10, 15, 30):
        assert nodes[f"score_{m}min"].between(0, 1).all()
    assert {"node_id", "population"} <= set(nodes.columns)
    edges = gpd.read_file(out, layer="edges")
    assert {"u", "v", "length_m", "time_min"} <= set(edges.columns)
    walk = urbankit.build_network(urbankit.load("monaco"), "walk")
    assert len(edges) == len(walk.edges) and len(nodes) == len(walk.nodes)
    pois = gpd.read_file(out, layer="pois")
    assert {"service", "function", "node_id", "snap_m"} <= set(pois.columns)
    assert set(pois["node_id"]) <= set(nodes["node_id"])
    # the printed share is the population-weighted share recomputed from the written layer
    six = np.ones(len(nodes), bool)
    tax = urbankit.load_taxonomy()
    for f in sorted({tax.function_of(s) for s in services}):
        cols = [f"time_{s}_min" for s in services if tax.function_of(s) == f]
        six &= (nodes[cols] <= 15 + 1e-6).any(axis=1).to_numpy()
    w = nodes["population"].to_numpy()
    share = (w * six).sum() / w[w > 0].sum()
    assert f"{share:.1%}" in printed


@pytest.mark.requires_dataset("barcelona")
def test_cli_accessibility_drive_and_bad_input(tmp_path, capsys):
    assert (
        main(["accessibility", "barcelona", "--mode", "drive", "--minutes", "5", "--out", str(tmp_path / "b.gpkg")])
        == 0
    )
    edges = gpd.read_file(tmp_path / "b.gpkg", layer="edges")
    drive = urbankit.build_network(urbankit.load("barcelona"), "drive").edges
    # one row per street (#16): directed edges grouped by unordered end nodes, way and length
    streets = {
        (min(u, v), max(u, v), w, round(x, 6)) for u, v, w, x in zip(drive.u, drive.v, drive.way_id, drive.length_m)
    }
    assert len(edges) == len(streets) < len(drive)
    capsys.readouterr()
    assert main(["accessibility", "monaco", "--minutes", "-5", "--out", str(tmp_path / "x.gpkg")]) == 2
    assert "thresholds must be positive" in capsys.readouterr().err
    assert not (tmp_path / "x.gpkg").exists()
    assert main(["accessibility", str(tmp_path / "none.osm.pbf"), "--out", str(tmp_path / "y.gpkg")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_helsinki_accessibility_report(tmp_path, helsinki_population):
    grid = helsinki_population
    out = run_report(
        "accessibility",
        parameters={"source": "helsinki", "population": str(grid), "tiles": None},
        out_dir=tmp_path,
        run_id="hki",
    )
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "ok"
    assert record["input_sha256"]["population"] == urbankit.osm.file_sha256(grid)
    nodes = gpd.read_file(out / "accessibility.gpkg", layer="nodes")
    # residents come from the grid: the cells overlapping the extract (7,801 residents, 22 cells)
    assert nodes["population"].sum() == pytest.approx(7801, abs=1)
    html = (out / "accessibility.html").read_text()
    assert "Who lives an x-minute life" in html and "data:image/png" in html
