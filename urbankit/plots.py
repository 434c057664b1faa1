"""Moved:
plots now live in :mod:`urbankit.viz.plots`; this module re-exports them for one release."""

import warnings as _warnings

from .viz.plots import *  # noqa: F403

_warnings.warn(
    "urbankit.plots moved to urbankit.viz.plots; import from there"
    " (the old path goes away in urbankit 0.3).",
    DeprecationWarning,
    stacklevel=2,
)
