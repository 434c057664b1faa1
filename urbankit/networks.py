"""Moved:
street networks now live in :mod:`urbankit.network`; this module re-exports them for one release."""

from ._deprecation import warn_moved as _warn_moved
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

_warn_moved("urbankit.networks", "urbankit.network")
