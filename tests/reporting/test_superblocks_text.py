"""The superblocks report's exposure and health tables: the numbers of the scenario, formatted, with
the estimate's label and sources in the caption; absent (None) when the simple model has no exposure."""

from __future__ import annotations

import pandas as pd
import pytest

import urbankit as uk
from urbankit.mock import grid_extract
from urbankit.reporting.superblocks import exposure_tables, health_table
from urbankit.superblocks import run_scenario


@pytest.fixture(scope="module")
def scenario():
    net = uk.build_network(grid_extract(6, 6), "drive", cache=False)
    pop = pd.Series(5.0, index=net.nodes.index)
    return run_scenario(net, population=pop, h3_resolution=None, n_trips=5_000, n_jobs=1)


def test_exposure_tables_hold_the_scenario_numbers(scenario):
    bands, change = exposure_tables(scenario)
    x = scenario.exposure
    all_bands = x[(x["kind"] == "lden_band") & (x["group"] == "all")]
    # every resident is in one band before and one after: the formatted totals add up to them
    before = sum(int(v.replace(",", "")) for v in bands.frame["Residents before"])
    assert abs(before - all_bands["residents_before"].sum()) <= len(all_bands)  # rounding per row
    assert list(change.frame.index) == ["All residents", "Inside superblocks", "On perimeter streets", "Elsewhere"]
    louder = x[(x["kind"] == "change") & (x["group"] == "all")]["louder"].iloc[0]
    assert change.frame.loc["All residents", "Street 1 dB louder or more"] == f"{louder:,.0f}"
    assert "nan" not in bands.frame.to_string().lower() + change.frame.to_string().lower()


def test_health_table_is_labelled_an_estimate_with_sources(scenario):
    from urbankit.environment import health as hl

    table = health_table(scenario)
    assert table.caption.startswith(hl.ESTIMATE_LABEL) and "van Kempen" in table.caption
    # the NO2 pathway (issue #15 item 5) beside the noise pathway, with its sources in the caption
    no2 = scenario.health.loc["no2", "deaths_avoided_per_year"]
    label = "NO2 (roadside estimate): all-cause mortality"
    assert table.frame.loc[label, "Deaths avoided per year (estimate)"] == f"{no2:.2f}"
    assert "HRAPIE" in table.caption and "INE" in table.caption
    total = scenario.health.loc["total", "deaths_avoided_per_year"]
    assert table.frame.loc["Total", "Deaths avoided per year (estimate)"] == f"{total:.2f}"


def test_simple_model_has_no_exposure_or_health_tables():
    net = uk.build_network(grid_extract(6, 6), "drive", cache=False)
    pop = pd.Series(5.0, index=net.nodes.index)
    sc = run_scenario(net, population=pop, h3_resolution=None, n_trips=2_000, n_jobs=1,
                      effects_kwargs={"model": "simple"})
    assert exposure_tables(sc) is None and health_table(sc) is None
