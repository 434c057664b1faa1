"""Public transport: GTFS timetables (:mod:`.gtfs`), exact range-RAPTOR routing (:mod:`.raptor`), walks
between stops and from points to stops on a street network (:mod:`.walks`),
origin-destination matrices (:mod:`.matrix`), x-minute-city accessibility by transit (:mod:`.access`) and the
``travel-times`` command (:mod:`.cli`). ``from urbankit.transit import read_gtfs, travel_time_matrix``.

The router is compiled with numba: the modules that need it load on first use (PEP 562), so that
``import urbankit`` and the command line do not pay for the compiler.
"""

import importlib as _importlib

from .gtfs import GTFSError, NoServiceError, Timetable, read_gtfs

#: names loaded on first use -> the module defining them
_LAZY = {
    "compute_transit_accessibility": "access",
    "transit_accessibility": "access",
    "transit_node_minutes": "access",
    "transit_opportunities": "access",
    "transit_reach": "access",
    "travel_time_matrix": "matrix",
    "UNREACHED": "raptor",
    "Network": "raptor",
    "build_network": "raptor",
    "frequency_offsets": "raptor",
    "raptor": "raptor",
    "travel_times": "raptor",
    "access_walks": "walks",
    "stop_walks": "walks",
}


def __getattr__(name: str):
    """Load a routing name on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value

__all__ = [
    "UNREACHED",
    "GTFSError",
    "Network",
    "NoServiceError",
    "Timetable",
    "access_walks",
    "build_network",
    "compute_transit_accessibility",
    "frequency_offsets",
    "raptor",
    "read_gtfs",
    "stop_walks",
    "transit_accessibility",
    "transit_node_minutes",
    "transit_opportunities",
    "transit_reach",
    "travel_time_matrix",
    "travel_times",
]
