"""The roadside NOx/NO2 ESTIMATE (issue #15 item 5): SRM1 increment and the NOx -> NO2 conversion.

Expectations are computed by hand here from the published formulas, with the coefficients written out
in the test (SRM1, Rbl 2007 Bijlage 1; Romberg et al. 1996; Duering et al. 2011), never copied from
urbankit's output.
"""

from __future__ import annotations

import numpy as np
import pytest

from urbankit._errors import InvalidOptionError
from urbankit.environment import air

# g/km/day -> ug/m/s
TO_UG_M_S = 1e6 / 1000 / 86400


def srm1_by_hand(e_g_km_day, x, a, b, c, alpha=0.0, tree=1.0, theta=1.0):
    e = e_g_km_day * TO_UG_M_S
    sc = a * x * x + b * x + c if x <= 30 else alpha * x**-0.747
    return 0.62 * e * sc * tree * theta


def romberg(nox):
    return 103 * nox / (nox + 130) + 0.005 * nox


def duering(nox):
    return 29 * nox / (nox + 35) + 0.217 * nox


def test_increment_against_a_hand_computation():
    # 10 000 veh/day x 0.3 g/km of NOx = 3000 g/km/day, canyon street, facade 10 m from the axis:
    # E = 3000e6 / 1000 / 86400 = 34.72 ug/m/s; s_c = 0.000488*100 - 0.0308*10 + 0.59 = 0.3308
    expected = 0.62 * (3000 / 86.4) * (0.000488 * 100 - 0.0308 * 10 + 0.59)
    assert expected == pytest.approx(7.1214, abs=1e-4)
    assert air.nox_increment(3000.0) == pytest.approx(expected, rel=1e-12)
    # the other street types, a tree factor and a wind factor
    cases = [
        ("open", 5.0, (0.000310, -0.0182, 0.33, 0.799)),
        ("basic", 20.0, (0.000325, -0.0205, 0.39, 0.856)),
        ("basic", 45.0, (0.000325, -0.0205, 0.39, 0.856)),  # power-law branch beyond 30 m
        ("one_sided", 12.0, (0.000500, -0.0316, 0.57, 0.0)),
    ]
    for street_type, x, coef in cases:
        got = air.nox_increment(1234.0, street_type=street_type, distance_m=x, tree_factor=1.25, wind_factor=1.1)
        assert got == pytest.approx(srm1_by_hand(1234.0, x, *coef, tree=1.25, theta=1.1), rel=1e-12)
    assert air.nox_increment(100.0, tree_factor="dense") == pytest.approx(1.5 * air.nox_increment(100.0))
    # proportional to the emission, zero without traffic
    np.testing.assert_allclose(
        air.nox_increment([0.0, 1000.0, 2000.0]), np.array([0.0, 1.0, 2.0]) * air.nox_increment(1000.0)
    )


def test_srm1_branches_meet_at_30_m():
    # a check of the transcribed coefficients: the quadratic and the power law agree at the breakpoint
    for street_type in ("open", "basic"):
        below = air.srm1_dilution(30.0, street_type=street_type)
        above = air.srm1_dilution(30.0 + 1e-9, street_type=street_type)
        assert above == pytest.approx(below, rel=2e-3)
    # dilution falls with distance
    x = np.array([4.0, 10.0, 20.0, 30.0])
    for street_type in air.STREET_TYPES:
        assert np.all(np.diff(air.srm1_dilution(x, street_type=street_type)) < 0)
    # a canyon keeps more of the street's emission than a road through open land
    assert air.srm1_dilution(10.0, street_type="canyon") > air.srm1_dilution(10.0, street_type="open")


def test_conversion_at_tabulated_points_and_its_inverse():
    points = np.array([0.0, 20.0, 50.0, 100.0, 200.0, 400.0])
    np.testing.assert_allclose(air.no2_from_nox(points), [duering(n) for n in points], rtol=1e-12)
    np.testing.assert_allclose(air.no2_from_nox(points, conversion="romberg1996"), [romberg(n) for n in points])
    # e.g. 100 ug/m3 of NOx: 29*100/135 + 21.7 = 43.18 ug/m3 of NO2 (Duering), 103*100/230 + 0.5 = 45.28 (Romberg)
    assert air.no2_from_nox(100.0) == pytest.approx(43.1815, abs=1e-4)
    assert air.no2_from_nox(100.0, conversion="romberg1996") == pytest.approx(45.2826, abs=1e-4)
    for conversion in air.CONVERSIONS:
        no2 = np.array([5.0, 20.0, 30.0, 45.0, 80.0])
        np.testing.assert_allclose(
            air.no2_from_nox(air.nox_from_no2(no2, conversion=conversion), conversion=conversion), no2
        )


