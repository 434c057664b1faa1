"""Moved:
the OSM readers now live in :mod:`urbankit.osm`; this module re-exports them for one release."""

import warnings as _warnings

from .osm import *  # noqa: F403

_warnings.warn(
    "urbankit.ingest moved to urbankit.osm; import from there"
    " (the old path goes away in urbankit 0.3).",
    DeprecationWarning,
    stacklevel=2,
)
