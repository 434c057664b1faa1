"""uk.opportunities: cumulative, gravity, 2SFCA and E2SFCA against a brute force and the access package.

The brute force routes with its own scipy Dijkstra over the network's edges and sums with explicit
loops over demand nodes and supply locations; the 2SFCA and E2SFCA ratios are also compared with
``access`` (PyPI) given the same node x location cost matrix.
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

import urbankit as uk
from urbankit import InvalidOptionError
from urbankit.cli import main
from urbankit.mock import grid_extract, random_destinations
from urbankit.network.engines import ENGINES

WALK_M_PER_MIN = 4.8 * 1000 / 60
EPS = 1e-6
SAO_PAULO = Path("/work/shared/data/transit/sao_paulo")


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setattr(uk.settings, "progress", False)


_CASES: dict = {}


def case_data(case: str) -> dict:
    """Network, supply points (two columns), population per node and the minutes from every node to
    every supply location, computed here without urbankit's routing code."""
    if case in _CASES:
        return _CASES[case]
    if case == "grid_walk":
        net = uk.build_network(grid_extract(7, 6), "walk", cache=False)
        minutes = [3.0, 6.0]
    else:
        net = uk.build_network(grid_extract(7, 6, oneway_residential=True), "drive", cache=False)
        minutes = [0.5, 1.0]
    idx = net.nodes.index
    n = len(idx)
    best: dict = {}
    for a, b, w in zip(idx.get_indexer(net.edges.u).tolist(), idx.get_indexer(net.edges.v).tolist(),
                       net.edges.time_min.tolist()):
        for key in [(a, b)] if net.directed else [(a, b), (b, a)]:
            best[key] = min(w, best.get(key, np.inf))
    (rows, cols), wts = zip(*best.keys()), list(best.values())
    dist = dijkstra(csr_matrix((wts, (rows, cols)), shape=(n, n)), directed=True)
    rng = np.random.default_rng(11)
    pts = random_destinations(net, services=["grocery"], per_service=12, seed=3)[["geometry"]].to_crs(net.crs)
    pts["jobs"] = rng.integers(1, 500, len(pts)).astype(float)
    pts["beds"] = rng.integers(0, 30, len(pts)).astype(float)
    pts.loc[pts.index[0], "beds"] = 7.0
    pxy = np.column_stack([pts.geometry.x, pts.geometry.y])
    nxy = net.nodes[["x", "y"]].to_numpy()
    d2 = ((pxy[:, None, :] - nxy[None, :, :]) ** 2).sum(-1)
    near = d2.argmin(axis=1)
    metres = np.sqrt(d2[np.arange(len(pxy)), near])
    snap = np.where(metres > 0, np.maximum(np.rint(metres / WALK_M_PER_MIN / 0.001), 1) * 0.001, 0.0)
    pop = pd.Series(rng.integers(0, 40, n).astype(float), index=idx)
    pop.iloc[::5] = 0.0  # empty nodes too
    _CASES[case] = out = {"net": net, "points": pts, "T": dist[:, near] + snap[None, :], "pop": pop,
                          "minutes": minutes}
    return out


def brute_fca(T: np.ndarray, pop: np.ndarray, supply: np.ndarray, weight) -> np.ndarray:
    """(E)2SFCA with explicit loops: weight(t) is 0 outside the catchment."""
    n, m = T.shape
    ratio = np.zeros(m)
    for j in range(m):
        demand = 0.0
        for k in range(n):
            demand += pop[k] * weight(T[k, j])
        ratio[j] = supply[j] / demand if demand > 0 else 0.0
    out = np.zeros(n)
    for i in range(n):
        for j in range(m):
            out[i] += ratio[j] * weight(T[i, j])
    return out


def lab(m) -> str:
    """Column label of a threshold: 0.5 -> '0_5'."""
    return f"{m:g}".replace(".", "_")


def flat(m):
    return lambda t: 1.0 if t <= m + EPS else 0.0


