"""Moved:
the engines now live in :mod:`urbankit.network.engines`; this module re-exports them for one release."""

import warnings as _warnings

from .network.engines import *  # noqa: F403
from .network.engines import DEFAULT_ENGINE, ENGINES, check_engine  # noqa: F401

_warnings.warn(
    "urbankit.engines moved to urbankit.network.engines; import from there"
    " (the old path goes away in urbankit 0.3).",
    DeprecationWarning,
    stacklevel=2,
)
