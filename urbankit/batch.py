"""Moved:
batch reports now live in :mod:`urbankit.reporting.batch`; this module re-exports them for one release."""

from ._deprecation import warn_moved as _warn_moved
from .reporting.batch import *  # noqa: F403

_warn_moved("urbankit.batch", "urbankit.reporting.batch")
