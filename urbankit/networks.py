"""Mode networks (walk, bike, drive) built from an :class:`~urbankit.ingest.OSMExtract`.

A :class:`StreetNetwork` holds the routable graph of one mode: nodes and edges as GeoDataFrames in
an automatically chosen metric CRS (UTM), edge length in metres and travel time in minutes, and a
lazily built :class:`pandana.Network` whose impedance is travel time.

Mode filters (what each mode may legally use)
---------------------------------------------
walk
    every ``highway`` way except motorways, construction/proposed/abandoned/disused, raceways,
    bus guideways, busways, escape lanes, emergency bays, platforms, rest areas and services;
    excluded where ``foot`` is no/private/use_sidepath/discouraged_no, or ``access`` is one of
    those without a ``foot`` permission (yes, designated, permissive, official, destination,
    customers, delivery). Footways, paths, steps, pedestrian streets and the outlines of pedestrian
    areas are included. Undirected.
bike
    roads (trunk to residential, living streets, service, road), cycleways, paths and tracks;
    footways, pedestrian streets, bridleways and corridors only with a ``bicycle`` permission (as
    above); steps only with ``bicycle=yes``; excluded where ``bicycle`` is no/private/use_sidepath/
    discouraged_no, or ``access`` is without a bicycle permission; motorways excluded. Undirected
    (one-way streets are ridden both ways: contraflow is common in the cities urbankit targets; use
    the drive mode for directed analyses).
drive
    motorways to residential and living streets, unclassified, ``road`` and ``service`` ways except
    parking aisles, parking, driveways, alleys, private and emergency access; excluded where the
    most specific of ``motorcar``, ``motor_vehicle``, ``vehicle``, ``access`` says
    no/private/use_sidepath/discouraged_no. Directed: ``oneway=yes/true/1``, roundabouts
    (``junction=roundabout/circular``) and motorways forward unless ``oneway=no``; ``oneway=-1``
    or ``reverse`` backward.

Ways are split into edges at every node they share with another way (or visit twice) and at their
ends; a loop hanging at a single node is cut at its middle vertex, so it stays routable.

Default speeds
--------------
walk 4.8 km/h and bike 15 km/h (``urbankit.settings``); drive from ``maxspeed`` (km/h, "mph",
"walk" = 6 km/h, zone codes such as "FR:urban"), else the highway-class fallback of
``settings.drive_speed_kmh``, times ``settings.drive_speed_factor``. A ``maxspeed`` outside 5..150
km/h ("0.0001", "99999") is a tagging error: the fallback applies, with a logged warning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from . import _datacache, settings
from ._errors import InvalidOptionError, NoStreetsError
from .ingest import MemoryGuard, OSMExtract

logger = logging.getLogger(__name__)

Mode = Literal["walk", "bike", "drive"]
MODES = ("walk", "bike", "drive")

#: bumped whenever filters, speeds or the edge model change, so old caches are not reused
NETWORK_MODEL_VERSION = 2


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """Hash of the code that turns a file into a network (this module and the OSM readers), so a
    cache entry written by another version of urbankit is never reused."""
    from . import ingest

    h = hashlib.sha256()
    for module_file in (__file__, ingest.__file__):
        h.update(Path(module_file).read_bytes())
    return h.hexdigest()[:16]

_NO = {"no", "private", "use_sidepath", "discouraged_no"}
_YES = {"yes", "designated", "permissive", "official", "destination", "customers", "delivery"}

_WALK_EXCLUDED = {
    "motorway",
    "motorway_link",
    "construction",
    "proposed",
    "abandoned",
    "disused",
    "raceway",
    "bus_guideway",
    "busway",
    "escape",
    "emergency_bay",
    "platform",
    "rest_area",
    "services",
}
#: roads open to both cyclists and drivers (unless tagged otherwise)
_SHARED_ROADS = {
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "road",
}
_BIKE_ROADS = _SHARED_ROADS | {"cycleway", "path", "track"}
_BIKE_IF_ALLOWED = {"footway", "pedestrian", "bridleway", "steps", "corridor"}
_DRIVE_ROADS = _SHARED_ROADS | {"motorway", "motorway_link"}
_DRIVE_SERVICE_EXCLUDED = {"parking_aisle", "driveway", "alley", "private", "emergency_access", "parking"}
#: plausible signed speeds, km/h: OSM values outside are typos or units gone wrong ("0.0001", "99999",
#: "2" meant as 20) and give the highway-class fallback with a logged warning; 5 km/h is walking
#: pace (``maxspeed=walk`` is 6), no road is signed above 150 km/h
_MIN_PLAUSIBLE_KMH = 5.0
_MAX_PLAUSIBLE_KMH = 150.0
_ZONE_SPEEDS = {"urban": 50.0, "rural": 90.0, "motorway": 130.0, "trunk": 110.0, "living_street": 10.0, "zone30": 30.0}


def _col(ways: pd.DataFrame, key: str) -> pd.Series:
    if key in ways.columns:
        return ways[key].astype(object).where(ways[key].notna(), None).astype("string").str.strip().str.lower()
    return pd.Series(pd.NA, index=ways.index, dtype="string")


def _isin(s: pd.Series, values: set[str]) -> np.ndarray:
    return np.array(s.isin(values).fillna(False), dtype=bool)


def mode_mask(ways: pd.DataFrame, mode: Mode) -> np.ndarray:
    """Boolean mask of the ways ``mode`` may legally use (see the module docstring)."""
    hw = _col(ways, "highway")
    access = _col(ways, "access")
    has_hw = hw.notna().to_numpy(bool)
    access_no = _isin(access, _NO)
    if mode == "walk":
        foot = _col(ways, "foot")
        ok = has_hw & ~_isin(hw, _WALK_EXCLUDED)
        ok &= ~_isin(foot, _NO)
        ok &= ~(access_no & ~_isin(foot, _YES))
        return ok
    if mode == "bike":
        bicycle = _col(ways, "bicycle")
        allowed = _isin(bicycle, _YES)
        ok = _isin(hw, _BIKE_ROADS) | (_isin(hw, _BIKE_IF_ALLOWED) & allowed)
        ok &= ~(_isin(hw, {"steps"}) & ~_isin(bicycle, {"yes"}))
        ok &= ~_isin(bicycle, _NO)
        ok &= ~(access_no & ~allowed)
        return ok
    if mode == "drive":
        mv = [_col(ways, k) for k in ("motorcar", "motor_vehicle", "vehicle")]
        # the most specific tag present decides (motorcar > motor_vehicle > vehicle > access)
        decisive = mv[0].fillna(mv[1]).fillna(mv[2]).fillna(access)
        ok = _isin(hw, _DRIVE_ROADS)
        ok &= ~(_isin(hw, {"service"}) & _isin(_col(ways, "service"), _DRIVE_SERVICE_EXCLUDED))
        ok &= ~_isin(decisive, _NO)
        return ok
    raise InvalidOptionError(f"mode={mode!r} is not one of {MODES}; pick one of them.")


def oneway_direction(ways: pd.DataFrame) -> np.ndarray:
    """Driving direction of each way: 1 forward only, -1 backward only, 0 both ways."""
    ow = _col(ways, "oneway")
    hw = _col(ways, "highway")
    junction = _col(ways, "junction")
    fwd = _isin(ow, {"yes", "true", "1"})
    back = _isin(ow, {"-1", "reverse"})
    implied = (_isin(junction, {"roundabout", "circular"}) | _isin(hw, {"motorway"})) & ~_isin(
        ow, {"no", "false", "0", "-1", "reverse"}
    )
    out = np.zeros(len(ways), dtype=np.int8)
    out[fwd | implied] = 1
    out[back] = -1
    return out


_SPEED_RE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(mph|km/h|kmh|kph|knots)?\s*$")


def parse_maxspeed(values: pd.Series) -> pd.Series:
    """Parse OSM ``maxspeed`` strings to km/h (NaN where unknown).

    Handles plain numbers, ``"50 mph"``, ``"walk"`` (6 km/h), zone codes (``"FR:urban"``,
    ``"DE:zone30"``, ``"DE:zone:30"``), and lists such as ``"50;70"`` (the lowest value counts).
    ``"none"``, ``"signals"``, ``"variable"`` and implausible values (below 5 km/h, e.g.
    ``"0.0001"``, or above 150 km/h) give NaN, so the highway-class fallback applies.

    Examples
    --------
    >>> tags = ["50", "30 mph", "walk", "FR:urban", "none", "50;70", "DE:zone:30", "99999"]
    >>> parse_maxspeed(pd.Series(tags)).round(1).tolist()
    [50.0, 48.3, 6.0, 50.0, nan, 50.0, 30.0, nan]
    >>> parse_maxspeed(pd.Series(["0.0001", "0", "2", "5", "0.0001;30"])).tolist()
    [nan, nan, nan, 5.0, 30.0]
    """
    num = _maxspeed_numbers(values)
    num = num.where((num >= _MIN_PLAUSIBLE_KMH) & (num <= _MAX_PLAUSIBLE_KMH))
    return num.astype(float).groupby(level=0).min().reindex(values.index)


def _maxspeed_numbers(values: pd.Series) -> pd.Series:
    """Every speed a ``maxspeed`` value states, in km/h, one row per list item (index repeated)."""
    s = values.astype(object).where(values.notna(), None).astype("string").str.lower().str.strip()
    first = s.str.split(r"[;|]", regex=True).explode()
    m = first.str.extract(r"^\s*(\d+(?:[.,]\d+)?)\s*(mph|km/h|kmh|kph|knots)?\s*$")
    num = pd.to_numeric(m[0].str.replace(",", ".", regex=False), errors="coerce")
    unit = m[1]
    num = num.where(unit != "mph", num * 1.609344)
    num = num.where(unit != "knots", num * 1.852)
    num = num.where(first != "walk", 6.0)
    zone = first.str.extract(r"^[a-z]{2}(?:-[a-z0-9]+)?:(\w+)$")[0]
    num = num.fillna(zone.map(_ZONE_SPEEDS))
    # "DE:zone:30", "DE:zone30": a speed zone with its limit
    num = num.fillna(pd.to_numeric(first.str.extract(r"^[a-z]{2}(?:-[a-z0-9]+)?:zone:?(\d+)$")[0], errors="coerce"))
    return num.astype(float)


def _drive_speed_kmh(ways: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Driving speed of each way, and which ways state only implausible ``maxspeed`` numbers
    (outside 5..150 km/h: they get the highway-class fallback)."""
    if "maxspeed" in ways.columns:
        parsed = parse_maxspeed(ways["maxspeed"])
        stated = (
            _maxspeed_numbers(ways["maxspeed"]).notna().groupby(level=0).any().reindex(ways.index, fill_value=False)
        )
        implausible = (stated & parsed.isna()).to_numpy(bool)
    else:
        parsed, implausible = pd.Series(np.nan, index=ways.index), np.zeros(len(ways), bool)
    fallback = _col(ways, "highway").map(settings.drive_speed_kmh).astype(float).fillna(30.0)
    return (parsed.fillna(fallback) * settings.drive_speed_factor).to_numpy(float), implausible


