"""Moved:
the report runner and the area overview now live in
:mod:`urbankit.reporting`; this module re-exports them for one release."""

from ._deprecation import warn_moved as _warn_moved
from .pipelines import *  # noqa: F403
from .reporting.inputs import *  # noqa: F403
from .reporting.parameters import *  # noqa: F403
from .reporting.runner import *  # noqa: F403

_warn_moved("urbankit.reports", "urbankit.reporting")
