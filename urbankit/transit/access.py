"""x-minute-city accessibility by public transport + walking, in the walking result's schema.

Each street node is an origin; its minutes to every destination are the chosen percentile of the transit + walk
travel times over the departure window (:func:`urbankit.transit.matrix.travel_time_matrix`). From those minutes
the per-node table is the walking one (``time_<S>_min``, ``n_<S>_<M>min``, ``score_<M>min``, ...), built by the
same code (:func:`urbankit.accessibility.node_metrics`), and the result is an
:class:`urbankit.accessibility.Accessibility`, so its population-weighted ``summary()`` and maps work unchanged.

* :func:`transit_accessibility`: transit + walks of at most ``max_walk_min`` only (the matrix's semantics).
* :func:`compute_transit_accessibility` (what ``x_minute_city(mode="transit")`` and ``urbankit accessibility --mode
  transit`` run): the fastest of that and walking any distance exactly as :func:`urbankit.compute_accessibility`
  does, so transit is never slower than walking; origins routed in chunks (:func:`transit_reach`).
* :func:`transit_opportunities`: cumulative, gravity, 2SFCA and E2SFCA opportunities over the same minutes.
* :func:`transit_node_minutes`: minutes from points to every node (transit isochrones).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from .._errors import InvalidOptionError
from .._progress import progress_bar
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


def transit_reach(
    network: StreetNetwork,
    timetables,
    points: gpd.GeoDataFrame,
    *,
    departure,
    window_min: int = 60,
    percentile: int = 50,
    max_minutes: float = 60,
    max_rides: int = 8,
    walk_speed_kmh: float | None = None,
    max_walk_min: float = 15,
    draws: int = 1,
    seed: int = 0,
    origins=None,
    chunk_size: int = 256,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Transit + walking minutes from street nodes to points at a percentile over a departure window.

    The rows of the reach table (:func:`urbankit.accessibility.reach.reach_table`'s schema) of the travel times of
    :func:`urbankit.transit.matrix.travel_time_matrix` (same semantics: every departure minute routed exactly by
    range-RAPTOR, the walk-only alternative up to ``max_walk_min``, inverted-CDF percentile), computed
    ``chunk_size`` origins at a time so that memory stays bounded (``window_min x draws x chunk_size x len(points)``
    floats).

    Parameters
    ----------
    network : StreetNetwork
        The walk network; its nodes are the origins.
    timetables : Timetable or GTFS path(s)
        See :func:`urbankit.transit.matrix.travel_time_matrix`.
    points : geopandas.GeoDataFrame
        Destination points (any CRS).
    departure : datetime.datetime or str
        First departure minute of the window.
    window_min : int, default 60
        Departure minutes.
    percentile : int, default 50
        Percentile of the travel times over the window.
    max_minutes : float, default 60
        Longer travel times are left out.
    max_rides, walk_speed_kmh, max_walk_min, draws, seed
        As :func:`urbankit.transit.matrix.travel_time_matrix`.
    origins : array of int, optional
        Positions in ``network.nodes`` to route from (default all).
    chunk_size : int, default 256
        Origins routed at a time.
    progress : bool, optional
        Show a progress bar over the chunks (default ``urbankit.settings.progress``).

    Returns
    -------
    pandas.DataFrame
        ``node`` (position in ``network.nodes``), ``dest`` (position in ``points``), ``minutes`` (<= ``max_minutes``).

    Raises
    ------
    InvalidOptionError
        On an invalid option.
    """
    import datetime as dt

    from .. import settings
    from .matrix import _check_common, _rank_percentiles, _route_origins, _timetable, departure_seconds, transit_times

    _check_common((percentile,), window_min, max_rides, max_minutes, max_walk_min, "transit")
    if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1:
        raise InvalidOptionError(f"chunk_size {chunk_size!r} must be an integer >= 1")
    if isinstance(departure, str):
        try:
            departure = dt.datetime.fromisoformat(departure)
        except ValueError:
            raise InvalidOptionError(f"departure {departure!r} is not a date and time like 2019-05-13T07:00") from None
    if not isinstance(departure, dt.datetime):
        raise InvalidOptionError(f"departure must be a date and time like 2019-05-13T07:00, not {departure!r}")
    tt = _timetable(timetables, departure.date())
    pos = np.arange(len(network.nodes)) if origins is None else np.asarray(origins, np.int64)
    nodes = network.nodes.geometry.iloc[pos].to_crs("EPSG:4326")
    o = (pos, nodes.x.to_numpy(float), nodes.y.to_numpy(float))
    pts = points.geometry.to_crs("EPSG:4326")
    d = (np.arange(len(points)), pts.x.to_numpy(float), pts.y.to_numpy(float))
    state = transit_times(network, tt, o, d, t0=departure_seconds(tt, departure), window_min=int(window_min),
                          max_rides=int(max_rides), walk_speed_kmh=walk_speed_kmh, max_minutes=max_minutes,
                          max_walk_min=max_walk_min, draws=draws, seed=seed, prepare_only=True)
    show = settings.progress if progress is None else progress
    bounds = range(0, len(pos), int(chunk_size))
    parts_node, parts_dest, parts_min = [], [], []
    quiet = not show or len(bounds) < 2
    for lo in progress_bar(bounds, desc="transit origins", unit="chunk", disable=quiet, leave=False):
        hi = min(lo + int(chunk_size), len(pos))
        p = _rank_percentiles(_route_origins(state, lo, hi), (int(percentile),))[0] / 60.0
        i, j = np.nonzero(p <= max_minutes)
        parts_node.append(pos[lo + i])
        parts_dest.append(j)
        parts_min.append(p[i, j])
    log.debug("transit reach: %d origins, %d points", len(pos), len(points))

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    return pd.DataFrame({"node": cat(parts_node, np.int64), "dest": cat(parts_dest, np.int64),
                         "minutes": cat(parts_min, float)})


