"""Reports: the area overview and the papermill runner that turns notebooks into reports.

A report run validates its parameters against the notebook's ``parameters`` cell (names, types,
input files that must exist) before anything runs, executes the notebook of ``notebooks/`` with
papermill in a temporary folder next to its destination, exports a self-contained HTML that opens
offline (code hidden by default; Leaflet and the other map assets embedded, see
:mod:`urbankit._offline`), writes ``run.json`` (parameters, input file hashes, content hash,
package versions, start and end times, status, outputs) and only then moves the folder into place:
``reports/<area>/<notebook>/<run id>/``. A failed or interrupted run is kept as
``<run id>.failed`` with the failing cell recorded, and never replaces a good report; a killed run
leaves only a hidden temporary folder, removed by the next run. ``latest`` points at the newest
good run.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path

import geopandas as gpd
import pandas as pd

from ._errors import ReportError
from ._util import pid_alive
from .ingest import OSMExtract, area_name, file_sha256, load
from .networks import MODES, StreetNetwork, build_network

logger = logging.getLogger(__name__)

#: the report notebooks: package data (in a checkout ``urbankit/notebooks`` links to ``notebooks/``)
NOTEBOOK_DIR = Path(str(resources.files("urbankit") / "notebooks")).resolve()


# --------------------------------------------------------------------------- area overview


@dataclass(repr=False)
class AreaOverview:
    """What an area holds: networks per mode, destinations by service, residents.

    Build it with :func:`area_overview`; show :meth:`table`, :meth:`services` and :meth:`map`.
    """

    extract: OSMExtract
    networks: dict[str, StreetNetwork]
    destinations: gpd.GeoDataFrame
    population: object
    taxonomy: object = None
    meta: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"AreaOverview({area_name(self.extract)!r}, modes={list(self.networks)}, destinations={len(self.destinations):,})"

    def table(self) -> pd.DataFrame:
        """One row per mode: nodes, edges, street km, share dropped outside the largest component."""
        rows = []
        for mode, net in self.networks.items():
            rows.append(
                {
                    "mode": mode,
                    "nodes": len(net.nodes),
                    "edges": len(net.edges),
                    "street_km": round(net.edges.length_m.sum() / 1000, 1),
                    "speed": net.meta.get("speed_desc", ""),
                    "dropped_node_share": round(net.meta.get("dropped_node_share", 0.0), 3),
                }
            )
        return pd.DataFrame(rows).set_index("mode")

    def services(self) -> pd.DataFrame:
        """Destinations per function and service (every taxonomy service listed, zeros included)."""
        from .destinations import destinations_summary

        return destinations_summary(self.destinations, taxonomy=self.taxonomy)

    def residents(self) -> pd.DataFrame:
        """Residents: total, source and how many nodes carry them."""
        pop = self.population
        return pd.DataFrame(
            {
                "source": [pop.source],
                "residents": [round(pop.total)],
                "populated_nodes": [int((pop.per_node > 0).sum())],
                "nodes": [len(pop.per_node)],
            }
        )

    def map(self, *, tiles: str | None = "OpenStreetMap"):
        """Folium map: networks by mode, destinations by function, residents per node."""
        from .maps import overview_map

        return overview_map(self.networks, self.destinations, self.population, tiles=tiles)

    def _repr_html_(self) -> str:
        return self.table()._repr_html_() + self.residents().to_html(index=False)

    def save(self, folder: str | Path = ".") -> Path:
        """Write ``overview.gpkg`` (edges and nodes per mode, destinations) and ``summary.csv``.

        The GeoPackage is written to a temporary name and renamed, so a failure leaves no
        half-written file. Returns the GeoPackage path.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / "overview.gpkg"
        tmp = folder / ".overview.tmp.gpkg"  # a .gpkg name: GDAL warns about other extensions
        tmp.unlink(missing_ok=True)
        for mode, net in self.networks.items():
            nodes = net.nodes.to_crs("EPSG:4326")
            if mode == next(iter(self.networks)):
                nodes = nodes.assign(population=self.population.per_node.reindex(nodes.index).to_numpy())
            nodes.reset_index().to_file(tmp, layer=f"nodes_{mode}", driver="GPKG")
            net.edges.to_crs("EPSG:4326").to_file(tmp, layer=f"edges_{mode}", driver="GPKG")
        if len(self.destinations):
            self.destinations.to_file(tmp, layer="destinations", driver="GPKG")
        os.replace(tmp, out)
        table = self.table().reset_index()
        table["residents"] = round(self.population.total)
        table["population_source"] = self.population.source
        table["destinations"] = len(self.destinations)
        table.to_csv(folder / "summary.csv", index=False)
        return out


