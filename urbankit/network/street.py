"""The street network of one mode: nodes, edges with minutes on the 0.001-min grid, and its pandana view."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import settings
from .._errors import InvalidOptionError
from .modes import MODES, Mode

TIME_RESOLUTION_MIN = 0.001


def quantize_minutes(minutes):
    """Round travel times to :data:`TIME_RESOLUTION_MIN` (at least one step, so no edge is free).

    Keeping edge times on pandana's integer grid makes its shortest paths exact sums of the edge
    times in ``edges.time_min`` (pandana truncates ``weight * 1000`` to an integer; on unrounded
    minutes that loses up to 0.001 min per edge).
    """
    steps = np.maximum(np.rint(np.asarray(minutes, dtype=float) / TIME_RESOLUTION_MIN), 1.0)
    return steps * TIME_RESOLUTION_MIN


def _pandana_weights(minutes) -> np.ndarray:
    """Impedances for pandana: half a step above the grid so its truncation lands on the step."""
    steps = np.rint(np.asarray(minutes, dtype=float) / TIME_RESOLUTION_MIN)
    return (steps + 0.5) * TIME_RESOLUTION_MIN


def estimate_utm_crs(lon: np.ndarray, lat: np.ndarray) -> str:
    """The UTM CRS (WGS 84) of the zone holding the centre of the given points (UPS near the poles).

    The centre is the middle of the points' bounding box; its zone is the regular 6-degree band
    (``floor((lon + 180) / 6) + 1``, northern ``EPSG:326zz`` from the equator up to 84 N, southern
    ``EPSG:327zz`` down to 80 S), the zones whose EPSG areas of use pyproj's
    ``query_utm_crs_info`` searches, computed directly rather than by a query of PROJ's database
    (about 0.2 s). Beyond them, the Universal Polar Stereographic projections.

    Examples
    --------
    >>> estimate_utm_crs(np.array([7.41, 7.44]), np.array([43.72, 43.75]))
    'EPSG:32632'
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    cx, cy = float(np.mean([np.min(lon), np.max(lon)])), float(np.mean([np.min(lat), np.max(lat)]))
    if not (np.isfinite(cx) and np.isfinite(cy)):
        raise InvalidOptionError("the points have no finite coordinates; a UTM zone needs longitude and latitude.")
    if -80.0 <= cy <= 84.0:
        zone = int(np.floor((cx + 180.0) / 6.0)) % 60 + 1
        return f"EPSG:{(32600 if cy >= 0 else 32700) + zone}"
    # beyond UTM (north of 84 N, south of 80 S): the Universal Polar Stereographic projections
    return "EPSG:32661" if cy > 0 else "EPSG:32761"


