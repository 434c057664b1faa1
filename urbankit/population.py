"""Residents per street node: the weights behind "share of residents within 15 minutes".

Three sources, in order of preference:

``grid``
    A population grid (polygons with a resident count, e.g. a 250 m or 1 km census grid). Each
    cell's residents are shared equally among the street nodes inside the cell; a populated cell
    without any node gives its residents to the node nearest to its centroid, if that node is close
    enough.
``buildings``
    OpenStreetMap buildings: residents = footprint area x levels / floor area per resident, for
    residential buildings only; each building's residents go to its nearest node. The footprint
    area is the ``footprint_m2`` column of ``read_osm(...).buildings`` (points), or the area of
    footprint polygons given by the user.
``uniform``
    No data: every node gets the same weight (one resident per node unless a total is given).

The result is a :class:`PopulationEstimate`, whose ``per_node`` series is aligned to the node index
of the street network and whose ``details`` account for every resident of the input (assigned,
outside the network's area, or too far from any node).
"""

from __future__ import annotations

import html
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from . import datasets, population_sources
from ._errors import (
    CorruptFileError,
    CRSError,
    InputFileError,
    InvalidOptionError,
    PopulationError,
    UnsupportedFormatError,
)

logger = logging.getLogger(__name__)

__all__ = [
    "FLOOR_AREA_PER_RESIDENT_M2",
    "GRID_POPULATION_COLUMNS",
    "GRID_SUFFIXES",
    "NON_RESIDENTIAL_BUILDINGS",
    "RESIDENTIAL_BUILDINGS",
    "PopulationEstimate",
    "population_per_node",
    "read_population_grid",
]

#: Column names recognised (case-insensitively, exact match) as the resident count of a grid.
#: Besides English names it covers some national grids (``asukkaita`` / ``vaesto``: Finnish,
#: ``einwohner``: German, ``tot_p``: Eurostat GEOSTAT). Pass ``column=`` for any other name.
GRID_POPULATION_COLUMNS = (
    "population",
    "pop",
    "pop_total",
    "total_pop",
    "tot_p",
    "asukkaita",
    "vaesto",
    "residents",
    "inhabitants",
    "einwohner",
    "habitants",
    "total",
)

#: File types :func:`read_population_grid` reads.
GRID_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb", ".parquet", ".geoparquet")

#: ``building=*`` values counted as homes (typed residential buildings). ``building=yes`` (untyped)
#: and values in neither this set nor :data:`NON_RESIDENTIAL_BUILDINGS` are counted only where the
#: land use or the absence of shops, offices and amenities supports living there (see
#: :func:`population_per_node`, Notes).
RESIDENTIAL_BUILDINGS = frozenset(
    {
        "residential",
        "apartments",
        "house",
        "detached",
        "semidetached_house",
        "terrace",
        "dormitory",
        "bungalow",
        "farm",
        "houseboat",
        "static_caravan",
        "cabin",
        "ger",
        "stilt_house",
        "trullo",
    }
)

#: ``building=*`` (or ``building:use=*``) values that are not homes: their residents are 0.
NON_RESIDENTIAL_BUILDINGS = frozenset(
    {
        "commercial", "retail", "office", "industrial", "warehouse", "supermarket", "kiosk", "shop",
        "church", "cathedral", "chapel", "mosque", "synagogue", "temple", "shrine", "monastery", "religious",
        "school", "university", "college", "kindergarten", "hospital", "clinic", "hotel", "motel",
        "garage", "garages", "carport", "shed", "hut", "roof", "parking", "public", "civic", "government",
        "train_station", "transportation", "station", "service", "utility", "construction", "ruins",
        "barn", "cowshed", "stable", "sty", "greenhouse", "glasshouse", "farm_auxiliary", "silo", "hangar",
        "stadium", "sports_hall", "sports_centre", "grandstand", "pavilion", "museum", "theatre", "cinema",
        "library", "fire_station", "police", "prison", "military", "bunker", "toilets", "water_tower",
        "tower", "transformer_tower", "power", "digester", "storage_tank", "bridge", "gatehouse",
        "boathouse", "restaurant", "manufacture", "factory", "data_center", "atrium", "entrance", "ship",
        "tent", "container", "bakehouse", "slurry_tank", "tech_cab", "outbuilding", "allotment_house",
    }
)