def test_street_no2_background_and_no_change():
    nox = np.array([0.0, 500.0, 3000.0, 8000.0])
    t = air.street_no2(nox, nox, background_no2_ugm3=25.0)
    # no change of emission, no change of NO2; a street without traffic sits at the background
    assert (t["d_no2_ugm3"] == 0.0).all()
    assert t["no2_before_ugm3"].iloc[0] == pytest.approx(25.0)
    # by hand: background NOx solves duering(N) = 25, then NO2 = duering(N + increment)
    lo, hi = 0.0, 500.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if duering(mid) < 25.0 else (lo, mid)
    inc = np.array([srm1_by_hand(n, 10.0, 0.000488, -0.0308, 0.59) for n in nox])
    np.testing.assert_allclose(t["no2_before_ugm3"], [duering(lo + i) for i in inc], rtol=1e-9)
    # traffic cut by 82 %: NO2 falls, by less than the NOx increment (ozone-limited conversion)
    cut = air.street_no2(nox, nox * 0.18, background_no2_ugm3=25.0)
    assert (cut["d_no2_ugm3"].iloc[1:] < 0).all()
    assert (-cut["d_no2_ugm3"] < cut["nox_increment_before_ugm3"] - cut["nox_increment_after_ugm3"]).iloc[1:].all()
    # the default background is the packaged assumption, and it says so
    value, source = air.background_no2()
    assert value == 30.0 and "ASSUMPTION" in source


def test_coefficients_have_sources_and_bad_options_raise():
    co = air.air_coefficients()
    assert co["source"].str.len().gt(30).all()
    assert set(air.STREET_TYPES) == {"open", "basic", "canyon", "one_sided"}
    assert "Rbl 2007" in co.loc[co["key"] == "srm1_a", "source"].iloc[0]
    with pytest.raises(InvalidOptionError, match="street_type"):
        air.nox_increment(1.0, street_type="tunnel")
    with pytest.raises(InvalidOptionError, match="at most 30"):
        air.nox_increment(1.0, distance_m=45.0)  # canyons end at 30 m
    with pytest.raises(InvalidOptionError, match="tree_factor"):
        air.nox_increment(1.0, tree_factor=2.0)
    with pytest.raises(InvalidOptionError, match="nox_g_per_km_day"):
        air.nox_increment(-1.0)
    with pytest.raises(InvalidOptionError, match="conversion"):
        air.no2_from_nox(1.0, conversion="linear")
    with pytest.raises(InvalidOptionError, match="one value per street"):
        air.street_no2([1.0, 2.0], [1.0])
    with pytest.raises(InvalidOptionError, match="background_no2_ugm3"):
        air.street_no2([1.0], [1.0], background_no2_ugm3=float("nan"))


# --- sources (issue #15: every constant has a cited source) -------------------------------------------------

# E. Barratt's SRM1 implementation, +SRM1/Data/DispersionFactors.csv at EddyTheB/SRM1-MATLAB f712c3f (2016),
# written out here: street class -> (A, B, C, Alpha). urbankit's names for the same classes.
BARRATT_DISPERSION = {
    "canyon": (4.88e-04, -3.08e-02, 0.59, 0.0),  # Narrow Canyon
    "basic": (3.25e-04, -2.05e-02, 0.39, 0.856),  # Wide Canyon
    "one_sided": (5.00e-04, -3.16e-02, 0.57, 0.0),  # One Sided Canyon
    "open": (3.10e-04, -1.82e-02, 0.33, 0.799),  # Not A Canyon
}


def barratt_contribution(e_ug_m_s, d_m, a, b, c, alpha, tree=1.0, wind_speed_ms=5.0):
    """Barratt's RoadSegment.GetTrafficContributions for NOx, rewritten (receptors from 3.5 m on)."""
    if d_m < 30:
        dispersion = a * d_m**2 + b * d_m + c
    else:
        dispersion = alpha * d_m**-0.747
    return 0.62 * dispersion * tree * 5 / wind_speed_ms * e_ug_m_s


