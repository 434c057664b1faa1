"""Scheduled batches: many reports (areas x notebooks x parameter sets) on dask.distributed.

``urbankit batch CONFIG.toml`` (or :func:`run_batch`) reads a TOML file, validates every report's
parameters and hashes its inputs before anything runs, skips the reports whose last good run has the
same content hash (notebook, parameters, input files, urbankit's code: see
:func:`urbankit.reports.fingerprint`), runs the others in parallel with
:func:`urbankit.reports.run_report` on dask.distributed workers (a ``LocalCluster`` of worker
processes by default, or an existing cluster with ``scheduler=``), and writes ``index.html`` (and
``index.json``) listing every report with its status, parameters, links and failure. One failing
report does not stop the others.

The configuration::

    out = "reports"            # reports folder, relative to this file (the CLI's --out wins)
    workers = 2                # LocalCluster worker processes (one thread each)
    timeout = 1800             # seconds any one cell may run
    offline = true             # self-contained HTML (embedded map assets)

    [defaults]                 # parameters for every report whose notebook declares them
    tiles = "None"             # TOML has no null: the string "None" stands for None (no tiles)

    [areas.monaco]             # one table per area: its parameters; source defaults to the name
    [areas.helsinki]
    population = "helsinki_population"   # a data set name, or a file relative to this file

    [notebooks.overview]       # every area, the notebook's defaults
    [notebooks.accessibility]
    areas = ["monaco", "helsinki"]          # optional: a subset of the areas
    [notebooks.accessibility.sets.walk]     # named parameter sets: one report per area and set
    mode = "walk"
    [notebooks.accessibility.sets.bike]
    mode = "bike"
    minutes = [10, 20]

    [[report]]                 # single reports beside the product
    notebook = "compare"
    name = "15min"             # run folder name (default "default")
    parameters = { sources = ["monaco", "helsinki"], minutes = 15 }

A report of the product is written to ``<out>/<area>/<notebook>/<set>/`` (``default`` without
sets); a ``[[report]]`` to ``<out>/<area>/<notebook>/<name>/`` with the area from its ``area`` key
or its parameters. Area and default parameters go only to notebooks that declare them; a key no
notebook of the batch declares is an error (a typo would otherwise be ignored). Area, set and
report names are plain folder names of at most 100 characters that cannot take the runner's own
names (``latest``, ``<name>.failed``, ``index.html``...: :func:`urbankit.reports.check_name`);
``workers`` (1 to 256), ``timeout`` (finite, positive seconds), ``offline``/``show_code`` (booleans)
and ``out`` are checked before anything runs. The content hash includes ``show_code`` and
``offline``, and every file of every input (a shapefile's ``.dbf``..., a GeoPackage's ``-wal``).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._errors import InvalidOptionError, ReportError, ReportWriteError, SchedulerError, UrbankitError
from .._progress import progress_bar

logger = logging.getLogger(__name__)


_TOP_KEYS = {"out", "workers", "timeout", "offline", "show_code", "defaults", "areas", "notebooks", "report", "title"}

#: statuses of a batch entry
OK, UNCHANGED, FAILED, UNCHANGED_FAILED, INVALID = "ok", "unchanged", "failed", "failed-unchanged", "invalid"


@dataclass
class Entry:
    """One report of a batch, and what became of it."""

    notebook: str
    area: str
    name: str
    parameters: dict
    notebook_path: str = ""
    content_sha256: str | None = None
    status: str = "pending"
    error: str | None = None
    failed_cell: dict | None = None
    seconds: float | None = None
    folder: str | None = None  # the good run folder, when there is one
    failed_folder: str | None = None
    start: str | None = None
    end: str | None = None
    outputs: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.area}/{Path(self.notebook).stem}/{self.name}"


@dataclass
class BatchResult:
    """What :func:`run_batch` did: one :class:`Entry` per report, the index page, timings."""

    entries: list[Entry]
    index: Path
    seconds: float
    dashboard: str | None = None

    @property
    def ok(self) -> bool:
        """No report failed or was invalid."""
        return all(e.status in (OK, UNCHANGED) for e in self.entries)

    @property
    def computed(self) -> list[Entry]:
        """The reports this batch ran (successfully or not)."""
        return [e for e in self.entries if e.status in (OK, FAILED)]

    def by_key(self) -> dict[str, Entry]:
        return {e.key: e for e in self.entries}

    def summary(self) -> str:
        count = {
            s: sum(e.status == s for e in self.entries) for s in (OK, UNCHANGED, FAILED, UNCHANGED_FAILED, INVALID)
        }
        head = (
            f"{len(self.entries)} reports in {self.seconds:.1f} s: {count[OK]} ran ok, "
            f"{count[UNCHANGED]} unchanged (skipped), "
            f"{count[FAILED]} failed, {count[UNCHANGED_FAILED]} failed before with the same inputs (skipped), "
            f"{count[INVALID]} invalid"
        )
        lines = [head]
        for e in self.entries:
            if e.status in (FAILED, UNCHANGED_FAILED, INVALID):
                lines.append(f"  {e.status}: {e.key}: {e.error}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- configuration

#: most LocalCluster worker processes a batch may start (each one is a Python process and a kernel)
MAX_WORKERS = 256

#: seconds to wait for an existing dask scheduler (``--scheduler``) before giving up
CONNECT_TIMEOUT_S = 10.0


def _check_name(name, what: str, *, area: bool = False) -> str:
    """A set, report or area name as :func:`urbankit.reports.check_name` wants it (its error prefixed)."""
    from ..reporting.runner import check_name

    try:
        return check_name(name, what=what, area=area)
    except ReportError as exc:
        raise ReportError(str(exc)) from None


def check_workers(workers, *, what: str = "workers") -> int:
    """A positive whole number of worker processes, at most :data:`MAX_WORKERS`.

    Raises
    ------
    InvalidOptionError
        Zero, negative, fractional, a bool or a string (a LocalCluster of no worker waits forever).
    """
    import numbers

    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or not 1 <= workers <= MAX_WORKERS:
        raise InvalidOptionError(
            f"{what} must be a whole number of worker processes from 1 to {MAX_WORKERS}, got {workers!r}."
        )
    return int(workers)


def _check_options(options: dict, path: Path) -> dict:
    """The top-level options of a batch file, each of the right type (the message names the key)."""
    from ..reporting.runner import check_timeout

    where = f"{path.name}:"
    if "workers" in options:
        check_workers(options["workers"], what=f"{where} workers")
    if "timeout" in options:
        options["timeout"] = check_timeout(options["timeout"], what=f"{where} timeout")
    for key in ("offline", "show_code"):
        if key in options and not isinstance(options[key], bool):
            raise InvalidOptionError(f"{where} {key} must be true or false, got {options[key]!r}.")
    for key in ("out", "title"):
        if key in options and (not isinstance(options[key], str) or not options[key].strip()):
            raise InvalidOptionError(f"{where} {key} must be a non-empty string, got {options[key]!r}.")
    return options


def check_scheduler(address, *, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> str:
    """Check that ``address`` is a dask scheduler address, and that it answers.

    A ``tcp://`` or ``tls://`` address must name a host and a port from 1 to 65535; a TCP
    connection to it is tried with a ``connect_timeout_s`` timeout (a closed port fails at once).

    Raises
    ------
    InvalidOptionError
        The address is malformed or of an unknown protocol.
    SchedulerError
        Nothing answers at the address.
    """
    import socket

    from distributed.comm import registry
    from distributed.comm.addressing import parse_address, parse_host_port

    shown = repr(address)
    hint = "give the address the scheduler prints, e.g. tcp://host:8786"
    if not isinstance(address, str) or not address.strip() or any(c.isspace() for c in address):
        raise InvalidOptionError(f"--scheduler {shown} is not a dask scheduler address; {hint}.")
    try:
        scheme, location = parse_address(address, strict=False)
    except ValueError as exc:
        raise InvalidOptionError(f"--scheduler {shown} is not a dask scheduler address ({exc}); {hint}.") from None
    if scheme not in registry.backends:
        raise InvalidOptionError(
            f"--scheduler {shown}: unknown protocol {scheme!r} (known: {', '.join(sorted(registry.backends))}); {hint}."
        )
    if scheme not in ("tcp", "tls", "ws", "wss"):
        return address
    try:
        host, port = parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise InvalidOptionError(f"--scheduler {shown} has no valid host and port ({exc}); {hint}.") from None
    if not host or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidOptionError(f"--scheduler {shown} needs a host and a port from 1 to 65535; {hint}.")
    try:
        with socket.create_connection((host, port), timeout=connect_timeout_s):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise SchedulerError(
            f"--scheduler {shown}: no dask scheduler answers at {host}:{port} ({reason}); start it "
            "(dask scheduler) or check the address, or leave --scheduler out for a local cluster."
        ) from None
    return address


def _resolve_files(value, base: Path):
    """A parameter value of the config: ``"None"`` is None (TOML has no null), relative file paths
    are resolved against the config's folder."""
    from ..reporting.inputs import _looks_like_file

    if isinstance(value, list):
        return [_resolve_files(v, base) for v in value]
    if isinstance(value, dict):
        # keys too: a dict keyed by file (compare's populations) must name the files as its values do
        return {(k if k == "None" else _resolve_files(k, base)): _resolve_files(v, base) for k, v in value.items()}
    if value == "None":
        return None
    if isinstance(value, str) and _looks_like_file(value) and not Path(value).expanduser().is_absolute():
        return str((base / value).resolve())
    return value