def compute_transit_accessibility(
    network: StreetNetwork,
    destinations: gpd.GeoDataFrame,
    *,
    gtfs,
    departure,
    window_min: int = 60,
    percentile: int = 50,
    minutes=(15, 30, 45, 60),
    population=None,
    max_rides: int = 8,
    max_walk_min: float = 15,
    draws: int = 1,
    seed: int = 0,
    k: int = 1,
    half_life_min: float = 10.0,
    services: list[str] | None = None,
    taxonomy=None,
    engine: str | None = None,
    chunk_size: int = 256,
    progress: bool | None = None,
) -> Accessibility:
    """The walking x-minute-city result with public transport as a mode: every node's minutes by transit or on foot.

    Each (node, destination) pair's minutes are the fastest of

    * walking only, exactly as :func:`urbankit.compute_accessibility` computes it on ``network`` (any length up to
      the largest threshold), and
    * the ``percentile`` over the departure window of the transit + walking travel times of
      :func:`transit_reach` (every departure minute routed exactly by range-RAPTOR: access walk, up to
      ``max_rides`` vehicles with walking transfers, egress walk, each walk at most ``max_walk_min``).

    Walking takes the same time at every departure minute, so this minimum is the percentile of the per-minute
    fastest of both: transit is never slower than walking. Every street node is an origin, exactly (no H3 cells or
    representative nodes): measured on Sao Paulo, 7,000 nodes x 158 destinations over a 60-minute window take
    37 s on one core (0.09 ms per node and departure minute, 555 MiB peak), so per-node routing is affordable.
    The figures per node (``time_<S>_min``, ``n_<S>_<M>min``, ``score_<M>min``, ...) and the population-weighted
    ones of :meth:`~urbankit.accessibility.Accessibility.summary` are the walking ones, computed by the same code.

    Parameters
    ----------
    network : StreetNetwork
        A walk network (:func:`urbankit.build_network` with ``mode="walk"``); its speed is the walking speed.
    destinations : geopandas.GeoDataFrame
        From :func:`urbankit.find_destinations` (``service``, ``function``).
    gtfs : Timetable, str, pathlib.Path or list of them
        GTFS feeds (read together for the departure's date) or a :func:`urbankit.transit.read_gtfs` timetable.
    departure : datetime.datetime or str
        First departure minute of the window (``"2019-05-13T07:00"``; naive times in the feeds' time zone).
    window_min : int, default 60
        Departure minutes in the window.
    percentile : int, default 50
        Percentile (1..100) of the travel times over the window taken as each pair's minutes.
    minutes : sequence of float, default (15, 30, 45, 60)
        Thresholds; the largest bounds every search.
    population : PopulationEstimate or pandas.Series, optional
        Residents per node.
    max_rides : int, default 8
        Most vehicles per trip.
    max_walk_min : float, default 15
        Longest access, egress and transfer walk.
    draws : int, default 1
        Offset draws of headway-based frequencies (each one routed over the whole window).
    seed : int, default 0
        Seed of the draws.
    k, half_life_min, services, taxonomy, engine
        As :func:`urbankit.compute_accessibility`.
    chunk_size : int, default 256
        Origins routed at a time (bounds memory).
    progress : bool, optional
        Progress bars (default ``urbankit.settings.progress``).

    Returns
    -------
    urbankit.accessibility.Accessibility
        As :func:`urbankit.compute_accessibility`; ``reach`` holds the combined minutes, ``params["mode"]`` is
        ``"transit"`` and ``params["transit"]`` the transit options.

    Raises
    ------
    InvalidOptionError
        A network that is not a walk network, or an invalid option.
    """
    from ..accessibility.compute import compute_accessibility

    if not isinstance(network, StreetNetwork):
        raise InvalidOptionError(f"network must be a StreetNetwork (urbankit.build_network), not "
                                 f"{type(network).__name__}")
    if network.mode != "walk":
        raise InvalidOptionError(f"transit accessibility walks to and from the stops: give a walk network "
                                 f"(urbankit.build_network(extract, 'walk')), not a {network.mode!r} one")
    mins = validate_minutes(minutes)
    if isinstance(percentile, bool) or int(percentile) != percentile or not 0 < percentile <= 100:
        raise InvalidOptionError(f"percentile {percentile!r} must be an integer in 1..100")
    acc = compute_accessibility(network, destinations, minutes=mins, population=population, k=k,
                                half_life_min=half_life_min, services=services, taxonomy=taxonomy,
                                progress=progress, engine=engine)
    speed_kmh = _network_speed_kmh(network)
    pts = acc.pois.geometry.representative_point()
    points = gpd.GeoDataFrame(geometry=pts.to_numpy(), crs=acc.pois.crs)
    by_transit = transit_reach(network, gtfs, points, departure=departure, window_min=window_min,
                               percentile=percentile, max_minutes=max(mins), max_rides=max_rides,
                               walk_speed_kmh=speed_kmh, max_walk_min=max_walk_min, draws=draws, seed=seed,
                               chunk_size=chunk_size, progress=progress)
    walking = acc.reach[["node", "dest", "minutes"]]
    both = pd.concat([walking.astype({"node": np.int64, "dest": np.int64}), by_transit], ignore_index=True)
    reach = both.groupby(["node", "dest"], sort=True, as_index=False)["minutes"].min()
    table = node_metrics(reach, n_nodes=len(network.nodes), dest_service=acc.pois["service"].to_numpy(),
                         services=list(acc.services), functions=acc.functions, minutes=acc.minutes, k=k,
                         half_life_min=half_life_min)
    table.index = acc.nodes.index
    for col in table.columns:
        acc.nodes[col] = table[col].astype(acc.nodes[col].dtype) if col in acc.nodes else table[col]
    acc.reach = reach
    acc.params["mode"] = "transit"
    acc.params["transit"] = {
        "gtfs": _feed_names(gtfs), "departure": str(departure), "window_min": int(window_min),
        "percentile": int(percentile), "max_rides": int(max_rides), "max_walk_min": float(max_walk_min),
        "walk_speed_kmh": speed_kmh, "draws": int(draws), "seed": int(seed), "boarding_slack_s": 60,
    }
    return acc


