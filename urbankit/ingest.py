"""Moved:
the OSM readers now live in :mod:`urbankit.osm`; this module re-exports them for one release."""

from ._deprecation import warn_moved as _warn_moved
from .osm import *  # noqa: F403

_warn_moved("urbankit.ingest", "urbankit.osm")
