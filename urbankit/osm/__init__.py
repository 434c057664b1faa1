"""Read an area from OpenStreetMap data: files, GraphML networks or (online) place names.

Every reader returns an :class:`OSMExtract`, the one type the rest of urbankit consumes: the street
ways (tags and ordered node coordinates), the tagged features that can become destinations, and the
building footprints.

OSM files (``.osm``, ``.osm.bz2``, ``.osm.pbf``) are streamed through pyosmium (one pass over the
relations for multipolygon assembly, one over everything): only ways with a ``highway`` tag keep
their node coordinates, only tagged features keep geometries, and each building is reduced while
streaming to one point and its footprint area, so memory grows with the street network and the
number of buildings, not with the number of nodes in the file. The node-location index pyosmium
needs to place way nodes is the one sizeable structure that grows with the file (16 bytes per node,
see :data:`NODE_LOCATION_INDEX`).

References to nodes absent from the file cost nothing but a count: ways are cut there while
streaming. What is kept is charged against the memory budget as it grows (see :class:`MemoryGuard`
and ``urbankit.settings.memory_limit_gb``), so a file whose content would not fit raises
:class:`~urbankit.MemoryBudgetError` naming the file instead of exhausting the machine.

The package, by concern (data flows down the list):

``extract``
    :class:`OSMExtract` and the tags kept; ``limits``: the memory budget and guard;
``files``, ``read``, ``parse``, ``buildings``
    reading .osm/.pbf files with pyosmium (checks, sorting, the handler, footprints);
``graphml``
    GraphML networks (osmnx, superblockify), with their per-edge residents;
``download``
    online reads (place names, bounding boxes, polygons) through osmnx;
``cache``
    the data-only cache of parsed files; ``load``: one entry point for all of them.
"""

from .extract import (
    BUILDING_COLUMNS,
    BUILDING_TAGS,
    DEFAULT_POI_KEYS,
    GRAPHML_SUFFIXES,
    OSM_SUFFIXES,
    STREET_TAGS,
    OSMExtract,
    StreetCollector,
    empty_buildings,
    empty_features,
)
from .files import file_sha256
from .graphml import extract_from_graph, graph_node_population, read_graphml
from .limits import MemoryGuard, memory_budget_bytes
from .load import area_name, load
from .read import read_osm

__all__ = [
    "BUILDING_COLUMNS",
    "BUILDING_TAGS",
    "DEFAULT_POI_KEYS",
    "GRAPHML_SUFFIXES",
    "OSM_SUFFIXES",
    "STREET_TAGS",
    "MemoryGuard",
    "OSMExtract",
    "StreetCollector",
    "area_name",
    "empty_buildings",
    "empty_features",
    "extract_from_graph",
    "file_sha256",
    "graph_node_population",
    "load",
    "memory_budget_bytes",
    "read_graphml",
    "read_osm",
]