def steps(zones, weights):
    def w(t):
        for z, v in zip(zones, weights):
            if t <= z + EPS:
                return v
        return 0.0
    return w


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", ["grid_walk", "grid_drive_oneway"])
def test_against_brute_force(case, engine):
    d = case_data(case)
    net, pts, T, pop, mins = d["net"], d["points"], d["T"], d["pop"], d["minutes"]
    out = uk.compute_opportunities(net, pts, minutes=mins, population=pop, engine=engine)
    assert out.index.equals(net.nodes.index)
    assert out.attrs["columns"] == ["jobs", "beds"]
    R = max(mins)
    zones = [R / 3, 2 * R / 3, R]
    rtol = 1e-5 if engine == "pandana" else 1e-9  # pandana sums in single precision
    for c in ("jobs", "beds"):
        v = pts[c].to_numpy()
        for m in mins:
            cum = np.array([sum(v[j] for j in range(len(v)) if T[i, j] <= m + EPS) for i in range(len(T))])
            np.testing.assert_allclose(out[f"{c}_{lab(m)}min"], cum, rtol=rtol, atol=1e-9)
            np.testing.assert_allclose(out[f"{c}_2sfca_{lab(m)}min"], brute_fca(T, pop.to_numpy(), v, flat(m)),
                                       rtol=rtol, atol=1e-9)
        grav = np.array([sum(v[j] * math.exp(-T[i, j] / R) for j in range(len(v)) if T[i, j] <= R + EPS)
                         for i in range(len(T))])
        np.testing.assert_allclose(out[f"{c}_gravity"], grav, rtol=rtol, atol=1e-9)
        e2 = brute_fca(T, pop.to_numpy(), v, steps(zones, [1.0, 0.68, 0.22]))
        np.testing.assert_allclose(out[f"{c}_e2sfca"], e2, rtol=rtol, atol=1e-9)
    assert out.attrs["e2sfca_weights"] == [1.0, 0.68, 0.22]


def test_2sfca_matches_access_package():
    from access import Access, weights

    d = case_data("grid_walk")
    net, pts, T, mins = d["net"], d["points"], d["T"], d["minutes"]
    pop = pd.Series(np.arange(1, len(net.nodes) + 1, dtype=float), index=net.nodes.index)  # demand everywhere
    out = uk.compute_opportunities(net, pts, minutes=mins, population=pop, columns=["jobs"])
    i, j = np.nonzero(np.isfinite(T))
    cost = pd.DataFrame({"origin": i, "dest": j, "cost": T[i, j]})
    demand = pd.DataFrame({"node": np.arange(len(pop)), "pop": pop.to_numpy()})
    supply = pd.DataFrame({"loc": np.arange(len(pts)), "jobs": pts["jobs"].to_numpy()})
    for m in mins:
        acc = Access(demand_df=demand, demand_index="node", demand_value="pop", supply_df=supply,
                     supply_index="loc", supply_value="jobs", cost_df=cost, cost_origin="origin",
                     cost_dest="dest", cost_name="cost")
        theirs = acc.two_stage_fca(name="fca", max_cost=m + EPS)["fca_jobs"].reindex(range(len(pop))).fillna(0.0)
        np.testing.assert_allclose(out[f"jobs_2sfca_{lab(m)}min"].to_numpy(), theirs.to_numpy(), rtol=1e-9, atol=1e-12)
    R = max(mins)
    fn = weights.step_fn({R / 3 + EPS: 1.0, 2 * R / 3 + EPS: 0.68, R + EPS: 0.22})
    acc = Access(demand_df=demand, demand_index="node", demand_value="pop", supply_df=supply, supply_index="loc",
                 supply_value="jobs", cost_df=cost, cost_origin="origin", cost_dest="dest", cost_name="cost")
    theirs = acc.enhanced_two_stage_fca(name="e2", max_cost=R + EPS, weight_fn=fn)["e2_jobs"]
    theirs = theirs.reindex(range(len(pop))).fillna(0.0)
    np.testing.assert_allclose(out["jobs_e2sfca"].to_numpy(), theirs.to_numpy(), rtol=1e-9, atol=1e-12)


def test_polygons_count_at_their_centroid_and_csv_lonlat(tmp_path):
    d = case_data("grid_walk")
    net, pts = d["net"], d["points"]
    squares = pts.copy()
    squares["geometry"] = [shapely.box(p.x - 10, p.y - 10, p.x + 10, p.y + 10) for p in pts.geometry]
    as_points = uk.compute_opportunities(net, pts, minutes=[3], columns=["jobs"])
    as_squares = uk.compute_opportunities(net, squares, minutes=[3], columns=["jobs"])
    np.testing.assert_allclose(as_squares["jobs_3min"], as_points["jobs_3min"])
    ll = pts.to_crs(4326)
    csv = tmp_path / "jobs.csv"
    pd.DataFrame({"id": range(len(ll)), "lon": ll.geometry.x, "lat": ll.geometry.y, "jobs": pts["jobs"]}).to_csv(
        csv, index=False)
    from_csv = uk.compute_opportunities(net, csv, minutes=[3])  # id, lon, lat are not opportunity columns
    assert from_csv.attrs["columns"] == ["jobs"]
    np.testing.assert_allclose(from_csv["jobs_3min"], as_points["jobs_3min"])
    gpkg = tmp_path / "jobs.gpkg"
    pts[["jobs", "geometry"]].to_file(gpkg)
    np.testing.assert_allclose(uk.compute_opportunities(net, gpkg, minutes=[3])["jobs_3min"], as_points["jobs_3min"])