@dataclass(repr=False)
class StreetNetwork:
    """The routable street network of one mode.

    Built by :func:`build_network`; the constructor's parameters are the dataclass
    fields, kept as attributes of the same names.

    Parameters
    ----------
    mode : str
        ``"walk"``, ``"bike"`` or ``"drive"``.
    nodes : geopandas.GeoDataFrame
        Index ``node_id`` (OSM node ids); columns ``x``, ``y`` (metres in ``crs``), ``lon``, ``lat``;
        point geometry in ``crs``.
    edges : geopandas.GeoDataFrame
        Columns ``u``, ``v``, ``way_id``, ``highway``, ``name``, ``oneway``, ``length_m``,
        ``speed_kmh``, ``time_min``; line geometry in ``crs``. Walk and bike networks hold each
        undirected edge once; drive networks hold one row per travel direction.
    crs : str
        The metric CRS of nodes and edges.
    directed : bool
        True for drive.
    meta : dict, optional
        Source, content hash, parameters, component statistics (``dropped_node_share``,
        ``dropped_length_share``).
    """

    mode: str
    nodes: gpd.GeoDataFrame
    edges: gpd.GeoDataFrame
    crs: str
    directed: bool
    meta: dict = field(default_factory=dict)
    _pandana: object = field(default=None, init=False, repr=False)
    _precomputed_min: float = field(default=0.0, init=False, repr=False)
    #: derived search structures (e.g. the accessibility CSR graph), built on first use and kept
    #: for the life of this object, never pickled
    _derived: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_derived"] = {}
        return state

    def __repr__(self) -> str:
        return (
            f"StreetNetwork(mode={self.mode!r}, nodes={len(self.nodes):,}, edges={len(self.edges):,}, "
            f"length_km={self.edges.length_m.sum() / 1000:,.1f}, crs={self.crs!r})"
        )

    def _repr_html_(self) -> str:
        m = self.meta
        rows = {
            "mode": self.mode,
            "source": Path(str(m.get("source", ""))).name,
            "nodes": f"{len(self.nodes):,}",
            "edges": f"{len(self.edges):,}" + (" (directed)" if self.directed else " (undirected)"),
            "street length": f"{self.edges.length_m.sum() / 1000:,.1f} km",
            "speed": m.get("speed_desc", ""),
            "CRS": self.crs,
            "dropped (not in largest component)": f"{m.get('dropped_node_share', 0):.1%} of nodes, "
            f"{m.get('dropped_length_share', 0):.1%} of length",
        }
        from .._html import escape

        body = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{escape(v)}</td></tr>" for k, v in rows.items())
        return f"<table><caption>urbankit StreetNetwork</caption>{body}</table>"

    @property
    def key(self) -> str:
        """Content key of this network (input hash, mode and parameters)."""
        return self.meta["key"]

    @property
    def pandana(self):
        """The :class:`pandana.Network` of this network, impedance ``time_min`` (built on first use).

        Parallel edges are reduced to the fastest one, as only the fastest can be on a shortest
        path. Times are passed on pandana's integer grid (see :func:`quantize_minutes`), so its
        distances are exact sums of ``edges.time_min``. Building it computes pandana's contraction
        hierarchy; it is kept for the life of this object (pandana cannot save it to disk).
        """
        if self._pandana is None:
            self._pandana = _build_pandana(self)
        return self._pandana

    @classmethod
    def from_pandana(
        cls,
        network,
        *,
        impedance: str | None = None,
        impedance_unit: Literal["min", "m"] = "min",
        speed_kmh: float | None = None,
        mode: Mode = "walk",
        crs: str | None = None,
    ) -> StreetNetwork:
        """A StreetNetwork from a :class:`pandana.Network` built elsewhere (UrbanAccess, osmnet, ...).

        Nodes keep their ids (``network.node_ids``); edges are ``network.edges_df``'s ``from``/``to``
        with the ``impedance`` column as travel time (minutes, as UrbanAccess's ``weight``) or as
        length (metres, as osmnet's ``distance``, travelled at ``speed_kmh``). A network built with
        ``twoway=True`` is undirected (each edge once), one built with ``twoway=False`` directed (one
        row per direction). Times are rounded to the 0.001-min grid (:func:`quantize_minutes`), so
        both engines compute exactly. Edges are straight lines between their nodes (pandana keeps no
        geometry); the graph is kept as given (no component is dropped: unreachable places get NaN).

        Parameters
        ----------
        network : pandana.Network
        impedance : str, optional
            Name of the impedance column to use; required when the network has several.
        impedance_unit : {"min", "m"}, default "min"
            Minutes of travel time, or metres of length.
        speed_kmh : float, optional
            Speed turning metres into minutes (default ``settings.walk_speed_kmh`` or
            ``bike_speed_kmh`` by ``mode``; required for ``mode="drive"``); with minutes it is unused.
        mode : {"walk", "bike", "drive"}, default "walk"
            The mode the network is for (a label: filters were applied by whoever built it).
        crs : str, optional
            CRS of the node coordinates. Default: longitude/latitude when every ``x`` is within
            [-180, 180] and every ``y`` within [-90, 90]; projected coordinates need it.
            Geographic coordinates are projected to their UTM zone.

        Returns
        -------
        StreetNetwork

        Raises
        ------
        InvalidOptionError
            Not a pandana network, an unknown or ambiguous impedance, impedances that are not
            positive finite numbers, or a bad unit, speed or mode.
        CRSError
            Projected coordinates without ``crs``, or a ``crs`` pyproj does not know.
        """
        import pandana
        from pyproj import CRS, Transformer

        from .._errors import CRSError

        if not isinstance(network, pandana.Network):
            raise InvalidOptionError(f"network must be a pandana.Network, not {type(network).__name__}.")
        if mode not in MODES:
            raise InvalidOptionError(f"mode={mode!r} is not one of {MODES}; pick one of them.")
        names = list(network.impedance_names)
        if impedance is None:
            if len(names) != 1:
                raise InvalidOptionError(f"the pandana network has impedances {names}; choose one with impedance=...")
            impedance = names[0]
        elif impedance not in names:
            raise InvalidOptionError(f"impedance={impedance!r} is not one of the network's impedances {names}.")
        if impedance_unit not in ("min", "m"):
            raise InvalidOptionError(f"impedance_unit={impedance_unit!r} must be 'min' (minutes) or 'm' (metres).")
        if impedance_unit == "m":
            if speed_kmh is None and mode == "drive":
                raise InvalidOptionError("impedance_unit='m' with mode='drive' needs speed_kmh=..., e.g. 30.")
            speed = (
                speed_kmh
                if speed_kmh is not None
                else (settings.walk_speed_kmh if mode == "walk" else settings.bike_speed_kmh)
            )
            if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not np.isfinite(speed) or speed <= 0:
                raise InvalidOptionError(f"speed_kmh={speed!r} must be a positive number of km/h, e.g. 4.8.")
        nodes_df = network.nodes_df
        x, y = nodes_df["x"].to_numpy(float), nodes_df["y"].to_numpy(float)
        if crs is None:
            if not (np.all(np.abs(x) <= 180) and np.all(np.abs(y) <= 90)):
                raise CRSError(
                    "the pandana network's node coordinates are not longitude/latitude; pass their CRS, "
                    "e.g. crs='EPSG:25832'."
                )
            crs = "EPSG:4326"
        try:
            source_crs = CRS.from_user_input(crs)
        except Exception:
            raise CRSError(f"crs={crs!r} is not a CRS pyproj knows; give e.g. 'EPSG:4326'.") from None
        if source_crs.is_geographic:
            lon, lat = Transformer.from_crs(source_crs, "EPSG:4326", always_xy=True).transform(x, y)
            lon, lat = np.asarray(lon), np.asarray(lat)
            metric = estimate_utm_crs(lon, lat)
            px, py = Transformer.from_crs("EPSG:4326", metric, always_xy=True).transform(lon, lat)
        else:
            metric = source_crs.to_string()
            px, py = x, y
            lon, lat = Transformer.from_crs(source_crs, "EPSG:4326", always_xy=True).transform(x, y)
        index = pd.Index(nodes_df.index, name="node_id")
        nodes = gpd.GeoDataFrame(
            {"x": np.asarray(px, float), "y": np.asarray(py, float), "lon": np.asarray(lon), "lat": np.asarray(lat)},
            index=index,
            geometry=gpd.points_from_xy(px, py),
            crs=metric,
        )
        e = network.edges_df
        u, v = e["from"].to_numpy(), e["to"].to_numpy()
        raw = pd.to_numeric(e[impedance], errors="coerce").to_numpy(float)
        bad = ~(np.isfinite(raw) & (raw > 0))
        if bad.any():
            raise InvalidOptionError(
                f"impedance {impedance!r} has {int(bad.sum())} values that are not positive finite numbers; "
                "fix or drop those edges before building the pandana network."
            )
        iu, iv = index.get_indexer(u), index.get_indexer(v)
        xy = nodes[["x", "y"]].to_numpy()
        straight = np.hypot(*(xy[iu] - xy[iv]).T)
        if impedance_unit == "m":
            length = raw
            time_min = quantize_minutes(raw / (float(speed) * 1000.0 / 60.0))
        else:
            length = straight
            time_min = quantize_minutes(raw)
        directed = not network._twoway
        keep = iu != iv  # a self-loop is on no shortest path
        pairs = set(zip(u[keep].tolist(), v[keep].tolist()))
        oneway = [directed and (b, a) not in pairs for a, b in zip(u[keep].tolist(), v[keep].tolist())]
        edges = gpd.GeoDataFrame(
            {
                "u": u[keep],
                "v": v[keep],
                "way_id": np.full(int(keep.sum()), -1, np.int64),
                "highway": None,
                "name": None,
                "oneway": np.asarray(oneway, bool),
                "length_m": length[keep],
                "speed_kmh": np.divide(length[keep] * 0.06, time_min[keep]),
                "time_min": time_min[keep],
            },
            geometry=shapely.linestrings(np.stack([xy[iu[keep]], xy[iv[keep]]], axis=1)),
            crs=metric,
        )
        digest = hashlib.sha256()
        for arr in (index.to_numpy(), x, y, u, v, raw):
            digest.update(np.ascontiguousarray(arr).tobytes())
        params = {
            "from_pandana": True,
            "impedance": impedance,
            "unit": impedance_unit,
            "mode": mode,
            "speed_kmh": speed_kmh,
            "crs": str(crs),
            "twoway": not directed,
        }
        digest.update(json.dumps(params, sort_keys=True).encode())
        meta = {
            "source": "pandana.Network",
            "key": digest.hexdigest()[:24],
            "params": params,
            "speed_desc": f"{impedance!r} in {impedance_unit}",
            "dropped_node_share": 0.0,
            "dropped_length_share": 0.0,
        }
        return cls(mode=mode, nodes=nodes, edges=edges, crs=metric, directed=directed, meta=meta)

    def nearest_nodes(self, xy) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node of each point: straight-line metres to it and its position in ``nodes``.

        The KD-tree of the nodes is built on first use and kept for the life of this object.

        Parameters
        ----------
        xy : array-like of shape (n, 2)
            Coordinates in this network's ``crs`` (metres).

        Returns
        -------
        distance_m : numpy.ndarray of float
            Straight-line metres from each point to its nearest node.
        position : numpy.ndarray of int64
            Row of that node in ``nodes`` (a position, not the OSM node id).
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if len(xy) == 0:
            return np.empty(0), np.empty(0, dtype=np.int64)
        tree = self._derived.get("node_tree")
        if tree is None:
            # shapely's STRtree (loaded with geopandas anyway) rather than scipy.spatial's KD-tree,
            # whose import alone costs a command-line run about 0.3 s
            tree = self._derived["node_tree"] = shapely.STRtree(shapely.points(self.nodes[["x", "y"]].to_numpy(float)))
        (at, found), found_m = tree.query_nearest(shapely.points(xy), return_distance=True, all_matches=False)
        if len(at) != len(xy):  # a point with NaN coordinates has no nearest node
            raise InvalidOptionError(
                f"{len(xy) - len(at):,} of {len(xy):,} points have no coordinates (NaN); drop them first."
            )
        dist = np.empty(len(xy))
        pos = np.empty(len(xy), dtype=np.int64)
        dist[at], pos[at] = found_m, found
        return dist, pos

    def explore(self, **kwargs):
        """Interactive folium map of the edges; text from the data (street names...) is escaped, so it shows as text.

        Parameters
        ----------
        **kwargs
            Options of ``geopandas.GeoDataFrame.explore``; by default the edges are coloured by
            ``time_min`` (viridis) with a tooltip of highway, name, length and minutes.

        Returns
        -------
        folium.Map
            The map (shown when it is the last expression of a notebook cell).
        """
        from .._html import escape_frame

        kwargs.setdefault("column", "time_min")
        kwargs.setdefault("tooltip", ["highway", "name", "length_m", "time_min"])
        kwargs.setdefault("cmap", "viridis")
        return escape_frame(self.edges).explore(**kwargs)


