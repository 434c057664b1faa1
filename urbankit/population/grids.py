"""Population grids (polygons of residents, any CRS): reading, checks, and residents given to nodes by area."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .. import datasets
from .._errors import (
    CorruptFileError,
    InputFileError,
    PopulationError,
    UnsupportedFormatError,
)
from . import sources as population_sources
from .estimate import _SNAP_MARGIN_M, GRID_POPULATION_COLUMNS, GRID_SUFFIXES, PopulationEstimate, _Problems

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# grid reading


def read_population_grid(
    path: str | Path, *, column: str | None = None, layer: str | None = None, h3_column: str | None = None
) -> gpd.GeoDataFrame:
    """Read a population grid file into polygons with a ``population`` column.

    Parameters
    ----------
    path : str or pathlib.Path
        A GeoPackage, GeoJSON, Shapefile, FlatGeobuf or GeoParquet file of polygons, a raster of
        residents per cell (``.tif``, ``.tiff``, ``.vrt``, ``.img``: every populated cell becomes a
        polygon in the raster's CRS; nodata and negative cells are left out), an H3 hexagon table
        (``.csv`` or ``.parquet`` without geometry, see :mod:`urbankit.population.sources`), or the
        name of a data set (``"helsinki_population"``, see :mod:`urbankit.datasets`).
    column : str, optional
        The resident-count column. By default it is detected among
        :data:`GRID_POPULATION_COLUMNS` (case-insensitive; for H3 tables also ``P001``); exactly
        one must match. Not used for rasters (band 1).
    layer : str, optional
        The layer to read when the file holds several.
    h3_column : str, optional
        The H3 id column of a hexagon table; detected when omitted.

    Returns
    -------
    geopandas.GeoDataFrame
        The file's rows (same index) with two columns: ``population`` (float) and ``geometry``,
        in the file's CRS. ``attrs`` records ``source`` (the file name) and
        ``population_column`` (the column read).

    Raises
    ------
    InputFileError
        The file is missing or unreadable.
    UnsupportedFormatError
        The extension is not one of :data:`GRID_SUFFIXES`, a raster's or ``.csv``.
    CorruptFileError
        The file cannot be parsed.
    CRSError
        A raster without CRS.
    PopulationError
        No population column (or several candidates), non-numeric, negative or NaN values,
        non-polygon geometries, several layers and no ``layer``, no H3 id column or invalid H3 ids.

    Notes
    -----
    A grid without CRS is returned as it is (with a logged warning) so that it can be fixed with
    ``.set_crs(...)``; :func:`population_per_node` refuses it.

    Examples
    --------
    Two cells written to a GeoPackage and read back:

    >>> import pathlib, tempfile
    >>> import geopandas as gpd, shapely
    >>> cells = gpd.GeoDataFrame(
    ...     {"residents": [120, 80]}, geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)],
    ...     crs="EPSG:32631",
    ... )
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "grid.gpkg"
    ...     cells.to_file(path)
    ...     grid = read_population_grid(path)
    >>> grid.population.tolist(), grid.crs == cells.crs
    ([120.0, 80.0], True)

    A downloadable data set is read by name (``read_population_grid("helsinki_population")``, see
    :mod:`urbankit.datasets`).
    """
    path = Path(datasets.resolve(path))
    other = population_sources.read_source(path, column=column, h3_column=h3_column, layer=layer)
    if other is not None:  # a raster (all its populated cells) or an H3 table
        gdf, column, _ = other
    else:
        gdf = _read_grid_file(path, layer=layer)
    if gdf.crs is None:
        logger.warning("population grid %s has no CRS; set it with .set_crs(...) before using it.", path.name)
    problems = _Problems()
    grid = _normalise_grid(gdf, column=column, name=repr(path.name), problems=problems)
    problems.raise_if_any()
    grid.attrs["source"] = path.name
    if other is not None:
        grid.attrs["source_details"] = gdf.attrs.get("details", {})
    return grid


def _read_grid_file(path: Path, *, layer: str | None) -> gpd.GeoDataFrame:
    name = path.name.lower()
    if not name.endswith(GRID_SUFFIXES):
        raise UnsupportedFormatError(
            f"population grid {str(path)!r} has an unsupported extension; use one of "
            f"{', '.join(GRID_SUFFIXES)} (polygons), "
            f"{', '.join(population_sources.RASTER_SUFFIXES)} (rasters) or .csv (H3 tables) "
            "(convert others, e.g. `ogr2ogr out.gpkg in.ext` or `gdal_translate in.ext out.tif`)."
        )
    if not path.exists():
        raise InputFileError(f"population grid {str(path)!r} does not exist; check the path.")
    if not path.is_file():
        raise InputFileError(f"population grid {str(path)!r} is not a file; give the path of a file.")
    if path.stat().st_size == 0:
        raise CorruptFileError(f"population grid {str(path)!r} is empty (0 bytes); re-export it.")
    try:
        if name.endswith((".parquet", ".geoparquet")):
            return gpd.read_parquet(path)
        import pyogrio

        if layer is None:
            layers = pyogrio.list_layers(path)
            if len(layers) > 1:
                names = ", ".join(repr(str(row[0])) for row in layers)
                raise PopulationError(
                    f"population grid {path.name!r} has {len(layers)} layers ({names}); "
                    "choose one with read_population_grid(path, layer=...)."
                )
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except PopulationError:
        raise
    except PermissionError as exc:
        raise InputFileError(f"cannot read {str(path)!r}: {exc.strerror}; check its permissions.") from exc
    except Exception as exc:  # pyogrio/pyarrow raise many types on malformed files
        raise CorruptFileError(
            f"cannot read population grid {str(path)!r} ({type(exc).__name__}: {exc}); the file "
            "is truncated, corrupt or not a vector file: check it with `ogrinfo`."
        ) from exc


def _detect_column(columns: list[str], name: str, problems: _Problems) -> str | None:
    wanted = {c.lower() for c in GRID_POPULATION_COLUMNS}
    found = [c for c in columns if str(c).lower() in wanted]
    if len(found) == 1:
        return found[0]
    if not found:
        problems.add(
            PopulationError,
            f"population grid {name} has no recognised population column (columns: "
            f"{', '.join(map(repr, columns)) or 'none'}); pass column='...' "
            f"(recognised names: {', '.join(GRID_POPULATION_COLUMNS)}).",
        )
    else:
        problems.add(
            PopulationError,
            f"population grid {name} has several possible population columns "
            f"({', '.join(map(repr, found))}); choose one with column='...'.",
        )
    return None


def _normalise_grid(
    gdf: gpd.GeoDataFrame, *, column: str | None, name: str, problems: _Problems
) -> gpd.GeoDataFrame | None:
    """``population`` + ``geometry`` copy of a grid (None if unusable); problems are collected."""
    try:
        geom = gdf.geometry
    except AttributeError:
        problems.add(
            PopulationError,
            f"population grid {name} has no active geometry column; set it with .set_geometry(...).",
        )
        return None
    columns = [c for c in gdf.columns if c != geom.name]
    if column is None:
        column = _detect_column(columns, name, problems)
    elif column not in gdf.columns or column == geom.name:
        problems.add(
            PopulationError,
            f"population grid {name} has no column {column!r} (columns: "
            f"{', '.join(map(repr, columns)) or 'none'}); pass one of them as column=...",
        )
        column = None

    out = gpd.GeoDataFrame({"population": np.zeros(len(gdf))}, geometry=geom.values, index=gdf.index, crs=gdf.crs)
    out.attrs = {"population_column": column}

    missing = geom.isna().to_numpy() | geom.is_empty.to_numpy()
    if missing.any():
        problems.add(
            PopulationError,
            f"population grid {name} has {int(missing.sum())} rows without geometry (e.g. rows "
            f"{_examples(gdf.index[missing])}); drop them, e.g. grid[~grid.geometry.is_empty].",
        )
    types = geom[~missing].geom_type
    bad_type = ~types.isin(["Polygon", "MultiPolygon"])
    if bad_type.any():
        problems.add(
            PopulationError,
            f"population grid {name} must hold polygons (grid cells), but has "
            f"{int(bad_type.sum())} {', '.join(sorted(types[bad_type].unique()))} geometries; "
            "give the cells' polygons, not their centroids.",
        )

    if column is None:
        return out
    raw = gdf[column]
    values = pd.to_numeric(raw, errors="coerce")
    non_numeric = values.isna() & raw.notna()
    if non_numeric.any():
        problems.add(
            PopulationError,
            f"population column {column!r} of grid {name} has {int(non_numeric.sum())} "
            f"non-numeric values (e.g. {raw[non_numeric].iloc[0]!r} in rows "
            f"{_examples(gdf.index[non_numeric.to_numpy()])}); convert it to numbers.",
        )
    values = values.astype(float)
    nan = raw.isna().to_numpy()
    if nan.any():
        problems.add(
            PopulationError,
            f"population column {column!r} of grid {name} has {int(nan.sum())} missing (NaN) "
            f"values (rows {_examples(gdf.index[nan])}); urbankit does not guess them: fill them, "
            f"e.g. grid.fillna({{{column!r}: 0}}) if missing means nobody lives there.",
        )
    neg = (values < 0).to_numpy()
    if neg.any():
        problems.add(
            PopulationError,
            f"population column {column!r} of grid {name} has {int(neg.sum())} negative values "
            f"(rows {_examples(gdf.index[neg])}, e.g. {values[neg].iloc[0]:g}); negative counts are "
            "often 'suppressed' markers: replace them, e.g. with grid[col].clip(lower=0).",
        )
    inf = np.isinf(values.to_numpy())
    if inf.any():
        problems.add(
            PopulationError,
            f"population column {column!r} of grid {name} has {int(inf.sum())} infinite values "
            f"(rows {_examples(gdf.index[inf])}); fix them.",
        )
    out["population"] = values.fillna(0.0).to_numpy()
    return out


def _examples(index, n: int = 5) -> str:
    items = list(index[:n])
    more = "" if len(index) <= n else ", ..."
    return ", ".join(map(str, items)) + more

# --------------------------------------------------------------------------------------------------
# grid


def _from_grid(
    nodes: gpd.GeoDataFrame,
    xy: np.ndarray,
    grid: gpd.GeoDataFrame,
    *,
    label: str,
    max_snap_m: float | None,
    extent_buffer_m: float,
    partial_cells: str = "whole",
    overlaps: str = "error",
) -> PopulationEstimate:
    from scipy.spatial import cKDTree

    crs = nodes.crs
    n_nodes = len(xy)
    pop_all = grid["population"].to_numpy(dtype=float)
    details: dict = {
        "label": label,
        "column": grid.attrs.get("population_column"),
        "cells_total": len(grid),
        "residents_total": float(pop_all.sum()),
    }

    hull = shapely.convex_hull(shapely.multipoints(xy))
    extent = hull.buffer(extent_buffer_m) if extent_buffer_m > 0 else hull
    # preselect candidate cells in the grid's own CRS, then reproject only those
    cand = _candidates(grid, extent, crs)
    cells = grid.iloc[cand].to_crs(crs)
    inside = shapely.intersects(cells.geometry.values, extent)
    used = cand[inside]
    cells = cells[inside]

    if len(used) == 0:
        g_bounds = _bounds_4326(grid.geometry.values, grid.crs)
        n_bounds = _bounds_4326(shapely.points(xy), crs)
        raise PopulationError(
            f"population {label} does not overlap the street network: grid bounds "
            f"{g_bounds} vs network bounds {n_bounds} (lon/lat, EPSG:4326). Use a grid that covers "
            "the area, or check that the grid's CRS is the one its coordinates are in."
        )

    pop = pop_all[used]
    geoms = cells.geometry.values
    n_cells = len(used)
    pairs = _overlapping_pairs(geoms)
    removed = 0.0
    if len(pairs[0]):
        if overlaps == "error":
            raise PopulationError(_overlap_message(label, grid.index, used, geoms, pairs))
        kept = pop * _overlap_split(geoms, pairs)
        removed = float(pop.sum() - kept.sum())
        logger.warning(
            "%s: %d pair(s) of cells overlap; the residents of overlapping areas are shared among their cells by "
            "area (overlaps='split'): %s residents counted twice are left out.",
            label,
            len(pairs[0]),
            f"{removed:,.0f}",
        )
        pop = kept
    if partial_cells == "area":
        cell_area = shapely.area(geoms)
        share = np.divide(
            shapely.area(shapely.intersection(geoms, extent)),
            cell_area,
            out=np.zeros(n_cells),
            where=cell_area > 0,
        )
        pop = pop * np.clip(share, 0.0, 1.0)
    details.update(
        cells_used=n_cells,
        residents_in_extent=float(pop.sum()),
        cells_outside_extent=len(grid) - n_cells,
        residents_outside_extent=float(pop_all.sum() - pop.sum() - removed),
        extent_buffer_m=float(extent_buffer_m),
        partial_cells=partial_cells,
        overlapping_pairs=len(pairs[0]),
        residents_in_overlaps_removed=removed,
    )

    # nodes -> cell (first cell when a node lies on a shared border)
    tree_cells = shapely.STRtree(geoms)
    node_i, cell_i = tree_cells.query(shapely.points(xy), predicate="intersects")
    order = np.lexsort((cell_i, node_i))
    node_i, cell_i = node_i[order], cell_i[order]
    node_u, first = np.unique(node_i, return_index=True)
    cell_of_node = np.full(n_nodes, -1, dtype=np.int64)
    cell_of_node[node_u] = cell_i[first]
    has_cell = cell_of_node >= 0
    nodes_per_cell = np.bincount(cell_of_node[has_cell], minlength=n_cells)

    per_node = np.zeros(n_nodes)
    per_node[has_cell] = pop[cell_of_node[has_cell]] / nodes_per_cell[cell_of_node[has_cell]]

    # populated cells without nodes -> nearest node to the centroid
    orphan = (nodes_per_cell == 0) & (pop > 0)
    snapped = np.zeros(n_cells, dtype=bool)
    if orphan.any():
        cent = shapely.get_coordinates(shapely.centroid(geoms[orphan]))
        dist, nearest = cKDTree(xy).query(cent, k=1)
        if max_snap_m is None:
            b = shapely.bounds(geoms[orphan])
            limit = np.hypot(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) / 2 + _SNAP_MARGIN_M
        else:
            limit = np.full(len(cent), float(max_snap_m))
        ok = dist <= limit
        snapped[np.flatnonzero(orphan)[ok]] = True
        per_node += np.bincount(nearest[ok], weights=pop[orphan][ok], minlength=n_nodes)
    unreached = orphan & ~snapped

    details.update(
        cells_with_nodes=int((nodes_per_cell > 0).sum()),
        cells_snapped=int(snapped.sum()),
        residents_snapped=float(pop[snapped].sum()),
        cells_unreached=int(unreached.sum()),
        residents_unreached=float(pop[unreached].sum()),
        max_snap_m=("half cell diagonal + 100 m" if max_snap_m is None else float(max_snap_m)),
        residents_assigned=float(per_node.sum()),
        nodes_in_cells=int(has_cell.sum()),
        nodes_outside_grid=int((~has_cell).sum()),
    )
    if details["cells_unreached"]:
        logger.warning(
            "%s: %d populated cells (%s residents) contain no street node and have none within "
            "max_snap_m; their residents are left out.",
            label,
            details["cells_unreached"],
            f"{details['residents_unreached']:,.0f}",
        )
    if details["nodes_outside_grid"]:
        logger.info(
            "%s: %d of %d street nodes lie in no grid cell and get 0 residents (grids usually "
            "leave out unpopulated cells).",
            label,
            details["nodes_outside_grid"],
            n_nodes,
        )
    if details["residents_outside_extent"] > 0:
        logger.info(
            "%s: %d cells (%s residents) lie outside the street network's extent and are not used.",
            label,
            details["cells_outside_extent"],
            f"{details['residents_outside_extent']:,.0f}",
        )
    if per_node.sum() == 0:
        if pop.sum() == 0:
            logger.warning(
                "%s has 0 residents in the %d cells overlapping the street network; every node "
                "gets 0 residents (shares of residents will be undefined).",
                label,
                n_cells,
            )
        else:
            raise PopulationError(
                f"none of the {details['residents_in_extent']:,.0f} residents of {label} in the "
                f"network's area could be given to a node: {details['cells_unreached']} populated "
                "cells contain no street node and have none within max_snap_m; raise max_snap_m "
                "or use a network covering the populated area."
            )
    series = pd.Series(per_node, index=nodes.index.copy(), name="population", dtype=float)
    return PopulationEstimate(per_node=series, source="grid", total=float(per_node.sum()), details=details)


#: grid cells overlap when they share more than this share of the smaller cell's area; less is
#: rounding of shared edges (coordinates written with few decimals, reprojection), not double counting
OVERLAP_TOLERANCE = 1e-3


def _overlapping_pairs(geoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, of cells sharing more than :data:`OVERLAP_TOLERANCE` of the
    smaller one's area, with that area (cells that only touch along an edge do not count)."""
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    if len(geoms) < 2:
        return empty
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not len(a):
        return empty
    ga, gb = geoms[a], geoms[b]
    invalid = ~(shapely.is_valid(ga) & shapely.is_valid(gb))
    if invalid.any():  # self-intersecting rings: measure their valid form
        ga, gb = ga.copy(), gb.copy()
        ga[invalid], gb[invalid] = shapely.make_valid(ga[invalid]), shapely.make_valid(gb[invalid])
    shared = shapely.area(shapely.intersection(ga, gb))
    smaller = np.minimum(shapely.area(ga), shapely.area(gb))
    over = shared > OVERLAP_TOLERANCE * smaller
    return a[over], b[over], shared[over]


