"""COPERT / EMEP/EEA Tier 3 speed curves and Tier 2 wear factors, checked against the published forms."""

import math

import numpy as np
import pandas as pd
import pytest

from urbankit._errors import InvalidOptionError
from urbankit.environment import emissions as em

SPEEDS = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0, 130.0]

# EMEP/EEA 2013 guidebook annex (Sept. 2014), typed here from the annex independently of the data file:
# alpha, beta, gamma, delta, epsilon, zita, rf, vmin, vmax
PC_DIESEL_EURO6_NOX = (4.358787392163990e-01, 1.004345820980900e-02, -5.386789171147010e-03,
                       -1.023612280214390e-04, 2.904663713985040e-05, -4.607044137967740e-01, 0.0, 10, 130)  # fmt: skip
PC_PETROL_EURO6_PM = (2.313270713417980e-13, 1.256930874825870e-11, -1.100332556347160e-08,
                      1.234695396553060e-06, -6.287054003580730e-05, 2.721908908843760e-03, 0.0, 10, 130)  # fmt: skip
PC_DIESEL_EURO5_PM = (1.167043929238390e-03, 1.061227735651050e01, -6.483630739789640e00,
                      5.674980819808850e-01, 1.226054533428930e-02, 0.0, 0.0, 10, 130)  # fmt: skip
LCV_DIESEL_EURO6_FC = (1.264542107652150e-03, 2.188496625353530e00, 3.785609290695320e02,
                       -4.965202394945130e-01, 0.0, 0.0, 0.0, 10, 110)  # fmt: skip
LCV_DIESEL_EURO6_PM = (6.348651067043730e01, 3.142959625140570e01, -2.035484541160830e-01, 0, 0, 0, 0.0, 10, 110)


def eq1(c, v):  # (a + c V + e V^2 + f/V) / (1 + b V + d V^2) (1 - rf)
    a, b, cc, d, e, f, rf, lo, hi = c
    v = min(max(v, lo), hi)
    return (a + cc * v + e * v * v + f / v) / (1 + b * v + d * v * v) * (1 - rf)


def eq6(c, v):
    a, b, cc, d, e, f, rf, lo, hi = c
    v = min(max(v, lo), hi)
    return (a + b / (1 + math.exp(-cc + d * math.log(v) + e * v))) * (1 - rf)


def eq9(c, v):
    a, b, cc, d, e, f, rf, lo, hi = c
    v = min(max(v, lo), hi)
    return (a * v**b + cc * v**d) * (1 - rf)


def eq12(c, v):
    a, b, cc, d, e, f, rf, lo, hi = c
    v = min(max(v, lo), hi)
    return 1 / (cc * v * v + b * v + a) * (1 - rf)


def eq17(c, v):
    a, b, cc, d, e, f, rf, lo, hi = c
    v = min(max(v, lo), hi)
    return (a * v**5 + b * v**4 + cc * v**3 + d * v**2 + e * v + f) * (1 - rf)


@pytest.mark.parametrize(
    "pollutant, vehicle, fuel, euro, coeffs, form",
    [
        ("NOx", "PC", "diesel", "6", PC_DIESEL_EURO6_NOX, eq1),
        ("PM_exhaust", "PC", "petrol", "6", PC_PETROL_EURO6_PM, eq17),
        ("PM_exhaust", "PC", "diesel", "5", PC_DIESEL_EURO5_PM, eq6),
        ("FC", "LCV", "diesel", "6", LCV_DIESEL_EURO6_FC, eq9),
        ("PM_exhaust", "LCV", "diesel", "6", LCV_DIESEL_EURO6_PM, eq12),
    ],
)
def test_tier3_curves_at_tabulated_speeds(pollutant, vehicle, fuel, euro, coeffs, form):
    got = em.hot_emission_factor(pollutant, SPEEDS, vehicle=vehicle, fuel=fuel, euro=euro)
    np.testing.assert_allclose(got, [form(coeffs, v) for v in SPEEDS], rtol=1e-12)


def test_speed_outside_validity_is_taken_at_the_bound():
    assert em.hot_emission_factor("NOx", 5.0) == pytest.approx(eq1(PC_DIESEL_EURO6_NOX, 10.0))
    assert em.hot_emission_factor("FC", 150.0, vehicle="LCV") == pytest.approx(eq9(LCV_DIESEL_EURO6_FC, 110.0))


def test_slower_traffic_emits_more_per_km_in_town():
    ef = em.fleet_emission_factors([10.0, 20.0, 50.0])
    assert ef.nox_g_per_vkm.is_monotonic_decreasing
    assert ef.pm25_g_per_vkm.is_monotonic_decreasing


