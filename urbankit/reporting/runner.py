"""The papermill runner: executing a report notebook, offline HTML, run folders written atomically."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from .._errors import InvalidOptionError, ReportError, ReportWriteError
from .._util import pid_alive
from .inputs import (
    _MARKER,
    MAX_NAME_CHARS,
    RUN_RECORD_VERSION,
    _absolute_files,
    _input_path,
    _sha256,
    _string_values,
    _versions,
    check_inputs,
    fingerprint,
    report_area,
)
from .parameters import _literal_path, _parameterized_input, normalise_parameters, resolve_notebook, validate_parameters

logger = logging.getLogger(__name__)


def export_html(executed: str | Path, *, show_code: bool = False, offline: bool = True) -> tuple[str, dict | None]:
    """HTML of an executed notebook (code hidden unless ``show_code``); offline and self-contained
    unless ``offline=False`` (see :mod:`urbankit._offline`). Returns the page and what was embedded."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    _notes_for_readers(nb)
    exporter = HTMLExporter(exclude_input=not show_code, exclude_input_prompt=True, exclude_output_prompt=True)
    html, _ = exporter.from_notebook_node(nb)
    if not offline:
        return html, None
    from ..viz.offline import make_offline

    result = make_offline(html)
    return result.html, result.record()


def _notes_for_readers(nb) -> None:
    """Warnings a computation logged (a clipped extract, a sparse map) shown to readers as framed notes
    in plain text, instead of nbconvert's red stderr boxes; progress-bar lines are dropped. Every line
    is escaped (names in OSM data are untrusted)."""
    import html
    import re

    for cell in nb.cells:
        outputs = cell.get("outputs") or []
        for i, out in enumerate(outputs):
            if out.get("output_type") != "stream" or out.get("name") != "stderr":
                continue
            text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", "".join(out.get("text", "")))
            lines = [ln.strip() for ln in text.split("\n") if ln.strip() and "\r" not in ln]
            body = "<br>".join(html.escape(ln) for ln in lines)
            outputs[i] = {
                "output_type": "display_data",
                "metadata": {},
                "data": {
                    "text/html": (
                        '<div class="urbankit-note" style="border-left:4px solid #b58900;background:#fdf6e3;'
                        'padding:6px 10px;margin:6px 0;font-size:0.95em">'
                        f"<b>Note from the computation:</b> {body}</div>"
                    )
                    if body
                    else ""
                },
            }


def _failing_cell(executed: Path, exc: BaseException) -> dict | None:
    """The cell a run failed or stopped in: index, execution count, source, error."""
    import re

    import nbformat

    info: dict = {}
    if getattr(exc, "cell_index", None) is not None:  # papermill's PapermillExecutionError
        info = {
            "index": exc.cell_index,
            "execution_count": exc.exec_count,
            "source": exc.source,
            "ename": exc.ename,
            "evalue": exc.evalue,
            "traceback": [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in (exc.traceback or [])][-12:],
        }
    try:
        nb = nbformat.read(str(executed), as_version=4)
    except Exception:  # noqa: BLE001 - not written yet, or half-written
        return info or None
    found = None
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("papermill", {})
        if meta.get("exception") or meta.get("status") in ("failed", "running"):
            if "ERROR_MARKER" in str(cell.get("metadata", {}).get("tags", [])):
                continue
            found = index
            break
    if found is None:  # a timeout: papermill marks every cell completed; the last one started stopped it
        started = [i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("papermill", {}).get("start_time")]
        never = [
            i
            for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and not c.get("metadata", {}).get("papermill", {}).get("start_time")
        ]
        if started and never and never[-1] > started[-1]:
            found = started[-1]
    if found is not None:
        cell = nb.cells[found]
        info.setdefault("index", found)
        info.setdefault("execution_count", cell.get("execution_count"))
        info.setdefault("source", cell.source)
    return info or None


def _short_error(exc: BaseException) -> str:
    if getattr(exc, "ename", None):
        return f"{exc.ename}: {exc.evalue}"
    name = type(exc).__name__
    text = str(exc).strip().splitlines()
    return f"{name}: {text[-1] if text else ''}".strip().rstrip(":")

