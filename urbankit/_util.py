"""Small helpers shared by several modules."""

from __future__ import annotations

import os
import sys
import threading


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (used to tell live writers from dead ones)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def can_fork() -> bool:
    """True where a second writing process can help: Linux, two or more usable cores, and no other
    Python thread running (a fork copies only the calling thread; a lock another thread holds, e.g.
    inside GDAL, would stay locked in the child)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return cores >= 2 and threading.active_count() == 1
