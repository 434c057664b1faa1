"""Moved:
the engines now live in :mod:`urbankit.network.engines`; this module re-exports them for one release."""

from ._deprecation import warn_moved as _warn_moved
from .network.engines import *  # noqa: F403
from .network.engines import DEFAULT_ENGINE, ENGINES, check_engine  # noqa: F401

_warn_moved("urbankit.engines", "urbankit.network.engines")