#: names the runner and the batch index use themselves: ``latest`` (link to the newest good run),
#: ``index.html`` and ``index.json`` (a batch's index); ``<name>.failed`` is refused too
RESERVED_NAMES = ("latest", "index.html", "index.json")

_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

#: longest per-cell timeout accepted (30 days)
MAX_TIMEOUT_S = 30 * 86_400

#: error numbers of a write that cannot succeed until space is freed or permissions change
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


def check_name(name, *, what: str = "run id", area: bool = False) -> str:
    """Refuse a run id, batch set or report name, or area folder that could collide with another.

    A name is a plain folder name: ASCII letters, digits, ``_``, ``-`` and ``.``, starting with a
    letter or digit (so never hidden like the runner's temporary folders, never ``.`` or ``..``,
    never a path), at most :data:`MAX_NAME_CHARS` characters, not ending in ``.failed`` (the name
    of a failed run's record) and none of :data:`RESERVED_NAMES` (case-insensitive, for file
    systems that ignore case). With ``area=True`` (an area folder, beside a batch's index, not
    beside run folders) only ``index.html`` and ``index.json`` are reserved.

    Raises
    ------
    ReportError
        The message names the value and what to change.
    """
    shown = repr(name) if not isinstance(name, str) or len(name) <= 60 else repr(name[:40] + "...")
    if not isinstance(name, str):
        raise ReportError(f"{what} {shown} must be a string (a plain folder name).")
    if len(name) > MAX_NAME_CHARS:
        problem = f"is {len(name)} characters long: at most {MAX_NAME_CHARS} are allowed"
    elif not _PLAIN_NAME.fullmatch(name):
        problem = (
            "is not a plain folder name: use ASCII letters, digits, '_', '-' and '.', starting with a letter or digit"
        )
    elif not area and name.lower().endswith(".failed"):
        problem = "ends in '.failed', the name the runner gives the record of a failed run"
    elif name.lower() in (RESERVED_NAMES[1:] if area else RESERVED_NAMES):
        problem = f"is a name the runner uses itself ({', '.join(RESERVED_NAMES)})"
    else:
        return name
    raise ReportError(f"{what} {shown} {problem}; choose another name.")


def check_timeout(timeout, *, what: str = "timeout") -> float | None:
    """``None``, or a finite positive number of seconds (at most :data:`MAX_TIMEOUT_S`).

    Raises
    ------
    InvalidOptionError
        Anything else (``inf``, ``nan``, ``0``, negative, a string, a bool).
    """
    import numbers

    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise InvalidOptionError(f"{what} must be a finite positive number of seconds, got {timeout!r}.")
    value = float(timeout)
    if not math.isfinite(value) or value <= 0 or value > MAX_TIMEOUT_S:
        raise InvalidOptionError(
            f"{what} must be a finite positive number of seconds (at most {MAX_TIMEOUT_S:,}), got {timeout!r}; "
            "leave it out for no limit."
        )
    return value


def prepare_out_dir(out_dir, *, what: str = "out_dir") -> Path:
    """The reports folder, absolute; created when missing, but only when its parent folder exists.

    A missing parent usually means a typo (``/srv/urbankti/reports``): rather than building a tree
    in an unexpected place, the error names the missing folder.

    Raises
    ------
    InvalidOptionError
        ``out_dir`` or one of its parents is a file, its parent folder is missing, or it cannot be
        created or written.
    """
    if not isinstance(out_dir, (str, os.PathLike)) or not str(out_dir).strip():
        raise InvalidOptionError(f"{what} must be a folder path, got {out_dir!r}.")
    path = Path(os.path.abspath(Path(out_dir).expanduser()))
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = "is a file" if existing == path else f"is under {str(existing)!r}, which is a file"
        raise InvalidOptionError(f"{what} {str(out_dir)!r} {where}, not a folder; give a folder for the reports.")
    if existing != path:
        if existing != path.parent:
            raise InvalidOptionError(
                f"{what} {str(out_dir)!r}: its parent folder {str(path.parent)!r} does not exist; check the path, or "
                f"create it first (mkdir -p {path.parent}). Only the reports folder itself is created."
            )
        try:
            path.mkdir()
        except FileExistsError:
            if not path.is_dir():
                raise InvalidOptionError(f"{what} {str(out_dir)!r} exists and is not a folder.") from None
        except OSError as exc:
            raise InvalidOptionError(f"{what} {str(out_dir)!r} cannot be created: {exc.strerror or exc}.") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise InvalidOptionError(f"{what} {str(out_dir)!r} is not writable; choose a folder you can write to.")
    return path.resolve()