#: resolution of travel times, in minutes (0.06 s): pandana's contraction hierarchy stores each
#: impedance as an integer number of thousandths, so times are kept on that grid exactly
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
    """The UTM CRS (WGS 84) of the zone holding the centre of the given points (UPS near the poles)."""
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    cx, cy = float(np.mean([np.min(lon), np.max(lon)])), float(np.mean([np.min(lat), np.max(lat)]))
    info = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(cx, cy, cx, cy))
    if info:
        return f"EPSG:{info[0].code}"
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
        from ._html import escape

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

        from ._errors import CRSError

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
            from scipy.spatial import cKDTree

            tree = self._derived["node_tree"] = cKDTree(self.nodes[["x", "y"]].to_numpy(float))
        dist, pos = tree.query(xy)
        return dist, pos.astype(np.int64)

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
        from ._html import escape_frame

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
CACHE_SUFFIX = ".uknet"


def _cache_path(key: str) -> Path:
    """The cache entry of the network with content key ``key``."""
    return Path(settings.cache_folder) / "networks" / f"{key}{CACHE_SUFFIX}"


def _cache_fields() -> tuple[str, ...]:
    """The :class:`StreetNetwork` fields a cache entry holds (those set by its constructor)."""
    return tuple(f.name for f in dataclasses.fields(StreetNetwork) if f.init)


