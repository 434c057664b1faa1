"""No silently wrong figures (issue #10, items 4, 6 and 8): inputs that used to give a plausible
but wrong result, or a dependency's traceback, now give the correct figure or a clear urbankit error.

Every expected value is computed independently in the test (areas, lengths, sums), never copied
from urbankit's own output.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import urbankit
from urbankit import InvalidOptionError
from urbankit.accessibility import accessibility, validate_minutes
from urbankit.mock import grid_extract, random_destinations

# --------------------------------------------------------------------------- thresholds and maxspeed


@pytest.mark.parametrize(
    "minutes, named",
    [
        ([10, 10.0000001], ["10", "10.0000001"]),  # one label "10"
        ([10, 10.0004], ["10", "10.0004"]),  # same 0.001-min grid step: the same trips
        ([123.4567, 123.4574], ["123.4567", "123.4574"]),  # different steps, one label "123.457"
        ([15, 30, 30.0000004], ["30", "30.0000004"]),
    ],
)
def test_thresholds_that_collide_are_refused(minutes, named):
    with pytest.raises(InvalidOptionError) as err:
        validate_minutes(minutes)
    for text in named:
        assert text in str(err.value)
    assert "0.001" in str(err.value)


def test_distinct_thresholds_on_the_grid_are_kept():
    assert validate_minutes([10.001, 10, 0.5]) == (0.5, 10, 10.001)


def test_collision_is_refused_by_the_public_api_before_any_work():
    ex = grid_extract(2, 2)
    with pytest.raises(InvalidOptionError, match="10.0000001"):
        urbankit.x_minute_city(ex, minutes=[10, 10.0000001])


@pytest.mark.parametrize("tag", ["0.0001", "0", "2", "3 mph", "99999", "0.0001;0.5"])
def test_implausible_maxspeed_falls_back_to_the_highway_class_with_a_warning(tag, caplog):
    block_m = 110.0
    ex = grid_extract(2, 1, block_m=block_m, arterial_every=None)  # every street residential, maxspeed 30
    ways = ex.ways
    target = ways.index[1]
    ways.loc[target, "maxspeed"] = tag
    urbankit.settings.use_cache = False
    with caplog.at_level(logging.WARNING, logger="urbankit.networks"):
        net = urbankit.build_network(ex, "drive")
    fallback = urbankit.settings.drive_speed_kmh["residential"]
    e = net.edges[net.edges["way_id"] == ways.loc[target, "way_id"]]
    assert len(e) > 0
    assert np.allclose(e["speed_kmh"], fallback)
    # 110 m at 30 km/h: 0.22 min (old code: 66,000 min for maxspeed=0.0001)
    assert np.allclose(e["time_min"], block_m / (fallback * 1000 / 60), atol=1e-3)
    assert net.edges["time_min"].max() < 1.0
    warned = [r.getMessage() for r in caplog.records if "implausible maxspeed" in r.getMessage()]
    assert len(warned) == 1 and repr(tag) in warned[0]


def test_plausible_maxspeed_is_kept_without_warning(caplog):
    ex = grid_extract(2, 1, block_m=110.0, arterial_every=None)
    ex.ways.loc[ex.ways.index[1], "maxspeed"] = "5"
    urbankit.settings.use_cache = False
    with caplog.at_level(logging.WARNING, logger="urbankit.networks"):
        net = urbankit.build_network(ex, "drive")
    e = net.edges[net.edges["way_id"] == ex.ways.loc[ex.ways.index[1], "way_id"]]
    assert np.allclose(e["speed_kmh"], 5.0)
    assert not [r for r in caplog.records if "implausible" in r.getMessage()]
