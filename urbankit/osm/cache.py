"""Data-only cache of read OSM files: what :func:`urbankit.read_osm` returns, keyed by file content.

Parsing an OSM file dominates a repeated analysis of the same area (the network cache of
:mod:`urbankit.networks` then skips only the network build). :func:`urbankit.read_osm` therefore
keeps the :class:`~urbankit.OSMExtract` it read in ``settings.cache_folder / "extracts"``, under a
key made of

* the SHA-256 of the file's content (a changed file is a new key; a moved or renamed file with the
  same content is the same key, and the loaded extract names the path it was read from);
* the reading options (``poi_keys``, ``buildings``);
* a fingerprint of the code that reads files and stores entries (this module,
  :mod:`urbankit.osm` and :mod:`urbankit._datacache`), so an entry of another urbankit version
  is never reused.

Entries use the format and safety checks of :mod:`urbankit._datacache`: data only (no pickle), the
content hash verified before anything is parsed, written atomically through a unique temporary; an
entry that is corrupt, tampered or of another kind is ignored with a warning and rebuilt, and a
failed write (e.g. a full disk) only logs a warning. ``settings.use_cache = False`` turns it off.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .. import _datacache, settings

logger = logging.getLogger(__name__)


#: file name suffix of extract cache entries
CACHE_SUFFIX = ".ukosm"
#: version of what an entry holds; bump when OSMExtract's fields change meaning
FORMAT = 1
_FIELDS = ("ways", "way_nodes", "features", "buildings", "sha256", "crs", "missing_node_refs", "meta")


@functools.cache
def code_fingerprint() -> str:
    """Hash of the code that reads OSM files and stores entries (16 hex digits)."""
    here = Path(__file__).resolve().parent

    h = hashlib.sha256()
    for module_file in (*sorted(here.glob("*.py")), _datacache.__file__):
        h.update(Path(module_file).read_bytes())
    return h.hexdigest()[:16]


def cache_key(sha256: str, *, poi_keys: tuple[str, ...] | None, buildings: bool) -> str:
    """The entry key of a file with content hash ``sha256`` read with these options."""
    params = {
        "format": FORMAT,
        "poi_keys": None if poi_keys is None else list(poi_keys),
        "buildings": bool(buildings),
        "code": code_fingerprint(),
    }
    return hashlib.sha256((sha256 + json.dumps(params, sort_keys=True)).encode()).hexdigest()[:24]


def cache_path(key: str) -> Path:
    """The entry file of ``key``."""
    return Path(settings.cache_folder) / "extracts" / f"{key}{CACHE_SUFFIX}"


def load_extract(sha256: str, source, *, poi_keys, buildings: bool, guard=None):
    """The cached extract of a file with content ``sha256``, named ``source``; None when there is none
    usable (absent, or corrupt/tampered/of another kind: then a warning says why).

    ``guard`` (an :class:`urbankit.osm.MemoryGuard`) is checked with the entry's size before it
    is loaded, so a cached read respects the memory budget like a parse of the file.
    """
    if not settings.use_cache:
        return None
    from .extract import OSMExtract

    key = cache_key(sha256, poi_keys=poi_keys, buildings=buildings)
    path = cache_path(key)
    try:
        if guard is not None:
            guard.check(path.stat().st_size, "the cached read of the file")
        value = _datacache.load_entry(path)
        if type(value) is not dict or value.get("kind") != "OSMExtract" or set(value) != {"kind", "key", *_FIELDS}:
            raise _datacache.CorruptEntryError("it does not hold a read OSM file")
        if not (
            value["key"] == key
            and value["sha256"] == sha256
            and type(value["ways"]) is pd.DataFrame
            and type(value["way_nodes"]) is pd.DataFrame
            and type(value["features"]) is gpd.GeoDataFrame
            and type(value["buildings"]) is gpd.GeoDataFrame
            and type(value["crs"]) is str
            and type(value["missing_node_refs"]) is int
            and type(value["meta"]) is dict
        ):
            raise _datacache.CorruptEntryError("it holds no valid read OSM file of this key")
    except FileNotFoundError:
        return None
    except (_datacache.CorruptEntryError, OSError) as exc:
        logger.warning("cache entry %s is unreadable (%s); ignoring it and reading the file again", path, exc)
        return None
    logger.info("loaded the read extract of %s from cache %s", source, path)
    if value["missing_node_refs"]:
        logger.warning(
            "%s: %d node references of street ways point to nodes absent from the file "
            "(clipped extract); ways were cut at the missing nodes.",
            Path(str(source)).name,
            value["missing_node_refs"],
        )
    return OSMExtract(source=str(source), **{name: value[name] for name in _FIELDS})


def store_extract(extract, *, poi_keys, buildings: bool) -> None:
    """Keep ``extract`` (read with these options) in the cache; on failure warn and go on without."""
    if not settings.use_cache:
        return
    path = cache_path(cache_key(extract.sha256, poi_keys=poi_keys, buildings=buildings))
    value = {"kind": "OSMExtract", "key": path.stem, **{name: getattr(extract, name) for name in _FIELDS}}
    try:
        with contextlib.suppress(OSError):
            _datacache.remove_stale_temporaries(path)
        _datacache.dump_entry(path, value, background=True)
    except _datacache.UnstorableError as exc:
        logger.warning("read extract not cached: %s", exc)
    except OSError as exc:
        logger.warning("could not write the extract cache %s (%s); continuing without it", path, exc)
