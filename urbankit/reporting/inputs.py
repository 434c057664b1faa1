"""The inputs of a report run: versions, file hashes, the run fingerprint and input checks."""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import time
from importlib import metadata
from pathlib import Path

from .._errors import ReportError
from ..osm import area_name, file_sha256
from .parameters import _short_repr, resolve_notebook, validate_parameters

logger = logging.getLogger(__name__)


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

    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value):
        return False
    return value.lower().endswith(FILE_SUFFIXES) or "/" in value or os.sep in value


def _input_path(value: str) -> Path | None:
    """The file (or folder) an input parameter value names, or ``None`` when it names none."""
    from .. import datasets

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
    from .. import datasets

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

#: longest run id, batch set or report name, or area folder accepted: with the runner's own
#: additions (``.<name>.<random>.tmp``, ``<name>.failed``, ``.<name>.failed.old``) a file name
#: stays far below the 255-byte limit of file systems
MAX_NAME_CHARS = 100
