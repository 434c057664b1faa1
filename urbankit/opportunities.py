"""Moved:
opportunity measures now live in
:mod:`urbankit.accessibility.opportunities`; this module re-exports them for one release."""

import warnings as _warnings

from ._deprecation import callable_module as _callable_module
from .accessibility.opportunities import *  # noqa: F403
from .accessibility.opportunities import aggregate, compute_opportunities, opportunity_summary  # noqa: F401

_warnings.warn(
    "urbankit.opportunities moved to urbankit.accessibility.opportunities; import from there"
    " (the old path goes away in urbankit 0.3).",
    DeprecationWarning,
    stacklevel=2,
)

# uk.opportunities(...) was a function: calling the module still works, with a DeprecationWarning
_callable_module(__name__, compute_opportunities)
