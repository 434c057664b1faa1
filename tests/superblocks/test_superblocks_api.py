"""The superblocks package API after the restructure (#11): explicit parallelism, renamed keywords,
Scenario as a dataclass with ``summary()`` and ``to_gpkg``."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pandas as pd
import pyogrio
import pytest

import urbankit as uk
from urbankit.mock import grid_extract
from urbankit.superblocks import Scenario, assign, gravity_demand, run_scenario


@pytest.fixture(scope="module")
def grid6():
    return uk.build_network(grid_extract(6, 6), "drive", cache=False)


def _pop(network):
    return pd.Series((np.arange(len(network.nodes)) % 5).astype(float), index=network.nodes.index)


def test_n_jobs_defaults_to_one():
    for f in (assign, gravity_demand, run_scenario, uk.superblocks.superblocks_scenario):
        assert inspect.signature(f).parameters["n_jobs"].default == 1, f.__name__


def test_n_jobs_two_gives_identical_results(monkeypatch):
    import numba

    grid = uk.build_network(grid_extract(12, 12), "drive", cache=False)
    one = run_scenario(grid, population=_pop(grid), h3_resolution=None, n_trips=5_000, n_jobs=1)
    counts = []
    real = numba.set_num_threads
    monkeypatch.setattr(numba, "set_num_threads", lambda k: counts.append(k) or real(k))
    two = run_scenario(grid, population=_pop(grid), h3_resolution=None, n_trips=5_000, n_jobs=2)
    if numba.config.NUMBA_NUM_THREADS >= 2:
        assert 2 in counts  # the parallel path really ran on two threads
    pd.testing.assert_frame_equal(one.od, two.od)
    pd.testing.assert_frame_equal(
        pd.DataFrame(one.edges.drop(columns="geometry")), pd.DataFrame(two.edges.drop(columns="geometry"))
    )
    pd.testing.assert_frame_equal(one.summary(), two.summary())


def test_assignment_keeps_no_module_state():
    import importlib

    mod = importlib.import_module("urbankit.superblocks.assign")

    assert not hasattr(mod, "_STATE")
    assert not hasattr(mod, "_WORKER_PASS")  # no process pool: compiled threads share the pass


def test_zones_resolution_warns_and_gives_the_same_demand(grid6):
    new = gravity_demand(grid6, _pop(grid6), h3_resolution=None, n_trips=1_000, n_jobs=1)
    with pytest.warns(DeprecationWarning, match="h3_resolution"):
        old = gravity_demand(grid6, _pop(grid6), zones_resolution=None, n_trips=1_000, n_jobs=1)
    pd.testing.assert_frame_equal(new, old)


def test_run_scenario_zones_resolution_warns(grid6):
    with pytest.warns(DeprecationWarning, match="h3_resolution"):
        old = run_scenario(grid6, population=_pop(grid6), zones_resolution=None, n_trips=1_000)
    new = run_scenario(grid6, population=_pop(grid6), h3_resolution=None, n_trips=1_000)
    pd.testing.assert_frame_equal(old.summary(), new.summary())


def test_scenario_is_a_dataclass_with_summary_method_and_to_gpkg(grid6, tmp_path):
    names = {f.name for f in dataclasses.fields(Scenario)}
    assert {"summary_table", "input_files"} <= names and "summary" not in names
    assert "to_gpkg" in Scenario.__dict__  # defined in the class body
    s = run_scenario(grid6, population=_pop(grid6), h3_resolution=None, n_trips=1_000)
    table = s.summary()
    assert isinstance(table, pd.DataFrame) and len(table) == 1
    table["trips"] = -1.0  # a copy: the scenario is unchanged
    assert s.summary()["trips"].iloc[0] > 0
    out = s.to_gpkg(tmp_path / "sc.gpkg")
    assert sorted(n for n, _ in pyogrio.list_layers(out)) == ["edges", "metadata", "summary", "superblocks"]
    meta = dict(pyogrio.read_dataframe(out, layer="metadata")[["key", "value"]].to_numpy())
    assert meta["crs"] == "EPSG:4326" and int(meta["candidates"]) == len(s.superblocks)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sc.gpkg"]  # no temporary left behind


def test_h3_cells_matches_h3_point_by_point():
    h3 = pytest.importorskip("h3")
    from urbankit.superblocks.demand import h3_cells

    lon = np.array([2.17, 2.18, -0.1276, 8.54])
    lat = np.array([41.39, 41.40, 51.5072, 47.37])
    got = h3_cells(lon, lat, 9)
    assert list(got) == [h3.latlng_to_cell(la, lo, 9) for la, lo in zip(lat, lon)]


def test_scenario_gpkg_edges_one_row_per_street(grid6, tmp_path):
    """#16: the edges layer holds one row per street, the flows per direction on it (and their
    total), the emissions summed; counted and summed independently from the directed edges."""
    import json

    import geopandas as gpd

    s = run_scenario(grid6, population=_pop(grid6), h3_resolution=None, n_trips=1_000)
    out = s.to_gpkg(tmp_path / "sc.gpkg")
    layer = gpd.read_file(out, layer="edges")
    e = s.edges
    streets = {(min(u, v), max(u, v)) for u, v in zip(e["u"], e["v"])}
    assert len(layer) == len(streets) < len(e)  # the grid's streets are all two-way
    assert layer["both_directions"].all()
    directed = e.set_index(["u", "v"])
    for row in layer.itertuples():
        fwd, bwd = directed.loc[(row.u, row.v)], directed.loc[(row.v, row.u)]
        for c in ("flow_before", "flow_after", "flow_change"):
            assert getattr(row, f"{c}_forward") == pytest.approx(fwd[c])
            assert getattr(row, f"{c}_backward") == pytest.approx(bwd[c])
            assert getattr(row, c) == pytest.approx(fwd[c] + bwd[c])
        assert row.co2_kg_day_before == pytest.approx(fwd["co2_kg_day_before"] + bwd["co2_kg_day_before"])
        assert row.d_noise_db == pytest.approx(fwd["d_noise_db"]) == pytest.approx(bwd["d_noise_db"])
    # street totals are kept: residents and freed area of the streets add up as on the directed edges
    assert layer["residents"].sum() == pytest.approx(e["residents"].sum())
    assert layer["co2_kg_day_after"].sum() == pytest.approx(e["co2_kg_day_after"].sum())
    meta = dict(pyogrio.read_dataframe(out, layer="metadata")[["key", "value"]].to_numpy())
    notes = json.loads(meta["column:edges.flow_before_backward"])
    assert notes["unit"] == "vehicles/day" and "v->u" in notes["meaning"]
    assert "column:edges.both_directions" in meta
