"""Walking times between transit stops (transfers) and from points to stops (access) on a street network.

Each stop or point is snapped to its nearest street node, the straight-line metres to it walked at the same speed;
walking times are then exact shortest paths over the edges' lengths at ``walk_speed_kmh``, by bounded Dijkstra
searches (scipy) that explore nothing beyond ``max_walk_s``. A pair is listed when the whole walk (snap, streets,
snap) is at most ``max_walk_s``. Times are in seconds, rounded up to the second.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .. import settings
from .._errors import InvalidOptionError
from ..network import StreetNetwork
from .gtfs import Timetable

log = logging.getLogger(__name__)

#: Dijkstra sources per batch (bounds memory at chunk x nodes floats)
_CHUNK = 64


def _snap(net: StreetNetwork, lon, lat) -> tuple[np.ndarray, np.ndarray]:
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(net.crs)
    return net.nearest_nodes(np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()]))


def _graph(net: StreetNetwork, speed_ms: float, seconds=None) -> csr_matrix:
    pos = pd.Series(np.arange(len(net.nodes)), index=net.nodes.index)
    u = pos[net.edges.u.to_numpy()].to_numpy()
    v = pos[net.edges.v.to_numpy()].to_numpy()
    w = net.edges.length_m.to_numpy(float) / speed_ms if seconds is None else np.asarray(seconds, float)
    if not net.directed:
        u, v, w = np.r_[u, v], np.r_[v, u], np.r_[w, w]
    order = np.lexsort((w, v, u))  # parallel edges: keep the shortest
    u, v, w = u[order], v[order], w[order]
    first = np.r_[True, (u[1:] != u[:-1]) | (v[1:] != v[:-1])]
    # a zero-length edge would vanish from a sparse matrix: give it the smallest positive weight
    w = np.maximum(w[first], 1e-9)
    return csr_matrix((w, (u[first], v[first])), shape=(len(net.nodes), len(net.nodes)))


def _check(net, max_walk_s, walk_speed_kmh) -> float:
    if not isinstance(net, StreetNetwork):
        raise InvalidOptionError(f"network must be a StreetNetwork (urbankit.build_network), not {type(net).__name__}")
    if not (np.isfinite(max_walk_s) and max_walk_s >= 0):
        raise InvalidOptionError(f"max_walk_s {max_walk_s!r} must be finite seconds >= 0")
    speed = float(settings.walk_speed_kmh if walk_speed_kmh is None else walk_speed_kmh)
    if not (np.isfinite(speed) and speed > 0):
        raise InvalidOptionError(f"walk_speed_kmh {walk_speed_kmh!r} must be > 0")
    return speed / 3.6


def _walks(net, speed_ms, from_lonlat, to_lonlat, max_walk_s, graph=None) -> pd.DataFrame:
    snap_f, node_f = _snap(net, *from_lonlat)
    snap_t, node_t = _snap(net, *to_lonlat)
    snap_f, snap_t = snap_f / speed_ms, snap_t / speed_ms
    g = _graph(net, speed_ms) if graph is None else graph
    src_nodes, src_of = np.unique(node_f, return_inverse=True)
    rows, cols, secs = [], [], []
    for lo in range(0, len(src_nodes), _CHUNK):
        chunk = src_nodes[lo:lo + _CHUNK]
        d = dijkstra(g, directed=True, indices=chunk, limit=max_walk_s)
        members = np.flatnonzero((src_of >= lo) & (src_of < lo + len(chunk)))
        tot = snap_f[members, None] + d[src_of[members] - lo][:, node_t] + snap_t[None, :]
        i, j = np.nonzero(tot <= max_walk_s)
        rows.append(members[i])
        cols.append(j)
        secs.append(np.ceil(tot[i, j] - 1e-9))
    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    return pd.DataFrame({"from": cat(rows, np.int64), "to": cat(cols, np.int64), "walk_s": cat(secs, np.int64)})


def stop_walks(network: StreetNetwork, timetable: Timetable, *, max_walk_s: float = 600,
               walk_speed_kmh: float | None = None) -> pd.DataFrame:
    """Walking transfers between every pair of distinct stops within ``max_walk_s``.

    Parameters
    ----------
    network : StreetNetwork
        A walk network (:func:`urbankit.build_network`).
    timetable : Timetable
        Its stops' ``stop_lon``/``stop_lat`` are snapped to the network.
    max_walk_s : float
        Longest transfer walk, seconds.
    walk_speed_kmh : float, optional
        Default ``urbankit.settings.walk_speed_kmh``.

    Returns
    -------
    pandas.DataFrame
        ``from_stop``, ``to_stop`` (stop indexes), ``walk_s`` (int seconds): the ``walks`` of
        :func:`urbankit.transit.raptor.build_network`.
    """
    speed_ms = _check(network, max_walk_s, walk_speed_kmh)
    ok = timetable.stops[["stop_lon", "stop_lat"]].notna().all(axis=1).to_numpy()
    if not ok.all():
        log.warning("%d stops without coordinates get no transfer walks", int((~ok).sum()))
    idx = np.flatnonzero(ok)
    lonlat = (timetable.stops.stop_lon.to_numpy()[idx], timetable.stops.stop_lat.to_numpy()[idx])
    w = _walks(network, speed_ms, lonlat, lonlat, max_walk_s)
    w = w[w["from"] != w["to"]]
    return pd.DataFrame({"from_stop": idx[w["from"].to_numpy()], "to_stop": idx[w["to"].to_numpy()],
                         "walk_s": w.walk_s.to_numpy()}).reset_index(drop=True)


def access_walks(network: StreetNetwork, timetable: Timetable, lon, lat, *, max_walk_s: float = 900,
                 walk_speed_kmh: float | None = None) -> pd.DataFrame:
    """Walks from points (origins) to the stops within ``max_walk_s``.

    Returns
    -------
    pandas.DataFrame
        ``point`` (position in ``lon``/``lat``), ``stop`` (stop index), ``walk_s`` (int seconds).
    """
    speed_ms = _check(network, max_walk_s, walk_speed_kmh)
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    if lon.shape != lat.shape or lon.ndim != 1 or not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise InvalidOptionError("lon and lat must be 1-d finite arrays of the same length")
    ok = timetable.stops[["stop_lon", "stop_lat"]].notna().all(axis=1).to_numpy()
    idx = np.flatnonzero(ok)
    w = _walks(network, speed_ms, (lon, lat),
               (timetable.stops.stop_lon.to_numpy()[idx], timetable.stops.stop_lat.to_numpy()[idx]), max_walk_s)
    return pd.DataFrame({"point": w["from"].to_numpy(), "stop": idx[w["to"].to_numpy()],
                         "walk_s": w.walk_s.to_numpy()})
