"""Moved:
isochrones now live in :mod:`urbankit.accessibility.isochrones`; this module re-exports them for one release."""

from ._deprecation import callable_module as _callable_module
from ._deprecation import warn_moved as _warn_moved
from .accessibility.isochrones import *  # noqa: F403
from .accessibility.isochrones import compute_isochrones

_warn_moved("urbankit.isochrones", "urbankit.accessibility.isochrones")

# uk.isochrones(...) was a function: calling the module still works, with a DeprecationWarning
_callable_module(__name__, compute_isochrones)
