"""Moved:
maps now live in :mod:`urbankit.viz.maps`; this module re-exports them for one release."""

import warnings as _warnings

from .viz.maps import *  # noqa: F403

_warnings.warn(
    "urbankit.maps moved to urbankit.viz.maps; import from there"
    " (the old path goes away in urbankit 0.3).",
    DeprecationWarning,
    stacklevel=2,
)
