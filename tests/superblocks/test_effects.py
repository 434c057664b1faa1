"""Superblock effects with the environment models (issue #15): noise, emissions, street space, exposure.

Expectations are rebuilt here from the mock grid's geometry (113 m lattice, one 3 x 3-block cell in
``grid3``) and from the environment functions applied to hand-summed street flows; the environment
functions themselves are checked against the directive and COPERT in tests/environment.
"""

from __future__ import annotations

import dataclasses
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import urbankit as uk
from urbankit import InvalidOptionError
from urbankit.environment import emissions as em
from urbankit.environment import noise as nm
from urbankit.mock import grid_extract
from urbankit.superblocks import assign, effects, find_superblocks, run_scenario
from urbankit.superblocks.effects import CNOSSOS_CAVEAT, exposure_table

BLOCK = 113.0


def nid(i: int, j: int, ncol: int = 4) -> int:
    return 1 + j * ncol + i


@pytest.fixture(scope="module")
def grid3():
    return uk.build_network(grid_extract(3, 3), "drive", cache=False)


@pytest.fixture(scope="module")
def case(grid3):
    sb = find_superblocks(grid3, population=pd.Series(2.0, index=grid3.nodes.index))
    od = pd.DataFrame(
        {
            "origin": [nid(0, 1)] * 2 + [nid(1, 1)],
            "destination": [nid(3, 1)] * 2 + [nid(1, 2)],
            "trips": [300.0, 200.0, 40.0],
        }
    )
    a = assign(grid3, od, superblocks=sb, n_jobs=1)
    pop = pd.Series(2.0, index=grid3.nodes.index)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the default model warns about nothing
        edges, summary = effects(a, population=pop)
    return a, edges, summary


def street_key(edges) -> np.ndarray:
    return np.array(["{}-{}".format(*sorted(p)) for p in zip(edges["u"], edges["v"])])


def background_lden() -> float:
    b = nm.BACKGROUND_DB
    return 10 * np.log10(
        (12 * 10 ** (b["day"] / 10) + 4 * 10 ** ((b["evening"] + 5) / 10) + 8 * 10 ** ((b["night"] + 10) / 10)) / 24
    )


def test_noise_per_street_from_summed_flows_and_speeds(case):
    a, edges, summary = case
    key = street_key(edges)
    qb = pd.Series(edges["flow_before"].to_numpy()).groupby(key).transform("sum").to_numpy()
    qa = pd.Series(edges["flow_after"].to_numpy()).groupby(key).transform("sum").to_numpy()
    np.testing.assert_allclose(edges["street_flow_before"], qb)
    before = nm.street_noise(qb, edges["speed_before_kmh"].to_numpy())
    after = nm.street_noise(qa, np.maximum(edges["speed_after_kmh"].to_numpy(), 20.0))
    np.testing.assert_allclose(edges["lden_before_db"], before.l_den, rtol=1e-12)
    np.testing.assert_allclose(edges["lden_after_db"], after.l_den, rtol=1e-12)
    np.testing.assert_allclose(edges["l_night_after_db"], after.l_night, rtol=1e-12)
    np.testing.assert_allclose(edges["d_noise_db"], edges["lden_after_db"] - edges["lden_before_db"])
    np.testing.assert_allclose(edges["d_lden_db"], edges["d_noise_db"])
    # a street without traffic keeps the residual background (WHO 2018 values: 53/53/45 dB)
    empty = qb == 0
    assert empty.any()
    np.testing.assert_allclose(edges.loc[empty, "lden_before_db"], background_lden(), rtol=1e-12)
    # row 1 of the cell loses its 500 through trips: quieter, by less than the flow-only 10 lg(40/500)
    internal = edges["role"].to_numpy() == "internal"
    lost = internal & (qb >= 500)
    assert lost.any()
    assert (edges.loc[lost, "d_lden_db"] < -1).all()
    assert (edges.loc[lost, "d_lden_db"] > 10 * np.log10(40 / 500)).all()
    # internal streets never get louder (less traffic, 10 km/h); the ring that takes the traffic does
    assert (edges.loc[internal, "d_lden_db"] <= 1e-9).all()
    assert edges.loc[edges["role"] == "perimeter", "d_lden_db"].max() > 1
    s = summary.iloc[0]
    assert s["noise_model"] == "cnossos" and s["noise_caveat"] == CNOSSOS_CAVEAT
    assert "no propagation" in CNOSSOS_CAVEAT and "2021/1226" in CNOSSOS_CAVEAT
    # most internal streets carried nothing before (median 0); the length-weighted mean falls
    assert s["median_d_lden_internal_db"] <= 0 and s["mean_d_noise_internal_db"] < 0 < s["mean_d_noise_perimeter_db"]
    assert s["speed_source"] == "free-flow"