def area_overview(
    source,
    *,
    modes: tuple[str, ...] | list[str] = MODES,
    population: str | Path | gpd.GeoDataFrame | None = None,
    population_column: str | None = None,
    taxonomy=None,
) -> AreaOverview:
    """Load an area and prepare its overview.

    Parameters
    ----------
    source
        Anything :func:`urbankit.load` accepts (embedded data set name, OSM/GraphML file, place...).
    modes : sequence of {"walk", "bike", "drive"}
        Networks to build.
    population : path or GeoDataFrame, optional
        Population grid or polygons; without it residents are estimated from buildings, else
        spread uniformly (the result says which).
    population_column : str, optional
        Column of ``population`` holding residents (detected when omitted).
    taxonomy : path, dict or Taxonomy, optional
        Destination taxonomy (the packaged one by default).
    """
    from .destinations import destinations, load_taxonomy
    from .population import population_per_node

    extract = load(source)
    tax = load_taxonomy(taxonomy) if not hasattr(taxonomy, "services") else taxonomy
    nets = {mode: build_network(extract, mode) for mode in modes}
    dest = destinations(extract, taxonomy=tax)
    first = nets[next(iter(nets))]
    pop = population_per_node(
        first.nodes,
        grid=population,
        column=population_column,
        buildings=extract.buildings if population is None and len(extract.buildings) else None,
    )
    return AreaOverview(extract=extract, networks=nets, destinations=dest, population=pop, taxonomy=tax)


# --------------------------------------------------------------------------- runner


def resolve_notebook(notebook: str | Path) -> Path:
    """A notebook path, or the name of one in ``notebooks/`` (with or without ``.ipynb``)."""
    path = Path(notebook)
    candidates = [path, NOTEBOOK_DIR / path.name, NOTEBOOK_DIR / f"{path.name}.ipynb"]
    for c in candidates:
        if c.suffix == ".ipynb" and c.is_file():
            return c.resolve()
    known = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    raise ReportError(f"notebook {str(notebook)!r} not found; give a path or one of {known}.")


def notebook_parameters(notebook: str | Path) -> dict[str, object]:
    """The names and default values of a notebook's ``parameters`` cell."""
    import nbformat

    nb = nbformat.read(resolve_notebook(notebook), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise ReportError(f"{str(notebook)!r} has no code cell tagged 'parameters'; tag one for papermill.")
    out: dict[str, object] = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name):
                try:
                    out[target.id] = ast.literal_eval(node.value)
                except ValueError as exc:
                    raise ReportError(
                        f"parameter {target.id!r} of {str(notebook)!r} is not a plain literal; "
                        "a parameters cell must hold literals only."
                    ) from exc
    return out


_ANNOTATION_TYPES = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list, tuple),
    "tuple": (list, tuple),
    "dict": (dict,),
    "None": (type(None),),
}


