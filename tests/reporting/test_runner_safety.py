"""The report runner and batches are safe to run from cron on shared data (issue 10, items 4, 5, 7, 8).

- names the runner uses itself (``latest``, ``<id>.failed``, hidden temporaries) cannot be taken by a
  run id, a batch set or report name, and over-long names are refused before anything runs;
- a full disk leaves the previous good report, records the failure in ``<id>.failed``, removes the
  temporaries and gives an urbankit error (exit status 2 from the CLI);
- a batch never serves a stale report: every file of an input (a shapefile's ``.dbf``...), the
  render options and the timeout of a failure count;
- worker counts, timeouts, ``--out`` and ``--scheduler`` are checked before anything runs.

The reports here run a tiny notebook written by the tests (a few seconds each), not the real ones.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import urbankit
from urbankit import InvalidOptionError, ReportError, UrbankitError
from urbankit._errors import ReportWriteError, SchedulerError
from urbankit.cli import main
from urbankit.reporting.batch import load_config, run_batch
from urbankit.reporting.inputs import fingerprint
from urbankit.reporting.runner import read_run, run_report

PARAMETERS_CELL = """\
source = "town"
population: str | None = None  # a vector file with a 'residents' column
size_bytes = 1000               # bytes of data.bin, the report's data output
output_lines = 0                # characters printed into the notebook
sleep_s = 0.0
output_dir = "."
"""

WORK_CELL = """\
import pathlib
import time

time.sleep(sleep_s)
pathlib.Path(output_dir, "data.bin").write_bytes(b"x" * size_bytes)
if population is not None:
    import geopandas

    pathlib.Path(output_dir, "total.txt").write_text(repr(float(geopandas.read_file(population)["residents"].sum())))
print("y" * output_lines)
"""


@pytest.fixture
def tiny(tmp_path) -> Path:
    """A two-cell report notebook: writes ``data.bin`` (and ``total.txt`` from a population file)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    params = nbformat.v4.new_code_cell(PARAMETERS_CELL)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(WORK_CELL)]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


def _tree(folder: Path) -> dict[str, str]:
    """Every file and link under ``folder`` (hidden ones too): content hash, or link target."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _hidden(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


# --------------------------------------------------------------------------- item 4: names


@pytest.mark.parametrize(
    "run_id, fragment",
    [
        ("jan.failed", "ends in '.failed'"),
        ("Jan.FAILED", "ends in '.failed'"),
        ("latest", "name the runner uses itself"),
        ("LATEST", "name the runner uses itself"),
        (".jan", "not a plain folder name"),
        (".", "not a plain folder name"),
        ("..", "not a plain folder name"),
        ("../elsewhere", "not a plain folder name"),
        ("a/b", "not a plain folder name"),
        ("jan\n", "not a plain folder name"),
        ("x" * 300, "is 300 characters long: at most 100"),
    ],
)
def test_run_ids_colliding_with_the_runners_names_are_refused(tiny, tmp_path, capsys, run_id, fragment):
    out = tmp_path / "reports"
    with pytest.raises(ReportError, match=fragment):
        run_report(tiny, out_dir=out, run_id=run_id)
    assert main(["report", str(tiny), "--out", str(out), "--run-id", run_id]) == 2
    err = capsys.readouterr().err
    assert "urbankit: error: run id" in err and fragment in err and "choose another name" in err
    assert not out.exists()  # refused before anything was created


def test_a_failed_run_never_replaces_a_good_one_through_a_dot_failed_run_id(tiny, tmp_path):
    """The issue's case: a good report run as ``jan.failed`` was replaced by a failure of ``jan``."""
    out = tmp_path / "reports"
    good = run_report(tiny, out_dir=out, run_id="jan")
    before = _tree(good.parent)
    with pytest.raises(ReportError, match="ends in '.failed'"):
        run_report(tiny, out_dir=out, run_id="jan.failed")
    assert _tree(good.parent) == before and (good.parent / "latest").resolve() == good


