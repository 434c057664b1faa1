"""Origin-destination travel-time matrices by public transport + walking, or by street alone (r5py conventions).

Semantics of :func:`travel_time_matrix` with ``mode="transit"``:

* **Departures.** Every minute ``departure, departure + 1 min, ...`` (``window_min`` of them). With headway-based
  frequencies each of ``draws`` seeded offset draws is a timetable routed over the whole window (see
  :mod:`urbankit.transit.raptor`), so each pair has ``window_min x draws`` travel times.
* **A trip** is the fastest of: walking only (origin to destination on the street network, at most
  ``max_walk_min``), or an access walk to a stop (at most ``max_walk_min``), vehicles and transfer walks
  (range-RAPTOR, ``max_rides``, 60 s boarding slack), then an egress walk from a stop to the destination (at most
  ``max_walk_min``; an access walk to a stop followed directly by an egress walk from it also counts, as a walk
  of up to twice that). Points are snapped to their nearest street node, the straight line walked at the same speed.
* **Percentiles.** Over a pair's travel times, unreached ones counting as infinitely long: percentile ``P`` is the
  value at rank ``ceil(P / 100 * n)`` of the sorted times (the inverted CDF; NaN when that one is unreached or longer
  than ``max_minutes``). Times are minutes (float, whole seconds / 60).
* **Arrive-by** (``arrive_by=True``): ``departure`` is then the latest arrival; the window is the ``window_min``
  arrival deadlines ``departure - (window_min - 1) min, ..., departure``. For each deadline the rider leaves the
  origin at the latest whole minute from which the destination is reached by the deadline; the travel time is
  deadline minus that departure minute (it includes waiting at the destination, as a rider who must be there by
  then budgets it).

With ``mode="walk"|"bike"|"drive"`` there is no timetable: one shortest path per pair on the street network
(walk/bike at ``walk_speed_kmh`` / ``urbankit.settings.bike_speed_kmh``, drive at each edge's ``time_min``), every
percentile column equal.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd

from .. import settings
from .._errors import InvalidOptionError
from .._progress import progress_bar
from ..network import StreetNetwork
from .gtfs import Timetable, _day_origin_utc, read_gtfs
from .raptor import UNREACHED, build_network, frequency_offsets, raptor
from .walks import _graph, _walks

log = logging.getLogger(__name__)

MODES = ("transit", "walk", "bike", "drive")


def _points(gdf, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ids, lon, lat of a point GeoDataFrame with an ``id`` column."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InvalidOptionError(f"{what} must be a GeoDataFrame of points with an 'id' column, "
                                 f"not {type(gdf).__name__}")
    if "id" not in gdf.columns:
        raise InvalidOptionError(f"{what} has no 'id' column; add one naming each point")
    if gdf.crs is None:
        raise InvalidOptionError(f"{what} has no CRS; set one (e.g. gdf.set_crs('EPSG:4326'))")
    if len(gdf) and not (gdf.geometry.geom_type == "Point").all():
        raise InvalidOptionError(f"{what} must hold points only (use .centroid or .representative_point())")
    if gdf["id"].duplicated().any():
        raise InvalidOptionError(f"{what} has duplicate ids, e.g. {gdf['id'][gdf['id'].duplicated()].iloc[0]!r}")
    g = gdf.geometry.to_crs("EPSG:4326")
    return gdf["id"].to_numpy(), g.x.to_numpy(float), g.y.to_numpy(float)


def _timetable(timetables, date: dt.date) -> Timetable:
    if isinstance(timetables, Timetable):
        return timetables
    if isinstance(timetables, (str, Path)):
        return read_gtfs(timetables, date)
    items = list(timetables or [])
    if items and all(isinstance(t, (str, Path)) for t in items):
        return read_gtfs(items, date)
    if len(items) == 1 and isinstance(items[0], Timetable):
        return items[0]
    raise InvalidOptionError("timetables must be one Timetable (read_gtfs([feed1, feed2, ...], date) reads several "
                             "feeds into one) or GTFS paths to read for the departure date")


def departure_seconds(timetable: Timetable, departure) -> int:
    """Seconds on the timetable's clock of ``departure`` (naive: in the timetable's reference time zone).

    Parameters
    ----------
    timetable : Timetable
        Its ``date`` and ``timezone`` define the clock.
    departure : datetime.datetime or str
        ``"2019-05-13T07:00"`` or a datetime.

    Returns
    -------
    int

    Raises
    ------
    InvalidOptionError
        When ``departure`` is not a date and time.
    """
    if isinstance(departure, str):
        try:
            departure = dt.datetime.fromisoformat(departure)
        except ValueError:
            raise InvalidOptionError(f"departure {departure!r} is not a date and time like 2019-05-13T07:00") from None
    if not isinstance(departure, dt.datetime):
        raise InvalidOptionError(f"departure must be a datetime, not {type(departure).__name__}")
    zone = ZoneInfo(timetable.timezone)
    if departure.tzinfo is None:
        departure = departure.replace(tzinfo=zone)
    return int(round((departure.astimezone(dt.UTC) - _day_origin_utc(timetable.date, zone)).total_seconds()))


def _rank_percentiles(times: np.ndarray, percentiles) -> np.ndarray:
    """Inverted-CDF percentiles along axis 0 (inf = unreached) -> (len(percentiles), ...)."""
    srt = np.sort(times, axis=0)
    n = srt.shape[0]
    ranks = [min(max(math.ceil(p / 100 * n), 1), n) - 1 for p in percentiles]
    return srt[ranks]


def _check_common(percentiles, window_min, max_rides, max_minutes, max_walk_min, mode):
    if mode not in MODES:
        raise InvalidOptionError(f"mode {mode!r} must be one of {', '.join(MODES)}")
    pct = [int(p) for p in np.atleast_1d(percentiles)]
    if not pct or any(p != q or not 0 < p <= 100 for p, q in zip(pct, np.atleast_1d(percentiles))):
        raise InvalidOptionError(f"percentiles {percentiles!r} must be integers in 1..100")
    if int(window_min) != window_min or window_min < 1:
        raise InvalidOptionError(f"window_min {window_min!r} must be an integer >= 1")
    if int(max_rides) != max_rides or max_rides < 0:
        raise InvalidOptionError(f"max_rides {max_rides!r} must be an integer >= 0")
    for name, v in (("max_minutes", max_minutes), ("max_walk_min", max_walk_min)):
        if not (np.isfinite(v) and v > 0):
            raise InvalidOptionError(f"{name} {v!r} must be > 0 minutes")
    return pct


def _frame(from_ids, to_ids, values_s: np.ndarray, pct, max_minutes) -> pd.DataFrame:
    """values_s: (len(pct), n_from, n_to) seconds, inf when unreached."""
    out = pd.DataFrame({"from_id": np.repeat(from_ids, len(to_ids)), "to_id": np.tile(to_ids, len(from_ids))})
    for k, p in enumerate(pct):
        v = values_s[k].reshape(-1) / 60.0
        out[f"travel_time_p{p}"] = np.where(v <= max_minutes, v, np.nan)
    return out


def _street_matrix(network, mode, o, d, bound_s, walk_speed_kmh) -> np.ndarray:
    """(n_from, n_to) seconds by street (inf beyond bound_s)."""
    if mode == "walk":
        speed = float(settings.walk_speed_kmh if walk_speed_kmh is None else walk_speed_kmh) / 3.6
        graph = _graph(network, speed)
    elif mode == "bike":
        speed = float(settings.bike_speed_kmh) / 3.6
        graph = _graph(network, speed)
    else:
        speed = float(settings.walk_speed_kmh if walk_speed_kmh is None else walk_speed_kmh) / 3.6  # to the street
        graph = _graph(network, speed, seconds=network.edges.time_min.to_numpy(float) * 60.0)
    w = _walks(network, speed, (o[1], o[2]), (d[1], d[2]), bound_s, graph=graph)
    out = np.full((len(o[0]), len(d[0])), np.inf)
    out[w["from"].to_numpy(), w["to"].to_numpy()] = w.walk_s.to_numpy(float)
    return out


def travel_time_matrix(
    network: StreetNetwork,
    *,
    origins: gpd.GeoDataFrame,
    destinations: gpd.GeoDataFrame,
    departure=None,
    timetables=None,
    mode: str = "transit",
    window_min: int = 60,
    percentiles=(50,),
    max_rides: int = 8,
    walk_speed_kmh: float | None = None,
    max_minutes: float = 120,
    max_walk_min: float = 15,
    boarding_slack_s: int = 60,
    draws: int = 1,
    seed: int = 0,
    arrive_by: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_size: int = 16,
    progress: bool = False,
) -> pd.DataFrame:
    """Travel times from every origin to every destination (``from_id``, ``to_id``, ``travel_time_p<P>``).

    See the module docstring for the exact semantics (window, walk-only alternative, percentiles, arrive-by).

    Parameters
    ----------
    network : StreetNetwork
        The street network walked (``mode="transit"``/``"walk"``), cycled or driven.
    origins, destinations : geopandas.GeoDataFrame
        Points (any CRS) with an ``id`` column.
    departure : datetime.datetime or str
        First departure minute (latest arrival with ``arrive_by``); naive times are in the timetable's time zone.
    timetables : Timetable, path or list of paths
        From :func:`urbankit.transit.read_gtfs` (several feeds read together), or GTFS paths read for the
        departure's date. Required with ``mode="transit"``.
    mode : {"transit", "walk", "bike", "drive"}
    window_min : int
        Number of departure minutes.
    percentiles : sequence of int
        Columns ``travel_time_p<P>``.
    max_rides : int
        Most vehicles per trip.
    walk_speed_kmh : float, optional
        Default ``urbankit.settings.walk_speed_kmh``.
    max_minutes : float
        Longer travel times are NaN.
    max_walk_min : float
        Longest access, egress, transfer and walk-only leg (transit mode).
    boarding_slack_s : int
        Minimum wait before boarding.
    draws : int
        Offset draws for headway-based frequencies.
    seed : int
        Seed of the draws (same inputs and seed, same result).
    arrive_by : bool
        ``departure`` is the latest arrival (see the module docstring).
    workers : int, optional
        Route origins in chunks on a dask.distributed ``LocalCluster`` of this many single-threaded processes
        (results identical to one process).
    scheduler : str, optional
        Address of an existing dask scheduler to use instead (``"tcp://host:8786"``).
    chunk_size : int
        Origins per dask task.
    progress : bool
        Show a tqdm progress bar over the chunks.

    Returns
    -------
    pandas.DataFrame
        One row per (origin, destination), origins in order then destinations in order.

    Raises
    ------
    InvalidOptionError
        On an invalid option or input.
    """
    pct = _check_common(percentiles, window_min, max_rides, max_minutes, max_walk_min, mode)
    if not isinstance(network, StreetNetwork):
        raise InvalidOptionError(f"network must be a StreetNetwork (urbankit.build_network), not "
                                 f"{type(network).__name__}")
    o, d = _points(origins, "origins"), _points(destinations, "destinations")
    if mode != "transit":
        t = _street_matrix(network, mode, o, d, max_minutes * 60.0, walk_speed_kmh)
        return _frame(o[0], d[0], np.repeat(t[None], len(pct), axis=0), pct, max_minutes)
    if departure is None or timetables is None:
        raise InvalidOptionError("mode='transit' needs timetables (read_gtfs) and a departure date and time")
    if isinstance(departure, str):
        try:
            departure = dt.datetime.fromisoformat(departure)
        except ValueError:
            raise InvalidOptionError(f"departure {departure!r} is not a date and time like 2019-05-13T07:00") from None
    tt = _timetable(timetables, departure.date())
    t0 = departure_seconds(tt, departure)
    times = transit_times(network, tt, o, d, t0=t0, window_min=int(window_min), max_rides=int(max_rides),
                          walk_speed_kmh=walk_speed_kmh, max_minutes=max_minutes, max_walk_min=max_walk_min,
                          boarding_slack_s=boarding_slack_s, draws=draws, seed=seed, arrive_by=arrive_by,
                          prepare_only=True)
    n_o = len(o[0])
    if workers is None and scheduler is None:
        times = _route_origins(times, 0, n_o)
    else:
        times = _distributed(times, n_o, workers=workers, scheduler=scheduler, chunk_size=chunk_size,
                             progress=progress)
    return _frame(o[0], d[0], _rank_percentiles(times, pct), pct, max_minutes)


def transit_times(network, tt: Timetable, o, d, *, t0, window_min, max_rides, walk_speed_kmh, max_minutes,
                  max_walk_min, boarding_slack_s=60, draws=1, seed=0, arrive_by=False, prepare_only=False):
    """All travel times ``(n_samples, n_from, n_to)`` in seconds (inf unreached) of prepared points ``o``, ``d``."""
    walk_s = float(max_walk_min) * 60.0
    speed = float(settings.walk_speed_kmh if walk_speed_kmh is None else walk_speed_kmh) / 3.6
    ok = tt.stops[["stop_lon", "stop_lat"]].notna().all(axis=1).to_numpy()
    sidx = np.flatnonzero(ok)
    slonlat = (tt.stops.stop_lon.to_numpy()[sidx], tt.stops.stop_lat.to_numpy()[sidx])
    graph = _graph(network, speed)
    acc = _walks(network, speed, (o[1], o[2]), slonlat, walk_s, graph=graph)
    acc["to"] = sidx[acc["to"].to_numpy()]
    acc = acc.sort_values("from", kind="stable")  # each origin's access walks: one slice (acc_starts)
    egr = _walks(network, speed, slonlat, (d[1], d[2]), walk_s, graph=graph)
    egr["from"] = sidx[egr["from"].to_numpy()]
    egr = egr.sort_values(["to", "from"], kind="stable")
    transfers = _walks(network, speed, slonlat, slonlat, walk_s, graph=graph)
    transfers = transfers[transfers["from"] != transfers["to"]]
    walks = pd.DataFrame({"from_stop": sidx[transfers["from"].to_numpy()], "to_stop": sidx[transfers["to"].to_numpy()],
                          "walk_s": transfers.walk_s.to_numpy()})
    direct = _street_matrix_walk(network, speed, o, d, walk_s, graph)
    if arrive_by:
        extra = int(math.ceil(max_minutes))
        deps = t0 - 60 * (window_min - 1) - 60 * extra + 60 * np.arange(window_min + extra)
    else:
        deps = t0 + 60 * np.arange(window_min)
    if len(tt.frequencies):
        offsets = list(frequency_offsets(tt, draws=int(draws), seed=seed))
    else:
        offsets = [None]
    nets = [build_network(tt, walks=walks, offsets_s=off) for off in offsets]
    e_dest = egr["to"].to_numpy()
    state = {
        "nets": nets, "deps": deps, "t0": int(t0), "window_min": int(window_min), "arrive_by": bool(arrive_by),
        "max_rides": int(max_rides), "slack": int(boarding_slack_s),
        "max_dur": int(max_minutes * 60) + (60 * int(math.ceil(max_minutes)) if arrive_by else 0),
        "e_stop": egr["from"].to_numpy(), "e_s": egr.walk_s.to_numpy(float),
        "e_starts": np.searchsorted(e_dest, np.arange(len(d[0]))),
        "e_has": np.bincount(e_dest, minlength=len(d[0])) > 0,
        "acc_from": acc["from"].to_numpy(), "acc_to": acc["to"].to_numpy(), "acc_s": acc.walk_s.to_numpy(),
        "acc_starts": np.searchsorted(acc["from"].to_numpy(), np.arange(len(o[0]) + 1)),
        "direct": direct,
    }
    return _route_origins(state, 0, len(o[0])) if not prepare_only else state


def _route_origins(state: dict, lo: int, hi: int) -> np.ndarray:
    """Travel times ``(n_samples, hi - lo, n_to)`` seconds (inf unreached) of origins ``lo..hi-1``."""
    nets, deps, window_min = state["nets"], state["deps"], state["window_min"]
    e_stop, e_s, starts, has = state["e_stop"], state["e_s"], state["e_starts"], state["e_has"]
    n_d = len(has)
    out = np.full((len(nets) * window_min, hi - lo, n_d), np.inf)
    for i in range(lo, hi):
        sel = slice(state["acc_starts"][i], state["acc_starts"][i + 1])
        for k, net in enumerate(nets):
            arr = raptor(net, state["acc_to"][sel], state["acc_s"][sel], deps, max_rides=state["max_rides"],
                         boarding_slack_s=state["slack"], max_duration_s=state["max_dur"])
            a = np.where(arr >= UNREACHED, np.inf, arr.astype(float))
            at_dest = np.full((len(deps), n_d), np.inf)
            if len(e_stop):
                cand = a[:, e_stop] + e_s[None, :]
                at_dest[:, has] = np.minimum.reduceat(cand, starts[has], axis=1)
            at_dest = np.minimum(at_dest, deps[:, None] + state["direct"][i][None, :])
            rows = slice(k * window_min, (k + 1) * window_min)
            if state["arrive_by"]:
                out[rows, i - lo] = _arrive_by(at_dest, deps, state["t0"], window_min)
            else:
                out[rows, i - lo] = at_dest - deps[:, None]
    return out


def _distributed(state: dict, n_o: int, *, workers, scheduler, chunk_size: int, progress: bool) -> np.ndarray:
    """:func:`_route_origins` over chunks of origins on dask.distributed, reassembled in origin order."""
    from .._errors import SchedulerError

    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise InvalidOptionError(f"chunk_size {chunk_size!r} must be an integer >= 1")
    if scheduler is None and (isinstance(workers, bool) or int(workers) != workers or workers < 1):
        raise InvalidOptionError(f"workers {workers!r} must be an integer >= 1")
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise InvalidOptionError("workers/scheduler need dask.distributed: pip install 'dask[distributed]'") from exc
    cluster = None
    try:
        if scheduler is not None:
            client = Client(scheduler, timeout="10s")
        else:
            cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(f"could not reach the dask scheduler {scheduler!r} ({exc}); check the address or "
                             f"leave scheduler unset for a local cluster") from exc
    try:
        shared = client.scatter(state, broadcast=True)
        bounds = [(lo, min(lo + int(chunk_size), n_o)) for lo in range(0, n_o, int(chunk_size))]
        futures = {client.submit(_route_origins, shared, lo, hi, pure=False): (lo, hi) for lo, hi in bounds}
        parts = {}
        done = as_completed(futures)
        if progress:
            done = progress_bar(done, total=len(futures), desc="origins", unit="chunk")
        for fut in done:
            parts[futures[fut][0]] = fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if not parts:
        return np.full((len(state["nets"]) * state["window_min"], 0, len(state["e_has"])), np.inf)
    return np.concatenate([parts[lo] for lo, _ in bounds], axis=1)


def _arrive_by(at_dest: np.ndarray, deps: np.ndarray, t0: int, window_min: int) -> np.ndarray:
    """(window_min, n_to): deadline minus the latest departure minute arriving by the deadline."""
    deadlines = t0 - 60 * (window_min - 1) + 60 * np.arange(window_min)
    res = np.full((window_min, at_dest.shape[1]), np.inf)
    for w, a in enumerate(deadlines):
        ok = (at_dest <= a) & (deps[:, None] <= a)
        # latest departure index with an arrival by the deadline
        idx = np.where(ok, np.arange(len(deps))[:, None], -1).max(axis=0)
        got = idx >= 0
        res[w, got] = a - deps[idx[got]]
    return res


def _street_matrix_walk(network, speed, o, d, bound_s, graph) -> np.ndarray:
    w = _walks(network, speed, (o[1], o[2]), (d[1], d[2]), bound_s, graph=graph)
    out = np.full((len(o[0]), len(d[0])), np.inf)
    out[w["from"].to_numpy(), w["to"].to_numpy()] = w.walk_s.to_numpy(float)
    return out
