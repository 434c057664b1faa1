"""Superblocks: candidate cells, the traffic-exclusion scenario, car demand, assignment and effects.

Barcelona's superblocks (*superilles*) group about 3 x 3 Eixample blocks into cells of roughly
400 m x 400 m: inside, only residents, services and bicycles drive, at walking pace, and through
traffic stays on the perimeter streets. This module finds candidate cells on a drive network,
restricts through traffic inside them exactly, assigns car trips before and after, and reports the
effects per street and in total.

>>> import pandas as pd
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
    The ``arterial`` cells; each one larger than 1.5 target cells (``target_spacing_m`` squared:
    24 ha for 400 m) is cut by the ``grid`` method run on its own streets (those inside it and
    within 0.15 ``target_spacing_m`` of its boundary, so the arterials on the boundary and their
    side lanes set the phase of the chosen lines); parts smaller than 0.4 target cells (slivers
    along side lanes, a remainder of one block) are merged into the neighbouring part they share
    most boundary with. A cell whose streets are not a grid stays whole. Without any arterial
    cell, ``grid`` on the whole network. The ``method`` column says how each cell was found.
    ``auto`` then opens cells failing the isolated-cell check (nodes inside a cell that cannot be
    reached from the through network, or cannot reach it, on the cell's internal streets in their
    driving directions): their internal streets at such nodes become through streets, until every
    node inside passes; ``isolated="open"|"drop"|"keep"`` chooses for any method, and
    ``n_unreachable_nodes`` reports what remains. ``rank`` orders the candidates by residents,
    then internal street length (after a scenario: :func:`rank_superblocks`).
``residential``
    superblockify's ``ResidentialPartitioner`` rule: the through network is the largest (weakly)
    connected part of all streets whose highway is not ``residential`` or ``living_street``; the
    other streets fall apart into components, connected only through nodes off the through network
    (a street joining two through nodes is a component of its own). Every component is one
    candidate, as superblockify's partitions. Its polygon is the face of the through network
    holding most of its streets when it is alone in that face; otherwise (several components in
    one face, or none at the edge of the area) the concave hull (ratio 0.5) of its streets'
    vertices grown by 10 m, clipped to the face.
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
compiled Dijkstra per distinct origin (numba, :mod:`urbankit.superblocks._kernels`; stopped once the
origin's destinations are settled) yields the shortest-path tree; trips are pushed up the tree in
reverse settle order, so the edge flows are exact sums over trips. Among equal-cost paths (same
minutes and number of edges) a fixed rule chooses: nodes are settled in (distance, node number)
order and a node keeps the first settled parent that reaches it at its distance. Origins run on
``n_jobs`` threads in fixed chunks, so results do not depend on the thread count. Cost grows with the
number of distinct origins: aggregate user OD tables to zones for large areas. Trips *affected* by
the scenario are those whose travel time increases; ``evaporation``
(traffic evaporation, default 0 in :func:`assign` and :func:`run_scenario`) and ``mode_shift``
(default 0) are the shares of affected trips that no longer drive after, e.g. the evidence-based
:data:`EVAPORATION_EVIDENCE` = 0.11 of Cairns, Atkins & Goodwin (2002). ``evaporation="elastic"``
(the default of :func:`superblocks_scenario`) lets each affected trip respond to its own change of
travel time instead: it keeps ``(t_after / t_before) ** time_elasticity`` of its trips, with
:data:`TIME_ELASTICITY` = -0.5, the short-term elasticity of traffic with respect to travel time
of Goodwin (1996) (:data:`TIME_ELASTICITY_LONG_RUN` = -1.0 long term). Trips with a route before
and none after are reported (``trips_unroutable_after``, ``trips_unroutable_share``,
``vkm_unroutable_before``), never counted as a reduction (``vkm_after_with_unroutable``).

Open demand (:func:`open_demand`, :mod:`urbankit.superblocks.external`) adds the outside world:
external zones where major roads cross the area's boundary, with inbound, outbound and through
trips. ``run_scenario(..., assignment="equilibrium")`` replaces the all-or-nothing flows by user
equilibrium flows with BPR delays on the same exact routing graphs
(:mod:`urbankit.superblocks.congestion`).

Effects (:func:`effects`)
-------------------------
Per street, before and after (default ``model="cnossos"``, :mod:`urbankit.environment`): flows
(veh/day) split into vehicle categories by a documented fleet mix and into day, evening and night;
CNOSSOS-EU road emission (Commission Directive (EU) 2021/1226 coefficients) as Lday, Levening,
Lnight and Lden with a residual background level, and their changes; CO2, NOx and PM2.5 (exhaust
and non-exhaust) from COPERT speed-dependent factors at each street's congested or free-flow speed;
carriageway widths from OSM ``width``/``lanes`` (else class defaults) and the area freed beyond the
access lane that stays; residents on their nearest street, residents per 5-dB Lden band, and who
gets louder or quieter by 1 dB or more inside cells, on perimeters and elsewhere
(:func:`exposure_table`). The model's limits are stated in :data:`CNOSSOS_CAVEAT` (emission only:
no propagation, barriers or reflections). ``model="simple"`` keeps the earlier flow-only noise term
with its 100 veh/day floor (:data:`NOISE_FLOOR_VEH_DAY`) and constant factors
(:data:`CO2_KG_PER_VKM`, :data:`NOX_G_PER_VKM`); see :data:`NOISE_CAVEAT`.
"""

