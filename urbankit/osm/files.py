"""OSM input files: checks of path and format, hashes, and the errors a broken file gives."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from .._errors import (
    CorruptFileError,
    InputFileError,
    UnsupportedFormatError,
)
from .extract import NODE_LOCATION_INDEX, OSM_SUFFIXES

logger = logging.getLogger(__name__)


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _check_file(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    path = Path(path)
    name = path.name.lower()
    if not any(name.endswith(s) for s in suffixes):
        raise UnsupportedFormatError(
            f"{str(path)!r} has an unsupported extension; urbankit reads OSM files "
            f"({', '.join(OSM_SUFFIXES)}) and osmnx GraphML files (.graphml). Convert other "
            "formats first, e.g. with `osmium cat in.o5m -o out.osm.pbf`."
        )
    if not path.exists():
        raise InputFileError(f"input file {str(path)!r} does not exist; check the path.")
    if not path.is_file():
        raise InputFileError(f"input {str(path)!r} is not a file; give the path of an OSM file.")
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise InputFileError(f"cannot read {str(path)!r}: {exc.strerror}; check its permissions.") from exc
    if size == 0:
        raise CorruptFileError(f"{str(path)!r} is empty (0 bytes); re-download or re-export the extract.")
    return path

class _UnsortedInput(Exception):
    pass


#: Bytes per object, tag and way-node reference held in Python while sorting a copy of a file.

def _corrupt(path: Path, exc: Exception) -> CorruptFileError:
    return CorruptFileError(
        f"cannot parse {str(path)!r} as OSM data ({exc}); the file is truncated, corrupt or not "
        "an OSM extract: re-download it or check it with `osmium fileinfo`."
    )


def _location_index() -> str:
    import osmium

    available = set(osmium.index.map_types())
    return next((name for name in NODE_LOCATION_INDEX if name in available), "flex_mem")


def osm_data_date(path) -> str | None:
    """The date of the OSM data in a file's header (``osmosis_replication_timestamp``, else
    ``timestamp``, ISO 8601 UTC), or None when the file has none or is not an OSM file.

    Only the header is read (no objects), so this is cheap for any file size. In OSM XML, where
    pyosmium does not expose them, the ``timestamp`` attribute of ``<osm>`` (osmosis, JOSM) or
    ``osm_base`` of Overpass's ``<meta>`` are read from the first 4 KB instead.
    """
    import bz2
    import gzip
    import re

    import osmium

    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
    except Exception:  # noqa: BLE001 - not an OSM file (GraphML, missing...): no date, never an error
        return None
    try:
        header = reader.header()
        found = header.get("osmosis_replication_timestamp") or header.get("timestamp") or None
    finally:
        reader.close()
    name = str(path).lower()
    if found or name.endswith((".pbf", ".o5m")):
        return found
    opener = bz2.open if name.endswith(".bz2") else gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
    match = re.search(r"<(?:osm|meta)\b[^>]*?\b(?:timestamp|osm_base)=[\"']([0-9T:Z.+-]{10,35})[\"']", head)
    return match.group(1) if match else None
