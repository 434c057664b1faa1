"""urbankit: x-minute city and superblock analysis from OpenStreetMap data."""
from . import settings
from ._errors import *  # noqa: F401,F403
from .ingest import OSMExtract, read_graphml, read_osm
from .networks import MODES, StreetNetwork, build_network
