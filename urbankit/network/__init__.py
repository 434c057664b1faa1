"""Street networks of one mode (walk, bike, drive) built from an :class:`~urbankit.OSMExtract`.

A :class:`StreetNetwork` holds the routable graph of one mode: nodes and edges as GeoDataFrames in
an automatically chosen metric CRS (UTM), edge length in metres and travel time in minutes, and a
lazily built :class:`pandana.Network` whose impedance is travel time.

Mode filters (what each mode may legally use)
---------------------------------------------
walk
    every ``highway`` way except motorways, construction/proposed/abandoned/disused, raceways,
    bus guideways, busways, escape lanes, emergency bays, platforms, rest areas and services;
    excluded where ``foot`` is no/private/use_sidepath/discouraged_no, or ``access`` is one of
    those without a ``foot`` permission (yes, designated, permissive, official, destination,
    customers, delivery). Footways, paths, steps, pedestrian streets and the outlines of pedestrian
    areas are included. Undirected.
bike
    roads (trunk to residential, living streets, service, road), cycleways, paths and tracks;
    footways, pedestrian streets, bridleways and corridors only with a ``bicycle`` permission (as
    above); steps only with ``bicycle=yes``; excluded where ``bicycle`` is no/private/use_sidepath/
    discouraged_no, or ``access`` is without a bicycle permission; motorways excluded. Undirected
    (one-way streets are ridden both ways: contraflow is common in the cities urbankit targets; use
    the drive mode for directed analyses).
drive
    motorways to residential and living streets, unclassified, ``road`` and ``service`` ways except
    parking aisles, parking, driveways, alleys, private and emergency access; excluded where the
    most specific of ``motorcar``, ``motor_vehicle``, ``vehicle``, ``access`` says
    no/private/use_sidepath/discouraged_no. Directed: ``oneway=yes/true/1``, roundabouts
    (``junction=roundabout/circular``) and motorways forward unless ``oneway=no``; ``oneway=-1``
    or ``reverse`` backward.

Ways are split into edges at every node they share with another way (or visit twice) and at their
ends; a loop hanging at a single node is cut at its middle vertex, so it stays routable.

Default speeds
--------------
walk 4.8 km/h and bike 15 km/h (``urbankit.settings``); drive from ``maxspeed`` (km/h, "mph",
"walk" = 6 km/h, zone codes such as "FR:urban"), else the highway-class fallback of
``settings.drive_speed_kmh``, times ``settings.drive_speed_factor``. A ``maxspeed`` outside 5..150
km/h ("0.0001", "99999") is a tagging error: the fallback applies, with a logged warning.

The package, by concern (data flows down the list):

``modes``
    which ways each mode may use, directions and speeds from OSM tags;
``street``
    :class:`StreetNetwork` (nodes, edges, the 0.001-min time grid) and its pandana view;
``build``
    :func:`build_network` from an :class:`~urbankit.OSMExtract`;
``cache``
    the data-only cache of built networks;
``routing``
    the one owner of CSR graphs and bounded multi-source Dijkstra searches;
``engines``
    the pandana engine (contraction hierarchies) computing the same figures.
"""

from .build import build_network
from .engines import AGGREGATIONS, DECAYS, DEFAULT_ENGINE, ENGINES, check_engine
from .modes import MODES, Mode, mode_mask, oneway_direction, parse_maxspeed
from .street import (
    TIME_RESOLUTION_MIN,
    StreetNetwork,
    estimate_utm_crs,
    network_summary,
    quantize_minutes,
)

__all__ = [
    "AGGREGATIONS",
    "DECAYS",
    "DEFAULT_ENGINE",
    "ENGINES",
    "MODES",
    "Mode",
    "StreetNetwork",
    "TIME_RESOLUTION_MIN",
    "build_network",
    "check_engine",
    "estimate_utm_crs",
    "mode_mask",
    "network_summary",
    "oneway_direction",
    "parse_maxspeed",
    "quantize_minutes",
]
