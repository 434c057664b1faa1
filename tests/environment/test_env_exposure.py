"""Residents per Lden band and winners/losers, counted by hand."""

import numpy as np
import pytest

from urbankit._errors import InvalidOptionError
from urbankit.environment import exposure as ex

# a mock street grid of 6 segments: Lden before/after (dB) and residents along each
BEFORE = np.array([72.0, 66.0, 61.0, 58.5, 55.0, 39.0])
AFTER = np.array([75.5, 66.5, 55.0, 53.4, 55.9, 39.0])
RESIDENTS = np.array([120.0, 80.0, 200.0, 50.0, 30.0, 5.0])


def test_bands_by_hand_and_sum():
    before = ex.residents_by_band(BEFORE, RESIDENTS)
    assert list(before.index) == ["<40", "40-44", "45-49", "50-54", "55-59", "60-64", "65-69", "70-74", ">=75"]
    # 39 -> <40 ; 55.0 and 58.5 -> 55-59 ; 61 -> 60-64 ; 66 -> 65-69 ; 72 -> 70-74
    assert before.to_dict() == {
        "<40": 5.0,
        "40-44": 0.0,
        "45-49": 0.0,
        "50-54": 0.0,
        "55-59": 80.0,
        "60-64": 200.0,
        "65-69": 80.0,
        "70-74": 120.0,
        ">=75": 0.0,
    }
    assert before.sum() == RESIDENTS.sum()
    table = ex.exposure_bands(BEFORE, AFTER, RESIDENTS)
    # after: 75.5 -> >=75 ; 66.5 -> 65-69 ; 55.0, 55.9 -> 55-59 ; 53.4 -> 50-54 ; 39 -> <40
    assert table.loc[">=75", "residents_after"] == 120
    assert table.loc["55-59", "residents_after"] == 230
    assert table.loc["50-54", "residents_after"] == 50
    assert table.loc["60-64", "change"] == -200
    assert table.residents_before.sum() == table.residents_after.sum() == RESIDENTS.sum()
    assert table.change.sum() == 0


def test_band_edges_are_left_closed():
    s = ex.residents_by_band([54.999, 55.0, 75.0, 74.99], [1, 2, 4, 8])
    assert (s["50-54"], s["55-59"], s[">=75"], s["70-74"]) == (1, 2, 4, 8)


def test_winners_losers_by_hand():
    change = AFTER - BEFORE  # +3.5, +0.5, -6, -5.1, +0.9, 0
    out = ex.winners_losers(change, RESIDENTS)
    row = out.loc["all"]
    assert row.louder == 120  # only +3.5 reaches +1 dB
    assert row.quieter == 250  # -6 and -5.1
    assert row.unchanged == 80 + 30 + 5
    assert row.louder + row.quieter + row.unchanged == RESIDENTS.sum()
    assert row.mean_change_db == pytest.approx((change * RESIDENTS).sum() / RESIDENTS.sum())
    exactly = ex.winners_losers([1.0, -1.0, 0.99], [1, 2, 4]).loc["all"]
    assert (exactly.louder, exactly.quieter, exactly.unchanged) == (1, 2, 4)


def test_winners_losers_by_deprivation_quintile():
    change = np.array([2.0, -2.0, 0.0, 3.0, -4.0, 1.5])
    residents = np.array([10.0, 10.0, 10.0, 10.0, 10.0, 0.0])
    deprivation = np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])
    out = ex.winners_losers(change, residents, deprivation=deprivation)
    # equal residents on values 1..5 -> one edge per quintile; the NaN edge is "unknown"
    assert out.loc["q1", "louder"] == 10 and out.loc["q1", "quieter"] == 0
    assert out.loc["q2", "quieter"] == 10
    assert out.loc["q3", "unchanged"] == 10
    assert out.loc["q4", "louder"] == 10
    assert out.loc["q5", "quieter"] == 10
    assert out.loc["unknown", "residents"] == 0
    assert out.loc[["q1", "q2", "q3", "q4", "q5", "unknown"], "residents"].sum() == out.loc["all", "residents"]


def test_errors():
    with pytest.raises(InvalidOptionError):
        ex.residents_by_band([50, 60], [1])
    with pytest.raises(InvalidOptionError):
        ex.residents_by_band([50], [-1])
    with pytest.raises(InvalidOptionError):
        ex.winners_losers([np.nan], [1])
    with pytest.raises(InvalidOptionError):
        ex.winners_losers([1.0], [1], threshold_db=0)
    with pytest.raises(InvalidOptionError):
        ex.residents_by_band([50], [1], band_width_db=4, lowest_db=40, highest_db=75)
