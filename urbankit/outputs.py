"""Moved:
the GeoPackage writers now live in :mod:`urbankit.io`; this module re-exports them for one release."""

from ._deprecation import warn_moved as _warn_moved
from .io import *  # noqa: F403
from .io import _input_path, _same_file, _unsynchronised_sqlite, _write_layer  # noqa: F401

_warn_moved("urbankit.outputs", "urbankit.io")
