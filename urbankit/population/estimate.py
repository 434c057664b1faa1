"""The population estimate: residents per node with their source, checks and the constants of the methods."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from .._errors import (
    PopulationError,
)

logger = logging.getLogger(__name__)



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

    def summary(self) -> pd.DataFrame:
        """The estimate as a table: source, residents, nodes, nodes with residents, then the
        method's details (cells or buildings used, calibration, scale factor, ...).

        Returns
        -------
        pandas.DataFrame
            One row per item, indexed by ``item``, one column ``value``.
        """
        rows = {
            "source": self.source,
            "residents": float(self.total),
            "nodes": int(len(self.per_node)),
            "nodes_with_residents": int((np.asarray(self.per_node, float) > 0).sum()),
            "description": self.description,
        }
        for key, value in self.details.items():
            if isinstance(value, (str, int, float, bool, np.integer, np.floating)) and key not in rows:
                rows[key] = value
        return pd.DataFrame({"value": pd.Series(rows, dtype=object)}).rename_axis("item")

    def describe(self) -> str:
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
        return self.describe()

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
            f"<div><p><b>{html.escape(self.describe())}</b></p>"
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
    logger.info("%s", est.describe())
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