#: ``landuse=*`` values where an untyped building is taken for a home.
RESIDENTIAL_LANDUSE = frozenset({"residential", "village_green"})
#: ``landuse=*`` values where an untyped building is not taken for a home.
NON_RESIDENTIAL_LANDUSE = frozenset(
    {
        "commercial", "retail", "industrial", "railway", "military", "religious", "education", "institutional",
        "port", "garages", "construction", "cemetery", "depot", "civic_admin", "harbour", "quarry", "landfill",
    }
)
#: ``amenity=*`` values that are objects or spaces, not premises on a ground floor: they do not mark
#: a building as a place of business.
AMENITY_NOT_PREMISES = frozenset(
    {
        "bench", "waste_basket", "bicycle_parking", "motorcycle_parking", "parking", "parking_entrance",
        "parking_space", "vending_machine", "post_box", "letter_box", "recycling", "drinking_water",
        "telephone", "atm", "charging_station", "fountain", "clock", "shelter", "waste_disposal", "grit_bin",
        "bbq", "water_point", "loading_dock", "taxi", "bicycle_rental", "hunting_stand", "lounger",
        "photo_booth", "ticket_validator", "payment_terminal", "smoking_area", "trolley_bay", "toilets",
        "kick-scooter_rental", "compressed_air", "device_charging_station", "dog_toilet", "give_box",
        "public_bookcase", "table", "shower", "watering_place", "car_sharing", "bicycle_repair_station",
    }
)
#: Keys of OSM objects that make a place of business (ground floor not homes), besides ``amenity``.
ACTIVITY_KEYS = ("shop", "office", "craft", "healthcare")

#: Gross floor area per resident, m², default of ``floor_area_per_resident_m2``: useful dwelling
#: floor space in the EU is about 40 m² per person (Eurostat housing statistics: 1.6 rooms per
#: person in 2020; Odyssee-Mure / ENTRANZE: 35-45 m² of dwelling floor area per capita in most EU
#: countries), and a multi-storey residential building's gross floor area (what footprint x levels
#: measures: walls, stairs, shafts, corridors included) is ~1.25 x its useful area (net-to-gross
#: ~0.8). 40 x 1.25 = 50. A documented European value, not fitted to a city; vacant and second homes
#: are not deducted. Lower it for crowded housing, or calibrate with a known total.
FLOOR_AREA_PER_RESIDENT_M2 = 50.0

#: Levels of a building with neither ``building:levels`` nor ``height``, by type, where the area has
#: fewer than :data:`MIN_TAGGED_FOR_LOCAL_LEVELS` tagged buildings of its class (houses / others):
#: single-family houses 2, bungalows 1, multi-unit and untyped buildings 4 (a European mid-rise
#: block; historic centres are higher, suburbs lower: pass ``default_levels`` or a total to correct).
DEFAULT_LEVELS_BY_TYPE = {
    "house": 2.0, "detached": 2.0, "semidetached_house": 2.0, "terrace": 2.0, "farm": 2.0,
    "bungalow": 1.0, "cabin": 1.0, "static_caravan": 1.0, "houseboat": 1.0, "ger": 1.0,
}
DEFAULT_LEVELS_OTHER = 4.0
#: Tagged buildings of a class (houses, or the others) needed to use their median levels as the
#: local default for that class; fewer give :data:`DEFAULT_LEVELS_BY_TYPE`.
MIN_TAGGED_FOR_LOCAL_LEVELS = 30
#: The local default is capped to this many levels (a median of a few towers is no default).
MAX_DEFAULT_LEVELS = 12.0

#: Building footprint per km of street below which buildings are too sparse to estimate residents
#: (m²/km): a street lined on both sides with small detached houses (a 100 m² house every 20 m)
#: has ~10,000 m²/km, dense centres 20,000-60,000 m²/km; under a tenth of the suburban value the
#: buildings are mostly unmapped.
MIN_FOOTPRINT_M2_PER_STREET_KM = 1_000.0

#: Gross residential density (residents per km² over the whole network's area) above which the
#: estimate is implausible: the densest European districts hold ~35,000-50,000 residents/km²
#: (Barcelona's Eixample ~36,000, Paris 11e ~40,000), a whole-city extract far less.
MAX_AREA_DENSITY_PER_KM2 = 50_000.0
#: ... and per H3 cell (resolution 8, ~0.7 km²): the densest Asian neighbourhoods (Mong Kok,
#: Dharavi) reach ~130,000-150,000 residents/km².
MAX_CELL_DENSITY_PER_KM2 = 150_000.0

#: A boundary (or place area) with a ``population`` tag calibrates the estimate when at least this
#: share of its area lies inside the network's area (convex hull of the nodes + 100 m) ...
BOUNDARY_INSIDE_SHARE = 0.9
#: ... and, when rebuilt from a clipped relation, at least this share of its outer ways was in the
#: file and at most :data:`BOUNDARY_MAX_GAP_SHARE` of its perimeter had to be closed by straight lines.
BOUNDARY_MIN_MEMBERS_SHARE = 0.8
BOUNDARY_MAX_GAP_SHARE = 0.3

