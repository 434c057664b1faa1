"""Moved:
isochrones now live in :mod:`urbankit.accessibility.isochrones`; this module re-exports them for one release."""

import warnings as _warnings

from ._deprecation import callable_module as _callable_module
from .accessibility.isochrones import *  # noqa: F403
from .accessibility.isochrones import compute_isochrones

_warnings.warn(
    "urbankit.isochrones moved to urbankit.accessibility.isochrones; import from there"
    " (the old path goes away in urbankit 0.3).",
    DeprecationWarning,
    stacklevel=2,
)

# uk.isochrones(...) was a function: calling the module still works, with a DeprecationWarning
_callable_module(__name__, compute_isochrones)
