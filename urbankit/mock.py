"""Seeded synthetic cities, shared by tests, documentation examples and benchmarks.

:func:`grid_extract` builds an :class:`~urbankit.OSMExtract` of a regular street grid in the
manner of Barcelona's Eixample: square blocks, a wider arterial every few streets, optionally
alternating one-way residential streets and block-sized apartment buildings. Because the nodes are
placed exactly in the local UTM zone (the CRS :func:`urbankit.build_network` picks), every edge of a
network built from it is ``block_m`` long to well under a millimetre, so results can be checked
against hand formulas.

:func:`random_destinations` scatters destinations of the taxonomy's services around random nodes,
with the columns of :func:`urbankit.destinations`.

Examples
--------
>>> import urbankit as uk
>>> from urbankit.mock import grid_extract, random_destinations
>>> ex = grid_extract(4, 3)
>>> walk = uk.build_network(ex, "walk", cache=False)
>>> len(walk.nodes), len(walk.edges)          # (4+1)*(3+1) nodes, 4*4 + 3*5 edges
(20, 31)
>>> round(float(walk.edges.length_m.min()), 6), round(float(walk.edges.length_m.max()), 6)
(113.0, 113.0)
>>> dest = random_destinations(walk, per_service=2, seed=1)
>>> dest.columns.tolist()
['service', 'function', 'osm_type', 'osm_id', 'name', 'geometry']
"""

from __future__ import annotations

import hashlib
import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import InvalidOptionError
from .osm import BUILDING_TAGS, STREET_TAGS, OSMExtract, StreetCollector, empty_buildings, empty_features

#: bumped whenever the generated content changes for the same parameters (part of ``sha256``)
MOCK_VERSION = 1

#: first id of the synthetic destination nodes (far above the street node ids)
DESTINATION_ID_BASE = 9_000_000_000


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidOptionError(f"{name}={value!r} must be a whole number >= {minimum}.")
    return int(value)


def _utm_crs_for(lon: float, lat: float) -> str:
    from .network import estimate_utm_crs

    return estimate_utm_crs(np.array([lon]), np.array([lat]))


