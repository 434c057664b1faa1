"""Moved:
opportunity measures now live in
:mod:`urbankit.accessibility.opportunities`; this module re-exports them for one release."""

from ._deprecation import callable_module as _callable_module
from ._deprecation import warn_moved as _warn_moved
from .accessibility.opportunities import *  # noqa: F403
from .accessibility.opportunities import aggregate, compute_opportunities, opportunity_summary  # noqa: F401

_warn_moved("urbankit.opportunities", "urbankit.accessibility.opportunities")

# uk.opportunities(...) was a function: calling the module still works, with a DeprecationWarning
_callable_module(__name__, compute_opportunities)
