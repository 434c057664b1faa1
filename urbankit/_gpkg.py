"""Write the layers of one GeoPackage in two processes and join them into one file.

GDAL writes a GeoPackage layer in one thread and holds the GIL while it does, so layers written from
threads take as long as written one after the other. On Linux, with two or more cores, a forked
process writes the other layers into a side file while this one writes the first layer into the
target; the side file's layers are then moved into the target at the SQLite level, each in one
transaction: its feature table is copied as it is (SQLite's transfer of whole b-trees), its R-tree
spatial index by its three shadow tables (no re-indexing), then its rows of the GeoPackage
bookkeeping tables (``gpkg_contents``, ``gpkg_geometry_columns``, ``gpkg_extensions``,
``gpkg_ogr_contents``, ``sqlite_sequence``) and last its triggers. The file is the one GDAL would
have written layer after layer: the same tables, rows, index and bookkeeping, in the same layer
order.

Layers whose data exist early (the ``edges`` of a network, long before the analysis on it is done)
can be started sooner, by :func:`start_side_writer`: a process forked then writes them while this
one computes, and :func:`write_layers` joins them in their place.

Anything unexpected (a forked process fails, a spatial reference system defined differently in the
two files, R-tree shadow tables of another shape, any SQLite error) rolls that layer's transaction
back and the layer is written here, the ordinary way: a failure only costs time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from ._util import can_fork, fork_call  # can_fork patched by tests

logger = logging.getLogger(__name__)

#: below this many rows in all layers together, forking costs more than it saves
PARALLEL_MIN_ROWS = 20_000
#: the GeoPackage bookkeeping tables that hold one or more rows per layer, keyed by ``table_name``
_BOOKKEEPING = ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions", "gpkg_ogr_contents")
_RTREE_SHADOWS = ("node", "rowid", "parent")


class _Refused(Exception):
    """The side file cannot be joined safely; its layers are written the ordinary way."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fork_writer(side: Path, names: Sequence[str], write: Callable[[str, Path], None]) -> int:
    """Fork a process that writes layers ``names`` into the GeoPackage ``side`` and exits (code 0 when
    every layer is written); returns its pid."""
    with contextlib.suppress(OSError):
        side.unlink()

    def work() -> None:  # a failure is reported by the exit code; the parent writes the layers again
        for name in names:
            write(name, side)

    return fork_call(work)


def _remove_side(side: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            Path(f"{side}{suffix}").unlink()


class SideWriter:
    """Layers being written now by a forked process into a side file, to be joined into a target
    GeoPackage later (:func:`write_layers` with ``started=``).

    Start it as soon as the layers' data exist (e.g. the ``edges`` layer once the network is built):
    the other process writes them while this one goes on computing. Use :func:`start_side_writer`;
    call :meth:`close` when done (it stops the process if its layers were never joined).

    Parameters
    ----------
    side : pathlib.Path
        The side file (removed by :meth:`close`).
    names : sequence of str
        The layers the process writes, in this order.
    pid : int
        The process writing them.
    """

    def __init__(self, side: Path, names: Sequence[str], pid: int) -> None:
        self.side = side
        self.names = list(names)
        self._pid: int | None = pid
        self._ok: bool | None = None

    def wait(self) -> bool:
        """Wait for the writing process; True when it wrote every layer."""
        if self._pid is not None:
            _, status = os.waitpid(self._pid, 0)
            self._pid = None
            code = os.waitstatus_to_exitcode(status)
            self._ok = code == 0
            if not self._ok:
                logger.info("the early GeoPackage writer of layers %s exited with code %s", self.names, code)
        return bool(self._ok)

    def close(self) -> None:
        """Stop the process if it still runs and remove the side file."""
        if self._pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self._pid, 9)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
            self._pid = None
            self._ok = False
        _remove_side(self.side)

    def __enter__(self) -> SideWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start_side_writer(
    folder: Path, names: Sequence[str], write: Callable[[str, Path], None]
) -> SideWriter | None:
    """Start writing layers ``names`` (``write(name, path)`` as for :func:`write_layers`) in a forked
    process, into a side file in ``folder``; None where :func:`can_fork` is False (the caller then
    writes them the ordinary way)."""
    if not names or not can_fork():
        return None
    side = Path(folder) / f".urbankit-{os.getpid()}-{os.urandom(6).hex()}.part.gpkg"
    return SideWriter(side, names, _fork_writer(side, list(names), write))


