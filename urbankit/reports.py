"""Reports: the area overview and the papermill runner that turns notebooks into reports.

A report run validates its parameters against the notebook's ``parameters`` cell (names, types,
input files that must exist; values must be plain JSON data, see :func:`normalise_parameters`) before
anything runs, injects them as checked literals (:func:`parameters_cell_source`: data, never code,
whatever their text), executes the notebook of ``notebooks/`` with
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
import contextlib
import datetime as dt
import errno
import functools
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path

import geopandas as gpd
import pandas as pd

from ._errors import InvalidOptionError, ReportError, ReportParameterError, ReportWriteError
from ._util import pid_alive
from .network import MODES, StreetNetwork, build_network
from .osm import OSMExtract, area_name, file_sha256, load

logger = logging.getLogger(__name__)

#: the report notebooks: package data (in a checkout ``urbankit/notebooks`` links to ``notebooks/``)
NOTEBOOK_DIR = Path(str(resources.files("urbankit") / "notebooks")).resolve()


# --------------------------------------------------------------------------- area overview


@dataclass(repr=False)
class AreaOverview:
    """What an area holds: networks per mode, destinations by service, residents.

    Build it with :func:`area_overview`; show :meth:`table`, :meth:`services` and :meth:`map`. The
    constructor's parameters are the dataclass fields, kept as attributes of the same names.

    Parameters
    ----------
    extract : OSMExtract
        The area as read by :func:`urbankit.load`.
    networks : dict of str to StreetNetwork
        One network per mode, in the order the modes were asked for.
    destinations : geopandas.GeoDataFrame
        The destinations of the area (:func:`urbankit.destinations`).
    population : PopulationEstimate
        Residents per node of the first mode's network.
    taxonomy : Taxonomy, optional
        The taxonomy the destinations were classified with (lists services with no destination too).
    meta : dict, optional
        Free-form notes; empty by default.
    """

    extract: OSMExtract
    networks: dict[str, StreetNetwork]
    destinations: gpd.GeoDataFrame
    population: object
    taxonomy: object = None
    meta: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"AreaOverview({area_name(self.extract)!r}, modes={list(self.networks)}, "
            f"destinations={len(self.destinations):,})"
        )

    def table(self) -> pd.DataFrame:
        """One row per mode: nodes, edges, street km, share dropped outside the largest component.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``mode``; columns ``nodes``, ``edges``, ``street_km`` (1 decimal), ``speed``
            (how speeds were set) and ``dropped_node_share`` (3 decimals).
        """
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
        """Destinations per function and service (every taxonomy service listed, zeros included).

        Returns
        -------
        pandas.DataFrame
            The table of :func:`urbankit.destinations_summary` for this area's destinations.
        """
        from .destinations import destinations_summary

        return destinations_summary(self.destinations, taxonomy=self.taxonomy)

    def residents(self) -> pd.DataFrame:
        """Residents: total, source and how many nodes carry them.

        Returns
        -------
        pandas.DataFrame
            One row: ``source``, ``residents`` (rounded total), ``populated_nodes`` (nodes with
            residents) and ``nodes``.
        """
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
        """Folium map: networks by mode, destinations by function, residents per node.

        Parameters
        ----------
        tiles : str or None, default "OpenStreetMap"
            Base map (any folium tiles name); ``None`` draws no tiles (offline reports).

        Returns
        -------
        folium.Map
            The map, one layer per network, function and the residents.
        """
        from .maps import overview_map

        return overview_map(self.networks, self.destinations, self.population, tiles=tiles)

    def _repr_html_(self) -> str:
        return self.table()._repr_html_() + self.residents().to_html(index=False)

    def save(self, folder: str | Path = ".") -> Path:
        """Write ``overview.gpkg`` (edges and nodes per mode, destinations) and ``summary.csv``.

        The GeoPackage is written to a temporary name and renamed, so a failure leaves no
        half-written file.

        Parameters
        ----------
        folder : str or pathlib.Path, default "."
            Where to write; created when missing. Existing files of the same names are replaced.

        Returns
        -------
        pathlib.Path
            The path of ``overview.gpkg``.
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

    Returns
    -------
    AreaOverview
        The extract, one network per mode, the destinations and the residents per node of the
        first mode's network.
    """
    from .destinations import find_destinations, load_taxonomy
    from .population import population_per_node

    extract = load(source)
    tax = load_taxonomy(taxonomy) if not hasattr(taxonomy, "services") else taxonomy
    nets = {mode: build_network(extract, mode) for mode in modes}
    dest = find_destinations(extract, taxonomy=tax)
    first = nets[next(iter(nets))]
    pop = population_per_node(
        first.nodes,
        grid=population,
        column=population_column,
        buildings=extract.buildings if population is None and len(extract.buildings) else None,
        node_population=extract.meta.get("node_population") if population is None else None,
        context=extract,
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


# --------------------------------------------------------------------------- parameters as data

#: deepest nesting of lists and dicts a report parameter value may have
MAX_PARAMETER_DEPTH = 32

#: report parameter integers are signed 64-bit (what every JSON reader and numpy take exactly)
_INT_BOUND = 2**63

_PLAIN_DATA = "str, int, float (finite), bool, None, and lists and dicts with string keys of them"

#: tag of the cell holding the parameters of a run (papermill's name, so tools that know it keep working)
INJECTED_TAG = "injected-parameters"


def _short_repr(value) -> str:
    import reprlib

    short = reprlib.Repr()
    short.maxstring, short.maxother, short.maxlist, short.maxdict = 60, 60, 4, 4
    return short.repr(value)


def _plain(value, name: str, at: str, depth: int, where: str):
    """``value`` as exact JSON-like Python data; :class:`ReportParameterError` naming ``name`` and ``at`` else."""
    import math
    import numbers
    from collections.abc import Mapping

    import numpy as np

    def refuse(what: str, fix: str = ""):
        subject = f"parameter {name!r}" if at == name else f"parameter {name!r}: {at}"
        raise ReportParameterError(
            f"{where}{subject} {what}; report parameters must be plain data ({_PLAIN_DATA})"
            + (f"; {fix}" if fix else ".")
        )

    if depth > MAX_PARAMETER_DEPTH:
        refuse(f"is nested deeper than {MAX_PARAMETER_DEPTH} levels of lists and dicts", "flatten it")
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str):
        text = str.__str__(value)  # an exact str, whatever a subclass overrides
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            refuse(
                f"holds a lone surrogate {text[exc.start]!r} at character {exc.start}, not text", "give valid Unicode"
            )
        return text
    if isinstance(value, numbers.Integral):
        try:
            number = int(value)
        except (TypeError, ValueError, OverflowError):
            number = None
        if type(number) is not int:
            refuse(f"is a {type(value).__name__} that does not convert to an int")
        if not -_INT_BOUND <= number < _INT_BOUND:
            refuse(f"is an integer outside the signed 64-bit range ({_short_repr(number)})", "give a smaller number")
        return number
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            refuse(f"is {number!r}, not a finite number", "give a finite number, or None")
        return number
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        if not isinstance(path, str):
            refuse(f"is a path of bytes {_short_repr(path)}", "give it as text")
        return _plain(path, name, at, depth, where)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(item, name, f"{at}[{i}]", depth + 1, where) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                refuse(
                    f"has the key {_short_repr(key)} of type {type(key).__name__}",
                    "dict keys must be strings (JSON objects have text keys)",
                )
            key = _plain(key, name, f"{at} key", depth + 1, where)
            out[key] = _plain(item, name, f"{at}[{key!r}]", depth + 1, where)
        return out
    refuse(f"is a {type(value).__name__} ({_short_repr(value)})", "convert it (a set to a list, a date to text)")


def normalise_parameters(parameters: dict | None, *, where: str = "") -> dict:
    """Report parameters as plain JSON data, ready to be written into a notebook as literals.

    Parameters
    ----------
    parameters : dict or None
        Parameter names (Python identifiers) and values.
    where : str, optional
        Prefix of error messages saying where the values come from (a batch file's table).

    Returns
    -------
    dict
        A new dict of exact ``str``, ``int``, ``float`` (finite), ``bool``, ``None``, ``list`` and
        ``dict`` (string keys) values. Tuples (and numpy arrays) become lists, numpy scalars and
        ``str``/``int``/``float`` subclasses their plain type, path objects their text.

    Raises
    ------
    ReportParameterError
        A name is not an identifier, or a value is anything else (a set, bytes, complex, a date,
        NaN or infinity, a dict with a non-string key, an integer beyond 64 bits, nesting deeper
        than :data:`MAX_PARAMETER_DEPTH`); the message names the parameter and the offending item.
    """
    import keyword
    from collections.abc import Mapping

    if parameters is None:
        return {}
    if not isinstance(parameters, Mapping):
        raise ReportParameterError(
            f"{where}parameters must be a dict of name -> value, got {type(parameters).__name__}."
        )
    out = {}
    for name, value in parameters.items():
        if not isinstance(name, str) or not str.__str__(name).isidentifier() or keyword.iskeyword(name):
            raise ReportParameterError(
                f"{where}parameter name {_short_repr(name)} is not a Python identifier; use a name of the notebook's "
                "parameters cell."
            )
        name = str.__str__(name)
        out[name] = _plain(value, name, name, 0, where)
    return out


def _same_data(a, b) -> bool:
    """Exactly the same plain data: same types all the way down (``1``, ``1.0`` and ``True`` differ)."""
    import math

    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_data(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_data(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


def parameters_cell_source(parameters: dict | None) -> str:
    """Python source of a run's injected parameters cell: one ``name = <literal>`` line per parameter.

    The values are normalised with :func:`normalise_parameters` and written with ``repr``, which
    for plain data is a Python literal; the source is then parsed back and each right-hand side
    evaluated with :func:`ast.literal_eval` and compared with its value, so the cell can only assign
    data, whatever the text of the values (quotes, backslashes, newlines, code).
    """
    params = normalise_parameters(parameters)
    lines = ["# Parameters (injected by urbankit: plain literals, checked)"]
    lines += [f"{name} = {value!r}" for name, value in params.items()]
    source = "\n".join(lines) + "\n"
    try:
        body = ast.parse(source).body
        assigned = []
        for node in body:
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
                raise ValueError(f"statement {ast.dump(node)[:80]} is not a plain assignment")
            name = node.targets[0].id
            if name not in params or not _same_data(ast.literal_eval(node.value), params[name]):
                raise ValueError(f"the literal of {name!r} does not give back its value")
            assigned.append(name)
        if assigned != list(params):
            raise ValueError(f"assigns {assigned}, not {list(params)}")
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError) as exc:  # never with plain data
        raise ReportParameterError(
            f"parameters {list(params)} cannot be written as plain literals ({exc}); not run."
        ) from exc
    return source


def parameterize_notebook(notebook: str | Path, parameters: dict | None):
    """The notebook with a cell assigning ``parameters`` after its ``parameters`` cell, as data.

    Does what papermill's injection does (a code cell tagged ``injected-parameters`` after the
    cell tagged ``parameters``, replacing an earlier injected cell), but writes the values with
    :func:`parameters_cell_source` instead of papermill's translator, which writes the text of a
    tuple or any unknown type unescaped into the code. Returns an ``nbformat`` notebook.
    """
    import nbformat

    params = normalise_parameters(parameters)
    nb = nbformat.read(resolve_notebook(notebook), as_version=4)
    cell = nbformat.v4.new_code_cell(source=parameters_cell_source(params))
    cell.metadata["tags"] = [INJECTED_TAG]
    tagged = [i for i, c in enumerate(nb.cells) if INJECTED_TAG in c.metadata.get("tags", [])]
    if tagged:
        nb.cells[tagged[0]] = cell
    else:
        marked = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
        if not marked:
            raise ReportError(f"{str(notebook)!r} has no code cell tagged 'parameters'; tag one for papermill.")
        nb.cells.insert(marked[0] + 1, cell)
    try:
        from papermill import __version__ as pm_version
    except ImportError:  # pragma: no cover - papermill is a dependency
        pm_version = "absent"
    record = {"default_parameters": {}, "environment_variables": {}, "version": pm_version}
    nb.metadata["papermill"] = {**record, **dict(nb.metadata.get("papermill", {})), "parameters": params}
    return nb


@contextlib.contextmanager
def _parameterized_input(notebook: Path, parameters: dict):
    """A private temporary copy of ``notebook`` with ``parameters`` injected (:func:`parameterize_notebook`)."""
    import nbformat

    nb = parameterize_notebook(notebook, parameters)
    with tempfile.TemporaryDirectory(prefix="urbankit-nb-") as tmp:
        path = Path(tmp) / notebook.name
        nbformat.write(nb, str(path))
        yield path


def _literal_path(path: Path) -> str:
    """``path`` for papermill, which formats paths with ``str.format``: braces doubled to stay literal."""
    return str(path).replace("{", "{{").replace("}", "}}")


def _tiles_problem(value) -> str | None:
    """Why a ``tiles`` report parameter cannot be drawn (see :func:`urbankit._tiles.tiles_problem`), or None.

    A custom URL needs an attribution, which reports have no parameter for.
    """
    from ._tiles import tiles_problem

    what = tiles_problem(value)
    if what is None:
        return None
    return (
        f"parameter 'tiles' = {_short_repr(value)} {what}; a custom URL needs an attribution, which reports cannot "
        "take: give a named provider (e.g. 'OpenStreetMap', 'OpenTopoMap', see xyzservices.providers) or None for "
        "no base map"
    )


def validate_parameters(notebook: str | Path, parameters: dict | None) -> dict:
    """Check ``parameters`` against the notebook's ``parameters`` cell; raise once for all problems.

    The values are first made plain data with :func:`normalise_parameters` (anything else is
    refused, naming the parameter); the returned dict holds the notebook's defaults updated with
    the normalised values. A ``tiles`` value must be None or a tile provider name (see
    :func:`_tiles_problem`). Raises :class:`ReportParameterError`.
    """
    parameters = normalise_parameters(parameters)
    declared = notebook_parameters(notebook)
    types = notebook_parameter_types(notebook)
    problems = []
    for name, value in parameters.items():
        if name not in declared:
            problems.append(f"unknown parameter {name!r} (the notebook declares {sorted(declared)})")
        elif name in types and not _type_ok(declared[name], value, types[name]):
            wanted = " or ".join(dict.fromkeys("None" if t is type(None) else t.__name__ for t in types[name]))
            problems.append(f"parameter {name!r} must be {wanted}, got {type(value).__name__} {_short_repr(value)}")
        elif name not in types and not _type_ok(declared[name], value):
            problems.append(
                f"parameter {name!r} must be {type(declared[name]).__name__} like its default "
                f"{declared[name]!r}, got {type(value).__name__} {_short_repr(value)}"
            )
        elif name == "tiles" and _tiles_problem(value):
            problems.append(_tiles_problem(value))
    if problems:
        raise ReportParameterError(f"invalid parameters for {Path(str(notebook)).name}: " + "; ".join(problems))
    return {**declared, **parameters}


#: version of the layout of ``run.json``
RUN_RECORD_VERSION = 2

#: string parameter values ending like this are files: they must exist before a run starts, and
#: their content is hashed into ``run.json`` and the report's content hash
FILE_SUFFIXES = (
    ".pbf",
    ".osm",
    ".bz2",
    ".gz",
    ".xml",
    ".graphml",
    ".gpkg",
    ".geojson",
    ".json",
    ".toml",
    ".csv",
    ".shp",
    ".parquet",
    ".tif",
    ".tiff",
    ".zip",
)

#: marker file inside a run's temporary folder: who is writing it
_MARKER = ".urbankit-run.json"


def _versions() -> dict[str, str]:
    import platform

    out = {"python": platform.python_version()}
    for pkg in (
        "urbankit",
        "osmnx",
        "pandana",
        "geopandas",
        "shapely",
        "pyproj",
        "osmium",
        "networkx",
        "h3",
        "folium",
        "folium-offline",
        "matplotlib",
        "papermill",
        "nbconvert",
        "numpy",
        "pandas",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def _string_values(params: dict) -> dict[str, str]:
    """Every string parameter value, nested lists and dicts flattened: ``{"source": ..., "sources[1]": ...}``."""
    out: dict[str, str] = {}

    def walk(key: str, value, depth: int) -> None:
        if isinstance(value, str):
            out[key] = value
        elif depth < 32 and isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(f"{key}[{i}]", item, depth + 1)
        elif depth < 32 and isinstance(value, dict):
            for k, item in value.items():
                walk(f"{key}[{k}]", item, depth + 1)

    for name, value in params.items():
        walk(name, value, 0)
    return out


def _looks_like_file(value: str) -> bool:
    """A path-like parameter value (not a URL such as a tile server template, not a place name)."""
    import re

    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value):
        return False
    return value.lower().endswith(FILE_SUFFIXES) or "/" in value or os.sep in value


def _input_path(value: str) -> Path | None:
    """The file (or folder) an input parameter value names, or ``None`` when it names none."""
    from . import datasets

    if value in datasets.available():
        try:
            return datasets.get_path(value)
        except Exception:  # noqa: BLE001 - a missing data folder fails in the notebook, with its message
            return None
    path = _existing_path(value)
    if path is not None and (path.is_file() or (_looks_like_file(value) and path.is_dir())):
        return path
    return None


#: most files a folder given as an input may hold (all are hashed into the content hash)
MAX_INPUT_FOLDER_FILES = 10_000

#: seconds a file must be unchanged before its hash is cached by (path, size, mtime): a file
#: rewritten within the file system's timestamp resolution keeps its mtime, so a younger file
#: is hashed again every time (the "racy" case of git's index)
_SHA_CACHE_MIN_AGE_S = 2.0

_SHA_CACHE: dict[tuple, str] = {}


def _sha256(path: Path) -> str:
    """SHA-256 of a file's content (cached by path, inode, size and times once the file is settled)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key in _SHA_CACHE:
        return _SHA_CACHE[key]
    digest = file_sha256(path)
    if time.time() - max(st.st_mtime, st.st_ctime) > _SHA_CACHE_MIN_AGE_S:
        _SHA_CACHE[key] = digest
    return digest


