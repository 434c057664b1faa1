"""Moved:
batch reports now live in :mod:`urbankit.reporting.batch`; this module re-exports them for one release."""

import warnings as _warnings

from .reporting.batch import *  # noqa: F403

_warnings.warn(
    "urbankit.batch moved to urbankit.reporting.batch; import from there"
    " (the old path goes away in urbankit 0.3).",
    DeprecationWarning,
    stacklevel=2,
)
