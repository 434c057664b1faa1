"""Elastic traffic evaporation (``evaporation="elastic"``), checked by hand.

A trip whose time rises from ``t0`` to ``t1`` keeps ``(t1 / t0) ** e`` of its trips, with the
elasticity of traffic with respect to travel time ``e`` (Goodwin 1996: -0.5 short term). The
expectations below are written out from the lattice of the 3 x 3-block mock city (113 m blocks,
arterial ring at 50 km/h, residential cross streets at 30 km/h, 10 km/h inside a superblock after),
never copied from urbankit output.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

import urbankit as uk
from urbankit import InvalidOptionError
from urbankit.mock import grid_extract
from urbankit.superblocks import (
    EVAPORATION_ELASTIC,
    TIME_ELASTICITY,
    TIME_ELASTICITY_LONG_RUN,
    assign,
    find_superblocks,
    run_scenario,
    superblocks_scenario,
)

BLOCK_M = 113.0


def step_min(kmh: float) -> float:
    """Minutes to drive one block at ``kmh``, rounded to urbankit's 0.001-min steps."""
    return round(BLOCK_M / (kmh * 1000.0 / 60.0), 3)


@pytest.fixture(scope="module")
def grid3():
    return uk.build_network(grid_extract(3, 3), "drive", cache=False)


@pytest.fixture(scope="module")
def case(grid3):
    sb = find_superblocks(grid3)
    node = {(i, j): 1 + j * 4 + i for i in range(4) for j in range(4)}
    od = pd.DataFrame(
        {
            "origin": [node[0, 1], node[1, 1], node[0, 0]],
            "destination": [node[3, 1], node[3, 3], node[3, 3]],
            "trips": [100.0, 10.0, 1.0],
        }
    )
    res, art, slow = step_min(30), step_min(50), step_min(10)
    # trip 0 (ring to ring along residential row 1): 3 residential blocks before, 5 ring blocks after
    # trip 1 (inside -> corner): 2 residential + 2 ring before; 1 internal block at 10 km/h + 5 ring after
    # trip 2 (corner to corner on the ring): 6 ring blocks, unchanged
    t0 = np.array([3 * res, 2 * res + 2 * art, 6 * art])
    t1 = np.array([5 * art, slow + 5 * art, 6 * art])
    dist_after_m = np.array([5, 6, 6]) * BLOCK_M
    return sb, od, t0, t1, dist_after_m


def test_elastic_reduction_of_each_trip_by_hand(grid3, case):
    sb, od, t0, t1, dist_after_m = case
    a = assign(grid3, od, superblocks=sb, evaporation="elastic", n_jobs=1)
    r = a.od
    assert r["time_before_min"].to_numpy() == pytest.approx(t0)
    assert r["time_after_min"].to_numpy() == pytest.approx(t1)
    trips = od["trips"].to_numpy()
    # constant elasticity -0.5 (Goodwin 1996, short term) on the ratio of times; trip 2 is unaffected
    kept = trips * np.array([(t1[0] / t0[0]) ** -0.5, (t1[1] / t0[1]) ** -0.5, 1.0])
    assert r["trips_after"].to_numpy() == pytest.approx(kept, rel=1e-12)
    assert r["trips_evaporated"].to_numpy() == pytest.approx(trips - kept, rel=1e-9, abs=1e-12)
    assert r["trips_mode_shift"].sum() == 0.0
    s = a.summary().iloc[0]
    assert s["vkm_after"] == pytest.approx(float(kept @ dist_after_m) / 1000.0, rel=1e-9)
    assert a.params["evaporation_method"] == "elastic" and a.params["time_elasticity"] == -0.5
    # the share of the affected trips (0 and 1) that evaporated
    assert a.params["evaporation"] == pytest.approx((trips - kept)[:2].sum() / trips[:2].sum(), rel=1e-12)
    # a long detour loses more of its trips than a short one
    assert r["trips_after"].iloc[1] / 10.0 < r["trips_after"].iloc[0] / 100.0