def _companions(path: Path) -> list[Path]:
    """The files read together with ``path``: same-stem sidecars and suffixed siblings.

    A shapefile is its ``.shp`` with ``.dbf``, ``.shx``, ``.prj``, ``.cpg``, ``.qix``, ``.sbn``,
    ``.shp.xml``...; a GeoPackage or SQLite file has ``-wal`` and ``-shm``; GDAL reads
    ``.aux.xml``, ``.ovr`` and world files of any data set. Every file in the same folder whose
    name starts (case-insensitively) with the input's stem and a dot, or with its whole name,
    is one, so a sidecar GDAL may read is never left out of the content hash.
    """
    name = path.name.lower()
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    out = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return out
    for entry in entries:
        other = entry.name.lower()
        if other == name or not other.startswith((stem + ".", name)):
            continue
        try:
            if entry.is_file():
                out.append(Path(entry.path))
        except OSError:
            continue
    return sorted(out)


def _folder_sha256(folder: Path) -> str:
    """One SHA-256 over the relative names and contents of every file under ``folder``."""
    import hashlib

    files = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for n in sorted(names):
            files.append(Path(root) / n)
            if len(files) > MAX_INPUT_FOLDER_FILES:
                raise ReportError(
                    f"input folder {str(folder)!r} holds more than {MAX_INPUT_FOLDER_FILES:,} files; a report "
                    "hashes every file of its inputs: give the data file itself, or a folder with only the data."
                )
    h = hashlib.sha256()
    for f in files:
        if f.is_file():
            h.update(f.relative_to(folder).as_posix().encode() + b"\0" + _sha256(f).encode() + b"\0")
    return "folder:" + h.hexdigest()


