"""urbankit: x-minute city and superblock analysis from OpenStreetMap data.

>>> import urbankit as uk
>>> area = uk.load("monaco")
>>> walk = uk.build_network(area, "walk")
>>> walk.mode, walk.crs
('walk', 'EPSG:32632')
"""

from . import datasets, settings
from ._errors import (
    CorruptFileError,
    CRSError,
    InputFileError,
    InvalidOptionError,
    NoStreetsError,
    OnlineFetchError,
    PlaceNotFoundError,
    PopulationError,
    ReportError,
    TaxonomyError,
    UnsupportedFormatError,
    UrbankitError,
)
from .ingest import OSMExtract, load, read_graphml, read_osm
from .networks import MODES, StreetNetwork, build_network
from .reports import AreaOverview, area_overview, run_report

__version__ = "0.1.0"

__all__ = [
    "AreaOverview",
    "CRSError",
    "CorruptFileError",
    "InputFileError",
    "InvalidOptionError",
    "MODES",
    "NoStreetsError",
    "OSMExtract",
    "OnlineFetchError",
    "PlaceNotFoundError",
    "PopulationError",
    "ReportError",
    "StreetNetwork",
    "TaxonomyError",
    "UnsupportedFormatError",
    "UrbankitError",
    "area_overview",
    "build_network",
    "datasets",
    "load",
    "read_graphml",
    "read_osm",
    "run_report",
    "settings",
]
