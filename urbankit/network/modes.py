"""Which OSM ways each mode may use, in which direction, and at what speed (walk, bike, drive)."""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd

from .. import settings
from .._errors import InvalidOptionError

Mode = Literal["walk", "bike", "drive"]
MODES = ("walk", "bike", "drive")

#: bumped whenever filters, speeds or the edge model change, so old caches are not reused
NETWORK_MODEL_VERSION = 2

_NO = {"no", "private", "use_sidepath", "discouraged_no"}
_YES = {"yes", "designated", "permissive", "official", "destination", "customers", "delivery"}

_WALK_EXCLUDED = {
    "motorway",
    "motorway_link",
    "construction",
    "proposed",
    "abandoned",
    "disused",
    "raceway",
    "bus_guideway",
    "busway",
    "escape",
    "emergency_bay",
    "platform",
    "rest_area",
    "services",
}
#: roads open to both cyclists and drivers (unless tagged otherwise)
_SHARED_ROADS = {
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "road",
}
_BIKE_ROADS = _SHARED_ROADS | {"cycleway", "path", "track"}
_BIKE_IF_ALLOWED = {"footway", "pedestrian", "bridleway", "steps", "corridor"}
_DRIVE_ROADS = _SHARED_ROADS | {"motorway", "motorway_link"}
_DRIVE_SERVICE_EXCLUDED = {"parking_aisle", "driveway", "alley", "private", "emergency_access", "parking"}
#: plausible signed speeds, km/h: OSM values outside are typos or units gone wrong ("0.0001", "99999",
#: "2" meant as 20) and give the highway-class fallback with a logged warning; 5 km/h is walking
#: pace (``maxspeed=walk`` is 6), no road is signed above 150 km/h
_MIN_PLAUSIBLE_KMH = 5.0
_MAX_PLAUSIBLE_KMH = 150.0
_ZONE_SPEEDS = {"urban": 50.0, "rural": 90.0, "motorway": 130.0, "trunk": 110.0, "living_street": 10.0, "zone30": 30.0}


def _col(ways: pd.DataFrame, key: str) -> pd.Series:
    if key in ways.columns:
        return ways[key].astype(object).where(ways[key].notna(), None).astype("string").str.strip().str.lower()
    return pd.Series(pd.NA, index=ways.index, dtype="string")


def _isin(s: pd.Series, values: set[str]) -> np.ndarray:
    return np.array(s.isin(values).fillna(False), dtype=bool)


def mode_mask(ways: pd.DataFrame, mode: Mode) -> np.ndarray:
    """Boolean mask of the ways ``mode`` may legally use (see the module docstring)."""
    hw = _col(ways, "highway")
    access = _col(ways, "access")
    has_hw = hw.notna().to_numpy(bool)
    access_no = _isin(access, _NO)
    if mode == "walk":
        foot = _col(ways, "foot")
        ok = has_hw & ~_isin(hw, _WALK_EXCLUDED)
        ok &= ~_isin(foot, _NO)
        ok &= ~(access_no & ~_isin(foot, _YES))
        return ok
    if mode == "bike":
        bicycle = _col(ways, "bicycle")
        allowed = _isin(bicycle, _YES)
        ok = _isin(hw, _BIKE_ROADS) | (_isin(hw, _BIKE_IF_ALLOWED) & allowed)
        ok &= ~(_isin(hw, {"steps"}) & ~_isin(bicycle, {"yes"}))
        ok &= ~_isin(bicycle, _NO)
        ok &= ~(access_no & ~allowed)
        return ok
    if mode == "drive":
        mv = [_col(ways, k) for k in ("motorcar", "motor_vehicle", "vehicle")]
        # the most specific tag present decides (motorcar > motor_vehicle > vehicle > access)
        decisive = mv[0].fillna(mv[1]).fillna(mv[2]).fillna(access)
        ok = _isin(hw, _DRIVE_ROADS)
        ok &= ~(_isin(hw, {"service"}) & _isin(_col(ways, "service"), _DRIVE_SERVICE_EXCLUDED))
        ok &= ~_isin(decisive, _NO)
        return ok
    raise InvalidOptionError(f"mode={mode!r} is not one of {MODES}; pick one of them.")