def test_fleet_mix_and_background_pass_through(case):
    a, edges, _ = case
    heavy, _ = effects(a, fleet_mix={"1": 0.5, "2": 0.3, "3": 0.2, "4a": 0.0, "4b": 0.0})
    busy = edges["street_flow_before"].to_numpy() >= 500
    assert (heavy["lden_before_db"].to_numpy()[busy] > edges["lden_before_db"].to_numpy()[busy] + 1).all()
    silent, _ = effects(a, background_db={"day": 20.0, "evening": 20.0, "night": 20.0})
    lost = (edges["role"] == "internal").to_numpy() & (edges["street_flow_before"].to_numpy() >= 500)
    assert (silent["d_lden_db"].to_numpy()[lost] < edges["d_lden_db"].to_numpy()[lost] - 1).all()


def test_emissions_per_edge_at_each_speed(case):
    a, edges, summary = case
    length = edges["length_m"].to_numpy()
    for when in ("before", "after"):
        q = edges[f"flow_{when}"].to_numpy()
        v = np.maximum(edges[f"speed_{when}_kmh"].to_numpy(), 10.0)
        light = em.fleet_emission_factors(v, fleet="EU", pollutants=("CO2", "NOx", "PM2.5"))
        heavy = em.fleet_emission_factors(v, fleet="HDV", pollutants=("CO2", "NOx", "PM2.5"))
        # EU fleet mix of the noise model: 90 % category 1 (light), 10 % category 2 (heavy)
        vkm = q * length / 1000
        co2 = vkm * (0.9 * light.co2_g_per_vkm + 0.1 * heavy.co2_g_per_vkm).to_numpy() / 1000
        nox = vkm * (0.9 * light.nox_g_per_vkm + 0.1 * heavy.nox_g_per_vkm).to_numpy() / 1000
        pm = vkm * (0.9 * light.pm25_g_per_vkm + 0.1 * heavy.pm25_g_per_vkm).to_numpy()
        np.testing.assert_allclose(edges[f"co2_kg_day_{when}"], co2, rtol=1e-9)
        np.testing.assert_allclose(edges[f"nox_kg_day_{when}"], nox, rtol=1e-9)
        np.testing.assert_allclose(edges[f"pm25_g_day_{when}"], pm, rtol=1e-9)
        assert summary[f"co2_kg_day_{when}"].iloc[0] == pytest.approx(co2.sum())
        assert summary[f"pm25_kg_day_{when}"].iloc[0] == pytest.approx(pm.sum() / 1000)
    # internal traffic at 10 km/h emits more CO2 per vehicle-km than at 30 km/h (COPERT curve)
    inside = (edges["role"] == "internal").to_numpy() & (edges["flow_after"].to_numpy() > 0)
    per_vkm_after = edges["co2_kg_day_after"].to_numpy()[inside] / edges["vkm_after"].to_numpy()[inside]
    per_vkm_before = edges["co2_kg_day_before"].to_numpy()[inside] / edges["vkm_before"].to_numpy()[inside]
    assert (per_vkm_after > 1.1 * per_vkm_before).all()