def _notebook_ref(value: str, base: Path) -> str:
    if value.endswith(".ipynb") or "/" in value:
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else (base / path).resolve())
    return value


def load_config(path: str | Path) -> tuple[dict, list[Entry]]:
    """Read a batch file: its options and its reports (not yet validated against the notebooks).

    Raises
    ------
    ReportError
        The file is missing, not TOML, or its layout is wrong (the message names the key).
    """
    import tomllib

    from ..reporting.inputs import report_area
    from ..reporting.parameters import normalise_parameters, notebook_parameters, resolve_notebook

    path = Path(path)
    if not path.is_file():
        raise ReportError(f"batch file {str(path)!r} does not exist.")
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"batch file {str(path)!r} is not valid TOML: {exc}") from exc
    base = path.resolve().parent
    unknown = set(config) - _TOP_KEYS
    if unknown:
        raise ReportError(f"{path.name}: unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}.")

    def table(value, where: str) -> dict:
        if not isinstance(value, dict):
            raise ReportError(f"{path.name}: {where} must be a table, got {type(value).__name__}.")
        return value

    keys = ("out", "workers", "timeout", "offline", "show_code", "title")
    options = _check_options({k: config[k] for k in keys if k in config}, path)
    if "out" in options:
        options["out"] = str((base / Path(options["out"]).expanduser()).resolve())

    def parameters(value, where: str) -> dict:
        """A table of parameters: plain data only (else the error names the table and parameter: TOML
        dates, NaN, infinity are refused), ``"None"`` as None, files resolved against the config."""
        values = normalise_parameters(table(value, where), where=f"{path.name}: {where}: ")
        return {k: _resolve_files(v, base) for k, v in values.items()}

    defaults = parameters(config.get("defaults", {}), "[defaults]")
    areas: dict[str, dict] = {}
    for name, params in table(config.get("areas", {}), "[areas]").items():
        _check_name(name, f"{path.name}: [areas] area name", area=True)
        params = parameters(params, f"[areas.{name}]")
        params.setdefault("source", name)
        areas[name] = params

    entries: list[Entry] = []
    used: set[str] = set()  # parameter names some notebook of the product declares
    area_keys = {k for p in areas.values() for k in p} | set(defaults)
    for nb_name, spec in table(config.get("notebooks", {}), "[notebooks]").items():
        spec = table(spec, f"[notebooks.{nb_name}]")
        extra = set(spec) - {"areas", "sets", "notebook"}
        if extra:
            raise ReportError(
                f"{path.name}: [notebooks.{nb_name}] has unknown key(s) {sorted(extra)}; "
                "allowed: areas, sets, notebook."
            )
        nb_ref = _notebook_ref(spec.get("notebook", nb_name), base)
        try:
            declared = notebook_parameters(resolve_notebook(nb_ref))
        except ReportError as exc:
            raise ReportError(f"{path.name}: [notebooks.{nb_name}]: {exc}") from exc
        used |= set(declared) & area_keys
        wanted = spec.get("areas", list(areas))
        missing = [a for a in wanted if a not in areas]
        if missing:
            raise ReportError(
                f"{path.name}: [notebooks.{nb_name}] names unknown area(s) {missing}; define them under [areas]."
            )
        sets = table(spec.get("sets", {"default": {}}), f"[notebooks.{nb_name}.sets]")
        for set_name, set_params in sets.items():
            _check_name(set_name, f"{path.name}: [notebooks.{nb_name}.sets] set name")
            set_params = parameters(set_params, f"[notebooks.{nb_name}.sets.{set_name}]")
            for area in wanted:
                params = {k: v for k, v in {**defaults, **areas[area]}.items() if k in declared}
                params.update(set_params)  # set parameters are checked strictly (validate_parameters)
                entries.append(Entry(notebook=nb_ref, area=area, name=set_name, parameters=params))
    unused = area_keys - used
    if unused and entries:
        raise ReportError(
            f"{path.name}: parameter(s) {sorted(unused)} of [areas]/[defaults] are declared by no notebook "
            "of the batch; check the spelling."
        )
    for i, spec in enumerate(config.get("report", [])):
        spec = table(spec, f"[[report]] #{i + 1}")
        extra = set(spec) - {"notebook", "name", "area", "parameters"}
        if extra or "notebook" not in spec:
            raise ReportError(
                f"{path.name}: [[report]] #{i + 1} needs 'notebook' and may have name, area, parameters; "
                f"got {sorted(spec)}."
            )
        nb_ref = _notebook_ref(spec["notebook"], base)
        params = parameters(spec.get("parameters", {}), f"[[report]] #{i + 1} parameters")
        try:
            declared = notebook_parameters(resolve_notebook(nb_ref))
        except ReportError as exc:
            raise ReportError(f"{path.name}: [[report]] #{i + 1}: {exc}") from exc
        params = {**{k: v for k, v in defaults.items() if k in declared}, **params}
        name = spec.get("name", "default")
        area = spec.get("area") or report_area({**declared, **params})
        _check_name(name, f"{path.name}: [[report]] #{i + 1} name")
        _check_name(area, f"{path.name}: [[report]] #{i + 1} area", area=True)
        entries.append(Entry(notebook=nb_ref, area=area, name=name, parameters=params))
    keys = [e.key for e in entries]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ReportError(
            f"{path.name}: several reports would write the same folder: {dupes}; give them different names."
        )
    if not entries:
        raise ReportError(
            f"{path.name}: no reports: add [notebooks.NAME] tables (with [areas.NAME]) or [[report]] entries."
        )
    return options, entries