def notebook_parameter_types(notebook: str | Path) -> dict[str, tuple[type, ...]]:
    """Types of the annotated parameters of a notebook's ``parameters`` cell (``x: str | None = None``)."""
    import nbformat

    nb = nbformat.read(resolve_notebook(notebook), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    out: dict[str, tuple[type, ...]] = {}
    for node in ast.parse(cells[0].source).body if cells else []:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [n.strip() for n in ast.unparse(node.annotation).split("|")]
            names = [n.split("[")[0] for n in names]
            if all(n in _ANNOTATION_TYPES for n in names):
                out[node.target.id] = tuple(t for n in names for t in _ANNOTATION_TYPES[n])
    return out


def _type_ok(default, value, allowed: tuple[type, ...] | None = None) -> bool:
    if allowed is not None:
        if isinstance(value, bool) and bool not in allowed:
            return False
        return isinstance(value, allowed)
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def validate_parameters(notebook: str | Path, parameters: dict | None) -> dict:
    """Check ``parameters`` against the notebook's ``parameters`` cell; raise once for all problems."""
    declared = notebook_parameters(notebook)
    types = notebook_parameter_types(notebook)
    problems = []
    for name, value in (parameters or {}).items():
        if name not in declared:
            problems.append(f"unknown parameter {name!r} (the notebook declares {sorted(declared)})")
        elif name in types and not _type_ok(declared[name], value, types[name]):
            wanted = " or ".join(dict.fromkeys("None" if t is type(None) else t.__name__ for t in types[name]))
            problems.append(f"parameter {name!r} must be {wanted}, got {type(value).__name__} {value!r}")
        elif name not in types and not _type_ok(declared[name], value):
            problems.append(
                f"parameter {name!r} must be {type(declared[name]).__name__} like its default "
                f"{declared[name]!r}, got {type(value).__name__} {value!r}"
            )
    if problems:
        raise ReportError(f"invalid parameters for {Path(str(notebook)).name}: " + "; ".join(problems))
    return {**declared, **(parameters or {})}


#: version of the layout of ``run.json``
RUN_RECORD_VERSION = 2

#: string parameter values ending like this are files: they must exist before a run starts, and
#: their content is hashed into ``run.json`` and the report's content hash
FILE_SUFFIXES = (
    ".pbf", ".osm", ".bz2", ".gz", ".xml", ".graphml", ".gpkg", ".geojson", ".json", ".toml",
    ".csv", ".shp", ".parquet", ".tif", ".tiff", ".zip",
)

#: marker file inside a run's temporary folder: who is writing it
_MARKER = ".urbankit-run.json"


def _versions() -> dict[str, str]:
    import platform

    out = {"python": platform.python_version()}
    for pkg in (
        "urbankit", "osmnx", "pandana", "geopandas", "shapely", "pyproj", "osmium", "networkx", "h3",
        "folium", "folium-offline", "matplotlib", "papermill", "nbconvert", "numpy", "pandas",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def _string_values(params: dict) -> dict[str, str]:
    """Every string parameter value, lists and dicts flattened: ``{"source": ..., "sources[1]": ...}``."""
    out = {}
    for name, value in params.items():
        if isinstance(value, str):
            out[name] = value
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    out[f"{name}[{i}]"] = item
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str):
                    out[f"{name}[{key}]"] = item
    return out


def _looks_like_file(value: str) -> bool:
    """A path-like parameter value (not a URL such as a tile server template, not a place name)."""
    import re

    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value):
        return False
    return value.lower().endswith(FILE_SUFFIXES) or "/" in value or os.sep in value


def _input_path(value: str) -> Path | None:
    from . import datasets

    if value in datasets.available():
        try:
            return datasets.get_path(value)
        except Exception:  # noqa: BLE001 - a missing data folder fails in the notebook, with its message
            return None
    path = Path(value).expanduser()
    return path if path.is_file() else None


_SHA_CACHE: dict[tuple, str] = {}


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = file_sha256(path)
    return _SHA_CACHE[key]


def _input_hashes(params: dict) -> dict[str, str]:
    """SHA-256 of every input file a parameter names (embedded data set names included)."""
    hashes = {}
    for key, value in _string_values(params).items():
        path = _input_path(value)
        if path is not None:
            hashes[key] = _sha256(path)
    return hashes


def _absolute_files(params: dict) -> dict:
    """Relative file paths made absolute (the notebook runs in another folder)."""

    def fix(value):
        if isinstance(value, str) and _looks_like_file(value):
            path = Path(value).expanduser()
            if not path.is_absolute() and path.exists():
                return str(path.resolve())
        return value

    def fix_any(val):
        if isinstance(val, list):
            return [fix(v) for v in val]
        if isinstance(val, dict):
            return {k: fix(v) for k, v in val.items()}
        return fix(val)

    return {k: fix_any(val) for k, val in params.items()}


@functools.lru_cache(maxsize=1)
def code_sha256() -> str:
    """SHA-256 over urbankit's own source and packaged data (changes when the code does)."""
    import hashlib

    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".toml", ".json", ".csv")):
        if "__pycache__" in path.parts:
            continue
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def report_area(params: dict) -> str:
    """The area folder of a report: its ``source``, or its ``sources`` joined with ``-vs-``."""
    if params.get("source") is not None:
        return area_name(params["source"])
    sources = params.get("sources")
    if isinstance(sources, (list, tuple)) and sources:
        return "-vs-".join(area_name(s) for s in sources)
    return "area"


def fingerprint(notebook: str | Path, parameters: dict | None = None) -> dict:
    """What a report's content depends on, and its content hash.

    ``content_sha256`` is the SHA-256 of the notebook file, the complete parameters (defaults
    included, ``output_dir`` excluded: the runner sets it), the SHA-256 of every input file a
    parameter names, urbankit's version and :func:`code_sha256`. Two runs with the same content
    hash compute the same report; :mod:`urbankit.batch` skips a report whose good run has it.
    """
    import hashlib

    nb_path = resolve_notebook(notebook)
    params = _absolute_files(validate_parameters(nb_path, parameters))
    content_params = {k: v for k, v in params.items() if k != "output_dir"}
    parts = {
        "notebook_sha256": file_sha256(nb_path),
        "input_sha256": _input_hashes(content_params),
        "code_sha256": code_sha256(),
        "urbankit_version": _versions().get("urbankit", "absent"),
    }
    blob = json.dumps({**parts, "parameters": content_params}, sort_keys=True, default=str)
    return {**parts, "content_sha256": hashlib.sha256(blob.encode()).hexdigest()}


