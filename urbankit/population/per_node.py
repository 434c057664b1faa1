"""Residents per street node from any source: the one entry point, :func:`population_per_node`."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .. import datasets
from .._errors import (
    CRSError,
    InvalidOptionError,
    PopulationError,
)
from . import sources as population_sources
from .buildings import _from_buildings
from .estimate import (
    _BUILDING_SNAP_M,
    FLOOR_AREA_PER_RESIDENT_M2,
    RESIDENTIAL_BUILDINGS,
    PopulationEstimate,
    _Problems,
    _rescale,
    _uniform,
)
from .grids import _examples, _from_grid, _normalise_grid, _read_grid_file

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# main entry point


def population_per_node(
    nodes: gpd.GeoDataFrame,
    *,
    grid: gpd.GeoDataFrame | str | Path | None = None,
    column: str | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    context=None,
    floor_area_per_resident_m2: float = FLOOR_AREA_PER_RESIDENT_M2,
    default_levels: float | None = None,
    total: float | None = None,
    max_snap_m: float | None = None,
    extent_buffer_m: float = 0.0,
    partial_cells: str = "whole",
    level_height_m: float = 3.0,
    residential: frozenset[str] | set[str] | None = None,
    overlaps: str = "error",
    h3_column: str | None = None,
    node_population: gpd.GeoDataFrame | None = None,
) -> PopulationEstimate:
    """Estimate the residents of every street node.

    Parameters
    ----------
    nodes : geopandas.GeoDataFrame
        Street nodes: Point geometries in a projected metric CRS, indexed by node id.
    grid : geopandas.GeoDataFrame or path, optional
        Population grid (polygons with a resident count), or the path of a file read with
        :func:`read_population_grid` (or a data set name such as ``"helsinki_population"``). Any CRS;
        it is reprojected to the nodes' CRS. Takes precedence over ``buildings``.
    column : str, optional
        The grid's resident-count column; detected by name when omitted.
    buildings : geopandas.GeoDataFrame, optional
        Buildings with OSM tags ``building``, ``building:levels``, ``building:min_level`` and
        ``height``, and a footprint: either points with the footprint area in a ``footprint_m2``
        column (as ``read_osm(path).buildings``), or footprint polygons (whose area is measured in
        the nodes' CRS). Used when no grid is given.
    context : OSMExtract, optional
        The OSM extract the buildings come from (``read_osm(path)``): its ``landuse`` polygons and
        shop/office/amenity points tell untyped buildings and ground floors apart, its street ways
        measure how densely buildings are mapped, and a ``population`` tag on a boundary lying
        within the network's area calibrates the estimate (buildings only).
    floor_area_per_resident_m2 : float, default :data:`FLOOR_AREA_PER_RESIDENT_M2` (50)
        Gross floor area per resident (buildings only; gross area includes walls and stairs).
        A European average; lower it for crowded housing, or pass ``total`` to calibrate.
    default_levels : float, optional
        Levels of buildings with neither ``building:levels`` nor ``height``. Default: per class
        (houses / other buildings) the median of the tagged buildings of the class when at least
        :data:`MIN_TAGGED_FOR_LOCAL_LEVELS` are tagged (capped at :data:`MAX_DEFAULT_LEVELS`),
        else :data:`DEFAULT_LEVELS_BY_TYPE` (houses 2, others 4).
    total : float, optional
        Total residents. With ``grid`` or ``buildings`` the estimate is rescaled to sum to it
        (it replaces a boundary's population tag); without either it is shared equally among the
        nodes (default: 1 per node).
    max_snap_m : float, optional
        Farthest a grid cell's centroid (or a building's centroid) may be from the node that
        receives its residents when it contains no node itself. Default: half the cell's
        diagonal + 100 m for grid cells, 250 m for buildings. Residents farther away are left
        out and reported in ``details``.
    extent_buffer_m : float, default 0.0
        Grid cells count when they intersect the convex hull of the nodes grown by this many
        metres; the others are outside the network's area (reported in ``details``).
    partial_cells : {'whole', 'area'}, default 'whole'
        What a cell straddling the edge of the extent contributes: all its residents
        (``'whole'``), or the share of its residents equal to the share of its area inside the
        extent (``'area'``; the rest is counted as outside). ``'whole'`` suits networks cut
        generously around the study area; ``'area'`` avoids inflating small areas cut by
        large cells.
    level_height_m : float, default 3.0
        Storey height used to turn a ``height`` tag into levels (buildings only).
    residential : set of str, optional
        ``building=*`` values counted as homes; default :data:`RESIDENTIAL_BUILDINGS`.
    overlaps : {'error', 'split'}, default 'error'
        Grid cells that overlap (duplicated cells, or polygons covering part of each other by more
        than :data:`OVERLAP_TOLERANCE` of the smaller one) would count the residents of the shared
        area twice. ``'error'`` refuses them, naming the cells; ``'split'`` spreads each cell's
        residents evenly over its area and shares every area covered by several cells equally
        among them (two duplicated cells of 100 residents give 100, not 200).
    h3_column : str, optional
        The H3 id column when ``grid`` is the path of an H3 hexagon table; detected when omitted.
    node_population : geopandas.GeoDataFrame, optional
        Residents at graph nodes (points indexed by node id with a ``population`` column), as
        ``load("city.graphml").meta["node_population"]`` holds for GraphML files whose edges carry
        superblockify's ``population``: each goes to the street node of the same id, else to the
        nearest node within ``max_snap_m`` (default 250 m). Used when no grid is given, before
        buildings (``source="graphml"``).

    Returns
    -------
    PopulationEstimate

    Raises
    ------
    CRSError
        ``nodes`` has no CRS or a geographic one, or the grid / buildings have no CRS.
    PopulationError
        Empty nodes, a missing/ambiguous population column, negative or NaN populations, a grid
        that does not overlap the network, or an estimate of 0 residents that is not a genuine 0.
    InvalidOptionError
        An option has an invalid value or type.
    InputFileError, UnsupportedFormatError, CorruptFileError
        ``grid`` is a path that cannot be read.

    When several inputs are wrong, all problems are listed in one error whose type is that of
    the first problem (every one of them is an ``UrbankitError`` and a ``ValueError``).

    Notes
    -----
    *Grid.* Each cell intersecting the network's extent gives all its residents (also those of its
    part beyond the extent) equally to the nodes inside it; a node on the border of two cells
    belongs to one of them only. A populated cell without nodes gives its residents to the node
    nearest to its centroid, if within ``max_snap_m``. Missing (NaN) grid values are an error, not
    zeros: a cell with unknown residents might hold many, and filling it is a one-liner the user
    decides. If the grid holds 0 residents in the network's extent the all-zero estimate is
    returned with a logged warning; if residents exist but none reaches a node, an error is raised.

    *Rasters* (``grid`` the path of a ``.tif``/``.tiff``/``.vrt``/``.img``): only populated cells
    (nodata, NaN and negative cells are ignored and counted in ``details``) touching the network's
    area (the convex hull of the nodes grown by ``extent_buffer_m``) are read; each is cut by the
    area and keeps the share of its residents equal to the share of its area inside (so
    ``partial_cells`` is not used), then assigned as a grid cell. ``details`` then also hold the
    ``raster_*`` counts of :func:`urbankit.population.sources.read_population_raster`, and
    ``raster_residents_in_area == residents_assigned + residents_unreached``. *H3 tables*
    (``.csv``, ``.parquet`` without geometry) are turned into hexagons and used as a grid.

    *Buildings.* Residents = footprint area x residential levels / ``floor_area_per_resident_m2``;
    each building goes to the node nearest to its centroid.

    - Classification: buildings whose ``building`` (or ``building:use``) value is in ``residential``
      (default :data:`RESIDENTIAL_BUILDINGS`) count; those in :data:`NON_RESIDENTIAL_BUILDINGS`
      (or with another ``building:use``) do not. Untyped ones (``building=yes`` and unknown values)
      count when inside a ``landuse`` of :data:`RESIDENTIAL_LANDUSE`, or when neither inside a
      ``landuse`` of :data:`NON_RESIDENTIAL_LANDUSE` nor a place of business (a ``shop``,
      ``office`` or premises ``amenity`` tag on the building, or a shop/office/craft/healthcare/
      amenity point within it). Land use and points come from ``context``.
    - Ground floors: a counted building with a place of business on or in it (or
      ``building=mixed_use``) loses one level: ground floors with shops are not homes.
    - Levels: ``building:levels`` (the highest of ``"3;4"``) minus ``building:min_level``, else
      ``height / level_height_m`` rounded (at least 1), else the default (see ``default_levels``);
      ``roof:levels`` are ignored; ``details`` count the buildings of each kind.
    - Sparse mapping: with ``context``, fewer than :data:`MIN_FOOTPRINT_M2_PER_STREET_KM` m² of
      building footprint per km of street raises :class:`PopulationError` (unless ``total`` is given).
    - Calibration: ``total`` rescales the estimate; else the largest boundary or place area of
      ``context`` with a ``population`` tag lying within the network's area
      (:data:`BOUNDARY_INSIDE_SHARE`) scales every building by its tag over the estimate inside it.
      ``description`` says which.
    - Plausibility: ``details`` give the gross density over the area and the densest H3 cell; a
      warning is logged above :data:`MAX_AREA_DENSITY_PER_KM2` / :data:`MAX_CELL_DENSITY_PER_KM2`.

    Points in buildings are matched within the disc of the footprint's area around its centroid
    (``read_osm`` keeps no footprint polygons). Known biases: untyped offices without any mapped
    shop or office still count as homes, and homes in untyped buildings of commercial land use are
    missed; vacant and second homes count as lived in.

    Examples
    --------
    Two grid cells covering a synthetic 2 x 2 block street grid: every resident goes to a node.

    >>> import geopandas as gpd, shapely
    >>> import urbankit as uk
    >>> from urbankit.mock import grid_extract
    >>> net = uk.build_network(grid_extract(2, 2), "walk")
    >>> x0, y0, x1, y1 = net.nodes.total_bounds
    >>> xm = (x0 + x1) / 2
    >>> cells = gpd.GeoDataFrame(
    ...     {"population": [120, 80]},
    ...     geometry=[shapely.box(x0 - 1, y0 - 1, xm, y1 + 1), shapely.box(xm, y0 - 1, x1 + 1, y1 + 1)],
    ...     crs=net.crs,
    ... )
    >>> est = population_per_node(net.nodes, grid=cells)
    >>> est
    Population: 200 residents from grid (GeoDataFrame) (2 cells)
    >>> round(est.per_node.sum())
    200
    """
    problems = _Problems()
    _check_options(
        problems,
        floor_area_per_resident_m2=floor_area_per_resident_m2,
        default_levels=default_levels,
        total=total,
        max_snap_m=max_snap_m,
        extent_buffer_m=extent_buffer_m,
        level_height_m=level_height_m,
    )
    if overlaps not in ("error", "split"):
        problems.add(
            InvalidOptionError,
            f"overlaps={overlaps!r} is invalid: it must be 'error' (refuse overlapping grid cells) or "
            "'split' (share the residents of overlapping areas by area).",
        )
    if partial_cells not in ("whole", "area"):
        problems.add(
            InvalidOptionError,
            f"partial_cells={partial_cells!r} is invalid: it must be 'whole' or 'area'.",
        )
    xy = _check_nodes(nodes, problems)
    if residential is not None and (isinstance(residential, str) or not all(isinstance(v, str) for v in residential)):
        problems.add(
            InvalidOptionError,
            f"residential={residential!r} is invalid: it must be a set of building=* values, "
            "e.g. {'house', 'apartments'}.",
        )

    source_details: dict = {}
    if grid is not None:
        if buildings is not None:
            logger.info("both grid and buildings given: using the grid, ignoring the buildings.")
        if isinstance(grid, (str, Path)):
            grid = Path(datasets.resolve(grid))
            name = grid.name
            label = f"grid {name!r}"
            area = None
            if population_sources.source_kind(grid) == "raster":
                problems.raise_if_any()  # a raster is read around the nodes: they must be usable
                area = _network_area(xy, extent_buffer_m, label=f"raster {name!r}")
                partial_cells = "whole"  # its cells come cut by the area already
            # unreadable files raise at once; content problems are collected with the others
            other = population_sources.read_source(
                grid, column=column, h3_column=h3_column, layer=None, area=area, area_crs=nodes.crs if area else None
            )
            if other is not None:
                raw, raw_column, label = other
                source_details = {"input": str(grid), **raw.attrs.get("details", {})}
                if area is not None and len(raw) == 0:
                    logger.warning(
                        "%s holds no residents in the street network's area; every node gets 0 residents.", label
                    )
                    zeros = pd.Series(0.0, index=nodes.index.copy(), name="population", dtype=float)
                    return PopulationEstimate(
                        per_node=zeros,
                        source="grid",
                        total=0.0,
                        details={"label": label, **source_details, "residents_assigned": 0.0},
                    )
            else:
                raw, raw_column = _read_grid_file(Path(grid), layer=None), column
            grid_n = _normalise_grid(raw, column=raw_column, name=repr(name), problems=problems)
        elif isinstance(grid, gpd.GeoDataFrame):
            src = grid.attrs.get("source")
            label = f"grid {src!r}" if src else "grid (GeoDataFrame)"
            # a grid from read_population_grid is already normalised
            normalised = "population_column" in grid.attrs and column is None and "population" in grid
            grid_n = _normalise_grid(
                grid,
                column="population" if normalised else column,
                name=label.removeprefix("grid "),
                problems=problems,
            )
            if normalised and grid_n is not None:
                grid_n.attrs["population_column"] = grid.attrs["population_column"]
        else:
            problems.add(
                InvalidOptionError,
                f"grid must be a GeoDataFrame or the path of a grid file, not {type(grid).__name__}.",
            )
            grid_n = None
        if grid_n is not None and grid_n.crs is None:
            problems.add(
                CRSError,
                f"population {label} has no CRS; set it with .set_crs(...), e.g. "
                "grid.set_crs('EPSG:3067') for a Finnish grid in metres (the CRS its coordinates "
                "are in, not the one you want).",
            )
        problems.raise_if_any()
        est = _from_grid(
            nodes,
            xy,
            grid_n,
            label=label,
            max_snap_m=max_snap_m,
            extent_buffer_m=extent_buffer_m,
            partial_cells=partial_cells,
            overlaps=overlaps,
        )
        est.details.update(source_details)
    elif node_population is not None:
        if buildings is not None:
            logger.info("both node_population and buildings given: using node_population, ignoring the buildings.")
        problems.raise_if_any()
        est = population_sources.node_points_estimate(
            nodes, xy, node_population, max_snap_m=_BUILDING_SNAP_M if max_snap_m is None else float(max_snap_m)
        )
    elif buildings is not None:
        if column is not None:
            logger.warning("column=%r is only used with a grid; ignored.", column)
        if not isinstance(buildings, gpd.GeoDataFrame):
            problems.add(
                InvalidOptionError,
                f"buildings must be a GeoDataFrame (e.g. read_osm(path).buildings), not {type(buildings).__name__}.",
            )
        else:
            if buildings.crs is None:
                problems.add(
                    CRSError,
                    "buildings have no CRS; set it with .set_crs(...) (OSM footprints are EPSG:4326).",
                )
            if "building" not in buildings.columns:
                problems.add(
                    PopulationError,
                    "buildings have no 'building' column (columns: "
                    f"{', '.join(map(repr, buildings.columns))}); give OSM building footprints, "
                    "e.g. read_osm(path).buildings.",
                )
        problems.raise_if_any()
        est = _from_buildings(
            nodes,
            xy,
            buildings,
            floor_area_per_resident_m2=float(floor_area_per_resident_m2),
            default_levels=default_levels,
            max_snap_m=_BUILDING_SNAP_M if max_snap_m is None else float(max_snap_m),
            level_height_m=float(level_height_m),
            residential=RESIDENTIAL_BUILDINGS if residential is None else residential,
            context=context,
            total=None if total is None else float(total),
        )
    else:
        if column is not None:
            logger.warning("column=%r is only used with a grid; ignored.", column)
        problems.raise_if_any()
        return _uniform(nodes, total)

    if total is not None:
        est = _rescale(est, float(total))
    logger.info("%s", est.describe())
    return est


def _network_area(xy: np.ndarray, extent_buffer_m: float, *, label: str):
    """The network's area as :func:`_from_grid` defines it: the nodes' convex hull grown by ``extent_buffer_m``."""
    hull = shapely.convex_hull(shapely.multipoints(xy))
    extent = hull.buffer(extent_buffer_m) if extent_buffer_m > 0 else hull
    if extent.area <= 0:
        raise PopulationError(
            f"the street nodes lie on a line or a point, so the network has no area to take residents of {label} "
            "from; pass extent_buffer_m=... (metres) to grow it."
        )
    return extent


def _check_options(problems: _Problems, **opts) -> None:
    def bad(name: str, value, need: str) -> None:
        problems.add(InvalidOptionError, f"{name}={value!r} is invalid: it must be {need}.")

    def number(v) -> float | None:
        if isinstance(v, bool):
            return None
        try:
            return float(v)
        except (TypeError, ValueError):
            return None

    for name, need in (
        ("floor_area_per_resident_m2", "a positive number of m²"),
        ("level_height_m", "a positive number of metres"),
    ):
        v = number(opts[name])
        if v is None or not math.isfinite(v) or v <= 0:
            bad(name, opts[name], need)
    v = opts["extent_buffer_m"]
    f = number(v)
    if f is None or not math.isfinite(f) or f < 0:
        bad("extent_buffer_m", v, "a number of metres >= 0")
    for name, need in (
        ("default_levels", "a positive number of levels, or None"),
        ("max_snap_m", "a number of metres >= 0, or None"),
        ("total", "a number of residents >= 0, or None"),
    ):
        v = opts[name]
        if v is None:
            continue
        f = number(v)
        if f is None or not math.isfinite(f) or f < 0 or (name == "default_levels" and f == 0):
            bad(name, v, need)


def _check_nodes(nodes, problems: _Problems) -> np.ndarray | None:
    """Node coordinates (n, 2) in the nodes' CRS; problems are collected."""
    if not isinstance(nodes, gpd.GeoDataFrame):
        problems.add(
            InvalidOptionError,
            f"nodes must be the GeoDataFrame of street nodes (network.nodes), not {type(nodes).__name__}.",
        )
        return None
    if len(nodes) == 0:
        problems.add(
            PopulationError,
            "nodes is empty: there is no street node to give residents to; build the network of "
            "an area with streets first.",
        )
    if nodes.crs is None:
        problems.add(
            CRSError,
            "nodes have no CRS; project them to a metric CRS with .to_crs(...) (e.g. "
            ".set_crs('EPSG:4326').to_crs(nodes.estimate_utm_crs()) for lon/lat points).",
        )
    elif CRS.from_user_input(nodes.crs).is_geographic:
        problems.add(
            CRSError,
            f"nodes are in the geographic CRS {nodes.crs.to_string()} (degrees); project them to "
            "a metric CRS with .to_crs(...), e.g. nodes.to_crs(nodes.estimate_utm_crs()).",
        )
    if len(nodes) == 0:
        return None
    geom = nodes.geometry.values
    ok = shapely.get_type_id(geom) == 0  # Point (missing geometries give -1)
    ok &= ~shapely.is_empty(geom)
    if not ok.all():
        problems.add(
            PopulationError,
            f"nodes must all be points; {int((~ok).sum())} are missing, empty or not points "
            f"(e.g. node ids {_examples(nodes.index[~ok])}).",
        )
        return None
    return shapely.get_coordinates(geom)