# --------------------------------------------------------------------------- planning


def _plan(
    entries: list[Entry], out_dir: Path, *, force: bool, retry_failed: bool, options: dict | None = None
) -> list[Entry]:
    """Validate, hash and decide: the entries to run (others get their final status here).

    The content hash covers the render options (``show_code``, ``offline``); a failed report is
    skipped as unchanged only when it failed with the same per-cell ``timeout`` too.
    """
    options = options or {}
    from ..reporting.inputs import check_inputs, fingerprint
    from ..reporting.parameters import resolve_notebook, validate_parameters
    from ..reporting.runner import read_run

    todo = []
    for e in entries:
        try:
            nb = resolve_notebook(e.notebook)
            e.notebook_path = str(nb)
            check_inputs(validate_parameters(nb, e.parameters))
            e.content_sha256 = fingerprint(
                nb, e.parameters, show_code=options.get("show_code", False), offline=options.get("offline", True)
            )["content_sha256"]
        except UrbankitError as exc:
            e.status, e.error = INVALID, str(exc)
            continue
        folder = out_dir / e.area / nb.stem / e.name
        good = read_run(folder)
        if good and good.get("status") == "ok":
            e.folder = str(folder)
        failed = read_run(folder.with_name(f"{e.name}.failed"))
        if failed:
            e.failed_folder = str(folder.with_name(f"{e.name}.failed"))
        if force:
            todo.append(e)
        elif (
            good
            and good.get("status") == "ok"
            and good.get("content_sha256") == e.content_sha256
            and all((folder / name).is_file() for name in good.get("outputs", {}))  # nothing deleted since
        ):
            e.status, e.seconds = UNCHANGED, good.get("seconds")
            e.start, e.end = good.get("start"), good.get("end")
            e.outputs = sorted(good.get("outputs", {}))
            e.note = "skipped: inputs unchanged"
        elif (
            failed
            and failed.get("status") == "failed"
            and failed.get("content_sha256") == e.content_sha256
            and failed.get("timeout_s") == options.get("timeout")  # a longer timeout may let it finish
            and not retry_failed
            and (not good or str(failed.get("end", "")) > str(good.get("end", "")))
        ):
            e.status, e.error, e.failed_cell = UNCHANGED_FAILED, failed.get("error"), failed.get("failed_cell")
            e.start, e.end, e.seconds = failed.get("start"), failed.get("end"), failed.get("seconds")
            e.note = "skipped: failed before with the same inputs (--retry-failed)"
        else:
            todo.append(e)
    return todo