@pytest.mark.parametrize(
    "table, fragment",
    [
        (
            '[notebooks.tiny]\nnotebook = "tiny.ipynb"\n[notebooks.tiny.sets."jan.failed"]\n',
            "set name 'jan.failed' ends in '.failed'",
        ),
        (
            '[notebooks.tiny]\nnotebook = "tiny.ipynb"\n[notebooks.tiny.sets.latest]\n',
            "set name 'latest' is a name the runner uses",
        ),
        ('[notebooks.tiny]\nnotebook = "tiny.ipynb"\n[notebooks.tiny.sets.' + "s" * 300 + "]\n", "300 characters long"),
        ('[[report]]\nnotebook = "tiny.ipynb"\nname = "feb.failed"\n', "name 'feb.failed' ends in '.failed'"),
        ('[[report]]\nnotebook = "tiny.ipynb"\nname = "Latest"\n', "name 'Latest' is a name the runner uses"),
        ('[[report]]\nnotebook = "tiny.ipynb"\narea = "index.html"\n', "area 'index.html' is a name the runner uses"),
        (
            '[areas."index.json"]\n[notebooks.tiny]\nnotebook = "tiny.ipynb"\n',
            "area name 'index.json' is a name the runner",
        ),
    ],
)
def test_batch_names_colliding_with_the_runners_names_are_refused(tiny, tmp_path, capsys, table, fragment):
    config = tmp_path / "b.toml"
    config.write_text('out = "reports"\n[areas.town]\n' * ("[areas." not in table) + table)
    with pytest.raises(ReportError, match=fragment):
        load_config(config)
    assert main(["batch", str(config), "--no-progress", "--dashboard", ""]) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_an_input_inside_the_folder_a_run_replaces_is_refused(tiny, tmp_path):
    out = tmp_path / "reports"
    good = run_report(tiny, out_dir=out, run_id="jan")
    grid = good / "grid.geojson"
    grid.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"residents": 12}, '
        '"geometry": {"type": "Point", "coordinates": [7.42, 43.73]}}]}'
    )
    before = _tree(good.parent)
    with pytest.raises(ReportError, match=r"input file\(s\) population=.* lie inside .*jan.*choose another run id"):
        run_report(tiny, parameters={"population": str(grid)}, out_dir=out, run_id="jan")
    assert _tree(good.parent) == before


# --------------------------------------------------------------------------- item 4: disk full


class FullDisk:
    """A file system of ``free_bytes`` left under ``root``: files this process opens for writing there
    fail with ENOSPC (after writing what fits) once the files under ``root`` would exceed it. The
    report kernel's own writes are not limited but take up space like any other file."""

    def __init__(self, root: Path, free_bytes: int):
        self.root = root.resolve()
        self.capacity = self.used() + free_bytes
        self.refused: list[str] = []

    def used(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file() and not p.is_symlink())

    def install(self, monkeypatch) -> None:
        real_open = io.open
        disk = self

        class Limited:
            def __init__(self, fh, path):
                self._fh, self._path = fh, path

            def write(self, data):
                self._fh.flush()
                room = max(0, disk.capacity - disk.used())
                size = len(data.encode() if isinstance(data, str) else data)
                if size > room:
                    self._fh.write(data[:room])
                    self._fh.flush()
                    disk.refused.append(self._path)
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._path)
                return self._fh.write(data)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self._fh.close()
                return False

            def __getattr__(self, name):
                return getattr(self._fh, name)

        def limited_open(file, mode="r", *args, **kwargs):
            fh = real_open(file, mode, *args, **kwargs)
            if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
                path = os.path.abspath(os.fspath(file))
                if path.startswith(str(disk.root) + os.sep):
                    return Limited(fh, path)
            return fh

        monkeypatch.setattr(io, "open", limited_open)
        monkeypatch.setattr("builtins.open", limited_open)


