"""x-minute-city accessibility by public transport + walking, in the walking result's schema.

Each street node is an origin; its minutes to every destination are the chosen percentile of the transit + walk
travel times over the departure window (:func:`urbankit.transit.matrix.travel_time_matrix`). From those minutes
the per-node table is the walking one (``time_<S>_min``, ``n_<S>_<M>min``, ``score_<M>min``, ...), built by the
same code (:func:`urbankit.accessibility.node_metrics`), and the result is an
:class:`urbankit.accessibility.Accessibility`, so its population-weighted ``summary()`` and maps work unchanged.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from .._errors import InvalidOptionError
from .._validate import validate_minutes
from ..accessibility.inequality import _population_series
from ..accessibility.metrics import node_metrics
from ..accessibility.result import Accessibility
from ..network import StreetNetwork
from .matrix import travel_time_matrix

log = logging.getLogger(__name__)


def transit_accessibility(
    network: StreetNetwork,
    timetables,
    destinations: gpd.GeoDataFrame,
    *,
    departure,
    window_min: int = 60,
    percentile: int = 50,
    minutes=(15, 30, 45, 60),
    population=None,
    functions: dict | None = None,
    max_rides: int = 8,
    walk_speed_kmh: float | None = None,
    max_walk_min: float = 15,
    draws: int = 1,
    seed: int = 0,
    workers: int | None = None,
    scheduler: str | None = None,
) -> Accessibility:
    """Per-node minutes to the nearest destination of each service by transit + walking.

    Parameters
    ----------
    network : StreetNetwork
        The walk network; every node is an origin.
    timetables : Timetable or GTFS path(s)
        See :func:`urbankit.transit.matrix.travel_time_matrix`.
    destinations : geopandas.GeoDataFrame
        Points with a ``service`` column (any CRS).
    departure : datetime.datetime or str
        First departure minute of the window.
    window_min : int
        Departure minutes.
    percentile : int
        The percentile of the travel times over the window used as each node's minutes.
    minutes : sequence of float
        Thresholds (``n_<S>_<M>min``, ``score_<M>min``).
    population : pandas.Series or PopulationEstimate, optional
        Residents per node (indexed by ``node_id``).
    functions : dict, optional
        Service -> function (default: the destinations' ``function`` column, else each service its own).
    max_rides, walk_speed_kmh, max_walk_min, draws, seed, workers, scheduler
        As :func:`urbankit.transit.matrix.travel_time_matrix`.

    Returns
    -------
    urbankit.accessibility.Accessibility
        ``nodes`` in the walking schema; ``reach`` has ``node``, ``dest``, ``minutes``.

    Raises
    ------
    InvalidOptionError
        Destinations without a ``service`` column, or an invalid option.
    """
    if not isinstance(destinations, gpd.GeoDataFrame) or "service" not in destinations.columns:
        raise InvalidOptionError("destinations must be a GeoDataFrame with a 'service' column")
    minutes = validate_minutes(minutes)
    services = sorted(destinations["service"].astype(str).unique())
    if functions is None and "function" in destinations.columns:
        functions = dict(zip(destinations["service"].astype(str), destinations["function"].astype(str)))
    functions = {s: s for s in services} if functions is None else dict(functions)
    missing = [s for s in services if s not in functions]
    if missing:
        raise InvalidOptionError(f"functions lacks the service(s) {missing}; map every service to a function")
    pop, pop_source = _population_series(population, network)
    origins = gpd.GeoDataFrame({"id": np.arange(len(network.nodes))}, geometry=network.nodes.geometry.to_numpy(),
                               crs=network.crs)
    dest = destinations.reset_index(drop=True)
    dest_pts = gpd.GeoDataFrame({"id": np.arange(len(dest))},
                                geometry=dest.geometry.representative_point().to_numpy(), crs=dest.crs)
    col = f"travel_time_p{int(percentile)}"
    m = travel_time_matrix(network, timetables=timetables, origins=origins, destinations=dest_pts,
                           departure=departure, window_min=window_min, percentiles=(int(percentile),),
                           max_rides=max_rides, walk_speed_kmh=walk_speed_kmh, max_minutes=max(minutes),
                           max_walk_min=max_walk_min, draws=draws, seed=seed, workers=workers, scheduler=scheduler)
    m = m[m[col].notna()]
    reach = pd.DataFrame({"node": m.from_id.to_numpy(np.int64), "dest": m.to_id.to_numpy(np.int64),
                          "minutes": m[col].to_numpy(float)})
    table = node_metrics(reach, n_nodes=len(network.nodes), dest_service=dest["service"].astype(str).to_numpy(),
                         services=services, functions=functions, minutes=minutes)
    table.index = network.nodes.index
    nodes = gpd.GeoDataFrame(pd.concat([pd.DataFrame({"population": pop}, index=network.nodes.index), table],
                                       axis=1), geometry=network.nodes.geometry, crs=network.crs)
    pois = dest.to_crs(network.crs).assign(service=dest["service"].astype(str).to_numpy(),
                                           function=[functions[s] for s in dest["service"].astype(str)])
    params = {"mode": "transit", "departure": str(departure), "window_min": int(window_min),
              "percentile": int(percentile), "max_rides": int(max_rides), "k": 1, "half_life_min": 10.0}
    return Accessibility(network=network, nodes=nodes, pois=pois, minutes=minutes, services=services,
                         functions=functions, reach=reach, params=params, population_source=pop_source)
