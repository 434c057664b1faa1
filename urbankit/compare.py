"""Moved:
comparisons of areas now live in :mod:`urbankit.reporting.compare`; this module re-exports them for one release."""

from ._deprecation import warn_moved as _warn_moved
from .reporting.compare import *  # noqa: F403

_warn_moved("urbankit.compare", "urbankit.reporting.compare")