def test_long_run_elasticity_mode_shift_and_zero(grid3, case):
    sb, od, t0, t1, _ = case
    trips = od["trips"].to_numpy()
    long = assign(grid3, od, superblocks=sb, evaporation="elastic", time_elasticity=TIME_ELASTICITY_LONG_RUN)
    assert TIME_ELASTICITY_LONG_RUN == -1.0 and TIME_ELASTICITY == -0.5
    assert long.od["trips_after"].to_numpy() == pytest.approx(trips * np.r_[t0[:2] / t1[:2], 1.0], rel=1e-12)
    # a mode shift of 0.2 of the affected trips comes on top of the elastic evaporation
    m = assign(grid3, od, superblocks=sb, evaporation="elastic", mode_shift=0.2)
    expect = trips * np.r_[(t1[:2] / t0[:2]) ** -0.5 - 0.2, 1.0]
    assert m.od["trips_after"].to_numpy() == pytest.approx(expect, rel=1e-12)
    assert m.od["trips_mode_shift"].to_numpy() == pytest.approx([20.0, 2.0, 0.0])
    # elasticity 0: nobody responds, the same flows as no evaporation
    zero = assign(grid3, od, superblocks=sb, evaporation="elastic", time_elasticity=0.0)
    none = assign(grid3, od, superblocks=sb, evaporation=0.0)
    assert zero.flows["flow_after"].to_numpy() == pytest.approx(none.flows["flow_after"].to_numpy(), rel=1e-12)


def test_elastic_options_are_checked(grid3, case):
    sb, od, _, _, _ = case
    with pytest.raises(InvalidOptionError, match="elastic"):
        assign(grid3, od, superblocks=sb, evaporation="flat")
    with pytest.raises(InvalidOptionError, match="time_elasticity"):
        assign(grid3, od, superblocks=sb, evaporation="elastic", time_elasticity=0.5)
    with pytest.raises(InvalidOptionError, match="time_elasticity"):
        run_scenario(grid3, od=od, superblocks=sb, evaporation="elastic", time_elasticity=float("nan"))


def test_scenario_reports_the_elastic_share_and_the_sensitivity_case():
    net = uk.build_network(grid_extract(6, 6), "drive", cache=False)
    el = run_scenario(net, demand="open", evaporation="elastic", h3_resolution=None)
    zero = run_scenario(net, demand="open", evaporation=0.0, h3_resolution=None)
    s, s0 = el.summary().iloc[0], zero.summary().iloc[0]
    assert s.evaporation_method == "elastic" and s.time_elasticity == -0.5
    assert s0.evaporation_method == "flat" and np.isnan(s0.time_elasticity)
    od = el.od
    shifted = od["affected"] & ~od["unroutable_after"]
    assert s.evaporation == pytest.approx(od["trips_evaporated"].sum() / od.loc[shifted, "trips"].sum())
    # each affected trip keeps (t1 / t0) ** -0.5 of its trips, computed here from the trip times
    ratio = (od["time_after_min"] / od["time_before_min"]).where(shifted, 1.0).to_numpy()
    assert od["trips_after"].to_numpy() == pytest.approx(od["trips"].to_numpy() * ratio**-0.5, rel=1e-6)
    assert s.vkm_after < s0.vkm_after
    assert s.vkm_after_no_evaporation == pytest.approx(s0.vkm_after, rel=1e-12)


def test_superblocks_scenario_default_is_elastic():
    p = inspect.signature(superblocks_scenario).parameters
    assert p["evaporation"].default == EVAPORATION_ELASTIC == "elastic"
    assert p["time_elasticity"].default == TIME_ELASTICITY


def _barcelona_default():
    """The default scenario on the Eixample extract and its per-edge output."""
    sc = superblocks_scenario("barcelona", metrics=False)
    e = sc.edges
    return sc, e, e["length_m"].to_numpy(float) / 1000.0


def _median_internal_d_lden(e: pd.DataFrame, km: np.ndarray, column: str = "d_lden_db") -> float:
    """Length-weighted median Lden change of the internal streets, one row per street segment (both
    directions share its level), recomputed from the per-edge output."""
    from urbankit._stats import weighted_quantile

    internal = (e["role"] == "internal").to_numpy()
    seg = e.loc[internal, ["u", "v"]].to_numpy()
    first = ~pd.Series([tuple(sorted(p)) for p in seg.tolist()]).duplicated().to_numpy()
    d = e.loc[internal, column].to_numpy()[first]
    return float(weighted_quantile(d, km[internal][first], 0.5, nan="omit")[0])


