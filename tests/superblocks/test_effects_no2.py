"""The roadside NO2 ESTIMATE of the superblock effects and its health pathway (issue #15 item 5).

On the mock grid (113 m lattice, a 3 x 3-block cell) the NO2 of every street is rebuilt here by hand from
the NOx of its two directions (SRM1 canyon at 10 m, Duering et al. 2011 conversion over the background);
the deaths avoided from it with the HRAPIE function and the Spanish crude death rate. On Barcelona only
sanity is asserted (finite, the sign follows the change of NO2), never a copied number.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import urbankit as uk
from urbankit.environment import health as hl
from urbankit.mock import grid_extract
from urbankit.superblocks import assign, effects, find_superblocks, superblocks_scenario

logger = logging.getLogger(__name__)


def duering(nox):
    return 29 * nox / (nox + 35) + 0.217 * nox


def background_nox(no2: float) -> float:
    lo, hi = 0.0, 1000.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if duering(mid) < no2 else (lo, mid)
    return lo


def canyon_increment(nox_g_per_km_day):
    # SRM1 canyon at 10 m: 0.62 * E[ug/m/s] * (0.000488*100 - 0.0308*10 + 0.59)
    return 0.62 * np.asarray(nox_g_per_km_day) * 1e6 / 1000 / 86400 * 0.3308


@pytest.fixture(scope="module")
def case():
    net = uk.build_network(grid_extract(3, 3), "drive", cache=False)
    pop = pd.Series(2.0, index=net.nodes.index)
    sb = find_superblocks(net, population=pop)
    nid = lambda i, j: 1 + j * 4 + i  # noqa: E731
    od = pd.DataFrame({"origin": [nid(0, 1), nid(1, 1)], "destination": [nid(3, 1), nid(1, 2)], "trips": [500.0, 40.0]})
    a = assign(net, od, superblocks=sb, n_jobs=1)
    edges, _ = effects(a, population=pop)
    return a, pop, edges


def streets(edges):
    """Rows grouped by street (both directions of the same node pair and way)."""
    key = [f"{min(u, v)}-{max(u, v)}-{w}" for u, v, w in zip(edges["u"], edges["v"], edges["way_id"])]
    return pd.Series(key, index=edges.index)


def test_no2_per_street_by_hand(case):
    _, _, edges = case
    key = streets(edges)
    nox_g_day = {w: edges[f"nox_kg_day_{w}"].groupby(key).transform("sum") * 1000 for w in ("before", "after")}
    per_km = {w: nox_g_day[w] / (edges["length_m"] / 1000) for w in nox_g_day}
    bg = background_nox(30.0)  # the packaged default background of 30 ug/m3
    for w in ("before", "after"):
        inc = canyon_increment(per_km[w])
        np.testing.assert_allclose(edges[f"nox_increment_{w}_ugm3"], inc, rtol=1e-9)
        np.testing.assert_allclose(edges[f"no2_{w}_ugm3"], duering(bg + inc), rtol=1e-9)
    np.testing.assert_allclose(edges["d_no2_ugm3"], edges["no2_after_ugm3"] - edges["no2_before_ugm3"])
    # the two directions of a street carry the same concentration
    assert edges.groupby(key)["no2_before_ugm3"].nunique().max() == 1
    # internal streets lose their through traffic: their NOx increment falls
    internal = (edges["role"] == "internal") & (edges["street_flow_after"] < edges["street_flow_before"])
    assert internal.any() and (edges.loc[internal, "d_no2_ugm3"] < 0).all()


def test_no2_deaths_hand_counted_on_the_mock_grid(case):
    _, _, edges = case
    res = edges["residents"].fillna(0.0).to_numpy()
    # the residents: 2 per node, each on its nearest street (first row of each street only)
    assert res.sum() == pytest.approx(2.0 * 16)
    expected = 0.0
    for cb, ca, p in zip(edges["no2_before_ugm3"], edges["no2_after_ugm3"], res):
        fall = max(cb - 20.0, 0.0) - max(ca - 20.0, 0.0)
        expected += p * 883.0 / 1e5 * (1 - 1.055 ** (-fall / 10))
    t = hl.health_table(edges)
    assert t.loc["no2", "deaths_avoided_per_year"] == pytest.approx(expected, rel=1e-9)
    assert np.isfinite(t.loc["total", "deaths_avoided_per_year"])
    assert "SRM1" in t.loc["no2", "note"]


def test_no2_options_reach_the_model(case):
    a, pop, edges = case
    cleaner, _ = effects(a, population=pop, no2_options={"background_no2_ugm3": 15.0, "street_type": "open"})
    # a road through open land dilutes more than a canyon: smaller increments; a street without
    # traffic sits at the given background
    moving = edges["nox_increment_before_ugm3"] > 0
    assert (cleaner.loc[moving, "nox_increment_before_ugm3"] < edges.loc[moving, "nox_increment_before_ugm3"]).all()
    quiet = cleaner["nox_increment_before_ugm3"] == 0
    if quiet.any():
        np.testing.assert_allclose(cleaner.loc[quiet, "no2_before_ugm3"], 15.0)
    with pytest.raises(uk.InvalidOptionError, match="street_type"):
        effects(a, population=pop, no2_options={"street_type": "tunnel"})


@pytest.mark.slow
@pytest.mark.requires_dataset("barcelona")
def test_barcelona_no2_estimate_is_sane():
    sc = superblocks_scenario("barcelona", metrics=False)
    e = sc.edges
    h = sc.health
    row = h.loc["no2", ["deaths_avoided_per_year", "deaths_avoided_low", "deaths_avoided_high"]].astype(float)
    assert np.isfinite(row.to_numpy()).all()
    assert row["deaths_avoided_low"] <= row["deaths_avoided_per_year"] <= row["deaths_avoided_high"]
    # roadside NO2 stays at or above the background and within a plausible urban range
    assert (e["no2_before_ugm3"] >= 30.0 - 1e-9).all() and (e["no2_before_ugm3"] < 200.0).all()
    res = e["residents"].fillna(0.0).to_numpy()
    per_street = hl.deaths_avoided_no2(e["no2_before_ugm3"], e["no2_after_ugm3"], res)
    # where NO2 falls on residents' streets deaths are avoided (>= 0), where it rises they are added
    falls = e["d_no2_ugm3"].to_numpy() <= 0
    assert (per_street[falls] >= 0).all() and (per_street[~falls] <= 0).all()
    assert per_street[falls & (res > 0)].sum() > 0  # the internal streets lose traffic
    assert h.loc["no2", "deaths_avoided_per_year"] == pytest.approx(per_street.sum())
    logger.info(
        "Barcelona NO2: %.3f deaths avoided per year (%.3f to %.3f); noise %.3f",
        row["deaths_avoided_per_year"],
        row["deaths_avoided_low"],
        row["deaths_avoided_high"],
        h.loc["noise_ihd", "deaths_avoided_per_year"],
    )


def test_summary_states_the_no2_background_and_its_source(case):
    a, pop, edges = case
    _, summary = effects(a, population=pop)
    assert summary["no2_background_ugm3"].iloc[0] == 30.0
    assert summary["no2_background_source"].iloc[0].startswith("ASSUMPTION")
    dirty_edges, dirty = effects(a, population=pop, no2_options={"background_no2_ugm3": 45.0})
    assert dirty["no2_background_ugm3"].iloc[0] == 45.0
    assert dirty["no2_background_source"].iloc[0] == "given by the user (background_no2_ugm3)"
    # a dirtier background: more NO2 everywhere, and a smaller fall where the traffic falls
    assert (dirty_edges["no2_before_ugm3"] > edges["no2_before_ugm3"]).all()
    falls = edges["d_no2_ugm3"] < 0
    assert falls.any() and (dirty_edges.loc[falls, "d_no2_ugm3"] > edges.loc[falls, "d_no2_ugm3"]).all()
    for bad in (-5.0, float("nan")):
        with pytest.raises(uk.InvalidOptionError, match="background_no2_ugm3"):
            effects(a, population=pop, no2_options={"background_no2_ugm3": bad})
