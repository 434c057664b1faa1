"""Aggregation of node accessibility to H3 hexagons and user zones, checked against plain loops."""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict

import geopandas as gpd
import h3
import numpy as np
import pytest
import shapely

from urbankit._errors import CRSError, InvalidOptionError
from urbankit.zones import to_hex, to_zones


@pytest.fixture(scope="module")
def acc(monaco_walk_accessibility):
    """Monaco, walk, residents from OSM buildings (most nodes have none: both hexagon kinds occur)."""
    return monaco_walk_accessibility


def reference_means(acc, members: dict) -> dict:
    """Per area: plain-loop weighted means of every service's minutes (the documented rule)."""
    out = {}
    for key, node_ids in members.items():
        pops = [float(acc.nodes.at[n, "population"]) for n in node_ids]
        populated = sum(pops) > 0
        row = {"population": sum(pops), "nodes": len(node_ids), "populated": populated}
        for s in acc.services:
            num = den = 0.0
            for n, p in zip(node_ids, pops):
                t = acc.nodes.at[n, f"time_{s}_min"]
                w = p if populated else 1.0
                if np.isfinite(t) and w > 0:
                    num += w * t
                    den += w
            row[s] = num / den if den else np.nan
        for m in acc.minutes:
            num = den = num_all = 0.0
            for n, p in zip(node_ids, pops):
                w = p if populated else 1.0
                num += w * acc.nodes.at[n, f"score_{m}min"]
                num_all += w * (acc.nodes.at[n, f"functions_{m}min"] == len(acc.function_names))
                den += w
            row[f"score_{m}"] = num / den if den else np.nan
            row[f"all_{m}"] = num_all / den if den else np.nan
        out[key] = row
    return out


def assert_matches_reference(table, ref, acc):
    assert set(table.index) == set(ref)
    for key, row in ref.items():
        got = table.loc[key]
        assert got["population"] == pytest.approx(row["population"], rel=1e-9, abs=1e-9)
        assert got["nodes"] == row["nodes"]
        assert bool(got["populated"]) == row["populated"]
        for s in acc.services:
            want = row[s]
            if np.isnan(want):
                assert np.isnan(got[f"time_{s}_min"]), (key, s)
            else:
                assert got[f"time_{s}_min"] == pytest.approx(want, rel=1e-9), (key, s)
        for m in acc.minutes:
            assert got[f"score_{m}min"] == pytest.approx(row[f"score_{m}"], rel=1e-9, abs=1e-12)
            assert got[f"all_functions_{m}min_share"] == pytest.approx(row[f"all_{m}"], rel=1e-9, abs=1e-12)


# ------------------------------------------------------------------------------------------------ hex


@pytest.mark.slow
def test_hex_matches_plain_loop(acc):
    hexes = to_hex(acc, 9)
    ll = acc.nodes.to_crs("EPSG:4326")
    members = defaultdict(list)
    for n, p in zip(ll.index, ll.geometry):
        members[h3.latlng_to_cell(p.y, p.x, 9)].append(n)
    ref = reference_means(acc, members)
    assert_matches_reference(hexes, ref, acc)
    # both kinds of hexagon occur in Monaco
    assert hexes["populated"].any() and (~hexes["populated"]).any()


def test_hex_frame(acc):
    hexes = to_hex(acc, 9)
    assert hexes.crs.to_epsg() == 4326
    assert hexes.index.name == "h3"
    assert all(h3.is_valid_cell(c) and h3.get_resolution(c) == 9 for c in hexes.index)
    assert int(hexes["nodes"].sum()) == len(acc.nodes)
    assert hexes["population"].sum() == pytest.approx(acc.nodes["population"].sum(), rel=1e-9)
    assert (hexes.geom_type == "Polygon").all() and hexes.is_valid.all()
    # every node lies in its own hexagon's polygon
    ll = acc.nodes.to_crs("EPSG:4326")
    cells = [h3.latlng_to_cell(p.y, p.x, 9) for p in ll.geometry]
    polys = hexes.geometry.loc[cells].to_numpy()
    assert shapely.dwithin(polys, ll.geometry.to_numpy(), 1e-9).all()
    expected = {f"time_{s}_min" for s in acc.services} | {f"score_{m}min" for m in acc.minutes}
    expected |= {f"all_functions_{m}min_share" for m in acc.minutes} | {"population", "nodes", "populated"}
    assert expected <= set(hexes.columns)
    assert hexes[[f"score_{m}min" for m in acc.minutes]].stack().between(0, 1).all()


def test_hex_resolutions(acc):
    coarse, fine = to_hex(acc, 8), to_hex(acc, 10)
    assert len(coarse) < len(to_hex(acc, 9)) < len(fine)
    assert coarse["population"].sum() == pytest.approx(fine["population"].sum())
    assert len(to_hex(acc, 0)) == 1
    assert acc.hex(8).equals(coarse)


@pytest.mark.parametrize("bad", [-1, 16, 9.5, True, "9", None])
def test_hex_invalid_resolution(acc, bad):
    with pytest.raises(InvalidOptionError, match="0 to 15"):
        to_hex(acc, bad)


