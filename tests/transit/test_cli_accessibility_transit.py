"""``urbankit accessibility --mode transit`` (issue 13): the walking contract's layers and columns, the transit
parameters in the metadata table, and clear errors for missing or misplaced transit options."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pyogrio
import pytest
from conftest import existing
from test_transit import TRANSIT

import urbankit
from urbankit.cli import main

SPO = TRANSIT / "sao_paulo"


@pytest.mark.slow
def test_cli_accessibility_transit_sao_paulo(tmp_path, capsys):
    out = tmp_path / "spo.gpkg"
    hexes = existing(SPO / "spo_hexgrid.csv")
    argv = ["accessibility", str(existing(SPO / "spo_osm.pbf")), "--mode", "transit", "--gtfs",
            str(existing(SPO / "spo_gtfs.zip")), "--departure", "2019-05-13T07:00", "--window", "5",
            "--percentile", "75", "--minutes", "15", "30", "--population", str(hexes), "--population-column",
            "population", "--opportunities", str(hexes), "--opportunity-columns", "jobs", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "(transit)" in printed
    assert {"nodes", "edges", "pois", "hex", "metadata"} <= set(dict(pyogrio.list_layers(out)))
    nodes = gpd.read_file(out, layer="nodes")
    services = urbankit.load_taxonomy().service_names()
    for s in services:
        assert f"time_{s}_min" in nodes.columns
        for m in (15, 30):
            assert f"n_{s}_{m}min" in nodes.columns
    for m in (15, 30):
        assert nodes[f"score_{m}min"].between(0, 1).all()
        assert f"jobs_{m}min" in nodes.columns
    assert {"node_id", "population"} <= set(nodes.columns)
    walk = urbankit.build_network(urbankit.read_osm(existing(SPO / "spo_osm.pbf"), buildings=False), "walk",
                                  cache=False)
    assert len(nodes) == len(walk.nodes)
    edges = gpd.read_file(out, layer="edges")
    assert {"u", "v", "length_m", "time_min"} <= set(edges.columns) and len(edges) == len(walk.edges)
    pois = gpd.read_file(out, layer="pois")
    assert {"service", "function", "node_id", "snap_m"} <= set(pois.columns)
    meta = dict(pyogrio.read_dataframe(out, layer="metadata")[["key", "value"]].itertuples(index=False))
    assert meta["mode"] == "transit"
    assert json.loads(meta["transit_gtfs"]) == ["spo_gtfs.zip"]
    assert meta["transit_departure"] == "2019-05-13T07:00"
    assert json.loads(meta["transit_window_min"]) == 5 and json.loads(meta["transit_percentile"]) == 75
    assert json.loads(meta["transit_max_rides"]) == 8
    tax = urbankit.load_taxonomy()
    nf = len({tax.function_of(s) for s in services})
    assert f"residents within 15 min of all {nf} functions (transit)" in printed


@pytest.mark.parametrize("extra, message", [
    (["--mode", "transit", "--departure", "2019-05-13T07:00"], "--mode transit needs --gtfs"),
    (["--mode", "transit", "--gtfs", "feed.zip"], "--mode transit needs --departure"),
    (["--mode", "transit"], "needs --gtfs FEED .* and --departure"),
    (["--gtfs", "feed.zip"], "--gtfs are for --mode transit only"),
    (["--mode", "bike", "--departure", "2019-05-13T07:00"], "--departure are for --mode transit only"),
    (["--mode", "transit", "--gtfs", "f.zip", "--departure", "7:00"], "must look like 2019-05-13T07:00"),
])
def test_cli_accessibility_transit_option_errors(tmp_path, capsys, extra, message):
    assert main(["accessibility", "monaco", *extra, "--out", str(tmp_path / "x.gpkg")]) == 2
    err = capsys.readouterr().err
    assert "urbankit: error:" in err
    assert re.search(message, err)
    assert not (tmp_path / "x.gpkg").exists()