@contextlib.contextmanager
def _quiet_stdout():
    """Silence C-level stdout (pandana's C++ core prints progress) for the duration."""
    import sys

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # Jupyter, captured streams
        fd = 1
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _build_pandana(net: StreetNetwork):
    import pandana

    e = net.edges[["u", "v", "time_min", "length_m"]]
    if net.directed:
        e = e.sort_values("time_min").drop_duplicates(["u", "v"])
    else:
        a, b = np.minimum(e.u, e.v), np.maximum(e.u, e.v)
        e = e.assign(u=a, v=b).sort_values("time_min").drop_duplicates(["u", "v"])
    weights = pd.DataFrame({"time_min": _pandana_weights(e["time_min"])}, index=e.index)
    with _quiet_stdout():
        pn = pandana.Network(
            net.nodes["x"],
            net.nodes["y"],
            e["u"],
            e["v"],
            weights,
            twoway=not net.directed,
        )
    return pn


#: file name suffix of network cache entries (data only, see :mod:`urbankit._datacache`)

def network_summary(net: StreetNetwork) -> pd.DataFrame:
    """One-row table of a network (mode, nodes, edges, km, dropped share) for reports."""
    return pd.DataFrame(
        {
            "mode": [net.mode],
            "nodes": [len(net.nodes)],
            "edges": [len(net.edges)],
            "length_km": [net.edges.length_m.sum() / 1000],
            "dropped_node_share": [net.meta.get("dropped_node_share", 0.0)],
        }
    )