def test_street_space_from_tags_and_class_defaults(case, grid3):
    a, edges, summary = case
    internal = (edges["role"] == "internal").to_numpy()
    key = street_key(edges)
    first = ~pd.Series(key).duplicated().to_numpy()
    n_streets = int((internal & first).sum())
    assert n_streets == 12
    # no tags: residential class default 6 m, minus the 3 m access lane that stays
    assert (edges.loc[internal, "width_source"] == "class_default").all()
    assert summary["carriageway_area_freed_m2"].iloc[0] == pytest.approx(n_streets * BLOCK * (6.0 - 3.0))
    assert summary["width_sources"].iloc[0] == "class_default: 12"
    assert edges.loc[~internal, "area_freed_m2"].sum() == 0
    # one internal way tagged lanes=1 (3 m): nothing freed there; another width=9 m: 6 m freed
    ways = edges.loc[internal, "way_id"].unique()
    tags = pd.DataFrame({"way_id": [ways[0], ways[1]], "lanes": ["1", None], "width": [None, "9 m"]})
    tagged, s2 = effects(a, way_tags=tags)
    on = {w: internal & first & (edges["way_id"].to_numpy() == w) for w in ways[:2]}
    rest = internal & first & ~on[ways[0]] & ~on[ways[1]]
    expect = on[ways[1]].sum() * BLOCK * 6.0 + rest.sum() * BLOCK * 3.0
    assert s2["carriageway_area_freed_m2"].iloc[0] == pytest.approx(expect)
    assert set(tagged.loc[on[ways[0]], "width_source"]) == {"lanes"}
    assert set(tagged.loc[on[ways[1]], "width_source"]) == {"width"}
    assert (
        s2["width_sources"].iloc[0]
        == f"class_default: {rest.sum()}, lanes: {on[ways[0]].sum()}, width: {on[ways[1]].sum()}"
    )
    # a wider access lane frees less
    _, s3 = effects(a, access_lane_m=5.0)
    assert s3["carriageway_area_freed_m2"].iloc[0] == pytest.approx(n_streets * BLOCK * 1.0)


def hand_residents(edges, per_node: float = 2.0) -> pd.Series:
    """Residents per street key: every node splits its residents equally over the streets meeting there."""
    key = street_key(edges)
    streets = pd.DataFrame({"key": key, "u": edges["u"].to_numpy(), "v": edges["v"].to_numpy()}).drop_duplicates("key")
    ends = pd.concat(
        [streets[["key", "u"]].rename(columns={"u": "node"}), streets[["key", "v"]].rename(columns={"v": "node"})]
    )
    degree = ends.groupby("node")["key"].transform("count")
    return (per_node / degree).groupby(ends["key"].to_numpy()).sum()


def test_residents_on_their_nearest_street_and_exposure_bands(case, grid3):
    a, edges, summary = case
    key = street_key(edges)
    hand = hand_residents(edges)
    got = pd.Series(edges["residents"].to_numpy()).groupby(key).sum()
    pd.testing.assert_series_equal(got.sort_index(), hand.sort_index(), check_names=False, rtol=1e-9)
    assert got.sum() == pytest.approx(2.0 * 16)
    # inside the cell: the 4 inner nodes (2 each) and a third of each of the 8 ring nodes' residents
    assert edges.loc[edges["role"] == "internal", "residents"].sum() == pytest.approx(8 + 8 * 2 / 3)
    table = exposure_table(edges)
    bands = table[table["kind"] == "lden_band"]
    for g, total in bands.groupby("group")[["residents_before", "residents_after"]].sum().iterrows():
        role = {"all": None, "inside": "internal", "perimeter": "perimeter", "elsewhere": "other"}[g]
        expect = edges["residents"].sum() if role is None else edges.loc[edges["role"] == role, "residents"].sum()
        assert total["residents_before"] == pytest.approx(expect) and total["residents_after"] == pytest.approx(expect)
    # residents per band by hand: each street's residents at its Lden
    streets = pd.DataFrame({"key": key, "lb": edges["lden_before_db"], "d": edges["d_lden_db"]}).drop_duplicates("key")
    streets["res"] = hand.reindex(streets["key"]).to_numpy()
    lo = streets["lb"] < 55
    assert summary["residents_lden_50_54_before"].iloc[0] + summary["residents_lden_lt40_before"].iloc[0] + summary[
        "residents_lden_40_44_before"
    ].iloc[0] + summary["residents_lden_45_49_before"].iloc[0] == pytest.approx(streets.loc[lo, "res"].sum())
    # louder / quieter by 1 dB, counted by hand
    s = summary.iloc[0]
    assert s["residents_louder_1db"] == pytest.approx(streets.loc[streets["d"] >= 1, "res"].sum())
    assert s["residents_quieter_1db"] == pytest.approx(streets.loc[streets["d"] <= -1, "res"].sum())
    assert s["residents_louder_1db"] > 0 and s["residents_quieter_1db"] > 0
    role = pd.Series(edges["role"].to_numpy()).groupby(key).first()
    streets["role"] = role.reindex(streets["key"]).to_numpy()
    assert s["residents_louder_1db_perimeter"] == pytest.approx(
        streets.loc[(streets["d"] >= 1) & (streets["role"] == "perimeter"), "res"].sum()
    )
    assert s["residents_quieter_1db_inside"] == pytest.approx(
        streets.loc[(streets["d"] <= -1) & (streets["role"] == "internal"), "res"].sum()
    )
    assert s["residents_louder_1db_inside"] == 0