def oneway_direction(ways: pd.DataFrame) -> np.ndarray:
    """Driving direction of each way: 1 forward only, -1 backward only, 0 both ways."""
    ow = _col(ways, "oneway")
    hw = _col(ways, "highway")
    junction = _col(ways, "junction")
    fwd = _isin(ow, {"yes", "true", "1"})
    back = _isin(ow, {"-1", "reverse"})
    implied = (_isin(junction, {"roundabout", "circular"}) | _isin(hw, {"motorway"})) & ~_isin(
        ow, {"no", "false", "0", "-1", "reverse"}
    )
    out = np.zeros(len(ways), dtype=np.int8)
    out[fwd | implied] = 1
    out[back] = -1
    return out


_SPEED_RE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(mph|km/h|kmh|kph|knots)?\s*$")


def parse_maxspeed(values: pd.Series) -> pd.Series:
    """Parse OSM ``maxspeed`` strings to km/h (NaN where unknown).

    Handles plain numbers, ``"50 mph"``, ``"walk"`` (6 km/h), zone codes (``"FR:urban"``,
    ``"DE:zone30"``, ``"DE:zone:30"``), and lists such as ``"50;70"`` (the lowest value counts).
    ``"none"``, ``"signals"``, ``"variable"`` and implausible values (below 5 km/h, e.g.
    ``"0.0001"``, or above 150 km/h) give NaN, so the highway-class fallback applies.

    Examples
    --------
    >>> tags = ["50", "30 mph", "walk", "FR:urban", "none", "50;70", "DE:zone:30", "99999"]
    >>> parse_maxspeed(pd.Series(tags)).round(1).tolist()
    [50.0, 48.3, 6.0, 50.0, nan, 50.0, 30.0, nan]
    >>> parse_maxspeed(pd.Series(["0.0001", "0", "2", "5", "0.0001;30"])).tolist()
    [nan, nan, nan, 5.0, 30.0]
    """
    num = _maxspeed_numbers(values)
    num = num.where((num >= _MIN_PLAUSIBLE_KMH) & (num <= _MAX_PLAUSIBLE_KMH))
    return num.astype(float).groupby(level=0).min().reindex(values.index)


def _maxspeed_numbers(values: pd.Series) -> pd.Series:
    """Every speed a ``maxspeed`` value states, in km/h, one row per list item (index repeated)."""
    s = values.astype(object).where(values.notna(), None).astype("string").str.lower().str.strip()
    first = s.str.split(r"[;|]", regex=True).explode()
    m = first.str.extract(r"^\s*(\d+(?:[.,]\d+)?)\s*(mph|km/h|kmh|kph|knots)?\s*$")
    num = pd.to_numeric(m[0].str.replace(",", ".", regex=False), errors="coerce")
    unit = m[1]
    num = num.where(unit != "mph", num * 1.609344)
    num = num.where(unit != "knots", num * 1.852)
    num = num.where(first != "walk", 6.0)
    zone = first.str.extract(r"^[a-z]{2}(?:-[a-z0-9]+)?:(\w+)$")[0]
    num = num.fillna(zone.map(_ZONE_SPEEDS))
    # "DE:zone:30", "DE:zone30": a speed zone with its limit
    num = num.fillna(pd.to_numeric(first.str.extract(r"^[a-z]{2}(?:-[a-z0-9]+)?:zone:?(\d+)$")[0], errors="coerce"))
    return num.astype(float)


def _drive_speed_kmh(ways: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Driving speed of each way, and which ways state only implausible ``maxspeed`` numbers
    (outside 5..150 km/h: they get the highway-class fallback)."""
    if "maxspeed" in ways.columns:
        parsed = parse_maxspeed(ways["maxspeed"])
        stated = (
            _maxspeed_numbers(ways["maxspeed"]).notna().groupby(level=0).any().reindex(ways.index, fill_value=False)
        )
        implausible = (stated & parsed.isna()).to_numpy(bool)
    else:
        parsed, implausible = pd.Series(np.nan, index=ways.index), np.zeros(len(ways), bool)
    fallback = _col(ways, "highway").map(settings.drive_speed_kmh).astype(float).fillna(30.0)
    return (parsed.fillna(fallback) * settings.drive_speed_factor).to_numpy(float), implausible


#: resolution of travel times, in minutes (0.06 s): pandana's contraction hierarchy stores each
#: impedance as an integer number of thousandths, so times are kept on that grid exactly