def write_layers(
    target: Path,
    names: Sequence[str],
    write: Callable[[str, Path], None],
    *,
    parallel: bool,
    started: SideWriter | None = None,
) -> None:
    """Write layers ``names`` into the GeoPackage ``target`` in this order.

    Parameters
    ----------
    target : pathlib.Path
        A new or GDAL-written GeoPackage (a temporary file the caller later moves into place).
    names : sequence of str
        Layer names, the largest first: with ``parallel`` this process writes ``names[0]`` while a
        forked one writes the others into a side file beside ``target``, joined into it afterwards.
    write : callable
        ``write(name, path)`` writes layer ``name`` into the GeoPackage ``path`` (building the
        layer's frame if needed: in the forked process, that work runs in parallel too).
    parallel : bool
        Use a second process; ignored (one process) where :func:`can_fork` is False or there is
        only one layer.
    started : SideWriter, optional
        Layers of ``names`` (not the first) already being written by an earlier process
        (:func:`start_side_writer`): they are joined from its side file, in their place in
        ``names`` (written here if that process failed). The caller closes it.

    Raises
    ------
    Exception
        Whatever ``write`` raises in this process (the forked process is stopped and its side file
        removed first).
    """
    names = list(names)
    early = set(started.names) & set(names) if started is not None else set()
    if names and names[0] in early:
        raise ValueError(f"the first layer ({names[0]!r}) is written here, not by an earlier process")
    here = [n for n in names if n not in early]
    if not early and (not parallel or len(here) < 2 or not can_fork()):
        for name in names:
            write(name, target)
        return
    side = target.with_name(f".{target.name}.{os.getpid()}.part.gpkg")
    forked = parallel and len(here) >= 2 and can_fork()
    pid = _fork_writer(side, here[1:], write) if forked else None
    try:
        try:
            if here:
                write(here[0], target)
        except BaseException:
            if pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(pid, 9)
            raise
        finally:
            if pid is not None:
                _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status) if pid is not None else None
        if code not in (0, None):
            logger.info("the second GeoPackage writer exited with code %s; writing layers %s here", code, here[1:])
        early_ok = bool(early) and started.wait()
        for name in names[1:]:
            if name in early:
                source = started.side if early_ok else None
            else:
                source = side if code == 0 else None
            if source is not None:
                try:
                    join_layers(target, source, [name])
                    continue
                except (_Refused, sqlite3.Error) as exc:
                    logger.info("layer %s not joined from the other process (%s); writing it here", name, exc)
            write(name, target)
    finally:
        _remove_side(side)


def join_layers(target: Path, side: Path, names: Sequence[str]) -> None:
    """Move the layers ``names`` of the GeoPackage ``side`` into ``target`` (in one transaction).

    Raises
    ------
    _Refused
        A layer is missing from ``side`` or already in ``target``, a spatial reference system has
        another definition in ``target``, or the R-tree shadow tables differ in shape.
    sqlite3.Error
        Any SQLite error; ``target`` is left as it was.
    """
    con = sqlite3.connect(target, isolation_level=None)
    try:
        con.execute("PRAGMA synchronous=OFF")  # the caller syncs the finished file once
        con.execute("ATTACH DATABASE ? AS part", (str(side),))
        con.execute("BEGIN IMMEDIATE")
        try:
            for name in names:
                _join_one(con, name)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("DETACH DATABASE part")
    finally:
        con.close()