def _network_speed_kmh(network: StreetNetwork) -> float:
    """The walking speed a walk network's edge minutes were computed with (settings' when not recorded)."""
    from .. import settings

    e = network.edges
    if "speed_kmh" in e.columns and len(e):
        speeds = np.unique(e["speed_kmh"].to_numpy(float))
        if len(speeds) == 1 and np.isfinite(speeds[0]) and speeds[0] > 0:
            return float(speeds[0])
    return float(settings.walk_speed_kmh)


def _feed_names(gtfs) -> list[str]:
    from pathlib import Path

    from .gtfs import Timetable

    items = [gtfs] if isinstance(gtfs, (str, Path, Timetable)) else list(gtfs)
    return [Path(g).name if isinstance(g, (str, Path)) else "timetable" for g in items]


def transit_node_minutes(
    network: StreetNetwork,
    timetables,
    points: gpd.GeoDataFrame,
    *,
    departure,
    window_min: int = 60,
    percentile: int = 50,
    max_minutes: float = 60,
    max_rides: int = 8,
    walk_speed_kmh: float | None = None,
    max_walk_min: float = 15,
) -> np.ndarray:
    """Minutes from each point to every street node by transit + walking, at a percentile over the window.

    The semantics of :func:`urbankit.transit.matrix.travel_time_matrix` with the network's nodes as destinations
    (what transit isochrones are drawn from).

    Parameters
    ----------
    network : StreetNetwork
        The walk network.
    timetables : Timetable or GTFS path(s)
        See :func:`urbankit.transit.matrix.travel_time_matrix`.
    points : geopandas.GeoDataFrame
        Origin points with a CRS.
    departure : datetime.datetime or str
        First departure minute.
    window_min, percentile, max_minutes, max_rides, walk_speed_kmh, max_walk_min
        As :func:`transit_reach`.

    Returns
    -------
    numpy.ndarray
        ``(len(points), len(network.nodes))`` minutes, ``inf`` where not reached within ``max_minutes``.

    Raises
    ------
    InvalidOptionError
        On an invalid option.
    """
    import datetime as dt

    from .matrix import _check_common, _rank_percentiles, _route_origins, _timetable, departure_seconds, transit_times

    _check_common((percentile,), window_min, max_rides, max_minutes, max_walk_min, "transit")
    if isinstance(departure, str):
        try:
            departure = dt.datetime.fromisoformat(departure)
        except ValueError:
            raise InvalidOptionError(f"departure {departure!r} is not a date and time like 2019-05-13T07:00") from None
    tt = _timetable(timetables, departure.date())
    o_ll, d_ll = points.geometry.to_crs("EPSG:4326"), network.nodes.geometry.to_crs("EPSG:4326")
    o = (np.arange(len(points)), o_ll.x.to_numpy(float), o_ll.y.to_numpy(float))
    d = (np.arange(len(network.nodes)), d_ll.x.to_numpy(float), d_ll.y.to_numpy(float))
    state = transit_times(network, tt, o, d, t0=departure_seconds(tt, departure), window_min=int(window_min),
                          max_rides=int(max_rides), walk_speed_kmh=walk_speed_kmh, max_minutes=max_minutes,
                          max_walk_min=max_walk_min, prepare_only=True)
    out = np.full((len(points), len(network.nodes)), np.inf)
    for i in range(len(points)):  # one origin at a time: (window, 1, nodes) floats
        p = _rank_percentiles(_route_origins(state, i, i + 1), (int(percentile),))[0][0] / 60.0
        out[i] = np.where(p <= max_minutes, p, np.inf)
    return out


