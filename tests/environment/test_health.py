"""The health-impact ESTIMATE (issue #15 item 5): attributable IHD deaths from a change of road-traffic noise.

Expectations are computed by hand here from the published function (WHO 2018 / van Kempen et al. 2018:
RR 1.08 per 10 dB Lden above 53 dB) and a baseline rate, never copied from urbankit's output.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from urbankit._errors import InvalidOptionError
from urbankit.environment import health as hl

# a tiny exposure table: three streets, Lden before/after (dB) and residents on each
BEFORE = [70.0, 60.0, 50.0]
AFTER = [62.0, 58.0, 55.0]
RESIDENTS = [1000.0, 2000.0, 500.0]
RATE = 100.0  # IHD deaths per 100 000 per year, given explicitly
ALL_CAUSE_ES = 883.0  # INE 2019: crude death rate 8.83 per 1000


def no2_deaths_by_hand(before, after, residents, rate, rr=1.055, threshold=20.0):
    """HRAPIE (WHO 2013): all-cause RR 1.055 per 10 ug/m3 above 20 ug/m3; deaths = p rate (1 - RR^-(dNO2/10))."""
    total = 0.0
    for cb, ca, p in zip(before, after, residents):
        d_no2 = max(cb - threshold, 0.0) - max(ca - threshold, 0.0)  # fall above the threshold
        total += p * rate / 100_000 * (1.0 - rr ** (-d_no2 / 10.0))
    return total


def by_hand(before, after, residents, rate, rr=1.08, threshold=53.0):
    total = 0.0
    for lb, la, p in zip(before, after, residents):
        rr_b = math.exp(math.log(rr) * max(lb - threshold, 0.0) / 10.0)
        rr_a = math.exp(math.log(rr) * max(la - threshold, 0.0) / 10.0)
        # deaths before = p * rate; after, the risk scales by rr_a / rr_b
        total += p * rate / 100_000 * (1.0 - rr_a / rr_b)
    return total


def test_attributable_deaths_by_hand():
    # street 1: 17 -> 9 dB above 53; street 2: 7 -> 5 dB; street 3: 0 -> 2 dB above 53 (gets worse)
    s1 = 1000 * 100 / 1e5 * (1 - 1.08 ** (9 / 10) / 1.08 ** (17 / 10))
    s2 = 2000 * 100 / 1e5 * (1 - 1.08 ** (5 / 10) / 1.08 ** (7 / 10))
    s3 = 500 * 100 / 1e5 * (1 - 1.08 ** (2 / 10))
    per_street = hl.deaths_avoided_noise(BEFORE, AFTER, RESIDENTS, baseline_rate_per_100k=RATE)
    np.testing.assert_allclose(per_street, [s1, s2, s3], rtol=1e-12)
    assert s3 < 0  # a street that gets louder above the threshold adds deaths
    t = hl.health_impact(BEFORE, AFTER, RESIDENTS, baseline_rate_per_100k=RATE)
    assert t.loc["noise_ihd", "deaths_avoided_per_year"] == pytest.approx(s1 + s2 + s3, rel=1e-12)
    assert t.loc["noise_ihd", "deaths_avoided_per_year"] == pytest.approx(by_hand(BEFORE, AFTER, RESIDENTS, RATE))
    assert t.loc["total", "deaths_avoided_per_year"] == t.loc["noise_ihd", "deaths_avoided_per_year"]
    # the 95% interval from the relative risk's confidence interval (1.01-1.15)
    lo, hi = (by_hand(BEFORE, AFTER, RESIDENTS, RATE, rr=r) for r in (1.01, 1.15))
    assert t.loc["noise_ihd", "deaths_avoided_low"] == pytest.approx(min(lo, hi))
    assert t.loc["noise_ihd", "deaths_avoided_high"] == pytest.approx(max(lo, hi))
    assert t.loc["noise_ihd", "residents"] == 3500.0
    assert t.loc["noise_ihd", "residents_above_threshold_before"] == 3000.0  # 70 and 60 dB
    assert t.loc["noise_ihd", "residents_above_threshold_after"] == 3500.0  # 62, 58, 55 dB


def test_default_rate_is_the_packaged_spanish_rate_and_eu_differs():
    co = hl.health_coefficients()
    es = co[(co["key"] == "ihd_deaths_per_100k") & (co["region"] == "ES")]["value"].iloc[0]
    eu = co[(co["key"] == "ihd_deaths_per_100k") & (co["region"] == "EU")]["value"].iloc[0]
    assert es == pytest.approx(637 / 10) and eu == pytest.approx(1194 / 10)  # Eurostat, per million -> 100 000
    t_es = hl.health_impact(BEFORE, AFTER, RESIDENTS)
    t_eu = hl.health_impact(BEFORE, AFTER, RESIDENTS, region="EU")
    assert t_es.loc["noise_ihd", "deaths_avoided_per_year"] == pytest.approx(by_hand(BEFORE, AFTER, RESIDENTS, es))
    assert t_eu.loc["noise_ihd", "deaths_avoided_per_year"] == pytest.approx(by_hand(BEFORE, AFTER, RESIDENTS, eu))
    assert "Eurostat" in t_es.loc["noise_ihd", "baseline_source"]
    assert t_es.loc["noise_ihd", "baseline_rate_per_100k"] == es
    with pytest.raises(InvalidOptionError, match="region"):
        hl.health_impact(BEFORE, AFTER, RESIDENTS, region="XX")


def test_zero_change_and_changes_below_the_threshold_give_zero():
    t = hl.health_impact(BEFORE, BEFORE, RESIDENTS)
    assert t.loc["noise_ihd", "deaths_avoided_per_year"] == 0.0
    # 50 -> 40 dB: below 53 dB Lden no risk is counted
    assert hl.deaths_avoided_noise([50.0, 53.0], [40.0, 45.0], [1000.0, 1000.0]).tolist() == [0.0, 0.0]


def test_more_reduction_more_deaths_avoided():
    cuts = [0.0, 1.0, 3.0, 6.0, 10.0]
    deaths = [
        hl.health_impact([68.0, 64.0], [68.0 - c, 64.0 - c], [800.0, 1200.0]).loc["total", "deaths_avoided_per_year"]
        for c in cuts
    ]
    assert deaths[0] == 0.0
    assert all(b > a for a, b in zip(deaths, deaths[1:]))
    # more residents on the same streets, more deaths avoided, in proportion
    one = hl.health_impact([68.0], [63.0], [100.0]).loc["total", "deaths_avoided_per_year"]
    two = hl.health_impact([68.0], [63.0], [200.0]).loc["total", "deaths_avoided_per_year"]
    assert two == pytest.approx(2 * one) and one > 0


def test_estimate_label_caveat_and_no2_reason():
    t = hl.health_impact(BEFORE, AFTER, RESIDENTS)
    assert list(t.index) == ["noise_ihd", "no2", "total"]
    assert (t["label"] == hl.ESTIMATE_LABEL).all() and "ESTIMATE" in hl.ESTIMATE_LABEL
    assert (t["caveat"] == hl.HEALTH_CAVEAT).all()
    for words in ("ESTIMATE", "Mueller", "1.08", "53 dB", "not a forecast"):
        assert words in hl.HEALTH_CAVEAT
    assert np.isnan(t.loc["no2", "deaths_avoided_per_year"])
    assert t.loc["no2", "note"] == hl.NO2_NOT_ESTIMATED and "NO2 not estimated" in hl.NO2_NOT_ESTIMATED


def test_coefficients_have_their_sources():
    co = hl.health_coefficients()
    assert co["source"].str.len().gt(40).all()
    rr = co[co["key"] == "noise_ihd_rr_per_10db"].iloc[0]
    assert (rr["value"], rr["low"], rr["high"]) == (1.08, 1.01, 1.15)
    assert "van Kempen" in rr["source"] and "10.3390/ijerph15020379" in rr["source"]
    thr = co[co["key"] == "noise_threshold_lden_db"].iloc[0]
    assert thr["value"] == 53.0 and "Environmental Noise Guidelines" in thr["source"]
    assert set(hl.REGIONS) == {"ES", "EU"}


def test_relative_risk_function_and_overrides():
    np.testing.assert_allclose(hl.noise_relative_risk([40.0, 53.0, 63.0, 73.0]), [1.0, 1.0, 1.08, 1.08**2])
    np.testing.assert_allclose(hl.noise_relative_risk([65.0], rr_per_10db=1.2, threshold_db=55.0), [1.2])
    t = hl.health_impact(BEFORE, AFTER, RESIDENTS, baseline_rate_per_100k=RATE, rr_per_10db=1.2, threshold_db=55.0)
    expected = by_hand(BEFORE, AFTER, RESIDENTS, RATE, rr=1.2, threshold=55.0)
    assert t.loc["noise_ihd", "deaths_avoided_per_year"] == pytest.approx(expected)
    assert np.isnan(t.loc["noise_ihd", "deaths_avoided_low"])  # no published interval for a user function
    assert t.loc["noise_ihd", "erf_source"] == "user"


def test_bad_inputs_raise_our_errors():
    with pytest.raises(InvalidOptionError, match="same length"):
        hl.health_impact([60.0], [55.0, 50.0], [1.0, 1.0])
    with pytest.raises(InvalidOptionError, match="residents"):
        hl.health_impact([60.0], [55.0], [-1.0])
    with pytest.raises(InvalidOptionError, match="rr_per_10db"):
        hl.health_impact([60.0], [55.0], [1.0], rr_per_10db=0.0)
    with pytest.raises(InvalidOptionError, match="baseline_rate_per_100k"):
        hl.health_impact([60.0], [55.0], [1.0], baseline_rate_per_100k=float("nan"))


def test_health_table_from_effects_edges():
    # residents on the first row of each street, NaN on the second direction (as effects() writes them)
    edges = pd.DataFrame(
        {
            "residents": [1000.0, np.nan, 2000.0, 500.0],
            "lden_before_db": [70.0, 70.0, 60.0, 50.0],
            "lden_after_db": [62.0, 62.0, 58.0, 55.0],
        }
    )
    t = hl.health_table(edges, baseline_rate_per_100k=RATE)
    assert t.loc["total", "deaths_avoided_per_year"] == pytest.approx(by_hand(BEFORE, AFTER, RESIDENTS, RATE))
    assert hl.health_table(edges.assign(residents=np.nan)) is None
    with pytest.raises(InvalidOptionError, match="lack"):
        hl.health_table(edges.drop(columns="lden_after_db"))
    # a street without a level is left out (and logged), not an error
    t2 = hl.health_impact([70.0, np.nan], [62.0, 60.0], [1000.0, 10.0], baseline_rate_per_100k=RATE)
    assert t2.loc["noise_ihd", "deaths_avoided_per_year"] == pytest.approx(by_hand([70.0], [62.0], [1000.0], RATE))


def test_scenario_carries_the_estimate_outside_the_summary():
    import urbankit as uk
    from urbankit.mock import grid_extract
    from urbankit.superblocks import run_scenario

    net = uk.build_network(grid_extract(6, 6), "drive", cache=False)
    pop = pd.Series(5.0, index=net.nodes.index)
    sc = run_scenario(net, population=pop, h3_resolution=None, n_trips=5_000, n_jobs=1)
    assert sc.health is not None and sc.health.loc["total", "label"] == hl.ESTIMATE_LABEL
    e = sc.edges
    res = e["residents"].fillna(0.0).to_numpy()
    rate = hl.health_coefficients().query("key == 'ihd_deaths_per_100k' and region == 'ES'")["value"].iloc[0]
    expected = by_hand(e["lden_before_db"], e["lden_after_db"], res, rate)
    assert sc.health.loc["noise_ihd", "deaths_avoided_per_year"] == pytest.approx(expected)
    # the NO2 pathway beside it (issue #15 item 5), and the total is the sum of the two
    no2 = no2_deaths_by_hand(e["no2_before_ugm3"], e["no2_after_ugm3"], res, ALL_CAUSE_ES)
    assert sc.health.loc["no2", "deaths_avoided_per_year"] == pytest.approx(no2)
    assert sc.health.loc["total", "deaths_avoided_per_year"] == pytest.approx(expected + no2)
    assert sc.health.loc["noise_ihd", "residents"] == pytest.approx(5.0 * len(net.nodes))
    # off by default in the summary (and so in the CLI's summary table)
    assert not any("death" in c or "health" in c for c in sc.summary().columns)


NO2_BEFORE = [45.0, 30.0, 18.0, 25.0]
NO2_AFTER = [35.0, 29.0, 16.0, 27.0]
NO2_RESIDENTS = [1000.0, 2000.0, 500.0, 800.0]


def test_no2_relative_risk_at_the_thresholds():
    # HRAPIE: 1 at and below 20 ug/m3, 1.055 per 10 ug/m3 above
    np.testing.assert_allclose(hl.no2_relative_risk([10.0, 20.0, 30.0, 40.0]), [1.0, 1.0, 1.055, 1.055**2])
    # WHO 2021 review (Huangfu & Atkinson 2020): 1.02 per 10 ug/m3 above the 10 ug/m3 guideline level
    np.testing.assert_allclose(hl.no2_relative_risk([5.0, 10.0, 20.0], no2_function="who2021"), [1.0, 1.0, 1.02])
    np.testing.assert_allclose(hl.no2_relative_risk([25.0], rr_per_10ugm3=1.1, threshold_ugm3=15.0), [1.1])
    with pytest.raises(InvalidOptionError, match="no2_function"):
        hl.no2_relative_risk([25.0], no2_function="who2005")


def test_no2_deaths_avoided_by_hand_with_the_published_intervals():
    t = hl.health_impact(
        BEFORE + [60.0], AFTER + [60.0], NO2_RESIDENTS, no2_before_ugm3=NO2_BEFORE, no2_after_ugm3=NO2_AFTER
    )
    # street 1: 25 -> 15 above 20; street 2: 10 -> 9; street 3: below 20 throughout; street 4: 5 -> 7 (worse)
    s1 = 1000 * 883 / 1e5 * (1 - 1.055 ** (-10 / 10))
    s2 = 2000 * 883 / 1e5 * (1 - 1.055 ** (-1 / 10))
    s4 = 800 * 883 / 1e5 * (1 - 1.055 ** (2 / 10))
    per_street = hl.deaths_avoided_no2(NO2_BEFORE, NO2_AFTER, NO2_RESIDENTS)
    np.testing.assert_allclose(per_street, [s1, s2, 0.0, s4], rtol=1e-12)
    assert t.loc["no2", "deaths_avoided_per_year"] == pytest.approx(s1 + s2 + s4, rel=1e-12)
    lo, hi = (no2_deaths_by_hand(NO2_BEFORE, NO2_AFTER, NO2_RESIDENTS, 883.0, rr=r) for r in (1.031, 1.080))
    assert t.loc["no2", "deaths_avoided_low"] == pytest.approx(min(lo, hi))
    assert t.loc["no2", "deaths_avoided_high"] == pytest.approx(max(lo, hi))
    assert "HRAPIE" in t.loc["no2", "erf_source"] and "INE" in t.loc["no2", "baseline_source"]
    assert t.loc["no2", "residents_above_threshold_before"] == 3800.0  # all but the 18 ug/m3 street
    # the total adds the pathways and their bounds
    for col in ("deaths_avoided_per_year", "deaths_avoided_low", "deaths_avoided_high"):
        assert t.loc["total", col] == pytest.approx(t.loc["noise_ihd", col] + t.loc["no2", col])
    # the WHO 2021 function and a given rate
    t21 = hl.health_impact(
        BEFORE + [60.0], AFTER + [60.0], NO2_RESIDENTS, no2_before_ugm3=NO2_BEFORE, no2_after_ugm3=NO2_AFTER,
        no2_function="who2021", no2_baseline_rate_per_100k=1000.0,
    )
    expected = no2_deaths_by_hand(NO2_BEFORE, NO2_AFTER, NO2_RESIDENTS, 1000.0, rr=1.02, threshold=10.0)
    assert t21.loc["no2", "deaths_avoided_per_year"] == pytest.approx(expected)
    with pytest.raises(InvalidOptionError, match="both"):
        hl.health_impact(BEFORE, AFTER, RESIDENTS, no2_before_ugm3=[30.0, 30.0, 30.0])


def test_no2_deaths_zero_when_emissions_do_not_change():
    from urbankit.environment import air

    nox = np.array([0.0, 800.0, 4000.0])
    no2 = air.street_no2(nox, nox)
    t = hl.health_impact([60.0] * 3, [60.0] * 3, [100.0, 200.0, 300.0],
                         no2_before_ugm3=no2["no2_before_ugm3"], no2_after_ugm3=no2["no2_after_ugm3"])
    assert t.loc["no2", "deaths_avoided_per_year"] == 0.0 and t.loc["total", "deaths_avoided_per_year"] == 0.0
    # less emission on the residents' streets: deaths avoided, in proportion to the residents
    cut = air.street_no2(nox, 0.5 * nox)
    d = hl.deaths_avoided_no2(cut["no2_before_ugm3"], cut["no2_after_ugm3"], [100.0, 200.0, 300.0])
    assert d[0] == 0.0 and (d[1:] > 0).all()