from __future__ import annotations

from ._common import (
    ALWAYS_THROUGH_HIGHWAYS,
    CO2_KG_PER_VKM,
    DEFAULT_INTERNAL_SPEED_KMH,
    DEFAULT_MAX_AREA_HA,
    DEFAULT_MIN_AREA_HA,
    DEFAULT_STREET_WIDTH_M,
    DEFAULT_THROUGH_HIGHWAYS,
    EVAPORATION_ELASTIC,
    EVAPORATION_EVIDENCE,
    METHODS,
    NOISE_CAVEAT,
    NOISE_FLOOR_VEH_DAY,
    NOX_G_PER_VKM,
    RESIDENTIAL_HIGHWAYS,
    STREET_WIDTH_M,
    TIME_ELASTICITY,
    TIME_ELASTICITY_LONG_RUN,
)
from .access import AccessibilityChange, accessibility_change
from .assign import Assignment, assign, trip_paths
from .demand import gravity_demand
from .detect import find_superblocks, label_edges
from .effects import CNOSSOS_CAVEAT, MODELS, effects, exposure_table, noise_speed_term_db
from .external import DEFAULT_THROUGH_SHARE, external_zones, open_demand
from .metrics import METRIC_MAX_SOURCES, distance_metrics
from .ranking import rank_superblocks
from .scenario import (
    AUTO_ZONES_NODES,
    GPKG_EDGE_COLUMNS,
    Scenario,
    run_scenario,
    scenario_to_gpkg,
    superblocks_scenario,
)

__all__ = [
    "AUTO_ZONES_NODES",
    "DEFAULT_INTERNAL_SPEED_KMH",
    "DEFAULT_MAX_AREA_HA",
    "DEFAULT_MIN_AREA_HA",
    "DEFAULT_STREET_WIDTH_M",
    "DEFAULT_THROUGH_SHARE",
    "EVAPORATION_ELASTIC",
    "EVAPORATION_EVIDENCE",
    "TIME_ELASTICITY",
    "TIME_ELASTICITY_LONG_RUN",
    "GPKG_EDGE_COLUMNS",
    "METHODS",
    "METRIC_MAX_SOURCES",
    "RESIDENTIAL_HIGHWAYS",
    "distance_metrics",
    "scenario_to_gpkg",
    "superblocks_scenario",
    "ALWAYS_THROUGH_HIGHWAYS",
    "CO2_KG_PER_VKM",
    "DEFAULT_THROUGH_HIGHWAYS",
    "NOISE_CAVEAT",
    "NOISE_FLOOR_VEH_DAY",
    "NOX_G_PER_VKM",
    "STREET_WIDTH_M",
    "AccessibilityChange",
    "Assignment",
    "accessibility_change",
    "Scenario",
    "assign",
    "effects",
    "exposure_table",
    "CNOSSOS_CAVEAT",
    "MODELS",
    "find_superblocks",
    "external_zones",
    "gravity_demand",
    "open_demand",
    "label_edges",
    "noise_speed_term_db",
    "rank_superblocks",
    "run_scenario",
    "trip_paths",
]