def transit_opportunities(
    network: StreetNetwork,
    opportunities,
    *,
    gtfs,
    departure,
    minutes,
    window_min: int = 60,
    percentile: int = 50,
    max_rides: int = 8,
    max_walk_min: float = 15,
    population=None,
    columns: list[str] | None = None,
    engine: str | None = None,
    progress: bool | None = None,
) -> gpd.GeoDataFrame:
    """Opportunities within reach of every node by transit or on foot: cumulative, gravity, 2SFCA and E2SFCA.

    The columns, formulas and ``attrs`` of :func:`urbankit.accessibility.opportunities.compute_opportunities`, with
    each (node, location) pair's minutes the fastest of walking (as there) and the ``percentile`` over the window of
    transit + walking (:func:`transit_reach`): the same minutes as :func:`compute_transit_accessibility`.

    Parameters
    ----------
    network : StreetNetwork
        The walk network.
    opportunities : geopandas.GeoDataFrame, str or pathlib.Path
        As :func:`urbankit.accessibility.opportunities.compute_opportunities`.
    gtfs : Timetable, str, pathlib.Path or list of them
        The timetables.
    departure : datetime.datetime or str
        First departure minute of the window.
    minutes : float or sequence of float
        Thresholds.
    window_min, percentile, max_rides, max_walk_min
        As :func:`compute_transit_accessibility`.
    population : PopulationEstimate or pandas.Series, optional
        Residents per node (the 2SFCA/E2SFCA demand).
    columns : list of str, optional
        Opportunity columns (default every numeric one).
    engine : {"scipy", "pandana"}, optional
        Engine of the input checks and of the walking figures replaced here.
    progress : bool, optional
        Progress bar over the transit origins.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed like ``network.nodes``; ``attrs`` as ``compute_opportunities`` plus ``mode="transit"``.

    Raises
    ------
    InvalidOptionError
        As :func:`compute_opportunities` and :func:`transit_reach`.
    """
    from .._validate import minutes_label
    from ..accessibility.inequality import _population_series
    from ..accessibility.opportunities import (
        _aggregate_reach,
        _step_weight,
        _supply_ratio,
        compute_opportunities,
        read_opportunities,
    )
    from ..accessibility.reach import reach_table, snap_destinations

    mins = validate_minutes(minutes)
    # the walking figures first: every input check, the attrs and the columns in their order
    frame = compute_opportunities(network, opportunities, minutes=mins, population=population, columns=columns,
                                  engine=engine)
    points, cols, _ = read_opportunities(opportunities, network=network, columns=columns)
    R = max(mins)
    zones, weights = frame.attrs["e2sfca_zones_min"], frame.attrs["e2sfca_weights"]
    reach_r = max(R, zones[-1])
    snapped = snap_destinations(network, points[[points.geometry.name]]).reset_index(drop=True)
    walking = reach_table(network, snapped, reach_r, progress=False)
    geoms = gpd.GeoDataFrame(geometry=points.geometry.representative_point().to_numpy(), crs=points.crs)
    by_transit = transit_reach(network, gtfs, geoms, departure=departure, window_min=window_min,
                               percentile=percentile, max_minutes=reach_r, max_rides=max_rides,
                               walk_speed_kmh=_network_speed_kmh(network), max_walk_min=max_walk_min,
                               progress=progress)
    pairs = pd.concat([walking.astype({"node": np.int64, "dest": np.int64}), by_transit], ignore_index=True)
    pairs = pairs.groupby(["node", "dest"], sort=True, as_index=False)["minutes"].min()
    n = len(network.nodes)
    pop = _population_series(population, network)[0] if population is not None else np.zeros(n)
    pop = np.asarray(pop, float)
    demand = pop.sum() > 0
    node, dest, t = pairs["node"].to_numpy(), pairs["dest"].to_numpy(), pairs["minutes"].to_numpy()
    notes = [note for note in frame.attrs.get("notes", []) if "of no resident" not in note]  # walking's
    for c in cols:
        vals = points[c].to_numpy(float)
        for m in mins:
            frame[f"{c}_{minutes_label(m)}min"] = _aggregate_reach(pairs, vals, n, m, agg="sum", decay="flat")
        frame[f"{c}_gravity"] = _aggregate_reach(pairs, vals, n, R, agg="sum", decay="exp")
        if not demand:
            continue
        for key, zs, ws in [(f"{c}_2sfca_{minutes_label(m)}min", [m], [1.0]) for m in mins] + [
                (f"{c}_e2sfca", zones, weights)]:
            ratio, lost = _supply_ratio(pairs, pop, vals, zs, ws)
            frame[key] = np.bincount(node, weights=ratio[dest] * _step_weight(t, zs, ws), minlength=n)
            if lost > 0:
                notes.append(f"{c}: {lost:,.6g} of {vals.sum():,.6g} are within {zs[-1]:g} min of no resident "
                             f"(left out of {key})")
    frame.attrs["notes"] = notes
    frame.attrs["mode"] = "transit"
    return frame
