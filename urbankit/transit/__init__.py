"""Public transport: GTFS timetables (:mod:`.gtfs`), exact range-RAPTOR routing (:mod:`.raptor`) and walks
between stops and from points to stops on a street network (:mod:`.walks`).
origin-destination matrices (:mod:`.matrix`), x-minute-city accessibility by transit (:mod:`.access`) and the
``travel-times`` command (:mod:`.cli`). ``from urbankit.transit import read_gtfs, travel_time_matrix``.
"""

from .access import transit_accessibility
from .gtfs import GTFSError, NoServiceError, Timetable, read_gtfs
from .matrix import travel_time_matrix
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
    "transit_accessibility",
    "travel_time_matrix",
    "travel_times",
]
