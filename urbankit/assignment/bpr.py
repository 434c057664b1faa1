"""BPR link performance and per-edge capacities / free-flow times of a drive network.

Link performance (Bureau of Public Roads, *Traffic Assignment Manual*, U.S. Department of
Commerce, 1964)::

    t(v) = t0 * (1 + alpha * (v / c) ** beta),   alpha = 0.15, beta = 4

with ``t0`` the free-flow time, ``v`` the flow and ``c`` the practical capacity of the link
(vehicles per hour).

Capacities
----------
Capacity per lane and hour by OSM ``highway`` class (:data:`CAPACITY_PER_LANE_VPH`). The values are
HCM-style planning capacities, not measurements of any one street:

* motorway 2,000 veh/h/lane: HCM 2010 (TRB), Exhibit 11-17, basic freeway segment base capacity
  2,250-2,400 pc/h/ln, reduced for heavy vehicles and driver population (a common planning value);
* trunk 1,800 and ``*_link`` ramps 1,500: HCM multilane highway capacity (Exhibit 14-5, 1,900-2,200
  pc/h/ln) reduced for urban interruptions; ramp roadways HCM Exhibit 13-10 (1,800-2,200 for one
  lane at 40-50 mi/h free speed), reduced;
* urban streets: HCM 2010 Ch. 18 signalised approaches, base saturation flow 1,900 pc/h/ln times an
  effective green ratio ``g/C`` of about 0.5 for primary (950 -> 900), lower for minor classes with
  more friction (secondary 800, tertiary 700, unclassified 600, residential 500, living_street and
  service 300 veh/h/lane).

Lanes per direction come from the OSM ``lanes`` tag of the way (total of both directions: halved,
rounded down but at least one, on two-way streets), else :data:`DEFAULT_LANES` of the class.
The free-flow time is the network's ``time_min`` (from ``maxspeed``, else urbankit's class speeds,
see :mod:`urbankit.networks`).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from urbankit._errors import InvalidOptionError

log = logging.getLogger(__name__)

#: BPR (1964) default coefficients
BPR_ALPHA = 0.15
BPR_BETA = 4.0

#: practical capacity per lane and hour by OSM highway class (sources in the module docstring)
CAPACITY_PER_LANE_VPH: dict[str, float] = {
    "motorway": 2000.0,
    "trunk": 1800.0,
    "primary": 900.0,
    "secondary": 800.0,
    "tertiary": 700.0,
    "unclassified": 600.0,
    "residential": 500.0,
    "living_street": 300.0,
    "service": 300.0,
    "road": 500.0,
    "motorway_link": 1500.0,
    "trunk_link": 1500.0,
    "primary_link": 900.0,
    "secondary_link": 800.0,
    "tertiary_link": 700.0,
}
#: used for a class not in the table
FALLBACK_CAPACITY_PER_LANE_VPH = 500.0

#: lanes per travel direction when the way has no usable ``lanes`` tag
DEFAULT_LANES: dict[str, int] = {"motorway": 2, "trunk": 2, "primary": 2}


def bpr_time(free_time, flow, capacity, *, alpha=BPR_ALPHA, beta=BPR_BETA):
    """Congested travel time of links by the BPR function.

    Parameters
    ----------
    free_time : array-like
        Free-flow time of each link (any unit; the result has the same unit).
    flow : array-like
        Flow on each link (vehicles per hour).
    capacity : array-like
        Capacity of each link (vehicles per hour, > 0).
    alpha, beta : float or array-like, keyword-only
        BPR coefficients (default 0.15 and 4).

    Returns
    -------
    numpy.ndarray
        ``free_time * (1 + alpha * (flow / capacity) ** beta)``.
    """
    ratio = np.asarray(flow, dtype=float) / np.asarray(capacity, dtype=float)
    return np.asarray(free_time, dtype=float) * (1.0 + np.asarray(alpha) * ratio ** np.asarray(beta))


def _lanes_per_direction(lanes_tag: pd.Series, oneway: pd.Series) -> pd.Series:
    """Lanes in one travel direction from the OSM ``lanes`` tag (NaN when absent or unusable)."""
    first = lanes_tag.astype("string").str.split(";").str[0].str.strip()
    total = pd.to_numeric(first, errors="coerce")
    total = total.where((total >= 1) & (total <= 12))
    two_way = ~oneway.fillna(False).astype(bool)
    per_dir = total.where(~two_way, np.floor(total / 2).clip(lower=1))
    return per_dir


def link_performance(
    network,
    *,
    ways: pd.DataFrame | None = None,
    capacity_per_lane_vph: dict[str, float] | None = None,
    alpha: float = BPR_ALPHA,
    beta: float = BPR_BETA,
) -> pd.DataFrame:
    """Capacity, free-flow time and BPR coefficients of every edge of a drive network.

    Parameters
    ----------
    network : StreetNetwork
        A drive network (one edge row per travel direction).
    ways : pandas.DataFrame, optional, keyword-only
        The extract's ways (``OSMExtract.ways``) with ``way_id`` and ``lanes``; without it every
        edge gets its class's :data:`DEFAULT_LANES`.
    capacity_per_lane_vph : dict, optional, keyword-only
        Overrides of :data:`CAPACITY_PER_LANE_VPH` by highway class.
    alpha, beta : float, keyword-only
        BPR coefficients written to every edge.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``network.edges``: ``lanes``, ``lanes_source`` (``"osm"`` or ``"default"``),
        ``capacity_vph``, ``free_time_min``, ``alpha``, ``beta``.

    Raises
    ------
    InvalidOptionError
        If the network is not a directed (drive) network, a capacity override is not positive, or
        ``alpha``/``beta`` are negative.
    """
    if not getattr(network, "directed", False):
        raise InvalidOptionError(
            f"link_performance needs a drive network (one edge per direction); got mode "
            f"{getattr(network, 'mode', '?')!r}: build it with build_network(extract, 'drive')."
        )
    if alpha < 0 or beta < 0:
        raise InvalidOptionError(f"BPR alpha and beta must be >= 0, got alpha={alpha}, beta={beta}.")
    table = dict(CAPACITY_PER_LANE_VPH)
    for key, value in (capacity_per_lane_vph or {}).items():
        if not np.isfinite(value) or value <= 0:
            raise InvalidOptionError(
                f"capacity_per_lane_vph[{key!r}] must be a positive number of vehicles per hour, got {value!r}."
            )
        table[key] = float(value)
    edges = network.edges
    highway = edges["highway"].astype("string").fillna("road").str.split(";").str[0]
    lanes = pd.Series(np.nan, index=edges.index)
    if ways is not None and "lanes" in ways.columns and "way_id" in edges.columns:
        w = ways.drop_duplicates("way_id").set_index("way_id")
        oneway_w = w["oneway"] if "oneway" in w.columns else pd.Series(False, index=w.index)
        oneway = oneway_w.astype("string").isin(["yes", "true", "1", "-1", "True"])
        per_dir = _lanes_per_direction(w["lanes"], oneway)
        lanes = pd.Series(edges["way_id"].map(per_dir).to_numpy(dtype=float), index=edges.index)
    source = np.where(lanes.notna(), "osm", "default")
    default = highway.map(lambda h: DEFAULT_LANES.get(str(h), 1)).astype(float)
    lanes = lanes.fillna(default)
    per_lane = highway.map(lambda h: table.get(str(h), FALLBACK_CAPACITY_PER_LANE_VPH)).astype(float)
    out = pd.DataFrame(
        {
            "lanes": lanes.to_numpy(),
            "lanes_source": source,
            "capacity_vph": (per_lane * lanes).to_numpy(),
            "free_time_min": edges["time_min"].to_numpy(dtype=float),
            "alpha": float(alpha),
            "beta": float(beta),
        },
        index=edges.index,
    )
    log.debug("link_performance: %d edges, %.0f%% lanes from OSM", len(out), 100 * (source == "osm").mean())
    return out
