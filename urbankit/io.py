"""Writing files: every GeoPackage and table writer of urbankit, and the one atomic write helper.

A result is written to a uniquely named temporary beside its target (``.<stem>.<pid>.<random>.tmp
<suffix>``, so concurrent writers never collide), synced, then moved over the target in one
``os.replace``; on any failure the temporary (and SQLite's ``-journal``/``-wal``/``-shm`` side
files) is removed and an earlier file at the target stays untouched.

The accessibility GeoPackage
----------------------------
:func:`write_accessibility_gpkg` writes the GeoPackage the CLI promises (``urbankit accessibility
... --out result.gpkg``). Layers, all in one CRS: EPSG:4326 by default here and in the CLI (its
contract; ``--crs analysis`` or another code there), the analysis CRS (the network's metric CRS)
by default through :meth:`Accessibility.to_gpkg` and :meth:`~Accessibility.save`; ``crs=`` chooses:

``nodes``
    ``node_id``, ``population``, per service ``S``: ``time_S_min`` (NULL: see ``status_S``) and
    ``n_S_<M>min`` per threshold ``M``; per threshold ``score_<M>min`` (0..1) and
    ``functions_<M>min``; ``gravity_S``; ``all_functions_min``; ``status_S`` (``"reached"``,
    ``"beyond threshold"`` or ``"no destination in area"``: the two meanings of a NULL minutes
    value kept apart); point geometry.
``edges``
    ``u``, ``v``, ``length_m``, ``time_min``, then ``way_id``, ``highway``, ``name``, ``oneway``,
    ``speed_kmh``, ``both_directions``; line geometry. One row per street: walk and bike networks
    hold each undirected edge once; on drive networks the two directed edges of a two-way street
    with the same values both ways (reversed geometry, way, length, minutes, speed) are one row
    with ``both_directions`` true, digitised ``u -> v``; one-way streets, and two-way streets whose
    values differ by direction, keep a row per direction with ``both_directions`` false
    (:func:`urbankit.network.street_rows.one_row_per_street`).
``pois``
    ``service``, ``function``, ``node_id``, ``snap_m``, ``snap_min``, ``name``, ``osm_type``,
    ``osm_id``; point geometry (the destination itself, not its node).
``metadata``
    a non-spatial ``key``/``value`` table: urbankit version, source file, its SHA-256 and OSM data
    date, mode, minutes, services, engine, H3 resolution, population source, total and sentence, the
    meaning of NULL, the layers' CRS and when the file was written (:func:`accessibility_metadata`),
    then the column dictionary: ``column:<layer>.<column>`` -> ``{"unit": ..., "meaning": ...}``
    (:func:`column_dictionary`).
``hex``
    H3 cells (``h3`` cell id) with ``population``, ``nodes``, ``populated`` and the
    population-weighted minutes and scores of :func:`urbankit.zones.to_hex`; omitted when
    ``hex_resolution=None``.

QGIS styles for ``nodes``, ``hex`` (score at the middle threshold) and ``pois`` (by function) are
stored in the ``layer_styles`` table QGIS reads (:func:`write_layer_styles`).

The file is written atomically: layers go to a temporary file in the target folder, which then
replaces the target in one step, so a failure never leaves a half-written file and never damages
an earlier one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _gpkg, settings
from ._errors import InvalidOptionError
from ._qgis import categorized_qml, graduated_qml, layer_styles, write_layer_styles  # noqa: F401 (public here)
from ._validate import check_h3_resolution
from .network.street_rows import BOTH_DIRECTIONS_MEANING, one_row_per_street

logger = logging.getLogger(__name__)


__all__ = [
    "LAYERS",
    "STATUS_BEYOND",
    "STATUS_NONE",
    "STATUS_REACHED",
    "accessibility_metadata",
    "atomic_path",
    "check_crs",
    "column_dictionary",
    "layer_styles",
    "service_status",
    "write_layer_styles",
    "fsync_path",
    "metadata_table",
    "provenance",
    "refuse_overwriting_inputs",
    "remove_quietly",
    "temporary_path",
    "write_accessibility_gpkg",
    "write_bytes_atomic",
    "write_metadata",
]


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



#: layer names of the accessibility GeoPackage, in writing order
LAYERS = ("nodes", "edges", "pois", "hex", "metadata")

_EDGE_COLUMNS = ["u", "v", "length_m", "time_min", "way_id", "highway", "name", "oneway", "speed_kmh"]
_POI_COLUMNS = ["service", "function", "node_id", "snap_m", "snap_min", "name", "osm_type", "osm_id"]


#: the values of the ``status_<S>`` columns of the nodes layer: why ``time_<S>_min`` is (or is not) NULL
STATUS_REACHED = "reached"
STATUS_BEYOND = "beyond threshold"
STATUS_NONE = "no destination in area"


def service_status(acc) -> pd.DataFrame:
    """Per node and service, what a NULL minutes value means: ``status_<S>`` is ``"reached"`` (minutes
    given), ``"beyond threshold"`` (the service exists but lies beyond the largest threshold) or
    ``"no destination in area"`` (the area holds no destination of the service at all).

    Parameters
    ----------
    acc : Accessibility
        The result.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``acc.nodes``, one text column ``status_<S>`` per service.
    """
    import numpy as np
    import pyarrow as pa

    # built as Arrow dictionary codes and cast to text at once (about 30 times faster than one
    # Python string per cell; the command-line run writes 18 such columns of every node)
    words = pa.array([STATUS_REACHED, STATUS_BEYOND, STATUS_NONE])
    missing = set(acc.missing_services)
    out = {}
    for s in acc.services:
        if s in missing:
            codes = np.full(len(acc.nodes), 2, dtype=np.int8)
        else:
            codes = np.where(np.isfinite(acc.nodes[f"time_{s}_min"].to_numpy(float)), 0, 1).astype(np.int8)
        text = pa.DictionaryArray.from_arrays(pa.array(codes), words).cast(pa.string())
        out[f"status_{s}"] = pd.arrays.ArrowStringArray(text)
    return pd.DataFrame(out, index=acc.nodes.index)


def nodes_layer(acc, *, crs="EPSG:4326") -> gpd.GeoDataFrame:
    """The ``nodes`` layer: node_id, population, minutes, counts, scores, ``status_<S>`` per service
    (:func:`service_status`), in ``crs`` (None: the analysis CRS).

    Built from the result's column arrays without copying them (one frame of 100+ columns per node:
    copying and consolidating it cost more than writing it)."""
    nodes = acc.nodes
    front = ["population"]
    front += [f"time_{s}_min" for s in acc.services]
    front += [c for c in nodes.columns if c.startswith("n_")]
    front += [c for c in nodes.columns if c.startswith("score_")]
    geom = nodes.geometry.name
    rest = [c for c in nodes.columns if c not in front and c != geom]
    columns = {"node_id": nodes.index.to_numpy(), **_column_arrays(nodes, front + rest)}
    columns["all_functions_min"] = acc.all_functions_minutes().to_numpy()
    columns.update({c: v.array for c, v in service_status(acc).items()})
    return gpd.GeoDataFrame(pd.DataFrame(columns, copy=False), geometry=_geometry_in(nodes, crs))


def _geometry_in(frame: gpd.GeoDataFrame, crs) -> gpd.GeoSeries:
    """The geometries of ``frame`` in ``crs`` (None: as they are), as a GeoSeries on a RangeIndex
    (reprojecting the geometry column alone: ``GeoDataFrame.to_crs`` would first copy every column)."""
    geometry = gpd.GeoSeries(frame.geometry.to_numpy(), crs=frame.crs)
    return geometry if crs is None else geometry.to_crs(crs)


def _column_arrays(frame: pd.DataFrame, columns: list[str]) -> dict:
    """The arrays of ``frame``'s ``columns`` by name, shared, not copied (numpy or extension arrays)."""
    return {c: frame[c].array if not isinstance(frame[c].dtype, np.dtype) else frame[c].to_numpy() for c in columns}


