"""The data-only cache of built networks (one file per extract, mode and parameters; see urbankit._datacache)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import logging
from pathlib import Path

import geopandas as gpd

from .. import _datacache, settings
from .modes import MODES
from .street import StreetNetwork

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """Hash of the code that turns a file into a network (this package and the OSM readers), so a
    cache entry written by another version of urbankit is never reused."""
    root = Path(__file__).resolve().parent.parent
    files = sorted(Path(__file__).resolve().parent.glob("*.py")) + [root / "ingest.py"] + sorted(root.glob("osm/*.py"))

    h = hashlib.sha256()
    for module_file in files:
        h.update(Path(module_file).read_bytes())
    return h.hexdigest()[:16]

CACHE_SUFFIX = ".uknet"


def _cache_path(key: str) -> Path:
    """The cache entry of the network with content key ``key``."""
    return Path(settings.cache_folder) / "networks" / f"{key}{CACHE_SUFFIX}"


def _cache_fields() -> tuple[str, ...]:
    """The :class:`StreetNetwork` fields a cache entry holds (those set by its constructor)."""
    return tuple(f.name for f in dataclasses.fields(StreetNetwork) if f.init)


def _load_cached(key: str) -> StreetNetwork | None:
    """The cached network of ``key``, or None (absent, or unusable: then a warning says why).

    Entries are data only (arrays and JSON, hash checked first): nothing in the cache folder is
    ever executed. Entries of the old pickle format (``<key>.pkl``) are never read.
    """
    if not settings.use_cache:
        return None
    path = _cache_path(key)
    try:
        value = _datacache.load_entry(path)
        fields = _cache_fields()
        if type(value) is not dict or value.get("kind") != "StreetNetwork" or set(value) != {"kind", *fields}:
            raise _datacache.CorruptEntryError("it does not hold a street network")
        net = StreetNetwork(**{name: value[name] for name in fields})
        if not (
            net.mode in MODES
            and isinstance(net.nodes, gpd.GeoDataFrame)
            and isinstance(net.edges, gpd.GeoDataFrame)
            and type(net.crs) is str
            and type(net.directed) is bool
            and type(net.meta) is dict
            and net.meta.get("key") == key
        ):
            raise _datacache.CorruptEntryError("it holds no valid street network of this key")
    except FileNotFoundError:
        old = path.with_suffix(".pkl")
        if old.exists() or old.is_symlink():
            logger.warning(
                "ignoring old-format network cache entry %s: pickled entries are never loaded (they could "
                "run code); rebuilding the network in the new format. Delete the old file.",
                old,
            )
        return None
    except (_datacache.CorruptEntryError, OSError) as exc:  # corrupt, tampered or partial entry: rebuild
        logger.warning("cache entry %s is unreadable (%s); ignoring it and rebuilding the network", path, exc)
        return None
    logger.info("loaded %s network from cache %s", net.mode, path)
    return net


def _remove_stale_temporaries(path: Path, *, older_than_s: float = 600.0) -> None:
    """Remove temporary files of writers of ``path`` that died before renaming them into place."""
    _datacache.remove_stale_temporaries(path, older_than_s=older_than_s)


def _store_cached(net: StreetNetwork) -> None:
    """Store ``net`` in the cache (atomically); on failure (e.g. a full disk) warn and go on without."""
    if not settings.use_cache:
        return
    path = _cache_path(net.key)
    value = {"kind": "StreetNetwork", **{name: getattr(net, name) for name in _cache_fields()}}
    try:
        with contextlib.suppress(OSError):
            _remove_stale_temporaries(path)
        _datacache.dump_entry(path, value, background=True)
    except _datacache.UnstorableError as exc:
        logger.warning("network not cached: %s", exc)
    except OSError as exc:
        logger.warning("could not write network cache %s (%s); continuing without it", path, exc)