@pytest.mark.slow
@pytest.mark.requires_dataset("barcelona")
def test_barcelona_vehicle_km_band_under_the_default():
    """Issues #14 and #15 on the Eixample extract, default scenario (open demand with one gate per road
    crossing, user equilibrium with BPR delays, elastic evaporation at Goodwin's -0.5 on the
    equilibrium's travel times); nothing here is fitted to Barcelona. The total vehicle-km change,
    recomputed here from the per-edge flows, equals the summary's and lies in the issue's -15 %..+5 %
    band (measured -2.6 %; +5.0 % all-or-nothing), and the perimeter streets gain +10 to +30 %, as
    measured around Sant Antoni (measured +19 %; +15 % all-or-nothing)."""
    sc, e, km = _barcelona_default()
    vkm_b = float(e["flow_before"].to_numpy(float) @ km)
    vkm_a = float(e["flow_after"].to_numpy(float) @ km)
    s = sc.summary().iloc[0]
    change = vkm_a / vkm_b - 1.0
    assert s.vkm_after / s.vkm_before - 1.0 == pytest.approx(change, rel=1e-9)
    assert -0.15 <= change <= 0.05
    perimeter = (e["role"] == "perimeter").to_numpy()
    vkm_perimeter = [float(e.loc[perimeter, f"flow_{when}"] @ km[perimeter]) for when in ("before", "after")]
    assert vkm_perimeter[0] == pytest.approx(s.vkm_perimeter_before, rel=1e-9)
    assert 0.10 <= vkm_perimeter[1] / vkm_perimeter[0] - 1.0 <= 0.30
    # the equilibrium's elastic demand converged; vehicle-km without evaporation are not additive there
    assert s.assignment == "equilibrium" and s.evaporation_method == "elastic"
    assert s.trips_evaporated > 0 and s.demand_gap < 1e-3 and np.isnan(s.vkm_after_no_evaporation)
    assert s.speed_source.startswith("congested")
    # the elastic share is of the trips slower at equilibrium (more than those slower at free flow)
    assert s.trips_evaporated == pytest.approx(s.evaporation * s.trips_slower_congested, rel=1e-9)
    assert s.trips_slower_congested > s.trips_affected
    # internal streets lose most of their traffic; the noise model follows them down
    internal = (e["role"] == "internal").to_numpy()
    vkm_internal = [float(e.loc[internal, f"flow_{when}"] @ km[internal]) for when in ("before", "after")]
    assert vkm_internal[1] < 0.4 * vkm_internal[0]
    assert _median_internal_d_lden(e, km) < -1.0


@pytest.mark.slow
@pytest.mark.requires_dataset("barcelona")
def test_barcelona_noise_band_under_the_default():
    """Issue #15: median internal-street Lden change between -8 and -3 dB (Sant Antoni measured -4.1 by
    day, -5.3 evening, -5.4 night). Measured -4.7 dB under the default equilibrium (-4.1 without any
    evaporation); all-or-nothing gives only -2.1 dB, because it leaves half of the internal street
    length nearly empty before (next to a faster street), already at the residual background."""
    sc, e, km = _barcelona_default()
    assert -8.0 <= _median_internal_d_lden(e, km) <= -3.0
    # the medians by period the report places beside Sant Antoni are those of the per-edge output
    s = sc.summary().iloc[0]
    assert s.median_d_lden_internal_db == pytest.approx(_median_internal_d_lden(e, km), abs=1e-12)
    for period in ("day", "evening", "night"):
        expected = _median_internal_d_lden(e, km, f"d_l_{period}_db")
        assert s[f"median_d_l_{period}_internal_db"] == pytest.approx(expected, abs=1e-12)