_SNAP_MARGIN_M = 100.0  # added to half a cell's diagonal for the default grid snap distance
_BUILDING_SNAP_M = 250.0  # default snap distance of buildings
_MAX_LEVELS = 200.0  # building:levels above this are treated as mapping errors


@dataclass(frozen=True, repr=False, eq=False)
class PopulationEstimate:
    """Residents assigned to street nodes.

    Built by :func:`population_per_node`; the constructor's parameters are the dataclass fields, kept
    as attributes of the same names.

    Parameters
    ----------
    per_node : pandas.Series
        Float residents per node, indexed like the ``nodes`` it was computed for, named
        ``"population"``. Nodes that received nobody hold 0.
    source : {'grid', 'buildings', 'graphml', 'uniform'}
        Which input the numbers come from (``'grid'`` also for rasters and H3 tables, whose
        ``details['label']`` names them; ``'graphml'``: a GraphML network's edge population).
    total : float
        ``per_node.sum()``.
    details : dict, optional
        How the estimate was made and where every input resident went. Always has ``"label"``
        (the input, for display). For grids: ``cells_total``, ``residents_total``, ``cells_used``
        (cells overlapping the network's extent), ``residents_in_extent``,
        ``cells_outside_extent``, ``residents_outside_extent``, ``cells_with_nodes``,
        ``cells_snapped`` / ``residents_snapped`` (cells without a node, given to the nearest node),
        ``cells_unreached`` / ``residents_unreached`` (no node within ``max_snap_m``),
        ``residents_assigned``, ``nodes_in_cells``, ``nodes_outside_grid``. For buildings:
        ``buildings_total``, ``buildings_used``, ``buildings_non_residential``,
        ``buildings_not_polygons`` (residential rows without a footprint: neither a polygon nor a
        point with ``footprint_m2``), ``buildings_levels_tagged``, ``buildings_levels_from_height``,
        ``buildings_default_levels``, ``default_levels_houses`` / ``default_levels_other`` (or
        ``default_levels`` when given), ``buildings_typed_non_residential``, ``buildings_untyped`` /
        ``buildings_untyped_counted``, ``buildings_ground_floor_not_homes``, ``street_km`` /
        ``footprint_m2_per_street_km`` (with a context), ``calibration_*`` (with a boundary tag),
        ``density_per_km2`` / ``max_cell_density_per_km2``, ``buildings_unreached`` /
        ``residents_unreached``, ``residents_assigned``. ``file``, ``method`` and ``calibration``
        back the properties of the same names; :attr:`description` states them in one sentence.
        ``scale_factor`` when rescaled to ``total``. Input residents are conserved:
        ``residents_total == residents_assigned + residents_unreached (+ residents_outside_extent)``.
    """

    per_node: pd.Series
    source: str
    total: float
    details: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line saying how many residents and where they come from.

        Returns
        -------
        str
            E.g. ``"Population: 200 residents from grid (GeoDataFrame) (2 cells)"``; also the
            object's ``repr``.
        """
        d = self.details
        head = f"Population: {self.total:,.0f} residents"
        if self.source == "grid":
            text = f"{head} from {d.get('label', 'grid')} ({d.get('cells_used', 0):,} cells)"
        elif self.source == "buildings":
            text = (
                f"{head} from {d.get('buildings_used', 0):,} residential buildings "
                f"({d.get('floor_area_per_resident_m2', 0):g} m² floor area per resident)"
            )
        elif self.source == "graphml":
            label = d.get("label", "GraphML edge population")
            text = f"{head} from the {label} (half of each street's to each end)"
        else:
            text = f"{head}, uniform over {len(self.per_node):,} nodes ({d.get('label', 'uniform')})"
        if "scale_factor" in d:
            text += f", scaled x{d['scale_factor']:.3g} to the given total"
        return text

    def __repr__(self) -> str:
        return self.summary()

    @property
    def file(self) -> str | None:
        """The input file (or data set) the residents come from, if any."""
        return self.details.get("file")

    @property
    def method(self) -> str:
        """How residents were obtained, in a few words."""
        return self.details.get("method") or {
            "grid": "residents of grid cells shared among the nodes inside them",
            "uniform": "the same number of residents at every node",
        }.get(self.source, self.source)

    @property
    def calibration(self) -> str | None:
        """What the estimate was scaled to (a population tag, a user total), or None."""
        return self.details.get("calibration")

    @property
    def description(self) -> str:
        """The provenance in one sentence, e.g. "residents: 38,912, estimated from 1,283 OSM
        buildings, calibrated to Monaco's population tag 39,050"."""
        d = self.details
        head = f"residents: {self.total:,.0f}"
        if self.source == "buildings":
            text = f"{head}, estimated from {d.get('buildings_used', 0):,} OSM buildings"
        elif self.source == "uniform":
            text = f"{head}, {d.get('label', 'uniform')} (the same at every node)"
        else:
            text = f"{head}, from {d.get('label', self.source)}"
        if self.calibration:
            text += f", {self.calibration}"
        elif self.source == "buildings":
            text += " (not calibrated: no known total)"
        return text

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(str(k))}</td>"
            f"<td style='text-align:right'>{html.escape(_fmt(v))}</td></tr>"
            for k, v in self.details.items()
            if k != "label"
        )
        return (
            f"<div><p><b>{html.escape(self.summary())}</b></p>"
            f"<details><summary>details</summary><table>{rows}</table></details></div>"
        )


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.3g}"
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    return str(v)