def test_co2_carbon_balance():
    # CO2 = 44.011 FC / (12.011 + 1.008 r_H:C), r_H:C ~1.8 petrol and ~2.0 diesel (EMEP/EEA 1.A.3.b.i-iv)
    assert em.CO2_PER_FUEL["petrol"] == pytest.approx(3.183, abs=5e-4)
    assert em.CO2_PER_FUEL["diesel"] == pytest.approx(3.138, abs=5e-4)
    co2 = em.fleet_emission_factors(SPEEDS, fleet="EU_vans", pollutants=("CO2",)).co2_g_per_vkm
    diesel = np.array([eq9(LCV_DIESEL_EURO6_FC, v) for v in SPEEDS]) * 44.011 / (12.011 + 1.008 * 2.0)
    petrol = em.co2_from_fuel(em.hot_emission_factor("FC", SPEEDS, vehicle="LCV", fuel="petrol"), "petrol")
    np.testing.assert_allclose(co2, 0.91 * diesel + 0.09 * petrol, rtol=1e-12)
    # a component with neither FC coefficients nor tabulated CO2 (Euro 5 petrol cars) still refuses
    with pytest.raises(InvalidOptionError, match="FC"):
        em.fleet_emission_factors(30.0, fleet={("PC", "petrol", "5"): 1.0}, pollutants=("CO2",))


def test_non_exhaust_tier2_by_hand():
    # passenger car at 30 km/h: tyre 0.0107 x 0.42 x 1.39, brake 0.0075 x 0.39 x 1.67, road 0.015 x 0.27
    pm = em.non_exhaust_pm([30.0, 60.0, 100.0], vehicle="PC", size="PM2.5")
    assert pm.tyre[0] == pytest.approx(0.0107 * 0.42 * 1.39)
    assert pm.brake[0] == pytest.approx(0.0075 * 0.39 * 1.67)
    assert pm.road[0] == pytest.approx(0.015 * 0.27)
    assert pm.tyre[1] == pytest.approx(0.0107 * 0.42 * (-0.00974 * 60 + 1.78))
    assert pm.brake[1] == pytest.approx(0.0075 * 0.39 * (-0.0270 * 60 + 2.75))
    assert pm.tyre[2] == pytest.approx(0.0107 * 0.42 * 0.902)
    assert pm.brake[2] == pytest.approx(0.0075 * 0.39 * 0.185)
    np.testing.assert_allclose(pm.total, pm.tyre + pm.brake + pm.road)
    tsp = em.non_exhaust_pm(30.0, vehicle="HDV", size="TSP")
    assert tsp.road[0] == pytest.approx(0.076)


def test_fleet_weighting_and_street_totals():
    fleet = {("PC", "diesel", "6"): 0.5, ("PC", "petrol", "5"): 0.5}
    ef = em.fleet_emission_factors([25.0], fleet=fleet)
    nox = 0.5 * eq1(PC_DIESEL_EURO6_NOX, 25.0) + 0.5 * em.hot_emission_factor("NOx", 25.0, fuel="petrol", euro="5")
    assert ef.nox_g_per_vkm[0] == pytest.approx(float(nox))
    streets = em.street_emissions([1000.0, 0.0], [250.0, 100.0], [25.0, 25.0], fleet=fleet)
    assert streets.vkm_day.tolist() == [250.0, 0.0]
    assert streets.nox_g_day[0] == pytest.approx(250.0 * ef.nox_g_per_vkm[0])
    assert streets.pm25_g_day[1] == 0.0
    np.testing.assert_allclose(streets.pm25_g_day, streets.pm25_exhaust_g_day + streets.pm25_non_exhaust_g_day)


def test_switchable_coefficients_and_errors():
    table = em.coefficient_table().copy()
    table.loc[:, "rf"] = 0.5
    half = em.hot_emission_factor("NOx", 40.0, coefficients=table)
    assert half == pytest.approx(0.5 * eq1(PC_DIESEL_EURO6_NOX, 40.0))
    with pytest.raises(InvalidOptionError):
        em.coefficient_table(pd.DataFrame({"vehicle": ["PC"]}))
    with pytest.raises(InvalidOptionError):
        em.hot_emission_factor("NOx", 30.0, vehicle="HDV")
    with pytest.raises(InvalidOptionError):
        em.fleet_emission_factors(30.0, fleet={("PC", "diesel", "6"): 0.7})
    with pytest.raises(InvalidOptionError):
        em.fleet_emission_factors(0.0)
    with pytest.raises(InvalidOptionError):
        em.street_emissions([1.0, 2.0], [1.0], 30.0)


