"""Moved:
street networks now live in :mod:`urbankit.network`; this module re-exports them for one release."""

import warnings as _warnings

from .network import *  # noqa: F403
from .network import (  # noqa: F401
    MODES,
    TIME_RESOLUTION_MIN,
    StreetNetwork,
    build_network,
    estimate_utm_crs,
    mode_mask,
    quantize_minutes,
)

_warnings.warn(
    "urbankit.networks moved to urbankit.network; import from there"
    " (the old path goes away in urbankit 0.3).",
    DeprecationWarning,
    stacklevel=2,
)
