"""The network cache survives concurrent runs and killed writers.

Several processes (multiprocessing, fork server) share one cache folder and build the same network at
once, released together by a barrier. Every one must succeed with the same network, and the entry
left in the cache must load (its hash checks) and equal a network built without the cache.

(A corrupted or truncated entry is detected by its hash and rebuilt:
``tests/network/test_networks.py::test_corrupt_cache_is_rebuilt``. Outputs are written atomically:
``tests/test_io.py::test_failure_leaves_previous_file_untouched`` and
``test_interrupt_leaves_previous_file_untouched`` for the GeoPackage, ``tests/reporting/test_reports.py`` for
report folders. Online fetches fail clearly offline and reuse the cache: ``tests/osm/test_online.py``.)
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import signal
from pathlib import Path

import pytest
from geopandas.testing import assert_geodataframe_equal

import urbankit
from urbankit.mock import grid_extract
from urbankit.network import cache as networks

N_PROCESSES = 6
GRID = (30, 30)  # 961 nodes: a cache entry of a few hundred kB, written in many syscalls


def _digest(net) -> str:
    e = net.edges
    h = hashlib.sha256()
    h.update(net.nodes.index.to_numpy().tobytes())
    h.update(net.nodes[["x", "y"]].to_numpy().tobytes())
    h.update(e[["u", "v"]].to_numpy().tobytes())
    h.update(e[["length_m", "time_min"]].to_numpy().tobytes())
    h.update(repr(sorted((k, str(v)) for k, v in net.meta.items())).encode())
    return h.hexdigest()


def _build_worker(args) -> dict:
    """In a fresh process: wait for the others, then build the network with the shared cache."""
    folder, barrier, mode, rounds, rewrite = args
    import logging

    import urbankit as uk
    from urbankit.mock import grid_extract as grid
    from urbankit.network import cache as nw

    uk.settings.cache_folder = Path(folder)
    uk.settings.use_cache = True
    uk.settings.progress = False
    warnings = []

    class Keep(logging.Handler):
        def emit(self, record):
            warnings.append(record.getMessage())

    logging.getLogger("urbankit.networks").addHandler(Keep(level=logging.WARNING))
    ex = grid(*GRID)
    barrier.wait(timeout=120)
    digests = []
    for _ in range(rounds):
        net = uk.build_network(ex, mode)
        digests.append(_digest(net))
        if rewrite:  # every process also rewrites the entry while the others read it
            nw._store_cached(net)
    return {"pid": os.getpid(), "digests": digests, "key": net.key, "warnings": warnings}


def _context():
    """Fresh processes that start fast: a fork server that has imported urbankit once."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["urbankit", "urbankit.mock", "geopandas", "pandas", "numpy"])
    return ctx


def _run_all(folder: Path, jobs: list[tuple]) -> list[dict]:
    ctx = _context()
    with ctx.Manager() as manager:
        barrier = manager.Barrier(len(jobs))
        with ctx.Pool(len(jobs)) as pool:
            return pool.map(_build_worker, [(str(folder), barrier, *job) for job in jobs], chunksize=1)


def _entries(folder: Path) -> list[Path]:
    d = folder / "networks"
    return sorted(d.iterdir()) if d.is_dir() else []


@pytest.mark.slow
def test_concurrent_builds_share_one_valid_entry(cache_folder):
    results = _run_all(cache_folder, [("walk", 1, False)] * N_PROCESSES)
    fresh = urbankit.build_network(grid_extract(*GRID), "walk", cache=False)
    assert {r["digests"][0] for r in results} == {_digest(fresh)}
    assert len({r["pid"] for r in results}) == N_PROCESSES
    # exactly one entry, no temporary file left behind, and it loads (hash checked) and is correct
    key = results[0]["key"]
    assert [p.name for p in _entries(cache_folder)] == [networks._cache_path(key).name]
    cached = networks._load_cached(key)
    assert cached is not None
    assert_geodataframe_equal(cached.edges, fresh.edges)
    assert_geodataframe_equal(cached.nodes, fresh.nodes)
    assert cached.meta == fresh.meta
    # no process saw a corrupt entry
    assert not [w for r in results for w in r["warnings"] if "unreadable" in w]


