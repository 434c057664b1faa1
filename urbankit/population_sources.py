"""Moved:
population sources now live in :mod:`urbankit.population.sources`; this module re-exports them for one release."""

import warnings as _warnings

from .population.sources import *  # noqa: F403

_warnings.warn(
    "urbankit.population_sources moved to urbankit.population.sources; import from there"
    " (the old path goes away in urbankit 0.3).",
    DeprecationWarning,
    stacklevel=2,
)