# --------------------------------------------------------------------------------------------------
# problems are collected, then raised once


class _Problems:
    """Collects input problems so the user sees all of them in one error."""

    def __init__(self) -> None:
        self.items: list[tuple[type[Exception], str]] = []

    def add(self, kind: type[Exception], message: str) -> None:
        self.items.append((kind, message))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        kind, first = self.items[0]
        if len(self.items) == 1:
            raise kind(first)
        lines = "\n".join(f"  - {msg}" for _, msg in self.items)
        raise kind(f"{len(self.items)} problems with the population inputs:\n{lines}")


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
        (``.csv`` or ``.parquet`` without geometry, see :mod:`urbankit.population_sources`), or the
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
    ``raster_*`` counts of :func:`urbankit.population_sources.read_population_raster`, and
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
    logger.info("%s", est.summary())
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


# --------------------------------------------------------------------------------------------------
# buildings


def _parse_max_number(values: pd.Series, *, height: bool = False) -> np.ndarray:
    """Largest number in an OSM value (``"3"``, ``"3.5"``, ``"3;4"``), NaN when unparseable.

    With ``height=True`` a unit ``m`` is accepted and feet (``ft``, ``'``) are converted.
    """
    s = pd.Series(values.to_numpy(dtype=object), dtype="string")  # positional index
    parts = s.str.split(";").explode().str.strip()
    if height:
        m = parts.str.extract(r"^(\d+(?:\.\d+)?)\s*(m|ft|')?$", expand=True)
        num = pd.to_numeric(m[0], errors="coerce")
        num = num.where(~m[1].isin(["ft", "'"]), num * 0.3048)
    else:
        num = pd.to_numeric(parts.where(parts.str.fullmatch(r"\d+(?:\.\d+)?").fillna(False)), errors="coerce")
    out = num.astype(float).groupby(level=0).max()
    return np.array(out.reindex(range(len(s))), dtype=float)  # a writable copy


