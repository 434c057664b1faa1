"""Reports: the area overview and the papermill runner that turns notebooks into reports.

A report run executes a notebook of ``notebooks/`` with papermill in a temporary folder next to its
destination, exports a standalone HTML (code hidden by default), writes ``run.json`` (parameters,
input hashes, package versions, times, status) and only then renames the folder into place:
``reports/<area>/<notebook>/<run id>/``. A failed run is kept as ``<run id>.failed`` with the
failing cell recorded, and never replaces a good report; ``latest`` points at the newest good one.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import geopandas as gpd
import pandas as pd

from ._errors import ReportError
from .ingest import OSMExtract, area_name, file_sha256, load
from .networks import MODES, StreetNetwork, build_network

logger = logging.getLogger(__name__)

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


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
        tmp = folder / ".overview.gpkg.tmp"
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


def _type_ok(default, value) -> bool:
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
    problems = []
    for name, value in (parameters or {}).items():
        if name not in declared:
            problems.append(f"unknown parameter {name!r} (the notebook declares {sorted(declared)})")
        elif not _type_ok(declared[name], value):
            problems.append(
                f"parameter {name!r} must be {type(declared[name]).__name__} like its default "
                f"{declared[name]!r}, got {type(value).__name__} {value!r}"
            )
    if problems:
        raise ReportError(f"invalid parameters for {Path(str(notebook)).name}: " + "; ".join(problems))
    return {**declared, **(parameters or {})}


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("urbankit", "osmnx", "pandana", "geopandas", "shapely", "osmium", "folium", "papermill", "numpy", "pandas"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def _input_hashes(params: dict) -> dict[str, str]:
    from . import datasets

    hashes = {}
    for name, value in params.items():
        if not isinstance(value, str):
            continue
        path = datasets.get_path(value) if value in datasets.available() else Path(value)
        if path.is_file():
            hashes[name] = file_sha256(path)
    return hashes


def run_report(
    notebook: str | Path,
    *,
    parameters: dict | None = None,
    out_dir: str | Path = "reports",
    run_id: str | None = None,
    show_code: bool = False,
    kernel_name: str | None = None,
) -> Path:
    """Execute a report notebook with papermill and write it under ``out_dir``.

    Parameters
    ----------
    notebook : str or Path
        Path, or name of a notebook in ``notebooks/``.
    parameters : dict, optional
        Values for the notebook's ``parameters`` cell; validated before anything runs.
    out_dir : str or Path, default "reports"
        Root of the reports tree.
    run_id : str, optional
        Name of the run folder (default: UTC timestamp).
    show_code : bool, default False
        Keep code cells in the HTML.
    kernel_name : str, optional
        Jupyter kernel; default the notebook's own.

    Returns
    -------
    pathlib.Path
        The run folder holding ``<notebook>.ipynb``, ``<notebook>.html``, data outputs and ``run.json``.

    Raises
    ------
    ReportError
        Unknown notebook, invalid parameters, or a cell failed (the failure is kept in
        ``<run id>.failed`` with ``run.json`` naming the cell).
    """
    import nbformat
    import papermill as pm
    from nbconvert import HTMLExporter

    nb_path = resolve_notebook(notebook)
    params = validate_parameters(nb_path, parameters)
    area = area_name(params.get("source", "area"))
    run_id = run_id or dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    parent = Path(out_dir).resolve() / area / nb_path.stem
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / run_id
    work = Path(tempfile.mkdtemp(prefix=f".{run_id}.", suffix=".tmp", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    work.chmod(0o777 & ~umask)  # mkdtemp makes it private; a report folder is for sharing
    record = {
        "notebook": str(nb_path),
        "area": area,
        "run_id": run_id,
        "parameters": params,
        "input_sha256": _input_hashes(params),
        "versions": _versions(),
        "start": dt.datetime.now(dt.timezone.utc).isoformat(),
        "status": "running",
    }
    run_params = {**(parameters or {})}
    if "output_dir" in params:
        run_params["output_dir"] = str(work)
    logger.info("running %s with %s into %s", nb_path.name, run_params, final)
    t0 = time.perf_counter()
    executed = work / f"{nb_path.stem}.ipynb"
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
        )
    except Exception as exc:
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:4000], end=_now(), seconds=time.perf_counter() - t0)
        cell = getattr(exc, "exec_count", None)
        if cell is not None:
            record["failed_cell"] = cell
        (work / "run.json").write_text(json.dumps(record, indent=2, default=str))
        failed = parent / f"{run_id}.failed"
        shutil.rmtree(failed, ignore_errors=True)
        os.replace(work, failed)
        raise ReportError(
            f"report {nb_path.name} failed{f' in cell {cell}' if cell is not None else ''}: "
            f"{getattr(exc, 'ename', type(exc).__name__)}: {getattr(exc, 'evalue', exc)}; "
            f"the executed notebook is kept in {failed}"
        ) from exc
    nb = nbformat.read(executed, as_version=4)
    html, _ = HTMLExporter(exclude_input=not show_code, exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    (work / f"{nb_path.stem}.html").write_text(html, encoding="utf-8")
    record.update(status="ok", end=_now(), seconds=round(time.perf_counter() - t0, 2))
    (work / "run.json").write_text(json.dumps(record, indent=2, default=str))
    if final.exists():
        old = parent / f".{run_id}.old"
        os.replace(final, old)
        os.replace(work, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(work, final)
    _point_latest(parent, run_id)
    return final


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


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
