"""Memory limits of reading: the budget and the guard that refuses a file too large before reading it."""

from __future__ import annotations

import logging

from .. import settings
from .._errors import (
    MemoryBudgetError,
)

logger = logging.getLogger(__name__)




_FOOTPRINT_CHUNK = 1 << 18

#: Peak bytes per kept street-way node while reading: node id, lon, lat and way row in compact
#: arrays (28), their copy into the ``way_nodes`` frame (28), and pyosmium's own reference (16).
BYTES_PER_WAY_NODE = 72
#: Peak bytes per street way row (its tag tuple and its row of the ``ways`` frame): about 20 bytes per
#: tag slot (tuple pointer, frame cell and its copy), 400 for the 20 slots before the 9 parking tags.
BYTES_PER_WAY_ROW = 580
#: Peak bytes per destination feature besides its geometry (tag dict, row, Python objects).
BYTES_PER_FEATURE = 1200
#: Peak bytes per building (compact columns, their frame and a shapely point).
BYTES_PER_BUILDING = 300
#: Peak bytes per node id kept by the duplicate-node check of XML files (id array and its sort).
BYTES_PER_CHECKED_NODE = 32


def memory_budget_bytes() -> float:
    """Memory one step of urbankit may use: ``settings.memory_limit_gb``, or else what the machine
    reports as available right now (infinite when that cannot be known)."""
    if settings.memory_limit_gb is not None:
        return float(settings.memory_limit_gb) * 1e9
    available = _meminfo_available_bytes()
    if available is not None:
        return available
    try:
        import psutil

        return float(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - psutil missing or unsupported platform: no guard
        return float("inf")


def _meminfo_available_bytes() -> float | None:
    """``MemAvailable`` of Linux's ``/proc/meminfo`` (what psutil reports there, without importing
    psutil, about 0.1 s of a command-line run); None elsewhere."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


def format_bytes(n: float) -> str:
    """``n`` bytes as "1.2 GB" or "3.4 MB"."""
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


class MemoryGuard:
    """Running estimate of the memory a step keeps, checked against the budget before it grows.

    Parameters
    ----------
    what : str
        The step, as it reads in a message (``"reading 'x.osm.pbf'"``).
    fix : str
        What the user can do when the budget is exceeded.
    budget_bytes : float, optional
        Default :func:`memory_budget_bytes` at creation.
    """

    def __init__(self, what: str, fix: str, *, budget_bytes: float | None = None) -> None:
        self.what, self.fix = what, fix
        self.budget = memory_budget_bytes() if budget_bytes is None else float(budget_bytes)
        self.used = 0.0

    def charge(self, nbytes: float, detail: str = "") -> None:
        """Add ``nbytes`` to the estimate; :class:`~urbankit.MemoryBudgetError` if it exceeds the budget.

        Call it before allocating: nothing has been allocated for the request when it raises.
        """
        self.check(nbytes, detail)
        self.used += nbytes

    def check(self, nbytes: float, detail: str = "") -> None:
        """Raise :class:`~urbankit.MemoryBudgetError` if ``nbytes`` more would exceed the budget (the
        estimate is not changed: for temporaries, and for worst cases charged later by what is kept)."""
        need = self.used + nbytes
        if need > self.budget:
            raise MemoryBudgetError(
                f"{self.what} would need about {format_bytes(need)}{f' ({detail})' if detail else ''}, "
                f"more than the {format_bytes(self.budget)} available; {self.fix} "
                "(or raise urbankit.settings.memory_limit_gb if the machine has more memory)."
            )
