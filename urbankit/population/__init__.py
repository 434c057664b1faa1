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

The package, by concern: ``estimate`` (:class:`PopulationEstimate` and the constants of the methods),
``grids`` (population grids), ``sources`` (rasters, H3 tables, GeoParquet, GraphML), ``buildings``
(the estimate from OSM buildings) and ``per_node`` (:func:`population_per_node`, the one entry point).
"""

from . import sources
from .estimate import (
    ACTIVITY_KEYS,
    AMENITY_NOT_PREMISES,
    BOUNDARY_INSIDE_SHARE,
    BOUNDARY_MAX_GAP_SHARE,
    BOUNDARY_MIN_MEMBERS_SHARE,
    DEFAULT_LEVELS_BY_TYPE,
    DEFAULT_LEVELS_OTHER,
    FLOOR_AREA_PER_RESIDENT_M2,
    GRID_POPULATION_COLUMNS,
    GRID_SUFFIXES,
    MAX_AREA_DENSITY_PER_KM2,
    MAX_CELL_DENSITY_PER_KM2,
    MAX_DEFAULT_LEVELS,
    MIN_FOOTPRINT_M2_PER_STREET_KM,
    MIN_TAGGED_FOR_LOCAL_LEVELS,
    NON_RESIDENTIAL_BUILDINGS,
    NON_RESIDENTIAL_LANDUSE,
    RESIDENTIAL_BUILDINGS,
    RESIDENTIAL_LANDUSE,
    PopulationEstimate,
)
from .grids import (
    OVERLAP_TOLERANCE,
    read_population_grid,
)
from .per_node import (
    population_per_node,
)

__all__ = [
    "ACTIVITY_KEYS",
    "AMENITY_NOT_PREMISES",
    "BOUNDARY_INSIDE_SHARE",
    "BOUNDARY_MAX_GAP_SHARE",
    "BOUNDARY_MIN_MEMBERS_SHARE",
    "DEFAULT_LEVELS_BY_TYPE",
    "DEFAULT_LEVELS_OTHER",
    "FLOOR_AREA_PER_RESIDENT_M2",
    "GRID_POPULATION_COLUMNS",
    "GRID_SUFFIXES",
    "MAX_AREA_DENSITY_PER_KM2",
    "MAX_CELL_DENSITY_PER_KM2",
    "MAX_DEFAULT_LEVELS",
    "MIN_FOOTPRINT_M2_PER_STREET_KM",
    "MIN_TAGGED_FOR_LOCAL_LEVELS",
    "NON_RESIDENTIAL_BUILDINGS",
    "NON_RESIDENTIAL_LANDUSE",
    "OVERLAP_TOLERANCE",
    "PopulationEstimate",
    "RESIDENTIAL_BUILDINGS",
    "RESIDENTIAL_LANDUSE",
    "population_per_node",
    "read_population_grid",
    "sources",
]
