"""Population inputs beyond vector grids: rasters, H3 hexagon tables and GraphML edge population.

:func:`urbankit.population_per_node` (``grid=``), :func:`urbankit.read_population_grid`,
``x_minute_city(population=...)`` and the CLI's ``--population FILE`` accept these files and tell
them apart by extension and content (:func:`source_kind`):

``raster``
    A GDAL raster of residents per cell (``.tif``, ``.tiff``, ``.vrt``, ``.img``), e.g. WorldPop
    (EPSG:4326, 3 arc-seconds) or GHSL (Mollweide, ESRI:54009, 100 m), in any CRS, band 1. Cells
    that are nodata, NaN or negative are ignored and counted in the result's ``details``. Only the
    window of the raster around the network's area is read; every cell with residents becomes a
    polygon (its four corners from the raster's transform), is reprojected to the street nodes'
    CRS and cut by the network's area: a cell partly outside keeps the share of its residents equal
    to the share of its area inside. The network's area is the same as for grids: the convex hull of
    the street nodes grown by ``extent_buffer_m``. The pieces are then assigned as grid cells (each
    to the nodes inside it, else to the nearest node within ``max_snap_m``), so that
    ``residents_in_area == residents_assigned + residents_unreached`` holds exactly.
``hex``
    A table (``.csv``, or ``.parquet`` without geometry) with an H3 cell id column and a resident
    count, as IPEA (``id_hex``, ``P001``) and Kontur (``h3``, ``population``) publish them. The H3 id
    column is chosen with ``h3_column=``, else detected: the one column whose values are H3 ids
    (string or 64-bit integer form). Hexagons become polygons (EPSG:4326) and are assigned like grid
    cells.
``vector``
    Polygons with a count (GeoPackage, GeoJSON, Shapefile, FlatGeobuf, GeoParquet): the grid path
    of :mod:`urbankit.population`.

GraphML networks written by superblockify carry each edge's residents (``population``, from GHSL,
with ``area`` and ``cell_id`` of the street's tessellation cell). :func:`graph_node_population`
turns them into residents per graph node: every cell's residents are counted once (superblockify
writes the same cell on both directed edges of a two-way street) and split half to each end node of
its street (all to the node of a self-loop).
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .._errors import CorruptFileError, CRSError, InputFileError, PopulationError
from ..osm.graphml import graph_node_population  # noqa: F401 (re-exported: residents read from GraphML edges)

logger = logging.getLogger(__name__)


__all__ = [
    "H3_COLUMNS",
    "HEX_SUFFIXES",
    "RASTER_SUFFIXES",
    "graph_node_population",
    "read_h3_table",
    "read_population_raster",
    "source_kind",
]

#: Extensions read as rasters (through GDAL, with rasterio).
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img")
#: Extensions read as H3 hexagon tables (``.parquet`` only when it holds no geometry).
HEX_SUFFIXES = (".csv", ".parquet")
#: Column names preferred (case-insensitively) as the H3 id when several columns hold H3 ids.
H3_COLUMNS = ("h3", "id_hex", "hex_id", "h3_id", "h3_index", "h3index", "hex", "id")
#: Resident-count names of hexagon tables besides those of grids (IPEA's census count ``P001``).
HEX_POPULATION_COLUMNS = ("p001",)
#: More populated raster cells than this are refused by :func:`read_population_raster` without an area.
MAX_RASTER_CELLS = 5_000_000


def source_kind(path: str | Path) -> str:
    """``"raster"``, ``"hex"`` or ``"vector"``: how a population file is read.

    ``.parquet`` files holding GeoParquet metadata (a geometry column) are ``"vector"``, others are
    hexagon tables.

    Raises
    ------
    InputFileError, CorruptFileError
        A ``.parquet`` file that is missing or cannot be parsed.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(RASTER_SUFFIXES):
        return "raster"
    if name.endswith(".csv"):
        return "hex"
    if name.endswith(".parquet"):
        _check_path(path, "population file")
        import pyarrow.parquet as pq

        try:
            meta = pq.read_schema(path).metadata or {}
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError... on malformed files
            raise CorruptFileError(
                f"cannot read population file {str(path)!r} as Parquet ({type(exc).__name__}: {exc}); "
                "the file is truncated or not Parquet: re-export it."
            ) from exc
        return "vector" if b"geo" in meta else "hex"
    return "vector"