def _master(con, schema: str) -> list[tuple[str, str, str, str | None]]:
    return con.execute(f"SELECT type, name, tbl_name, sql FROM {schema}.sqlite_master").fetchall()


def _join_one(con: sqlite3.Connection, name: str) -> None:
    part = _master(con, "part")
    main_names = {row[1] for row in _master(con, "main")}
    if name in main_names:
        raise _Refused(f"layer {name!r} is already in the target")
    table = [r for r in part if r[0] == "table" and r[1] == name]
    if not table:
        raise _Refused(f"layer {name!r} is not in the side file")
    rtrees = [r for r in part if r[0] == "table" and (r[3] or "").upper().startswith("CREATE VIRTUAL TABLE")
              and r[1].startswith(f"rtree_{name}_")]
    shadows = {f"{r[1]}_{s}" for r in rtrees for s in _RTREE_SHADOWS}
    q = _quote(name)
    # the spatial reference systems the layer uses: present with the same definition, or copied
    for (srs_id,) in con.execute("SELECT srs_id FROM part.gpkg_geometry_columns WHERE table_name = ?", (name,)):
        theirs = con.execute("SELECT definition FROM part.gpkg_spatial_ref_sys WHERE srs_id = ?", (srs_id,)).fetchone()
        ours = con.execute("SELECT definition FROM main.gpkg_spatial_ref_sys WHERE srs_id = ?", (srs_id,)).fetchone()
        if ours is None and theirs is not None:
            copy = "INSERT INTO main.gpkg_spatial_ref_sys SELECT * FROM part.gpkg_spatial_ref_sys WHERE srs_id = ?"
            con.execute(copy, (srs_id,))
        elif ours != theirs:
            raise _Refused(f"spatial reference system {srs_id} is defined differently in the two files")
    con.execute(table[0][3])
    con.execute(f"INSERT INTO main.{q} SELECT * FROM part.{q}")
    counts = [con.execute(f"SELECT count(*) FROM {db}.{q}").fetchone()[0] for db in ("main", "part")]
    if counts[0] != counts[1]:
        raise _Refused(f"layer {name!r} lost rows while copied")
    for typ, _, tbl, sql in part:  # other tables of the layer (none from GDAL today) and its indexes
        if tbl == name and typ == "index" and sql:
            con.execute(sql)
    for _, obj, _, sql in rtrees:
        con.execute(sql)
        for s in _RTREE_SHADOWS:
            shadow = f"{obj}_{s}"
            shape = [con.execute(f"SELECT sql FROM {db}.sqlite_master WHERE name = ?", (shadow,)).fetchone()
                     for db in ("main", "part")]
            if shape[0] is None or shape[0] != shape[1]:
                raise _Refused(f"R-tree table {shadow} differs in shape between the two files")
            con.execute(f"DELETE FROM main.{_quote(shadow)}")
            con.execute(f"INSERT INTO main.{_quote(shadow)} SELECT * FROM part.{_quote(shadow)}")
    tables_main = {row[1] for row in _master(con, "main") if row[0] == "table"}
    for book in _BOOKKEEPING:
        sql = next((r[3] for r in part if r[0] == "table" and r[1] == book), None)
        if sql is None:
            continue
        if book not in tables_main:
            con.execute(sql)
        con.execute(f"INSERT INTO main.{book} SELECT * FROM part.{book} WHERE table_name = ?", (name,))
    if any(r[1] == "sqlite_sequence" for r in part):
        con.execute("DELETE FROM main.sqlite_sequence WHERE name = ?", (name,))
        con.execute("INSERT INTO main.sqlite_sequence SELECT * FROM part.sqlite_sequence WHERE name = ?", (name,))
    for typ, _, tbl, sql in part:  # last: GDAL's triggers call its own SQL functions, absent here
        if typ == "trigger" and sql and (tbl == name or tbl in shadows):
            con.execute(sql)