def test_hex_without_population_is_unweighted_node_mean(acc):
    bare = dataclasses.replace(acc, nodes=acc.nodes.assign(population=0.0))
    hexes = to_hex(bare, 9)
    assert not hexes["populated"].any()
    assert (hexes["population"] == 0).all()
    cell = hexes["nodes"].idxmax()
    ll = bare.nodes.to_crs("EPSG:4326")
    inside = [n for n, p in zip(ll.index, ll.geometry) if h3.latlng_to_cell(p.y, p.x, 9) == cell]
    t = bare.nodes.loc[inside, "time_grocery_min"]
    assert hexes.at[cell, "time_grocery_min"] == pytest.approx(t.mean(skipna=True))


# ------------------------------------------------------------------------------------------------ zones


def halves(acc, crs="EPSG:4326"):
    """West and east halves of the network plus a zone far away (split where no node lies)."""
    x0, y0, x1, y1 = acc.nodes.total_bounds
    xs = np.sort(acc.nodes.geometry.x.to_numpy())
    mid = len(xs) // 2
    split = (xs[mid] + xs[mid + 1]) / 2
    pad = 10.0
    zones = gpd.GeoDataFrame(
        {"district": ["west", "east", "far"], "population": [1, 2, 3], "note": ["a", "b", "c"]},
        geometry=[
            shapely.box(x0 - pad, y0 - pad, split, y1 + pad),
            shapely.box(split, y0 - pad, x1 + pad, y1 + pad),
            shapely.box(x1 + 5000, y0, x1 + 6000, y1),
        ],
        crs=acc.nodes.crs,
    )
    return zones.to_crs(crs), split


@pytest.mark.slow
def test_zones_match_plain_loop(acc, caplog):
    zones, split = halves(acc)
    with caplog.at_level(logging.WARNING, logger="urbankit.zones"):
        out = to_zones(acc, zones, name="district")
    assert "population" in caplog.text  # the clash is reported
    x = acc.nodes.geometry.x
    members = {"west": list(acc.nodes.index[x < split]), "east": list(acc.nodes.index[x > split])}
    ref = reference_means(acc, members)
    assert_matches_reference(out.loc[["west", "east"]], ref, acc)
    assert out.loc["west", "population"] + out.loc["east", "population"] == pytest.approx(acc.nodes.population.sum())
    far = out.loc["far"]
    assert far["nodes"] == 0 and far["population"] == 0 and not far["populated"]
    assert np.isnan(far["time_grocery_min"]) and np.isnan(far["score_10min"])


def test_zones_keep_columns_order_and_crs(acc):
    zones, _ = halves(acc, crs="EPSG:3857")
    out = to_zones(acc, zones)
    assert out.crs == zones.crs
    assert list(out.index) == list(zones.index)
    assert list(out.columns[:3]) == ["district", "population_zone", "note"]
    assert out["population_zone"].tolist() == [1, 2, 3]
    assert out.geometry.geom_equals(zones.geometry).all()
    assert out.geometry.name == zones.geometry.name
    named = acc.zones(zones, name="district")
    assert list(named.index) == ["west", "east", "far"] and named.index.name == "district"


def test_zones_geoseries_and_multipolygon(acc):
    zones, _ = halves(acc)
    both = shapely.MultiPolygon([zones.geometry.iloc[0], zones.geometry.iloc[1]])
    out = to_zones(acc, gpd.GeoSeries([both], crs=zones.crs))
    assert out["nodes"].iloc[0] == len(acc.nodes)


def test_zones_errors(acc):
    zones, _ = halves(acc)
    with pytest.raises(CRSError, match="set_crs"):
        to_zones(acc, zones.set_crs(None, allow_override=True))
    with pytest.raises(InvalidOptionError, match="do not overlap"):
        to_zones(acc, zones.iloc[[2]])
    with pytest.raises(InvalidOptionError, match="Polygons"):
        to_zones(acc, zones.assign(geometry=zones.representative_point()))
    with pytest.raises(InvalidOptionError, match="not a column"):
        to_zones(acc, zones, name="nope")
    with pytest.raises(InvalidOptionError, match="unique"):
        to_zones(acc, zones.assign(note="x"), name="note")
    with pytest.raises(InvalidOptionError, match="empty"):
        to_zones(acc, zones.iloc[[]])
    with pytest.raises(InvalidOptionError, match="GeoDataFrame"):
        to_zones(acc, zones.drop(columns="geometry"))


def test_h3_cells_equal_h3_point_by_point():
    from urbankit.zones import h3_cells

    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(-179, 179, 500), rng.uniform(-80, 80, 500)
    lon[:50], lat[:50] = lon[0], lat[0]  # repeated points share a cell id
    for res in (0, 8, 15):
        got = h3_cells(lon, lat, res)
        assert got.dtype == object
        assert got.tolist() == [h3.latlng_to_cell(b, a, res) for a, b in zip(lon, lat)]
    assert h3_cells([], [], 9).shape == (0,)
    with pytest.raises(InvalidOptionError):
        h3_cells([0.0], [0.0, 1.0], 9)
