"""Public transport: GTFS timetables (:mod:`.gtfs`), exact range-RAPTOR routing (:mod:`.raptor`) and walks
between stops and from points to stops on a street network (:mod:`.walks`).
Not exported from ``urbankit`` yet: ``from urbankit.transit import read_gtfs, travel_times``.
"""

from .gtfs import GTFSError, NoServiceError, Timetable, read_gtfs
from .raptor import UNREACHED, Network, build_network, frequency_offsets, raptor, travel_times
from .walks import access_walks, stop_walks

__all__ = [
    "UNREACHED",
    "GTFSError",
    "Network",
    "NoServiceError",
    "Timetable",
    "access_walks",
    "build_network",
    "frequency_offsets",
    "raptor",
    "read_gtfs",
    "stop_walks",
    "travel_times",
]
