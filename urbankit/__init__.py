"""urbankit: x-minute city and superblock analysis from OpenStreetMap data.

>>> import urbankit as uk
>>> area = uk.load("monaco")
>>> walk = uk.build_network(area, "walk")
>>> walk.mode, walk.crs
('walk', 'EPSG:32632')
"""

from . import datasets, maps, mock, plots, settings, superblocks
from ._errors import (
    CorruptFileError,
    CRSError,
    InputFileError,
    InvalidOptionError,
    MemoryBudgetError,
    NoStreetsError,
    OnlineFetchError,
    PlaceNotFoundError,
    PopulationError,
    ReportError,
    ReportParameterError,
    ReportWriteError,
    SchedulerError,
    TaxonomyError,
    UnsupportedFormatError,
    UrbankitError,
)
from .accessibility import Accessibility, WhatIf, accessibility, compare_groups, data_completeness, x_minute_city
from .destinations import Service, Taxonomy, destinations, destinations_summary, load_taxonomy
from .ingest import OSMExtract, load, read_graphml, read_osm
from .isochrones import isochrones
from .networks import MODES, StreetNetwork, build_network
from .opportunities import aggregate
from .population import PopulationEstimate, population_per_node, read_population_grid
from .outputs import write_accessibility_gpkg
from .reports import AreaOverview, area_overview, run_report
from .superblocks import assign, effects, find_superblocks, gravity_demand, run_scenario, superblocks_scenario
from .zones import to_hex, to_zones

__version__ = "0.1.0"

__all__ = [
    "Accessibility",
    "aggregate",
    "WhatIf",
    "accessibility",
    "compare_groups",
    "data_completeness",
    "x_minute_city",
    "assign",
    "effects",
    "find_superblocks",
    "gravity_demand",
    "run_scenario",
    "superblocks_scenario",
    "superblocks",
    "isochrones",
    "maps",
    "mock",
    "plots",
    "to_hex",
    "to_zones",
    "write_accessibility_gpkg",
    "AreaOverview",
    "CRSError",
    "CorruptFileError",
    "InputFileError",
    "InvalidOptionError",
    "MODES",
    "MemoryBudgetError",
    "NoStreetsError",
    "OSMExtract",
    "OnlineFetchError",
    "PlaceNotFoundError",
    "PopulationError",
    "PopulationEstimate",
    "ReportError",
    "ReportParameterError",
    "ReportWriteError",
    "SchedulerError",
    "Service",
    "StreetNetwork",
    "Taxonomy",
    "TaxonomyError",
    "UnsupportedFormatError",
    "UrbankitError",
    "area_overview",
    "build_network",
    "datasets",
    "destinations",
    "destinations_summary",
    "load",
    "load_taxonomy",
    "population_per_node",
    "read_graphml",
    "read_osm",
    "read_population_grid",
    "run_report",
    "settings",
]