def _columns_of(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame[columns]`` on a RangeIndex, sharing the column arrays (no copy)."""
    return pd.DataFrame(_column_arrays(frame, columns), copy=False)


def edges_layer(acc, *, crs="EPSG:4326") -> gpd.GeoDataFrame:
    """The ``edges`` layer of the accessibility's network, one row per street (see the module
    docstring), in ``crs`` (None: the analysis CRS)."""
    return _network_edges_layer(acc.network, crs)


def _network_edges_layer(network, crs) -> gpd.GeoDataFrame:
    """The ``edges`` layer of ``network`` in ``crs`` (None: the network's CRS)."""
    out = one_row_per_street(_edge_source(network), directed=bool(getattr(network, "directed", False)))
    return gpd.GeoDataFrame(out.drop(columns=out.geometry.name), geometry=_geometry_in(out, crs))


class EdgesLayerStarted:
    """The ``edges`` layer of a network being written by a second process since the network was
    built (:func:`start_edges_layer`), for :func:`write_accessibility_gpkg` to join.

    Parameters
    ----------
    network : StreetNetwork
        The network whose edges are written.
    crs : pyproj.CRS or None
        The CRS they are written in (None: the network's).
    writer : urbankit._gpkg.SideWriter
        The process writing them.
    """

    def __init__(self, network, crs, writer) -> None:
        self.network = network
        self.crs = crs
        self.writer = writer

    def close(self) -> None:
        """Stop the process if it still runs and remove its file (a no-op once joined)."""
        self.writer.close()

    def __enter__(self) -> EdgesLayerStarted:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start_edges_layer(network, path, *, crs="EPSG:4326") -> EdgesLayerStarted | None:
    """Start writing the ``edges`` layer of ``network`` for the GeoPackage ``path`` now, in a second
    process, while this one computes the analysis on the network: give the result to
    :func:`write_accessibility_gpkg` (``started=``), which joins the layer instead of writing it, and
    close it when done (``with`` block).

    Parameters
    ----------
    network : StreetNetwork
        The network the analysis runs on, just built.
    path : str or pathlib.Path
        The GeoPackage that will be written (the layer's temporary file goes beside it).
    crs : str, int, pyproj.CRS or None, default "EPSG:4326"
        CRS of the layers (None: the analysis CRS), as given to :func:`write_accessibility_gpkg`.

    Returns
    -------
    EdgesLayerStarted or None
        None where a second process would not help: a small network (under
        :data:`urbankit._gpkg.PARALLEL_MIN_ROWS` rows), not Linux, one core, or other threads running.

    Raises
    ------
    InvalidOptionError
        ``crs`` is not a CRS PROJ knows.
    """
    from pyproj import CRS

    target = CRS.from_user_input(network.crs) if crs is None else check_crs(crs)
    if 2 * len(network.edges) < _gpkg.PARALLEL_MIN_ROWS:
        return None
    folder = Path(path).expanduser().resolve().parent
    if not folder.is_dir():
        return None

    def write(name: str, into: Path) -> None:
        with _unsynchronised_sqlite():
            _write_layer(_network_edges_layer(network, target), into, name)

    writer = _gpkg.start_side_writer(folder, ["edges"], write)
    return None if writer is None else EdgesLayerStarted(network, target, writer)


def pois_layer(acc, *, crs="EPSG:4326") -> gpd.GeoDataFrame:
    """The ``pois`` layer: snapped destinations, in ``crs`` (None: the CRS of the destinations)."""
    p = acc.pois
    cols = [c for c in _POI_COLUMNS if c in p.columns]
    return gpd.GeoDataFrame(_columns_of(p, cols), geometry=_geometry_in(p, crs or acc.network.crs or p.crs))


def hex_layer(acc, resolution: int, *, crs="EPSG:4326") -> gpd.GeoDataFrame:
    """The ``hex`` layer (:func:`urbankit.zones.to_hex`, ``h3`` as a column), in ``crs`` (None: the
    analysis CRS)."""
    from pyproj import CRS

    from .zones import to_hex

    out = to_hex(acc, resolution).reset_index()
    target = CRS.from_user_input(crs or acc.network.crs or out.crs)
    return out if out.crs == target else out.to_crs(target)


def _input_path(value) -> Path | None:
    """The file an input value names (a path, or an embedded data set's name), None otherwise."""
    if value is None or not isinstance(value, (str, os.PathLike)):
        return None
    text = os.fspath(value)
    if not text:
        return None
    from . import datasets

    if isinstance(value, str) and text in datasets.available():
        try:
            return datasets.get_path(text, download=False)
        except Exception:  # noqa: BLE001 - not on this machine: nothing to protect
            return None
    path = Path(text).expanduser()
    return path if path.exists() else None


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def refuse_overwriting_inputs(path, inputs: dict, *, option: str = "path") -> None:
    """Raise before anything is computed or written when the output ``path`` is one of the inputs.

    Parameters
    ----------
    path : str or Path
        The output file.
    inputs : dict of str to str, Path or None
        What each input is (e.g. ``"--population"``) -> the value given (a path, or an embedded
        data set's name; None and non-files are skipped).
    option : str
        How the output was named, for the message (``"--out"``, ``"path"``).

    Raises
    ------
    InvalidOptionError
        ``path`` is the same file as an input: same path after resolving ``.``/``..`` and symbolic
        links, or the same file on disk (a hard link).
    """
    out = Path(os.fspath(path)).expanduser()
    for label, value in inputs.items():
        src = _input_path(value)
        if src is not None and _same_file(out, src):
            raise InvalidOptionError(
                f"{option}={os.fspath(path)!r} is the {label} input {str(src)!r}: writing there would destroy "
                "the input. Choose another output file; nothing was written."
            )


def input_files(acc) -> dict:
    """The input files an accessibility result was computed from (``source``, population, taxonomy)."""
    files = dict(getattr(acc, "input_files", None) or {})
    source = (getattr(getattr(acc, "network", None), "meta", None) or {}).get("source")
    files.setdefault("source", source)
    return files


def _write_layer(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """Write one layer through pyogrio's Arrow path (about twice as fast as feature by feature; same
    layer content: columns, types, values, geometry and CRS). A frame Arrow cannot convert (an object
    column of mixed types) is written feature by feature instead."""
    import pyarrow as pa
    import pyogrio

    try:
        pyogrio.write_dataframe(gdf, path, layer=layer, driver="GPKG", use_arrow=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        logger.info("layer %s not written through Arrow (%s); writing it feature by feature", layer, exc)
        gdf.to_file(path, layer=layer, driver="GPKG", engine="pyogrio", index=False)


@contextlib.contextmanager
def _unsynchronised_sqlite():
    """Let GDAL skip SQLite's fsync after every transaction while writing the temporary file
    (four times faster); the finished file is synced once before it replaces the target."""
    import pyogrio

    key = "OGR_SQLITE_SYNCHRONOUS"
    previous = pyogrio.get_gdal_config_option(key)
    pyogrio.set_gdal_config_options({key: "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({key: previous})


_fsync = fsync_path
_remove_quietly = remove_quietly


def _target_crs(acc, crs):
    """The CRS to write: ``crs`` checked (None: the analysis CRS of the network)."""
    from pyproj import CRS

    if crs is None:
        return CRS.from_user_input(acc.network.crs)
    return check_crs(crs)


def check_crs(crs):
    """``crs`` as a :class:`pyproj.CRS` (an EPSG code as text or number, a WKT or PROJ string).

    Parameters
    ----------
    crs : str, int or pyproj.CRS
        The CRS asked for.

    Returns
    -------
    pyproj.CRS
        The CRS.

    Raises
    ------
    InvalidOptionError
        PROJ does not know ``crs``.
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError as ProjError

    if isinstance(crs, bool) or crs is None:
        raise InvalidOptionError(f"crs={crs!r} is not a CRS; give e.g. 'EPSG:4326', 4326 or None (the analysis CRS).")
    try:
        return CRS.from_user_input(int(crs) if isinstance(crs, str) and crs.isdigit() else crs)
    except (ProjError, TypeError, ValueError) as exc:
        raise InvalidOptionError(
            f"crs={crs!r} is not a CRS PROJ knows ({exc}); give e.g. 'EPSG:4326', 4326 or None (the analysis CRS)."
        ) from None


def write_accessibility_gpkg(
    acc,
    path,
    *,
    hex_resolution: int | None = 9,
    crs="EPSG:4326",
    styles: bool = True,
    started: EdgesLayerStarted | None = None,
) -> Path:
    """Write an accessibility result to a GeoPackage with layers nodes, edges, pois and hex.

    Parameters
    ----------
    acc : Accessibility
        From :func:`urbankit.accessibility.accessibility`.
    path : str or Path
        Target file, ending in ``.gpkg``; replaced if it exists. Its folder is created if needed.
    hex_resolution : int or None, default 9
        H3 resolution of the ``hex`` layer; ``None`` writes no hex layer.
    crs : str, int, pyproj.CRS or None, default "EPSG:4326"
        CRS of every layer; None: the analysis CRS (the network's metric CRS, e.g. a UTM zone),
        the default of :meth:`Accessibility.to_gpkg` and :meth:`~Accessibility.save`. This writer
        keeps EPSG:4326 as its default: it is the CLI's, whose contract is longitude/latitude.
    styles : bool, default True
        Store a QGIS style for the nodes, hex and pois layers in the GeoPackage's ``layer_styles``
        table, so the layers open styled in QGIS.
    started : EdgesLayerStarted, optional
        The ``edges`` layer already being written by :func:`start_edges_layer`: joined instead of
        written when it is of this result's network and in this ``crs`` (else written here). The
        caller closes it.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    InvalidOptionError
        ``path`` does not end in ``.gpkg``, is one of the result's input files (its OSM file,
        population grid or taxonomy), an invalid ``hex_resolution`` or a ``crs`` PROJ does not know.
    """
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise InvalidOptionError(f"path={str(path)!r} must end in .gpkg (a GeoPackage), e.g. 'result.gpkg'.")
    if path.is_dir():
        raise InvalidOptionError(f"path={str(path)!r} is a folder; give a file name ending in .gpkg.")
    refuse_overwriting_inputs(path, input_files(acc))
    # check every option and build the small layers before touching the disk: bad options fail
    # without side effects
    target = _target_crs(acc, crs)
    if hex_resolution is not None:
        hex_resolution = check_h3_resolution(hex_resolution, name="hex_resolution")
    # the edges and hex layers are built only when written (not when copied from the layer cache),
    # and then by the process that writes them (_gpkg.write_layers); the cache keys them by what
    # they are computed from
    edge_source = _edge_source(acc.network)
    layers = {"nodes": nodes_layer(acc, crs=target), "edges": None, "pois": pois_layer(acc, crs=target)}
    lazy = {"edges": lambda: edges_layer(acc, crs=target)}
    if hex_resolution is not None:
        layers["hex"] = None
        lazy["hex"] = lambda: hex_layer(acc, hex_resolution, crs=target)
    # the edges layer written since the network was built, when it is this result's network's in this CRS
    early = started.writer if started is not None and started.network is acc.network and started.crs == target else None
    directed = bool(getattr(acc.network, "directed", False))
    keyed = {"nodes": layers["nodes"], f"edges|directed={directed}": edge_source, "pois": layers["pois"]}
    if hex_resolution is not None:
        keyed[f"hex|{_hex_key(acc, hex_resolution)}"] = layers["nodes"]

    def write_one(name: str, into: Path) -> None:
        gdf = layers[name]
        _write_layer(lazy[name]() if gdf is None else gdf, into, name)

    def write_layers(into: Path) -> None:
        # the nodes layer here, the others in a second process on large results (_gpkg.write_layers)
        rows = len(layers["nodes"]) + 2 * len(acc.network.edges)
        _gpkg.write_layers(into, list(layers), write_one, parallel=rows >= _gpkg.PARALLEL_MIN_ROWS,
                           started=early)

    with atomic_path(path, suffix=".gpkg") as tmp, _unsynchronised_sqlite():
        if not _copy_cached_layers(_layers_key(keyed, crs=target), write_layers, tmp):
            write_layers(tmp)
        columns = {name: list(gdf.columns) if gdf is not None else _written_columns(tmp, name)
                   for name, gdf in layers.items()}
        meta = accessibility_metadata(acc, hex_resolution=hex_resolution, crs=target)
        meta.update(column_dictionary(acc, columns))
        write_metadata(metadata_table(meta), tmp)
        if styles:
            write_layer_styles(tmp, acc, {name: layers[name] if layers[name] is not None else columns[name]
                                          for name in layers})
    logger.info("wrote %s (layers %s)", path, ", ".join(layers))
    return path


def _hex_key(acc, resolution: int) -> str:
    """What the ``hex`` layer is computed from besides the ``nodes`` layer (every column of the
    result's nodes, hashed with it): the resolution, the services, functions and thresholds, and the
    code that aggregates (zones.py, h3)."""
    from importlib.metadata import version

    code = hashlib.sha256((Path(__file__).parent / "zones.py").read_bytes()).hexdigest()[:16]
    return (f"resolution={resolution}|services={list(acc.services)}|functions={list(acc.function_names)}|"
            f"minutes={list(acc.minutes)}|zones={code}|h3={version('h3')}")


def _written_columns(path: Path, layer: str) -> list[str]:
    """The columns of a layer as written (the geometry last, as in the frame it was written from)."""
    import pyogrio

    return [*pyogrio.read_info(path, layer=layer)["fields"].tolist(), "geometry"]


def _edge_source(network) -> gpd.GeoDataFrame:
    """The network's edges with the columns of the ``edges`` layer, in the network's CRS."""
    e = network.edges
    return e[[c for c in _EDGE_COLUMNS if c in e.columns] + [e.geometry.name]]


#: size the layer cache is kept under (the least recently used files are removed beyond it)
LAYER_CACHE_MAX_BYTES = 512 * 2**20


def _frame_digest(frame: pd.DataFrame) -> bytes:
    """SHA-256 of a frame's content: column names, dtypes and values (numeric columns as their raw
    bytes, geometry as coordinates and offsets or WKB, anything else through pandas' hashing)."""
    h = hashlib.sha256(f"{len(frame)}|{[(str(c), str(t)) for c, t in frame.dtypes.items()]}".encode())
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, gpd.array.GeometryDtype):
            h.update(_geometry_digest(column.to_numpy()))
        elif isinstance(column.dtype, np.dtype) and column.dtype.kind in "biufmM":
            h.update(np.ascontiguousarray(column.to_numpy()).view(np.uint8))
        else:
            h.update(pd.util.hash_pandas_object(column, index=False).to_numpy().tobytes())
    return h.digest()


def _geometry_digest(geoms: np.ndarray) -> bytes:
    """SHA-256 of geometries: points or line strings of one type as their coordinates and offsets
    (fast), any other column as WKB with missing values marked."""
    h = hashlib.sha256()
    try:
        kind, coords, offsets = shapely.to_ragged_array(geoms, include_z=None)
    except (ValueError, TypeError, shapely.errors.GEOSException):
        kind = None
    if kind in (shapely.GeometryType.POINT, shapely.GeometryType.LINESTRING) and not shapely.is_missing(geoms).any():
        h.update(f"ragged|{int(kind)}|{coords.shape}".encode())
        h.update(np.ascontiguousarray(coords).view(np.uint8))
        for off in offsets:
            h.update(np.ascontiguousarray(off, dtype=np.int64).view(np.uint8))
        return h.digest()
    wkb = shapely.to_wkb(geoms, hex=False)
    h.update(b"wkb|" + bytes(shapely.is_missing(geoms).astype(np.uint8)))
    h.update(b"".join(w for w in wkb if w is not None))
    h.update(np.fromiter((0 if w is None else len(w) for w in wkb), dtype=np.int64, count=len(wkb)).view(np.uint8))
    return h.digest()


def _layers_key(layers: dict[str, gpd.GeoDataFrame], *, crs) -> str:
    """Content key of the layers as written from these frames (each reprojected to ``crs``): their
    names and order, each frame's content and CRS, the target CRS, and the versions of the code that
    reprojects and writes them (this module, pyogrio, GDAL, pyproj, PROJ)."""
    import pyogrio
    import pyproj

    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update((Path(__file__).parent / "network" / "street_rows.py").read_bytes())  # the edges layer's row folding
    h.update(f"{pyogrio.__version__}|{pyogrio.__gdal_version_string__}|{pyproj.__version__}|"
             f"{pyproj.proj_version_str}|{crs}".encode())
    digests = {}  # a frame keyed twice (the nodes layer, also what the hex layer is built from) is hashed once
    for name, gdf in layers.items():
        h.update(f"|{name}|{gdf.crs}|".encode())
        if id(gdf) not in digests:
            digests[id(gdf)] = _frame_digest(gdf)
        h.update(digests[id(gdf)])
    return h.hexdigest()[:32]


def _copy_hashed(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` and return the SHA-256 of the copy.

    The kernel copies (``shutil.copyfile``: ``sendfile``/``copy_file_range`` on Linux, no pass through
    Python's buffers), then the copy is read back from the page cache and hashed: about half the
    time of hashing while copying block by block, and the digest is of the bytes ``target`` holds.
    """
    import shutil

    shutil.copyfile(source, target)
    h = hashlib.sha256()
    with open(target, "rb") as copied:
        for block in iter(lambda: copied.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _copy_cached_layers(key: str, write, target: Path) -> bool:
    """Start ``target`` (a new, empty temporary) as a copy of a cached GeoPackage holding the data
    layers, written by an earlier run with the same content key (:func:`_layers_key`): re-running an
    analysis gives the same layers, and copying them is far faster than writing them again.
    ``write(path)`` writes the layers when the cache has none. Returns False (the caller writes the
    layers) when the cache is off or fails.

    The cached file is checked, while it is copied, against the SHA-256 recorded beside it when it
    was written, so a damaged or swapped file is never used (it is rewritten). Written atomically;
    the least recently used files are removed beyond :data:`LAYER_CACHE_MAX_BYTES`. Any error only
    means the layers are written the ordinary way.
    """
    if not settings.use_cache:
        return False
    folder = Path(settings.cache_folder) / "layers"
    cached = folder / f"{key}.gpkg"
    digest = cached.with_suffix(".sha256")
    try:
        if cached.is_file() and digest.is_file():
            if _copy_hashed(cached, target) == digest.read_text().strip():
                os.utime(cached)  # recently used
                return True
            logger.warning("cached layers %s are damaged; writing them again", cached.name)
            target.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        # no fsync: a cache file torn by a power cut fails its SHA-256 check and is rewritten
        with atomic_path(cached, suffix=".gpkg", sync=False) as tmp:
            write(tmp)
            write_bytes_atomic(digest, _copy_hashed(tmp, target).encode(), sync=False)
        _evict_layers(folder, keep=cached)
        return True
    except OSError as exc:
        logger.warning("layers not taken from the cache (%s); writing them", exc)
        with contextlib.suppress(OSError):
            target.unlink()
        return False


def _evict_layers(folder: Path, *, keep: Path) -> None:
    """Remove the least recently used cached layer files beyond :data:`LAYER_CACHE_MAX_BYTES`."""
    sizes = {}
    for f in folder.glob("*.gpkg"):
        with contextlib.suppress(OSError):  # removed meanwhile by another process
            st = f.stat()
            sizes[f] = (st.st_mtime, st.st_size)
    total = 0
    for f in sorted(sizes, key=lambda f: sizes[f][0], reverse=True):
        total += sizes[f][1]
        if total > LAYER_CACHE_MAX_BYTES and f != keep:
            remove_quietly(f)
            remove_quietly(f.with_suffix(".sha256"))


def metadata_table(items: dict) -> pd.DataFrame:
    """Provenance as a ``key``/``value`` table of text (numbers, lists and dicts as JSON).

    Parameters
    ----------
    items : dict
        What to record (string keys); None values are written as ``"unknown"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``key`` and ``value`` (both text), one row per item, in the given order.
    """
    import json

    def text(value) -> str:
        if value is None:
            return "unknown"
        if isinstance(value, str):
            return value
        return json.dumps(value, default=str, ensure_ascii=False)

    return pd.DataFrame({"key": [str(k) for k in items], "value": [text(v) for v in items.values()]})


def write_metadata(table: pd.DataFrame, path) -> None:
    """Add ``table`` as the non-spatial ``metadata`` layer of the GeoPackage at ``path``."""
    import pyogrio

    pyogrio.write_dataframe(table, path, layer="metadata", driver="GPKG")


def _sha256(path: Path) -> str | None:
    import hashlib

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def provenance(source, items: dict, *, crs="EPSG:4326") -> dict:
    """The provenance every urbankit GeoPackage records, in order: urbankit version, the source file
    (an embedded data set's name resolved to its file), its SHA-256 and OSM data date, then
    ``items``, the layers' ``crs`` and when the file was written (UTC)."""
    import datetime as dt

    from pyproj import CRS

    from . import __version__
    from .osm.files import osm_data_date

    file = _input_path(source) if source is not None else None
    crs_text = CRS.from_user_input(crs).to_string() if crs is not None else None
    return {
        "urbankit_version": __version__,
        "source": None if source is None else str(source),
        "source_file": None if file is None else str(file),
        "source_sha256": None if file is None else _sha256(file),
        "osm_data_date": None if file is None else osm_data_date(file),
        **items,
        "crs": crs_text,
        "written_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }


def accessibility_metadata(acc, *, hex_resolution=None, crs="EPSG:4326") -> dict:
    """What a reader of an accessibility GeoPackage needs to trust it: urbankit version, source and
    OSM data date, mode, parameters (``transit_*``: the timetables and departure window of a transit
    analysis), population source, total and sentence, layer CRS, time written."""
    network = getattr(acc, "network", None)
    population = acc.nodes["population"].to_numpy(float) if "population" in acc.nodes else None
    return provenance(
        input_files(acc).get("source"),
        {
            "mode": acc.params.get("mode") or getattr(network, "mode", None),
            **{f"transit_{k}": v for k, v in (acc.params.get("transit") or {}).items()},
            "minutes": list(acc.minutes),
            "services": list(acc.services),
            "engine": acc.params.get("engine"),
            "k": acc.params.get("k"),
            "half_life_min": acc.params.get("half_life_min"),
            "h3_resolution": hex_resolution,
            "population_source": acc.population_source,
            "population_total": None if population is None else float(population.sum()),
            "population_description": acc.population_description or None,
            "null_meaning": (
                f"time_<S>_min is NULL when status_<S> is '{STATUS_BEYOND}' (a destination exists, farther than "
                f"the largest threshold) or '{STATUS_NONE}' (no destination of S mapped in the area)"
            ),
        },
        crs=crs,
    )


# ----------------------------------------------------------------------------- column dictionary


def _column_meaning(column: str, acc, mode: str) -> tuple[str, str]:
    """(unit, meaning) of a column of the accessibility GeoPackage."""
    import re

    largest = f"{max(acc.minutes):g}"
    fixed = {
        "node_id": ("", "street network node id (OSM node id where the node is an OSM node)"),
        "population": ("residents", "residents assigned to the node (or the cell)"),
        "all_functions_min": ("min", f"{mode} minutes until every function is reached; NULL beyond {largest} min"),
        "h3": ("", "H3 cell id"),
        "nodes": ("count", "street nodes in the cell"),
        "populated": ("", "1 when the cell holds residents (values weighted by residents), else node means"),
        "u": ("", "node id at the start of the edge"),
        "v": ("", "node id at the end of the edge"),
        "length_m": ("m", "length of the edge"),
        "time_min": ("min", f"{mode} minutes to traverse the edge"),
        "way_id": ("", "OSM way id"),
        "highway": ("", "OSM highway tag"),
        "name": ("", "OSM name tag"),
        "oneway": ("", "1 when the edge may be used in its direction only"),
        "both_directions": ("", BOTH_DIRECTIONS_MEANING),
        "speed_kmh": ("km/h", "speed used for the edge"),
        "service": ("", "service of the destination (taxonomy name)"),
        "function": ("", "social function of the service"),
        "snap_m": ("m", "distance from the destination to its street node"),
        "snap_min": ("min", "minutes on foot from the destination to its street node (added to every trip)"),
        "osm_type": ("", "OSM element type (node, way, relation)"),
        "osm_id": ("", "OSM element id"),
        "geometry": ("", "geometry"),
    }
    if column in fixed:
        return fixed[column]
    rules = [
        (r"time_(.+)_min", lambda g: ("min", f"{mode} minutes to the nearest {g[0]}; NULL: see status_{g[0]}")),
        (
            r"status_(.+)",
            lambda g: (
                "",
                f"'{STATUS_REACHED}' (time_{g[0]}_min given), '{STATUS_BEYOND}' (farther than {largest} min) or "
                f"'{STATUS_NONE}' (no {g[0]} mapped in the area)",
            ),
        ),
        (r"n_(.+)_(\d+(?:_\d+)?)min", lambda g: ("count", f"{g[0]} destinations within {g[1].replace('_', '.')} min")),
        (r"score_(.+)min", lambda g: ("share 0..1", f"share of services reached within {g[0].replace('_', '.')} min")),
        (r"functions_(.+)min", lambda g: ("count", f"functions reached within {g[0].replace('_', '.')} min")),
        (
            r"all_functions_(.+)min_share",
            lambda g: ("share 0..1", f"share of residents reaching every function within {g[0].replace('_', '.')} min"),
        ),
        (r"gravity_(.+)", lambda g: ("", f"gravity accessibility of {g[0]} (sum of exp-decayed destinations)")),
    ]
    for pattern, meaning in rules:
        m = re.fullmatch(pattern, column)
        if m:
            return meaning(m.groups())
    return ("", column.replace("_", " "))


def column_dictionary(acc, layer_columns: dict) -> dict:
    """The column dictionary of the accessibility GeoPackage, as metadata items.

    Parameters
    ----------
    acc : Accessibility
        The result written.
    layer_columns : dict of str to list of str
        Layer name -> its columns.

    Returns
    -------
    dict
        ``"column:<layer>.<column>"`` -> ``{"unit": ..., "meaning": ...}``, one per column (geometry
        excepted), for :func:`metadata_table`.
    """
    mode = getattr(getattr(acc, "network", None), "mode", "travel")
    out = {}
    for layer, columns in layer_columns.items():
        for c in columns:
            if c == "geometry":
                continue
            unit, meaning = _column_meaning(c, acc, mode)
            out[f"column:{layer}.{c}"] = {"unit": unit, "meaning": meaning}
    return out
