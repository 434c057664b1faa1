"""Moved:
population sources now live in :mod:`urbankit.population.sources`; this module re-exports them for one release."""

from ._deprecation import warn_moved as _warn_moved
from .population.sources import *  # noqa: F403

_warn_moved("urbankit.population_sources", "urbankit.population.sources")
