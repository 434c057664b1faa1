"""Writing files safely: the one atomic write-then-rename helper every writer in urbankit uses.

A result is written to a uniquely named temporary beside its target (``.<stem>.<pid>.<random>.tmp
<suffix>``, so concurrent writers never collide), synced, then moved over the target in one
``os.replace``; on any failure the temporary (and SQLite's ``-journal``/``-wal``/``-shm`` side
files) is removed and an earlier file at the target stays untouched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["atomic_path", "fsync_path", "remove_quietly", "temporary_path", "write_bytes_atomic"]


def temporary_path(path: Path, *, suffix: str | None = None) -> Path:
    """A fresh, unique, hidden temporary path beside ``path``.

    ``suffix`` (default: the target's suffix) ends the name, so that libraries choosing a driver
    by extension (GDAL for ``.gpkg``) see the right one.
    """
    path = Path(path)
    end = path.suffix if suffix is None else suffix
    return path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{end}")


def fsync_path(path: Path, *, directory: bool = False) -> None:
    """``fsync`` a file or a folder; a no-op where the platform or file system cannot."""
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:  # pragma: no cover - e.g. directories cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without fsync
        pass
    finally:
        os.close(fd)


def remove_quietly(path: Path) -> None:
    """Remove ``path`` and SQLite's side files of it, ignoring ones that do not exist."""
    path = Path(path)
    for p in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:  # pragma: no cover - depends on the file system
            logger.warning("could not remove the temporary file %s (%s)", p, exc)


@contextlib.contextmanager
def atomic_path(path, *, suffix: str | None = None, sync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` in one step.

    Parameters
    ----------
    path : str or Path
        The target; its folder is created if needed.
    suffix : str, optional
        Ending of the temporary's name (default: the target's suffix).
    sync : bool, default True
        ``fsync`` the finished file and the folder (durable across a power cut).

    Yields
    ------
    pathlib.Path
        Where to write. Nothing exists there yet.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('done', ['out.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path, suffix=suffix)
    try:
        yield tmp
        if sync:
            fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
    if sync:
        fsync_path(path.parent, directory=True)


def write_bytes_atomic(path, *parts: bytes, sync: bool = True) -> Path:
    """Write the concatenated ``parts`` to ``path`` atomically (see :func:`atomic_path`); return it."""
    path = Path(path)
    with atomic_path(path, sync=sync) as tmp:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(tmp, flags, 0o666)
        try:
            for part in parts:
                view = memoryview(part).cast("B")
                while view:
                    n = os.write(fd, view[: 1 << 20])
                    view = view[n:]
        finally:
            os.close(fd)
    return path