def _check_path(path: Path, what: str) -> None:
    if not path.exists():
        raise InputFileError(f"{what} {str(path)!r} does not exist; check the path.")
    if not path.is_file():
        raise InputFileError(f"{what} {str(path)!r} is not a file; give the path of a file.")
    if path.stat().st_size == 0:
        raise CorruptFileError(f"{what} {str(path)!r} is empty (0 bytes); re-export it.")


# --------------------------------------------------------------------------------------------------
# rasters


def read_population_raster(
    path: str | Path,
    *,
    area: shapely.Geometry | None = None,
    area_crs=None,
) -> gpd.GeoDataFrame:
    """Residents per raster cell as polygons, optionally cut by an area.

    Parameters
    ----------
    path : str or pathlib.Path
        A GDAL raster (GeoTIFF, VRT, ERDAS .img) of residents per cell; band 1 is read.
    area : shapely geometry, optional
        The area to keep (e.g. the convex hull of the street nodes), in ``area_crs``. Only the
        raster window covering it is read, and cells crossing its edge keep the share of their
        residents equal to the share of their area inside (measured in ``area_crs``).
    area_crs : CRS-like, optional
        CRS of ``area`` (required with ``area``); the result is in this CRS. Without ``area`` the
        result is in the raster's CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per populated cell (per piece inside ``area``): ``population`` (float), ``row``,
        ``col`` (position in the raster) and ``geometry``. ``attrs`` holds ``source`` (file name),
        ``population_column`` (``"band 1"``) and ``details``: ``raster_crs``, ``raster_cell_size``,
        ``raster_cells_read``, ``raster_cells_nodata`` (nodata or NaN), ``raster_cells_negative`` /
        ``raster_residents_negative_ignored``, ``raster_residents_read`` (positive residents in
        the window read), ``raster_cells_in_area``, ``raster_cells_cut`` (crossing the area's edge)
        and ``raster_residents_in_area``.

    Raises
    ------
    InputFileError, CorruptFileError
        Missing or unreadable file.
    CRSError
        The raster has no CRS.
    PopulationError
        The raster does not overlap ``area``, or has more than :data:`MAX_RASTER_CELLS` populated
        cells and no ``area``.
    """
    import rasterio
    from rasterio.windows import Window, from_bounds

    path = Path(path)
    _check_path(path, "population raster")
    try:
        src = rasterio.open(path)
    except Exception as exc:  # rasterio raises RasterioIOError and others on unreadable files
        raise CorruptFileError(
            f"cannot read population raster {str(path)!r} ({type(exc).__name__}: {exc}); the file is "
            "truncated, corrupt or not a raster: check it with `gdalinfo`."
        ) from exc
    with src:
        if src.crs is None:
            raise CRSError(
                f"population raster {str(path)!r} has no CRS; set the one its coordinates are in, e.g. "
                "`gdal_edit.py -a_srs EPSG:4326 file.tif` (WorldPop) or `-a_srs ESRI:54009` (GHSL)."
            )
        try:
            raster_crs = CRS.from_user_input(src.crs.to_wkt())
        except Exception as exc:  # pyproj.exceptions.CRSError on local or broken definitions
            raise CRSError(
                f"population raster {str(path)!r} has a CRS that cannot be used ({exc}); set the one its "
                "coordinates are in, e.g. `gdal_edit.py -a_srs EPSG:4326 file.tif`."
            ) from exc
        if src.count > 1:
            logger.warning("population raster %s has %d bands; band 1 is read as residents.", path.name, src.count)
        full = Window(0, 0, src.width, src.height)
        if area is not None:
            if area_crs is None:
                raise ValueError("read_population_raster: area needs area_crs")
            b = _area_bounds_in(area, area_crs, raster_crs)
            res = max(abs(src.transform.a), abs(src.transform.e))
            frac = from_bounds(b[0] - res, b[1] - res, b[2] + res, b[3] + res, transform=src.transform)
            # whole cells covering the fractional window, clipped to the raster
            c0 = max(int(np.floor(frac.col_off)), 0)
            r0 = max(int(np.floor(frac.row_off)), 0)
            c1 = min(int(np.ceil(frac.col_off + frac.width)), src.width)
            r1 = min(int(np.ceil(frac.row_off + frac.height)), src.height)
            win = Window(c0, r0, c1 - c0, r1 - r0) if c1 > c0 and r1 > r0 else None
            if win is None:
                rb = gpd.GeoSeries([shapely.box(*src.bounds)], crs=raster_crs).to_crs("EPSG:4326").total_bounds
                ab = gpd.GeoSeries([area], crs=area_crs).to_crs("EPSG:4326").total_bounds
                raise PopulationError(
                    f"population raster {path.name!r} does not overlap the street network: raster bounds "
                    f"({rb[0]:.4f}, {rb[1]:.4f}, {rb[2]:.4f}, {rb[3]:.4f}) vs network area "
                    f"({ab[0]:.4f}, {ab[1]:.4f}, {ab[2]:.4f}, {ab[3]:.4f}) (lon/lat). Use a raster covering "
                    "the area, or check that its CRS is the one its coordinates are in."
                )
        else:
            win = full
        try:
            data = src.read(1, window=win, masked=True)
        except Exception as exc:  # truncated tiles
            raise CorruptFileError(
                f"cannot read the cells of population raster {str(path)!r} ({type(exc).__name__}: {exc}); "
                "the file is truncated or corrupt: check it with `gdalinfo -checksum`."
            ) from exc
        transform = src.window_transform(win)
        res_xy = (abs(src.transform.a), abs(src.transform.e))

    values = np.ma.filled(data.astype(float), np.nan)
    nodata = np.isnan(values)
    negative = values < 0
    populated = values > 0
    details = {
        "raster_crs": raster_crs.to_string(),
        "raster_cell_size": f"{res_xy[0]:g} x {res_xy[1]:g} {'degrees' if raster_crs.is_geographic else 'm'}",
        "raster_cells_read": int(values.size),
        "raster_cells_nodata": int(nodata.sum()),
        "raster_cells_negative": int(negative.sum()),
        "raster_residents_negative_ignored": float(-values[negative].sum()),
        "raster_residents_read": float(values[populated].sum()),
    }
    if negative.any():
        logger.warning(
            "population raster %s: %d cells hold negative values (sum %s), ignored as no residents.",
            path.name, details["raster_cells_negative"], f"{details['raster_residents_negative_ignored']:,.6g}",
        )
    rows, cols = np.nonzero(populated)
    if area is None and len(rows) > MAX_RASTER_CELLS:
        raise PopulationError(
            f"population raster {path.name!r} has {len(rows):,} populated cells, too many to turn into polygons "
            "at once; give it to population_per_node(nodes, grid=path) (which reads only the network's "
            "area) or clip it first, e.g. `gdal_translate -projwin ...`."
        )
    pop = values[rows, cols]
    cells = _cell_polygons(transform, rows, cols)
    row0, col0 = int(win.row_off), int(win.col_off)
    if area is not None:
        cells_out = gpd.GeoSeries(cells, crs=raster_crs).to_crs(area_crs).values
        hit = shapely.intersects(cells_out, area)
        cells_out, pop, rows, cols = cells_out[hit], pop[hit], rows[hit], cols[hit]
        pieces = shapely.intersection(cells_out, area)
        full_area = shapely.area(cells_out)
        share = np.divide(shapely.area(pieces), full_area, out=np.zeros(len(pieces)), where=full_area > 0)
        share = np.clip(share, 0.0, 1.0)
        keep = share > 0
        pieces, pop, share, rows, cols = pieces[keep], pop[keep] * share[keep], share[keep], rows[keep], cols[keep]
        # an intersection may return a collection with slivers of lines: keep its polygons
        odd = ~np.isin(shapely.get_type_id(pieces), (3, 6))
        if odd.any():
            pieces[odd] = [shapely.union_all([g for g in shapely.get_parts(p) if g.geom_type == "Polygon"])
                           for p in pieces[odd]]
        details.update(raster_cells_in_area=len(pieces), raster_cells_cut=int((share < 1 - 1e-9).sum()))
        geoms, out_crs = pieces, area_crs
    else:
        geoms, out_crs = cells, raster_crs
    details["raster_residents_in_area" if area is not None else "raster_residents_total"] = float(pop.sum())
    out = gpd.GeoDataFrame(
        {"population": pop.astype(float), "row": rows + row0, "col": cols + col0}, geometry=geoms, crs=out_crs
    )
    out.attrs = {"source": path.name, "population_column": "band 1", "details": details}
    return out