@pytest.mark.slow
def test_concurrent_readers_and_rewriters(cache_folder):
    """Every process reads and rewrites the entry in a loop: readers never see a partial file."""
    jobs = [("drive", 4, True)] * 3 + [("drive", 4, False)] * 2 + [("walk", 2, True)]
    results = _run_all(cache_folder, jobs)
    ex = grid_extract(*GRID)
    want = {
        "drive": _digest(urbankit.build_network(ex, "drive", cache=False)),
        "walk": _digest(urbankit.build_network(ex, "walk", cache=False)),
    }
    for (mode, *_), r in zip(jobs, results):
        assert set(r["digests"]) == {want[mode]}, mode
        assert not [w for w in r["warnings"] if "unreadable" in w], r["warnings"]
    names = sorted(p.name for p in _entries(cache_folder))
    assert all(n.endswith(networks.CACHE_SUFFIX) for n in names) and len(names) == 2, names
    for r in results:
        assert networks._load_cached(r["key"]) is not None


def _killed_writer(folder: str) -> None:
    """Build with the cache, but die (SIGKILL) half-way through writing the entry's payload."""
    import urbankit as uk
    from urbankit import _datacache
    from urbankit.network import cache as nw

    uk.settings.cache_folder = Path(folder)
    uk.settings.use_cache = True
    real_write_all = _datacache._write_all

    def dying_write_all(fd, data):
        if len(data) <= _datacache._PREAMBLE:  # the preamble: written as usual
            return real_write_all(fd, data)
        real_write_all(fd, memoryview(data)[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)

    _datacache._write_all = dying_write_all
    try:
        net = uk.build_network(grid_extract(*GRID), "walk")  # dies here when there is no entry yet
        nw._store_cached(net)  # else here, rewriting the valid entry
    finally:
        _datacache._write_all = real_write_all


@pytest.mark.slow
def test_writer_killed_mid_write_leaves_the_entry_usable(cache_folder):
    ctx = _context()
    # first with no entry yet, then over a valid entry
    for _round in range(2):
        p = ctx.Process(target=_killed_writer, args=(str(cache_folder),))
        p.start()
        p.join(120)
        assert p.exitcode == -signal.SIGKILL
        net = urbankit.build_network(grid_extract(*GRID), "walk")  # builds (round 0) or loads (round 1)
        entry = networks._cache_path(net.key)
        assert entry.is_file() and networks._load_cached(net.key) is not None
    fresh = urbankit.build_network(grid_extract(*GRID), "walk", cache=False)
    assert_geodataframe_equal(networks._load_cached(net.key).edges, fresh.edges)


def test_killed_writer_leaves_no_temporary_file(cache_folder):
    ctx = _context()
    p = ctx.Process(target=_killed_writer, args=(str(cache_folder),))
    p.start()
    p.join(120)
    urbankit.build_network(grid_extract(*GRID), "walk")
    assert all(x.suffix == networks.CACHE_SUFFIX for x in _entries(cache_folder)), [
        x.name for x in _entries(cache_folder)
    ]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="background cache writes fork (Linux)")
def test_background_cache_writes_store_the_entry_or_log_and_leave_nothing(tmp_path, monkeypatch):
    """With settings.background_cache_writes a forked process writes the entry while this one goes
    on; waiting for it leaves the same entry a direct write does. A failing write is logged by that
    process and leaves no entry and no temporary; this process never sees an exception."""
    import pandas as pd

    from urbankit import _datacache, _util, settings

    monkeypatch.setattr(settings, "background_cache_writes", True)
    monkeypatch.setattr(_util, "can_fork", lambda: True)
    value = {"kind": "Test", "table": pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]})}
    path = tmp_path / "entry.bin"
    _datacache.dump_entry(path, value, background=True)
    assert _datacache._WRITERS  # a forked writer, not yet waited for
    _datacache._wait_writers()
    assert not _datacache._WRITERS
    got = _datacache.load_entry(path)
    pd.testing.assert_frame_equal(got["table"], value["table"])
    direct = tmp_path / "direct.bin"
    _datacache.dump_entry(direct, value)
    assert direct.read_bytes() == path.read_bytes()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_datacache, "write_atomic", full)
    _datacache.dump_entry(tmp_path / "failed.bin", value, background=True)  # logged by the forked writer
    _datacache._wait_writers()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["direct.bin", "entry.bin"]
    # without the setting the write is direct and its errors reach the caller
    monkeypatch.setattr(settings, "background_cache_writes", False)
    with pytest.raises(OSError, match="No space left"):
        _datacache.dump_entry(tmp_path / "failed.bin", value, background=True)
    with pytest.raises(_datacache.UnstorableError):
        _datacache.dump_entry(tmp_path / "x.bin", object(), background=True)
