"""Moved:
plots now live in :mod:`urbankit.viz.plots`; this module re-exports them for one release."""

from ._deprecation import warn_moved as _warn_moved
from .viz.plots import *  # noqa: F403

_warn_moved("urbankit.plots", "urbankit.viz.plots")