def grid_extract(
    nx_blocks: int,
    ny_blocks: int,
    *,
    block_m: float = 113.0,
    arterial_every: int | None = 3,
    origin_lonlat: tuple[float, float] = (2.1500, 41.3800),
    oneway_residential: bool = False,
    buildings: bool = False,
    seed: int | None = None,
    name: str | None = None,
) -> OSMExtract:
    """A synthetic street grid of ``nx_blocks`` x ``ny_blocks`` square blocks as an OSM extract.

    Parameters
    ----------
    nx_blocks, ny_blocks : int
        Blocks west-east and south-north (at least 1 each). The grid has
        ``(nx_blocks + 1) * (ny_blocks + 1)`` intersection nodes.
    block_m : float, default 113.0
        Distance between neighbouring intersections in metres (Eixample's street spacing).
    arterial_every : int or None, default 3
        Street lines ``0, k, 2k, ...`` (in each direction) are ``highway=secondary`` with
        ``maxspeed=50``; the others are ``highway=residential`` with ``maxspeed=30``. ``None`` or
        0: every street is residential.
    origin_lonlat : (float, float), default (2.15, 41.38)
        Longitude and latitude of the south-west corner node (default: Barcelona).
    oneway_residential : bool, default False
        Make residential streets one-way (``oneway=yes``), alternating by line index: even lines
        run east (rows) or north (columns), odd lines west or south. Arterials stay two-way.
    buildings : bool, default False
        Add one footprint per block (the block inset by 10% of ``block_m`` on every side), tagged
        ``building=apartments`` and ``building:levels=5``.
    seed : int, optional
        ``None`` numbers nodes row by row from 1 (node ``(i, j)`` has id ``1 + j * (nx_blocks + 1)
        + i``) and ways in order. An integer assigns random distinct positive ids to nodes, ways and
        buildings instead (same seed, same ids), to check that results do not depend on id order.
        The geometry is the same either way.
    name : str, optional
        Name used in ``source`` (default derived from the parameters).

    Returns
    -------
    OSMExtract
        ``ways``: one OSM way per street line (each row and each column of nodes is a single way
        through all its nodes, so networks split it at every intersection); ``features``: empty;
        ``buildings``: as above or empty; ``source``: ``"mock:grid_<nx>x<ny>..."``; ``sha256``: a
        hash of the parameters, so network caches key correctly.

    Notes
    -----
    Nodes are placed exactly on a square lattice in the UTM zone that
    :func:`urbankit.networks.estimate_utm_crs` chooses for the grid, then converted to degrees with
    pyproj; networks built from the extract (in that UTM zone) therefore have edges of ``block_m``
    metres to better than 1e-6 m.

    At the default walking speed (4.8 km/h) the default block of 113 m takes 1.4125 minutes,
    exactly half-way between two steps of the 0.001-minute time grid
    (:func:`urbankit.networks.quantize_minutes`): walk edge times are 1.412 or 1.413 depending on
    sub-nanometre differences of the projected lengths. Use e.g. ``block_m=112.0`` (1.4 min) when a
    test needs identical edge times.

    Examples
    --------
    >>> ex = grid_extract(2, 1)
    >>> ex
    OSMExtract(source='mock:grid_2x1', street_ways=5, way_nodes=12, features=0, buildings=0)
    >>> ex.ways[["way_id", "highway", "maxspeed"]].values.tolist()  # doctest: +NORMALIZE_WHITESPACE
    [[1, 'secondary', '50'], [2, 'residential', '30'], [3, 'secondary', '50'],
     [4, 'residential', '30'], [5, 'residential', '30']]
    """
    from pyproj import Transformer

    nxb = _check_int("nx_blocks", nx_blocks, 1)
    nyb = _check_int("ny_blocks", ny_blocks, 1)
    if isinstance(block_m, bool) or not isinstance(block_m, (int, float)) or not math.isfinite(block_m) or block_m <= 0:
        raise InvalidOptionError(f"block_m={block_m!r} must be a positive number of metres, e.g. 113.0.")
    every = 0 if arterial_every is None else _check_int("arterial_every", arterial_every, 0)
    lon0, lat0 = (float(v) for v in origin_lonlat)
    if not (-180 <= lon0 <= 180 and -80 <= lat0 <= 84):
        raise InvalidOptionError(f"origin_lonlat={origin_lonlat!r} must be (lon, lat) in degrees inside the UTM range.")
    if seed is not None:
        seed = _check_int("seed", seed, 0)
    block_m = float(block_m)
    params = {
        "kind": "grid",
        "version": MOCK_VERSION,
        "nx": nxb,
        "ny": nyb,
        "block_m": block_m,
        "arterial_every": every,
        "origin": [lon0, lat0],
        "oneway_residential": bool(oneway_residential),
        "buildings": bool(buildings),
        "seed": seed,
    }
    sha = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    if name is None:
        name = f"grid_{nxb}x{nyb}"
        if block_m != 113.0:
            name += f"_{block_m:g}m"
        if oneway_residential:
            name += "_oneway"
        if seed is not None:
            name += f"_seed{seed}"

    ncol, nrow = nxb + 1, nyb + 1
    # lattice in the UTM zone build_network will pick: that zone depends on the grid's centre, so
    # place the grid once in the origin's zone and re-place it if the centre falls in another
    from .network import estimate_utm_crs

    crs = _utm_crs_for(lon0, lat0)
    ii, jj = np.meshgrid(np.arange(ncol), np.arange(nrow))  # shape (nrow, ncol): [j, i]
    for _ in range(3):
        x0, y0 = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon0, lat0)
        to_wgs = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        glon, glat = to_wgs.transform((x0 + ii * block_m).ravel(), (y0 + jj * block_m).ravel())
        glon, glat = np.asarray(glon).reshape(nrow, ncol), np.asarray(glat).reshape(nrow, ncol)
        chosen = estimate_utm_crs(glon.ravel(), glat.ravel())
        if chosen == crs:
            break
        crs = chosen

    rng = np.random.default_rng(seed) if seed is not None else None
    n_nodes = nrow * ncol
    n_ways = nrow + ncol
    if rng is None:
        node_ids = np.arange(1, n_nodes + 1, dtype=np.int64).reshape(nrow, ncol)
        way_ids = np.arange(1, n_ways + 1, dtype=np.int64)
    else:
        node_ids = (rng.choice(10 * n_nodes, size=n_nodes, replace=False) + 1).astype(np.int64).reshape(nrow, ncol)
        way_ids = (rng.choice(10 * n_ways, size=n_ways, replace=False) + 1).astype(np.int64)

    def row_tags(line: int, label: str) -> tuple:
        arterial = every > 0 and line % every == 0
        tags = dict.fromkeys(STREET_TAGS)
        tags["highway"] = "secondary" if arterial else "residential"
        tags["maxspeed"] = "50" if arterial else "30"
        tags["name"] = f"{label} {line}"
        if oneway_residential and not arterial:
            tags["oneway"] = "yes"
        return tuple(tags[k] for k in STREET_TAGS), arterial

    streets = StreetCollector()
    k = 0
    # row lines (constant j), drawn west -> east; odd one-way lines reversed (east -> west)
    for j in range(nrow):
        row, arterial = row_tags(j, "Row")
        sl = slice(None, None, -1) if (oneway_residential and not arterial and j % 2) else slice(None)
        streets.add_run(int(way_ids[k]), row, node_ids[j, sl].tolist(), glon[j, sl].tolist(), glat[j, sl].tolist())
        k += 1
    # column lines (constant i), drawn south -> north; odd one-way lines reversed (north -> south)
    for i in range(ncol):
        row, arterial = row_tags(i, "Column")
        sl = slice(None, None, -1) if (oneway_residential and not arterial and i % 2) else slice(None)
        streets.add_run(int(way_ids[k]), row, node_ids[sl, i].tolist(), glon[sl, i].tolist(), glat[sl, i].tolist())
        k += 1
    ways, way_nodes = streets.frames()

    bld = empty_buildings()
    if buildings:
        inset = 0.1 * block_m
        bi, bj = np.meshgrid(np.arange(nxb), np.arange(nyb))
        bi, bj = bi.ravel(), bj.ravel()
        x_lo, y_lo = x0 + bi * block_m + inset, y0 + bj * block_m + inset
        x_hi, y_hi = x_lo + block_m - 2 * inset, y_lo + block_m - 2 * inset
        ring_x = np.column_stack([x_lo, x_hi, x_hi, x_lo, x_lo]).ravel()
        ring_y = np.column_stack([y_lo, y_lo, y_hi, y_hi, y_lo]).ravel()
        rlon, rlat = to_wgs.transform(ring_x, ring_y)
        polys = shapely.polygons(np.column_stack([rlon, rlat]).reshape(-1, 5, 2))
        n_b = len(bi)
        if rng is None:
            b_ids = np.arange(n_ways + 1, n_ways + n_b + 1, dtype=np.int64)
        else:
            b_ids = (rng.choice(10 * n_b, size=n_b, replace=False) + 10 * n_ways + 1).astype(np.int64)
        frame = pd.DataFrame({"osm_type": "way", "osm_id": b_ids})
        for key in BUILDING_TAGS:
            frame[key] = None
        frame["building"] = "apartments"
        frame["building:levels"] = "5"
        bld = gpd.GeoDataFrame(frame, geometry=polys, crs="EPSG:4326")

    return OSMExtract(
        ways=ways,
        way_nodes=way_nodes,
        features=empty_features(),
        buildings=bld,
        source=f"mock:{name}",
        sha256=sha,
        meta={"mock": params, "utm_crs": crs},
    )


