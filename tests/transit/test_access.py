"""transit_accessibility (issue 13 item 3, x-minute city by transit): walking schema, values from the matrix,
population-weighted summary computed by hand."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import existing
from test_transit import TRANSIT

import urbankit
from urbankit.transit import read_gtfs
from urbankit.transit.access import transit_accessibility
from urbankit.transit.matrix import travel_time_matrix

SPO = TRANSIT / "sao_paulo"


@pytest.mark.slow
def test_transit_accessibility_sao_paulo():
    tt = read_gtfs(existing(SPO / "spo_gtfs.zip"), "2019-05-13")
    net = urbankit.build_network(urbankit.read_osm(existing(SPO / "spo_osm.pbf"), buildings=False), "walk",
                                 cache=False)
    h = pd.read_csv(existing(SPO / "spo_hexgrid.csv"))
    sch = h[h.schools > 0]
    dest = gpd.GeoDataFrame({"service": "school"}, index=range(len(sch)),
                            geometry=gpd.points_from_xy(sch.lon, sch.lat), crs="EPSG:4326")
    dest = pd.concat([dest, gpd.GeoDataFrame({"service": "work"}, index=range(3),
                                             geometry=gpd.points_from_xy(h.lon[:3], h.lat[:3]), crs="EPSG:4326")],
                     ignore_index=True)
    dest["function"] = dest["service"]
    rng = np.random.default_rng(0)
    pop = pd.Series(rng.integers(0, 50, len(net.nodes)).astype(float), index=net.nodes.index)
    kw = dict(departure="2019-05-13T07:00", window_min=3, minutes=(15, 30))
    acc = transit_accessibility(net, tt, dest, percentile=75, population=pop, **kw)
    walking = urbankit.compute_accessibility(net, dest, minutes=(15, 30))
    schema = [c for c in walking.nodes.columns
              if c in ("time_school_min", "time_work_min") or c.startswith(("n_school_", "n_work_", "score_"))]
    assert len(schema) == 2 + 4 + 2
    assert set(schema) <= set(acc.nodes.columns)
    # a sample of nodes against the matrix computed from those nodes alone
    sample = rng.choice(len(net.nodes), 12, replace=False)
    o = gpd.GeoDataFrame({"id": sample}, geometry=net.nodes.geometry.to_numpy()[sample], crs=net.crs)
    d = gpd.GeoDataFrame({"id": np.arange(len(dest))}, geometry=dest.geometry.to_numpy(), crs=dest.crs)
    m = travel_time_matrix(net, timetables=tt, origins=o, destinations=d, percentiles=(75,), max_minutes=30, **{
        k: v for k, v in kw.items() if k != "minutes"})
    m["service"] = dest.service.to_numpy()[m.to_id.to_numpy()]
    for node in sample:
        rows = m[m.from_id == node]
        for s in ("school", "work"):
            t = rows[rows.service == s].travel_time_p75
            got = acc.nodes[f"time_{s}_min"].iloc[node]
            if t.notna().any():
                assert got == pytest.approx(t.min())
            else:
                assert np.isnan(got)
            for mm in (15, 30):
                assert acc.nodes[f"n_{s}_{mm}min"].iloc[node] == int((t <= mm).sum())
    # population-weighted share of residents reaching a school within 15 min, by hand
    t = acc.nodes["time_school_min"].to_numpy()
    share = (pop.to_numpy() * (np.nan_to_num(t, nan=np.inf) <= 15)).sum() / pop.sum()
    summary = acc.summary()
    assert summary.loc["school", "within_15min"] == pytest.approx(share)
    assert 0 < share < 1
    with pytest.raises(urbankit.InvalidOptionError, match="'service' column"):
        transit_accessibility(net, tt, dest.drop(columns="service"), **kw)