def _check_inputs_outside(params: dict, folders: tuple[Path, ...]) -> None:
    """Refuse input files inside the folders a run replaces (they would be deleted with the old run)."""
    inside = []
    for key, value in _string_values(params).items():
        path = _input_path(value) if key.split("[")[0] != "output_dir" else None
        if path is None:
            continue
        real = path.resolve()
        if any(real == f.resolve() or f.resolve() in real.parents for f in folders):
            inside.append(f"{key}={value!r}")
    if inside:
        raise ReportError(
            f"input file(s) {', '.join(inside)} lie inside {folders[0]} (or its .failed record), which this run "
            "replaces; move them elsewhere or choose another run id."
        )


def _write_text(path: Path, text: str) -> None:
    """Write a file of the runner (HTML, ``run.json``, markers, index); one place to fail on a full disk."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _is_write_error(exc: BaseException) -> bool:
    """An OSError of the file system (disk full, quota, read-only, permissions), not of the notebook."""
    if not isinstance(exc, OSError) or isinstance(exc, ReportError):
        return False
    return getattr(exc, "errno", None) in _WRITE_ERRNOS


def _write_problem(exc: OSError) -> str:
    """``disk full (No space left on device)`` and the file, for a message."""
    what = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exhausted",
        errno.EFBIG: "a file is too large for the file system",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
    }.get(exc.errno, "a write failed")
    name = f" writing {exc.filename}" if getattr(exc, "filename", None) else ""
    return f"{what} ({exc.strerror or exc}){name}"


class _WriteGuard:
    """Around a run: a write of the runner that fails (disk full...) becomes a recorded failure.

    On such an error the temporary folder is removed first (it is what filled the disk), then a
    small ``<run id>.failed`` holding only ``run.json`` records the error, and
    :class:`ReportWriteError` is raised. On any other error the temporary folder is removed if it
    is still there. The previous good report and ``latest`` are never touched.
    """

    def __init__(self, parent: Path, run_id: str, notebook: str):
        self.parent, self.run_id, self.notebook = parent, run_id, notebook
        self.work: Path | None = None
        self.record: dict | None = None

    def __enter__(self):
        return self

    def __exit__(self, etype, exc, tb):
        if exc is None:
            return False
        if self.work is not None and self.work.exists():
            shutil.rmtree(self.work, ignore_errors=True)
        for name in (self.run_id, f"{self.run_id}.failed"):  # a replacement stopped halfway: put back
            old = self.parent / f".{name}.old"
            if old.exists() and not (self.parent / name).exists():
                with contextlib.suppress(OSError):
                    os.replace(old, self.parent / name)
        if not isinstance(exc, OSError) or isinstance(exc, ReportError):
            return False
        problem = _write_problem(exc) if exc.errno is not None else f"a write failed ({_short_error(exc)})"
        failed = self.parent / f"{self.run_id}.failed"
        record = {
            **(self.record or {"urbankit_run": RUN_RECORD_VERSION, "notebook": self.notebook, "run_id": self.run_id}),
            "status": "failed",
            "error": f"could not write the report: {problem}",
            "write_error": {"errno": exc.errno, "strerror": exc.strerror, "filename": exc.filename},
            "end": _now(),
            "outputs": {},
        }
        small = None
        try:
            small = Path(tempfile.mkdtemp(prefix=f".{self.run_id}.", suffix=".tmp", dir=self.parent))
            umask = os.umask(0)
            os.umask(umask)
            small.chmod(0o777 & ~umask)  # like a report folder: for sharing
            _write_text(small / "run.json", json.dumps(record, indent=2, default=str))
            _install(small, failed)
            recorded = f"the failure is recorded in {failed / 'run.json'}"
        except OSError as again:
            if small is not None:
                shutil.rmtree(small, ignore_errors=True)
            recorded = f"the failure could not be recorded either ({again.strerror or again})"
        raise ReportWriteError(
            f"report {self.notebook} could not be written in {self.parent}: {problem}; free space there or "
            f"choose another --out / out_dir, then run again. Any previous report is untouched, the temporary "
            f"files are removed and {recorded}."
        ) from exc


def run_report(
    notebook: str | Path,
    *,
    parameters: dict | None = None,
    out_dir: str | Path = "reports",
    run_id: str | None = None,
    area: str | None = None,
    show_code: bool = False,
    kernel_name: str | None = None,
    offline: bool = True,
    timeout: float | None = None,
    extra_record: dict | None = None,
) -> Path:
    """Execute a report notebook with papermill and write it under ``out_dir``.

    Parameters
    ----------
    notebook : str or Path
        Path, or name of a notebook in ``notebooks/``.
    parameters : dict, optional
        Values for the notebook's ``parameters`` cell; validated (names, types, input files exist)
        before anything runs. ``output_dir`` is set by the runner (the run folder).
    out_dir : str or Path, default "reports"
        Root of the reports tree.
    run_id : str, optional
        Name of the run folder (default: UTC timestamp).
    area : str, optional
        Area folder (default from the ``source`` parameter, or ``sources`` joined with ``-vs-``).
    show_code : bool, default False
        Keep code cells in the HTML.
    kernel_name : str, optional
        Jupyter kernel; default the notebook's own.
    offline : bool, default True
        Embed the maps' JavaScript and CSS in the HTML so it opens without network
        (:mod:`urbankit._offline`); ``False`` keeps nbconvert's and folium's CDN links.
    timeout : float, optional
        Seconds any one cell may run (rounded up to whole seconds); a slower cell fails the run.
    extra_record : dict, optional
        More fields for ``run.json`` (the batch runner adds its entry name).

    Returns
    -------
    pathlib.Path
        The run folder ``<out_dir>/<area>/<notebook>/<run id>`` holding ``<notebook>.ipynb``,
        ``<notebook>.html``, the data outputs and ``run.json``.

    Raises
    ------
    ReportError
        Unknown notebook, invalid parameters, missing input file, an input file inside the folder
        the run replaces, a run id or area that is not a plain folder name or collides with the
        runner's own names (:func:`check_name`), another run of the same report in progress, or a
        cell failed or timed out (the failure is kept in ``<run id>.failed`` with ``run.json``
        naming the cell). ``KeyboardInterrupt`` (and SIGTERM through the CLI) is recorded as
        ``interrupted`` and re-raised.
    InvalidOptionError
        ``timeout`` is not a finite positive number; ``out_dir`` is a file or under one, its parent
        folder is missing (only ``out_dir`` itself is created) or it is not writable.
    ReportWriteError
        A write failed (disk full, quota, read-only): the temporary folder is removed and the
        failure recorded in ``<run id>.failed/run.json`` when there is room for it. Also an
        ``OSError``.

    Notes
    -----
    The run writes into a hidden temporary folder beside its destination and is moved into place
    with one rename (an atomic exchange when a previous run of the same id exists), so a report
    folder is always complete: a failed, interrupted or killed run leaves the previous good report
    and ``latest`` untouched. Leftovers of a killed run are removed by the next run of the same
    report. Everything the caller gives (names, timeout, out_dir, parameters, inputs) is checked
    before anything is created.
    """
    import papermill as pm

    nb_path = resolve_notebook(notebook)
    given = normalise_parameters(parameters)  # plain data or refused, before anything runs
    if "output_dir" in given:
        raise ReportError(
            "parameter 'output_dir' is set by the runner (the run folder); "
            "choose the reports folder with out_dir / --out."
        )
    params = validate_parameters(nb_path, given)
    check_inputs(params)
    given = _absolute_files(given)
    params = _absolute_files(params)
    timeout = check_timeout(timeout)
    run_id = check_name(run_id or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ"))
    area = check_name(area, what="area", area=True) if area is not None else report_area(params)
    fp = fingerprint(nb_path, given, show_code=show_code, offline=offline, kernel_name=kernel_name)
    parent = prepare_out_dir(out_dir, what="out_dir / --out") / area / nb_path.stem
    final = parent / run_id
    _check_inputs_outside(params, (final, parent / f"{run_id}.failed"))
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportWriteError(f"cannot create the report folder {parent}: {_write_problem(exc)}.") from exc

    with _RunLock(parent, run_id), _WriteGuard(parent, run_id, nb_path.name) as guard:
        _clean_leftovers(parent, run_id)
        work = guard.work = Path(tempfile.mkdtemp(prefix=f".{run_id}.", suffix=".tmp", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        work.chmod(0o777 & ~umask)  # mkdtemp makes it private; a report folder is for sharing
        marker = {"run_id": run_id, "pid": os.getpid(), "host": _host(), "start": _now()}
        _write_text(work / _MARKER, json.dumps(marker))
        record = guard.record = {
            "urbankit_run": RUN_RECORD_VERSION,
            "notebook": nb_path.stem,
            "notebook_path": str(nb_path),
            "area": area,
            "run_id": run_id,
            "parameters": params,
            "parameters_given": given,
            **fp,
            "versions": _versions(),
            "host": _host(),
            "pid": os.getpid(),
            "start": _now(),
            "status": "running",
            "timeout_s": timeout,
            **(extra_record or {}),
        }
        run_params = {**given}
        if "output_dir" in params:
            run_params["output_dir"] = str(work)
        logger.info("running %s with %s into %s", nb_path.name, run_params, final)
        t0 = time.perf_counter()
        executed = work / f"{nb_path.stem}.ipynb"
        saved_env = os.environ.get("URBANKIT_PROGRESS")
        os.environ["URBANKIT_PROGRESS"] = "0"  # inherited by the kernel: no progress bars in reports
        try:
            with _parameterized_input(nb_path, run_params) as source_nb:  # not papermill's translator: it writes code
                pm.execute_notebook(
                    _literal_path(source_nb),
                    _literal_path(executed),
                    parameters=None,
                    cwd=str(work),
                    kernel_name=kernel_name,
                    progress_bar=False,
                    log_output=False,
                    execution_timeout=None if timeout is None else max(1, int(-(-timeout // 1))),  # whole seconds
                )
            html, offline_record = export_html(executed, show_code=show_code, offline=offline)
            _write_text(work / f"{nb_path.stem}.html", html)
        except BaseException as exc:
            if _is_write_error(exc):
                raise  # disk full or similar: the guard drops the partial run and records the failure
            interrupted = isinstance(exc, (KeyboardInterrupt, SystemExit))
            cell = _failing_cell(executed, exc)
            timed_out = type(exc).__name__ == "CellTimeoutError" or "timed out" in str(exc).lower()
            record.update(
                status="interrupted" if interrupted else "failed",
                error=("interrupted (KeyboardInterrupt or SIGTERM)" if interrupted else _short_error(exc))[:4000],
                end=_now(),
                seconds=round(time.perf_counter() - t0, 2),
            )
            if timed_out:
                record["error"] = f"timeout: a cell ran longer than {timeout:g} s" if timeout else record["error"]
            if cell:
                record["failed_cell"] = cell
            if not interrupted and executed.exists():
                try:  # the failed notebook as HTML too, to read the error where it happened
                    html, _ = export_html(executed, show_code=True, offline=offline)
                    _write_text(work / f"{nb_path.stem}.html", html)
                except Exception as html_exc:  # noqa: BLE001
                    logger.debug("no HTML of the failed run: %s", html_exc)
            record["outputs"] = _outputs(work)
            _write_text(work / "run.json", json.dumps(record, indent=2, default=str))
            (work / _MARKER).unlink(missing_ok=True)
            failed = parent / f"{run_id}.failed"
            _install(work, failed)
            if interrupted:
                raise
            where = ""
            if cell and cell.get("execution_count") is not None:
                where = f" in cell {cell['execution_count']}"
            elif cell and cell.get("index") is not None:
                where = f" in cell #{cell['index']}"
            raise ReportError(
                f"report {nb_path.name} failed{where}: {record['error']}; the executed notebook and "
                f"run.json are kept in {failed}"
            ) from exc
        finally:
            if saved_env is None:
                os.environ.pop("URBANKIT_PROGRESS", None)
            else:
                os.environ["URBANKIT_PROGRESS"] = saved_env
        record.update(status="ok", end=_now(), seconds=round(time.perf_counter() - t0, 2), outputs=_outputs(work))
        if offline_record is not None:
            record["offline_assets"] = offline_record
        (work / _MARKER).unlink(missing_ok=True)
        _write_text(work / "run.json", json.dumps(record, indent=2, default=str))
        _install(work, final)
        _point_latest(parent, run_id)
    return final


def read_run(folder: str | Path) -> dict | None:
    """The ``run.json`` of a run folder, or ``None`` when absent or unreadable."""
    try:
        return json.loads((Path(folder) / "run.json").read_text())
    except (OSError, ValueError):
        return None


def _outputs(folder: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name not in ("run.json", _MARKER) and not path.name.startswith("."):
            out[path.name] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
    return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _host() -> str:
    import socket

    return socket.gethostname()


class _RunLock:
    """An exclusive lock on one report run id (``.<run id>.lock`` beside it), held for the whole run.

    A second run of the same report fails at once instead of racing; the lock dies with its process,
    so a killed run never blocks the next one.
    """

    def __init__(self, parent: Path, run_id: str):
        self.path = parent / f".{run_id}.lock"
        self.fd: int | None = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no locking
            return self
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise ReportWriteError(
                f"cannot create the lock file {self.path}: {_write_problem(exc)}; free space or fix the permissions "
                "of the reports folder."
            ) from exc
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            self.fd = None
            raise ReportError(
                f"another run of {self.path.parent.name} / {self.path.name[1:-5]} is in progress "
                f"(lock {self.path}); wait for it or use another run id."
            ) from None
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            try:  # no empty lock file per run left behind (timestamped run ids would pile them up)
                self.path.unlink(missing_ok=True)
            except OSError:
                pass
            os.close(self.fd)  # releases the lock
        return False


def _clean_leftovers(parent: Path, run_id: str) -> None:
    """Remove what killed runs left beside their destination (called holding the run's lock).

    Temporary folders of this run id are removed (no other run of it can be going on); those of
    other run ids only when the process that wrote them is gone. A previous report left aside by an
    interrupted non-atomic replacement (``.<run id>.old``) is put back when its successor is missing.
    """
    for tmp in parent.glob(".*.tmp"):
        if not tmp.is_dir():
            continue
        try:
            marker = json.loads((tmp / _MARKER).read_text())
        except (OSError, ValueError):
            marker = None
        if marker is None:  # the name of this run id's folders, not of another id that starts alike
            mine = re.fullmatch(rf"\.{re.escape(run_id)}\.[^.]+\.tmp", tmp.name) is not None
            stale = time.time() - tmp.stat().st_mtime > 86_400 or mine
        elif marker.get("run_id") == run_id:
            stale = True
        else:
            stale = marker.get("host") == _host() and not pid_alive(int(marker.get("pid", 0)))
        if stale:
            logger.info("removing %s, left by an interrupted run", tmp)
            shutil.rmtree(tmp, ignore_errors=True)
    for name in (run_id, f"{run_id}.failed"):
        old = parent / f".{name}.old"
        if old.exists():
            if not (parent / name).exists():
                os.replace(old, parent / name)
            else:
                shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    import sys

    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    logger.debug("renameat2 exchange unavailable: %s", os.strerror(ctypes.get_errno()))
    return False


def _install(work: Path, final: Path) -> None:
    """Put the finished folder ``work`` at ``final`` so that ``final`` is always a complete run."""
    if not final.exists():
        try:
            os.rename(work, final)
            return
        except OSError:
            if not final.exists():
                raise
    if _exchange(work, final):
        shutil.rmtree(work, ignore_errors=True)  # work now holds the previous run
        return
    old = final.with_name(f".{final.name}.old")  # put back by _clean_leftovers if we die in between
    shutil.rmtree(old, ignore_errors=True)
    os.replace(final, old)
    os.replace(work, final)
    shutil.rmtree(old, ignore_errors=True)


def _point_latest(parent: Path, run_id: str) -> None:
    link = parent / "latest"
    tmp = parent / f".latest.{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(run_id)
        os.replace(tmp, link)
    except OSError as exc:  # file systems without symlinks
        logger.debug("could not point %s at %s: %s", link, run_id, exc)