def test_deprivation_quintiles(case, grid3):
    a, edges, _ = case
    x0, x1 = grid3.nodes["x"].min(), grid3.nodes["x"].max()
    y0, y1 = grid3.nodes["y"].min(), grid3.nodes["y"].max()
    mid = (x0 + x1) / 2
    polys = gpd.GeoDataFrame(
        {"imd": [1.0, 2.0]},
        geometry=[shapely.box(x0 - 50, y0 - 50, mid, y1 + 50), shapely.box(mid, y0 - 50, x1 + 50, y1 + 50)],
        crs=grid3.crs,
    ).to_crs("EPSG:4326")
    out, _ = effects(a, population=pd.Series(2.0, index=grid3.nodes.index), deprivation=polys, deprivation_column="imd")
    xm = shapely.line_interpolate_point(out.geometry.to_numpy(), 0.5, normalized=True)
    west = shapely.get_x(xm) < mid - 1
    assert (out.loc[west, "deprivation"] == 1.0).all() and (
        out.loc[shapely.get_x(xm) > mid + 1, "deprivation"] == 2.0
    ).all()
    table = exposure_table(out)
    change = table[table["kind"] == "change"].set_index("group")
    quint = change.loc[[g for g in change.index if g.startswith("q") or g == "unknown"]]
    assert quint["residents"].sum() == pytest.approx(change.loc["all", "residents"])
    assert quint["louder"].sum() == pytest.approx(change.loc["all", "louder"])
    with pytest.raises(InvalidOptionError, match="deprivation_column"):
        effects(a, deprivation=polys)


def test_simple_model_keeps_working_and_old_options_warn(case):
    a, _, _ = case
    simple, s_simple = effects(a, model="simple")
    with pytest.warns(DeprecationWarning, match="model='simple'"):
        old, s_old = effects(a, noise_floor_veh_day=100.0)
    pd.testing.assert_frame_equal(s_old, s_simple)
    pd.testing.assert_frame_equal(
        pd.DataFrame(old.drop(columns="geometry")), pd.DataFrame(simple.drop(columns="geometry"))
    )
    with pytest.warns(DeprecationWarning):
        _, s_co2 = effects(a, co2_kg_per_vkm=0.2)
    assert s_co2["co2_kg_day_before"].iloc[0] == pytest.approx(0.2 * s_co2["vkm_before"].iloc[0])
    with pytest.raises(InvalidOptionError, match="model='simple'"):
        effects(a, model="cnossos", nox_g_per_vkm=0.3)
    with pytest.raises(InvalidOptionError, match="model"):
        effects(a, model="loud")


def test_congested_speeds_of_an_equilibrium_assignment_are_used(case):
    a, edges, _ = case
    fl = a.flows.copy()
    fl["congested_speed_before_kmh"] = 15.0
    fl["congested_speed_after_kmh"] = 12.0
    out, s = effects(dataclasses.replace(a, flows=fl))
    assert s["speed_source"].iloc[0].startswith("congested")
    assert (out["emission_speed_before_kmh"] == 15.0).all() and (out["emission_speed_after_kmh"] == 12.0).all()
    q = out["flow_before"].to_numpy()
    ef = em.fleet_emission_factors(15.0, fleet="EU", pollutants=("CO2",)).co2_g_per_vkm.iloc[0]
    hv = em.fleet_emission_factors(15.0, fleet="HDV", pollutants=("CO2",)).co2_g_per_vkm.iloc[0]
    np.testing.assert_allclose(out["co2_kg_day_before"], q * out["length_m"] / 1000 * (0.9 * ef + 0.1 * hv) / 1000)
    # noise takes speeds below 20 km/h at the CNOSSOS-EU floor
    np.testing.assert_allclose(out["lden_before_db"], nm.street_noise(out["street_flow_before"], 20.0).l_den)


