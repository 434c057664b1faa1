"""Accessibility: minutes from every street node to every service, and the x-minute city.

Method (exact)
--------------
Destinations are snapped to their nearest network node; the straight-line distance from the
destination to that node is walked (at ``settings.walk_speed_kmh``, whatever the mode: the last
metres to the door are on foot) and added to every trip to it. Travel time from node ``i`` to
destination ``j`` is then ``d(i, node_j) + snap_j``, with ``d`` the shortest travel time on the
network (edge times in minutes on pandana's 0.001-min grid, see
:func:`urbankit.networks.quantize_minutes`, so every sum is exact).

All figures derive from one sparse *reach table*: every (node, destination, minutes) with minutes at
most the largest threshold. It is computed by Dijkstra searches (scipy's compiled Dijkstra) that run
against the edge direction (so drive results honour one-way streets), bounded by the largest
threshold: one search from each node that destinations are snapped to, each destination adding its
own snap minutes to its node's. The searches run in chunks, so memory stays bounded. On networks
wider than three times the straight-line reach of the largest threshold, each chunk searches only
the nodes that can be reached at all: no edge covers more straight-line metres per minute than the
fastest one, so no path within the threshold leaves the square tiles around its source (see
``_SearchGraph``); the table is the same as on the whole network, at a fraction of the work on a
large city. The minutes to the nearest destination of each service come from the same table (they
equal a multi-source Dijkstra with the snap times as initial labels; the tests check this against an
independent Dijkstra).

That is the ``engine="scipy"`` path. With ``engine="pandana"`` the same reach table comes from
pandana's contraction hierarchy and POI queries (:mod:`urbankit.engines`, which explains how snap
minutes, directions and unreached POIs map onto pandana); everything after the table is shared, and
the tests check that both engines give the same figures on every fixture and mode.

Nothing beyond the largest threshold is computed: such minutes are NaN ("not within the largest
threshold"), never a cap value.

Scores
------
For every threshold ``M``: ``n_<service>_<M>min`` counts destinations within M minutes;
``score_<M>min`` is the share of the taxonomy's services with at least one destination within M;
``functions_<M>min`` the number of functions (of the six) with at least one of their services within M.
Gravity-weighted opportunities ``gravity_<service>`` sum ``exp(-ln 2 * t / half_life_min)`` over
destinations within the largest threshold (half of the weight is lost every ``half_life_min``
minutes; default 10).

The package, by concern (data flows down the list):

``reach``
    reach tables: exact minutes from every node to the nearest destinations of each service
    (searches run by :mod:`urbankit.network.routing`, or by pandana with ``engine="pandana"``);
``metrics``
    per-node minutes, counts, scores and gravity from a reach table (one column schema);
``inequality``
    population-weighted statistics (quantiles, Gini, Palma);
``result``
    :class:`Accessibility` and :class:`WhatIf`;
``compute``, ``groups``, ``xminute``
    the entry points; ``completeness``, ``isochrones``, ``opportunities``: the rest of the toolbox.
"""

from .._deprecation import deprecated_alias as _deprecated_alias
from .._validate import minutes_label as _label  # noqa: F401 (old private name, used by tests)
from .._validate import validate_minutes, within
from .completeness import data_completeness
from .compute import compute_accessibility
from .groups import compare_groups, groups_summary
from .inequality import gini, palma, weighted_quantile
from .isochrones import compute_isochrones
from .metrics import node_metrics
from .opportunities import aggregate, compute_opportunities, opportunity_summary
from .reach import DEFAULT_MINUTES, reach_table, snap_destinations
from .result import Accessibility
from .whatif import WhatIf
from .xminute import x_minute_city

#: the old name of :func:`compute_accessibility` (warns; removed in urbankit 0.3)
accessibility = _deprecated_alias(compute_accessibility, "accessibility", qualified="urbankit.compute_accessibility")

__all__ = [
    "DEFAULT_MINUTES",
    "Accessibility",
    "WhatIf",
    "compute_accessibility",
    "compute_isochrones",
    "compute_opportunities",
    "aggregate",
    "compare_groups",
    "data_completeness",
    "gini",
    "groups_summary",
    "node_metrics",
    "opportunity_summary",
    "palma",
    "reach_table",
    "snap_destinations",
    "validate_minutes",
    "weighted_quantile",
    "within",
    "x_minute_city",
]
