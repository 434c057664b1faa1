"""The ``urbankit travel-times`` contract (issue 13 item 4), end to end on Sao Paulo through a parser built here."""

from __future__ import annotations

import argparse

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import existing
from test_transit import TRANSIT

import urbankit
from urbankit.transit import read_gtfs
from urbankit.transit.cli import add_parser, run
from urbankit.transit.matrix import travel_time_matrix

SPO = TRANSIT / "sao_paulo"


def parser():
    p = argparse.ArgumentParser(prog="urbankit")
    add_parser(p.add_subparsers(dest="command"))
    return p


@pytest.fixture(scope="module")
def points(tmp_path_factory):
    folder = tmp_path_factory.mktemp("points")
    h = pd.read_csv(existing(SPO / "spo_hexgrid.csv"))
    h.iloc[:5][["id", "lon", "lat"]].to_csv(folder / "origins.csv", index=False)
    gdf = gpd.GeoDataFrame(h.iloc[::10][["id"]], geometry=gpd.points_from_xy(h.lon, h.lat)[::10], crs="EPSG:4326")
    gdf.to_crs("EPSG:32723").to_file(folder / "dest.gpkg", driver="GPKG")
    return folder / "origins.csv", folder / "dest.gpkg", h


@pytest.mark.slow  # several seconds on 2 shared cores
def test_travel_times_transit_csv_and_parquet(points, tmp_path):
    origins, dests, h = points
    gtfs, osm = existing(SPO / "spo_gtfs.zip"), existing(SPO / "spo_osm.pbf")
    base = ["travel-times", str(osm), "--mode", "transit", "--gtfs", str(gtfs), "--origins", str(origins),
            "--destinations", str(dests), "--departure", "2019-05-13T07:00", "--window", "10",
            "--percentiles", "25", "50", "75", "--max-rides", "4", "--walk-speed", "4.5", "--max-minutes", "60"]
    assert run(parser().parse_args([*base, "--out", str(tmp_path / "tt.csv")])) == 0
    assert run(parser().parse_args([*base, "--out", str(tmp_path / "tt.parquet")])) == 0
    got = pd.read_csv(tmp_path / "tt.csv", dtype={"from_id": str, "to_id": str})
    assert list(got.columns) == ["from_id", "to_id", "travel_time_p25", "travel_time_p50", "travel_time_p75"]
    assert len(got) == 5 * len(h.iloc[::10])
    assert set(got.from_id) == set(h.id.iloc[:5]) and set(got.to_id) == set(h.id.iloc[::10])
    pq = pd.read_parquet(tmp_path / "tt.parquet")
    pd.testing.assert_frame_equal(got, pq.astype({"from_id": str, "to_id": str}), check_exact=False)
    net = urbankit.build_network(urbankit.read_osm(osm, buildings=False), "walk", cache=False)
    o = gpd.GeoDataFrame(h.iloc[:5][["id"]], geometry=gpd.points_from_xy(h.lon, h.lat)[:5], crs="EPSG:4326")
    d = gpd.read_file(dests)
    expect = travel_time_matrix(net, timetables=read_gtfs(gtfs, "2019-05-13"), origins=o, destinations=d,
                                departure="2019-05-13T07:00", window_min=10, percentiles=(25, 50, 75),
                                max_rides=4, walk_speed_kmh=4.5, max_minutes=60)
    np.testing.assert_allclose(got.iloc[:, 2:].to_numpy(), expect.iloc[:, 2:].to_numpy(), rtol=1e-9)
    assert got.travel_time_p50.notna().any() and (got.travel_time_p50.dropna() <= 60).all()


def test_travel_times_walk_mode_and_errors(points, tmp_path, capsys):
    origins, dests, _ = points
    osm = existing(SPO / "spo_osm.pbf")
    out = tmp_path / "w.csv"
    args = ["travel-times", str(osm), "--mode", "walk", "--origins", str(origins), "--destinations", str(dests),
            "--max-minutes", "30", "--out", str(out)]
    assert run(parser().parse_args(args)) == 0
    w = pd.read_csv(out)
    assert list(w.columns) == ["from_id", "to_id", "travel_time_p50"]
    before = out.read_bytes()
    # a failing run exits 2 with a message and leaves the previous output untouched
    bad = ["travel-times", str(osm), "--mode", "transit", "--origins", str(origins), "--destinations", str(dests),
           "--departure", "2019-05-13T07:00", "--out", str(out)]
    assert run(parser().parse_args(bad)) == 2
    assert "--gtfs" in capsys.readouterr().err
    assert run(parser().parse_args([*bad, "--gtfs", str(existing(SPO / "spo_gtfs.zip")), "--departure",
                                    "7 o'clock"])) == 2
    assert "must look like 2019-05-13T07:00" in capsys.readouterr().err
    assert run(parser().parse_args([*args[:-2], "--origins", str(tmp_path / "none.csv"), "--out", str(out)])) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run(parser().parse_args([*args[:-1], str(tmp_path / "w.xlsx")])) == 2
    assert out.read_bytes() == before