def _load_cached(key: str) -> StreetNetwork | None:
    """The cached network of ``key``, or None (absent, or unusable: then a warning says why).

    Entries are data only (arrays and JSON, hash checked first): nothing in the cache folder is
    ever executed. Entries of the old pickle format (``<key>.pkl``) are never read.
    """
    if not settings.use_cache:
        return None
    path = _cache_path(key)
    try:
        value = _datacache.load_entry(path)
        fields = _cache_fields()
        if type(value) is not dict or value.get("kind") != "StreetNetwork" or set(value) != {"kind", *fields}:
            raise _datacache.CorruptEntryError("it does not hold a street network")
        net = StreetNetwork(**{name: value[name] for name in fields})
        if not (
            net.mode in MODES
            and isinstance(net.nodes, gpd.GeoDataFrame)
            and isinstance(net.edges, gpd.GeoDataFrame)
            and type(net.crs) is str
            and type(net.directed) is bool
            and type(net.meta) is dict
            and net.meta.get("key") == key
        ):
            raise _datacache.CorruptEntryError("it holds no valid street network of this key")
    except FileNotFoundError:
        old = path.with_suffix(".pkl")
        if old.exists() or old.is_symlink():
            logger.warning(
                "ignoring old-format network cache entry %s: pickled entries are never loaded (they could "
                "run code); rebuilding the network in the new format. Delete the old file.",
                old,
            )
        return None
    except (_datacache.CorruptEntryError, OSError) as exc:  # corrupt, tampered or partial entry: rebuild
        logger.warning("cache entry %s is unreadable (%s); ignoring it and rebuilding the network", path, exc)
        return None
    logger.info("loaded %s network from cache %s", net.mode, path)
    return net


