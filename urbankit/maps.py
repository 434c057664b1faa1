"""Moved:
maps now live in :mod:`urbankit.viz.maps`; this module re-exports them for one release."""

from ._deprecation import warn_moved as _warn_moved
from .viz.maps import *  # noqa: F403

_warn_moved("urbankit.maps", "urbankit.viz.maps")
