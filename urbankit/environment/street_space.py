"""Carriageway width of street segments from OpenStreetMap tags, and street area freed.

Order of evidence for each edge (reported in the ``width_source`` column):

1. ``"width"``: a tagged ``width:carriageway`` or ``width`` (metres; ``"7 m"``, ``"7.5"``, feet as
   ``7'`` or ``"23 ft"``). OSM documents ``width`` on a highway as the width of the carriageway;
   mappers sometimes include sidewalks, which overstates the area.
2. ``"lanes"``: ``lanes`` x :data:`LANE_WIDTH_M` (moving lanes; OSM's ``lanes`` does not count parking
   lanes); ``"lanes+parking tags"`` where parking tags add parking lanes (or say there are none).
3. ``"parking tags+default lanes"``: no width or lanes but parking tagged: the default number of lanes
   (1 for one-way, 2 for two-way streets) x lane width, plus the parking lanes.
4. ``"class_default"``: :data:`CLASS_WIDTH_M` of the ``highway`` class (parking assumed included).

Tag values are untrusted: a ``lanes`` above :data:`MAX_LANES` is taken as :data:`MAX_LANES`, and a
width outside :data:`MIN_WIDTH_M`-:data:`MAX_WIDTH_M` is clipped into that range, with a warning
naming how many edges and examples; unreadable values count as untagged.

Parking lanes (both tagging schemes): ``parking:lane:both|left|right`` (older) and
``parking:both|left|right`` (current), with the orientation from the value (``parallel``,
``diagonal``, ``perpendicular``) or from ``parking:<side>:orientation``; ``no``, ``no_parking``,
``no_stopping``, ``separate`` and ``fire_lane`` add nothing.

Limits: OSM widths are sparse and of uneven quality; lanes x a standard width ignores bus lanes,
medians and cycle lanes on the carriageway unless they are counted in ``lanes``. The result is the
paved area between kerbs, not the space that a redesign can give to people.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._errors import InvalidOptionError

logger = logging.getLogger(__name__)

__all__ = [
    "CLASS_WIDTH_M",
    "DEFAULT_CLASS_WIDTH_M",
    "LANE_WIDTH_M",
    "MAX_LANES",
    "MAX_WIDTH_M",
    "MIN_WIDTH_M",
    "PARKING_WIDTH_M",
    "area_freed_m2",
    "carriageway_width",
]

#: width of a traffic lane, m: NACTO Urban Street Design Guide (2013), "Lane Width": 10 ft (3.0 m)
#: lanes are appropriate in urban areas (the 3.0-3.5 m range of European urban design guidance).
LANE_WIDTH_M = 3.0
#: depth of a parking lane by orientation, m: EAR 05 (FGSV, Empfehlungen fuer Anlagen des ruhenden
#: Verkehrs, 2005): parallel stalls 2.0 m deep, perpendicular 5.0 m, angled (45-60 degrees) about 4.5 m.
PARKING_WIDTH_M = {"parallel": 2.0, "diagonal": 4.5, "perpendicular": 5.0}
#: carriageway width by highway class where nothing is tagged, m: lanes of about 3 m plus parking
#: where usual, typical European urban values (also the superblocks' ``STREET_WIDTH_M``).
CLASS_WIDTH_M = {
    "motorway": 14.0,
    "trunk": 12.0,
    "primary": 12.0,
    "secondary": 10.0,
    "tertiary": 8.0,
    "unclassified": 6.0,
    "residential": 6.0,
    "living_street": 5.0,
    "service": 4.0,
    "road": 6.0,
    "motorway_link": 5.0,
    "trunk_link": 5.0,
    "primary_link": 5.0,
    "secondary_link": 5.0,
    "tertiary_link": 5.0,
}
#: width of classes missing from :data:`CLASS_WIDTH_M`, m (same source)
DEFAULT_CLASS_WIDTH_M = 6.0
#: plausibility bounds for untrusted tags (not from a design guide): an OSM way is one carriageway, and
#: 10 moving lanes of 3 m plus perpendicular parking on both sides (2 x 5 m) make 40 m; a carriageway
#: narrower than 2 m cannot carry a car (about 1.8 m wide). Values beyond are tagging errors (a width in
#: centimetres, the whole road corridor, a typo) and are clipped, with a warning.
MAX_LANES = 10
MAX_WIDTH_M = 40.0
MIN_WIDTH_M = 2.0
#: one foot in metres (international foot, 1959)
_FOOT_M = 0.3048
_NO_PARKING = {"no", "no_parking", "no_stopping", "separate", "fire_lane", "none"}
_SIDES = ("left", "right")


def _first(value):
    """A scalar tag value; OSMnx-style merged lists give their first non-empty element."""
    if isinstance(value, (list, tuple, np.ndarray)):
        for v in value:
            if v is not None and not (isinstance(v, float) and np.isnan(v)) and str(v).strip():
                return v
        return None
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def _parse_length_m(value) -> float:
    """Metres from an OSM length value, NaN if unparseable."""
    value = _first(value)
    if value is None:
        return np.nan
    if isinstance(value, (int, float, np.number)):
        return float(value) if value > 0 and not np.isnan(value) else np.nan
    s = str(value).strip().lower().replace(",", ".")
    s = s.split(";")[0].strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(m|meters?|metres?)?", s)
    if m:
        return float(m.group(1)) or np.nan
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ft|feet|')(?:\s*(\d+(?:\.\d+)?)\s*(\"|in))?", s)
    if m:
        inches = float(m.group(3)) if m.group(3) else 0.0
        return (float(m.group(1)) + inches / 12.0) * _FOOT_M or np.nan
    return np.nan


def _parse_lanes(value) -> float:
    value = _first(value)
    if value is None:
        return np.nan
    try:
        n = max(float(x) for x in str(value).split(";") if x.strip())
    except ValueError:
        return np.nan
    return n if n > 0 and not np.isnan(n) else np.nan


def _is_tag_column(name: str) -> bool:
    return name in {"width", "width:carriageway", "lanes", "oneway", "highway"} or name.startswith("parking:")


def _tag(row: Mapping, key: str):
    return _first(row.get(key)) if key in row else None


def _parking_side_m(row: Mapping, side: str, widths: Mapping[str, float]) -> tuple[float, bool]:
    """(depth on the carriageway in m, tagged?) of the parking on one side, from both tagging schemes."""
    for prefix in ("parking:lane:", "parking:"):
        value = _tag(row, f"{prefix}{side}")
        if value is None:
            value = _tag(row, f"{prefix}both")
        if value is None:
            continue
        value = str(value).strip().lower()
        if value in _NO_PARKING or value in {"street_side", "on_kerb"}:  # none, or in bays / on the sidewalk
            return 0.0, True
        if value in widths:  # parking:lane:*=parallel|diagonal|perpendicular
            return float(widths[value]), True
        if value in {"lane", "yes", "marked", "shoulder", "half_on_kerb"}:  # parking:*=lane + orientation
            orientation = "parallel"
            for key in (f"parking:{side}:orientation", "parking:both:orientation"):
                o = _tag(row, key)
                if o is not None and str(o).strip().lower() in widths:
                    orientation = str(o).strip().lower()
                    break
            share = 0.5 if value == "half_on_kerb" else 1.0
            return share * float(widths[orientation]), True
    return 0.0, False


def carriageway_width(
    edges: pd.DataFrame,
    *,
    lane_width_m: float = LANE_WIDTH_M,
    parking_width_m: Mapping[str, float] | None = None,
    class_width_m: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Carriageway width of each edge from its OSM tags, with the evidence used.

    Parameters
    ----------
    edges : DataFrame or GeoDataFrame
        One row per street segment with any of the columns ``width:carriageway``, ``width``,
        ``lanes``, ``oneway`` (bool or OSM value), ``highway`` and the parking keys of the module
        docstring. Missing columns count as untagged.
    lane_width_m : float, default 3.0
        Width of one traffic lane, m (:data:`LANE_WIDTH_M`).
    parking_width_m : dict, optional
        Depth by orientation, overriding :data:`PARKING_WIDTH_M`.
    class_width_m : dict, optional
        Class defaults overriding :data:`CLASS_WIDTH_M`.

    Returns
    -------
    DataFrame
        Same index as ``edges``; columns ``width_m``, ``width_source`` (``"width"``, ``"lanes"``,
        ``"lanes+parking tags"``, ``"parking tags+default lanes"``, ``"class_default"``) and
        ``parking_m`` (parking depth included in ``width_m`` when it comes from lanes).

    Raises
    ------
    InvalidOptionError
        Non-positive lane or parking widths.
    """
    if not lane_width_m > 0:
        raise InvalidOptionError(f"lane_width_m={lane_width_m!r} must be > 0 m.")
    pw = dict(PARKING_WIDTH_M, **(parking_width_m or {}))
    if any(not v > 0 for v in pw.values()):
        raise InvalidOptionError("parking_width_m values must be > 0 m.")
    cw = dict(CLASS_WIDTH_M, **(class_width_m or {}))
    width = np.full(len(edges), np.nan)
    parking = np.zeros(len(edges))
    source = np.empty(len(edges), dtype=object)
    keys = [c for c in edges.columns if isinstance(c, str) and _is_tag_column(c)]
    clipped: list[str] = []
    for i, row in enumerate(edges[keys].to_dict("records")):
        tagged = _parse_length_m(_tag(row, "width:carriageway"))
        if np.isnan(tagged):
            tagged = _parse_length_m(_tag(row, "width"))
        if not np.isnan(tagged):
            if not MIN_WIDTH_M <= tagged <= MAX_WIDTH_M:
                clipped.append(f"width={tagged:g} m")
            width[i], source[i] = float(np.clip(tagged, MIN_WIDTH_M, MAX_WIDTH_M)), "width"
            continue
        sides = [_parking_side_m(row, s, pw) for s in _SIDES]
        park = sum(d for d, _ in sides)
        park_tagged = any(t for _, t in sides)
        lanes = _parse_lanes(_tag(row, "lanes"))
        if not np.isnan(lanes):
            if lanes > MAX_LANES:
                clipped.append(f"lanes={lanes:g}")
                lanes = MAX_LANES
            width[i], parking[i] = lanes * lane_width_m + park, park
            source[i] = "lanes+parking tags" if park_tagged else "lanes"
            continue
        if park_tagged:
            oneway = _tag(row, "oneway")
            one = oneway is True or str(oneway).strip().lower() in {"yes", "true", "1", "-1"}
            width[i], parking[i] = (1 if one else 2) * lane_width_m + park, park
            source[i] = "parking tags+default lanes"
            continue
        highway = _tag(row, "highway")
        width[i], source[i] = cw.get(str(highway), DEFAULT_CLASS_WIDTH_M), "class_default"
    if clipped:
        logger.warning(
            "%d edges have an implausible width or lanes tag (e.g. %s); clipped to %g-%g m and %d lanes",
            len(clipped),
            ", ".join(clipped[:3]),
            MIN_WIDTH_M,
            MAX_WIDTH_M,
            MAX_LANES,
        )
    out = pd.DataFrame({"width_m": width, "width_source": source, "parking_m": parking}, index=edges.index)
    logger.debug("carriageway widths by source: %s", out.width_source.value_counts().to_dict())
    return out