@pytest.mark.parametrize("where", ["notebook", "html"])
@pytest.mark.slow
def test_disk_full_keeps_the_good_report_records_the_failure_and_removes_temporaries(
    tiny, tmp_path, capsys, monkeypatch, where
):
    out = tmp_path / "reports"
    big = {"size_bytes": 2_000_000, "output_lines": 100_000}
    good = run_report(tiny, parameters=big, out_dir=out, run_id="jan")
    parent = good.parent
    before = _tree(parent)
    sizes = {name: (good / name).stat().st_size for name in ("tiny.ipynb", "tiny.html", "data.bin")}
    # room for the kernel's 2 MB data.bin and then half the notebook (papermill's save fails after the
    # big cell), or the notebook and half the HTML page (the runner's export fails)
    room = sizes["data.bin"] + (
        sizes["tiny.ipynb"] // 2 if where == "notebook" else sizes["tiny.ipynb"] + sizes["tiny.html"] // 2
    )
    disk = FullDisk(out, room)
    disk.install(monkeypatch)

    if where == "notebook":
        with pytest.raises(ReportWriteError) as info:
            run_report(tiny, parameters=big, out_dir=out, run_id="jan")
        message = str(info.value)
        assert isinstance(info.value, OSError) and isinstance(info.value.__cause__, OSError)
        assert info.value.__cause__.errno == errno.ENOSPC
    else:
        args = [
            "report",
            str(tiny),
            "--out",
            str(out),
            "--run-id",
            "jan",
            "-p",
            "size_bytes",
            "2000000",
            "-p",
            "output_lines",
            "100000",
        ]
        assert main(args) == 2
        message = capsys.readouterr().err
        assert message.startswith("urbankit: error: report tiny.ipynb could not be written")
    assert disk.refused and disk.refused[0].endswith("tiny.ipynb" if where == "notebook" else "tiny.html")
    assert "the disk is full (No space left on device)" in message and str(parent) in message
    assert "previous report is untouched" in message and "temporary files are removed" in message
    assert f"recorded in {parent / 'jan.failed' / 'run.json'}" in message

    # the good report and latest untouched; the failure recorded; nothing hidden left
    after = _tree(parent)
    assert {k: v for k, v in after.items() if not k.startswith("jan.failed/")} == before
    assert (parent / "latest").resolve() == good and read_run(good)["status"] == "ok"
    assert sorted(p.name for p in (parent / "jan.failed").iterdir()) == ["run.json"]
    failed = read_run(parent / "jan.failed")
    assert failed["status"] == "failed" and failed["error"].startswith("could not write the report: the disk is full")
    assert failed["write_error"]["errno"] == errno.ENOSPC and failed["run_id"] == "jan"
    assert failed["content_sha256"] == read_run(good)["content_sha256"]
    assert _hidden(out) == []


def test_batch_index_on_a_full_disk_keeps_the_previous_index(tiny, tmp_path, capsys, monkeypatch):
    config = tmp_path / "b.toml"  # one invalid report: nothing to compute, only the index to write
    config.write_text('out = "reports"\n[[report]]\nnotebook = "tiny.ipynb"\nparameters = { colour = "red" }\n')
    assert main(["batch", str(config), "--no-progress", "--dashboard", ""]) == 1
    out = tmp_path / "reports"
    before = _tree(out)
    assert set(before) == {"index.html", "index.json"}
    capsys.readouterr()
    FullDisk(out, 100).install(monkeypatch)
    with pytest.raises(ReportWriteError, match=r"cannot write the batch index .*index.html: the disk is full"):
        run_batch(config, dashboard=None, progress=False)
    assert main(["batch", str(config), "--no-progress", "--dashboard", ""]) == 2
    assert "the previous index and every report are untouched" in capsys.readouterr().err.lower()
    assert _tree(out) == before and _hidden(out) == []


# --------------------------------------------------------------------------- item 5: no stale batch results


