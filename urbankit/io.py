"""Writing files: every GeoPackage and table writer of urbankit, and the one atomic write helper.

A result is written to a uniquely named temporary beside its target (``.<stem>.<pid>.<random>.tmp
<suffix>``, so concurrent writers never collide), synced, then moved over the target in one
``os.replace``; on any failure the temporary (and SQLite's ``-journal``/``-wal``/``-shm`` side
files) is removed and an earlier file at the target stays untouched.

The accessibility GeoPackage
----------------------------
:func:`write_accessibility_gpkg` writes the GeoPackage the CLI promises (``urbankit accessibility
... --out result.gpkg``). Layers, all in EPSG:4326:

``nodes``
    ``node_id``, ``population``, per service ``S``: ``time_S_min`` (NaN: beyond the largest
    threshold) and ``n_S_<M>min`` per threshold ``M``; per threshold ``score_<M>min`` (0..1) and
    ``functions_<M>min``; ``gravity_S``; ``all_functions_min``; point geometry.
``edges``
    ``u``, ``v``, ``length_m``, ``time_min``, then ``way_id``, ``highway``, ``name``, ``oneway``,
    ``speed_kmh``; line geometry. Walk and bike networks hold each undirected edge once, drive
    networks one row per travel direction (as ``StreetNetwork.edges``).
``pois``
    ``service``, ``function``, ``node_id``, ``snap_m``, ``snap_min``, ``name``, ``osm_type``,
    ``osm_id``; point geometry (the destination itself, not its node).
``metadata``
    a non-spatial ``key``/``value`` table: urbankit version, source file and its OSM data date, mode,
    minutes, services, engine, H3 resolution, population source, total and sentence, the layers' CRS
    and when the file was written (:func:`accessibility_metadata`).
``hex``
    H3 cells (``h3`` cell id) with ``population``, ``nodes``, ``populated`` and the
    population-weighted minutes and scores of :func:`urbankit.zones.to_hex`; omitted when
    ``hex_resolution=None``.

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
import shutil
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from . import settings
from ._errors import InvalidOptionError

logger = logging.getLogger(__name__)


__all__ = [
    "LAYERS",
    "accessibility_metadata",
    "atomic_path",
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


def nodes_layer(acc) -> gpd.GeoDataFrame:
    """The ``nodes`` layer: node_id, population, minutes, counts, scores (EPSG:4326)."""
    nodes = acc.nodes
    front = ["population"]
    front += [f"time_{s}_min" for s in acc.services]
    front += [c for c in nodes.columns if c.startswith("n_")]
    front += [c for c in nodes.columns if c.startswith("score_")]
    geom = nodes.geometry.name
    rest = [c for c in nodes.columns if c not in front and c != geom]
    out = nodes[front + rest].copy()
    out["all_functions_min"] = acc.all_functions_minutes()
    out.insert(0, "node_id", nodes.index.to_numpy())
    out = gpd.GeoDataFrame(out.reset_index(drop=True), geometry=nodes.geometry.to_numpy(), crs=nodes.crs)
    return out.to_crs("EPSG:4326")


def edges_layer(acc) -> gpd.GeoDataFrame:
    """The ``edges`` layer of the accessibility's network (EPSG:4326)."""
    e = acc.network.edges
    cols = [c for c in _EDGE_COLUMNS if c in e.columns]
    out = gpd.GeoDataFrame(e[cols].reset_index(drop=True), geometry=e.geometry.to_numpy(), crs=e.crs)
    return out.to_crs("EPSG:4326")


def pois_layer(acc) -> gpd.GeoDataFrame:
    """The ``pois`` layer: snapped destinations (EPSG:4326)."""
    p = acc.pois
    cols = [c for c in _POI_COLUMNS if c in p.columns]
    out = gpd.GeoDataFrame(p[cols].reset_index(drop=True), geometry=p.geometry.to_numpy(), crs=p.crs)
    return out.to_crs("EPSG:4326")


def hex_layer(acc, resolution: int) -> gpd.GeoDataFrame:
    """The ``hex`` layer (:func:`urbankit.zones.to_hex`, ``h3`` as a column)."""
    from .zones import to_hex

    return to_hex(acc, resolution).reset_index()


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


