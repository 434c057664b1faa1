"""Moved:
the GeoPackage writers now live in :mod:`urbankit.io`; this module re-exports them for one release."""

import warnings as _warnings

from .io import *  # noqa: F403
from .io import _input_path, _same_file, _unsynchronised_sqlite, _write_layer  # noqa: F401

_warnings.warn(
    "urbankit.outputs moved to urbankit.io; import from there (the old path goes away in urbankit 0.3).",
    DeprecationWarning,
    stacklevel=2,
)