@pytest.fixture(scope="module")
def client():
    """One dask worker process for the batches of this module (a LocalCluster per batch is slow)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as c,
    ):
        yield c


def _write_shapefile(folder: Path, residents: list[float]) -> Path:
    import geopandas as gpd
    from shapely.geometry import Point

    folder.mkdir(exist_ok=True)
    gdf = gpd.GeoDataFrame(
        {"residents": residents}, geometry=[Point(7.42, 43.73 + i / 1000) for i in range(len(residents))], crs=4326
    )
    path = folder / "grid.shp"
    gdf.to_file(path)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_changing_a_shapefiles_dbf_recomputes_the_batch_report(tiny, tmp_path, client):
    shp = _write_shapefile(tmp_path / "data", [100.0, 250.0])
    config = tmp_path / "b.toml"
    config.write_text(
        'out = "reports"\n[areas.town]\npopulation = "data/grid.shp"\n[notebooks.tiny]\nnotebook = "tiny.ipynb"\n'
    )
    key = "town/tiny/default"
    report = tmp_path / "reports" / key

    first = run_batch(config, client=client, progress=False)
    assert first.by_key()[key].status == "ok", first.summary()
    assert float((report / "total.txt").read_text()) == 350.0
    second = run_batch(config, client=client, progress=False)
    assert second.by_key()[key].status == "unchanged"

    # a new attribute table only: the .shp (geometry) stays byte for byte the same
    shp_sha = _sha(shp)
    other = _write_shapefile(tmp_path / "other", [100.0, 999.0])
    (shp.with_suffix(".dbf")).write_bytes(other.with_suffix(".dbf").read_bytes())
    assert _sha(shp) == shp_sha
    third = run_batch(config, client=client, progress=False)
    assert third.by_key()[key].status == "ok", third.summary()
    assert float((report / "total.txt").read_text()) == 100.0 + 999.0
    assert read_run(report)["input_companion_sha256"]["population"]["grid.dbf"] == _sha(shp.with_suffix(".dbf"))

    # any other sidecar GDAL reads counts too (here the .cpg encoding file)
    shp.with_suffix(".cpg").write_text("LATIN1")
    assert run_batch(config, client=client, progress=False).by_key()[key].status == "ok"
    assert run_batch(config, client=client, progress=False).by_key()[key].status == "unchanged"


@pytest.mark.slow
def test_render_options_and_a_changed_timeout_recompute_the_batch_report(tiny, tmp_path, client):
    config = tmp_path / "b.toml"
    head = 'out = "reports"\n[[report]]\nnotebook = "tiny.ipynb"\nname = "r"\n'
    key = "town/tiny/r"
    report = tmp_path / "reports" / key

    config.write_text(head)
    assert run_batch(config, client=client, progress=False).by_key()[key].status == "ok"
    assert "write_bytes" not in (report / "tiny.html").read_text()  # code hidden
    assert run_batch(config, client=client, progress=False).by_key()[key].status == "unchanged"

    config.write_text("show_code = true\n" + head)
    assert run_batch(config, client=client, progress=False).by_key()[key].status == "ok"
    assert "write_bytes" in (report / "tiny.html").read_text()  # the code is there now: not the stale page
    assert run_batch(config, client=client, progress=False).by_key()[key].status == "unchanged"

    config.write_text("show_code = true\noffline = false\n" + head)
    assert run_batch(config, client=client, progress=False).by_key()[key].status == "ok"
    assert read_run(report)["options"] == {"show_code": True, "offline": False, "kernel_name": None}

    # a report that timed out is retried when the timeout changes (not "failed before with the same inputs")
    slow = head + "parameters = { sleep_s = 3.0 }\n"
    config.write_text("timeout = 1\n" + slow)
    assert run_batch(config, client=client, progress=False).by_key()[key].status == "failed"
    assert run_batch(config, client=client, progress=False).by_key()[key].status == "failed-unchanged"
    config.write_text("timeout = 60\n" + slow)
    again = run_batch(config, client=client, progress=False).by_key()[key]
    assert again.status == "ok", again.error


def test_the_content_hash_covers_every_file_of_an_input(tmp_path, tiny):
    grid = tmp_path / "grid.gpkg"
    grid.write_bytes(urbankit.datasets.get_path("helsinki_population").read_bytes())
    base = fingerprint(tiny, {"population": str(grid)})
    # a GeoPackage's write-ahead log holds committed rows not yet in the main file
    (tmp_path / "grid.gpkg-wal").write_bytes(b"rows not yet checkpointed")
    wal = fingerprint(tiny, {"population": str(grid)})
    assert wal["content_sha256"] != base["content_sha256"]
    assert wal["input_companion_sha256"]["population"] == {"grid.gpkg-wal": _sha(tmp_path / "grid.gpkg-wal")}
    # an unrelated file beside it does not count
    (tmp_path / "grid2.gpkg").write_bytes(b"other")
    assert fingerprint(tiny, {"population": str(grid)})["content_sha256"] == wal["content_sha256"]
    # a rewrite of the same size with the same mtime (cp -p, a coarse file-system clock) is seen
    st = grid.stat()
    data = bytearray(grid.read_bytes())
    data[-1] ^= 0xFF
    grid.write_bytes(bytes(data))
    os.utime(grid, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (
        fingerprint(tiny, {"population": str(grid)})["input_sha256"]["population"] == hashlib.sha256(data).hexdigest()
    )
    # an input given as a folder hashes every file in it
    folder = tmp_path / "cells"
    folder.mkdir()
    (folder / "a.geojson").write_text("{}")
    one = fingerprint(tiny, {"population": str(folder) + "/"})
    (folder / "b.geojson").write_text("{}")
    assert fingerprint(tiny, {"population": str(folder) + "/"})["content_sha256"] != one["content_sha256"]
    # show_code and offline change the written report, so they change the hash
    plain = fingerprint(tiny, {})["content_sha256"]
    assert fingerprint(tiny, {}, show_code=True)["content_sha256"] != plain
    assert fingerprint(tiny, {}, offline=False)["content_sha256"] != plain


# --------------------------------------------------------------------------- item 7: workers


@pytest.mark.parametrize("value", ["-3", "0", "2.5", "true", '"2"', "100000"])
def test_bad_worker_counts_in_the_batch_file_are_refused(tiny, tmp_path, capsys, value):
    config = tmp_path / "b.toml"  # an invalid report: the old code computed nothing, so it did not hang here
    config.write_text(
        f'workers = {value}\nout = "reports"\n[[report]]\nnotebook = "tiny.ipynb"\nparameters = {{ colour = "red" }}\n'
    )
    with pytest.raises(
        InvalidOptionError, match=r"b.toml: workers must be a whole number of worker processes from 1 to 256"
    ):
        run_batch(config, dashboard=None, progress=False)
    assert main(["batch", str(config), "--no-progress", "--dashboard", ""]) == 2
    assert "workers must be a whole number" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    "value, fragment", [("-1", "got -1"), ("0", "got 0"), ("two", "--workers must be a whole number, got 'two'")]
)
def test_bad_worker_counts_on_the_command_line_are_refused(tiny, tmp_path, capsys, value, fragment):
    config = tmp_path / "b.toml"
    config.write_text('out = "reports"\n[[report]]\nnotebook = "tiny.ipynb"\nparameters = { colour = "red" }\n')
    with pytest.raises(InvalidOptionError, match="--workers must be a whole number"):
        run_batch(config, workers=int(value) if value.lstrip("-").isdigit() else value, dashboard=None, progress=False)
    assert main(["batch", str(config), "--workers", value, "--no-progress", "--dashboard", ""]) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_negative_workers_with_a_report_to_run_fails_at_once_instead_of_waiting_forever(tiny, tmp_path):
    config = tmp_path / "b.toml"
    config.write_text('out = "reports"\n[[report]]\nnotebook = "tiny.ipynb"\n')
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "urbankit.cli",
            "batch",
            str(config),
            "--workers",
            "-1",
            "--no-progress",
            "--dashboard",
            "",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "--workers must be a whole number of worker processes from 1 to 256, got -1" in proc.stderr
    assert not (tmp_path / "reports").exists()


# --------------------------------------------------------------------------- item 8: clear errors


def test_out_under_a_file_is_refused(tiny, tmp_path, capsys):
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me")
    for out, fragment in ((afile, "is a file, not a folder"), (afile / "reports", "which is a file, not a folder")):
        assert main(["report", str(tiny), "--out", str(out), "--run-id", "jan"]) == 2
        err = capsys.readouterr().err
        assert f"out_dir / --out {str(out)!r}" in err and fragment in err
        with pytest.raises(InvalidOptionError, match=fragment):
            run_report(tiny, out_dir=out, run_id="jan")
    config = tmp_path / "b.toml"
    config.write_text('[[report]]\nnotebook = "tiny.ipynb"\n')
    assert main(["batch", str(config), "--out", str(afile / "reports"), "--no-progress", "--dashboard", ""]) == 2
    assert "--out" in capsys.readouterr().err
    assert afile.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == [
        "b.toml",
        "notes.txt",
        "tiny.ipynb",
    ]


def test_out_in_a_missing_folder_is_refused_but_the_reports_folder_itself_is_created(tiny, tmp_path, capsys):
    missing = tmp_path / "typo" / "deeper" / "reports"
    assert main(["report", str(tiny), "--out", str(missing), "--run-id", "jan"]) == 2
    err = capsys.readouterr().err
    assert f"its parent folder {str(missing.parent)!r} does not exist" in err and "mkdir -p" in err
    assert not (tmp_path / "typo").exists()
    config = tmp_path / "b.toml"
    config.write_text('out = "typo/reports"\n[[report]]\nnotebook = "tiny.ipynb"\n')
    with pytest.raises(InvalidOptionError, match=r"b.toml: out .* parent folder .* does not exist"):
        run_batch(config, dashboard=None, progress=False)
    assert not (tmp_path / "typo").exists()
    # the reports folder itself, in an existing folder, is created as before
    assert main(["report", str(tiny), "--out", str(tmp_path / "reports"), "--run-id", "jan"]) == 0
    assert read_run(tmp_path / "reports" / "town" / "tiny" / "jan")["status"] == "ok"


@pytest.mark.parametrize("value", ["inf", "nan", "-5", "0", "1e999", "soon"])
def test_bad_timeouts_are_refused_before_running(tiny, tmp_path, capsys, value):
    out = tmp_path / "reports"
    assert main(["report", str(tiny), "--out", str(out), "--timeout", value]) == 2
    err = capsys.readouterr().err
    assert "timeout must be" in err and repr(value if value == "soon" else float(value)) in err
    config = tmp_path / "b.toml"
    config.write_text('out = "reports"\n[[report]]\nnotebook = "tiny.ipynb"\n')
    assert main(["batch", str(config), "--timeout", value, "--no-progress", "--dashboard", ""]) == 2
    assert "timeout must be" in capsys.readouterr().err
    if value != "soon":
        with pytest.raises(InvalidOptionError, match="timeout must be a finite positive number of seconds"):
            run_report(tiny, out_dir=out, timeout=float(value))
    assert not out.exists()


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", '"soon"'])
def test_bad_timeouts_in_the_batch_file_are_refused(tiny, tmp_path, value):
    config = tmp_path / "b.toml"
    config.write_text(f'timeout = {value}\nout = "reports"\n[[report]]\nnotebook = "tiny.ipynb"\n')
    with pytest.raises(InvalidOptionError, match="b.toml: timeout must be a finite positive number of seconds"):
        run_batch(config, dashboard=None, progress=False)
    assert not (tmp_path / "reports").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_a_clear_error(tiny, tmp_path, capsys):
    import time

    config = tmp_path / "b.toml"
    config.write_text('out = "reports"\n[[report]]\nnotebook = "tiny.ipynb"\n')
    address = f"tcp://127.0.0.1:{_closed_port()}"
    t0 = time.monotonic()
    assert main(["batch", str(config), "--scheduler", address, "--no-progress"]) == 2
    assert time.monotonic() - t0 < 10
    err = capsys.readouterr().err
    assert f"--scheduler {address!r}: no dask scheduler answers at 127.0.0.1:" in err and "refused" in err.lower()
    with pytest.raises(SchedulerError) as info:
        run_batch(config, scheduler=address, progress=False)
    assert isinstance(info.value, ConnectionError)
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    "address, fragment",
    [
        ("garbage", "has no valid host and port (missing port number in address 'garbage')"),
        ("tcp://", "has no valid host and port"),
        ("tcp://localhost:notaport", "has no valid host and port"),
        ("tcp://localhost:99999", "needs a host and a port from 1 to 65535"),
        ("http://localhost:8786", "unknown protocol 'http'"),
        ("tcp://local host:1", "is not a dask scheduler address"),
    ],
)
def test_a_malformed_scheduler_address_is_a_clear_error(tiny, tmp_path, capsys, address, fragment):
    config = tmp_path / "b.toml"
    config.write_text('out = "reports"\n[[report]]\nnotebook = "tiny.ipynb"\n')
    assert main(["batch", str(config), "--scheduler", address, "--no-progress"]) == 2
    assert fragment in capsys.readouterr().err
    with pytest.raises(InvalidOptionError, match="--scheduler"):
        run_batch(config, scheduler=address, progress=False)
    assert not (tmp_path / "reports").exists()


def test_every_refusal_here_is_an_urbankit_error():
    for cls in (ReportWriteError, SchedulerError):
        assert issubclass(cls, UrbankitError)
    assert issubclass(ReportWriteError, OSError) and issubclass(ReportWriteError, ReportError)
    assert issubclass(SchedulerError, ConnectionError)


def test_an_output_folder_with_braces_is_a_literal_path(tiny, tmp_path):
    """papermill formats paths with ``str.format``: ``{x}`` in a folder name must stay literal, not fail."""
    out = tmp_path / "we{ird}" / "{0}"
    out.mkdir(parents=True)
    folder = run_report(tiny, out_dir=out, run_id="jan")
    assert folder.parent.parent.parent == out
    assert (folder / "data.bin").read_bytes() == b"x" * 1000
    assert read_run(folder)["status"] == "ok"


def test_logged_warnings_become_escaped_notes_for_readers():
    """A warning logged while a report computes reaches readers as a framed plain-text note, not a red
    stderr box; progress-bar lines are dropped and hostile text stays text."""
    import nbformat

    from urbankit.reporting.runner import _notes_for_readers

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr",
                               text='city <img src=x onerror="alert(1)">.osm: 861 node references cut\n'
                                    "walk reach:  40%|####  | 2/5\r\n"),
        nbformat.v4.new_output("stream", name="stdout", text="kept as it is\n"),
    ]
    nb.cells.append(cell)
    _notes_for_readers(nb)
    note, plain = cell.outputs
    assert plain["output_type"] == "stream" and plain["text"] == "kept as it is\n"
    html = note["data"]["text/html"]
    assert note["output_type"] == "display_data" and 'class="urbankit-note"' in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;.osm: 861 node references cut" in html
    assert "<img" not in html and "reach" not in html
