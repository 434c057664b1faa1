"""Superblocks: candidate cells, the traffic-exclusion scenario, car demand, assignment and effects.

Barcelona's superblocks (*superilles*) group about 3 x 3 Eixample blocks into cells of roughly
400 m x 400 m: inside, only residents, services and bicycles drive, at walking pace, and through
traffic stays on the perimeter streets. This module finds candidate cells on a drive network,
restricts through traffic inside them exactly, assigns car trips before and after, and reports the
effects per street and in total.

>>> import urbankit as uk
>>> from urbankit.mock import grid_extract
>>> net = uk.build_network(grid_extract(6, 6), "drive", cache=False)
>>> sb = find_superblocks(net)
>>> len(sb), round(float(sb.area_ha.iloc[0]), 2), int(sb.n_internal_edges.iloc[0])
(4, 11.49, 12)
>>> # node id 1 + 7 j + i sits at column i, row j; rows and columns 0, 3, 6 are arterials (50 km/h)
>>> od = pd.DataFrame({"origin": [8, 9], "destination": [11, 17], "trips": [100.0, 10.0]})
>>> a = assign(net, od, superblocks=sb, n_jobs=1)
>>> a.od[["time_before_min", "time_after_min", "distance_before_m", "distance_after_m"]].round(3).values.tolist()
[[0.678, 0.68, 339.0, 565.0], [0.452, 1.356, 226.0, 226.0]]

The first trip crossed the superblock on a 30 km/h street (3 blocks, 0.678 min); after, it goes round
on the arterials (5 blocks, 0.680 min). The second starts and ends inside: it keeps its streets, at
10 km/h.

Candidates (:func:`find_superblocks`)
-------------------------------------
``arterial``
    The through network is every street whose ``highway`` is in ``through_highways`` (default
    motorway, trunk, primary, secondary, tertiary and their links). The cells are the faces of that
    network (``shapely.polygonize`` of its edges, which meet at shared nodes; bridges and tunnels
    crossing without a node do not cut cells). The outer face is never a cell.
``grid``
    For grid cities whose arterial cells are far larger than a superblock. The two dominant street
    orientations are found from a length-weighted histogram of edge bearings (mod 180 degrees);
    edges within 10 degrees of one of them are grouped into straight street *lines* by their
    perpendicular offset (offsets closer than 0.3 times the typical spacing, at least 15 m and at
    most 50 m, form one line, so dual carriageways and side lanes count once); the typical spacing
    is the median distance between neighbouring lines. Every k-th line becomes a through street, with
    ``k = max(1, floor(1.1 * target_spacing_m / spacing))`` (the largest number of spacings whose
    total is at most the target, with 10% slack: 3 for Cerda's 133 m and for 113 m) or
    ``grid_every``; of the k possible phases, the one keeping the most length of existing
    ``through_highways`` streets on the chosen lines wins (ties: the first). Streets of
    ``always_through`` (motorway, trunk, primary and links) stay through streets wherever they are.
    Cells are the faces of that through network.
``auto`` (default)
    ``arterial``; when it finds no through street, or its cells are mostly (median) larger than
    ``max_area_ha``, ``grid`` instead if the network is a grid (at least half of its length on the
    two dominant orientations); otherwise the arterial result stands.
``residential``
    superblockify's ``ResidentialPartitioner`` rule: the through network is the largest (weakly)
    connected part of all streets whose highway is not ``residential`` or ``living_street``; the
    other streets fall apart into components, connected only through nodes off the through network
    (a street joining two through nodes is a component of its own). Each component's polygon is the
    face of the through network holding most of its streets (components sharing a face become one
    candidate); components outside every face (at the edge of the area) get the concave hull
    (ratio 0.5) of their streets' vertices grown by 10 m.
``polygons``
    The user's polygons, in their order (no size filter).

Streets inside a cell are its *internal* streets: a street is internal to a cell when the middle of
its geometry lies inside the cell, more than ``tolerance_m`` (default 1 m) from its boundary; so
through and perimeter streets, which run along the boundary, never are (a dead-end through street
ending inside a cell is internal to it). For ``residential`` the internal streets are exactly the
component's streets. Detected cells are kept when their area is within ``[min_area_ha, max_area_ha]``
(default 4 to 40 ha: a 3 x 3 Eixample superblock is 11.5 ha between street axes at 113 m spacing,
16 ha at the real 133 m), they hold at least one internal street and at least ``min_residents``.

Routing rule of the exclusion scenario (exact)
----------------------------------------------
Let *S* be the unrestricted network: every usable edge that is not internal to any superblock. A
node is *inside* superblock k when none of its incident edges is in S and its incident edges are
internal to k. A node touching the internal streets of several superblocks and no S edge (user
polygons, or a gap in the through network) is inside the one holding most of its incident edge rows
(ties: the lowest id). A node touching k's internal streets and any other street is a *perimeter
node* of k (so such a node is both inside one superblock and on the perimeter of all it touches).
A car trip from o to d may use

* the internal edges of o's superblock A (if o is inside one) at its start,
* then edges of S,
* then the internal edges of d's superblock B (if d is inside one) at its end,

i.e. its path is ``A-internal* S* B-internal*``; when A == B it may also stay inside A. Trips whose
ends are both outside superblocks use S only: no through traffic crosses a superblock. Internal
edges are driven at ``internal_speed_kmh`` (default 10 km/h, or their own speed if lower).
Closed streets and modal filters remove edges from the after scenario (they do not change which
nodes are inside).

This is computed exactly with one static *layered* graph per scenario: layer L2 is S on the
original nodes; layer L1 holds one copy of the internal edges of each superblock containing an
origin, layer L3 one copy per superblock containing a destination (a perimeter node gets a copy
per adjacent superblock). Transitions L1(p, k) -> L2(p) and L2(p) -> L3(p, k) join them at the
perimeter nodes p of k. A trip from o inside A starts at L1(o, A), otherwise at L2(o); it ends at
L3(d, B) or, when A == B, at L1(d, A) (the smaller), otherwise at L2(d). Every path of the layered
graph from start to end is an allowed path and vice versa, so one Dijkstra per origin on it is the
exact restricted shortest path. Times are integers of 0.001 min (:func:`~urbankit.networks.quantize_minutes`);
every arc also costs 2**-20 of a step (transitions only that), so that scipy keeps the zero-time
transitions (its sparse graphs drop explicit zeros), ties are broken toward fewer edges, and the
fractional part of a distance is the node's depth in the shortest-path tree: exact in float64, and
rounded away from the reported minutes.

Demand and assignment
---------------------
:func:`gravity_demand` is a production-constrained gravity model between zones (H3 cells,
default resolution 8, about 0.74 km²; each zone is represented by the node nearest to the weighted
centroid of its residents and destinations)::

    T_ij = P_i * trips_per_resident * A_j exp(-beta c_ij) / sum_k A_k exp(-beta c_ik)   (j != i)

with ``P`` residents and ``A`` destinations (or residents when none are given) per zone, ``c``
free-flow car minutes before the scenario, ``beta_per_min`` (default 0.1 per minute) and
``trips_per_resident`` car trips per resident per day (default 0.5). Intra-zonal trips are left
out (they start and end at the same node). A user OD table (``origin``, ``destination`` node ids,
``trips`` per day) can be given instead.

:func:`assign` loads every OD row all-or-nothing on its shortest-time path, before and after. One
Dijkstra per distinct origin (scipy, batched) yields the shortest-path tree; trips are pushed up the
tree level by level (from the deepest level to the root, a few numpy calls per level for a whole
batch of trees), so the edge flows are exact sums over trips, with no Python loop over nodes or
trips. Cost grows with the number of distinct origins: aggregate user OD tables to zones for large
areas. Trips *affected* by the scenario are those whose travel time increases; ``evaporation``
(traffic evaporation, default 0) and ``mode_shift`` (default 0) are the shares of affected trips
that no longer drive after.

Effects (:func:`effects`)
-------------------------
Per street: flows before and after (veh/day), vehicle-km, noise change
``dL = 10 log10(max(Q_after, floor) / max(Q_before, floor))`` (the CNOSSOS-EU flow term at equal
speed, on the total flow of both directions of a street) with a floor of
:data:`NOISE_FLOOR_VEH_DAY` = 100 veh/day (access traffic of a superblock street by residents,
deliveries and services rarely falls below about 100 vehicles a day, and below it the street's own
traffic no longer dominates the noise; without a floor an emptied street would show minus
infinity), plus the CNOSSOS-EU speed term where the speed changes (:func:`noise_speed_term_db`);
CO2 and NOx from per-vehicle-km factors (:data:`CO2_KG_PER_VKM`, :data:`NOX_G_PER_VKM`); street
area freed for people and residents inside superblocks. See :data:`NOISE_CAVEAT`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from ._errors import CRSError, InvalidOptionError, NoStreetsError
from .network import TIME_RESOLUTION_MIN, StreetNetwork, quantize_minutes

logger = logging.getLogger(__name__)

__all__ = [
    "ALWAYS_THROUGH_HIGHWAYS",
    "CO2_KG_PER_VKM",
    "DEFAULT_THROUGH_HIGHWAYS",
    "NOISE_CAVEAT",
    "NOISE_FLOOR_VEH_DAY",
    "NOX_G_PER_VKM",
    "STREET_WIDTH_M",
    "Assignment",
    "Scenario",
    "assign",
    "effects",
    "find_superblocks",
    "gravity_demand",
    "label_edges",
    "noise_speed_term_db",
    "run_scenario",
    "trip_paths",
]

# --------------------------------------------------------------------------------------------------
# defaults

#: streets forming the through network of the ``arterial`` method
DEFAULT_THROUGH_HIGHWAYS = (
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
)
#: streets that stay through streets in the ``grid`` method wherever they are
ALWAYS_THROUGH_HIGHWAYS = ("motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link")
#: streets that never belong to the through network of the ``residential`` method (superblockify)
RESIDENTIAL_HIGHWAYS = ("residential", "living_street")
METHODS = ("auto", "arterial", "grid", "residential", "polygons")

#: default carriageway width by highway class, in metres, for the street area freed inside
#: superblocks (network edges carry no width): typical European urban values, lanes of about 3 m
#: plus parking where usual. Override with ``street_width_m={...}``.
STREET_WIDTH_M = {
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
#: width of classes missing from :data:`STREET_WIDTH_M`
DEFAULT_STREET_WIDTH_M = 6.0

DEFAULT_MIN_AREA_HA = 4.0
DEFAULT_MAX_AREA_HA = 40.0
DEFAULT_INTERNAL_SPEED_KMH = 10.0

#: CO2 per passenger-car vehicle-km (kg): fleet average of about 0.17 kg CO2e/km, the "average car,
#: unknown fuel" factor of the UK Government GHG conversion factors (DESNZ, 2023; real-world
#: consumption of the registered fleet, not type-approval values). A fleet average: replace it with
#: a local COPERT/HBEFA value where known.
CO2_KG_PER_VKM = 0.17
#: NOx per passenger-car vehicle-km (g): about 0.35 g/km, the order of urban fleet averages of
#: European inventories built with COPERT/HBEFA (EMEP/EEA air pollutant emission inventory guidebook,
#: 1.A.3.b; UK NAEI road transport factors) for fleets with a large diesel share, as in Spain. A fleet
#: average: replace it with a local value where known.
NOX_G_PER_VKM = 0.35
#: floor of the flow term of the noise change (veh/day; see the module docstring)
NOISE_FLOOR_VEH_DAY = 100.0
#: limitation of the flow-only noise estimate, repeated in reports
NOISE_CAVEAT = (
    "The flow-only noise estimate (dL = 10 log10(Q_after / Q_before), CNOSSOS-EU at equal speed) "
    "overstates measured drops: at Sant Antoni, Barcelona, -82% vehicles on Comte Borrell predicts "
    "-7.4 dB, while -4.1 dB was measured by day (other sources, such as neighbouring streets, people "
    "and deliveries, keep the level up)."
)

# CNOSSOS-EU road source, vehicle category 1 (light vehicles), octave bands 63 Hz .. 8 kHz
# (Commission Directive (EU) 2015/996, Annex II; the CNOSSOS-EU JRC reference report EUR 25379 EN,
# 2012): rolling noise A_R + B_R log10(v / 70), propulsion A_P + B_P (v - 70) / 70.
_CNOSSOS_AR = np.array([79.7, 85.7, 84.5, 90.2, 97.3, 93.9, 84.1, 74.3])
_CNOSSOS_BR = np.array([30.0, 41.5, 38.9, 25.7, 32.5, 37.2, 39.0, 40.0])
_CNOSSOS_AP = np.array([94.5, 89.2, 88.0, 85.9, 84.2, 86.9, 83.3, 76.1])
_CNOSSOS_BP = np.array([-1.3, 7.2, 7.7, 8.0, 8.0, 8.0, 8.0, 8.0])
_A_WEIGHTING = np.array([-26.2, -16.1, -8.6, -3.2, 0.0, 1.2, 1.0, -1.1])
_CNOSSOS_V_MIN, _CNOSSOS_V_MAX = 20.0, 130.0

#: every arc of a routing graph costs its time steps plus this (see the module docstring)
_HOP = 2.0**-20
#: float cells one Dijkstra batch may allocate (distances; predecessors add half again)
_BATCH_CELLS = 3_000_000
_RECORD = "urbankit_superblocks"
#: incoming arcs per node held in the padded lookup table of a routing graph
_IN_SLOTS = 8


# --------------------------------------------------------------------------------------------------
# small helpers


def _check_network(network) -> None:
    if not isinstance(network, StreetNetwork):
        raise InvalidOptionError(
            f"network must be a StreetNetwork (from urbankit.build_network), not {type(network).__name__}."
        )
    if len(network.edges) == 0:
        raise NoStreetsError("the network has no edges.")


def _number(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    strict_low: bool = False,
    allow_none: bool = False,
) -> float | None:
    if value is None and allow_none:
        return None
    ok = (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )
    if ok and low is not None:
        ok = value > low if strict_low else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        rng = []
        if low is not None:
            rng.append(f"{'>' if strict_low else '>='} {low:g}")
        if high is not None:
            rng.append(f"<= {high:g}")
        raise InvalidOptionError(f"{name}={value!r} must be a finite number {' and '.join(rng)}.".replace("  ", " "))
    return float(value)


def _examples(values, n: int = 5) -> str:
    items = list(values[:n])
    return ", ".join(map(str, items)) + (", ..." if len(values) > n else "")


def _highway(edges: pd.DataFrame) -> pd.Series:
    return edges["highway"].astype(object).where(edges["highway"].notna(), "").astype(str).str.strip().str.lower()


def _street_ids(edges: pd.DataFrame) -> np.ndarray:
    """Id of the street segment of every edge row: the two directions of a two-way street share it."""
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    key = pd.DataFrame(
        {
            "a": np.minimum(u, v),
            "b": np.maximum(u, v),
            "w": edges["way_id"].astype(str).to_numpy(),
            "l": np.round(edges["length_m"].to_numpy(float), 1),
        }
    )
    return key.groupby(["a", "b", "w", "l"], sort=False).ngroup().to_numpy()


def _first_rows(ids: np.ndarray) -> np.ndarray:
    """Positions of the first row of each id (ascending positions)."""
    _, first = np.unique(ids, return_index=True)
    return np.sort(first)


def _midpoints(geoms) -> np.ndarray:
    return shapely.line_interpolate_point(np.asarray(geoms, dtype=object), 0.5, normalized=True)


def _fingerprint(network: StreetNetwork) -> str:
    h = hashlib.sha1()
    h.update(str(len(network.edges)).encode())
    for col in ("u", "v"):
        h.update(np.ascontiguousarray(network.edges[col].to_numpy()).tobytes())
    return h.hexdigest()


def _geom_hash(geom) -> str:
    return hashlib.sha1(shapely.to_wkb(geom, hex=False)).hexdigest()


def _per_node(values, network: StreetNetwork, name: str) -> np.ndarray | None:
    """A per-node quantity (Series indexed by node_id, or a PopulationEstimate) as an array over nodes."""
    if values is None:
        return None
    per_node = getattr(values, "per_node", values)
    if not isinstance(per_node, pd.Series):
        raise InvalidOptionError(
            f"{name} must be a PopulationEstimate or a pandas Series indexed by node_id, not {type(values).__name__}."
        )
    aligned = per_node.reindex(network.nodes.index)
    if len(per_node) and aligned.isna().all():
        raise InvalidOptionError(
            f"{name} shares no node_id with the network (e.g. {_examples(per_node.index)}); compute it on "
            "this network's nodes."
        )
    out = pd.to_numeric(aligned, errors="coerce").fillna(0.0).to_numpy(float)
    if (out < 0).any() or not np.isfinite(out).all():
        raise InvalidOptionError(f"{name} has negative or infinite values; give counts >= 0.")
    return out


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Inverted-CDF weighted quantile (NaN when the weights sum to 0)."""
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return float("nan")
    v, w = values[ok], weights[ok]
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(w[order])
    i = np.searchsorted(cum, q * cum[-1], side="left")
    return float(v[order][min(i, len(v) - 1)])


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _jobs(n_jobs) -> int:
    if n_jobs is None:
        return _available_cores()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise InvalidOptionError(f"n_jobs={n_jobs!r} must be a whole number >= 1, -1 (all cores) or None.")
    return _available_cores() if n_jobs < 0 else int(n_jobs)


