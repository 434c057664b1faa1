"""Moved:
comparisons of areas now live in :mod:`urbankit.reporting.compare`; this module re-exports them for one release."""

import warnings as _warnings

from .reporting.compare import *  # noqa: F403

_warnings.warn(
    "urbankit.compare moved to urbankit.reporting.compare; import from there"
    " (the old path goes away in urbankit 0.3).",
    DeprecationWarning,
    stacklevel=2,
)
