"""Public transport: GTFS timetables (:mod:`.gtfs`) and exact range-RAPTOR routing (:mod:`.raptor`)."""

from .gtfs import GTFSError, NoServiceError, Timetable, read_gtfs

__all__ = ["GTFSError", "NoServiceError", "Timetable", "read_gtfs"]
