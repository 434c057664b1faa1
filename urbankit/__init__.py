"""urbankit: x-minute city and superblock analysis from OpenStreetMap data.

>>> import urbankit as uk
>>> area = uk.load("monaco")
>>> walk = uk.build_network(area, "walk")
>>> walk.mode, walk.crs
('walk', 'EPSG:32632')

The analysis engines load with the package; the superblock engine, maps, plots and the report
runner (folium, matplotlib, papermill, nbconvert, dask) load on first use (``uk.maps``,
``uk.run_report``, ...), so ``import urbankit`` and the command line start fast.
"""

import importlib as _importlib

from . import accessibility, datasets, destinations, mock, settings
from ._deprecation import callable_module as _callable_module
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
from .accessibility import (
    Accessibility,
    WhatIf,
    aggregate,
    compare_groups,
    compute_accessibility,
    data_completeness,
    groups_summary,
    x_minute_city,
)
from .accessibility.isochrones import compute_isochrones
from .accessibility.opportunities import compute_opportunities
from .destinations import Service, Taxonomy, destinations_summary, find_destinations, load_taxonomy
from .io import write_accessibility_gpkg
from .network import MODES, StreetNetwork, build_network
from .osm import OSMExtract, load, read_graphml, read_osm
from .population import PopulationEstimate, population_per_node, read_population_grid
from .transit import read_gtfs
from .zones import to_hex, to_zones

# the functions these modules used to hide (uk.accessibility(...), uk.destinations(...)) keep working for
# one release, with a DeprecationWarning naming the new function
_callable_module(accessibility.__name__, compute_accessibility)
_callable_module(destinations.__name__, find_destinations)

__version__ = "0.1.0"

#: submodules loaded on first attribute access (PEP 562): viz, reporting, the superblock engine, and the
#: old module names (isochrones, opportunities: callable, warning) -> the module that is loaded
_LAZY_MODULES = {
    "viz": "viz",
    "reporting": "reporting",
    "pipelines": "pipelines",
    "superblocks": "superblocks",
    "transit": "transit",
    "environment": "environment",
    "maps": "viz.maps",
    "plots": "viz.plots",
    "reports": "reporting",
    "batch": "reporting.batch",
    "compare": "reporting.compare",
    "isochrones": "isochrones",
    "opportunities": "opportunities",
}
#: names re-exported from those submodules -> the submodule that defines them
_LAZY_NAMES = {
    "AreaOverview": "pipelines",
    "area_overview": "pipelines",
    "PreparedArea": "pipelines",
    "prepare_area": "pipelines",
    "run_report": "reporting.runner",
    "assign": "superblocks",
    "effects": "superblocks",
    "find_superblocks": "superblocks",
    "gravity_demand": "superblocks",
    "run_scenario": "superblocks",
    "superblocks_scenario": "superblocks",
    "transit_accessibility": "transit",
    "compute_transit_accessibility": "transit",
    "travel_time_matrix": "transit",
}


def __getattr__(name: str):
    """Import a lazily loaded submodule, or the submodule defining a lazily re-exported name."""
    if name in _LAZY_MODULES:
        value = _importlib.import_module(f".{_LAZY_MODULES[name]}", __name__)
    elif name in _LAZY_NAMES:
        value = getattr(_importlib.import_module(f".{_LAZY_NAMES[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_LAZY_MODULES))


__all__ = [
    "Accessibility",
    "aggregate",
    "compute_accessibility",
    "compute_isochrones",
    "compute_opportunities",
    "find_destinations",
    "groups_summary",
    "WhatIf",
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
    "maps",
    "mock",
    "plots",
    "read_gtfs",
    "to_hex",
    "transit_accessibility",
    "compute_transit_accessibility",
    "travel_time_matrix",
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
    "prepare_area",
    "PreparedArea",
    "build_network",
    "datasets",
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