def _overlap_message(label: str, index, used: np.ndarray, geoms, pairs) -> str:
    a, b, shared = pairs
    area = shapely.area(geoms)
    rows_are_index = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1

    def name(i: int) -> str:
        row = int(used[i])
        return f"row {row}" if rows_are_index else f"{index[row]!r} (row {row})"

    order = np.lexsort((b, a))  # by row
    shown = []
    for k in order[:5]:
        i, j = int(a[k]), int(b[k])
        pct = 100.0 * shared[k] / max(min(area[i], area[j]), 1e-12)
        kind = "duplicate" if pct >= 99.999 and abs(area[i] - area[j]) <= 1e-6 * max(area[i], 1.0) else "overlap"
        shown.append(f"{name(i)} and {name(j)} ({kind}: {shared[k]:,.0f} m², {pct:.0f}% of the smaller cell)")
    more = f"; {len(a) - 5} more pairs" if len(a) > 5 else ""
    return (
        f"population {label} has {len(a)} pair{'s' if len(a) != 1 else ''} of overlapping cells, whose residents "
        "would be counted twice: " + "; ".join(shown) + more + ". Remove duplicated or overlapping cells (e.g. "
        "grid[~grid.geometry.normalize().to_wkb().duplicated()] drops exact duplicates), or pass "
        "overlaps='split' to population_per_node to share each overlapping area's residents among its cells by area."
    )