def _run_one(entry: dict, out_dir: str, options: dict) -> dict:
    """Run one report on a worker; never raises (the failure is the result)."""
    from ..reporting.runner import read_run, run_report

    t0 = time.perf_counter()
    started = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    try:
        folder = run_report(
            entry["notebook_path"],
            parameters=entry["parameters"],
            out_dir=out_dir,
            run_id=entry["name"],
            area=entry["area"],
            offline=options.get("offline", True),
            show_code=options.get("show_code", False),
            timeout=options.get("timeout"),
            extra_record={"batch": {"name": entry["name"], "key": entry["key"]}},
        )
        record = read_run(folder) or {}
        return {
            "status": OK,
            "folder": str(folder),
            "seconds": record.get("seconds"),
            "start": record.get("start"),
            "end": record.get("end"),
            "outputs": sorted(record.get("outputs", {})),
            "host": record.get("host"),
        }
    except Exception as exc:  # noqa: BLE001 - one failing report must not stop the others
        failed = Path(out_dir) / entry["area"] / Path(entry["notebook_path"]).stem / f"{entry['name']}.failed"
        record = read_run(failed) or {}
        if str(record.get("start", "")) < started:  # an older failure: this one stopped before running
            record = {}
        return {
            "status": FAILED,
            "error": record.get("error") or f"{type(exc).__name__}: {exc}",
            "failed_cell": record.get("failed_cell"),
            "failed_folder": str(failed) if record else None,
            "seconds": record.get("seconds", round(time.perf_counter() - t0, 2)),
            "start": record.get("start"),
            "end": record.get("end"),
        }