def test_srm1_worked_example_the_rbl_reference_street():
    # Rbl 2007 Bijlage 4, 1b (the SRM1 reference street canyon): 15 000 vehicles a day, 3 % medium and 5 %
    # heavy goods vehicles, NOx emission factors 0.62 (light), 10.46 (medium), 15.25 (heavy) g/km.
    nox_g_per_km_day = 15000 * (0.92 * 0.62 + 0.03 * 10.46 + 0.05 * 15.25)
    assert nox_g_per_km_day == pytest.approx(24700.5)
    e = nox_g_per_km_day * 1e6 / 1000 / 86400  # ug per metre per second
    # the Rbl computes 5 m from the road edge; the street's width is only in its figure 1, so the
    # receptor here is taken 10 m from the axis (a 10 m carriageway): an assumption of this test
    canyon = barratt_contribution(e, 10.0, *BARRATT_DISPERSION["canyon"])
    assert canyon == pytest.approx(0.62 * 285.8854 * 0.3308, rel=1e-5)  # ~58.6 ug/m3 of NOx
    got = air.nox_increment(nox_g_per_km_day, street_type="canyon", distance_m=10.0)
    assert got == pytest.approx(canyon, rel=1e-12)
    # the other classes, both branches, Barratt's tree factors and a weaker regional wind (theta = 5 / U)
    for street_type, x in (("basic", 12.0), ("basic", 45.0), ("open", 59.0), ("one_sided", 4.0)):
        for tree, wind_speed in ((1.0, 5.0), (1.25, 4.0), (1.5, 2.5)):
            expected = barratt_contribution(e, x, *BARRATT_DISPERSION[street_type], tree=tree, wind_speed_ms=wind_speed)
            got = air.nox_increment(
                nox_g_per_km_day, street_type=street_type, distance_m=x, tree_factor=tree, wind_factor=5 / wind_speed
            )
            assert got == pytest.approx(expected, rel=1e-12), (street_type, x, tree, wind_speed)


# Rbl 2007 Bijlage 1 (BWBR0022817 as consolidated on 2014-10-08), read in the markdown copy of the Regeling at
# statengeneraal/laws-markdown e2114f1: its par. 5 table of the dilution parameters, written out here as
# urbankit street type -> (Rbl wegtype, a, b, c, alpha); types 2 and 3 have no alpha ("---").
RBL_LINES = (
    "https://github.com/statengeneraal/laws-markdown/blob/e2114f10e80edd77db7ab593085719dfdec553ed/"
    "ministeriele-regeling/regeling/beoordeling/luchtkwaliteit/2007/BWBR0022817/README.md#L"
)
RBL_DISPERSION = {
    "open": ("4", 3.1e-4, -1.82e-2, 0.33, 0.799),
    "basic": ("1", 3.25e-4, -2.05e-2, 0.39, 0.856),
    "canyon": ("2", 4.88e-4, -3.08e-2, 0.59, None),
    "one_sided": ("3", 5.00e-4, -3.16e-2, 0.57, None),
}


def dutch_number(cell):
    """A number of the Regeling: '3,25.10<sup>\u20134</sup>' -> 3.25e-4, '0,33' -> 0.33, '---' -> None."""
    cell = cell.strip().replace("\u2013", "-").replace("<sup>", "").replace("</sup>", "").replace(" ", "")
    if cell == "---":
        return None
    mantissa, _, exponent = cell.partition(".10")
    return float(f"{mantissa.replace(',', '.')}e{exponent or 0}")


def rbl_table_cell(quote, street_type):
    """The cell of ``street_type``'s wegtype in a quoted row of the Rbl par. 5 table (header ... row)."""
    header, row = quote.split(" ... ")
    columns = [c.strip() for c in header.split("|") if c.strip() not in ("", "---")][2:]  # after 'Parameter', 'wegtype'
    cells = [c for c in row.strip().strip("|").split("|")][1:]
    assert columns == ["4", "1", "2", "3"] and len(cells) == 4
    return cells[columns.index(RBL_DISPERSION[street_type][0])]


