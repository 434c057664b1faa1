"""detect part of :mod:`urbankit.superblocks`."""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from .._errors import CRSError, InvalidOptionError, NoStreetsError
from ..network import StreetNetwork
from ._common import (
    _RECORD,
    ALWAYS_THROUGH_HIGHWAYS,
    DEFAULT_MAX_AREA_HA,
    DEFAULT_MIN_AREA_HA,
    DEFAULT_STREET_WIDTH_M,
    DEFAULT_THROUGH_HIGHWAYS,
    METHODS,
    RESIDENTIAL_HIGHWAYS,
    STREET_WIDTH_M,
    _check_network,
    _examples,
    _fingerprint,
    _geom_hash,
    _number,
    _per_node,
    _Segments,
)

logger = logging.getLogger(__name__)


def _faces(geoms: np.ndarray) -> np.ndarray:
    """Bounded faces of a set of lines meeting at their end points (``shapely.polygonize``)."""
    if len(geoms) == 0:
        return np.empty(0, dtype=object)
    return np.asarray(shapely.get_parts(shapely.polygonize(np.asarray(geoms, dtype=object))), dtype=object)


def _inside_labels(points: np.ndarray, polys: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Polygon position holding each point more than ``tolerance_m`` inside (-1: none; smallest wins)."""
    out = np.full(len(points), -1, dtype=np.int64)
    if len(polys) == 0 or len(points) == 0:
        return out
    tree = shapely.STRtree(polys)
    pi, qi = tree.query(points, predicate="within")
    if len(pi):
        far = shapely.distance(points[pi], shapely.boundary(polys[qi])) > tolerance_m
        pi, qi = pi[far], qi[far]
        order = np.lexsort((shapely.area(polys[qi]), pi))  # by point, smallest polygon first
        pi, qi = pi[order], qi[order]
        first = np.ones(len(pi), bool)
        first[1:] = pi[1:] != pi[:-1]
        out[pi[first]] = qi[first]
    return out


def _lines_through(
    seg: _Segments,
    *,
    target_spacing_m: float,
    grid_every: int | None,
    through_highways,
    always_through,
    angle_tol_deg: float = 10.0,
    offset_tol_m: float = 15.0,
):
    """Through mask (per segment) of the grid method, and a description of the detected grid."""
    coords = shapely.get_coordinates(seg.geoms, return_index=False)
    counts = shapely.get_num_coordinates(seg.geoms)
    last = np.cumsum(counts) - 1
    first = last - counts + 1
    dx, dy = coords[last, 0] - coords[first, 0], coords[last, 1] - coords[first, 1]
    chord = np.hypot(dx, dy)
    ang = np.degrees(np.arctan2(dy, dx)) % 180.0
    w = np.where(chord > 0, seg.length, 0.0)
    total = w.sum()
    if total <= 0:
        raise InvalidOptionError("method='grid': the network has no street with a direction.")
    hist = np.bincount(np.floor(ang).astype(int) % 180, weights=w, minlength=180)
    smooth = sum(np.roll(hist, s) for s in range(-2, 3))

    def circ(a, b):
        d = np.abs(a - b) % 180.0
        return np.minimum(d, 180.0 - d)

    def refine(peak: float) -> float:
        near = circ(ang, peak) <= 5.0
        z = np.sum(w[near] * np.exp(2j * np.radians(ang[near])))
        return float(np.degrees(np.angle(z)) / 2.0) % 180.0

    th1 = refine(float(np.argmax(smooth)) + 0.5)
    far = circ(np.arange(180) + 0.5, th1) >= 45.0
    th2 = refine(float(np.argmax(np.where(far, smooth, -1.0))) + 0.5)
    d1, d2 = circ(ang, th1), circ(ang, th2)
    orient = np.where((d1 <= angle_tol_deg) & (d1 <= d2), 0, np.where(d2 <= angle_tol_deg, 1, -1))
    orient[chord <= 0] = -1
    share = w[orient >= 0].sum() / total
    if share < 0.5:
        raise InvalidOptionError(
            f"method='grid': the network is not a grid: only {share:.0%} of its street length runs along the two "
            f"dominant orientations ({th1:.0f} and {th2:.0f} degrees); use method='arterial' or 'residential', "
            "or give polygons."
        )
    is_through_class = np.isin(seg.highway, list(through_highways))
    through = np.isin(seg.highway, list(always_through))
    info = {"orientations_deg": (round(th1, 1), round(th2, 1)), "grid_share": float(share)}
    for o, th in ((0, th1), (1, th2)):
        sel = np.flatnonzero(orient == o)
        if len(sel) == 0:
            continue
        t = np.radians(th)
        mx, my = shapely.get_x(seg.mid[sel]), shapely.get_y(seg.mid[sel])
        off = -np.sin(t) * mx + np.cos(t) * my
        order = np.argsort(off, kind="stable")
        so = off[order]
        tol = offset_tol_m
        for _ in range(6):  # merge parallel carriageways: tolerance 0.3 x spacing, from 15 m up to 50 m
            line_of_sorted = np.concatenate([[0], np.cumsum(np.diff(so) > tol)])
            line = np.empty(len(sel), dtype=np.int64)
            line[order] = line_of_sorted
            n_lines = int(line.max()) + 1
            lw = np.bincount(line, weights=seg.length[sel], minlength=n_lines)
            loff = np.bincount(line, weights=seg.length[sel] * off, minlength=n_lines) / np.maximum(lw, 1e-12)
            gaps = np.diff(loff)
            spacing = float(np.median(gaps)) if len(gaps) else float("inf")
            new_tol = min(max(offset_tol_m, 0.3 * spacing), 50.0) if math.isfinite(spacing) else tol
            if new_tol <= tol + 1e-9:
                break
            tol = new_tol
        if len(gaps) == 0:
            idx = np.zeros(n_lines, dtype=np.int64)
        else:
            steps = np.maximum(1, np.rint(gaps / spacing)).astype(np.int64)
            idx = np.concatenate([[0], np.cumsum(steps)])
        if grid_every is not None:
            k = int(grid_every)
        else:
            k = max(1, math.floor(1.1 * target_spacing_m / spacing)) if math.isfinite(spacing) else 1
        art = np.bincount(line, weights=np.where(is_through_class[sel], seg.length[sel], 0.0), minlength=n_lines)
        scores = [art[idx % k == p].sum() for p in range(k)]
        phase = int(np.argmax(scores))
        chosen_line = idx % k == phase
        through[sel[chosen_line[line]]] = True
        info[f"spacing_{o}_m"] = round(spacing, 2)
        info[f"every_{o}"] = k
        info[f"phase_{o}"] = phase
        info[f"lines_{o}"] = n_lines
    return through, info


def _through_components(network: StreetNetwork, seg: _Segments, non_res_seg: np.ndarray):
    """Residential method: largest weakly connected part of the non-residential streets, and components."""
    nodes = network.nodes.index
    e = network.edges
    rows = seg.rows
    u = nodes.get_indexer(e["u"].to_numpy()[rows])
    v = nodes.get_indexer(e["v"].to_numpy()[rows])
    n = len(nodes)
    sel = np.flatnonzero(non_res_seg)
    if len(sel) == 0:
        return np.zeros(len(rows), bool), None
    g = coo_matrix((np.ones(len(sel)), (u[sel], v[sel])), shape=(n, n)).tocsr()
    _, lab = connected_components(g, directed=False)
    touched = np.zeros(n, bool)
    touched[u[sel]] = True
    touched[v[sel]] = True
    counts = np.bincount(lab[touched], minlength=lab.max() + 1)
    big = int(np.argmax(counts))
    through = non_res_seg & (lab[u] == big) & (lab[v] == big)
    tnode = np.zeros(n, bool)
    tnode[u[through]] = True
    tnode[v[through]] = True
    rest = np.flatnonzero(~through)
    both_free = rest[~tnode[u[rest]] & ~tnode[v[rest]]]
    g2 = coo_matrix((np.ones(len(both_free)), (u[both_free], v[both_free])), shape=(n, n)).tocsr()
    _, clab = connected_components(g2, directed=False)
    comp = np.full(len(rows), -1, dtype=np.int64)
    cu = np.where(~tnode[u[rest]], clab[u[rest]], np.where(~tnode[v[rest]], clab[v[rest]], -1))
    lone = cu < 0
    cu[lone] = clab.max() + 1 + np.arange(lone.sum())
    comp[rest] = cu
    return through, comp


def find_superblocks(
    network: StreetNetwork,
    *,
    method: str = "auto",
    polygons=None,
    through_highways=DEFAULT_THROUGH_HIGHWAYS,
    always_through=ALWAYS_THROUGH_HIGHWAYS,
    target_spacing_m: float = 400.0,
    grid_every: int | None = None,
    min_area_ha: float | None = DEFAULT_MIN_AREA_HA,
    max_area_ha: float | None = DEFAULT_MAX_AREA_HA,
    population=None,
    min_residents: float = 0.0,
    street_width_m: dict | None = None,
    tolerance_m: float = 1.0,
    isolated: str | None = None,
) -> gpd.GeoDataFrame:
    """Candidate superblocks of a street network.

    Parameters
    ----------
    network : StreetNetwork
        Usually the drive network (any mode works for detection).
    method : {"auto", "arterial", "grid", "residential", "polygons"}, default "auto"
        How cells are found (see the module docstring).
    polygons : GeoDataFrame, GeoSeries or list of shapely polygons, optional
        The cells for ``method="polygons"`` (given ``polygons`` implies that method). Frames need a
        CRS (they are reprojected); bare shapely geometries are taken in the network's CRS.
    through_highways : sequence of str
        Highway classes of the through network (``arterial``; in ``grid`` the classes whose length
        decides the phase of the chosen lines).
    always_through : sequence of str
        Classes that stay through streets in the ``grid`` method.
    target_spacing_m : float, default 400
        Largest distance between the through streets the ``grid`` method chooses (+10%).
    grid_every : int, optional
        Choose every ``grid_every``-th street line instead of deriving it from the spacing.
    min_area_ha, max_area_ha : float or None, default 4 and 40
        Cells outside this area range are dropped (None: no bound). Not applied to user polygons.
    population : PopulationEstimate or Series indexed by node_id, optional
        Residents per node, for the ``residents`` column and ``min_residents``.
    min_residents : float, default 0
        Cells with fewer residents are dropped (needs ``population``).
    street_width_m : dict, optional
        Carriageway width per highway class, overriding :data:`STREET_WIDTH_M`.
    tolerance_m : float, default 1
        A street is internal when its middle is more than this inside the cell.
    isolated : {"open", "drop", "keep"}, optional
        What to do with detected cells failing the isolated-cell check: a node inside that cannot
        be reached from the through network, or cannot reach it, on the cell's internal streets in
        their driving directions (one-way streets). ``"open"``: its internal streets at such nodes
        become through streets (repeated until every node inside passes; a cell left without
        internal street is dropped), ``"drop"``: drop the cell, ``"keep"``: keep it and report
        the count in ``n_unreachable_nodes``. Default ``"open"`` for ``auto``, ``"keep"``
        otherwise. What was done is logged and kept in ``attrs`` (``opened_streets``,
        ``dropped_isolated``).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per candidate, in the network's CRS: ``superblock_id`` (0..n-1), ``geometry``,
        ``area_ha``, ``residents`` (NaN without population; residents of nodes on the boundary of
        several candidates are shared equally), ``n_internal_edges`` and ``internal_length_m``
        (street segments inside, each two-way street counted once), ``internal_street_area_m2``
        (length times the class width), ``n_nodes_inside``, ``perimeter_length_m`` (street length
        along the boundary), ``perimeter_streets`` (their names, ``"; "``-joined),
        ``n_unreachable_nodes`` (the isolated-cell check), ``rank`` (1 = first: most residents, then
        most internal street length), ``method`` (how the cell was found: ``arterial``, ``grid``
        (for ``auto``: a subdivided arterial cell), ``residential`` or ``polygons``).
        ``attrs`` remembers the detection (method, parameters, and which edges are internal, used by
        :func:`label_edges` on the same network).

    Raises
    ------
    NoStreetsError
        No through street (``arterial``), or no cell of a suitable size.
    InvalidOptionError
        Bad option, a non-grid network for ``grid``, polygons outside the network's area or
        overlapping each other.
    CRSError
        Polygons given as a frame without CRS.
    """
    _check_network(network)
    if polygons is not None and method == "auto":
        method = "polygons"
    if method not in METHODS:
        raise InvalidOptionError(f"method={method!r} is not one of {METHODS}.")
    _number("target_spacing_m", target_spacing_m, low=0, strict_low=True)
    _number("min_area_ha", min_area_ha, low=0, allow_none=True)
    _number("max_area_ha", max_area_ha, low=0, strict_low=True, allow_none=True)
    _number("min_residents", min_residents, low=0)
    _number("tolerance_m", tolerance_m, low=0)
    if grid_every is not None and (
        isinstance(grid_every, bool) or not isinstance(grid_every, (int, np.integer)) or grid_every < 1
    ):
        raise InvalidOptionError(f"grid_every={grid_every!r} must be a whole number >= 1.")
    if isinstance(through_highways, str) or isinstance(always_through, str):
        raise InvalidOptionError(
            "through_highways and always_through must be lists of highway classes, e.g. ['primary']."
        )
    through_highways = tuple(str(h).lower() for h in through_highways)
    always_through = tuple(str(h).lower() for h in always_through)
    pop = _per_node(population, network, "population")
    if min_residents > 0 and pop is None:
        raise InvalidOptionError("min_residents needs population (residents per node).")
    if method == "polygons" and polygons is None:
        raise InvalidOptionError("method='polygons' needs polygons=...")
    widths = dict(STREET_WIDTH_M, **(street_width_m or {}))

    seg = _Segments.of(network)
    info: dict = {}
    if method == "polygons":
        polys = _user_polygons(polygons, network)
        seg_lab = _inside_labels(seg.mid, polys, tolerance_m)
        used = "polygons"
    elif method == "residential":
        polys, seg_lab = _residential(network, seg, tolerance_m)
        used = "residential"
    else:
        polys, how = _detect_cells(
            seg,
            network,
            method=method,
            through_highways=through_highways,
            always_through=always_through,
            target_spacing_m=target_spacing_m,
            grid_every=grid_every,
            max_area_ha=max_area_ha,
            info=info,
        )
        used = str(how[0]) if len(how) and (how == how[0]).all() else "auto"
        seg_lab = _inside_labels(seg.mid, polys, tolerance_m)
    if used in ("polygons", "residential"):
        how = np.full(len(polys), used, dtype=object)

    if isolated is None:
        isolated = "open" if method == "auto" else "keep"
    if isolated not in ("open", "drop", "keep"):
        raise InvalidOptionError(f"isolated={isolated!r} must be 'open', 'drop' or 'keep'.")
    if isolated == "open" and used != "polygons":
        seg_lab = _open_isolated(network, seg, seg_lab, len(polys), info)
    frame = _describe(network, seg, polys, seg_lab, pop, widths, tolerance_m)
    frame["method"] = how
    frame["n_unreachable_nodes"] = _unreachable_nodes(network, seg_lab[seg.street], len(polys))
    if used != "polygons":
        keep = frame["n_internal_edges"].to_numpy() > 0
        if isolated == "drop":
            isolated = keep & (frame["n_unreachable_nodes"].to_numpy() > 0)
            if isolated.any():
                logger.warning(
                    "%d candidate cells dropped: inside them %d nodes cannot be reached from, or cannot reach, "
                    "the perimeter on internal streets (one-way streets); pass isolated='open' or 'keep'",
                    int(isolated.sum()),
                    int(frame["n_unreachable_nodes"].to_numpy()[isolated].sum()),
                )
                info["dropped_isolated"] = int(isolated.sum())
            keep &= ~isolated
        if min_area_ha is not None:
            keep &= frame["area_ha"].to_numpy() >= min_area_ha
        if max_area_ha is not None:
            keep &= frame["area_ha"].to_numpy() <= max_area_ha
        if min_residents > 0:
            keep &= frame["residents"].to_numpy() >= min_residents
        if not keep.any():
            raise NoStreetsError(
                f"method={used!r} found {len(frame)} cells but none with internal streets, an area within "
                f"[{min_area_ha}, {max_area_ha}] ha and at least {min_residents:g} residents; widen the bounds "
                "(min_area_ha, max_area_ha), try another method, or give polygons."
            )
        kept = np.flatnonzero(keep)
        if len(kept) < len(frame) and pop is not None:
            # residents on the boundary are shared among the kept cells only
            frame = _describe(
                network,
                seg,
                polys[kept],
                np.where(np.isin(seg_lab, kept), np.searchsorted(kept, seg_lab), -1),
                pop,
                widths,
                tolerance_m,
            )
            frame["method"] = how[kept]
            frame["n_unreachable_nodes"] = _unreachable_nodes(
                network, np.where(np.isin(seg_lab, kept), np.searchsorted(kept, seg_lab), -1)[seg.street], len(kept)
            )
        else:
            frame = frame.iloc[kept].reset_index(drop=True)
        remap = np.full(len(polys) + 1, -1, dtype=np.int64)
        remap[kept] = np.arange(len(kept))
        seg_lab = np.where(seg_lab >= 0, remap[seg_lab], -1)
    else:
        empty = frame.index[frame["n_internal_edges"] == 0].tolist()
        if empty:
            logger.warning(
                "polygons %s hold no internal street (streets inside, away from the boundary)", _examples(empty)
            )
    frame["superblock_id"] = np.arange(len(frame), dtype=np.int64)
    frame["rank"] = _rank(frame)
    cols = [
        "superblock_id",
        "area_ha",
        "residents",
        "n_internal_edges",
        "internal_length_m",
        "internal_street_area_m2",
        "n_nodes_inside",
        "perimeter_length_m",
        "perimeter_streets",
        "n_unreachable_nodes",
        "rank",
        "method",
        "geometry",
    ]
    out = gpd.GeoDataFrame(frame[cols], geometry="geometry", crs=network.crs)
    edge_lab = seg_lab[seg.street]
    rows = np.flatnonzero(edge_lab >= 0)
    out.attrs[_RECORD] = {
        "fingerprint": _fingerprint(network),
        "rows": rows,
        "ids": edge_lab[rows],
        "geometry": np.array([_geom_hash(g) for g in out.geometry], dtype="S40"),
        "method": used,
        "params": {
            "through_highways": list(through_highways),
            "target_spacing_m": target_spacing_m,
            "min_area_ha": min_area_ha,
            "max_area_ha": max_area_ha,
            "min_residents": min_residents,
            "tolerance_m": tolerance_m,
            **info,
        },
    }
    logger.info(
        "%d superblock candidates (%s method): %.1f ha median, %d internal street segments",
        len(out),
        used,
        float(out["area_ha"].median()) if len(out) else 0.0,
        int(out["n_internal_edges"].sum()),
    )
    return out


def _detect_cells(
    seg, network, *, method, through_highways, always_through, target_spacing_m, grid_every, max_area_ha, info: dict
):
    """Cells (polygons) of the arterial, grid and auto methods, and how each was found (array of str)."""

    def grid():
        through, details = _lines_through(
            seg,
            target_spacing_m=target_spacing_m,
            grid_every=grid_every,
            through_highways=through_highways,
            always_through=always_through,
        )
        info.update(details)
        faces = _faces(seg.geoms[through])
        return faces, np.full(len(faces), "grid", dtype=object)

    if method == "grid":
        return grid()
    thr = np.isin(seg.highway, list(through_highways))
    art = _faces(seg.geoms[thr]) if thr.any() else np.empty(0, dtype=object)
    if not thr.any():
        present = pd.Series(seg.highway).value_counts().head(6).index.tolist()
        msg = (
            f"no through-street network found: no street of the network is one of {list(through_highways)} "
            f"(its most common classes: {present}). Use method='grid' for a street grid, method='residential', "
            "pass through_highways=[...], or give polygons."
        )
        if method == "arterial":
            raise NoStreetsError(msg)
    if method == "arterial":
        return art, np.full(len(art), "arterial", dtype=object)
    if len(art) == 0:
        logger.info("no arterial cell: trying the grid method on the whole network")
        try:
            return grid()
        except InvalidOptionError as exc:
            raise NoStreetsError(f"{msg if not thr.any() else 'the through streets enclose no cell.'} {exc}") from exc
    return _subdivide(
        seg,
        art,
        thr,
        target_spacing_m=target_spacing_m,
        grid_every=grid_every,
        through_highways=through_highways,
        always_through=always_through,
        info=info,
    )


#: ``auto``: arterial cells larger than this many target cells (``target_spacing_m`` squared) are
#: subdivided by the grid method inside them
SPLIT_FACTOR = 1.5
#: ``auto``: parts of a subdivided cell smaller than this share of a target cell are merged into
#: the neighbouring part they share most boundary with (slivers along side lanes, odd remainders)
MERGE_FACTOR = 0.4


class _SubSegments:
    """A subset of :class:`_Segments` with the attributes :func:`_lines_through` reads."""

    def __init__(self, seg, idx: np.ndarray):
        self.geoms, self.length = seg.geoms[idx], seg.length[idx]
        self.mid, self.highway = seg.mid[idx], seg.highway[idx]


def _subdivide(seg, art, thr, *, target_spacing_m, grid_every, through_highways, always_through, info: dict):
    """``auto``: arterial cells, each one larger than :data:`SPLIT_FACTOR` target cells cut by the grid
    method run on its own streets (the lines' phase follows the arterials on its boundary); parts
    smaller than :data:`MERGE_FACTOR` target cells are merged into a neighbouring part."""
    target_ha = target_spacing_m**2 / 1e4
    areas = shapely.area(art) / 1e4
    big = np.flatnonzero(areas > SPLIT_FACTOR * target_ha)
    chosen = np.zeros(len(seg.geoms), bool)
    tried = {}
    margin = 0.15 * target_spacing_m  # boundary streets and their side lanes set the phase
    mids = shapely.STRtree(seg.mid) if len(big) else None
    for k in big:
        idx = np.sort(mids.query(art[k], predicate="dwithin", distance=margin))  # inside or near the boundary
        if len(idx) < 4:
            continue
        try:
            through, details = _lines_through(
                _SubSegments(seg, idx),
                target_spacing_m=target_spacing_m,
                grid_every=grid_every,
                through_highways=through_highways,
                always_through=always_through,
            )
        except InvalidOptionError as exc:
            logger.info("arterial cell of %.1f ha kept whole: %s", areas[k], exc)
            continue
        inner = through & shapely.within(seg.mid[idx], art[k]) & ~thr[idx]
        chosen[idx[inner]] = True
        tried[int(k)] = details
    if not chosen.any():
        info["split_cells"] = 0
        return art, np.full(len(art), "arterial", dtype=object)
    faces = _faces(seg.geoms[thr | chosen])
    rep = shapely.point_on_surface(faces)
    parent = np.full(len(faces), -1, dtype=np.int64)
    tree = shapely.STRtree(art)
    fi, pi = tree.query(rep, predicate="within")
    parent[fi] = pi
    out, how = [], []
    for k in range(len(art)):
        parts = list(faces[parent == k])
        if k not in tried or len(parts) <= 1:
            out.append(art[k])
            how.append("arterial")
            continue
        parts = _merge_small(parts, MERGE_FACTOR * target_ha * 1e4)
        out.extend(parts)
        how.extend(["grid" if len(parts) > 1 else "arterial"] * len(parts))
    n_split = sum(1 for k in tried if (parent == k).sum() > 1)
    info["split_cells"] = int(n_split)
    logger.info(
        "auto: %d arterial cells, %d larger than %.1f ha subdivided on the grid inside them -> %d cells",
        len(art),
        n_split,
        SPLIT_FACTOR * target_ha,
        len(out),
    )
    return np.asarray(out, dtype=object), np.asarray(how, dtype=object)


def _merge_small(parts: list, min_area_m2: float) -> list:
    """Merge the smallest part below ``min_area_m2`` into the neighbour sharing most boundary, repeatedly."""
    parts = list(parts)
    while len(parts) > 1:
        areas = np.array([p.area for p in parts])
        i = int(np.argmin(areas))
        if areas[i] >= min_area_m2:
            break
        edge = parts[i].boundary
        shared = np.array(
            [0.0 if j == i else shapely.length(shapely.intersection(edge, p.boundary)) for j, p in enumerate(parts)]
        )
        j = int(np.argmax(shared))
        if shared[j] <= 0:
            break
        merged = shapely.union(parts[i], parts[j])
        merged = shapely.buffer(shapely.buffer(merged, 0.01), -0.01)  # drop the seam's rounding slivers
        parts = [p for m, p in enumerate(parts) if m not in (i, j)] + [merged]
    return parts


def _unreachable_nodes(network: StreetNetwork, labels: np.ndarray, n_cells: int, *, return_nodes: bool = False):
    """The isolated-cell check: per cell, the nodes inside it that cannot be reached from the through
    network, or cannot reach it, by the scenario's routing rule (its own internal streets in their
    driving directions, entered and left at perimeter nodes on the largest strongly connected part
    of the through streets). Nodes outside the network's largest strongly connected part are not
    counted: they are cut off before any change."""
    from .graph import _arcs, _inside_nodes

    out = np.zeros(n_cells, dtype=np.int64)
    if n_cells == 0 or not (labels >= 0).any():
        return (out[:0], out[:0]) if return_nodes else out
    n = len(network.nodes)
    u, v, rows = _arcs(network)
    node_sb, pair, _ = _inside_nodes(network, labels, (u, v, rows))
    lab = labels[rows]

    def main_part(sel):
        _, scc = connected_components(
            coo_matrix((np.ones(sel.sum()), (u[sel], v[sel])), shape=(n, n)).tocsr(), connection="strong"
        )
        touched = np.zeros(n, bool)
        touched[u[sel]] = touched[v[sel]] = True
        if not touched.any():
            return touched
        return touched & (scc == np.argmax(np.bincount(scc[touched], minlength=scc.max() + 1)))

    main = main_part(np.ones(len(u), bool))
    gate = main_part(lab < 0)  # perimeter nodes on the main through network
    m = lab >= 0
    # expanded nodes: one per (cell, node) pair; the last one is a source joined to every gate pair
    iu = np.searchsorted(pair, lab[m].astype(np.int64) * n + u[m])
    iv = np.searchsorted(pair, lab[m].astype(np.int64) * n + v[m])
    src = len(pair)
    p_sb, p_pos = pair // n, pair % n
    per = np.flatnonzero(gate[p_pos])
    size = len(pair) + 1
    reached = []
    for a, b in ((iu, iv), (iv, iu)):  # from the through network, then (arcs reversed) back to it
        g = coo_matrix(
            (np.ones(len(a) + len(per)), (np.r_[a, np.full(len(per), src)], np.r_[b, per])), shape=(size, size)
        ).tocsr()
        r = np.zeros(size, bool)
        r[breadth_first_order(g, src, directed=True, return_predecessors=False)] = True
        reached.append(r[:-1])
    inside = (node_sb[p_pos] == p_sb) & main[p_pos]
    bad = inside & ~(reached[0] & reached[1])
    if return_nodes:
        return p_sb[bad], p_pos[bad]
    return np.bincount(p_sb[bad], minlength=n_cells)[:n_cells].astype(np.int64)


def _open_isolated(network, seg, seg_lab: np.ndarray, n_cells: int, info: dict, max_rounds: int = 10) -> np.ndarray:
    """The ``"open"`` answer to the isolated-cell check: internal streets at unreachable nodes become
    through streets, until every node inside passes (segment labels returned)."""
    e = network.edges
    pos_u = network.nodes.index.get_indexer(e["u"].to_numpy())
    pos_v = network.nodes.index.get_indexer(e["v"].to_numpy())
    seg_lab = seg_lab.copy()
    opened, cells = 0, set()
    for _ in range(max_rounds):
        sb, pos = _unreachable_nodes(network, seg_lab[seg.street], n_cells, return_nodes=True)
        if len(sb) == 0:
            break
        lab = seg_lab[seg.street]
        key = set(zip(sb.tolist(), pos.tolist()))
        rows = np.flatnonzero([(k >= 0) and ((k, a) in key or (k, b) in key) for k, a, b in zip(lab, pos_u, pos_v)])
        segs = np.unique(seg.street[rows])
        seg_lab[segs] = -1
        opened += len(segs)
        cells.update(sb.tolist())
    if opened:
        logger.warning(
            "isolated-cell check: %d street segments of %d cells opened to through traffic (nodes inside "
            "could not be reached from, or could not reach, the through network on internal one-way streets)",
            opened,
            len(cells),
        )
        info["opened_streets"] = int(opened)
        info["opened_cells"] = int(len(cells))
    return seg_lab


def _rank(frame: pd.DataFrame) -> np.ndarray:
    """Rank of each candidate (1 = first): most residents, then most internal street length."""
    res = frame["residents"].to_numpy(float)
    res = np.where(np.isfinite(res), res, 0.0)
    order = np.lexsort((np.arange(len(frame)), -frame["internal_length_m"].to_numpy(float), -res))
    rank = np.empty(len(frame), dtype=np.int64)
    rank[order] = np.arange(1, len(frame) + 1)
    return rank


def _int_na(labels: np.ndarray, index, name: str) -> pd.Series:
    """Integer labels as a nullable Int64 Series (negative values become NA)."""
    arr = pd.array(labels, dtype="Int64")
    arr[labels < 0] = pd.NA
    return pd.Series(arr, index=index, name=name)


def _user_polygons(polygons, network: StreetNetwork) -> np.ndarray:
    if isinstance(polygons, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if polygons.crs is None:
            raise CRSError("polygons have no CRS; set it with .set_crs(...) (e.g. 'EPSG:4326' for degrees).")
        geoms = (
            polygons.to_crs(network.crs).geometry.to_numpy()
            if isinstance(polygons, gpd.GeoDataFrame)
            else polygons.to_crs(network.crs).to_numpy()
        )
    else:
        if isinstance(polygons, shapely.Geometry):
            polygons = [polygons]
        geoms = np.asarray(list(polygons), dtype=object)
        if not all(isinstance(g, shapely.Geometry) for g in geoms):
            raise InvalidOptionError("polygons must be a GeoDataFrame, a GeoSeries or a list of shapely polygons.")
    if len(geoms) == 0:
        raise InvalidOptionError("polygons is empty; give at least one polygon.")
    kinds = shapely.get_type_id(geoms)
    bad = np.flatnonzero(~np.isin(kinds, [3, 6]))  # Polygon, MultiPolygon
    if len(bad):
        raise InvalidOptionError(f"polygons {_examples(bad.tolist())} are not polygons; give (multi)polygons.")
    geoms = np.where(shapely.is_valid(geoms), geoms, shapely.make_valid(geoms))
    hull = shapely.convex_hull(shapely.multipoints(network.nodes[["x", "y"]].to_numpy()))
    outside = np.flatnonzero(~shapely.intersects(geoms, hull) | (shapely.area(shapely.intersection(geoms, hull)) <= 0))
    if len(outside):
        b = network.nodes.to_crs("EPSG:4326").total_bounds
        raise InvalidOptionError(
            f"polygons {_examples(outside.tolist())} lie outside the network's area (lon {b[0]:.4f}..{b[2]:.4f}, "
            f"lat {b[1]:.4f}..{b[3]:.4f}); check their CRS and extent."
        )
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    pair = a < b
    if pair.any():
        ov = shapely.area(shapely.intersection(geoms[a[pair]], geoms[b[pair]])) > 1.0
        if ov.any():
            i, j = a[pair][ov][0], b[pair][ov][0]
            raise InvalidOptionError(f"polygons {i} and {j} overlap; superblocks must not overlap.")
    return np.asarray(geoms, dtype=object)


def _residential(network: StreetNetwork, seg: _Segments, tolerance_m: float):
    non_res = ~np.isin(seg.highway, list(RESIDENTIAL_HIGHWAYS))
    through, comp = _through_components(network, seg, non_res)
    if comp is None or not through.any():
        raise NoStreetsError(
            "method='residential': the network has no street other than residential and living_street, so "
            "there is no through network; use method='grid' or give polygons."
        )
    faces = _faces(seg.geoms[through])
    face_of_seg = _inside_labels(seg.mid, faces, 0.0)
    rest = np.flatnonzero(comp >= 0)
    # face holding most of each component's length
    tab = pd.DataFrame({"c": comp[rest], "f": face_of_seg[rest], "w": seg.length[rest]})
    best = tab.groupby(["c", "f"], sort=True)["w"].sum().reset_index().sort_values(["c", "w"], ascending=[True, False])
    best = best.drop_duplicates("c").set_index("c")["f"]
    face_c = best.reindex(np.arange(comp.max() + 1)).fillna(-1).to_numpy(np.int64)
    # candidates: one per component (superblockify's partitions), those in faces first (by face), then
    # those outside every face; polygon: the face when the component is alone in it, else the
    # component's own hull (concave, ratio 0.5, grown by 10 m) within the face
    used = np.flatnonzero(np.isin(np.arange(len(face_c)), comp[rest]))
    order = np.lexsort((used, np.where(face_c[used] >= 0, face_c[used], np.iinfo(np.int64).max)))
    used = used[order]
    cand_of_comp = np.full(len(face_c), -1, dtype=np.int64)
    cand_of_comp[used] = np.arange(len(used))
    per_face = np.bincount(face_c[used][face_c[used] >= 0], minlength=len(faces))
    polys = []
    for c in used:
        f = face_c[c]
        if f >= 0 and per_face[f] == 1:
            polys.append(faces[f])
            continue
        pts = shapely.get_coordinates(seg.geoms[comp == c])
        hull = shapely.buffer(shapely.concave_hull(shapely.multipoints(pts), ratio=0.5), 10.0)
        if f >= 0:
            clipped = shapely.intersection(hull, faces[f])
            if shapely.get_type_id(clipped) in (3, 6) and clipped.area > 0:
                hull = clipped
        polys.append(hull)
    seg_lab = np.where(comp >= 0, cand_of_comp[np.maximum(comp, 0)], -1)
    return np.asarray(polys, dtype=object), seg_lab


def _describe(
    network, seg: _Segments, polys: np.ndarray, seg_lab: np.ndarray, pop, widths: dict, tolerance_m: float
) -> pd.DataFrame:
    """Attributes of each cell (position in ``polys``) from the segment labels."""
    n = len(polys)
    inside = seg_lab >= 0
    lab = seg_lab[inside]
    width = np.array([widths.get(h, DEFAULT_STREET_WIDTH_M) for h in seg.highway[inside]], dtype=float)
    n_int = np.bincount(lab, minlength=n)
    length = np.bincount(lab, weights=seg.length[inside], minlength=n)
    area_streets = np.bincount(lab, weights=seg.length[inside] * width, minlength=n)
    # perimeter streets: not internal, middle within the tolerance of the cell's boundary
    bounds = shapely.boundary(polys) if n else np.empty(0, dtype=object)
    per_len = np.zeros(n)
    per_names = [set() for _ in range(n)]
    if n:
        cand = np.flatnonzero(~inside)
        tree = shapely.STRtree(bounds)
        si, pi = tree.query(seg.mid[cand], predicate="dwithin", distance=max(tolerance_m, 1e-6))
        per_len = np.bincount(pi, weights=seg.length[cand][si], minlength=n)
        names = seg.names[cand][si]
        for p, nm in zip(pi, names):
            if isinstance(nm, str) and nm:
                per_names[p].add(nm)
    # nodes inside (beyond the tolerance) and residents (boundary nodes shared among the cells touching them)
    pts = network.nodes.geometry.to_numpy()
    n_inside = np.zeros(n, dtype=np.int64)
    residents = np.full(n, np.nan)
    if n:
        node_in = _inside_labels(pts, polys, tolerance_m)
        n_inside = np.bincount(node_in[node_in >= 0], minlength=n)
        if pop is not None:
            tree = shapely.STRtree(polys)
            ni, pi = tree.query(pts, predicate="dwithin", distance=max(tolerance_m, 1e-6))
            share = 1.0 / np.bincount(ni, minlength=len(pts))[ni]
            residents = np.bincount(pi, weights=pop[ni] * share, minlength=n)
    return pd.DataFrame(
        {
            "area_ha": shapely.area(polys) / 1e4 if n else np.empty(0),
            "residents": residents,
            "n_internal_edges": n_int,
            "internal_length_m": length,
            "internal_street_area_m2": area_streets,
            "n_nodes_inside": n_inside,
            "perimeter_length_m": per_len,
            "perimeter_streets": ["; ".join(sorted(s)) for s in per_names],
            "geometry": polys,
        }
    )


def label_edges(network: StreetNetwork, superblocks: gpd.GeoDataFrame, *, tolerance_m: float = 1.0) -> pd.Series:
    """The superblock each edge is internal to (NA for through, perimeter and other streets).

    Candidates from :func:`find_superblocks` on the same network reuse the detection's labels
    (``attrs``), so the ``residential`` components are exact; otherwise (user frames, edited
    geometries) an edge is internal to superblock k when the middle of its geometry lies inside
    polygon k more than ``tolerance_m`` from its boundary (the smallest polygon wins if several do).

    Parameters
    ----------
    network : StreetNetwork
    superblocks : GeoDataFrame
        With ``superblock_id`` (else the row position is the id) and polygon geometry.
    tolerance_m : float, default 1

    Returns
    -------
    pandas.Series
        ``Int64`` per edge row, index ``network.edges.index``, name ``"superblock_id"``.
    """
    _check_network(network)
    if not isinstance(superblocks, gpd.GeoDataFrame):
        raise InvalidOptionError("superblocks must be a GeoDataFrame (from find_superblocks, or your own polygons).")
    ids = (
        superblocks["superblock_id"]
        if "superblock_id" in superblocks.columns
        else pd.Series(np.arange(len(superblocks)))
    ).to_numpy()
    try:
        ids = ids.astype(np.int64)
    except (TypeError, ValueError) as exc:
        raise InvalidOptionError("superblocks.superblock_id must hold whole numbers.") from exc
    if len(np.unique(ids)) != len(ids):
        raise InvalidOptionError("superblocks.superblock_id repeats a value; ids must be unique.")
    labels = np.full(len(network.edges), -1, dtype=np.int64)
    if len(superblocks) == 0:
        return _int_na(labels, network.edges.index, "superblock_id")
    gdf = superblocks
    if gdf.crs is None:
        raise CRSError("superblocks have no CRS; set it with .set_crs(...).")
    if str(gdf.crs) != str(network.crs):
        gdf = gdf.to_crs(network.crs)
    rec = superblocks.attrs.get(_RECORD)
    use_record = (
        isinstance(rec, dict)
        and rec.get("fingerprint") == _fingerprint(network)
        and str(superblocks.crs) == str(network.crs)
        and ids.min() >= 0
        and ids.max() < len(rec["geometry"])
        and all(rec["geometry"][i] == _geom_hash(g).encode() for i, g in zip(ids, superblocks.geometry))
    )
    if use_record:
        keep = np.isin(rec["ids"], ids)
        labels[rec["rows"][keep]] = rec["ids"][keep]
    else:
        seg = _Segments.of(network)
        polys = gdf.geometry.to_numpy()
        pos = _inside_labels(seg.mid, polys, tolerance_m)
        seg_lab = np.where(pos >= 0, ids[np.maximum(pos, 0)], -1)
        labels = seg_lab[seg.street]
    return _int_na(labels, network.edges.index, "superblock_id")


# --------------------------------------------------------------------------------------------------
# routing: layered graph, batched Dijkstra, vectorised loading of shortest-path trees
