"""Reading OSM files (.osm, .osm.bz2, .osm.pbf): checks, sorting and the read entry point."""

from __future__ import annotations

import logging
import re
import tempfile
from array import array
from pathlib import Path

import numpy as np

from .. import settings
from .._errors import (
    CorruptFileError,
)
from .extract import OSM_SUFFIXES, OSMExtract
from .files import _check_file, _corrupt, _UnsortedInput, file_sha256
from .limits import BYTES_PER_CHECKED_NODE, MemoryGuard
from .parse import _parse_osm, _read_guard

logger = logging.getLogger(__name__)


def read_osm(
    path: str | Path,
    *,
    poi_keys: tuple[str, ...] | None = None,
    buildings: bool = True,
) -> OSMExtract:
    """Read an OSM file (``.osm``, ``.osm.bz2``, ``.osm.pbf``) fully offline.

    Parameters
    ----------
    path : str or pathlib.Path
        The OSM file.
    poi_keys : tuple of str, optional
        Tag keys that make an object a candidate destination. Default :data:`DEFAULT_POI_KEYS`,
        which covers the packaged taxonomy.
    buildings : bool, default True
        Also read building footprints (used for population estimates).

    Returns
    -------
    OSMExtract
        With ``settings.use_cache`` (default) what was read is kept in ``settings.cache_folder``
        (data only, see :mod:`urbankit.osm.cache`), keyed by the file's content, the options and
        urbankit's code: reading the same content again loads it instead of parsing the file.

    Raises
    ------
    InputFileError
        The file is missing or unreadable.
    UnsupportedFormatError
        The extension is not an OSM one.
    CorruptFileError
        The file is empty, truncated, corrupt or not OSM, or (XML files) holds a node id twice. (A file
        without streets reads; building a network from it raises :class:`~urbankit.NoStreetsError`.)

    Examples
    --------
    >>> import urbankit as uk
    >>> ex = uk.read_osm(uk.datasets.get_path("monaco"))
    >>> len(ex.ways) > 1000
    True
    """
    path = _check_file(path, OSM_SUFFIXES)
    from . import cache as _readcache

    # an earlier read of the same content with the same options (urbankit.osm.cache: data only, hash checked)
    sha256 = file_sha256(path) if settings.use_cache else None
    if sha256 is not None:
        cached = _readcache.load_extract(sha256, path, poi_keys=poi_keys, buildings=buildings, guard=_read_guard(path))
        if cached is not None:
            return cached
    if not path.name.lower().endswith(".pbf"):
        _check_duplicate_nodes(path)
    try:
        extract = _parse_osm(path, path, poi_keys=poi_keys, buildings=buildings)
    except _UnsortedInput:
        logger.info(
            "%s is not sorted by type and id (typical of editor or API exports); "
            "sorting a temporary copy in memory before reading it.",
            path.name,
        )
        with tempfile.TemporaryDirectory(prefix="urbankit-") as tmp:
            sorted_path = _sorted_copy(path, Path(tmp) / "sorted.osm.pbf")
            extract = _parse_osm(sorted_path, path, poi_keys=poi_keys, buildings=buildings)
    logger.info("read %s", extract)
    if sha256 is not None and extract.sha256 == sha256:  # (not when the file changed while it was read)
        _readcache.store_extract(extract, poi_keys=poi_keys, buildings=buildings)
    return extract


def _check_duplicate_nodes(path: Path) -> None:
    """Refuse an XML file that holds a node id twice (a history file, or extracts concatenated).

    The location index would keep one of the two positions silently. Only XML files are checked
    (one quick pass over their nodes); PBF extracts come from tools that write each object once.
    """
    if path.suffix.lower() == ".osm":  # plain (uncompressed) XML: scan the node tags for their ids
        ids = _xml_node_ids(path)
    else:
        ids = _node_ids_by_osmium(path)
    values, counts = np.unique(ids, return_counts=True)
    twice = values[counts > 1]
    if len(twice):
        raise CorruptFileError(
            f"{str(path)!r} holds {len(twice)} node id(s) twice (e.g. {twice[:3].tolist()}): a history file or "
            "extracts concatenated? Keep one version of each object, e.g. `osmium merge` the extracts or "
            "`osmium time-filter` a history file, then read the result."
        )