def test_every_constant_records_its_quote_address_and_whether_it_was_checked():
    co = air.air_coefficients()
    assert {"quote", "address"} <= set(co.columns)
    assert (co["quote"].str.len() > 0).all() and (co["address"].str.len() > 0).all()
    srm1 = co[co["key"].str.startswith("srm1_")]
    conv = co[co["key"].str.startswith("no2_conversion_")]
    # the method (SRM1 for roads) is Rbl 2007 article 71, in Bijlage 1; every SRM1 value is also Barratt's
    assert srm1["source"].str.contains("bijlage 1 opgenomen standaardrekenmethode 1").all()
    assert srm1["source"].str.contains("EddyTheB/SRM1-MATLAB").all()
    # checked against the text of Rbl 2007 Bijlage 1: every SRM1 value but the exponent, which is an image there
    checked = srm1[srm1["key"] != "srm1_power"]
    assert checked["source"].str.startswith("Rbl 2007 Bijlage 1").all()
    assert checked["address"].str.startswith(RBL_LINES).all()
    power = srm1[srm1["key"] == "srm1_power"]
    assert len(power) == 1 and power["source"].iloc[0].startswith("unverified")
    assert power["address"].iloc[0].startswith("https://github.com/EddyTheB/SRM1-MATLAB/blob/")
    assert "D^(-0.747)" in power["quote"].iloc[0] and power["value"].iloc[0] == -0.747
    # what could not be read in the primary text says so
    assert conv["source"].str.startswith("unverified").all()
    background = co[co["key"] == "no2_background_ugm3"]
    assert len(background) == 1 and background["source"].iloc[0].startswith("ASSUMPTION")
    # each checked value is the one in its quoted line of the Regeling, which is also Barratt's
    keys = ("srm1_a", "srm1_b", "srm1_c", "srm1_alpha")
    for street_type, (_wegtype, *rbl) in RBL_DISPERSION.items():
        rows = srm1[srm1["variant"] == street_type].set_index("key")
        for i, key in enumerate(keys):
            quoted = dutch_number(rbl_table_cell(rows.loc[key, "quote"], street_type))
            assert quoted == rbl[i], (street_type, key)
            # no alpha in the Regeling: urbankit stores 0 and ends the type at 30 m
            assert rows.loc[key, "value"] == pytest.approx(0.0 if quoted is None else quoted, rel=1e-12, abs=0.0)
            assert rows.loc[key, "value"] == pytest.approx(BARRATT_DISPERSION[street_type][i])
        distance, distance_quote = rows.loc["srm1_max_distance_m", "value"], rows.loc["srm1_max_distance_m", "quote"]
        assert "alleen voor de straattypen 1 (brede street canyon) en 4" in distance_quote
        assert "voor een afstand van 30 tot 60 meter van de as van de weg" in distance_quote
        if rbl[3] is None:
            assert distance == 30.0 and "met een maximum van 30 of 60 meter" in distance_quote
        else:
            assert distance == 60.0
    one = co.set_index(["key", "variant"])
    assert one.loc[("srm1_constant", ""), "value"] == 0.62
    assert "kalibratiefactor [-] met een waarde van 0,62;" in one.loc[("srm1_constant", ""), "quote"]
    assert one.loc[("srm1_breakpoint_m", ""), "value"] == 30.0
    assert (
        "De verdunningsfactor wordt tot een afstand van 30 meter van de as van de weg"
        in (one.loc[("srm1_breakpoint_m", ""), "quote"])
    )
    for variant, cell in (("none", "| 1  | :  | hier en daar"), ("some", "| 1,25  | :"), ("dense", "| 1,5  | :")):
        quote = one.loc[("srm1_tree_factor", variant), "quote"]
        assert quote.startswith(cell)
        assert one.loc[("srm1_tree_factor", variant), "value"] == dutch_number(quote.split("|")[1])


def test_background_moves_the_no2_the_expected_way():
    nox = np.array([0.0, 800.0, 3000.0, 9000.0])
    cut = nox * 0.2
    clean = air.street_no2(nox, cut, background_no2_ugm3=15.0)
    dirty = air.street_no2(nox, cut, background_no2_ugm3=40.0)
    # the increments do not depend on the background; the NO2 before and after rise with it
    np.testing.assert_array_equal(clean["nox_increment_before_ugm3"], dirty["nox_increment_before_ugm3"])
    assert (dirty["no2_before_ugm3"] > clean["no2_before_ugm3"]).all()
    assert (dirty["no2_after_ugm3"] > clean["no2_after_ugm3"]).all()
    # the conversion flattens at high NOx: the same cut of emissions removes less NO2 over a dirtier background
    moving = nox > 0
    assert (-dirty["d_no2_ugm3"][moving] < -clean["d_no2_ugm3"][moving]).all()
    assert (clean["d_no2_ugm3"][moving] < 0).all()
    # the table says which background it used and where it came from
    assert dirty.attrs["no2_background_ugm3"] == 40.0
    assert dirty.attrs["no2_background_source"] == air.USER_BACKGROUND_SOURCE
    default = air.street_no2(nox, cut)
    assert default.attrs["no2_background_ugm3"] == 30.0
    assert default.attrs["no2_background_source"].startswith("ASSUMPTION")


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), [20.0, 30.0], "thirty"])
def test_bad_background_names_the_option(bad):
    with pytest.raises(InvalidOptionError, match="background_no2_ugm3"):
        air.background_no2(bad)
    with pytest.raises(InvalidOptionError, match="background_no2_ugm3"):
        air.street_no2([100.0], [50.0], background_no2_ugm3=bad)