def _apply(e: Entry, result: dict) -> None:
    e.status = result["status"]
    for k in ("error", "failed_cell", "seconds", "start", "end", "failed_folder"):
        if result.get(k) is not None:
            setattr(e, k, result[k])
    if result["status"] == OK:
        e.folder, e.error, e.failed_cell = result["folder"], None, None
        e.outputs = result.get("outputs", [])
        e.note = f"computed on {result.get('host') or 'a worker'}"


# --------------------------------------------------------------------------- running


def run_batch(
    config: str | Path,
    *,
    scheduler: str | None = None,
    client=None,
    out_dir: str | Path | None = None,
    workers: int | None = None,
    timeout: float | None = None,
    force: bool = False,
    retry_failed: bool = False,
    dashboard: str | None = ":8787",
    progress: bool = True,
) -> BatchResult:
    """Run the reports of a batch file on dask.distributed and write ``index.html``.

    Parameters
    ----------
    config : str or Path
        The batch TOML file (layout in this module's documentation).
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``); its workers need urbankit and
        the same view of ``out_dir`` and of the input files. Checked before anything runs: a
        malformed address, or one where nothing answers within :data:`CONNECT_TIMEOUT_S`, is an
        error. Default: a ``LocalCluster`` of ``workers`` processes with one thread each, closed at
        the end.
    client : distributed.Client, optional
        Use this client instead (tests, notebooks).
    out_dir : str or Path, optional
        Reports folder; default the file's ``out``, else ``reports``. Created when missing, but
        only when its parent folder exists.
    workers : int, optional
        LocalCluster size, 1 to :data:`MAX_WORKERS`; default the file's ``workers``, else 2.
    timeout : float, optional
        Seconds any one cell may run (finite, positive); default the file's ``timeout``, else
        none. A report that failed is skipped as unchanged only with the same timeout.
    force : bool, default False
        Recompute reports whose inputs did not change too.
    retry_failed : bool, default False
        Run again reports that failed with the same inputs and parameters.
    dashboard : str or None, default ":8787"
        Dashboard address of the LocalCluster (its link is printed); ``None`` for none.
    progress : bool, default True
        Show a tqdm progress bar in the terminal.

    Returns
    -------
    BatchResult
        One entry per report with its status: ``ok`` (computed now), ``unchanged`` (skipped: a
        good run with the same content hash exists), ``failed``, ``failed-unchanged`` (skipped:
        failed before with the same content hash) or ``invalid`` (parameters or inputs wrong; not
        run).

    Raises
    ------
    ReportError
        The batch file is missing, not TOML, or its layout or a name in it is wrong.
    InvalidOptionError
        ``workers``, ``timeout``, ``out`` (argument or file) or the scheduler address is invalid;
        nothing is written then.
    SchedulerError
        Nothing answers at ``scheduler`` (also a ``ConnectionError``).
    ReportWriteError
        ``index.html`` / ``index.json`` cannot be written (disk full...): the previous index stays.
    """
    from ..reporting.runner import check_timeout, prepare_out_dir

    t0 = time.perf_counter()
    # every option is checked before anything is written or started
    workers = check_workers(workers, what="--workers") if workers is not None else None
    timeout = check_timeout(timeout, what="--timeout")
    if scheduler is not None and client is None:
        scheduler = check_scheduler(scheduler)
    options, entries = load_config(config)
    if out_dir is not None:
        out = prepare_out_dir(out_dir, what="--out")
    else:
        what = f"{Path(config).name}: out" if "out" in options else "out"
        out = prepare_out_dir(options.get("out") or "reports", what=what)
    timeout = timeout if timeout is not None else options.get("timeout")
    run_options = {
        "offline": options.get("offline", True),
        "show_code": options.get("show_code", False),
        "timeout": timeout,
    }
    todo = _plan(entries, out, force=force, retry_failed=retry_failed, options=run_options)
    title = options.get("title") or f"urbankit reports: {Path(config).name}"
    write_index(out, entries, title=title, config=Path(config))
    link = None
    if todo:
        try:
            link = _compute(
                todo,
                entries,
                out,
                run_options,
                scheduler=scheduler,
                client=client,
                workers=workers or options.get("workers") or 2,
                dashboard=dashboard,
                progress=progress,
                title=title,
                config=Path(config),
            )
        except SchedulerError as exc:
            for e in todo:
                if e.status == "pending":
                    e.status, e.error = FAILED, f"not run: {exc}"
            write_index(out, entries, title=title, config=Path(config))
            raise
    index = write_index(out, entries, title=title, config=Path(config))
    return BatchResult(entries=entries, index=index, seconds=time.perf_counter() - t0, dashboard=link)