def _area_bounds_in(area, area_crs, crs) -> tuple[float, float, float, float]:
    """Bounds of ``area`` (in ``area_crs``) in ``crs``, densified so that curved reprojections keep it inside."""
    if CRS.from_user_input(area_crs) == CRS.from_user_input(crs):
        return tuple(area.bounds)
    minx, miny, maxx, maxy = area.bounds
    size = max(maxx - minx, maxy - miny, 1.0)
    outline = shapely.segmentize(shapely.box(minx, miny, maxx, maxy), size / 50)
    return tuple(gpd.GeoSeries([outline], crs=area_crs).to_crs(crs).total_bounds)


def _cell_polygons(transform, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Polygons of raster cells: their four corners through the raster's affine ``transform``."""
    from rasterio.transform import xy

    corners = []
    for dr, dc in ((0, 0), (0, 1), (1, 1), (1, 0)):
        x, y = xy(transform, rows + dr, cols + dc, offset="ul")
        corners.append(np.column_stack([np.asarray(x, float).ravel(), np.asarray(y, float).ravel()]))
    ring = np.stack(corners + [corners[0]], axis=1)  # (n, 5, 2)
    if len(rows) == 0:
        return np.empty(0, dtype=object)
    return shapely.polygons(ring)


# --------------------------------------------------------------------------------------------------
# H3 hexagon tables


def read_h3_table(
    path: str | Path, *, h3_column: str | None = None, column: str | None = None
) -> tuple[gpd.GeoDataFrame, str | None]:
    """Hexagons of an H3 table (CSV or Parquet) as polygons.

    Parameters
    ----------
    path : str or pathlib.Path
        ``.csv`` or ``.parquet`` (without geometry) with one row per H3 cell.
    h3_column : str, optional
        The column of H3 ids (``"89a8100c603ffff"`` or their 64-bit integer form). Detected when
        omitted: the one column whose values are H3 ids, preferring the names of :data:`H3_COLUMNS`
        when several are.
    column : str, optional
        The resident-count column, returned as the second value; detected when omitted among
        :data:`urbankit.population.GRID_POPULATION_COLUMNS` and ``P001`` (None when not unique:
        the grid reader then reports it).

    Returns
    -------
    (geopandas.GeoDataFrame, str or None)
        The table's columns (the H3 ids as strings) with hexagon polygons in EPSG:4326, and the
        population column to use. ``attrs``: ``source``, ``h3_column``, ``details``
        (``h3_cells``, ``h3_resolutions``).

    Raises
    ------
    InputFileError, CorruptFileError
        Missing or unreadable file.
    PopulationError
        No H3 id column (or several and no ``h3_column``), an ``h3_column`` that does not exist, or
        invalid H3 ids.
    """
    import h3

    path = Path(path)
    _check_path(path, "population table")
    try:
        if path.name.lower().endswith(".parquet"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path)
            # ids are text (an all-digit column would lose leading zeros): re-read the candidates as strings
            text = [c for c in df.columns if df[c].dtype == object or c == h3_column]
            if text:
                df[text] = pd.read_csv(path, usecols=text, dtype=str)[text]
    except Exception as exc:  # pandas/pyarrow raise many types on malformed files
        raise CorruptFileError(
            f"cannot read population table {str(path)!r} ({type(exc).__name__}: {exc}); the file is "
            "truncated or not a CSV/Parquet table: re-export it."
        ) from exc
    name = repr(path.name)
    if h3_column is None:
        h3_column = _detect_h3_column(df, name)
    elif h3_column not in df.columns:
        raise PopulationError(
            f"population table {name} has no column {h3_column!r} (columns: "
            f"{', '.join(map(repr, df.columns)) or 'none'}); pass the H3 id column as h3_column=..."
        )
    ids = _h3_strings(df[h3_column])
    valid = np.array([isinstance(c, str) and h3.is_valid_cell(c) for c in ids], dtype=bool)
    if not valid.all():
        bad = df.index[~valid]
        examples = ", ".join(f"row {i}: {df.loc[i, h3_column]!r}" for i in bad[:3])
        raise PopulationError(
            f"population table {name}: {int((~valid).sum())} of {len(df)} values of H3 column {h3_column!r} are "
            f"not valid H3 cell ids ({examples}); fix or drop those rows (H3 ids look like '89a8100c603ffff')."
        )
    if column is None:
        wanted = _population_names()
        found = [c for c in df.columns if str(c).lower() in wanted and c != h3_column]
        column = found[0] if len(found) == 1 else None
    polys = [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in ids]
    out = gpd.GeoDataFrame(df.drop(columns=[h3_column]), geometry=polys, crs="EPSG:4326", index=df.index)
    out.insert(0, h3_column, ids)
    res = sorted({h3.get_resolution(c) for c in ids})
    out.attrs = {
        "source": path.name,
        "h3_column": h3_column,
        "details": {"h3_column": h3_column, "h3_cells": len(ids), "h3_resolutions": ", ".join(map(str, res))},
    }
    return out, column


def _population_names() -> set[str]:
    from .estimate import GRID_POPULATION_COLUMNS

    return {c.lower() for c in GRID_POPULATION_COLUMNS + HEX_POPULATION_COLUMNS}


def _h3_strings(values: pd.Series) -> list:
    import h3

    out = []
    for v in values:
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            try:
                out.append(h3.int_to_str(int(v)))
            except Exception:  # noqa: BLE001 - invalid integers are reported by the caller
                out.append(None)
        elif isinstance(v, str):
            out.append(v.strip().lower())
        else:
            out.append(None)
    return out


def _detect_h3_column(df: pd.DataFrame, name: str) -> str:
    import h3

    hits = []
    for c in df.columns:
        sample = df[c].dropna().head(50)
        if not len(sample):
            continue
        ids = _h3_strings(sample)
        if all(isinstance(i, str) and h3.is_valid_cell(i) for i in ids):
            hits.append(c)
    if len(hits) > 1:
        named = [c for c in hits if str(c).lower() in H3_COLUMNS]
        if len(named) == 1:
            hits = named
    if len(hits) == 1:
        return hits[0]
    columns = ", ".join(map(repr, df.columns)) or "none"
    if not hits:
        raise PopulationError(
            f"population table {name} has no column of H3 cell ids (columns: {columns}); a CSV or Parquet "
            "population table must have one (e.g. 'h3' or 'id_hex'); pass its name as h3_column=..., or give "
            "polygons in a GeoPackage/GeoParquet instead."
        )
    raise PopulationError(
        f"population table {name} has several columns of H3 cell ids ({', '.join(map(repr, hits))}); choose one "
        "with h3_column=..."
    )


# --------------------------------------------------------------------------------------------------
# GraphML edge population


def node_points_estimate(nodes: gpd.GeoDataFrame, xy: np.ndarray, points: gpd.GeoDataFrame, *, max_snap_m: float):
    """Residents at points that are graph nodes (``graph_node_population`` placed at their nodes) given to the
    street nodes: to the node with the same id, else to the nearest within ``max_snap_m`` (a node the network
    left out, e.g. outside its largest component), else left out and reported.

    Returns
    -------
    urbankit.population.PopulationEstimate
        ``source="graphml"``; ``details``: ``residents_total``, ``residents_same_node``, ``residents_snapped``,
        ``residents_unreached``, ``residents_assigned`` and the counting rule.
    """
    from scipy.spatial import cKDTree

    from .estimate import PopulationEstimate

    pts = points.to_crs(nodes.crs)
    pop = pts["population"].to_numpy(dtype=float)
    pos = nodes.index.get_indexer(pts.index)
    same = pos >= 0
    per_node = np.bincount(pos[same], weights=pop[same], minlength=len(xy)).astype(float)
    rest = ~same & (pop > 0)
    snapped = np.zeros(len(pop), dtype=bool)
    if rest.any():
        dist, nearest = cKDTree(xy).query(shapely.get_coordinates(pts.geometry.values[rest]), k=1)
        ok = dist <= max_snap_m
        snapped[np.flatnonzero(rest)[ok]] = True
        per_node += np.bincount(nearest[ok], weights=pop[rest][ok], minlength=len(xy))
    unreached = rest & ~snapped
    attrs = points.attrs
    details = {
        "label": f"edge population of {Path(str(attrs.get('source', 'the GraphML network'))).name!r}",
        "input": attrs.get("source"),
        "method": "each street's (tessellation cell's) residents counted once, half to each end node",
        "counted_by": attrs.get("counted_by"),
        "streets_or_cells": attrs.get("streets_or_cells"),
        "graph_nodes": len(pop),
        "residents_total": float(pop.sum()),
        "residents_same_node": float(pop[same].sum()),
        "nodes_snapped": int(snapped.sum()),
        "residents_snapped": float(pop[snapped].sum()),
        "max_snap_m": float(max_snap_m),
        "nodes_unreached": int(unreached.sum()),
        "residents_unreached": float(pop[unreached].sum()),
        "residents_assigned": float(per_node.sum()),
    }
    if unreached.any():
        logger.warning(
            "%s: %d graph nodes (%s residents) are not in the network and have no node within %g m; left out.",
            details["label"], int(unreached.sum()), f"{details['residents_unreached']:,.0f}", max_snap_m,
        )
    series = pd.Series(per_node, index=nodes.index.copy(), name="population", dtype=float)
    return PopulationEstimate(per_node=series, source="graphml", total=float(per_node.sum()), details=details)


def read_source(path: Path, *, column: str | None, h3_column: str | None, layer: str | None, area=None, area_crs=None):
    """Read a raster or H3 table as a grid: ``(GeoDataFrame, column, label)``; None for vector files."""
    kind = source_kind(path)
    if kind == "raster":
        if layer is not None:
            logger.warning("layer=%r is not used for raster %s (band 1 is read).", layer, path.name)
        gdf = read_population_raster(path, area=area, area_crs=area_crs)
        if column is not None:
            logger.warning("column=%r is not used for raster %s (band 1 is read).", column, path.name)
        return gdf, "population", f"raster {path.name!r}"
    if kind == "hex":
        gdf, col = read_h3_table(path, h3_column=h3_column, column=column)
        return gdf, (column if column is not None else col), f"H3 table {path.name!r}"
    if h3_column is not None:
        logger.warning("h3_column=%r is only used with CSV/Parquet H3 tables; ignored for %s.", h3_column, path.name)
    return None