def grid_size_for(n_nodes_target: int) -> tuple[int, int]:
    """``(nx_blocks, ny_blocks)`` of the square grid whose node count is closest to the target.

    >>> grid_size_for(10_000)
    (99, 99)
    >>> grid_size_for(100_000)   # 316 x 316 = 99,856 nodes
    (315, 315)
    """
    n = _check_int("n_nodes_target", n_nodes_target, 4)
    side = max(2, round(math.sqrt(n)))
    return side - 1, side - 1


def grid_nodes(n_nodes_target: int, **kwargs) -> OSMExtract:
    """:func:`grid_extract` of a square grid with about ``n_nodes_target`` nodes.

    Keyword arguments go to :func:`grid_extract`.

    >>> ex = grid_nodes(100)
    >>> ex.way_nodes.node_id.nunique()
    100
    """
    nxb, nyb = grid_size_for(n_nodes_target)
    return grid_extract(nxb, nyb, **kwargs)


def random_destinations(
    network_or_extract,
    *,
    services: list[str] | None = None,
    per_service: int = 20,
    max_offset_m: float = 40.0,
    seed: int | None = 0,
    taxonomy=None,
) -> gpd.GeoDataFrame:
    """Random destinations near the nodes of a network or extract (the schema of :func:`urbankit.destinations`).

    Each destination lies at a uniformly random distance of 0 to ``max_offset_m`` metres, in a
    uniformly random direction, from a node drawn at random (with replacement).

    Parameters
    ----------
    network_or_extract : StreetNetwork or OSMExtract
        Where to place them: the network's nodes, or every street node of the extract (a network
        keeping every node of its extract gives the same destinations for the same seed).
    services : list of str, optional
        Services to place; default every service of the taxonomy.
    per_service : int, default 20
        Destinations per service.
    max_offset_m : float, default 40
        Largest distance from the chosen node, in metres.
    seed : int, optional
        Seed of the random generator (same seed, same destinations).
    taxonomy : Taxonomy or what :func:`urbankit.load_taxonomy` accepts, optional
        Gives the services' functions; default the packaged taxonomy.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326; ``service``, ``function``, ``osm_type`` (``"node"``), ``osm_id`` (distinct ids
        from :data:`DESTINATION_ID_BASE`), ``name`` and point geometry, sorted by service and id
        with index ``0..n-1``; ``attrs["taxonomy"]`` holds the taxonomy as a dict.

    Examples
    --------
    >>> from urbankit.mock import grid_extract, random_destinations
    >>> d = random_destinations(grid_extract(3, 3), services=["grocery", "pharmacy"], per_service=3, seed=7)
    >>> d[["service", "function", "osm_type"]].value_counts().sort_index().tolist()
    [3, 3]
    >>> d.crs.to_string()
    'EPSG:4326'
    """
    from pyproj import Transformer

    from .destinations import _STRING_DTYPE, load_taxonomy
    from .network import StreetNetwork, estimate_utm_crs

    tax = taxonomy if hasattr(taxonomy, "services") else load_taxonomy(taxonomy)
    if services is None:
        services = tax.service_names()
    services = list(services)
    function_of = {s: tax.function_of(s) for s in services}  # raises for unknown services
    per = _check_int("per_service", per_service, 0)
    if isinstance(max_offset_m, bool) or not isinstance(max_offset_m, (int, float)) or not max_offset_m >= 0:
        raise InvalidOptionError(f"max_offset_m={max_offset_m!r} must be a number of metres >= 0.")
    if isinstance(network_or_extract, StreetNetwork):
        lon = network_or_extract.nodes["lon"].to_numpy(float)
        lat = network_or_extract.nodes["lat"].to_numpy(float)
    elif isinstance(network_or_extract, OSMExtract):
        # sorted by id like a network's nodes, so both give the same points for the same seed
        wn = network_or_extract.way_nodes.drop_duplicates("node_id").sort_values("node_id")
        lon, lat = wn["lon"].to_numpy(float), wn["lat"].to_numpy(float)
    else:
        raise InvalidOptionError("network_or_extract must be a StreetNetwork or an OSMExtract.")
    if len(lon) == 0:
        raise InvalidOptionError("the network or extract has no nodes to place destinations at.")
    crs = estimate_utm_crs(lon, lat)
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    x, y = np.asarray(x), np.asarray(y)

    rng = np.random.default_rng(seed)
    n = per * len(services)
    at = rng.integers(0, len(x), size=n)
    dist = rng.uniform(0.0, float(max_offset_m), size=n)
    angle = rng.uniform(0.0, 2 * math.pi, size=n)
    px, py = x[at] + dist * np.cos(angle), y[at] + dist * np.sin(angle)
    plon, plat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(px, py)
    service_col = np.repeat(np.asarray(services, dtype=object), per)
    ids = DESTINATION_ID_BASE + np.arange(n, dtype=np.int64)
    text = _STRING_DTYPE
    frame = pd.DataFrame(
        {
            "service": pd.Series(service_col, dtype=text),
            "function": pd.Series([function_of[s] for s in service_col], dtype=text),
            "osm_type": pd.Series(np.full(n, "node", dtype=object), dtype=text),
            "osm_id": ids,
            "name": pd.Series(
                [f"{s} {k}" for s, k in zip(service_col, np.tile(np.arange(per), len(services)))], dtype=text
            ),
        }
    )
    out = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(plon, plat), crs="EPSG:4326")
    out = out.sort_values(["service", "osm_type", "osm_id"], kind="stable").reset_index(drop=True)
    out.attrs["taxonomy"] = tax.to_dict()
    return out