def _input_hashes(params: dict) -> dict[str, str]:
    """SHA-256 of every input file a parameter names (embedded data set names included); a folder's
    hash covers every file under it."""
    return {key: sha for key, (sha, _) in _input_digests(params).items()}


def _input_digests(params: dict) -> dict[str, tuple[str, dict[str, str]]]:
    """Per input parameter: the SHA-256 of the file (or folder) and those of its companion files."""
    out = {}
    for key, value in _string_values(params).items():
        path = _input_path(value)
        if path is None:
            continue
        if path.is_dir():
            out[key] = (_folder_sha256(path), {})
        else:
            out[key] = (_sha256(path), {c.name: _sha256(c) for c in _companions(path)})
    return out


def _absolute_files(params: dict) -> dict:
    """Relative file paths made absolute (the notebook runs in another folder), at any depth."""

    def fix(value, depth: int = 0):
        if isinstance(value, str) and _looks_like_file(value):
            path = _existing_path(value)
            if path is not None and not path.is_absolute():
                return str(path.resolve())
        elif depth < 32 and isinstance(value, list):
            return [fix(v, depth + 1) for v in value]
        elif depth < 32 and isinstance(value, tuple):
            return tuple(fix(v, depth + 1) for v in value)
        elif depth < 32 and isinstance(value, dict):
            # keys too: a dict keyed by file (compare's populations) must name the files as its values do
            return {fix(k, depth + 1): fix(v, depth + 1) for k, v in value.items()}
        return value

    return {k: fix(val) for k, val in params.items()}


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
    """The area folder of a report: its ``source``, or its ``sources`` joined with ``-vs-``.

    A name longer than :data:`MAX_NAME_CHARS` is shortened, keeping a hash of the whole name.
    """
    import hashlib

    if params.get("source") is not None:
        name = area_name(params["source"])
    elif isinstance(params.get("sources"), (list, tuple)) and params["sources"]:
        name = "-vs-".join(area_name(s) for s in params["sources"])
    else:
        return "area"
    if len(name) > MAX_NAME_CHARS:
        name = f"{name[: MAX_NAME_CHARS - 13]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return name