def _remove_stale_temporaries(path: Path, *, older_than_s: float = 600.0) -> None:
    """Remove temporary files of writers of ``path`` that died before renaming them into place."""
    _datacache.remove_stale_temporaries(path, older_than_s=older_than_s)


def _store_cached(net: StreetNetwork) -> None:
    """Store ``net`` in the cache (atomically); on failure (e.g. a full disk) warn and go on without."""
    if not settings.use_cache:
        return
    path = _cache_path(net.key)
    value = {"kind": "StreetNetwork", **{name: getattr(net, name) for name in _cache_fields()}}
    try:
        with contextlib.suppress(OSError):
            _remove_stale_temporaries(path)
        _datacache.dump_entry(path, value)
    except _datacache.UnstorableError as exc:
        logger.warning("network not cached: %s", exc)
    except OSError as exc:
        logger.warning("could not write network cache %s (%s); continuing without it", path, exc)


def build_network(
    extract: OSMExtract,
    mode: Mode = "walk",
    *,
    speed_kmh: float | None = None,
    largest_component: bool = True,
    cache: bool = True,
) -> StreetNetwork:
    """Build the routable network of ``mode`` from an extract.

    Parameters
    ----------
    extract : OSMExtract
        From :func:`urbankit.read_osm`, :func:`urbankit.read_graphml` or an online reader.
    mode : {"walk", "bike", "drive"}
        Travel mode; decides the legal-use filter, direction handling and speeds.
    speed_kmh : float, optional
        Constant speed overriding the default for walk and bike (e.g. 3.0 for older people),
        or, for drive, a constant speed on every street instead of ``maxspeed``.
    largest_component : bool, default True
        Keep only the largest connected component (strongly connected for drive), so every node can
        reach every other; the dropped share is logged and stored in ``meta``.
    cache : bool, default True
        Reuse a network prepared earlier from the same input content and parameters
        (``settings.cache_folder``).

    Returns
    -------
    StreetNetwork

    Raises
    ------
    InvalidOptionError
        Unknown mode or non-positive speed.
    NoStreetsError
        The extract has no street this mode may use.
    MemoryBudgetError
        Splitting the ways into edges would need more memory than ``settings.memory_limit_gb`` (or
        than is available); checked before the tables are allocated.
    """
    if mode not in MODES:
        raise InvalidOptionError(f"mode={mode!r} is not one of {MODES}; pick one of them.")
    if speed_kmh is not None:
        if (
            isinstance(speed_kmh, bool)
            or not isinstance(speed_kmh, (int, float))
            or not np.isfinite(speed_kmh)
            or speed_kmh <= 0
        ):
            raise InvalidOptionError(f"speed_kmh={speed_kmh!r} must be a positive number of km/h, e.g. 4.8.")
    params = {
        "mode": mode,
        "speed_kmh": speed_kmh,
        "largest_component": largest_component,
        "model": NETWORK_MODEL_VERSION,
        "code": _code_fingerprint(),
        "walk": settings.walk_speed_kmh,
        "bike": settings.bike_speed_kmh,
        "drive": settings.drive_speed_kmh if mode == "drive" else None,
        "factor": settings.drive_speed_factor if mode == "drive" else None,
    }
    key = hashlib.sha256((extract.sha256 + json.dumps(params, sort_keys=True)).encode()).hexdigest()[:24]
    if cache:
        cached = _load_cached(key)
        if cached is not None:
            return cached

    ways = extract.ways
    keep = mode_mask(ways, mode)
    if not keep.any():
        raise NoStreetsError(
            f"{Path(extract.source).name!r} has no street that mode={mode!r} may use "
            f"({len(ways)} highway ways in all); choose another mode or a larger extract."
        )
    directed = mode == "drive"
    if mode == "walk":
        speed = np.full(len(ways), float(speed_kmh or settings.walk_speed_kmh))
        speed_desc = f"{speed[0]:g} km/h"
    elif mode == "bike":
        speed = np.full(len(ways), float(speed_kmh or settings.bike_speed_kmh))
        speed_desc = f"{speed[0]:g} km/h"
    else:
        if speed_kmh:
            speed, implausible = np.full(len(ways), float(speed_kmh)), None
        else:
            speed, implausible = _drive_speed_kmh(ways)
        speed_desc = f"{speed_kmh:g} km/h" if speed_kmh else "maxspeed, else highway-class defaults"
    direction = oneway_direction(ways) if directed else np.zeros(len(ways), dtype=np.int8)

    edges, node_xy, crs = _split_ways(extract, keep, guard=_network_guard(extract, mode))
    if len(edges) == 0:
        raise NoStreetsError(
            f"{Path(extract.source).name!r}: the ways usable by mode={mode!r} form no edge; "
            "choose another mode or a larger extract."
        )
    w = edges["way"].to_numpy()
    if mode == "drive" and implausible is not None and implausible[w].any():
        bad = np.unique(w[implausible[w]])
        ids, tags = ways["way_id"].to_numpy()[bad[:3]], ways["maxspeed"].to_numpy()[bad[:3]]
        examples = ", ".join(f"way {i} maxspeed={v!r}" for i, v in zip(ids, tags))
        logger.warning(
            "%s: %d street segments (%d ways) have an implausible maxspeed (outside %g..%g km/h; e.g. %s); "
            "they use the highway-class speed of settings.drive_speed_kmh instead. Fix the tags, or pass speed_kmh=.",
            Path(extract.source).name,
            int(implausible[w].sum()),
            len(bad),
            _MIN_PLAUSIBLE_KMH,
            _MAX_PLAUSIBLE_KMH,
            examples,
        )
    edges["speed_kmh"] = speed[w]
    edges["time_min"] = quantize_minutes(edges["length_m"] / (edges["speed_kmh"] * 1000.0 / 60.0))
    for col in ("way_id", "highway", "name"):
        edges[col] = ways[col].to_numpy()[w]
    dir_e = direction[w]
    edges["oneway"] = dir_e != 0
    if directed:
        fwd = edges[dir_e >= 0]
        back = edges[dir_e <= 0].copy()
        back["u"], back["v"] = back["v"].to_numpy(), back["u"].to_numpy()
        back["geometry"] = shapely.reverse(back["geometry"].to_numpy())
        edges = pd.concat([fwd, back], ignore_index=True)
        # a two-way street drawn there and back (nodes 1, 2, 1) gives each direction once
        same = {"u": edges.u, "v": edges.v, "w": edges["way_id"].astype(str), "l": edges.length_m.round(2)}
        edges = edges[~pd.DataFrame(same).duplicated().to_numpy()]
    else:
        # the same street given twice (e.g. both directions of a GraphML graph) is one walk/bike edge
        a, b = np.minimum(edges.u, edges.v), np.maximum(edges.u, edges.v)
        dup = pd.DataFrame(
            {"a": a, "b": b, "w": edges["way_id"].astype(str), "l": edges.length_m.round(2)}
        ).duplicated()
        edges = edges[~dup.to_numpy()]
    edges = edges.drop(columns="way")

    nodes = node_xy
    meta = {"source": extract.source, "sha256": extract.sha256, "key": key, "params": params, "speed_desc": speed_desc}
    total_len = edges["length_m"].sum()
    n_before = len(nodes)
    if largest_component:
        nodes, edges = _largest_component(nodes, edges, directed=directed)
    if len(edges) == 0:
        raise NoStreetsError(
            f"{Path(extract.source).name!r}: no two places are connected both ways for mode={mode!r} "
            "(e.g. only one-way streets without a way back); choose another mode or a larger extract."
        )
    meta["dropped_node_share"] = 1 - len(nodes) / n_before
    meta["dropped_length_share"] = float(1 - edges["length_m"].sum() / total_len) if total_len else 0.0
    if meta["dropped_node_share"] > 0:
        logger.info(
            "%s %s network: kept the largest %sconnected component, "
            "dropping %.1f%% of nodes and %.1f%% of street length",
            Path(extract.source).name,
            mode,
            "strongly " if directed else "",
            100 * meta["dropped_node_share"],
            100 * meta["dropped_length_share"],
        )
    edges = gpd.GeoDataFrame(
        edges[
            ["u", "v", "way_id", "highway", "name", "oneway", "length_m", "speed_kmh", "time_min", "geometry"]
        ].reset_index(drop=True),
        geometry="geometry",
        crs=crs,
    )
    nodes = gpd.GeoDataFrame(nodes, geometry=gpd.points_from_xy(nodes.x, nodes.y), crs=crs)
    net = StreetNetwork(mode=mode, nodes=nodes, edges=edges, crs=crs, directed=directed, meta=meta)
    if cache:
        _store_cached(net)
    return net