def area_freed_m2(edges: pd.DataFrame, inside_mask, *, access_lane_m: float = 3.0, **width_options) -> pd.Series:
    """Street area given back to people on edges inside superblocks, m2 per edge.

    ``length_m x max(width_m - access_lane_m, 0)`` on edges where ``inside_mask`` is true, 0 elsewhere:
    the carriageway minus one access lane kept for residents, deliveries and emergencies (Barcelona's
    superblocks keep a single 10 km/h lane). Pass each street segment once (one row per undirected
    street, not one per direction) or the area is counted twice.

    Parameters
    ----------
    edges : DataFrame or GeoDataFrame
        With ``length_m`` (or a projected ``geometry``) and the tags read by :func:`carriageway_width`,
        or an already computed ``width_m`` column.
    inside_mask : array of bool
        One value per edge: the edge is internal to a superblock.
    access_lane_m : float, default 3.0
        Width that stays open to vehicles, m (one lane of :data:`LANE_WIDTH_M`); 0 frees everything.
    **width_options
        Passed to :func:`carriageway_width`.

    Returns
    -------
    Series
        m2 per edge, index of ``edges``, name ``area_freed_m2``.

    Raises
    ------
    InvalidOptionError
        A mask of another length, a negative access lane, or no way to get edge lengths.
    """
    inside = np.asarray(inside_mask, dtype=bool)
    if inside.shape != (len(edges),):
        raise InvalidOptionError(f"inside_mask has {inside.size} values for {len(edges)} edges; give one per edge.")
    if not access_lane_m >= 0:
        raise InvalidOptionError(f"access_lane_m={access_lane_m!r} must be >= 0 m.")
    if "length_m" in edges:
        length = edges["length_m"].to_numpy(dtype=float)
    elif hasattr(edges, "geometry") and edges.crs is not None and edges.crs.is_projected:
        length = edges.geometry.length.to_numpy(dtype=float)
    else:
        raise InvalidOptionError("edges need a length_m column or a geometry in a projected CRS (metres).")
    width = (
        edges["width_m"].to_numpy(float)
        if "width_m" in edges
        else carriageway_width(edges, **width_options)["width_m"].to_numpy()
    )
    freed = np.where(inside, length * np.clip(width - access_lane_m, 0.0, None), 0.0)
    return pd.Series(freed, index=edges.index, name="area_freed_m2")