def test_run_scenario_outputs(tmp_path):
    net = uk.build_network(grid_extract(6, 6), "drive", cache=False)
    pop = pd.Series(5.0, index=net.nodes.index)
    sc = run_scenario(net, population=pop, h3_resolution=None, n_trips=5_000, n_jobs=1)
    s = sc.summary().iloc[0]
    assert s["noise_caveat"] == CNOSSOS_CAVEAT
    bands = [c for c in sc.summary().columns if c.startswith("residents_lden_") and c.endswith("_before")]
    assert len(bands) == 9 and sum(s[c] for c in bands) == pytest.approx(5.0 * len(net.nodes))
    assert sc.exposure is not None and set(sc.exposure["kind"]) == {"lden_band", "change"}
    out = sc.to_gpkg(tmp_path / "sc.gpkg", exposure_layer=True)
    assert "exposure" in {n for n, _ in pyogrio.list_layers(out)}
    exp = pyogrio.read_dataframe(out, layer="exposure")
    assert len(exp) == len(sc.exposure)
    e = gpd.read_file(out, layer="edges")
    assert {"lden_before_db", "lden_after_db", "d_lden_db", "co2_kg_day_before", "width_source", "residents"} <= set(
        e.columns
    )
    sb = gpd.read_file(out, layer="superblocks")
    assert sb["carriageway_area_freed_m2"].sum() == pytest.approx(s["carriageway_area_freed_m2"])
    assert (sb["width_sources"].str.startswith("class_default")).all()
    # the simple model through effects_kwargs: no exposure table, old columns
    simple = run_scenario(
        net, population=pop, h3_resolution=None, n_trips=5_000, n_jobs=1, effects_kwargs={"model": "simple"}
    )
    assert simple.exposure is None and "d_noise_flow_db" in simple.edges.columns


def test_street_levels_sum_each_direction_at_its_own_speed():
    """Under congestion the two directions of a street run at different speeds: the street's level is
    the energy sum of each direction's CNOSSOS line emission at its flow and speed, plus the
    background once, on both rows; at equal speeds it is the emission of the summed flow."""
    from urbankit.environment import noise
    from urbankit.superblocks.effects import _street_levels

    flow = np.array([6000.0, 2000.0, 3000.0, 0.0])
    speed = np.array([45.0, 15.0, 30.0, 30.0])
    street = np.array([0, 0, 1, 2])  # a two-way street, a one-way street, an empty one
    kw = {"fleet_mix": "EU", "period_shares": None, "background_db": None, "reference_distance_m": 10.0}
    got = _street_levels(flow, speed, street, kw)
    spreading = 10 * np.log10(np.pi * 10.0)
    for period, hours in noise.DAY_EVENING_NIGHT_HOURS.items():
        share = noise.PERIOD_SHARES[period]
        each = [10 ** ((noise.line_emission_db(share * q / hours, v) - spreading) / 10) if q > 0 else 0.0
                for q, v in zip(flow, speed)]
        bg = 10 ** (noise.BACKGROUND_DB[period] / 10)
        expected = 10 * np.log10(np.array([each[0] + each[1] + bg, each[0] + each[1] + bg, each[2] + bg, bg]))
        np.testing.assert_allclose(getattr(got, f"l_{period}"), expected, rtol=1e-12)
    same = _street_levels(flow[:2], np.array([30.0, 30.0]), np.array([0, 0]), kw)
    summed = noise.street_noise(np.array([8000.0]), np.array([30.0]))
    np.testing.assert_allclose(same.l_den, np.repeat(summed.l_den, 2), rtol=1e-12)