def _compute(
    todo, entries, out, run_options, *, scheduler, client, workers, dashboard, progress, title, config
) -> str | None:
    from distributed import Client, LocalCluster, as_completed

    if logging.getLogger().getEffectiveLevel() > logging.INFO:  # distributed logs every step at INFO
        for name in (
            "distributed",
            "distributed.scheduler",
            "distributed.nanny",
            "distributed.core",
            "distributed.worker",
        ):
            logging.getLogger(name).setLevel(logging.WARNING)
    cluster = own_client = None
    try:
        if client is None:
            if scheduler:
                try:
                    client = own_client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
                except (OSError, TimeoutError, ValueError) as exc:
                    raise SchedulerError(
                        f"--scheduler {scheduler!r}: cannot connect to a dask scheduler there ({exc}); check the "
                        "address and that the scheduler runs, or leave --scheduler out for a local cluster."
                    ) from None
            else:
                try:
                    import bokeh  # noqa: F401 - the dashboard needs it
                except ImportError:
                    dashboard = None
                cluster = LocalCluster(
                    n_workers=int(workers),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=dashboard,
                )
                client = own_client = Client(cluster)
        link = None
        if cluster is None or dashboard:
            try:
                link = client.dashboard_link
            except Exception:  # noqa: BLE001 - no dashboard
                link = None
        if progress:
            print(
                f"urbankit batch: {len(todo)} of {len(entries)} reports to run on {client.scheduler.address}"
                + (f"; dask dashboard: {link}" if link else ""),
                flush=True,
            )
        futures = {}
        for e in todo:
            payload = {
                "notebook_path": e.notebook_path,
                "parameters": e.parameters,
                "name": e.name,
                "area": e.area,
                "key": e.key,
            }
            fut = client.submit(
                _run_one, payload, str(out), run_options, key=f"report-{e.key}-{e.content_sha256[:10]}", pure=False
            )
            futures[fut] = e
        bar = None
        if progress:
            bar = progress_bar(total=len(futures), desc="reports", unit="report")
        try:
            for fut in as_completed(futures):
                e = futures[fut]
                try:
                    result = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker died (KilledWorker) or similar
                    result = {"status": FAILED, "error": f"{type(exc).__name__}: {exc}"}
                _apply(e, result)
                try:
                    write_index(out, entries, title=title, config=config)
                except ReportWriteError as exc:  # the batch goes on; the final index write reports it
                    logger.warning("%s", exc)
                if bar is not None:
                    bar.set_postfix_str(f"{e.key}: {e.status}", refresh=False)
                    bar.update(1)
        except KeyboardInterrupt:
            for fut, e in futures.items():
                if not fut.done():
                    fut.cancel()
                    e.status, e.error = FAILED, "interrupted: the batch was stopped before this report finished"
            try:
                write_index(out, entries, title=title, config=config)
            except ReportWriteError as exc:
                logger.warning("%s", exc)
            raise
        finally:
            if bar is not None:
                bar.close()
        return link
    finally:
        if own_client is not None:
            own_client.close()
        if cluster is not None:
            cluster.close()