def test_h3_table(tmp_path):
    import h3

    d = case_data("grid_walk")
    net = d["net"]
    ll = net.nodes.to_crs(4326)
    cells = sorted({h3.latlng_to_cell(p.y, p.x, 10) for p in ll.geometry})
    table = tmp_path / "hex.csv"
    pd.DataFrame({"h3": cells, "jobs": np.arange(1, len(cells) + 1, dtype=float)}).to_csv(table, index=False)
    out = uk.compute_opportunities(net, table, minutes=[1000])  # everything within reach of every node
    total = len(cells) * (len(cells) + 1) / 2
    assert out.attrs["opportunities"] == {"jobs": total}
    np.testing.assert_allclose(out["jobs_1000min"], total)


def test_raster_input(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    d = case_data("grid_walk")
    net = d["net"]
    x0, y0, x1, y1 = net.nodes.total_bounds
    values = np.full((4, 4), 10.0, dtype="float32")
    values[0, 0] = -9999.0  # nodata
    path = tmp_path / "jobs.tif"
    size = (x1 - x0) / 4
    with rasterio.open(path, "w", driver="GTiff", height=4, width=4, count=1, dtype="float32", crs=net.crs,
                       transform=from_origin(x0, y1, size, (y1 - y0) / 4), nodata=-9999.0) as dst:
        dst.write(values, 1)
    out = uk.compute_opportunities(net, path, minutes=[1000])
    assert out.attrs["columns"] == ["jobs"]
    np.testing.assert_allclose(out["jobs_1000min"], 150.0)  # 15 cells of 10 inside the network's area


def test_honesty_zero_opportunities_and_no_population():
    d = case_data("grid_walk")
    net, pts = d["net"], d["points"]
    empty = pts.assign(jobs=0.0)
    with pytest.raises(InvalidOptionError, match="'jobs' .*sums to 0: there is nothing to reach"):
        uk.compute_opportunities(net, empty, minutes=[3], columns=["jobs"])
    out = uk.compute_opportunities(net, pts, minutes=[3], columns=["jobs"])
    assert out["jobs_2sfca_3min"].isna().all() and out["jobs_e2sfca"].isna().all()
    assert any("no population given" in n for n in out.attrs["notes"])
    zero = pd.Series(0.0, index=net.nodes.index)
    out = uk.compute_opportunities(net, pts, minutes=[3], columns=["jobs"], population=zero)
    assert not any("lie more than" in n for n in out.attrs["notes"])
    assert out["jobs_2sfca_3min"].isna().all()
    assert any("no residents on this network" in n for n in out.attrs["notes"])
    far = pts.iloc[:2].copy()
    far["geometry"] = far.geometry.translate(5000, 0)  # 5 km east of the grid: about an hour on foot
    out = uk.compute_opportunities(net, pd.concat([pts, far]), minutes=[3], columns=["jobs"])
    total_far = far["jobs"].sum()
    expected = f"jobs: {total_far:,.6g} of {pts['jobs'].sum() + total_far:,.6g} lie more than 3 min"
    assert expected in " ".join(out.attrs["notes"])
    from urbankit.accessibility.opportunities import opportunity_summary  # without residents: NaN, not 0

    nodes = out.assign(population=0.0)
    s = opportunity_summary(nodes, ["jobs"], [3], totals={"jobs": 1.0})
    assert s[["median", "share_at_least", "gini"]].isna().all().all() and "not computable" in s.note[0]


def test_bad_inputs_raise_urbankit_errors(tmp_path):
    d = case_data("grid_walk")
    net, pts = d["net"], d["points"]
    with pytest.raises(InvalidOptionError, match="ambiguous.*'population'.*opportunity_columns"):
        uk.compute_opportunities(net, pts.assign(population=1.0), minutes=[3])
    with pytest.raises(InvalidOptionError, match=r"\['nope'\] are not in"):
        uk.compute_opportunities(net, pts, minutes=[3], columns=["nope"])
    with pytest.raises(InvalidOptionError, match="negative"):
        uk.compute_opportunities(net, pts.assign(jobs=-1.0), minutes=[3], columns=["jobs"])
    with pytest.raises(InvalidOptionError, match="one weight per zone"):
        uk.compute_opportunities(net, pts, minutes=[3], e2sfca_weights=[1.0, 0.5])
    with pytest.raises(uk.InputFileError, match="does not exist"):
        uk.compute_opportunities(net, tmp_path / "none.gpkg", minutes=[3])
    bad = tmp_path / "bad.csv"
    bad.write_text("name,jobs\na,1\n")
    with pytest.raises(InvalidOptionError, match="neither lon/lat columns nor a usable H3"):
        uk.compute_opportunities(net, bad, minutes=[3])


def _weighted_median(v, w):
    order = np.argsort(v)
    cum = np.cumsum(w[order])
    return v[order][np.searchsorted(cum, 0.5 * cum[-1])]


@pytest.mark.slow
def test_x_minute_city_and_cli(tmp_path, capsys):
    net = uk.build_network(uk.load("monaco"), "walk")
    rng = np.random.default_rng(2)
    sample = net.nodes.sample(40, random_state=4)
    jobs = gpd.GeoDataFrame(
        {"jobs": rng.integers(1, 900, 40).astype(float)}, geometry=sample.geometry.values, crs=net.crs
    ).to_crs(4326)
    path = tmp_path / "jobs.geojson"
    jobs.to_file(path)
    acc = uk.x_minute_city("monaco", minutes=[10, 15], opportunities=path)
    summ = acc.opportunity_summary()
    w = acc.nodes["population"].to_numpy()
    pop = w > 0
    for m in (10, 15):
        v = acc.nodes[f"jobs_{m}min"].to_numpy()
        row = summ[summ.minutes == m].iloc[0]
        assert row["median"] == _weighted_median(v[pop], w[pop])
        assert row.share_at_least == pytest.approx((w * (v >= 0.1 * jobs.jobs.sum())).sum() / w.sum())
    out = tmp_path / "m.gpkg"
    assert (
        main(["accessibility", "monaco", "--minutes", "10", "15", "--opportunities", str(path), "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    nodes = gpd.read_file(out, layer="nodes")
    assert {"jobs_10min", "jobs_15min", "jobs_gravity", "jobs_2sfca_15min", "jobs_e2sfca"} <= set(nodes.columns)
    w = nodes["population"].to_numpy()
    med = _weighted_median(nodes["jobs_15min"].to_numpy()[w > 0], w[w > 0])
    assert f"median resident reaches {med:,.0f} jobs within 15 min" in printed
    with pytest.raises(InvalidOptionError, match="opportunity_columns needs opportunities="):
        uk.x_minute_city("monaco", minutes=[10], opportunity_columns=["jobs"])
    # a column without opportunities: refused, nothing written
    jobs.assign(jobs=0.0).to_file(tmp_path / "zero.geojson")
    out2 = tmp_path / "z.gpkg"
    assert main(["accessibility", "monaco", "--opportunities", str(tmp_path / "zero.geojson"), "--out", str(out2)]) == 2
    assert "sums to 0" in capsys.readouterr().err
    assert not out2.exists()


@pytest.mark.skipif(not (SAO_PAULO / "spo_hexgrid.csv").exists(), reason="Sao Paulo sample data absent")
@pytest.mark.slow
def test_sao_paulo_hexagons_population_and_jobs():
    hexes = pd.read_csv(SAO_PAULO / "spo_hexgrid.csv")
    acc = uk.x_minute_city(
        str(SAO_PAULO / "spo_osm.pbf"),
        minutes=[15, 30],
        population_source=str(SAO_PAULO / "spo_hexgrid.csv"),
        population_column="population",
        opportunities=str(SAO_PAULO / "spo_hexgrid.csv"),
        opportunity_columns=["jobs"],
    )
    assert acc.nodes["population"].sum() == pytest.approx(hexes["population"].sum(), rel=1e-9)  # conserved
    assert acc.opportunities_info["opportunities"] == {"jobs": float(hexes["jobs"].sum())}
    s = acc.opportunity_summary().set_index("minutes")
    w = acc.nodes["population"].to_numpy()
    for m in (15, 30):
        v = acc.nodes[f"jobs_{m}min"].to_numpy()
        assert s.loc[m, "median"] == _weighted_median(v[w > 0], w[w > 0])
        print(f"Sao Paulo walk: median resident reaches {s.loc[m, 'median']:,.0f} jobs within {m} min")
    assert 0 < s.loc[15, "median"] < s.loc[30, "median"] <= hexes["jobs"].sum()