def _building_levels(b: pd.DataFrame, *, level_height_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Levels (NaN where unknown) and how each was found (0 tag, 1 height, -1 unknown)."""
    n = len(b)
    none = pd.Series([None] * n, dtype=object)
    levels = _parse_max_number(b["building:levels"] if "building:levels" in b else none)
    levels[(levels <= 0) | (levels > _MAX_LEVELS)] = np.nan
    min_level = _parse_max_number(b["building:min_level"] if "building:min_level" in b else none)
    sub = np.isfinite(levels) & np.isfinite(min_level) & (min_level < levels)
    levels[sub] = levels[sub] - min_level[sub]
    height = _parse_max_number(b["height"] if "height" in b else none, height=True)
    from_height = np.maximum(1.0, np.round(height / level_height_m))
    from_height[~(height > 0) | (from_height > _MAX_LEVELS)] = np.nan
    how = np.where(np.isfinite(levels), 0, np.where(np.isfinite(from_height), 1, -1))
    return np.where(np.isfinite(levels), levels, from_height), how


def _tag(b: pd.DataFrame, key: str) -> pd.Series:
    """A tag column as lower-case stripped strings (<NA> where absent), positional index."""
    if key not in b.columns:
        return pd.Series(pd.NA, index=range(len(b)), dtype="string")
    return pd.Series(b[key].to_numpy(dtype=object), dtype="string").str.strip().str.lower()


def _activity_points(features) -> np.ndarray:
    """(n, 2) lon/lat of the OSM points that are shops, offices, crafts, healthcare or amenity premises."""
    if features is None or len(features) == 0 or "tags" not in features.columns:
        return np.empty((0, 2))
    geom = features.geometry.values
    is_pt = shapely.get_type_id(geom) == 0
    tags = features["tags"].to_numpy(dtype=object)[is_pt]

    def premises(t) -> bool:
        if not isinstance(t, dict):
            return False
        if any(k in t for k in ACTIVITY_KEYS):
            return True
        a = t.get("amenity")
        return a is not None and a not in AMENITY_NOT_PREMISES

    ok = np.fromiter((premises(t) for t in tags), dtype=bool, count=len(tags))
    return shapely.get_coordinates(geom[is_pt][ok])


def _landuse_of(points_4326: np.ndarray, features) -> tuple[np.ndarray, np.ndarray]:
    """Whether each building point lies in a residential / a non-residential ``landuse`` polygon."""
    n = len(points_4326)
    res, nonres = np.zeros(n, bool), np.zeros(n, bool)
    if features is None or len(features) == 0 or "tags" not in features.columns or n == 0:
        return res, nonres
    geom = features.geometry.values
    is_poly = np.isin(shapely.get_type_id(geom), (3, 6))
    values = np.array(
        [t.get("landuse") if isinstance(t, dict) else None for t in features["tags"].to_numpy(dtype=object)[is_poly]],
        dtype=object,
    )
    for want, out in ((RESIDENTIAL_LANDUSE, res), (NON_RESIDENTIAL_LANDUSE, nonres)):
        polys = geom[is_poly][np.isin(values, list(want))]
        if len(polys):
            hit = shapely.STRtree(polys).query(shapely.points(points_4326), predicate="within")[0]
            out[hit] = True
    return res, nonres


def _default_levels(kind: pd.Series, levels: np.ndarray, counted: np.ndarray) -> tuple[np.ndarray, dict]:
    """Levels for buildings without any: per class (houses / others) the median of the tagged buildings
    of the class counted as homes when there are at least :data:`MIN_TAGGED_FOR_LOCAL_LEVELS`, capped
    at :data:`MAX_DEFAULT_LEVELS`, else :data:`DEFAULT_LEVELS_BY_TYPE`."""
    by_type = kind.map(DEFAULT_LEVELS_BY_TYPE).astype(float).to_numpy(na_value=np.nan)
    house = np.isfinite(by_type)
    out = np.where(house, by_type, DEFAULT_LEVELS_OTHER)
    info = {}
    known = np.isfinite(levels) & counted
    for name, cls in (("houses", house), ("other", ~house)):
        tagged = known & cls
        if tagged.sum() >= MIN_TAGGED_FOR_LOCAL_LEVELS:
            med = float(min(np.median(levels[tagged]), MAX_DEFAULT_LEVELS))
            out[cls] = med
            info[f"default_levels_{name}"] = f"{med:g} (median of {int(tagged.sum())} tagged buildings)"
        else:
            info[f"default_levels_{name}"] = (
                f"by type ({int(tagged.sum())} tagged buildings, fewer than {MIN_TAGGED_FOR_LOCAL_LEVELS})"
            )
    return out, info


def _street_km(context) -> float | None:
    """Length of the street ways of an OSM extract, km (None without one)."""
    wn = getattr(context, "way_nodes", None)
    if wn is None or len(wn) < 2:
        return None
    way = wn["way"].to_numpy()
    lon, lat = np.radians(wn["lon"].to_numpy(float)), np.radians(wn["lat"].to_numpy(float))
    same = way[1:] == way[:-1]
    dx = np.diff(lon) * np.cos((lat[1:] + lat[:-1]) / 2)
    dy = np.diff(lat)
    return float((np.hypot(dx, dy)[same]).sum() * 6_371.0088)


def _calibration_boundary(context, nodes_crs, hull, pts_xy: np.ndarray, residents: np.ndarray):
    """The boundary (or place area) with a population tag that calibrates the estimate, as
    (name, population, inside mask, note), or None; the reasons others were not used are logged."""
    areas = (getattr(context, "meta", None) or {}).get("population_areas") or []
    best = None
    for a in areas:
        name = a.get("name") or f"{a.get('osm_type')} {a.get('osm_id')}"
        try:
            pop = float(str(a.get("population")).replace(",", "").replace(" ", ""))
        except ValueError:
            logger.info("population tag %r of %s is not a number; not used", a.get("population"), name)
            continue
        if not (math.isfinite(pop) and pop > 0):
            continue
        if "members_total" in a and (
            a["members_found"] < BOUNDARY_MIN_MEMBERS_SHARE * a["members_total"]
            or a["gap_m"] > BOUNDARY_MAX_GAP_SHARE * a["perimeter_m"]
        ):
            continue  # mostly outside the extract: only a few of its ways are in the file
        poly = gpd.GeoSeries.from_wkb([bytes.fromhex(a["wkb_hex"])], crs="EPSG:4326").to_crs(nodes_crs).values[0]
        if poly.is_empty or poly.area <= 0:
            continue
        share = shapely.area(shapely.intersection(poly, hull)) / poly.area
        if share < BOUNDARY_INSIDE_SHARE:
            logger.debug("boundary %s: only %.0f%% inside the network's area; not used", name, 100 * share)
            continue
        inside = shapely.contains_xy(poly, pts_xy[:, 0], pts_xy[:, 1])
        est_inside = float(residents[inside].sum())
        if est_inside <= 0:
            continue
        if best is None or poly.area > best[4]:
            best = (name, pop, inside, est_inside, poly.area)
    return best


def _plausibility(xy_nodes: np.ndarray, nodes_crs, per_node: np.ndarray, hull) -> dict:
    """Gross residential density over the network's area and per H3 cell (resolution 8), with a
    warning above :data:`MAX_AREA_DENSITY_PER_KM2` / :data:`MAX_CELL_DENSITY_PER_KM2`."""
    area_km2 = float(shapely.area(hull)) / 1e6
    out: dict = {"area_km2": area_km2}
    if area_km2 > 0:
        dens = float(per_node.sum()) / area_km2
        out["density_per_km2"] = dens
        if dens > MAX_AREA_DENSITY_PER_KM2:
            logger.warning(
                "implausible estimate: %s residents/km² over the whole %.2f km² area, above the densest "
                "European districts (%s/km²); pass a population grid or a known total=.",
                f"{dens:,.0f}",
                area_km2,
                f"{MAX_AREA_DENSITY_PER_KM2:,.0f}",
            )
    try:
        import h3
    except ImportError:  # pragma: no cover - h3 is a dependency of the hex layer
        return out
    lonlat = gpd.GeoSeries(shapely.points(xy_nodes), crs=nodes_crs).to_crs("EPSG:4326")
    cells = np.array([h3.latlng_to_cell(y, x, 8) for x, y in zip(lonlat.x, lonlat.y)], dtype=object)
    sums = pd.Series(per_node).groupby(cells).sum()
    if len(sums):
        dens = np.array([v / h3.cell_area(c, unit="km^2") for c, v in sums.items()])
        out["max_cell_density_per_km2"] = float(dens.max())
        if dens.max() > MAX_CELL_DENSITY_PER_KM2:
            logger.warning(
                "implausible estimate: %d H3 cells (resolution 8) hold more than %s residents/km² (up to %s); "
                "pass a population grid or a known total=.",
                int((dens > MAX_CELL_DENSITY_PER_KM2).sum()),
                f"{MAX_CELL_DENSITY_PER_KM2:,.0f}",
                f"{dens.max():,.0f}",
            )
    return out


def _from_buildings(
    nodes: gpd.GeoDataFrame,
    xy: np.ndarray,
    buildings: gpd.GeoDataFrame,
    *,
    floor_area_per_resident_m2: float,
    default_levels: float | None,
    max_snap_m: float,
    level_height_m: float,
    residential,
    context=None,
    total: float | None = None,
) -> PopulationEstimate:
    from scipy.spatial import cKDTree

    n_nodes = len(xy)
    residential = {str(v).strip().lower() for v in residential}
    b = buildings.reset_index(drop=True)
    kind = _tag(b, "building")
    use = _tag(b, "building:use")
    geom = b.geometry.values
    type_id = shapely.get_type_id(geom)
    nonempty = ~shapely.is_empty(geom)
    is_poly = np.isin(type_id, (3, 6)) & nonempty
    # points carrying their footprint area (read_osm's buildings); polygons use their own area
    footprint = np.full(len(b), np.nan)
    if "footprint_m2" in b.columns:
        footprint = pd.to_numeric(b["footprint_m2"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    is_point = (type_id == 0) & nonempty & np.isfinite(footprint) & (footprint >= 0)
    has_footprint = is_poly | is_point
    geom_m = gpd.GeoSeries(np.where(has_footprint, geom, None), crs=b.crs).to_crs(nodes.crs).values
    area = np.where(is_poly, shapely.area(geom_m), np.where(is_point, footprint, 0.0))
    area = np.nan_to_num(area)

    # --- classification: typed homes, typed non-homes, untyped (judged by land use and activities)
    typed_res = kind.isin(residential).fillna(False).to_numpy(bool) | use.isin(residential).fillna(False).to_numpy(bool)
    typed_non = (kind.isin(NON_RESIDENTIAL_BUILDINGS).fillna(False).to_numpy(bool) & ~typed_res) | (
        use.notna().to_numpy(bool) & ~use.isin(residential | {"mixed", "mixed_use"}).fillna(False).to_numpy(bool)
    )
    mixed = (kind.isin({"mixed", "mixed_use"}) | use.isin({"mixed", "mixed_use"})).fillna(False).to_numpy(bool)
    typed_res = (typed_res | mixed) & ~typed_non
    untyped = ~typed_res & ~typed_non
    # activities on the building itself (its own shop/office/amenity tags) or points inside it
    amen = _tag(b, "amenity")
    on_it = amen.notna().to_numpy(bool) & ~amen.isin(AMENITY_NOT_PREMISES).fillna(False).to_numpy(bool)
    for key in ("shop", "office"):
        on_it |= _tag(b, key).notna().to_numpy(bool)
    features = getattr(context, "features", None)
    cent_m = shapely.get_coordinates(shapely.centroid(geom_m[has_footprint]))
    cent = np.full((len(b), 2), np.nan)
    cent[has_footprint] = cent_m
    acts = _activity_points(features)
    n_inside = np.zeros(len(b), dtype=np.int64)
    if len(acts) and has_footprint.any():
        acts_m = shapely.get_coordinates(gpd.GeoSeries(shapely.points(acts), crs="EPSG:4326").to_crs(nodes.crs).values)
        radius = np.sqrt(area[has_footprint] / np.pi)  # the disc of the footprint's area
        n_inside[has_footprint] = cKDTree(acts_m).query_ball_point(cent_m, r=radius, return_length=True)
    activities = on_it | (n_inside > 0) | mixed
    pts_4326 = np.full((len(b), 2), np.nan)
    if has_footprint.any():
        pts_4326[has_footprint] = shapely.get_coordinates(
            gpd.GeoSeries(shapely.points(cent_m), crs=nodes.crs).to_crs("EPSG:4326").values
        )
    lu_res, lu_non = np.zeros(len(b), bool), np.zeros(len(b), bool)
    lu_res[has_footprint], lu_non[has_footprint] = _landuse_of(pts_4326[has_footprint], features)
    untyped_home = untyped & (lu_res | (~lu_non & ~activities))
    counted = (typed_res | untyped_home) & has_footprint
    ground_lost = counted & activities

    details: dict = {
        "label": "OSM buildings",
        "method": (f"footprint x residential levels / {floor_area_per_resident_m2:g} m² gross floor area per resident"),
        "buildings_total": len(b),
        "buildings_non_residential": int((~(typed_res | untyped_home)).sum()),
        "buildings_typed_non_residential": int(typed_non.sum()),
        "buildings_untyped": int(untyped.sum()),
        "buildings_untyped_counted": int((untyped_home & has_footprint).sum()),
        "buildings_with_activities": int((counted & activities).sum()),
        "buildings_not_polygons": int(((typed_res | untyped_home) & ~has_footprint).sum()),
        "floor_area_per_resident_m2": floor_area_per_resident_m2,
    }
    if isinstance(getattr(context, "source", None), str):
        details["file"] = context.source

    # --- sparse buildings: refuse rather than invent residents
    street_km = _street_km(context)
    if street_km:
        per_km = float(area[has_footprint].sum()) / street_km
        details.update(street_km=street_km, footprint_m2_per_street_km=per_km)
        if per_km < MIN_FOOTPRINT_M2_PER_STREET_KM:
            msg = (
                f"the buildings are too sparse to estimate residents: {per_km:,.0f} m² of building "
                f"footprint per km of street ({int(has_footprint.sum()):,} buildings, {street_km:,.1f} km of "
                f"streets), far below the {MIN_FOOTPRINT_M2_PER_STREET_KM:,.0f} m²/km of even a thinly built "
                "suburb: most buildings are not mapped here. Pass a population grid or raster "
                "(population=/grid=, e.g. WorldPop or GHSL), or the known number of residents (total=; CLI "
                "--population-total)."
            )
            if total is None:
                raise PopulationError(msg)
            logger.warning("%s Sharing total=%s over them anyway.", msg, f"{total:,.0f}")

    if not counted.any():
        seen = kind.value_counts(dropna=False).head(8)
        seen_s = ", ".join(f"{k}={v}" for k, v in seen.items()) or "none"
        raise PopulationError(
            f"none of the {len(b)} buildings is a residential footprint (a polygon, or a "
            f"point with footprint_m2; building values seen: {seen_s}); the estimate would be 0 "
            "residents. Give residential footprints, pass residential={...} with the values that "
            "mean homes here, or use a population grid."
        )

    rows = np.flatnonzero(counted)
    levels_all, how_all = _building_levels(b, level_height_m=level_height_m)
    levels, how = levels_all[rows], how_all[rows]
    if default_levels is None:
        defaults, info = _default_levels(kind.iloc[rows].reset_index(drop=True), levels, np.ones(len(rows), bool))
        details.update(info)
    else:
        defaults = np.full(len(rows), float(default_levels))
        details["default_levels"] = float(default_levels)
    levels = np.where(np.isfinite(levels), levels, defaults)
    res_levels = np.where(ground_lost[rows], np.maximum(levels - 1.0, 0.0), levels)
    residents = area[rows] * res_levels / floor_area_per_resident_m2

    xy_b = cent[rows]
    dist, nearest = cKDTree(xy).query(xy_b, k=1)
    ok = dist <= max_snap_m
    details.update(
        buildings_used=int(counted.sum()),
        buildings_ground_floor_not_homes=int(ground_lost.sum()),
        buildings_levels_tagged=int((how == 0).sum()),
        buildings_levels_from_height=int((how == 1).sum()),
        buildings_default_levels=int((how == -1).sum()),
        floor_area_m2=float((area[rows] * res_levels).sum()),
    )

    # --- calibration to a population tag of a boundary lying within the network's area
    hull = shapely.buffer(shapely.convex_hull(shapely.multipoints(xy)), 100.0)
    if total is None and context is not None:
        best = _calibration_boundary(context, nodes.crs, hull, xy_b, residents)
        if best is not None:
            name, pop, inside, est_inside, _ = best
            factor = pop / est_inside
            details.update(
                residents_before_calibration=float(residents.sum()),
                calibration_factor=factor,
                calibration_boundary=name,
                calibration_population=pop,
                buildings_in_boundary=int(inside.sum()),
            )
            details["calibration"] = (
                f"calibrated to {name}'s population tag {pop:,.0f} (x{factor:.3g} on the "
                f"{est_inside:,.0f} estimated inside it)"
            )
            residents = residents * factor

    per_node = np.bincount(nearest[ok], weights=residents[ok], minlength=n_nodes).astype(float)
    details.update(
        residents_total=float(residents.sum()),
        buildings_unreached=int((~ok).sum()),
        residents_unreached=float(residents[~ok].sum()),
        max_snap_m=float(max_snap_m),
        residents_assigned=float(per_node.sum()),
    )
    if details["buildings_default_levels"]:
        logger.info(
            "%d of %d residential buildings have no levels or height tag; default levels used (%s).",
            details["buildings_default_levels"],
            len(rows),
            "; ".join(f"{k}: {v}" for k, v in details.items() if k.startswith("default_levels")),
        )
    if details["buildings_unreached"]:
        logger.warning(
            "%d residential buildings (%s residents) are farther than max_snap_m=%g m from any "
            "street node; their residents are left out.",
            details["buildings_unreached"],
            f"{details['residents_unreached']:,.0f}",
            max_snap_m,
        )
    if per_node.sum() <= 0:
        why = (
            f"all {int(counted.sum())} residential buildings are farther than max_snap_m={max_snap_m:g} m "
            "from the street nodes (buildings of another area, or a wrong CRS?)"
            if residents.sum() > 0
            else "the residential footprints have no area"
        )
        raise PopulationError(f"the buildings give 0 residents: {why}.")
    details.update(_plausibility(xy, nodes.crs, per_node, hull))
    series = pd.Series(per_node, index=nodes.index.copy(), name="population", dtype=float)
    return PopulationEstimate(per_node=series, source="buildings", total=float(per_node.sum()), details=details)


# --------------------------------------------------------------------------------------------------
# uniform and rescaling


def _uniform(nodes: gpd.GeoDataFrame, total: float | None) -> PopulationEstimate:
    n = len(nodes)
    if total is None:
        value, label = 1.0, "1 resident per node: no population data given"
        logger.info(
            "no population grid or buildings given: every node counts as 1 resident, so shares "
            "of residents are shares of street nodes."
        )
    else:
        value, label = float(total) / n, f"total {float(total):,.0f} shared equally"
        if total == 0:
            logger.warning("total=0: every node gets 0 residents (shares of residents will be undefined).")
    per_node = pd.Series(np.full(n, value), index=nodes.index.copy(), name="population", dtype=float)
    details = {"label": label, "nodes": n, "residents_per_node": value}
    est = PopulationEstimate(per_node=per_node, source="uniform", total=float(per_node.sum()), details=details)
    logger.info("%s", est.summary())
    return est


def _rescale(est: PopulationEstimate, total: float) -> PopulationEstimate:
    if est.total == 0:
        if total == 0:
            return est
        raise PopulationError(
            f"cannot scale the {est.source} estimate to total={total:,.0f}: it has 0 residents in the network's area."
        )
    factor = total / est.total
    details = dict(est.details, scale_factor=factor, total_before_scaling=est.total)
    details["calibration"] = f"scaled to the given total {total:,.0f} (x{factor:.3g})"
    per_node = est.per_node * factor
    return PopulationEstimate(per_node=per_node, source=est.source, total=float(per_node.sum()), details=details)