def _overlap_split(geoms, pairs) -> np.ndarray:
    """Share of each cell's residents kept when every area covered by ``k`` cells gives each of them
    ``1/k`` of the residents its density puts there: the sum over the pieces of the cell (the
    overlay of the overlapping cells) of piece area / k, over the cell's area."""
    a, b, _ = pairs
    share = np.ones(len(geoms))
    involved = np.unique(np.r_[a, b])
    sub = geoms[involved]
    invalid = ~shapely.is_valid(sub)
    if invalid.any():
        sub = sub.copy()
        sub[invalid] = shapely.make_valid(sub[invalid])
    lines = shapely.union_all(shapely.boundary(sub))
    pieces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    if not len(pieces):
        return share
    inside = shapely.point_on_surface(pieces)
    piece_i, cell_i = shapely.STRtree(sub).query(inside, predicate="within")
    cover = np.bincount(piece_i, minlength=len(pieces))
    piece_area = shapely.area(pieces)
    kept_area = np.bincount(cell_i, weights=piece_area[piece_i] / cover[piece_i], minlength=len(sub))
    total = shapely.area(sub)
    share[involved] = np.divide(kept_area, total, out=np.ones(len(sub)), where=total > 0).clip(0.0, 1.0)
    return share


def _candidates(grid: gpd.GeoDataFrame, extent, crs) -> np.ndarray:
    """Positions of grid cells whose bounding box may intersect ``extent`` (in ``crs``)."""
    minx, miny, maxx, maxy = extent.bounds
    size = max(maxx - minx, maxy - miny, 1.0)
    # a margin, and a densified outline, so that the box survives a curved reprojection
    m = 0.05 * size + 1.0
    outline = shapely.segmentize(shapely.box(minx - m, miny - m, maxx + m, maxy + m), size / 20)
    if CRS.from_user_input(grid.crs) != CRS.from_user_input(crs):
        outline = gpd.GeoSeries([outline], crs=crs).to_crs(grid.crs).iloc[0]
    if not outline.is_valid or outline.is_empty or not np.isfinite(outline.bounds).all():
        return np.arange(len(grid))
    return np.sort(grid.sindex.query(shapely.box(*outline.bounds), predicate="intersects"))


def _bounds_4326(geoms, crs) -> str:
    b = gpd.GeoSeries(geoms, crs=crs).to_crs("EPSG:4326").total_bounds
    return "({:.4f}, {:.4f}, {:.4f}, {:.4f})".format(*b)