# --------------------------------------------------------------------------- index

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:20px;margin:0 0 4px} .meta{color:#666;margin-bottom:14px}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5;position:sticky;top:0} code,pre{font:12px/1.35 ui-monospace,Menlo,Consolas,monospace}
pre{white-space:pre-wrap;margin:4px 0;max-height:14em;overflow:auto;background:#fafafa;padding:4px}
.s{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;font-weight:600;color:#fff}
.ok,.unchanged{background:#2e7d32} .unchanged{background:#558b2f} .failed,.failed-unchanged,.invalid{background:#c62828}
.failed-unchanged{background:#ad1457} .invalid{background:#6d4c41} .pending{background:#757575}
.note{color:#666;font-size:12px} td.params code{display:block} td.st{white-space:nowrap}
"""


def _rel(path: str | Path, out: Path) -> str:
    return os.path.relpath(path, out).replace(os.sep, "/")


def _href(path: str | Path, out: Path) -> str:
    """A relative link from ``out`` to ``path``, percent-encoded and starting with ``./``: a folder
    name such as ``javascript:...`` or one holding ``#``/``?`` stays a path (never a scheme or a
    fragment). Escape it for the attribute as any other text."""
    from urllib.parse import quote

    return "./" + quote(_rel(path, out), safe="/")


def write_index(
    out: Path, entries: list[Entry], *, title: str = "urbankit reports", config: Path | None = None
) -> Path:
    """Write ``index.html`` (self-contained: no script, no external file) and ``index.json`` in ``out``."""
    esc = html.escape
    count: dict[str, int] = {}
    for e in entries:
        count[e.status] = count.get(e.status, 0) + 1
    rows = []
    for e in entries:
        nb = Path(e.notebook).stem
        links = []
        if e.folder:
            folder = Path(e.folder)
            links.append(f"<a href='{esc(_href(folder / f'{nb}.html', out))}'><b>report</b></a>")
            for name in e.outputs:
                if name.endswith((".gpkg", ".csv")):
                    links.append(f"<a href='{esc(_href(folder / name, out))}'>{esc(name)}</a>")
            links.append(f"<a href='{esc(_href(folder / 'run.json', out))}'>run.json</a>")
        if e.failed_folder and e.status in (FAILED, UNCHANGED_FAILED):
            failed = Path(e.failed_folder)
            links.append(f"<a href='{esc(_href(failed / f'{nb}.html', out))}'>failed run</a>")
            links.append(f"<a href='{esc(_href(failed / 'run.json', out))}'>failed run.json</a>")
        params = "".join(
            f"<code>{esc(k)} = {esc(json.dumps(v, default=str))}</code>" for k, v in sorted(e.parameters.items())
        )
        problem = ""
        if e.error:
            cell = ""
            if e.failed_cell:
                n = e.failed_cell.get("execution_count")
                which = n if n is not None else "#" + str(e.failed_cell.get("index"))
                cell = f"<div class='note'>in cell {esc(str(which))}</div>"
                if e.failed_cell.get("source"):
                    cell += f"<pre>{esc(e.failed_cell['source'])}</pre>"
            problem = f"<pre>{esc(e.error)}</pre>{cell}"
            if e.folder and e.status in (FAILED, UNCHANGED_FAILED):
                problem += "<div class='note'>the previous good report is kept (links)</div>"
        when = esc((e.end or "")[:19].replace("T", " "))
        secs = f"{e.seconds:.1f} s" if isinstance(e.seconds, (int, float)) else ""
        rows.append(
            f"<tr id='{esc(e.key)}'><td>{esc(e.area)}</td><td>{esc(nb)}</td><td>{esc(e.name)}</td>"
            f"<td class='st'><span class='s {esc(e.status)}'>{esc(e.status)}</span>"
            f"<div class='note'>{esc(e.note)}</div></td>"
            f"<td class='params'>{params or '<span class=note>notebook defaults</span>'}</td>"
            f"<td>{' · '.join(links)}</td><td>{problem}</td>"
            f"<td>{when}<div class='note'>{secs}</div>"
            f"<div class='note'><code>{esc((e.content_sha256 or '')[:12])}</code></div></td></tr>"
        )
    counts = ", ".join(f"{n} {s}" for s, n in sorted(count.items()))
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{esc(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{esc(title)}</h1>"
        f"<div class='meta'>{len(entries)} reports: {esc(counts)} · updated {now}"
        + (f" · from <code>{esc(str(config))}</code>" if config else "")
        + "</div><table><thead><tr><th>area</th><th>notebook</th><th>name</th><th>status</th><th>parameters</th>"
        "<th>links</th><th>failure</th><th>finished</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>\n"
    )
    index = out / "index.html"
    _replace_file(index, page)
    data = [{**asdict(e), "key": e.key} for e in entries]
    listing = {"title": title, "updated": now, "reports": data}
    _replace_file(out / "index.json", json.dumps(listing, indent=2, default=str))
    return index


def _replace_file(path: Path, text: str) -> None:
    """Write ``path`` through a temporary file and one rename; on failure the old file stays and the
    temporary one is removed.

    Raises
    ------
    ReportWriteError
        The file cannot be written (disk full, no permission...).
    """
    from ..reporting.runner import _write_problem, _write_text

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _write_text(tmp, text)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        problem = _write_problem(exc) if exc.errno is not None else str(exc)
        raise ReportWriteError(
            f"cannot write the batch index {path}: {problem}; free space there or choose another --out. "
            "The previous index and every report are untouched."
        ) from exc