# COPERT 5.4.52, EU27 fleet average, hot, g/km at 10, 20, ..., 130 km/h (EUROCONTROL Open-ALAQS table
# default_vehicle_ef_copert5.csv), typed here independently of the packaged file, 4 significant digits
PC_PETROL_E6_CO2 = [292.9, 249.1, 212.5, 183.3, 161.4, 146.7, 139.4, 139.4, 146.6, 161.2, 183.1, 212.3, 248.8]
PC_DIESEL_E6_CO2 = [257.7, 222.8, 193.8, 170.6, 153.3, 141.8, 136.1, 136.3, 142.4, 154.3, 172.0, 195.6, 225.0]
HDV_E6DE_CO2 = [1347.7, 1163.8, 972.5, 824.1, 718.4, 655.6, 635.6, 658.5, 685.9, 685.9, 685.9, 685.9, 685.9]
HDV_E6DE_NOX = [0.8738, 0.6834, 0.4847, 0.3297, 0.2183, 0.1505, 0.1264, 0.1459, 0.1720, 0.1720, 0.1720, 0.1720,
                0.1720]  # fmt: skip


@pytest.mark.parametrize(
    "pollutant, vehicle, fuel, euro, published",
    [
        ("CO2", "PC", "petrol", "6", PC_PETROL_E6_CO2),
        ("CO2", "PC", "diesel", "6", PC_DIESEL_E6_CO2),
        ("CO2", "HDV", "diesel", "VI-D/E", HDV_E6DE_CO2),
        ("NOx", "HDV", "diesel", "VI-D/E", HDV_E6DE_NOX),
    ],
)
def test_copert5_tabulated_curves_at_their_speeds(pollutant, vehicle, fuel, euro, published):
    got = em.tabulated_emission_factor(pollutant, SPEEDS, vehicle=vehicle, fuel=fuel, euro=euro)
    np.testing.assert_allclose(got, published, rtol=6e-4)
    # linear in between, and at the bounds outside 10-130 km/h
    mid = em.tabulated_emission_factor(pollutant, [15.0, 5.0, 200.0], vehicle=vehicle, fuel=fuel, euro=euro)
    assert mid[0] == pytest.approx((published[0] + published[1]) / 2, rel=6e-4)
    assert mid[1] == pytest.approx(published[0], rel=6e-4) and mid[2] == pytest.approx(published[-1], rel=6e-4)


def test_passenger_car_co2_of_the_eu_fleet_and_its_speed_curve():
    v = [10.0, 20.0, 50.0]
    co2 = em.fleet_emission_factors(v, fleet="EU", pollutants=("CO2",)).co2_g_per_vkm.to_numpy()
    shares = em.FLEETS["EU"]
    lcv = {f: em.co2_from_fuel(em.hot_emission_factor("FC", v, vehicle="LCV", fuel=f), f) for f in ("petrol", "diesel")}
    pc = {"petrol": np.interp(v, SPEEDS, PC_PETROL_E6_CO2), "diesel": np.interp(v, SPEEDS, PC_DIESEL_E6_CO2)}
    expect = sum(s * (pc[k[1]] if k[0] == "PC" else lcv[k[1]]) for k, s in shares.items())
    np.testing.assert_allclose(co2, expect, rtol=1e-3)
    # the COPERT curve: about 1.8 times the 50 km/h value at 10 km/h, 1.5 times at 20 km/h
    assert 1.6 < co2[0] / co2[2] < 2.0 and 1.35 < co2[1] / co2[2] < 1.6
    # heavy vehicles emit several times more per km
    hdv = em.fleet_emission_factors(v, fleet="HDV", pollutants=("CO2", "NOx", "PM2.5"))
    np.testing.assert_allclose(hdv.co2_g_per_vkm, np.interp(v, SPEEDS, HDV_E6DE_CO2), rtol=6e-4)
    assert (hdv.co2_g_per_vkm.to_numpy() > 4 * co2).all()
    # heavy-duty wear PM (UBA IIR / EMEP/EEA Tier 2 HDV rows) is part of their PM2.5
    wear = em.non_exhaust_pm(v, vehicle="HDV")["total"].to_numpy()
    np.testing.assert_allclose(hdv.pm25_non_exhaust_g_per_vkm, wear, rtol=1e-12)


def test_street_emissions_with_pc_co2():
    out = em.street_emissions([1000.0, 0.0], [500.0, 500.0], [20.0, 20.0], pollutants=("CO2", "NOx"))
    ef = em.fleet_emission_factors(20.0, pollutants=("CO2", "NOx"))
    assert out["co2_kg_day"].iloc[0] == pytest.approx(1000 * 0.5 * ef.co2_g_per_vkm.iloc[0] / 1000)
    assert out["co2_kg_day"].iloc[1] == 0.0
