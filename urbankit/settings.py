"""Global settings of urbankit.

Change them at run time, e.g. ``urbankit.settings.cache_folder = Path("/tmp/uk")``.

Attributes
----------
cache_folder : pathlib.Path
    Where prepared networks and online downloads are cached. Default ``~/.cache/urbankit``, or the
    ``URBANKIT_CACHE`` environment variable when set.
use_cache : bool
    Read and write the on-disk cache. Default ``True``.
walk_speed_kmh : float
    Default walking speed, 4.8 km/h (a common planning value for adults; older people and children
    walk at about 3 km/h, pass ``speed_kmh=3.0`` for them).
bike_speed_kmh : float
    Default cycling speed, 15 km/h (typical urban average including stops).
drive_speed_kmh : dict[str, float]
    Fallback driving speeds by OSM ``highway`` class, used where ``maxspeed`` is missing or unparseable.
drive_speed_factor : float
    Share of the legal speed actually driven on average (congestion, junctions). Default 1.0
    (free-flow at the limit); lower it to model congestion.
memory_limit_gb : float or None
    Memory the large intermediate tables may use. ``None`` (default): what the machine reports as
    available when the analysis starts. Requests projected to exceed it raise
    :class:`~urbankit.MemoryBudgetError` before they allocate it.
background_cache_writes : bool
    Write cache entries (parsed extracts, networks, reach tables) from a forked process while the
    analysis goes on, where a second process can help (Linux, two or more cores, no other thread);
    the process waits for them before it exits. Default ``False``; the ``urbankit`` command line
    turns it on (a write that fails there is logged by that process and only costs the next run
    its cache).
progress : bool
    Show tqdm progress bars on long steps. Default ``True``, unless the ``URBANKIT_PROGRESS``
    environment variable is ``0`` (report runs set it: bars would clutter the documents).
"""

from __future__ import annotations

import os
from pathlib import Path

cache_folder: Path = Path(os.environ.get("URBANKIT_CACHE", Path.home() / ".cache" / "urbankit"))
use_cache: bool = True
walk_speed_kmh: float = 4.8
bike_speed_kmh: float = 15.0
drive_speed_factor: float = 1.0
drive_speed_kmh: dict[str, float] = {
    "motorway": 110.0,
    "motorway_link": 60.0,
    "trunk": 90.0,
    "trunk_link": 50.0,
    "primary": 50.0,
    "primary_link": 40.0,
    "secondary": 50.0,
    "secondary_link": 40.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "living_street": 10.0,
    "service": 20.0,
    "road": 30.0,
    "busway": 30.0,
}
memory_limit_gb: float | None = None
background_cache_writes: bool = False
progress: bool = os.environ.get("URBANKIT_PROGRESS", "1") != "0"
