"""demand part of :mod:`urbankit.superblocks`."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._deprecation import renamed_kwargs
from .._errors import CRSError, InvalidOptionError
from ..network import TIME_RESOLUTION_MIN, StreetNetwork
from ..zones import h3_cells
from ._common import _check_network, _jobs, _number, _per_node
from .assign import _execute, _GravityTrips, _Pass, _steps
from .graph import _build_graph

logger = logging.getLogger(__name__)


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
        cells = h3_cells(network.nodes["lon"].to_numpy(float), network.nodes["lat"].to_numpy(float), resolution)
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


def _gravity_setup(network, population, destinations, trips_per_resident, beta_per_min, h3_resolution):
    pop = _per_node(population, network, "population")
    if pop is None:
        logger.info("no population given: every node counts as 1 resident")
        pop = np.ones(len(network.nodes))
    _number("trips_per_resident", trips_per_resident, low=0.0)
    _number("beta_per_min", beta_per_min, low=0.0)
    if h3_resolution is not None and (
        isinstance(h3_resolution, bool)
        or not isinstance(h3_resolution, (int, np.integer))
        or not 0 <= h3_resolution <= 15
    ):
        raise InvalidOptionError(
            f"h3_resolution={h3_resolution!r} must be an H3 resolution 0..15 or None (every node)."
        )
    attr = _destination_weights(network, destinations, pop)
    if pop.sum() <= 0:
        raise InvalidOptionError("population sums to 0: there is nobody to make trips.")
    if attr.sum() <= 0:
        raise InvalidOptionError("destinations sum to 0: trips have nowhere to go.")
    _, rep, p_z, a_z = _zones(network, pop, attr, h3_resolution)
    oz, dz = _gravity_rows(rep, p_z, a_z)
    if len(oz) == 0:
        raise InvalidOptionError(
            "the gravity model has no pair of distinct zones with residents and destinations; use a finer "
            "h3_resolution (or None for every node)."
        )
    return rep, p_z, a_z, oz, dz


@renamed_kwargs(zones_resolution="h3_resolution")
def gravity_demand(
    network: StreetNetwork,
    population=None,
    destinations=None,
    *,
    trips_per_resident: float = 0.5,
    beta_per_min: float = 0.1,
    h3_resolution: int | None = 8,
    n_trips: float | None = None,
    n_jobs: int | None = 1,
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
    h3_resolution : int or None, default 8
        H3 resolution of the zones (8: about 0.74 km²; 9: about 0.1 km², near one superblock); None:
        every node is its own zone (exact, but slow beyond a few thousand nodes).
    n_trips : float, optional
        Scale the trips to this total per day instead of using ``trips_per_resident``.
    n_jobs : int, optional
        Threads for the cost searches (default 1; -1: all available cores).

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
    is missing and internal flows fall more than they would: use ``h3_resolution=9`` (about one
    superblock per zone) or ``None`` where access traffic matters and the area is small enough
    (the assignment runs one Dijkstra per distinct origin).
    """
    _check_network(network)
    od, *_ = _gravity_pass(
        network,
        population=population,
        destinations=destinations,
        trips_per_resident=trips_per_resident,
        beta_per_min=beta_per_min,
        h3_resolution=h3_resolution,
        n_trips=n_trips,
        jobs=_jobs(n_jobs),
        trees=False,
    )
    return od


def _gravity_pass(
    network,
    *,
    population,
    destinations,
    trips_per_resident,
    beta_per_min,
    h3_resolution,
    n_trips,
    jobs,
    trees,
    node_sb=None,
):
    """The one gravity computation: the OD frame, and from the same pass the free-flow edge flows,
    steps, metres and trips per OD row (the before assignment of :func:`run_scenario` when ``trees``),
    and with ``node_sb`` (superblock of every node position, -1: none) the edge flows of the rows with
    neither end in a superblock (their rat-running; else None)."""
    rep, p_z, a_z, oz, dz = _gravity_setup(
        network, population, destinations, trips_per_resident, beta_per_min, h3_resolution
    )
    _number("n_trips", n_trips, low=0.0, allow_none=True)
    n_edges = len(network.edges)
    g0 = _build_graph(network, _steps(network.edges["time_min"].to_numpy(float)))
    o, d = rep[oz], rep[dz]
    p = _Pass.make(g0, o, d, None, n_edges, trees=trees)
    p.weight = _GravityTrips(p_z[oz][_first_of_tasks(p)] * trips_per_resident, a_z[dz], beta_per_min)
    if node_sb is not None and trees:
        flows, steps, metres, trips, through = _execute(p, len(o), jobs, split=(node_sb[o] < 0) & (node_sb[d] < 0))
    else:
        (flows, steps, metres, trips), through = _execute(p, len(o), jobs), None
    od = _gravity_frame(network, o, d, trips, steps, n_trips, trips_per_resident, beta_per_min, h3_resolution, len(rep))
    return od, flows, steps, metres, trips, through


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
