"""Small helpers shared by several modules."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


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


def fork_call(work: Callable[[], None]) -> int:
    """Run ``work()`` in a forked process and return its pid; the process exits with code 0 when
    ``work`` returns and 1 when it raises (logged at debug level), without running any cleanup
    (``os._exit``). The caller waits for it (``os.waitpid``)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        except BaseException:  # noqa: BLE001 - reported by the exit code
            logger.debug("forked process failed", exc_info=True)
        finally:
            os._exit(code)
    return pid