# --------------------------------------------------------------------------------------------------
# candidates


@dataclass
class _Segments:
    """One row per street segment (both directions of a two-way street are one segment)."""

    street: np.ndarray  # street id of every edge row
    rows: np.ndarray  # first edge row of each street id (index = street id order of first rows)
    highway: np.ndarray  # per segment
    length: np.ndarray
    geoms: np.ndarray
    mid: np.ndarray
    names: np.ndarray

    @classmethod
    def of(cls, network: StreetNetwork) -> _Segments:
        e = network.edges
        street = _street_ids(e)
        rows = _first_rows(street)
        # renumber streets so that street id i is the segment of rows[i]
        remap = np.empty(street.max() + 1, dtype=np.int64)
        remap[street[rows]] = np.arange(len(rows))
        street = remap[street]
        geoms = e.geometry.to_numpy()[rows]
        return cls(
            street=street,
            rows=rows,
            highway=_highway(e).to_numpy()[rows],
            length=e["length_m"].to_numpy(float)[rows],
            geoms=geoms,
            mid=_midpoints(geoms),
            names=e["name"].astype(object).to_numpy()[rows] if "name" in e.columns else np.full(len(rows), None),
        )


def _faces(geoms: np.ndarray) -> np.ndarray:
    """Bounded faces of a set of lines meeting at their end points (``shapely.polygonize``)."""
    if len(geoms) == 0:
        return np.empty(0, dtype=object)
    return np.asarray(shapely.get_parts(shapely.polygonize(np.asarray(geoms, dtype=object))), dtype=object)