#: the id attribute of an XML ``<node`` element (attributes in any order, either quote)
_XML_NODE_ID = re.compile(rb"<node\s[^>]*?\bid\s*=\s*[\"'](-?\d+)[\"']")


def _xml_node_ids(path: Path) -> np.ndarray:
    """The ids of every ``<node>`` of a plain XML file, by one regular-expression scan of the mapped
    file (about 20 times faster than a second pass of osmium's parser; the parser that reads the file
    afterwards reports any malformed content)."""
    import mmap

    guard = _read_guard(path)
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            return np.empty(0, dtype=np.int64)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            found = _XML_NODE_ID.findall(data)
    guard.charge(len(found) * BYTES_PER_CHECKED_NODE, f"{len(found):,} node ids checked for duplicates")
    try:
        return np.array(found, dtype=np.int64) if found else np.empty(0, dtype=np.int64)
    except (ValueError, OverflowError) as exc:  # an id beyond 64 bits
        raise _corrupt(path, exc) from exc


def _node_ids_by_osmium(path: Path) -> np.ndarray:
    """The ids of every node of a (compressed) XML file, by a pass of osmium's parser."""
    import osmium

    ids = array("q")
    guard = _read_guard(path)
    step = 1 << 20
    try:
        for node in osmium.FileProcessor(str(path), osmium.osm.NODE):
            ids.append(node.id)
            if len(ids) % step == 0:
                guard.charge(step * BYTES_PER_CHECKED_NODE, f"{len(ids):,} node ids checked for duplicates")
    except (RuntimeError, UnicodeDecodeError, ValueError, osmium.InvalidLocationError) as exc:
        raise _corrupt(path, exc) from exc
    return np.frombuffer(ids, dtype=np.int64)

_BYTES_PER_SORTED_OBJECT = 400
_BYTES_PER_SORTED_TAG = 250
_BYTES_PER_SORTED_REF = 40


def _sorted_copy(path: Path, out: Path) -> Path:
    """Write a copy of an unsorted OSM file sorted by type and id (needed for area assembly)."""
    import osmium
    from osmium.osm import mutable

    nodes, ways, rels = [], [], []
    guard = MemoryGuard(
        f"sorting an unsorted copy of {str(path)!r} in memory",
        "sort the file first with `osmium sort in.osm -o sorted.osm.pbf` and read the result",
    )
    try:
        for o in osmium.FileProcessor(str(path)):
            if o.is_node():
                guard.charge(_BYTES_PER_SORTED_OBJECT + _BYTES_PER_SORTED_TAG * len(o.tags))
                loc = (o.location.lon, o.location.lat) if o.location.valid() else None
                nodes.append(mutable.Node(id=o.id, location=loc, tags=dict(o.tags)))
            elif o.is_way():
                guard.charge(
                    _BYTES_PER_SORTED_OBJECT
                    + _BYTES_PER_SORTED_TAG * len(o.tags)
                    + _BYTES_PER_SORTED_REF * len(o.nodes),
                    f"way {o.id} references {len(o.nodes):,} nodes",
                )
                ways.append(mutable.Way(id=o.id, nodes=array("q", [n.ref for n in o.nodes]), tags=dict(o.tags)))
            elif o.is_relation():
                guard.charge(_BYTES_PER_SORTED_OBJECT + _BYTES_PER_SORTED_TAG * len(o.tags))
                members = [(m.type, m.ref, m.role) for m in o.members]
                guard.charge(_BYTES_PER_SORTED_REF * 4 * len(members))
                rels.append(mutable.Relation(id=o.id, members=members, tags=dict(o.tags)))
    except (RuntimeError, UnicodeDecodeError, ValueError, osmium.InvalidLocationError) as exc:
        # pyosmium reports malformed content as RuntimeError, ValueError ("illegal id", "OSM tag
        # key is too long", bad timestamps) or InvalidLocationError (coordinates that are no numbers)
        raise _corrupt(path, exc) from exc
    writer = osmium.SimpleWriter(str(out))
    try:
        for n in sorted(nodes, key=lambda o: o.id):
            writer.add_node(n)
        for w in sorted(ways, key=lambda o: o.id):
            writer.add_way(w)
        for r in sorted(rels, key=lambda o: o.id):
            writer.add_relation(r)
    finally:
        writer.close()
    return out