def test_report_states_the_elastic_method():
    from types import SimpleNamespace

    from urbankit.reporting.superblocks import superblocks_header

    summary = pd.DataFrame(
        {
            "n_superblocks": [1],
            "trips": [100.0],
            "trips_affected": [40.0],
            "vkm_before": [50.0],
            "vkm_after": [49.0],
            "median_detour": [1.3],
            "street_area_freed_m2": [1000.0],
            "residents_inside": [200.0],
            "source": ["grid.osm"],
            "evaporation_source": ["Goodwin (1996), -0.5"],
        }
    )
    params = {"internal_speed_kmh": 10.0, "evaporation": 0.15, "evaporation_method": "elastic", "time_elasticity": -0.5}
    scenario = SimpleNamespace(
        summary_table=summary,
        superblocks=pd.DataFrame({"superblock_id": [0]}),
        population_description="residents: 200",
        assignment=SimpleNamespace(params=params),
    )
    rows = dict(superblocks_header(scenario).provenance[["item", "value"]].to_numpy())
    assert rows["Evaporation"] == "0.15"
    assert rows["Evaporation method"].startswith("elastic") and "^-0.5" in rows["Evaporation method"]
    assert "Goodwin (1996)" in rows["Evaporation method"]


def test_cli_evaporation_option():
    from urbankit.cli import _parser

    parse = _parser().parse_args
    assert parse(["superblocks", "x.osm", "--evaporation", "elastic", "--out", "o.gpkg"]).evaporation == "elastic"
    assert parse(["superblocks", "x.osm", "--evaporation", "0.11", "--out", "o.gpkg"]).evaporation == 0.11
    assert parse(["superblocks", "x.osm", "--out", "o.gpkg"]).evaporation is None  # the scenario's default
    with pytest.raises(SystemExit):
        parse(["superblocks", "x.osm", "--evaporation", "abc", "--out", "o.gpkg"])


@pytest.mark.parametrize("assignment", ["equilibrium", "aon"])
def test_report_states_the_assignment(assignment):
    from types import SimpleNamespace

    from urbankit.reporting.superblocks import superblocks_header

    summary = pd.DataFrame({"n_superblocks": [1], "trips": [100.0], "trips_affected": [40.0], "vkm_before": [50.0],
                            "vkm_after": [49.0], "median_detour": [1.3], "street_area_freed_m2": [1000.0],
                            "residents_inside": [200.0], "source": ["grid.osm"], "assignment": [assignment],
                            "rel_gap_before": [5e-5], "rel_gap_after": [8e-5],
                            "evaporation_source": ["Goodwin (1996), -0.5"]})
    params = {"evaporation": 0.15, "evaporation_method": "elastic", "time_elasticity": -0.5}
    scenario = SimpleNamespace(summary_table=summary, superblocks=pd.DataFrame({"superblock_id": [0]}),
                               population_description="residents: 200", assignment=SimpleNamespace(params=params))
    rows = dict(superblocks_header(scenario).provenance[["item", "value"]].to_numpy())
    if assignment == "equilibrium":
        assert rows["Assignment"].startswith("user equilibrium") and "relative gap 8.0e-05" in rows["Assignment"]
        assert "(10% of the day's trips)" in rows["Assignment"]
        assert rows["Evaporation method"].endswith("times of the equilibrium, trips after its fixed point")
    else:
        assert rows["Assignment"] == "all-or-nothing at free-flow times"
        assert "fixed point" not in rows["Evaporation method"]


def test_measured_table_places_the_model_beside_sant_antoni():
    """Internal-street traffic change and the median noise change per period from the summary (the
    medians are checked against an independent computation on Barcelona below), beside Sant Antoni."""
    from types import SimpleNamespace

    from urbankit.reporting.superblocks import measured_table

    summary = pd.DataFrame({"vkm_internal_before": [200.0], "vkm_internal_after": [30.0], "internal_length_km": [0.45],
                            "median_d_l_day_internal_db": [-2.0], "median_d_l_evening_internal_db": [-3.0],
                            "median_d_l_night_internal_db": [-4.0]})
    table = measured_table(SimpleNamespace(summary_table=summary))
    raw = table.raw
    assert raw.loc["Traffic on internal streets (vehicle-km, %)", "This scenario"] == pytest.approx(-85.0)
    assert raw.loc["Traffic on internal streets (vehicle-km, %)", "Measured at Sant Antoni"] == -82.0
    assert raw.loc["Noise on internal streets, day (median, dB)", "This scenario"] == -2.0
    assert raw.loc["Noise on internal streets, night (median, dB)", "Measured at Sant Antoni"] == -5.4
    assert table.frame.loc["Noise on internal streets, evening (median, dB)", "This scenario"] == "-3.0"
    assert measured_table(SimpleNamespace(summary_table=summary.assign(internal_length_km=0.0))) is None