def fingerprint(
    notebook: str | Path,
    parameters: dict | None = None,
    *,
    show_code: bool = False,
    offline: bool = True,
    kernel_name: str | None = None,
) -> dict:
    """What a report's content depends on, and its content hash.

    ``content_sha256`` is the SHA-256 of the notebook file, the complete parameters (defaults
    included, ``output_dir`` excluded: the runner sets it), the SHA-256 of every input file a
    parameter names and of the files read with it (a shapefile's ``.dbf``, ``.shx``, ``.prj``...,
    a GeoPackage's ``-wal``: see :func:`_companions`; every file of an input folder), the options
    that change the written report (``show_code``, ``offline``, ``kernel_name``), urbankit's version
    and :func:`code_sha256`. Two runs with the same content hash compute the same report;
    :mod:`urbankit.batch` skips a report whose good run has it.

    Parameters
    ----------
    notebook : str or Path
        Path, or name of a notebook in ``notebooks/``.
    parameters : dict, optional
        The parameters given (validated and completed with the notebook's defaults).
    show_code, offline, kernel_name
        The options of :func:`run_report` that change its output.
    """
    import hashlib

    nb_path = resolve_notebook(notebook)
    params = _absolute_files(validate_parameters(nb_path, parameters))
    content_params = {k: v for k, v in params.items() if k != "output_dir"}
    digests = _input_digests(content_params)
    parts = {
        "notebook_sha256": file_sha256(nb_path),
        "input_sha256": {key: sha for key, (sha, _) in digests.items()},
        "input_companion_sha256": {key: comp for key, (_, comp) in digests.items() if comp},
        "options": {"show_code": bool(show_code), "offline": bool(offline), "kernel_name": kernel_name},
        "code_sha256": code_sha256(),
        "urbankit_version": _versions().get("urbankit", "absent"),
    }
    blob = json.dumps({**parts, "parameters": content_params}, sort_keys=True, default=str)
    return {**parts, "content_sha256": hashlib.sha256(blob.encode()).hexdigest()}


def _existing_path(value: str) -> Path | None:
    """``value`` (``~`` expanded) when it names an existing file or folder, else None: also when it
    cannot be a path at all (an unknown ``~user``, a name too long for the file system, a NUL), as a
    text parameter may be anything."""
    try:
        path = Path(value).expanduser()
        return path if path.exists() else None
    except (OSError, ValueError, RuntimeError):
        return None


def check_inputs(params: dict) -> None:
    """Raise :class:`ReportError` naming every parameter that points to a file that does not exist."""
    from . import datasets

    missing = []
    for key, value in _string_values(params).items():
        if key.split("[")[0] == "output_dir" or value in datasets.available():
            continue
        if _looks_like_file(value) and _existing_path(value) is None:
            missing.append(f"{key}={_short_repr(value)}")
    if missing:
        raise ReportError(
            f"input file(s) not found: {', '.join(missing)}; give existing paths (relative to the current folder)."
        )


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


#: longest run id, batch set or report name, or area folder accepted: with the runner's own
#: additions (``.<name>.<random>.tmp``, ``<name>.failed``, ``.<name>.failed.old``) a file name
#: stays far below the 255-byte limit of file systems
MAX_NAME_CHARS = 100

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