def write_accessibility_gpkg(acc, path, *, hex_resolution: int | None = 9) -> Path:
    """Write an accessibility result to a GeoPackage with layers nodes, edges, pois and hex.

    Parameters
    ----------
    acc : Accessibility
        From :func:`urbankit.accessibility.accessibility`.
    path : str or Path
        Target file, ending in ``.gpkg``; replaced if it exists. Its folder is created if needed.
    hex_resolution : int or None, default 9
        H3 resolution of the ``hex`` layer; ``None`` writes no hex layer.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    InvalidOptionError
        ``path`` does not end in ``.gpkg``, is one of the result's input files (its OSM file,
        population grid or taxonomy), or an invalid ``hex_resolution``.
    """
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise InvalidOptionError(f"path={str(path)!r} must end in .gpkg (a GeoPackage), e.g. 'result.gpkg'.")
    if path.is_dir():
        raise InvalidOptionError(f"path={str(path)!r} is a folder; give a file name ending in .gpkg.")
    refuse_overwriting_inputs(path, input_files(acc))
    # build every layer before touching the disk: bad options fail without side effects
    layers = {"nodes": nodes_layer(acc), "edges": edges_layer(acc), "pois": pois_layer(acc)}
    if hex_resolution is not None:
        layers["hex"] = hex_layer(acc, hex_resolution)
    metadata = metadata_table(accessibility_metadata(acc, hex_resolution=hex_resolution))
    with atomic_path(path, suffix=".gpkg") as tmp, _unsynchronised_sqlite():
        from_cache = _copy_cached_layer(layers["edges"], "edges", tmp)
        for name, gdf in layers.items():
            if not (from_cache and name == "edges"):
                _write_layer(gdf, tmp, name)
        write_metadata(metadata, tmp)
        if from_cache:
            _order_layers(tmp, [*layers, "metadata"])
    logger.info("wrote %s (layers %s)", path, ", ".join(f"{k}: {len(v):,}" for k, v in layers.items()))
    return path


def _layer_key(gdf: gpd.GeoDataFrame, layer: str) -> str:
    """Content key of a layer as written: its columns, dtypes, values, geometry (WKB), CRS and name,
    and the versions of the code that writes it (this module, pyogrio and GDAL)."""
    import pyogrio

    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(f"{pyogrio.__version__}|{pyogrio.__gdal_version_string__}|{layer}|{gdf.crs}".encode())
    geom = gdf.geometry.name
    data = gdf.drop(columns=geom)
    h.update(repr([(c, str(t)) for c, t in data.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(data, index=False).to_numpy().tobytes())
    h.update(b"".join(shapely.to_wkb(gdf.geometry.to_numpy(), hex=False)))
    return h.hexdigest()[:32]


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _copy_cached_layer(gdf: gpd.GeoDataFrame, layer: str, target: Path) -> bool:
    """Start ``target`` (a new, empty temporary) as a copy of a cached GeoPackage holding just this
    layer, written by an earlier run: the network's ``edges`` layer is the same run after run, and
    copying it is far faster than writing it again. Returns False (the caller writes the layer) when
    the cache is off or fails.

    The cached file is named by the layer's content key (:func:`_layer_key`) and checked against the
    SHA-256 recorded beside it when it was written, so a damaged or swapped file is never copied (it
    is rewritten). Written atomically; any error only means the layer is written the ordinary way.
    """
    if not settings.use_cache:
        return False
    folder = Path(settings.cache_folder) / "layers"
    cached = folder / f"{_layer_key(gdf, layer)}.gpkg"
    digest = cached.with_suffix(".sha256")
    try:
        if not (cached.is_file() and digest.is_file() and digest.read_text().strip() == _file_sha256(cached)):
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(cached, suffix=".gpkg") as tmp:
                _write_layer(gdf, tmp, layer)
                write_bytes_atomic(digest, _file_sha256(tmp).encode())
        shutil.copyfile(cached, target)
        if _file_sha256(target) != digest.read_text().strip():
            raise OSError(f"the copy of {cached} differs from it")
        return True
    except OSError as exc:
        logger.warning("layer %s not taken from the cache (%s); writing it", layer, exc)
        with contextlib.suppress(OSError):
            target.unlink()
        return False


def _order_layers(path: Path, order: list[str]) -> None:
    """List the GeoPackage's layers in ``order`` (GDAL lists ``gpkg_contents`` in row order)."""
    import sqlite3

    con = sqlite3.connect(path)
    try:
        with con:
            rows = con.execute("SELECT * FROM gpkg_contents").fetchall()  # table_name first (GeoPackage 1.x)
            rank = {name: i for i, name in enumerate(order)}
            rows.sort(key=lambda row: rank.get(row[0], len(order)))
            con.execute("DELETE FROM gpkg_contents")
            con.executemany(f"INSERT INTO gpkg_contents VALUES ({', '.join('?' * len(rows[0]))})", rows)
    finally:
        con.close()


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


def provenance(source, items: dict) -> dict:
    """The provenance every urbankit GeoPackage records, in order: urbankit version, the source file
    and its OSM data date, then ``items``, the layers' CRS and when the file was written (UTC)."""
    import datetime as dt

    from . import __version__
    from .osm.files import osm_data_date

    return {
        "urbankit_version": __version__,
        "source": None if source is None else str(source),
        "osm_data_date": None if source is None else osm_data_date(source),
        **items,
        "crs": "EPSG:4326",
        "written_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }


def accessibility_metadata(acc, *, hex_resolution=None) -> dict:
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
        },
    )