def _inside_labels(points: np.ndarray, polys: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Polygon position holding each point more than ``tolerance_m`` inside (-1: none; smallest wins)."""
    out = np.full(len(points), -1, dtype=np.int64)
    if len(polys) == 0 or len(points) == 0:
        return out
    tree = shapely.STRtree(polys)
    pi, qi = tree.query(points, predicate="within")
    if len(pi):
        far = shapely.distance(points[pi], shapely.boundary(polys[qi])) > tolerance_m
        pi, qi = pi[far], qi[far]
        order = np.lexsort((shapely.area(polys[qi]), pi))  # by point, smallest polygon first
        pi, qi = pi[order], qi[order]
        first = np.ones(len(pi), bool)
        first[1:] = pi[1:] != pi[:-1]
        out[pi[first]] = qi[first]
    return out


def _lines_through(
    seg: _Segments,
    *,
    target_spacing_m: float,
    grid_every: int | None,
    through_highways,
    always_through,
    angle_tol_deg: float = 10.0,
    offset_tol_m: float = 15.0,
):
    """Through mask (per segment) of the grid method, and a description of the detected grid."""
    coords = shapely.get_coordinates(seg.geoms, return_index=False)
    counts = shapely.get_num_coordinates(seg.geoms)
    last = np.cumsum(counts) - 1
    first = last - counts + 1
    dx, dy = coords[last, 0] - coords[first, 0], coords[last, 1] - coords[first, 1]
    chord = np.hypot(dx, dy)
    ang = np.degrees(np.arctan2(dy, dx)) % 180.0
    w = np.where(chord > 0, seg.length, 0.0)
    total = w.sum()
    if total <= 0:
        raise InvalidOptionError("method='grid': the network has no street with a direction.")
    hist = np.bincount(np.floor(ang).astype(int) % 180, weights=w, minlength=180)
    smooth = sum(np.roll(hist, s) for s in range(-2, 3))

    def circ(a, b):
        d = np.abs(a - b) % 180.0
        return np.minimum(d, 180.0 - d)

    def refine(peak: float) -> float:
        near = circ(ang, peak) <= 5.0
        z = np.sum(w[near] * np.exp(2j * np.radians(ang[near])))
        return float(np.degrees(np.angle(z)) / 2.0) % 180.0

    th1 = refine(float(np.argmax(smooth)) + 0.5)
    far = circ(np.arange(180) + 0.5, th1) >= 45.0
    th2 = refine(float(np.argmax(np.where(far, smooth, -1.0))) + 0.5)
    d1, d2 = circ(ang, th1), circ(ang, th2)
    orient = np.where((d1 <= angle_tol_deg) & (d1 <= d2), 0, np.where(d2 <= angle_tol_deg, 1, -1))
    orient[chord <= 0] = -1
    share = w[orient >= 0].sum() / total
    if share < 0.5:
        raise InvalidOptionError(
            f"method='grid': the network is not a grid: only {share:.0%} of its street length runs along the two "
            f"dominant orientations ({th1:.0f} and {th2:.0f} degrees); use method='arterial' or 'residential', "
            "or give polygons."
        )
    is_through_class = np.isin(seg.highway, list(through_highways))
    through = np.isin(seg.highway, list(always_through))
    info = {"orientations_deg": (round(th1, 1), round(th2, 1)), "grid_share": float(share)}
    for o, th in ((0, th1), (1, th2)):
        sel = np.flatnonzero(orient == o)
        if len(sel) == 0:
            continue
        t = np.radians(th)
        mx, my = shapely.get_x(seg.mid[sel]), shapely.get_y(seg.mid[sel])
        off = -np.sin(t) * mx + np.cos(t) * my
        order = np.argsort(off, kind="stable")
        so = off[order]
        tol = offset_tol_m
        for _ in range(6):  # merge parallel carriageways: tolerance 0.3 x spacing, from 15 m up to 50 m
            line_of_sorted = np.concatenate([[0], np.cumsum(np.diff(so) > tol)])
            line = np.empty(len(sel), dtype=np.int64)
            line[order] = line_of_sorted
            n_lines = int(line.max()) + 1
            lw = np.bincount(line, weights=seg.length[sel], minlength=n_lines)
            loff = np.bincount(line, weights=seg.length[sel] * off, minlength=n_lines) / np.maximum(lw, 1e-12)
            gaps = np.diff(loff)
            spacing = float(np.median(gaps)) if len(gaps) else float("inf")
            new_tol = min(max(offset_tol_m, 0.3 * spacing), 50.0) if math.isfinite(spacing) else tol
            if new_tol <= tol + 1e-9:
                break
            tol = new_tol
        if len(gaps) == 0:
            idx = np.zeros(n_lines, dtype=np.int64)
        else:
            steps = np.maximum(1, np.rint(gaps / spacing)).astype(np.int64)
            idx = np.concatenate([[0], np.cumsum(steps)])
        if grid_every is not None:
            k = int(grid_every)
        else:
            k = max(1, math.floor(1.1 * target_spacing_m / spacing)) if math.isfinite(spacing) else 1
        art = np.bincount(line, weights=np.where(is_through_class[sel], seg.length[sel], 0.0), minlength=n_lines)
        scores = [art[idx % k == p].sum() for p in range(k)]
        phase = int(np.argmax(scores))
        chosen_line = idx % k == phase
        through[sel[chosen_line[line]]] = True
        info[f"spacing_{o}_m"] = round(spacing, 2)
        info[f"every_{o}"] = k
        info[f"phase_{o}"] = phase
        info[f"lines_{o}"] = n_lines
    return through, info


def _through_components(network: StreetNetwork, seg: _Segments, non_res_seg: np.ndarray):
    """Residential method: largest weakly connected part of the non-residential streets, and components."""
    nodes = network.nodes.index
    e = network.edges
    rows = seg.rows
    u = nodes.get_indexer(e["u"].to_numpy()[rows])
    v = nodes.get_indexer(e["v"].to_numpy()[rows])
    n = len(nodes)
    sel = np.flatnonzero(non_res_seg)
    if len(sel) == 0:
        return np.zeros(len(rows), bool), None
    g = coo_matrix((np.ones(len(sel)), (u[sel], v[sel])), shape=(n, n)).tocsr()
    _, lab = connected_components(g, directed=False)
    touched = np.zeros(n, bool)
    touched[u[sel]] = True
    touched[v[sel]] = True
    counts = np.bincount(lab[touched], minlength=lab.max() + 1)
    big = int(np.argmax(counts))
    through = non_res_seg & (lab[u] == big) & (lab[v] == big)
    tnode = np.zeros(n, bool)
    tnode[u[through]] = True
    tnode[v[through]] = True
    rest = np.flatnonzero(~through)
    both_free = rest[~tnode[u[rest]] & ~tnode[v[rest]]]
    g2 = coo_matrix((np.ones(len(both_free)), (u[both_free], v[both_free])), shape=(n, n)).tocsr()
    _, clab = connected_components(g2, directed=False)
    comp = np.full(len(rows), -1, dtype=np.int64)
    cu = np.where(~tnode[u[rest]], clab[u[rest]], np.where(~tnode[v[rest]], clab[v[rest]], -1))
    lone = cu < 0
    cu[lone] = clab.max() + 1 + np.arange(lone.sum())
    comp[rest] = cu
    return through, comp


def find_superblocks(
    network: StreetNetwork,
    *,
    method: str = "auto",
    polygons=None,
    through_highways=DEFAULT_THROUGH_HIGHWAYS,
    always_through=ALWAYS_THROUGH_HIGHWAYS,
    target_spacing_m: float = 400.0,
    grid_every: int | None = None,
    min_area_ha: float | None = DEFAULT_MIN_AREA_HA,
    max_area_ha: float | None = DEFAULT_MAX_AREA_HA,
    population=None,
    min_residents: float = 0.0,
    street_width_m: dict | None = None,
    tolerance_m: float = 1.0,
) -> gpd.GeoDataFrame:
    """Candidate superblocks of a street network.

    Parameters
    ----------
    network : StreetNetwork
        Usually the drive network (any mode works for detection).
    method : {"auto", "arterial", "grid", "residential", "polygons"}, default "auto"
        How cells are found (see the module docstring).
    polygons : GeoDataFrame, GeoSeries or list of shapely polygons, optional
        The cells for ``method="polygons"`` (given ``polygons`` implies that method). Frames need a
        CRS (they are reprojected); bare shapely geometries are taken in the network's CRS.
    through_highways : sequence of str
        Highway classes of the through network (``arterial``; in ``grid`` the classes whose length
        decides the phase of the chosen lines).
    always_through : sequence of str
        Classes that stay through streets in the ``grid`` method.
    target_spacing_m : float, default 400
        Largest distance between the through streets the ``grid`` method chooses (+10%).
    grid_every : int, optional
        Choose every ``grid_every``-th street line instead of deriving it from the spacing.
    min_area_ha, max_area_ha : float or None, default 4 and 40
        Cells outside this area range are dropped (None: no bound). Not applied to user polygons.
    population : PopulationEstimate or Series indexed by node_id, optional
        Residents per node, for the ``residents`` column and ``min_residents``.
    min_residents : float, default 0
        Cells with fewer residents are dropped (needs ``population``).
    street_width_m : dict, optional
        Carriageway width per highway class, overriding :data:`STREET_WIDTH_M`.
    tolerance_m : float, default 1
        A street is internal when its middle is more than this inside the cell.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per candidate, in the network's CRS: ``superblock_id`` (0..n-1), ``geometry``,
        ``area_ha``, ``residents`` (NaN without population; residents of nodes on the boundary of
        several candidates are shared equally), ``n_internal_edges`` and ``internal_length_m``
        (street segments inside, each two-way street counted once), ``internal_street_area_m2``
        (length times the class width), ``n_nodes_inside``, ``perimeter_length_m`` (street length
        along the boundary), ``perimeter_streets`` (their names, ``"; "``-joined), ``method``.
        ``attrs`` remembers the detection (method, parameters, and which edges are internal, used by
        :func:`label_edges` on the same network).

    Raises
    ------
    NoStreetsError
        No through street (``arterial``), or no cell of a suitable size.
    InvalidOptionError
        Bad option, a non-grid network for ``grid``, polygons outside the network's area or
        overlapping each other.
    CRSError
        Polygons given as a frame without CRS.
    """
    _check_network(network)
    if polygons is not None and method == "auto":
        method = "polygons"
    if method not in METHODS:
        raise InvalidOptionError(f"method={method!r} is not one of {METHODS}.")
    _number("target_spacing_m", target_spacing_m, low=0, strict_low=True)
    _number("min_area_ha", min_area_ha, low=0, allow_none=True)
    _number("max_area_ha", max_area_ha, low=0, strict_low=True, allow_none=True)
    _number("min_residents", min_residents, low=0)
    _number("tolerance_m", tolerance_m, low=0)
    if grid_every is not None and (
        isinstance(grid_every, bool) or not isinstance(grid_every, (int, np.integer)) or grid_every < 1
    ):
        raise InvalidOptionError(f"grid_every={grid_every!r} must be a whole number >= 1.")
    if isinstance(through_highways, str) or isinstance(always_through, str):
        raise InvalidOptionError(
            "through_highways and always_through must be lists of highway classes, e.g. ['primary']."
        )
    through_highways = tuple(str(h).lower() for h in through_highways)
    always_through = tuple(str(h).lower() for h in always_through)
    pop = _per_node(population, network, "population")
    if min_residents > 0 and pop is None:
        raise InvalidOptionError("min_residents needs population (residents per node).")
    if method == "polygons" and polygons is None:
        raise InvalidOptionError("method='polygons' needs polygons=...")
    widths = dict(STREET_WIDTH_M, **(street_width_m or {}))

    seg = _Segments.of(network)
    info: dict = {}
    if method == "polygons":
        polys = _user_polygons(polygons, network)
        seg_lab = _inside_labels(seg.mid, polys, tolerance_m)
        used = "polygons"
    elif method == "residential":
        polys, seg_lab = _residential(network, seg, tolerance_m)
        used = "residential"
    else:
        polys, used = _detect_cells(
            seg,
            network,
            method=method,
            through_highways=through_highways,
            always_through=always_through,
            target_spacing_m=target_spacing_m,
            grid_every=grid_every,
            max_area_ha=max_area_ha,
            info=info,
        )
        seg_lab = _inside_labels(seg.mid, polys, tolerance_m)

    frame = _describe(network, seg, polys, seg_lab, pop, widths, tolerance_m)
    if used != "polygons":
        keep = frame["n_internal_edges"].to_numpy() > 0
        if min_area_ha is not None:
            keep &= frame["area_ha"].to_numpy() >= min_area_ha
        if max_area_ha is not None:
            keep &= frame["area_ha"].to_numpy() <= max_area_ha
        if min_residents > 0:
            keep &= frame["residents"].to_numpy() >= min_residents
        if not keep.any():
            raise NoStreetsError(
                f"method={used!r} found {len(frame)} cells but none with internal streets, an area within "
                f"[{min_area_ha}, {max_area_ha}] ha and at least {min_residents:g} residents; widen the bounds "
                "(min_area_ha, max_area_ha), try another method, or give polygons."
            )
        kept = np.flatnonzero(keep)
        if len(kept) < len(frame) and pop is not None:
            # residents on the boundary are shared among the kept cells only
            frame = _describe(
                network,
                seg,
                polys[kept],
                np.where(np.isin(seg_lab, kept), np.searchsorted(kept, seg_lab), -1),
                pop,
                widths,
                tolerance_m,
            )
        else:
            frame = frame.iloc[kept].reset_index(drop=True)
        remap = np.full(len(polys) + 1, -1, dtype=np.int64)
        remap[kept] = np.arange(len(kept))
        seg_lab = np.where(seg_lab >= 0, remap[seg_lab], -1)
    else:
        empty = frame.index[frame["n_internal_edges"] == 0].tolist()
        if empty:
            logger.warning(
                "polygons %s hold no internal street (streets inside, away from the boundary)", _examples(empty)
            )
    frame["superblock_id"] = np.arange(len(frame), dtype=np.int64)
    frame["method"] = used
    cols = [
        "superblock_id",
        "area_ha",
        "residents",
        "n_internal_edges",
        "internal_length_m",
        "internal_street_area_m2",
        "n_nodes_inside",
        "perimeter_length_m",
        "perimeter_streets",
        "method",
        "geometry",
    ]
    out = gpd.GeoDataFrame(frame[cols], geometry="geometry", crs=network.crs)
    edge_lab = seg_lab[seg.street]
    rows = np.flatnonzero(edge_lab >= 0)
    out.attrs[_RECORD] = {
        "fingerprint": _fingerprint(network),
        "rows": rows,
        "ids": edge_lab[rows],
        "geometry": np.array([_geom_hash(g) for g in out.geometry], dtype="S40"),
        "method": used,
        "params": {
            "through_highways": list(through_highways),
            "target_spacing_m": target_spacing_m,
            "min_area_ha": min_area_ha,
            "max_area_ha": max_area_ha,
            "min_residents": min_residents,
            "tolerance_m": tolerance_m,
            **info,
        },
    }
    logger.info(
        "%d superblock candidates (%s method): %.1f ha median, %d internal street segments",
        len(out),
        used,
        float(out["area_ha"].median()) if len(out) else 0.0,
        int(out["n_internal_edges"].sum()),
    )
    return out


def _detect_cells(
    seg, network, *, method, through_highways, always_through, target_spacing_m, grid_every, max_area_ha, info: dict
):
    """Cells (polygons) of the arterial, grid and auto methods, and the method used."""

    def grid():
        through, details = _lines_through(
            seg,
            target_spacing_m=target_spacing_m,
            grid_every=grid_every,
            through_highways=through_highways,
            always_through=always_through,
        )
        info.update(details)
        return _faces(seg.geoms[through])

    if method == "grid":
        return grid(), "grid"
    thr = np.isin(seg.highway, list(through_highways))
    art = _faces(seg.geoms[thr]) if thr.any() else None
    if not thr.any():
        present = pd.Series(seg.highway).value_counts().head(6).index.tolist()
        msg = (
            f"no through-street network found: no street of the network is one of {list(through_highways)} "
            f"(its most common classes: {present}). Use method='grid' for a street grid, method='residential', "
            "pass through_highways=[...], or give polygons."
        )
        if method == "arterial":
            raise NoStreetsError(msg)
    if method == "arterial":
        return art, "arterial"
    areas = shapely.area(art) / 1e4 if art is not None else np.empty(0)
    too_big = max_area_ha is not None and len(areas) > 0 and float(np.median(areas)) > max_area_ha
    if len(areas) and not too_big:
        return art, "arterial"
    logger.info(
        "arterial cells %s: trying the grid method",
        "absent" if len(areas) == 0 else f"large (median {np.median(areas):.1f} ha > {max_area_ha:g} ha)",
    )
    try:
        return grid(), "grid"
    except InvalidOptionError as exc:
        if len(areas) == 0:
            raise NoStreetsError(f"{msg if not thr.any() else 'the through streets enclose no cell.'} {exc}") from exc
        logger.info("the network is not a grid (%s): keeping the arterial cells", exc)
        return art, "arterial"


def _int_na(labels: np.ndarray, index, name: str) -> pd.Series:
    """Integer labels as a nullable Int64 Series (negative values become NA)."""
    arr = pd.array(labels, dtype="Int64")
    arr[labels < 0] = pd.NA
    return pd.Series(arr, index=index, name=name)


def _user_polygons(polygons, network: StreetNetwork) -> np.ndarray:
    if isinstance(polygons, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if polygons.crs is None:
            raise CRSError("polygons have no CRS; set it with .set_crs(...) (e.g. 'EPSG:4326' for degrees).")
        geoms = (
            polygons.to_crs(network.crs).geometry.to_numpy()
            if isinstance(polygons, gpd.GeoDataFrame)
            else polygons.to_crs(network.crs).to_numpy()
        )
    else:
        if isinstance(polygons, shapely.Geometry):
            polygons = [polygons]
        geoms = np.asarray(list(polygons), dtype=object)
        if not all(isinstance(g, shapely.Geometry) for g in geoms):
            raise InvalidOptionError("polygons must be a GeoDataFrame, a GeoSeries or a list of shapely polygons.")
    if len(geoms) == 0:
        raise InvalidOptionError("polygons is empty; give at least one polygon.")
    kinds = shapely.get_type_id(geoms)
    bad = np.flatnonzero(~np.isin(kinds, [3, 6]))  # Polygon, MultiPolygon
    if len(bad):
        raise InvalidOptionError(f"polygons {_examples(bad.tolist())} are not polygons; give (multi)polygons.")
    geoms = np.where(shapely.is_valid(geoms), geoms, shapely.make_valid(geoms))
    hull = shapely.convex_hull(shapely.multipoints(network.nodes[["x", "y"]].to_numpy()))
    outside = np.flatnonzero(~shapely.intersects(geoms, hull) | (shapely.area(shapely.intersection(geoms, hull)) <= 0))
    if len(outside):
        b = network.nodes.to_crs("EPSG:4326").total_bounds
        raise InvalidOptionError(
            f"polygons {_examples(outside.tolist())} lie outside the network's area (lon {b[0]:.4f}..{b[2]:.4f}, "
            f"lat {b[1]:.4f}..{b[3]:.4f}); check their CRS and extent."
        )
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    pair = a < b
    if pair.any():
        ov = shapely.area(shapely.intersection(geoms[a[pair]], geoms[b[pair]])) > 1.0
        if ov.any():
            i, j = a[pair][ov][0], b[pair][ov][0]
            raise InvalidOptionError(f"polygons {i} and {j} overlap; superblocks must not overlap.")
    return np.asarray(geoms, dtype=object)


def _residential(network: StreetNetwork, seg: _Segments, tolerance_m: float):
    non_res = ~np.isin(seg.highway, list(RESIDENTIAL_HIGHWAYS))
    through, comp = _through_components(network, seg, non_res)
    if comp is None or not through.any():
        raise NoStreetsError(
            "method='residential': the network has no street other than residential and living_street, so "
            "there is no through network; use method='grid' or give polygons."
        )
    faces = _faces(seg.geoms[through])
    face_of_seg = _inside_labels(seg.mid, faces, 0.0)
    rest = np.flatnonzero(comp >= 0)
    # face holding most of each component's length
    tab = pd.DataFrame({"c": comp[rest], "f": face_of_seg[rest], "w": seg.length[rest]})
    best = tab.groupby(["c", "f"], sort=True)["w"].sum().reset_index().sort_values(["c", "w"], ascending=[True, False])
    best = best.drop_duplicates("c").set_index("c")["f"]
    face_c = best.reindex(np.arange(comp.max() + 1)).fillna(-1).to_numpy(np.int64)
    # candidates: one per face used, then one per component outside every face
    in_face = np.unique(face_c[face_c >= 0])
    outside_c = np.flatnonzero((face_c < 0) & np.isin(np.arange(len(face_c)), comp[rest]))
    cand_of_comp = np.full(len(face_c), -1, dtype=np.int64)
    cand_of_comp[face_c >= 0] = np.searchsorted(in_face, face_c[face_c >= 0])
    cand_of_comp[outside_c] = len(in_face) + np.arange(len(outside_c))
    polys = list(faces[in_face])
    for c in outside_c:
        pts = shapely.get_coordinates(seg.geoms[comp == c])
        hull = shapely.concave_hull(shapely.multipoints(pts), ratio=0.5)
        polys.append(shapely.buffer(hull, 10.0))
    seg_lab = np.where(comp >= 0, cand_of_comp[np.maximum(comp, 0)], -1)
    return np.asarray(polys, dtype=object), seg_lab


def _describe(
    network, seg: _Segments, polys: np.ndarray, seg_lab: np.ndarray, pop, widths: dict, tolerance_m: float
) -> pd.DataFrame:
    """Attributes of each cell (position in ``polys``) from the segment labels."""
    n = len(polys)
    inside = seg_lab >= 0
    lab = seg_lab[inside]
    width = np.array([widths.get(h, DEFAULT_STREET_WIDTH_M) for h in seg.highway[inside]], dtype=float)
    n_int = np.bincount(lab, minlength=n)
    length = np.bincount(lab, weights=seg.length[inside], minlength=n)
    area_streets = np.bincount(lab, weights=seg.length[inside] * width, minlength=n)
    # perimeter streets: not internal, middle within the tolerance of the cell's boundary
    bounds = shapely.boundary(polys) if n else np.empty(0, dtype=object)
    per_len = np.zeros(n)
    per_names = [set() for _ in range(n)]
    if n:
        cand = np.flatnonzero(~inside)
        tree = shapely.STRtree(bounds)
        si, pi = tree.query(seg.mid[cand], predicate="dwithin", distance=max(tolerance_m, 1e-6))
        per_len = np.bincount(pi, weights=seg.length[cand][si], minlength=n)
        names = seg.names[cand][si]
        for p, nm in zip(pi, names):
            if isinstance(nm, str) and nm:
                per_names[p].add(nm)
    # nodes inside (beyond the tolerance) and residents (boundary nodes shared among the cells touching them)
    pts = network.nodes.geometry.to_numpy()
    n_inside = np.zeros(n, dtype=np.int64)
    residents = np.full(n, np.nan)
    if n:
        node_in = _inside_labels(pts, polys, tolerance_m)
        n_inside = np.bincount(node_in[node_in >= 0], minlength=n)
        if pop is not None:
            tree = shapely.STRtree(polys)
            ni, pi = tree.query(pts, predicate="dwithin", distance=max(tolerance_m, 1e-6))
            share = 1.0 / np.bincount(ni, minlength=len(pts))[ni]
            residents = np.bincount(pi, weights=pop[ni] * share, minlength=n)
    return pd.DataFrame(
        {
            "area_ha": shapely.area(polys) / 1e4 if n else np.empty(0),
            "residents": residents,
            "n_internal_edges": n_int,
            "internal_length_m": length,
            "internal_street_area_m2": area_streets,
            "n_nodes_inside": n_inside,
            "perimeter_length_m": per_len,
            "perimeter_streets": ["; ".join(sorted(s)) for s in per_names],
            "geometry": polys,
        }
    )


def label_edges(network: StreetNetwork, superblocks: gpd.GeoDataFrame, *, tolerance_m: float = 1.0) -> pd.Series:
    """The superblock each edge is internal to (NA for through, perimeter and other streets).

    Candidates from :func:`find_superblocks` on the same network reuse the detection's labels
    (``attrs``), so the ``residential`` components are exact; otherwise (user frames, edited
    geometries) an edge is internal to superblock k when the middle of its geometry lies inside
    polygon k more than ``tolerance_m`` from its boundary (the smallest polygon wins if several do).

    Parameters
    ----------
    network : StreetNetwork
    superblocks : GeoDataFrame
        With ``superblock_id`` (else the row position is the id) and polygon geometry.
    tolerance_m : float, default 1

    Returns
    -------
    pandas.Series
        ``Int64`` per edge row, index ``network.edges.index``, name ``"superblock_id"``.
    """
    _check_network(network)
    if not isinstance(superblocks, gpd.GeoDataFrame):
        raise InvalidOptionError("superblocks must be a GeoDataFrame (from find_superblocks, or your own polygons).")
    ids = (
        superblocks["superblock_id"]
        if "superblock_id" in superblocks.columns
        else pd.Series(np.arange(len(superblocks)))
    ).to_numpy()
    try:
        ids = ids.astype(np.int64)
    except (TypeError, ValueError) as exc:
        raise InvalidOptionError("superblocks.superblock_id must hold whole numbers.") from exc
    if len(np.unique(ids)) != len(ids):
        raise InvalidOptionError("superblocks.superblock_id repeats a value; ids must be unique.")
    labels = np.full(len(network.edges), -1, dtype=np.int64)
    if len(superblocks) == 0:
        return _int_na(labels, network.edges.index, "superblock_id")
    gdf = superblocks
    if gdf.crs is None:
        raise CRSError("superblocks have no CRS; set it with .set_crs(...).")
    if str(gdf.crs) != str(network.crs):
        gdf = gdf.to_crs(network.crs)
    rec = superblocks.attrs.get(_RECORD)
    use_record = (
        isinstance(rec, dict)
        and rec.get("fingerprint") == _fingerprint(network)
        and str(superblocks.crs) == str(network.crs)
        and ids.min() >= 0
        and ids.max() < len(rec["geometry"])
        and all(rec["geometry"][i] == _geom_hash(g).encode() for i, g in zip(ids, superblocks.geometry))
    )
    if use_record:
        keep = np.isin(rec["ids"], ids)
        labels[rec["rows"][keep]] = rec["ids"][keep]
    else:
        seg = _Segments.of(network)
        polys = gdf.geometry.to_numpy()
        pos = _inside_labels(seg.mid, polys, tolerance_m)
        seg_lab = np.where(pos >= 0, ids[np.maximum(pos, 0)], -1)
        labels = seg_lab[seg.street]
    return _int_na(labels, network.edges.index, "superblock_id")


# --------------------------------------------------------------------------------------------------
# routing: layered graph, batched Dijkstra, vectorised loading of shortest-path trees


@dataclass
class _Graph:
    """A routing graph (before: the network; after: the layered graph of the module docstring)."""

    csr: csr_matrix
    n: int  # original nodes: positions 0..n-1 (layer L2)
    in_ptr: np.ndarray  # incoming arcs of node x: in_src/in_arc[in_ptr[x]:in_ptr[x + 1]]
    in_src: np.ndarray
    in_arc: np.ndarray
    arc_edge: np.ndarray  # edge row of each arc (-1: layer transition)
    arc_len: np.ndarray  # metres of each arc
    node_sb: np.ndarray  # superblock each node is inside (-1: none)
    l1_keys: np.ndarray  # sorted superblock * n + node of the L1 copies
    l3_keys: np.ndarray
    _in_table: tuple | None = field(default=None, init=False, repr=False)

    @property
    def n_exp(self) -> int:
        return self.csr.shape[0]

    @property
    def in_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Sources and arc ids of the first ``_IN_SLOTS`` incoming arcs of every node (-1 padded)."""
        if self._in_table is None:
            deg = np.diff(self.in_ptr)
            k = int(min(max(deg.max(initial=1), 1), _IN_SLOTS))
            idx = np.int32 if self.n_exp < 2**31 - 1 and len(self.in_arc) < 2**31 - 1 else np.int64
            src = np.full((self.n_exp, k), -1, dtype=idx)
            arc = np.full((self.n_exp, k), -1, dtype=idx)
            dst = np.repeat(np.arange(self.n_exp), deg)
            slot = np.arange(len(dst)) - self.in_ptr[dst]
            keep = slot < k
            src[dst[keep], slot[keep]] = self.in_src[keep]
            arc[dst[keep], slot[keep]] = self.in_arc[keep]
            self._in_table = (src, arc)
        return self._in_table

    def _copy(self, keys: np.ndarray, first: int, pos: np.ndarray, sb: np.ndarray) -> np.ndarray:
        if len(keys) == 0:
            return np.full(len(pos), -1, dtype=np.int64)
        key = sb.astype(np.int64) * self.n + pos
        i = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
        return np.where((sb >= 0) & (keys[i] == key), first + i, -1)

    def l1(self, pos, sb):
        return self._copy(self.l1_keys, self.n, pos, sb)

    def l3(self, pos, sb):
        return self._copy(self.l3_keys, self.n + len(self.l1_keys), pos, sb)

    def starts(self, o: np.ndarray) -> np.ndarray:
        """Start node of trips from node positions ``o``: L1(o, A) inside superblock A, else L2(o)."""
        a = self.node_sb[o]
        c = self.l1(o, a)
        return np.where(a >= 0, c, o)

    def ends(self, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """End nodes of trips o -> d: L3(d, B) (or L2(d) outside superblocks), and L1(d, A) when A == B."""
        a, b = self.node_sb[o], self.node_sb[d]
        t1 = np.where(b >= 0, self.l3(d, b), d)
        t2 = np.where((a >= 0) & (a == b), self.l1(d, a), -1)
        return t1, t2


def _arcs(network: StreetNetwork):
    """Directed arcs (u position, v position, edge row) of a network (undirected edges give two)."""
    nodes = network.nodes.index
    e = network.edges
    u = nodes.get_indexer(e["u"].to_numpy())
    v = nodes.get_indexer(e["v"].to_numpy())
    rows = np.arange(len(e))
    if not network.directed:
        u, v, rows = np.r_[u, v], np.r_[v, u], np.r_[rows, rows]
    ok = (u >= 0) & (v >= 0) & (u != v)
    return u[ok].astype(np.int64), v[ok].astype(np.int64), rows[ok]


def _inside_nodes(network: StreetNetwork, labels: np.ndarray, arcs=None):
    """Superblock each node is inside (-1: none), the (superblock * n + node) membership pairs, and
    whether each pair is a perimeter pair (the node also touches streets not internal to that superblock)."""
    u, v, rows = arcs if arcs is not None else _arcs(network)
    n = len(network.nodes)
    lab = labels[rows]
    ends = np.r_[u, v]
    elab = np.r_[lab, lab]
    has_s = np.zeros(n, bool)
    has_s[ends[elab < 0]] = True
    m = elab >= 0
    pair, cnt = np.unique(elab[m].astype(np.int64) * n + ends[m], return_counts=True)
    p_sb, p_pos = pair // n, pair % n
    order = np.lexsort((p_sb, -cnt, p_pos))
    first = np.ones(len(order), bool)
    first[1:] = p_pos[order][1:] != p_pos[order][:-1]
    node_sb = np.full(n, -1, dtype=np.int64)
    node_sb[p_pos[order][first]] = p_sb[order][first]
    node_sb[has_s] = -1
    # perimeter pair: the node touches S or the internal streets of another superblock
    mixed = has_s | (np.bincount(p_pos, minlength=n) > 1)
    return node_sb, pair, mixed[p_pos]


def _after_graph(network: StreetNetwork, sc, o: np.ndarray, d: np.ndarray) -> tuple[_Graph, np.ndarray, np.ndarray]:
    """The restricted graph of a scenario, with L1/L3 copies only of the superblocks that hold an
    origin (``o``) or a destination (``d``, node positions); also the superblock of every origin and
    destination (-1: none)."""
    node_sb, _, _ = _inside_nodes(network, sc.labels)
    a_sb, b_sb = node_sb[o], node_sb[d]
    graph = _build_graph(
        network, sc.steps_after, ~sc.closed, sc.labels, np.unique(a_sb[a_sb >= 0]), np.unique(b_sb[b_sb >= 0])
    )
    return graph, a_sb, b_sb


def _build_graph(
    network: StreetNetwork,
    steps: np.ndarray,
    usable: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    l1_sbs=(),
    l3_sbs=(),
) -> _Graph:
    """The routing graph: edge rows with ``usable`` on L2 when unlabelled, internal rows copied into
    L1 (superblocks ``l1_sbs``) and L3 (``l3_sbs``); arc weights ``steps + _HOP``. Without ``usable``
    and ``labels``: every edge, no superblock (the unrestricted graph)."""
    if usable is None:
        usable = np.ones(len(steps), bool)
    if labels is None:
        labels = np.full(len(steps), -1, dtype=np.int64)
    arcs = _arcs(network)
    u, v, rows = arcs
    n = len(network.nodes)
    lab = labels[rows]
    node_sb, pair, perim = _inside_nodes(network, labels, arcs)
    p_sb = pair // n
    l1_keys = pair[np.isin(p_sb, np.asarray(list(l1_sbs), dtype=np.int64))]
    l3_keys = pair[np.isin(p_sb, np.asarray(list(l3_sbs), dtype=np.int64))]
    f1, f3 = n, n + len(l1_keys)
    n_exp = f3 + len(l3_keys)
    w = steps[rows].astype(float) + _HOP
    use = usable[rows]
    srcs, dsts, ws, eds = [], [], [], []

    def add(src_, dst_, w_, edge_):
        srcs.append(src_)
        dsts.append(dst_)
        ws.append(w_)
        eds.append(edge_)

    s = use & (lab < 0)
    add(u[s], v[s], w[s], rows[s])  # L2: the unrestricted network S
    inn = np.flatnonzero(use & (lab >= 0))
    for keys, first in ((l1_keys, f1), (l3_keys, f3)):  # L1 and L3: copies of internal streets
        if len(keys) == 0 or len(inn) == 0:
            continue
        ku = lab[inn].astype(np.int64) * n + u[inn]
        kv = lab[inn].astype(np.int64) * n + v[inn]
        iu = np.minimum(np.searchsorted(keys, ku), len(keys) - 1)
        iv = np.minimum(np.searchsorted(keys, kv), len(keys) - 1)
        ok = (keys[iu] == ku) & (keys[iv] == kv)
        add(first + iu[ok], first + iv[ok], w[inn][ok], rows[inn][ok])
    for keys, first, out in ((l1_keys, f1, True), (l3_keys, f3, False)):  # transitions at perimeter nodes
        if len(keys) == 0:
            continue
        kp = keys % n
        isp = perim[np.searchsorted(pair, keys)]
        idx = first + np.flatnonzero(isp)
        if out:  # L1(p, k) -> L2(p)
            add(idx, kp[isp], np.full(len(idx), _HOP), np.full(len(idx), -1))
        else:  # L2(p) -> L3(p, k)
            add(kp[isp], idx, np.full(len(idx), _HOP), np.full(len(idx), -1))
    src = np.concatenate(srcs).astype(np.int64)
    dst = np.concatenate(dsts).astype(np.int64)
    wt = np.concatenate(ws)
    ed = np.concatenate(eds).astype(np.int64)
    # parallel arcs: keep the fastest (scipy would add duplicate entries)
    order = np.lexsort((wt, dst, src))
    src, dst, wt, ed = src[order], dst[order], wt[order], ed[order]
    first = np.ones(len(src), bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    src, dst, wt, ed = src[first], dst[first], wt[first], ed[first]
    indptr = np.zeros(n_exp + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n_exp), out=indptr[1:])
    idx_dtype = np.int32 if n_exp < 2**31 - 1 and len(src) < 2**31 - 1 else np.int64
    csr = csr_matrix((wt, dst.astype(idx_dtype), indptr.astype(idx_dtype)), shape=(n_exp, n_exp))
    length = network.edges["length_m"].to_numpy(float)
    by_dst = np.argsort(dst, kind="stable")
    in_ptr = np.zeros(n_exp + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst, minlength=n_exp), out=in_ptr[1:])
    return _Graph(
        csr=csr,
        n=n,
        in_ptr=in_ptr,
        in_src=src[by_dst],
        in_arc=by_dst.astype(np.int64),
        arc_edge=ed,
        arc_len=np.where(ed >= 0, length[np.maximum(ed, 0)], 0.0),
        node_sb=node_sb,
        l1_keys=l1_keys,
        l3_keys=l3_keys,
    )


class _FixedTrips:
    """Load every routable OD row with its trips."""

    def __init__(self, trips: np.ndarray):
        self.trips = trips

    def __call__(self, rows, steps, tasks):
        return np.where(np.isfinite(steps), self.trips[rows], 0.0)


class _AfterTrips:
    """After the scenario: affected rows (time increased) keep ``keep`` of their trips."""

    def __init__(self, trips: np.ndarray, steps_before: np.ndarray, keep: float):
        self.trips, self.before, self.keep = trips, steps_before, keep

    def __call__(self, rows, steps, tasks):
        ok = np.isfinite(steps)
        affected = ok & (steps > self.before[rows])
        return np.where(ok, self.trips[rows] * np.where(affected, self.keep, 1.0), 0.0)


class _GravityTrips:
    """Production-constrained gravity: trips of each origin task shared by ``A exp(-beta c)``."""

    def __init__(self, production: np.ndarray, attraction: np.ndarray, beta_per_min: float):
        self.production, self.attraction, self.beta = production, attraction, beta_per_min

    def __call__(self, rows, steps, tasks):
        ok = np.isfinite(steps)
        a = np.where(
            ok, self.attraction[rows] * np.exp(-self.beta * np.where(ok, steps, 0.0) * TIME_RESOLUTION_MIN), 0.0
        )
        t0 = tasks.min() if len(tasks) else 0
        denom = np.bincount(tasks - t0, weights=a)
        share = np.divide(a, denom[tasks - t0], out=np.zeros_like(a), where=denom[tasks - t0] > 0)
        return self.production[tasks] * share


@dataclass
class _Pass:
    """One scenario's routing of OD rows, grouped by start node (one Dijkstra tree per start)."""

    graph: _Graph
    roots: np.ndarray  # expanded start node of every task
    row_order: np.ndarray  # OD row positions grouped by task
    bounds: np.ndarray  # rows of task t: row_order[bounds[t]:bounds[t + 1]]
    t1: np.ndarray  # per OD row: first end node (-1: none)
    t2: np.ndarray  # per OD row: second end node (-1: none)
    weight: object  # callable(rows, steps, tasks) -> trips to load
    n_edges: int
    trees: bool = True  # predecessors: flows and metres

    @classmethod
    def make(cls, graph: _Graph, o: np.ndarray, d: np.ndarray, weight, n_edges: int, trees: bool = True) -> _Pass:
        start = graph.starts(o)
        t1, t2 = graph.ends(o, d)
        # rows without a start copy cannot be routed: give them no end
        t1 = np.where(start >= 0, t1, -1)
        t2 = np.where(start >= 0, t2, -1)
        order = np.argsort(start, kind="stable")
        roots, first = np.unique(start[order], return_index=True)
        bounds = np.r_[first, len(order)]
        if len(roots) and roots[0] < 0:  # rows without a start (sorted first) are left unrouted
            roots, bounds = roots[1:], bounds[1:]
        return cls(graph, roots.astype(np.int64), order, bounds.astype(np.int64), t1, t2, weight, n_edges, trees)


def _run_batch(p: _Pass, t0: int, t1: int, flows: np.ndarray):
    g = p.graph
    roots = p.roots[t0:t1]
    rows = p.row_order[p.bounds[t0] : p.bounds[t1]]
    tasks = np.repeat(np.arange(t0, t1), np.diff(p.bounds[t0 : t1 + 1]))
    local = tasks - t0
    if p.trees:
        dist, pred = dijkstra(g.csr, directed=True, indices=roots, return_predecessors=True)
    else:
        dist, pred = dijkstra(g.csr, directed=True, indices=roots), None
    e1, e2 = p.t1[rows], p.t2[rows]
    d1 = np.where(e1 >= 0, dist[local, np.maximum(e1, 0)], np.inf)
    d2 = np.where(e2 >= 0, dist[local, np.maximum(e2, 0)], np.inf)
    end = np.where(d2 < d1, e2, e1)
    dd = np.minimum(d1, d2)
    ok = np.isfinite(dd)
    steps = np.where(ok, np.floor(dd), np.inf)
    w = p.weight(rows, steps, tasks)
    metres = np.full(len(rows), np.nan)
    if pred is not None and ok.any():
        metres[ok] = _load_trees(g, dist, pred, local[ok], end[ok], w[ok], flows)
    return rows, steps, metres, w


_BUF = threading.local()


def _buffers(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Zeroed work arrays of at least ``size`` cells, kept per thread (callers re-zero what they touch)."""
    if getattr(_BUF, "size", 0) < size:
        _BUF.size = size
        _BUF.acc = np.zeros(size, dtype=np.complex128)
        _BUF.metres = np.zeros(size)
        _BUF.stamp = np.zeros(size, dtype=np.int64)
    return _BUF.acc, _BUF.metres


def _distinct(x: np.ndarray) -> np.ndarray:
    """The distinct values of ``x`` (cell ids below the buffer size), in no particular order, without sorting."""
    stamp = _BUF.stamp
    pos = np.arange(len(x))
    stamp[x] = pos
    return x[stamp[x] == pos]


def _arc_of(g: _Graph, p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Arc id of the arcs p -> v (expanded node ids; -1 where none).

    Looks at the first ``_IN_SLOTS`` incoming arcs of each v at once (a padded table), then scans
    the rest of the rare nodes with more.
    """
    tab_src, tab_arc = g.in_table
    k = tab_src.shape[1]
    j = np.argmax(tab_src[v] == p.astype(tab_src.dtype)[:, None], axis=1)
    found = tab_src[v, j] == p
    arc = np.where(found, tab_arc[v, j], -1).astype(np.int64)
    rest = np.flatnonzero(~found & (g.in_ptr[v + 1] - g.in_ptr[v] > k))
    if len(rest):
        start = g.in_ptr[v[rest]]
        deg = g.in_ptr[v[rest] + 1] - start
        for j in range(k, int(deg.max())):
            idx = start + np.minimum(j, deg - 1)
            ok = (j < deg) & (g.in_src[idx] == p[rest]) & (arc[rest] < 0)
            arc[rest[ok]] = g.in_arc[idx[ok]]
    return arc


def _load_trees(
    g: _Graph, dist: np.ndarray, pred: np.ndarray, local: np.ndarray, end: np.ndarray, w: np.ndarray, flows: np.ndarray
) -> np.ndarray:
    """Load trips ``w`` from the roots of a batch of shortest-path trees to nodes ``end``.

    The depth of a node in its tree is the fractional part of its distance in units of ``_HOP``.
    Trips are summed up the trees level by level, from the deepest end to the roots: at depth h the
    frontier (nodes of depth h on some loaded path: the ends of depth h and the parents of the
    frontier of depth h + 1) adds its sums to its parents with one ``np.add.at`` for the whole
    batch. The imaginary part counts the paths through a node (a path may carry 0 trips and still
    needs its metres). The arcs into frontier nodes carry the subtree sums; path metres are then
    summed down the same levels. Work is proportional to the nodes on loaded paths. Returns the
    metres of every path.
    """
    nb, n = dist.shape
    flat_end = local.astype(np.int64) * n + end
    acc, metres = _buffers(nb * n)
    np.add.at(acc, flat_end, w + 1j)
    ends = np.unique(flat_end)
    de = dist.ravel()[ends]
    h_end = np.rint((de - np.floor(de)) / _HOP).astype(np.int64)
    order = np.argsort(h_end, kind="stable")
    ends, h_end = ends[order], h_end[order]
    max_h = int(h_end[-1]) if len(h_end) else 0
    eb = np.searchsorted(h_end, np.arange(max_h + 2))
    pflat = pred.ravel()
    cur_list, par_list = [], []
    frontier = np.empty(0, dtype=np.int64)
    for h in range(max_h, 0, -1):
        new = ends[eb[h] : eb[h + 1]]
        cur = (
            _distinct(np.concatenate([frontier, new]))
            if len(frontier) and len(new)
            else (frontier if len(frontier) else new)
        )
        if len(cur) == 0:
            continue
        par = cur - cur % n + pflat[cur]
        np.add.at(acc, par, acc[cur])
        cur_list.append(cur)
        par_list.append(par)
        frontier = _distinct(par)
    if not cur_list:
        out = np.zeros(len(flat_end))
        acc[flat_end] = 0
        return out
    nodes = np.concatenate(cur_list)
    parents = np.concatenate(par_list)
    arc = _arc_of(g, parents % n, nodes % n)
    load = acc.real[nodes]
    ed = g.arc_edge[arc]
    good = (ed >= 0) & (load > 0)
    flows += np.bincount(ed[good], weights=load[good], minlength=len(flows))
    al = g.arc_len[arc]
    cuts = np.cumsum([len(c) for c in cur_list])
    for i in range(len(cur_list) - 1, -1, -1):
        a = cuts[i - 1] if i else 0
        b = cuts[i]
        metres[nodes[a:b]] = metres[parents[a:b]] + al[a:b]
    out = metres[flat_end].copy()
    acc[nodes] = 0
    acc[parents] = 0
    acc[flat_end] = 0
    metres[nodes] = 0
    return out


_STATE: dict = {}


def _work(args):
    token, batches = args
    p = _STATE[token]
    flows = np.zeros(p.n_edges)
    parts = [_run_batch(p, t0, t1, flows) for t0, t1 in batches]
    return flows, [np.concatenate(x) for x in zip(*parts)]


def _execute(p: _Pass, n_rows: int, n_jobs: int):
    """Run a pass; returns edge flows, and per OD row steps (inf: unroutable), metres and loaded trips."""
    n_tasks = len(p.roots)
    per = max(1, min(64, _BATCH_CELLS // max(p.graph.n_exp, 1)))
    batches = [(t, min(t + per, n_tasks)) for t in range(0, n_tasks, per)]
    flows = np.zeros(p.n_edges)
    steps = np.full(n_rows, np.inf)
    metres = np.full(n_rows, np.nan)
    loaded = np.zeros(n_rows)
    jobs = min(n_jobs, len(batches))
    use_fork = jobs > 1 and sys.platform.startswith("linux")
    if p.trees:
        _ = p.graph.in_table  # built once, before the workers fork
    results = []
    if use_fork:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        token = f"{os.getpid()}-{id(p)}-{time.monotonic_ns()}"
        _STATE[token] = p
        groups = [batches[i :: jobs * 3] for i in range(jobs * 3)]
        groups = [g for g in groups if g]
        try:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as ex:
                results = list(ex.map(_work, [(token, g) for g in groups]))
        finally:
            _STATE.pop(token, None)
    else:
        token = "inline"
        _STATE[token] = p
        try:
            results = [_work((token, batches))]
        finally:
            _STATE.pop(token, None)
    for f, parts in results:
        flows += f
        if parts:
            rows, s, m, w = parts
            steps[rows], metres[rows], loaded[rows] = s, m, w
    return flows, steps, metres, loaded


# --------------------------------------------------------------------------------------------------
# scenario, OD tables, assignment


def _steps(minutes: np.ndarray) -> np.ndarray:
    """Minutes as whole 0.001-min steps (at least one)."""
    return np.maximum(np.rint(np.asarray(minutes, dtype=float) / TIME_RESOLUTION_MIN), 1.0)


@dataclass
class _Scenario:
    labels: np.ndarray  # superblock of every edge row (-1: none)
    steps_before: np.ndarray
    steps_after: np.ndarray
    speed_after: np.ndarray
    closed: np.ndarray  # edge rows closed after


def _scenario(
    network: StreetNetwork, superblocks, *, internal_speed_kmh: float, closed_edges, modal_filters
) -> _Scenario:
    e = network.edges
    n = len(e)
    if superblocks is None:
        labels = np.full(n, -1, dtype=np.int64)
    else:
        labels = label_edges(network, superblocks).fillna(-1).to_numpy(np.int64)
    steps_before = _steps(e["time_min"].to_numpy(float))
    speed = e["speed_kmh"].to_numpy(float)
    internal = labels >= 0
    slow = _steps(quantize_minutes(e["length_m"].to_numpy(float) / (internal_speed_kmh * 1000.0 / 60.0)))
    steps_after = np.where(internal, np.maximum(steps_before, slow), steps_before)
    speed_after = np.where(internal, np.minimum(speed, internal_speed_kmh), speed)
    closed = _closed_mask(network, closed_edges) | _filter_mask(network, modal_filters)
    return _Scenario(labels, steps_before, steps_after, speed_after, closed)


def _closed_mask(network: StreetNetwork, closed_edges) -> np.ndarray:
    n = len(network.edges)
    if closed_edges is None:
        return np.zeros(n, bool)
    arr = np.asarray(closed_edges.to_numpy() if isinstance(closed_edges, pd.Series) else closed_edges)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise InvalidOptionError(
                f"closed_edges as a boolean mask must have one value per edge row ({n}), not {arr.shape}."
            )
        return arr.copy()
    pos = network.edges.index.get_indexer(arr.ravel())
    if (pos < 0).any():
        raise InvalidOptionError(
            f"closed_edges names {int((pos < 0).sum())} labels that are not in network.edges.index "
            f"(e.g. {_examples(arr.ravel()[pos < 0].tolist())})."
        )
    out = np.zeros(n, bool)
    out[pos] = True
    return out


def _filter_mask(network: StreetNetwork, modal_filters, max_snap_m: float = 50.0) -> np.ndarray:
    """Rows closed by modal filters: each filter closes the nearest street segment, both directions."""
    n = len(network.edges)
    if modal_filters is None:
        return np.zeros(n, bool)
    if isinstance(modal_filters, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if modal_filters.crs is None:
            raise CRSError("modal_filters have no CRS; set it with .set_crs(...).")
        pts = modal_filters.to_crs(network.crs)
        pts = (pts.geometry if isinstance(pts, gpd.GeoDataFrame) else pts).to_numpy()
    else:
        arr = np.asarray(modal_filters, dtype=object)
        if arr.ndim == 2 and arr.shape[1] == 2:
            pts = shapely.points(arr.astype(float))
        else:
            pts = arr.ravel()
    if len(pts) == 0:
        return np.zeros(n, bool)
    if not all(isinstance(p, shapely.Point) for p in pts):
        raise InvalidOptionError(
            "modal_filters must be points: a GeoDataFrame/GeoSeries, shapely Points or (x, y) pairs in the network CRS."
        )
    seg = _Segments.of(network)
    tree = shapely.STRtree(seg.geoms)
    (pi, si), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    far = dist > max_snap_m
    if far.any():
        raise InvalidOptionError(
            f"modal filters {_examples(pi[far].tolist())} are more than {max_snap_m:g} m from any street "
            f"(nearest {dist[far].min():.0f} m); check their CRS and position."
        )
    return np.isin(seg.street, si)


def _check_od(od, network: StreetNetwork) -> pd.DataFrame:
    """A clean OD table (origin, destination, trips) or a clear error."""
    if not isinstance(od, pd.DataFrame):
        raise InvalidOptionError("od must be a DataFrame with columns origin, destination and trips (veh/day).")
    missing = [c for c in ("origin", "destination") if c not in od.columns]
    if missing:
        raise InvalidOptionError(f"od lacks column(s) {missing}; it needs origin, destination (node ids) and trips.")
    out = pd.DataFrame({"origin": od["origin"].to_numpy(), "destination": od["destination"].to_numpy()})
    if "trips" in od.columns:
        trips = pd.to_numeric(od["trips"], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(trips) | (trips < 0)
        if bad.any():
            raise InvalidOptionError(
                f"od.trips must be finite numbers >= 0; {int(bad.sum())} rows are not "
                f"(e.g. rows {_examples(np.flatnonzero(bad).tolist())})."
            )
    else:
        trips = np.ones(len(out))
    out["trips"] = trips
    nodes = network.nodes.index
    for col in ("origin", "destination"):
        vals = out[col].to_numpy()
        pos = nodes.get_indexer(vals)
        if (pos < 0).any():
            unknown = pd.unique(vals[pos < 0])
            raise InvalidOptionError(
                f"od.{col} names {len(unknown)} node id(s) that are not in the network "
                f"(e.g. {_examples(list(unknown))}); use ids of network.nodes.index (snap points first)."
            )
    return out


@dataclass(repr=False)
class Assignment:
    """All-or-nothing car assignment before and after a superblock scenario (from :func:`assign`).

    Attributes
    ----------
    network : StreetNetwork
    od : pandas.DataFrame
        One row per OD row given: ``origin``, ``destination``, ``trips`` (veh/day), ``origin_superblock``
        and ``destination_superblock`` (Int64, NA outside), ``time_before_min``, ``time_after_min``
        (NaN when no route), ``distance_before_m``, ``distance_after_m``, ``detour_time`` and
        ``detour_distance`` (after / before; NaN when before is 0 or no route), ``affected`` (time
        increased, or no route after), ``unroutable_after``, ``trips_after`` (car trips still driving
        and loaded after: affected trips times ``1 - evaporation - mode_shift``, 0 without a route
        after), ``trips_evaporated``, ``trips_mode_shift``. ``origin_superblock`` is the superblock
        the origin node is inside (see the routing rule), not one it merely borders.
    flows : pandas.DataFrame
        Per edge row (index ``network.edges.index``): ``superblock_id`` (Int64), ``closed``,
        ``speed_before_kmh``, ``speed_after_kmh``, ``flow_before``, ``flow_after`` (veh/day).
    superblocks : GeoDataFrame or None
    params : dict
    timings : dict
        Seconds per phase.
    """

    network: StreetNetwork
    od: pd.DataFrame
    flows: pd.DataFrame
    superblocks: gpd.GeoDataFrame | None
    params: dict
    timings: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        s = self.summary().iloc[0]
        return (
            f"Assignment(trips={s.trips:,.0f}, affected={s.trips_affected:,.0f}, vkm {s.vkm_before:,.0f} -> "
            f"{s.vkm_after:,.0f}, median detour {s.median_detour:.3f})"
        )

    def summary(self) -> pd.DataFrame:
        """One-row table of totals.

        ``trips``, ``trips_affected``, ``trips_unroutable_after``, ``trips_evaporated``,
        ``trips_mode_shift``, ``trips_after`` (veh/day); ``vkm_before`` and ``vkm_after`` (vehicle-km
        per day, from the edge flows); ``median_detour`` (trip-weighted median of the time ratio after /
        before over affected routable trips; 1 when none), ``median_detour_distance``,
        ``p90_detour``, ``mean_detour_all`` (trip-weighted mean time ratio over all routable trips).
        """
        od, fl = self.od, self.flows
        length_km = self.network.edges["length_m"].to_numpy(float) / 1000.0
        t = od["trips"].to_numpy(float)
        aff = od["affected"].to_numpy(bool) & ~od["unroutable_after"].to_numpy(bool)
        dt = od["detour_time"].to_numpy(float)
        dd = od["detour_distance"].to_numpy(float)
        med = _weighted_quantile(dt[aff], t[aff], 0.5) if aff.any() else 1.0
        return pd.DataFrame(
            {
                "trips": [t.sum()],
                "trips_affected": [t[od["affected"].to_numpy(bool)].sum()],
                "trips_unroutable_after": [t[od["unroutable_after"].to_numpy(bool)].sum()],
                "trips_evaporated": [od["trips_evaporated"].sum()],
                "trips_mode_shift": [od["trips_mode_shift"].sum()],
                "trips_after": [od["trips_after"].sum()],
                "vkm_before": [float(fl["flow_before"].to_numpy() @ length_km)],
                "vkm_after": [float(fl["flow_after"].to_numpy() @ length_km)],
                "median_detour": [med],
                "median_detour_distance": [_weighted_quantile(dd[aff], t[aff], 0.5) if aff.any() else 1.0],
                "p90_detour": [_weighted_quantile(dt[aff], t[aff], 0.9) if aff.any() else 1.0],
                "mean_detour_all": [
                    float(np.average(dt[np.isfinite(dt)], weights=t[np.isfinite(dt)]))
                    if (np.isfinite(dt) & (t > 0)).any()
                    else 1.0
                ],
            }
        )

    def detour_distribution(
        self, bins=(1.0, 1.0001, 1.1, 1.25, 1.5, 2.0, 3.0, np.inf), *, by: str = "time"
    ) -> pd.DataFrame:
        """Trips (veh/day) by detour ratio class (``by="time"`` or ``"distance"``), routable trips only.

        The first class ``[1, 1.0001)`` holds unchanged trips.
        """
        col = {"time": "detour_time", "distance": "detour_distance"}.get(by)
        if col is None:
            raise InvalidOptionError(f"by={by!r} must be 'time' or 'distance'.")
        r = self.od[col].to_numpy(float)
        ok = np.isfinite(r)
        cut = pd.cut(pd.Series(r[ok]), bins=list(bins), right=False)
        tab = pd.Series(self.od["trips"].to_numpy(float)[ok]).groupby(cut, observed=False).sum()
        out = tab.rename("trips").to_frame()
        total = out["trips"].sum()
        out["share"] = out["trips"] / total if total > 0 else np.nan
        out.index.name = f"detour_{by}"
        return out


def _od_positions(network: StreetNetwork, od: pd.DataFrame):
    nodes = network.nodes.index
    return nodes.get_indexer(od["origin"].to_numpy()).astype(np.int64), nodes.get_indexer(
        od["destination"].to_numpy()
    ).astype(np.int64)


def _shares(evaporation, mode_shift) -> float:
    ev = _number("evaporation", evaporation, low=0.0, high=1.0)
    ms = _number("mode_shift", mode_shift, low=0.0, high=1.0)
    if ev + ms > 1.0 + 1e-12:
        raise InvalidOptionError(
            f"evaporation ({ev:g}) + mode_shift ({ms:g}) exceed 1: they are shares of the affected trips."
        )
    return 1.0 - ev - ms


def assign(
    network: StreetNetwork,
    od: pd.DataFrame,
    *,
    superblocks: gpd.GeoDataFrame | None = None,
    internal_speed_kmh: float = DEFAULT_INTERNAL_SPEED_KMH,
    closed_edges=None,
    modal_filters=None,
    evaporation: float = 0.0,
    mode_shift: float = 0.0,
    n_jobs: int | None = None,
) -> Assignment:
    """All-or-nothing assignment of car trips before and after the traffic-exclusion scenario.

    Parameters
    ----------
    network : StreetNetwork
        Usually the drive network (undirected networks are driven both ways).
    od : pandas.DataFrame
        ``origin`` and ``destination`` (node ids of ``network.nodes.index``) and ``trips``
        (veh/day, >= 0; 1 per row when absent), e.g. from :func:`gravity_demand`.
    superblocks : GeoDataFrame, optional
        Candidates (:func:`find_superblocks`) or own polygons: their internal streets are for access
        only after (the routing rule of the module docstring). None: no exclusion (closures only).
    internal_speed_kmh : float, default 10
        Speed on internal streets after (their own speed when lower).
    closed_edges : boolean mask per edge row, or edge index labels, optional
        Edge rows closed to cars after (give both directions to close a two-way street).
    modal_filters : points, optional
        GeoDataFrame/GeoSeries of points (any CRS), shapely Points or (x, y) pairs in the network
        CRS: each closes the nearest street segment (both directions) to cars after; trips may still
        reach its two ends.
    evaporation : float, default 0
        Share of the affected trips (time increased) that no longer happen (traffic evaporation).
    mode_shift : float, default 0
        Share of the affected trips that move to walking, cycling or transit.
    n_jobs : int, optional
        Processes for the Dijkstra searches (None: all available cores; forked, Linux only).

    Returns
    -------
    Assignment

    Raises
    ------
    InvalidOptionError
        OD table with unknown nodes or negative trips, shares outside [0, 1], bad options.
    """
    _check_network(network)
    od = _check_od(od, network)
    _shares(evaporation, mode_shift)
    _number("internal_speed_kmh", internal_speed_kmh, low=0.0, strict_low=True)
    return _assign(
        network,
        od,
        superblocks=superblocks,
        internal_speed_kmh=internal_speed_kmh,
        closed_edges=closed_edges,
        modal_filters=modal_filters,
        evaporation=evaporation,
        mode_shift=mode_shift,
        jobs=_jobs(n_jobs),
    )


def _assign(
    network,
    od,
    *,
    superblocks,
    internal_speed_kmh,
    closed_edges,
    modal_filters,
    evaporation,
    mode_shift,
    jobs,
    before=None,
) -> Assignment:
    """:func:`assign` on checked input; ``before`` = (flows, steps, metres) when already computed."""
    t_start = time.perf_counter()
    keep = 1.0 - evaporation - mode_shift
    sc = _scenario(
        network,
        superblocks,
        internal_speed_kmh=internal_speed_kmh,
        closed_edges=closed_edges,
        modal_filters=modal_filters,
    )
    o, d = _od_positions(network, od)
    trips = od["trips"].to_numpy(float)
    n_edges = len(network.edges)
    n_origins = len(np.unique(o))
    if n_origins > 20_000:
        logger.warning(
            "%d distinct origins: the assignment runs one shortest-path search per origin and scenario; "
            "aggregate the OD table to zones (e.g. gravity_demand(zones_resolution=8)) to go faster",
            n_origins,
        )
    timings = {}
    t0 = time.perf_counter()
    if before is None:
        g0 = _build_graph(network, sc.steps_before)
        flows_b, steps_b, metres_b, _ = _execute(_Pass.make(g0, o, d, _FixedTrips(trips), n_edges), len(od), jobs)
    else:  # computed by the caller (run_scenario's gravity pass)
        flows_b, steps_b, metres_b = before
    timings["assign_before_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    g1, a_sb, b_sb = _after_graph(network, sc, o, d)
    flows_a, steps_a, metres_a, trips_a = _execute(
        _Pass.make(g1, o, d, _AfterTrips(trips, steps_b, keep), n_edges), len(od), jobs
    )
    timings["assign_after_s"] = time.perf_counter() - t0
    logger.info(
        "assigned %d OD rows (%.0f trips/day): before %.1f s, after %.1f s (layered graph of %d nodes)",
        len(od),
        trips.sum(),
        timings["assign_before_s"],
        timings["assign_after_s"],
        g1.n_exp,
    )
    out = _od_frame(od, a_sb, b_sb, steps_b, steps_a, metres_b, metres_a, trips_a, evaporation, mode_shift)
    e = network.edges
    flows = pd.DataFrame(
        {
            "superblock_id": _int_na(sc.labels, e.index, "superblock_id"),
            "closed": sc.closed,
            "speed_before_kmh": e["speed_kmh"].to_numpy(float),
            "speed_after_kmh": sc.speed_after,
            "flow_before": flows_b,
            "flow_after": flows_a,
        },
        index=e.index,
    )
    params = {
        "internal_speed_kmh": internal_speed_kmh,
        "evaporation": evaporation,
        "mode_shift": mode_shift,
        "n_closed_edges": int(sc.closed.sum()),
        "n_superblocks": 0 if superblocks is None else len(superblocks),
        "layered_graph_nodes": g1.n_exp,
    }
    timings["assign_total_s"] = time.perf_counter() - t_start
    return Assignment(network=network, od=out, flows=flows, superblocks=superblocks, params=params, timings=timings)


def _od_frame(od, a_sb, b_sb, steps_b, steps_a, metres_b, metres_a, trips_a, evaporation, mode_shift) -> pd.DataFrame:
    out = od.copy()
    out["origin_superblock"] = _int_na(a_sb, out.index, "origin_superblock")
    out["destination_superblock"] = _int_na(b_sb, out.index, "destination_superblock")
    ok_b, ok_a = np.isfinite(steps_b), np.isfinite(steps_a)
    tb = np.where(ok_b, np.round(np.where(ok_b, steps_b, 0) * TIME_RESOLUTION_MIN, 3), np.nan)
    ta = np.where(ok_a, np.round(np.where(ok_a, steps_a, 0) * TIME_RESOLUTION_MIN, 3), np.nan)
    out["time_before_min"] = tb
    out["time_after_min"] = ta
    out["distance_before_m"] = metres_b
    out["distance_after_m"] = metres_a
    with np.errstate(divide="ignore", invalid="ignore"):
        out["detour_time"] = np.where(tb > 0, ta / tb, np.nan)
        out["detour_distance"] = np.where(metres_b > 0, metres_a / metres_b, np.nan)
    unroutable_after = ok_b & ~ok_a
    affected = ok_b & (~ok_a | (np.where(ok_a, steps_a, 0) > np.where(ok_b, steps_b, 0)))
    out["affected"] = affected
    out["unroutable_after"] = unroutable_after
    trips = out["trips"].to_numpy(float)
    shifted = affected & ok_a
    out["trips_after"] = trips_a
    out["trips_evaporated"] = np.where(shifted, trips * evaporation, 0.0)
    out["trips_mode_shift"] = np.where(shifted, trips * mode_shift, 0.0)
    return out


def trip_paths(
    network: StreetNetwork,
    od: pd.DataFrame,
    *,
    superblocks: gpd.GeoDataFrame | None = None,
    scenario: str = "after",
    internal_speed_kmh: float = DEFAULT_INTERNAL_SPEED_KMH,
    closed_edges=None,
    modal_filters=None,
) -> list[np.ndarray]:
    """The edge rows of the route of every OD row, as :func:`assign` loads them.

    Uses the same routing graph and searches as :func:`assign` (same tie-breaking), then follows the
    predecessors one trip at a time: meant for checking and mapping individual routes, not for
    large tables.

    Parameters
    ----------
    network, od, superblocks, internal_speed_kmh, closed_edges, modal_filters
        As for :func:`assign`.
    scenario : {"before", "after"}, default "after"

    Returns
    -------
    list of numpy.ndarray
        Per OD row, the positions (``network.edges.iloc``) of its edges in driving order; empty for
        a trip from a node to itself; None when there is no route.
    """
    _check_network(network)
    if scenario not in ("before", "after"):
        raise InvalidOptionError(f"scenario={scenario!r} must be 'before' or 'after'.")
    od = _check_od(od, network)
    _number("internal_speed_kmh", internal_speed_kmh, low=0.0, strict_low=True)
    sc = _scenario(
        network,
        superblocks,
        internal_speed_kmh=internal_speed_kmh,
        closed_edges=closed_edges,
        modal_filters=modal_filters,
    )
    o, d = _od_positions(network, od)
    if scenario == "before":
        g = _build_graph(network, sc.steps_before)
    else:
        g, _, _ = _after_graph(network, sc, o, d)
    start = g.starts(o)
    e1, e2 = g.ends(o, d)
    out: list = [None] * len(od)
    for root in np.unique(start[start >= 0]):
        rows = np.flatnonzero(start == root)
        dist, pred = dijkstra(g.csr, directed=True, indices=int(root), return_predecessors=True)
        for r in rows:
            c1 = dist[e1[r]] if e1[r] >= 0 else np.inf
            c2 = dist[e2[r]] if e2[r] >= 0 else np.inf
            if not np.isfinite(min(c1, c2)):
                continue
            x = int(e2[r] if c2 < c1 else e1[r])
            chain = [x]
            while x != root:
                x = int(pred[x])
                chain.append(x)
            chain = np.asarray(chain[::-1], dtype=np.int64)
            if len(chain) < 2:
                out[r] = np.empty(0, dtype=np.int64)
                continue
            ed = g.arc_edge[_arc_of(g, chain[:-1], chain[1:])]
            out[r] = ed[ed >= 0]
    return out


# --------------------------------------------------------------------------------------------------
# demand


def _destination_weights(network: StreetNetwork, destinations, pop: np.ndarray) -> np.ndarray:
    """Attraction per node: a Series per node_id, points (counted at their nearest node), or residents."""
    if destinations is None:
        return pop.copy()
    if isinstance(destinations, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if destinations.crs is None:
            raise CRSError("destinations have no CRS; set it with .set_crs('EPSG:4326').")
        geoms = destinations.to_crs(network.crs)
        geoms = (geoms.geometry if isinstance(geoms, gpd.GeoDataFrame) else geoms).to_numpy()
        pts = shapely.centroid(geoms)
        if len(pts) == 0:
            raise InvalidOptionError("destinations is empty; give at least one destination, or None to use residents.")
        _, idx = network.nearest_nodes(shapely.get_coordinates(pts))
        return np.bincount(idx, minlength=len(network.nodes)).astype(float)
    return _per_node(destinations, network, "destinations")


def _zones(network: StreetNetwork, pop: np.ndarray, attr: np.ndarray, resolution: int | None):
    """Zone of every node, and per zone its representative node position, residents and attraction."""
    n = len(network.nodes)
    if resolution is None:
        zone = np.arange(n)
    else:
        import h3

        lat = network.nodes["lat"].to_numpy(float)
        lon = network.nodes["lon"].to_numpy(float)
        cells = [h3.latlng_to_cell(a, b, resolution) for a, b in zip(lat, lon)]
        zone = pd.factorize(pd.Series(cells))[0]
    nz = int(zone.max()) + 1 if n else 0
    p_z = np.bincount(zone, weights=pop, minlength=nz)
    a_z = np.bincount(zone, weights=attr, minlength=nz)
    wt = (pop / pop.sum() if pop.sum() > 0 else 0) + (attr / attr.sum() if attr.sum() > 0 else 0)
    wt = np.asarray(wt, dtype=float) + 1e-12  # zones of weightless nodes still get a centroid
    x, y = network.nodes["x"].to_numpy(float), network.nodes["y"].to_numpy(float)
    sw = np.bincount(zone, weights=wt, minlength=nz)
    cx = np.bincount(zone, weights=wt * x, minlength=nz) / sw
    cy = np.bincount(zone, weights=wt * y, minlength=nz) / sw
    d2 = (x - cx[zone]) ** 2 + (y - cy[zone]) ** 2
    order = np.lexsort((np.arange(n), d2, zone))
    first = np.ones(n, bool)
    first[1:] = zone[order][1:] != zone[order][:-1]
    rep = np.empty(nz, dtype=np.int64)
    rep[zone[order][first]] = order[first]
    return zone, rep, p_z, a_z


def _gravity_rows(rep, p_z, a_z):
    """All (origin zone, destination zone) pairs with residents, attraction and distinct zones."""
    oz = np.flatnonzero(p_z > 0)
    dz = np.flatnonzero(a_z > 0)
    oo = np.repeat(oz, len(dz))
    dd = np.tile(dz, len(oz))
    keep = oo != dd
    return oo[keep], dd[keep]


def _gravity_setup(network, population, destinations, trips_per_resident, beta_per_min, zones_resolution):
    pop = _per_node(population, network, "population")
    if pop is None:
        logger.info("no population given: every node counts as 1 resident")
        pop = np.ones(len(network.nodes))
    _number("trips_per_resident", trips_per_resident, low=0.0)
    _number("beta_per_min", beta_per_min, low=0.0)
    if zones_resolution is not None and (
        isinstance(zones_resolution, bool)
        or not isinstance(zones_resolution, (int, np.integer))
        or not 0 <= zones_resolution <= 15
    ):
        raise InvalidOptionError(
            f"zones_resolution={zones_resolution!r} must be an H3 resolution 0..15 or None (every node)."
        )
    attr = _destination_weights(network, destinations, pop)
    if pop.sum() <= 0:
        raise InvalidOptionError("population sums to 0: there is nobody to make trips.")
    if attr.sum() <= 0:
        raise InvalidOptionError("destinations sum to 0: trips have nowhere to go.")
    _, rep, p_z, a_z = _zones(network, pop, attr, zones_resolution)
    oz, dz = _gravity_rows(rep, p_z, a_z)
    if len(oz) == 0:
        raise InvalidOptionError(
            "the gravity model has no pair of distinct zones with residents and destinations; use a finer "
            "zones_resolution (or None for every node)."
        )
    return rep, p_z, a_z, oz, dz


def gravity_demand(
    network: StreetNetwork,
    population=None,
    destinations=None,
    *,
    trips_per_resident: float = 0.5,
    beta_per_min: float = 0.1,
    zones_resolution: int | None = 8,
    n_trips: float | None = None,
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """Car trips between zones from a production-constrained gravity model.

    ``T_ij = P_i * trips_per_resident * A_j exp(-beta c_ij) / sum_k A_k exp(-beta c_ik)`` over the
    destination zones k != i reachable from i, with ``c`` the free-flow car minutes between the zones'
    representative nodes (see the module docstring).

    Parameters
    ----------
    network : StreetNetwork
        The drive network (before any scenario).
    population : PopulationEstimate or Series indexed by node_id, optional
        Residents per node (default: 1 per node).
    destinations : Series indexed by node_id, GeoDataFrame of points, optional
        Attraction per node (e.g. jobs, shops), or destination points (each counts 1 at its nearest
        node). Default: residents (trips between homes).
    trips_per_resident : float, default 0.5
        Car (driver) trips per resident per day starting in the area: about 0.3 to 0.6 in
        car-light European centres such as Barcelona, 1 to 2 in car-dependent areas.
    beta_per_min : float, default 0.1
        Decay of the gravity weight per minute of car travel (0.1: the weight halves every 7 minutes).
    zones_resolution : int or None, default 8
        H3 resolution of the zones (8: about 0.74 km²; 9: about 0.1 km², near one superblock); None:
        every node is its own zone (exact, but slow beyond a few thousand nodes).
    n_trips : float, optional
        Scale the trips to this total per day instead of using ``trips_per_resident``.
    n_jobs : int, optional
        Processes for the cost searches (None: all cores).

    Returns
    -------
    pandas.DataFrame
        ``origin``, ``destination`` (representative node ids), ``trips`` (veh/day), ``time_min``
        (free-flow minutes); pairs with no route get no trips and are left out. ``attrs`` holds the
        zone count and parameters.

    Notes
    -----
    Trips start and end at the zones' representative nodes only, as with centroid connectors in
    classic four-step models. With zones larger than superblocks (resolution 8 is about six
    superblocks), most superblocks hold no trip end, so their access traffic after the scenario
    is missing and internal flows fall more than they would: use ``zones_resolution=9`` (about one
    superblock per zone) or ``None`` where access traffic matters and the area is small enough
    (the assignment runs one Dijkstra per distinct origin).
    """
    _check_network(network)
    rep, p_z, a_z, oz, dz = _gravity_setup(
        network, population, destinations, trips_per_resident, beta_per_min, zones_resolution
    )
    _number("n_trips", n_trips, low=0.0, allow_none=True)
    n_edges = len(network.edges)
    sc_steps = _steps(network.edges["time_min"].to_numpy(float))
    g0 = _build_graph(network, sc_steps)
    o, d = rep[oz], rep[dz]
    p = _Pass.make(g0, o, d, None, n_edges, trees=False)
    p.weight = _GravityTrips(p_z[oz][_first_of_tasks(p)] * trips_per_resident, a_z[dz], beta_per_min)
    _, steps, _, trips = _execute(p, len(o), _jobs(n_jobs))
    return _gravity_frame(
        network, o, d, trips, steps, n_trips, trips_per_resident, beta_per_min, zones_resolution, len(rep)
    )


def _first_of_tasks(p: _Pass) -> np.ndarray:
    """OD row position of the first row of every task (to look up per-origin values by task)."""
    return p.row_order[p.bounds[:-1]]


def _gravity_frame(network, o, d, trips, steps, n_trips, rate, beta, resolution, n_zones) -> pd.DataFrame:
    ok = np.isfinite(steps) & (trips > 0)
    total = trips[ok].sum()
    scale = 1.0 if n_trips is None or total == 0 else n_trips / total
    ids = network.nodes.index.to_numpy()
    out = pd.DataFrame(
        {
            "origin": ids[o[ok]],
            "destination": ids[d[ok]],
            "trips": trips[ok] * scale,
            "time_min": np.round(steps[ok] * TIME_RESOLUTION_MIN, 3),
        }
    )
    out.attrs["gravity"] = {
        "zones": n_zones,
        "zones_resolution": resolution,
        "trips_per_resident": rate * scale,
        "beta_per_min": beta,
        "scale": scale,
    }
    logger.info("gravity demand: %d zones, %d OD pairs, %.0f trips/day", n_zones, len(out), out["trips"].sum())
    return out


# --------------------------------------------------------------------------------------------------
# effects


def _cnossos_light_lw(speed_kmh: np.ndarray) -> np.ndarray:
    """A-weighted sound power level of one light vehicle (CNOSSOS-EU category 1), dB(A)."""
    speed = np.clip(np.asarray(speed_kmh, dtype=float), _CNOSSOS_V_MIN, _CNOSSOS_V_MAX)
    values, inverse = np.unique(speed, return_inverse=True)  # few distinct speeds
    v = values[:, None]
    rolling = _CNOSSOS_AR + _CNOSSOS_BR * np.log10(v / 70.0)
    propulsion = _CNOSSOS_AP + _CNOSSOS_BP * (v - 70.0) / 70.0
    band = 10.0 * np.log10(10.0 ** (rolling / 10.0) + 10.0 ** (propulsion / 10.0)) + _A_WEIGHTING
    return (10.0 * np.log10(np.sum(10.0 ** (band / 10.0), axis=-1)))[inverse].reshape(speed.shape)


def noise_speed_term_db(speed_before_kmh, speed_after_kmh) -> np.ndarray:
    """Change of road-traffic noise emission at equal flow when the speed changes (CNOSSOS-EU).

    The emission of a traffic line is ``L_W + 10 log10(Q / (1000 v))`` (Q veh/h, v km/h): the
    per-vehicle sound power of light vehicles (category 1: rolling noise ``A_R + B_R log10(v/70)``
    and propulsion noise ``A_P + B_P (v - 70)/70`` per octave band, A-weighted and summed) minus the
    density term of faster traffic. CNOSSOS-EU is defined from 20 to 130 km/h; speeds outside are
    taken at those bounds (so 30 -> 10 km/h counts as 30 -> 20 km/h, -1.1 dB).

    >>> [round(float(x), 1) for x in noise_speed_term_db([50, 30, 50], [30, 10, 50])]
    [-3.4, -1.1, 0.0]
    """
    vb = np.clip(np.asarray(speed_before_kmh, dtype=float), _CNOSSOS_V_MIN, _CNOSSOS_V_MAX)
    va = np.clip(np.asarray(speed_after_kmh, dtype=float), _CNOSSOS_V_MIN, _CNOSSOS_V_MAX)
    return _cnossos_light_lw(va) - _cnossos_light_lw(vb) - 10.0 * np.log10(va / vb)


def _perimeter_of(network: StreetNetwork, superblocks, labels: np.ndarray, tolerance_m: float = 1.0) -> np.ndarray:
    """Edge rows that are not internal and run along a superblock's boundary."""
    out = np.zeros(len(network.edges), bool)
    if superblocks is None or len(superblocks) == 0:
        return out
    gdf = superblocks.to_crs(network.crs) if str(superblocks.crs) != str(network.crs) else superblocks
    seg = _Segments.of(network)
    tree = shapely.STRtree(shapely.boundary(gdf.geometry.to_numpy()))
    si, _ = tree.query(seg.mid, predicate="dwithin", distance=tolerance_m)
    on = np.zeros(len(seg.rows), bool)
    on[si] = True
    return on[seg.street] & (labels < 0)


def effects(
    assignment: Assignment,
    superblocks: gpd.GeoDataFrame | None = None,
    *,
    noise_floor_veh_day: float = NOISE_FLOOR_VEH_DAY,
    co2_kg_per_vkm: float = CO2_KG_PER_VKM,
    nox_g_per_vkm: float = NOX_G_PER_VKM,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Effects of the scenario per street and in total.

    Noise: ``d_noise_flow_db = 10 log10(max(Q_after, floor) / max(Q_before, floor))`` on the total
    flow Q of both directions of each street segment (the CNOSSOS-EU flow term at equal speed), plus
    ``d_noise_speed_db`` (:func:`noise_speed_term_db`) where the speed changes (internal streets).
    Emissions: vehicle-km times per-vehicle-km fleet factors (:data:`CO2_KG_PER_VKM`,
    :data:`NOX_G_PER_VKM`). Caveat: the flow-only noise estimate overstates measured drops (Sant
    Antoni, Barcelona: -82% vehicles on Comte Borrell predicts -7.4 dB, -4.1 dB was measured by day);
    see :data:`NOISE_CAVEAT`.

    Parameters
    ----------
    assignment : Assignment
        From :func:`assign`.
    superblocks : GeoDataFrame, optional
        Default ``assignment.superblocks``.
    noise_floor_veh_day : float, default 100
        Flows below count as this in the noise term.
    co2_kg_per_vkm, nox_g_per_vkm : float
        Emission factors.

    Returns
    -------
    edges : geopandas.GeoDataFrame
        Per edge row: ``u``, ``v``, ``way_id``, ``highway``, ``name``, ``length_m``, ``superblock_id``,
        ``role`` (``internal``, ``perimeter`` or ``other``), ``closed``, ``speed_before_kmh``,
        ``speed_after_kmh``, ``flow_before``, ``flow_after``, ``flow_change``, ``street_flow_before``,
        ``street_flow_after`` (both directions), ``d_noise_flow_db``, ``d_noise_speed_db``,
        ``d_noise_db``, ``vkm_before``, ``vkm_after``, ``co2_kg_day_before``, ``co2_kg_day_after``,
        ``nox_kg_day_before``, ``nox_kg_day_after``, geometry.
    summary : pandas.DataFrame
        One row: the :meth:`Assignment.summary` columns, ``vkm_internal_before/after``,
        ``vkm_perimeter_before/after``, ``flow_moved_to_perimeter_vkm`` (perimeter vkm after minus
        before), ``co2_kg_day_before/after``, ``nox_kg_day_before/after``, ``n_superblocks``,
        ``street_area_freed_m2``, ``residents_inside``, ``internal_length_km``,
        ``mean_d_noise_internal_db`` and ``mean_d_noise_perimeter_db`` (length-weighted),
        ``noise_caveat``.
    """
    if not isinstance(assignment, Assignment):
        raise InvalidOptionError("assignment must be an Assignment (from urbankit.superblocks.assign).")
    floor = _number("noise_floor_veh_day", noise_floor_veh_day, low=0.0, strict_low=True)
    _number("co2_kg_per_vkm", co2_kg_per_vkm, low=0.0)
    _number("nox_g_per_vkm", nox_g_per_vkm, low=0.0)
    sb = assignment.superblocks if superblocks is None else superblocks
    net = assignment.network
    e = net.edges
    fl = assignment.flows
    labels = fl["superblock_id"].fillna(-1).to_numpy(np.int64)
    perimeter = _perimeter_of(net, sb, labels)
    street = _street_ids(e)
    qb = fl["flow_before"].to_numpy(float)
    qa = fl["flow_after"].to_numpy(float)
    sqb = np.bincount(street, weights=qb)[street]
    sqa = np.bincount(street, weights=qa)[street]
    d_flow = 10.0 * np.log10(np.maximum(sqa, floor) / np.maximum(sqb, floor))
    vb, va = fl["speed_before_kmh"].to_numpy(float), fl["speed_after_kmh"].to_numpy(float)
    d_speed = np.where(va != vb, noise_speed_term_db(vb, va), 0.0)
    km = e["length_m"].to_numpy(float) / 1000.0
    out = gpd.GeoDataFrame(
        {
            "u": e["u"].to_numpy(),
            "v": e["v"].to_numpy(),
            "way_id": e["way_id"].to_numpy(),
            "highway": e["highway"].to_numpy(),
            "name": e["name"].to_numpy() if "name" in e.columns else None,
            "length_m": e["length_m"].to_numpy(float),
            "superblock_id": fl["superblock_id"].array,
            "role": np.where(labels >= 0, "internal", np.where(perimeter, "perimeter", "other")),
            "closed": fl["closed"].to_numpy(bool),
            "speed_before_kmh": vb,
            "speed_after_kmh": va,
            "flow_before": qb,
            "flow_after": qa,
            "flow_change": qa - qb,
            "street_flow_before": sqb,
            "street_flow_after": sqa,
            "d_noise_flow_db": d_flow,
            "d_noise_speed_db": d_speed,
            "d_noise_db": d_flow + d_speed,
            "vkm_before": qb * km,
            "vkm_after": qa * km,
            "co2_kg_day_before": qb * km * co2_kg_per_vkm,
            "co2_kg_day_after": qa * km * co2_kg_per_vkm,
            "nox_kg_day_before": qb * km * nox_g_per_vkm / 1000.0,
            "nox_kg_day_after": qa * km * nox_g_per_vkm / 1000.0,
        },
        geometry=e.geometry.to_numpy(),
        index=e.index,
        crs=net.crs,
    )
    summary = assignment.summary()
    internal, per = labels >= 0, perimeter
    first = np.zeros(len(e), bool)
    first[_first_rows(street)] = True

    def mean_noise(mask):
        m = mask & first
        return (
            float(np.average(out["d_noise_db"].to_numpy()[m], weights=km[m]))
            if m.any() and km[m].sum() > 0
            else float("nan")
        )

    extra = {
        "vkm_internal_before": float(out["vkm_before"].to_numpy()[internal].sum()),
        "vkm_internal_after": float(out["vkm_after"].to_numpy()[internal].sum()),
        "vkm_perimeter_before": float(out["vkm_before"].to_numpy()[per].sum()),
        "vkm_perimeter_after": float(out["vkm_after"].to_numpy()[per].sum()),
        "co2_kg_day_before": float(out["co2_kg_day_before"].sum()),
        "co2_kg_day_after": float(out["co2_kg_day_after"].sum()),
        "nox_kg_day_before": float(out["nox_kg_day_before"].sum()),
        "nox_kg_day_after": float(out["nox_kg_day_after"].sum()),
        "n_superblocks": 0 if sb is None else len(sb),
        "street_area_freed_m2": float(sb["internal_street_area_m2"].sum())
        if sb is not None and "internal_street_area_m2" in sb
        else float("nan"),
        "residents_inside": float(sb["residents"].sum(min_count=1))
        if sb is not None and "residents" in sb
        else float("nan"),
        "internal_length_km": float(km[internal & first].sum()),
        "mean_d_noise_internal_db": mean_noise(internal),
        "mean_d_noise_perimeter_db": mean_noise(per),
        "noise_caveat": NOISE_CAVEAT,
    }
    for k, v in extra.items():
        summary[k] = [v]
    summary.insert(
        summary.columns.get_loc("vkm_perimeter_after") + 1,
        "flow_moved_to_perimeter_vkm",
        summary["vkm_perimeter_after"] - summary["vkm_perimeter_before"],
    )
    return out, summary


# --------------------------------------------------------------------------------------------------
# whole scenario


@dataclass(repr=False)
class Scenario:
    """Everything :func:`run_scenario` computed: candidates, demand, assignment and effects."""

    superblocks: gpd.GeoDataFrame
    od: pd.DataFrame
    assignment: Assignment
    edges: gpd.GeoDataFrame
    summary: pd.DataFrame
    timings: dict
    population_description: str | None = None

    def __repr__(self) -> str:
        s = self.summary.iloc[0]
        pop = f"; {self.population_description}" if self.population_description else ""
        return (
            f"Scenario({int(s.n_superblocks)} superblocks, {s.trips:,.0f} trips/day, vkm {s.vkm_before:,.0f} -> "
            f"{s.vkm_after:,.0f}, median detour {s.median_detour:.3f}; "
            + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
            + pop
            + ")"
        )


def run_scenario(
    network: StreetNetwork,
    *,
    superblocks: gpd.GeoDataFrame | None = None,
    method: str = "auto",
    population=None,
    destinations=None,
    od: pd.DataFrame | None = None,
    n_trips: float | None = None,
    trips_per_resident: float = 0.5,
    beta_per_min: float = 0.1,
    zones_resolution: int | None = 8,
    internal_speed_kmh: float = DEFAULT_INTERNAL_SPEED_KMH,
    closed_edges=None,
    modal_filters=None,
    evaporation: float = 0.0,
    mode_shift: float = 0.0,
    n_jobs: int | None = None,
    find_kwargs: dict | None = None,
    effects_kwargs: dict | None = None,
) -> Scenario:
    """Detection, demand, assignment before and after, and effects in one call (times logged per phase).

    Parameters
    ----------
    network : StreetNetwork
        The drive network.
    superblocks : GeoDataFrame, optional
        Candidates to use; default :func:`find_superblocks` with ``method``, ``population`` and
        ``find_kwargs``.
    method : str, default "auto"
        Detection method (:func:`find_superblocks`).
    population, destinations : optional
        As for :func:`gravity_demand` (population also gives the residents of the candidates).
    od : DataFrame, optional
        A user OD table instead of the gravity model.
    n_trips : float, optional
        Total car trips per day of the gravity model (overrides ``trips_per_resident``).
    trips_per_resident, beta_per_min, zones_resolution
        Gravity model (:func:`gravity_demand`).
    internal_speed_kmh, closed_edges, modal_filters, evaporation, mode_shift, n_jobs
        As for :func:`assign`.
    find_kwargs : dict, optional
        More options of :func:`find_superblocks`.
    effects_kwargs : dict, optional
        Passed to :func:`effects`.

    Returns
    -------
    Scenario
        ``superblocks``, ``od`` (the assignment's per-trip table), ``assignment``, ``edges`` and
        ``summary`` (:func:`effects`), ``timings`` (seconds per phase: ``detect_s``,
        ``demand_and_before_s`` with the gravity model (demand and the before assignment share one
        search per origin) or ``assign_before_s``, ``assign_after_s``, ``effects_s``, ``total_s``).
    """
    _check_network(network)
    _shares(evaporation, mode_shift)
    _number("internal_speed_kmh", internal_speed_kmh, low=0.0, strict_low=True)
    _number("n_trips", n_trips, low=0.0, allow_none=True)
    if od is not None:
        od = _check_od(od, network)
    jobs = _jobs(n_jobs)
    timings: dict = {}
    t0 = time.perf_counter()
    if superblocks is None:
        superblocks = find_superblocks(network, method=method, population=population, **(find_kwargs or {}))
    timings["detect_s"] = time.perf_counter() - t0
    logger.info("detection: %d candidates in %.2f s", len(superblocks), timings["detect_s"])
    before = None
    if od is None:
        # demand and the before assignment share one pass: each origin's tree gives its costs and routes
        t0 = time.perf_counter()
        rep, p_z, a_z, oz, dz = _gravity_setup(
            network, population, destinations, trips_per_resident, beta_per_min, zones_resolution
        )
        n_edges = len(network.edges)
        steps0 = _steps(network.edges["time_min"].to_numpy(float))
        g0 = _build_graph(network, steps0)
        o, d = rep[oz], rep[dz]
        p = _Pass.make(g0, o, d, None, n_edges)
        p.weight = _GravityTrips(p_z[oz][_first_of_tasks(p)] * trips_per_resident, a_z[dz], beta_per_min)
        flows_b, steps_b, metres_b, trips = _execute(p, len(o), jobs)
        od = _gravity_frame(
            network, o, d, trips, steps_b, n_trips, trips_per_resident, beta_per_min, zones_resolution, len(rep)
        )
        ok = np.isfinite(steps_b) & (trips > 0)
        before = (flows_b * od.attrs["gravity"]["scale"], steps_b[ok], metres_b[ok])
        timings["demand_and_before_s"] = time.perf_counter() - t0
        logger.info("demand and before assignment: %d OD pairs in %.2f s", len(od), timings["demand_and_before_s"])
    a = _assign(
        network,
        od[["origin", "destination", "trips"]],
        superblocks=superblocks,
        internal_speed_kmh=internal_speed_kmh,
        closed_edges=closed_edges,
        modal_filters=modal_filters,
        evaporation=evaporation,
        mode_shift=mode_shift,
        jobs=jobs,
        before=before,
    )
    a.od.attrs = dict(od.attrs)
    if before is None:
        timings["assign_before_s"] = a.timings["assign_before_s"]
    timings["assign_after_s"] = a.timings["assign_after_s"]
    t0 = time.perf_counter()
    edges, summary = effects(a, superblocks, **(effects_kwargs or {}))
    timings["effects_s"] = time.perf_counter() - t0
    logger.info("effects in %.2f s", timings["effects_s"])
    timings["total_s"] = sum(timings.values())
    return Scenario(
        superblocks=superblocks, od=a.od, assignment=a, edges=edges, summary=summary, timings=timings,
        population_description=getattr(population, "description", None),
    )


# --------------------------------------------------------------------------------------------------
# restricted-distance metrics (superblockify's directness and global efficiency, unit distance)

#: above this many nodes :func:`distance_metrics` samples origins (all destinations are kept)
METRIC_MAX_SOURCES = 2_000


def distance_metrics(
    network: StreetNetwork,
    superblocks: gpd.GeoDataFrame | None = None,
    *,
    labels=None,
    weight=None,
    max_sources: int | None = METRIC_MAX_SOURCES,
    seed: int = 0,
) -> dict:
    """Directness and global efficiency of the superblock routing rule, in metres.

    As superblockify defines them with ``unit="distance"`` (``superblockify.metrics.measures``):
    over all ordered node pairs ``i != j`` whose unrestricted distance ``d_S`` and restricted
    distance ``d_N`` are both finite and non-zero,

    * ``directness_distance = mean(d_S / d_N)`` (superblockify's ``directness["SN"]``),
    * ``global_efficiency_distance = sum(1 / d_N) / sum(1 / d_S)`` (its ``global_efficiency["NS"]``).

    ``d_S`` is the shortest distance on the whole network, ``d_N`` the shortest distance under the
    exact routing rule of the module docstring (internal streets only at the start and end of a trip),
    both with edge lengths (``weight``, default ``length_m``, per edge row) as weights. Every node is
    an origin up to ``max_sources`` nodes; above, that many origins are drawn at random (``seed``)
    and ``metric_sources`` says so. Both are 1 without superblocks.

    Returns
    -------
    dict
        ``directness_distance``, ``global_efficiency_distance``, ``metric_pairs`` (pairs used),
        ``metric_sources`` (origins used), ``metric_nodes``.
    """
    _check_network(network)
    n = len(network.nodes)
    if labels is None:
        if superblocks is None or len(superblocks) == 0:
            lab = np.full(len(network.edges), -1, dtype=np.int64)
        else:
            lab = label_edges(network, superblocks).fillna(-1).to_numpy(np.int64)
    else:
        lab = pd.Series(labels).fillna(-1).to_numpy(np.int64)
    w = network.edges["length_m"].to_numpy(float) if weight is None else np.asarray(weight, dtype=float)
    if len(w) != len(network.edges) or len(lab) != len(network.edges):
        raise InvalidOptionError("labels and weight need one value per edge row of the network.")
    src = np.arange(n)
    if max_sources is not None and n > max_sources:
        src = np.sort(np.random.default_rng(seed).choice(n, size=int(max_sources), replace=False))
    sbs = np.unique(lab[lab >= 0])
    free = _build_graph(network, w)
    g = _build_graph(network, w, labels=lab, l1_sbs=sbs, l3_sbs=sbs)
    d_s = np.empty((len(src), n))
    d_n = np.empty((len(src), n))
    all_d = np.arange(n)
    chunk = max(1, int(_BATCH_CELLS // max(g.n_exp, 1)))
    for a in range(0, len(src), chunk):
        o = src[a : a + chunk]
        d_s[a : a + len(o)] = dijkstra(free.csr, directed=True, indices=o)[:, :n]
        full = dijkstra(g.csr, directed=True, indices=g.starts(o))
        oo = np.repeat(o, n)
        dd = np.tile(all_d, len(o))
        t1, t2 = g.ends(oo, dd)
        rows = np.repeat(np.arange(len(o)), n)
        best = full[rows, t1]
        alt = np.where(t2 >= 0, full[rows, np.maximum(t2, 0)], np.inf)
        d_n[a : a + len(o)] = np.minimum(best, alt).reshape(len(o), n)
    keep = np.isfinite(d_s) & np.isfinite(d_n) & (d_s > 1e-3) & (d_n > 1e-3)
    keep[np.arange(len(src)), src] = False
    s, r = d_s[keep], d_n[keep]
    if len(s) == 0:
        return {
            "directness_distance": float("nan"),
            "global_efficiency_distance": float("nan"),
            "metric_pairs": 0,
            "metric_sources": len(src),
            "metric_nodes": n,
        }
    return {
        "directness_distance": float(np.mean(s / r)),
        "global_efficiency_distance": float(np.sum(1.0 / r) / np.sum(1.0 / s)),
        "metric_pairs": len(s),
        "metric_sources": len(src),
        "metric_nodes": int(n),
    }


# --------------------------------------------------------------------------------------------------
# one-call entry point and GeoPackage output

#: columns of the ``edges`` layer of :meth:`Scenario.to_gpkg`
GPKG_EDGE_COLUMNS = (
    "u",
    "v",
    "highway",
    "name",
    "length_m",
    "superblock_id",
    "role",
    "flow_before",
    "flow_after",
    "flow_change",
    "d_noise_db",
    "d_noise_flow_db",
    "d_noise_speed_db",
    "speed_before_kmh",
    "speed_after_kmh",
)
#: above this many drive nodes :func:`superblocks_scenario` groups residents into H3 zones (resolution 8)
AUTO_ZONES_NODES = 3_000


def _superblocks_layer(scenario: Scenario) -> gpd.GeoDataFrame:
    sb = scenario.superblocks
    out = gpd.GeoDataFrame(
        {
            "superblock_id": sb["superblock_id"].to_numpy(np.int64),
            "area_ha": sb["area_ha"].to_numpy(float),
            "residents": sb["residents"].to_numpy(float),
            "street_area_freed_m2": sb["internal_street_area_m2"].to_numpy(float),
            "internal_length_m": sb["internal_length_m"].to_numpy(float),
            "n_internal_edges": sb["n_internal_edges"].to_numpy(np.int64),
            "perimeter_streets": sb["perimeter_streets"].astype(str).to_numpy(),
            "method": sb["method"].astype(str).to_numpy(),
        },
        geometry=sb.geometry.to_numpy(),
        crs=sb.crs,
    )
    return out.to_crs("EPSG:4326")


def _edges_layer(scenario: Scenario) -> gpd.GeoDataFrame:
    e = scenario.edges
    cols = [c for c in GPKG_EDGE_COLUMNS if c in e.columns]
    out = gpd.GeoDataFrame(e[cols].reset_index(drop=True), geometry=e.geometry.to_numpy(), crs=e.crs)
    out["superblock_id"] = out["superblock_id"].astype("Int64")
    return out.to_crs("EPSG:4326")


def _summary_layer(scenario: Scenario) -> pd.DataFrame:
    s = scenario.summary.copy()
    for c in s.columns:
        if s[c].dtype == object:
            s[c] = s[c].astype(str)
    return s.reset_index(drop=True)


def scenario_to_gpkg(scenario: Scenario, path) -> os.PathLike:
    """Write a scenario to a GeoPackage, atomically (a temporary file in the same folder, then
    ``os.replace``); returns its path.

    Layers (EPSG:4326): ``superblocks`` (polygons: ``superblock_id``, ``area_ha``, ``residents``,
    ``street_area_freed_m2``, ...), ``edges`` (``u``, ``v``, ``highway``, ``superblock_id`` (null
    outside superblocks), ``flow_before``, ``flow_after``, ``d_noise_db``, ..., geometry) and
    ``summary`` (a table without geometry: the one row of ``scenario.summary``).
    """
    import uuid
    from pathlib import Path

    import pyogrio

    from .outputs import _fsync, _remove_quietly, _unsynchronised_sqlite, refuse_overwriting_inputs

    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise InvalidOptionError(f"path={str(path)!r} must end in .gpkg (a GeoPackage), e.g. 'superblocks.gpkg'.")
    if path.is_dir():
        raise InvalidOptionError(f"path={str(path)!r} is a folder; give a file name ending in .gpkg.")
    inputs = dict(getattr(scenario, "input_files", None) or {})
    if "source" in scenario.summary.columns and len(scenario.summary):
        inputs.setdefault("source", scenario.summary["source"].iloc[0])
    refuse_overwriting_inputs(path, inputs)
    layers = {"superblocks": _superblocks_layer(scenario), "edges": _edges_layer(scenario)}
    summary = _summary_layer(scenario)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.gpkg")
    try:
        with _unsynchronised_sqlite():
            for name, gdf in layers.items():
                gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", index=False)
            pyogrio.write_dataframe(summary, tmp, layer="summary", driver="GPKG")
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


Scenario.to_gpkg = scenario_to_gpkg
Scenario.to_gpkg.__doc__ = scenario_to_gpkg.__doc__


def superblocks_scenario(
    source,
    *,
    method: str = "auto",
    polygons=None,
    population=None,
    population_column: str | None = None,
    evaporation: float = 0.0,
    mode_shift: float = 0.0,
    internal_speed_kmh: float = DEFAULT_INTERNAL_SPEED_KMH,
    n_trips: float | None = None,
    trips_per_resident: float = 0.5,
    beta_per_min: float = 0.1,
    zones_resolution="auto",
    metrics: bool = True,
    n_jobs: int | None = None,
    find_kwargs: dict | None = None,
    population_total: float | None = None,
) -> Scenario:
    """The whole superblock scenario of an area in one call (what the report and CLI run).

    Loads ``source`` (:func:`urbankit.load`: an embedded data set name, an OSM or GraphML file, a
    place...), builds the drive network, estimates residents per node (from the ``population`` grid or
    polygons when given, else from OSM buildings, else uniformly), finds destinations
    (:func:`urbankit.destinations`; none in a GraphML file: residents attract trips then), finds
    candidate superblocks (``method``, or the user's ``polygons``: a file or a GeoDataFrame) and runs
    :func:`run_scenario`. ``summary`` also gets ``directness_distance`` and
    ``global_efficiency_distance`` (:func:`distance_metrics`), ``population_source`` and ``source``.

    ``zones_resolution="auto"`` groups trips by node up to :data:`AUTO_ZONES_NODES` drive nodes and
    by H3 cells of resolution 8 above.

    Parameters
    ----------
    source
        Anything :func:`urbankit.load` accepts (embedded data set name, OSM/GraphML file, place...).
    method : {"auto", "arterial", "grid", "residential", "polygons"}, default "auto"
        Detection method of :func:`find_superblocks`; ``"polygons"`` needs ``polygons``.
    polygons : str, pathlib.Path or geopandas.GeoDataFrame, optional
        The user's superblock polygons (a vector file with a CRS, or a GeoDataFrame); given, they
        are used instead of detection (``method`` becomes ``"polygons"``).
    population : str, pathlib.Path or geopandas.GeoDataFrame, optional
        Population grid or polygons (as :func:`urbankit.population_per_node` ``grid``); without it
        residents are estimated from OSM buildings, else spread uniformly.
    population_column : str, optional
        Column of ``population`` holding residents (detected when omitted).
    evaporation, mode_shift : float, default 0.0
        Shares of the affected trips (time increased) that no longer happen or move to walking,
        cycling or transit (:func:`assign`).
    internal_speed_kmh : float, default 10.0
        Speed of cars inside a superblock (:data:`DEFAULT_INTERNAL_SPEED_KMH`).
    n_trips : float, optional
        Total car trips per day of the gravity model (overrides ``trips_per_resident``).
    trips_per_resident : float, default 0.5
        Car trips per day and resident of the gravity model (:func:`gravity_demand`).
    beta_per_min : float, default 0.1
        Decay of the gravity model, per minute of travel time.
    zones_resolution : int, None or "auto", default "auto"
        Zones of the gravity model: H3 resolution, None for one zone per node, ``"auto"`` as above.
    metrics : bool, default True
        Add :func:`distance_metrics` (``directness_distance``, ``global_efficiency_distance``) to
        ``summary`` and their time to ``timings["metrics_s"]``.
    n_jobs : int, optional
        Processes for the Dijkstra searches of the assignment (None or -1: all available cores;
        :func:`assign`).
    find_kwargs : dict, optional
        More options of :func:`find_superblocks`.
    population_total : float, optional
        Known number of residents the estimate is scaled to (``total`` of
        :func:`urbankit.population_per_node`).

    Returns
    -------
    Scenario
        As :func:`run_scenario`, with ``network``, ``population`` (the estimate used), and
        ``input_files`` (absolute paths of the input files, which ``to_gpkg`` refuses to overwrite).

    Raises
    ------
    InvalidOptionError
        Bad options (a negative ``evaporation``, polygons outside the area, ...).
    InputFileError, NoStreetsError, ...
        As :func:`urbankit.load` and :func:`find_superblocks`.
    """
    from pathlib import Path

    from ._errors import InputFileError
    from .destinations import find_destinations
    from .network import build_network
    from .osm import load
    from .population import population_per_node

    _shares(evaporation, mode_shift)
    _number("internal_speed_kmh", internal_speed_kmh, low=0.0, strict_low=True)
    _number("n_trips", n_trips, low=0.0, allow_none=True)
    if method not in METHODS:
        raise InvalidOptionError(f"method={method!r} is not one of {METHODS}.")
    if method == "polygons" and polygons is None:
        raise InvalidOptionError("method='polygons' needs polygons=... (a file or a GeoDataFrame).")
    polygons_path = polygons if isinstance(polygons, (str, Path)) else None
    if isinstance(polygons, (str, Path)):
        p = Path(polygons)
        if not p.is_file():
            raise InputFileError(f"polygons file {str(p)!r} does not exist.")
        try:
            polygons = gpd.read_file(p)
        except Exception as exc:  # pyogrio raises its own types on unreadable files
            raise InputFileError(f"cannot read polygons from {str(p)!r}: {exc}") from exc
        if polygons.crs is None:
            raise CRSError(f"polygons file {str(p)!r} has no CRS; save it with one (e.g. EPSG:4326).")
    extract = load(source)
    network = build_network(extract, "drive")
    buildings = getattr(extract, "buildings", None)
    pop = population_per_node(
        network.nodes,
        grid=population,
        column=population_column,
        buildings=buildings if population is None and buildings is not None and len(buildings) else None,
        node_population=extract.meta.get("node_population") if population is None else None,
        context=extract,
        total=population_total,
    )
    try:
        dest = find_destinations(extract)
    except Exception as exc:  # noqa: BLE001 - a GraphML file holds no features
        logger.info("no destinations (%s): residents attract trips", exc)
        dest = None
    if dest is not None and len(dest) == 0:
        dest = None
    if zones_resolution == "auto":
        zones_resolution = None if len(network.nodes) <= AUTO_ZONES_NODES else 8
    kw = dict(find_kwargs or {})
    if polygons is not None:
        kw["polygons"] = polygons
        method = "polygons"
    superblocks = find_superblocks(network, method=method, population=pop, **kw)
    scenario = run_scenario(
        network,
        superblocks=superblocks,
        population=pop,
        destinations=dest,
        n_trips=n_trips,
        trips_per_resident=trips_per_resident,
        beta_per_min=beta_per_min,
        zones_resolution=zones_resolution,
        internal_speed_kmh=internal_speed_kmh,
        evaporation=evaporation,
        mode_shift=mode_shift,
        n_jobs=n_jobs,
    )
    if metrics:
        t0 = time.perf_counter()
        m = distance_metrics(network, superblocks)
        scenario.timings["metrics_s"] = time.perf_counter() - t0
        for k, v in m.items():
            scenario.summary[k] = [v]
    scenario.summary["population_source"] = [getattr(pop, "source", "user")]
    scenario.summary["source"] = [str(getattr(extract, "source", source))]
    scenario.network = network
    scenario.population = pop
    # absolute, so to_gpkg refuses to overwrite them whatever the working folder is then
    scenario.input_files = {
        what: str(Path(v).expanduser().resolve()) if Path(v).expanduser().exists() else v
        for what, v in (("source", source), ("population", population), ("polygons", polygons_path))
        if isinstance(v, (str, os.PathLike))
    }
    return scenario