#: peak bytes per way node of the kept ways while they are split into edges (ids, coordinates,
#: flags, the sort of the node ids and its inverse)
_BYTES_PER_SPLIT_NODE = 120
#: peak bytes per edge while the network is assembled: its geometry (plus 16 bytes a vertex, charged
#: apart), its row in the edge and node tables, both travel directions of a drive network
_BYTES_PER_EDGE = 900


def _network_guard(extract: OSMExtract, mode: str) -> MemoryGuard:
    return MemoryGuard(
        f"building the {mode} network of {Path(extract.source).name!r}",
        "use a smaller extract (e.g. `osmium extract --bbox W,S,E,N in.osm.pbf -o out.osm.pbf`)",
    )


def _split_ways(
    extract: OSMExtract, keep: np.ndarray, *, guard: MemoryGuard | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Split the kept ways at shared nodes into edges (vectorised).

    A node ends an edge where it is shared by more than one way position (intersections, loops) or
    ends its way; the edge's geometry keeps every vertex between. A way that runs over the same
    segment again in the same direction (e.g. nodes 1, 2, 1, 2, ...) yields that edge once: the
    repeats are dropped before any geometry is built, so the work and memory of what follows grow
    with the distinct edges, not with the number of node references. Memory is checked against
    ``guard`` (default: the budget of ``urbankit.settings.memory_limit_gb``) before it is allocated.

    Raises
    ------
    MemoryBudgetError
        The kept ways would not fit in the memory budget.
    """
    guard = guard if guard is not None else _network_guard(extract, "street")
    wn = extract.way_nodes
    sel = keep[wn["way"].to_numpy()]
    n = int(np.count_nonzero(sel))
    guard.check(n * _BYTES_PER_SPLIT_NODE, f"{n:,} way nodes to split into edges")
    way = wn["way"].to_numpy()[sel]
    nid = wn["node_id"].to_numpy()[sel]
    lon = wn["lon"].to_numpy()[sel]
    lat = wn["lat"].to_numpy()[sel]
    del sel
    first = np.ones(n, bool)
    first[1:] = way[1:] != way[:-1]
    last = np.ones(n, bool)
    last[:-1] = way[1:] != way[:-1]
    _, inv, counts = np.unique(nid, return_inverse=True, return_counts=True)
    shared = counts[inv] > 1
    del counts
    seg_kept = _first_traversals(way, inv, last, shared)
    del inv
    if np.count_nonzero(seg_kept) < n - np.count_nonzero(last):
        # drop the repeated segments (each one a whole piece: both its nodes are visited twice);
        # a way continues as a new run after each dropped one, with the same split nodes
        kept_before = np.zeros(n, bool)
        kept_before[1:] = seg_kept[:-1]
        pos = np.flatnonzero(seg_kept | kept_before)
        logger.warning(
            "%s: %d node references of street ways repeat a segment their way already ran in the same "
            "direction; each such segment is one edge.",
            Path(extract.source).name,
            n - np.count_nonzero(last) - np.count_nonzero(seg_kept),
        )
        way, nid, lon, lat, shared = way[pos], nid[pos], lon[pos], lat[pos], shared[pos]
        first, last = ~kept_before[pos], ~seg_kept[pos]
        n = len(pos)
        del pos, kept_before
    del seg_kept
    guard.check(n * _BYTES_PER_SPLIT_NODE, f"{n:,} way nodes to split into edges")
    crs = estimate_utm_crs(lon, lat)
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    x, y = np.asarray(x), np.asarray(y)
    split = first | last | shared
    del first, shared
    start_pos, end_pos = _pieces(split, last)
    # a piece that returns to its own start (a loop hanging at one node) is cut at its middle
    # vertex, so the loop stays routable whichever node the mapper started drawing it at
    # (not for GraphML input, whose nodes are the graph's own: its self-loops stay out, as in osmnx)
    loop = (nid[start_pos] == nid[end_pos]) & (end_pos - start_pos >= 2)
    if loop.any() and not extract.meta.get("from_graph"):
        split[(start_pos[loop] + end_pos[loop]) // 2] = True
        start_pos, end_pos = _pieces(split, last)
    # segment i joins positions i and i+1 of the same way
    seg = np.flatnonzero(~last)
    seg_len = np.hypot(x[seg + 1] - x[seg], y[seg + 1] - y[seg])
    starts = split & ~last
    piece_at = np.cumsum(starts) - 1  # piece id of the segment starting at each position
    seg_piece = piece_at[seg]
    n_pieces = int(starts.sum())
    guard.check(n_pieces * _BYTES_PER_EDGE + len(seg) * 16.0, f"{n_pieces:,} edges")
    length = np.bincount(seg_piece, weights=seg_len, minlength=n_pieces)
    # vertices of each piece: its segments' start positions plus its end position
    vert_pos = np.concatenate([seg, end_pos])
    vert_piece = np.concatenate([seg_piece, np.arange(n_pieces)])
    order = np.lexsort((vert_pos, vert_piece))
    coords = np.column_stack([x[vert_pos[order]], y[vert_pos[order]]])
    geoms = shapely.linestrings(coords, indices=vert_piece[order])
    edges = pd.DataFrame(
        {
            "u": nid[start_pos],
            "v": nid[end_pos],
            "way": way[start_pos],
            "length_m": length,
            "geometry": geoms,
        }
    )
    # drop degenerate edges: closed loops back to their start node and zero-length pieces
    edges = edges[(edges.u != edges.v) & (edges.length_m > 0)].reset_index(drop=True)
    used = np.unique(np.concatenate([edges.u.to_numpy(), edges.v.to_numpy()]))
    srt = np.argsort(nid, kind="stable")
    idx = srt[np.searchsorted(nid[srt], used)]
    node_xy = pd.DataFrame(
        {"x": x[idx], "y": y[idx], "lon": lon[idx], "lat": lat[idx]},
        index=pd.Index(used, name="node_id"),
    )
    return edges, node_xy, crs


def _first_traversals(way: np.ndarray, node: np.ndarray, last: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """Whether each position starts a segment its way has not run before in the same direction.

    Segment ``i`` joins positions ``i`` and ``i + 1`` of one way (``last[i]`` is False); ``node``
    numbers the nodes, ``shared`` tells the nodes visited more than once (only a segment between
    two of them can repeat). False at the last position of each way.
    """
    kept = ~last
    cand = np.flatnonzero(kept[:-1] & shared[:-1] & shared[1:])
    if len(cand) < 2:
        return kept
    a, b, w = node[cand], node[cand + 1], way[cand]
    order = np.lexsort((b, a, w))  # stable: the first traversal leads each group
    a, b, w = a[order], b[order], w[order]
    again = np.zeros(len(cand), bool)
    again[1:] = (a[1:] == a[:-1]) & (b[1:] == b[:-1]) & (w[1:] == w[:-1])
    kept[cand[order[again]]] = False
    return kept


def _pieces(split: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end positions of the pieces between consecutive split positions of each way."""
    start_pos = np.flatnonzero(split & ~last)
    split_pos = np.flatnonzero(split)
    end_pos = split_pos[np.searchsorted(split_pos, start_pos, side="right")]
    return start_pos, end_pos


def _largest_component(nodes: pd.DataFrame, edges: pd.DataFrame, *, directed: bool):
    idx = pd.Index(nodes.index)
    ui = idx.get_indexer(edges.u)
    vi = idx.get_indexer(edges.v)
    n = len(idx)
    graph = coo_matrix((np.ones(len(ui)), (ui, vi)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=directed, connection="strong" if directed else "weak")
    biggest = np.bincount(labels).argmax()
    keep_node = labels == biggest
    keep_edge = keep_node[ui] & keep_node[vi]
    return nodes[keep_node], edges[keep_edge]


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