def check_inputs(params: dict) -> None:
    """Raise :class:`ReportError` naming every parameter that points to a file that does not exist."""
    from . import datasets

    missing = []
    for key, value in _string_values(params).items():
        if key.split("[")[0] == "output_dir" or value in datasets.available():
            continue
        if _looks_like_file(value) and not Path(value).expanduser().exists():
            missing.append(f"{key}={value!r}")
    if missing:
        raise ReportError(f"input file(s) not found: {', '.join(missing)}; give existing paths (relative to the current folder).")


def export_html(executed: str | Path, *, show_code: bool = False, offline: bool = True) -> tuple[str, dict | None]:
    """HTML of an executed notebook (code hidden unless ``show_code``); offline and self-contained
    unless ``offline=False`` (see :mod:`urbankit._offline`). Returns the page and what was embedded."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    exporter = HTMLExporter(exclude_input=not show_code, exclude_input_prompt=True, exclude_output_prompt=True)
    html, _ = exporter.from_notebook_node(nb)
    if not offline:
        return html, None
    from ._offline import make_offline

    result = make_offline(html)
    return result.html, result.record()


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
        never = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and not c.get("metadata", {}).get("papermill", {}).get("start_time")]
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
        Unknown notebook, invalid parameters, missing input file, another run of the same report
        in progress, or a cell failed or timed out (the failure is kept in ``<run id>.failed``
        with ``run.json`` naming the cell). ``KeyboardInterrupt`` (and SIGTERM through the CLI)
        is recorded as ``interrupted`` and re-raised.

    Notes
    -----
    The run writes into a hidden temporary folder beside its destination and is moved into place
    with one rename (an atomic exchange when a previous run of the same id exists), so a report
    folder is always complete: a failed, interrupted or killed run leaves the previous good report
    untouched. Leftovers of a killed run are removed by the next run of the same report.
    """
    import papermill as pm

    nb_path = resolve_notebook(notebook)
    given = dict(parameters or {})
    if "output_dir" in given:
        raise ReportError("parameter 'output_dir' is set by the runner (the run folder); choose the reports folder with out_dir / --out.")
    params = validate_parameters(nb_path, given)
    check_inputs(params)
    given = _absolute_files(given)
    params = _absolute_files(params)
    fp = fingerprint(nb_path, given)
    area = area or report_area(params)
    run_id = run_id or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    if not run_id or run_id.startswith(".") or "/" in run_id or os.sep in run_id or run_id == "latest":
        raise ReportError(f"run id {run_id!r} is not a plain folder name.")
    parent = Path(out_dir).resolve() / area / nb_path.stem
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / run_id

    with _RunLock(parent, run_id):
        _clean_leftovers(parent, run_id)
        work = Path(tempfile.mkdtemp(prefix=f".{run_id}.", suffix=".tmp", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        work.chmod(0o777 & ~umask)  # mkdtemp makes it private; a report folder is for sharing
        (work / _MARKER).write_text(json.dumps({"run_id": run_id, "pid": os.getpid(), "host": _host(), "start": _now()}))
        record = {
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
            pm.execute_notebook(
                str(nb_path),
                str(executed),
                parameters=run_params,
                cwd=str(work),
                kernel_name=kernel_name,
                progress_bar=False,
                log_output=False,
                execution_timeout=None if timeout is None else max(1, int(-(-timeout // 1))),  # whole seconds
            )
            html, offline_record = export_html(executed, show_code=show_code, offline=offline)
            (work / f"{nb_path.stem}.html").write_text(html, encoding="utf-8")
        except BaseException as exc:
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
                    (work / f"{nb_path.stem}.html").write_text(html, encoding="utf-8")
                except Exception as html_exc:  # noqa: BLE001
                    logger.debug("no HTML of the failed run: %s", html_exc)
            record["outputs"] = _outputs(work)
            (work / "run.json").write_text(json.dumps(record, indent=2, default=str))
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
        (work / "run.json").write_text(json.dumps(record, indent=2, default=str))
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
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
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
        if marker is None:
            stale = time.time() - tmp.stat().st_mtime > 86_400 or tmp.name.startswith(f".{run_id}.")
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
