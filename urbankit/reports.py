"""Moved:
the report runner and the area overview now live in
:mod:`urbankit.reporting`; this module re-exports them for one release."""

import warnings as _warnings

from .pipelines import *  # noqa: F403
from .reporting.inputs import *  # noqa: F403
from .reporting.parameters import *  # noqa: F403
from .reporting.runner import *  # noqa: F403

_warnings.warn(
    "urbankit.reports moved to urbankit.reporting; import from there"
    " (the old path goes away in urbankit 0.3).",
    DeprecationWarning,
    stacklevel=2,
)
