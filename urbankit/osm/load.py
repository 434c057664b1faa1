"""One entry point for an area: a bundled data set, a file, or (online) a place name."""

from __future__ import annotations

import logging
from pathlib import Path

from .extract import GRAPHML_SUFFIXES, OSM_SUFFIXES, OSMExtract
from .graphml import read_graphml
from .read import read_osm

logger = logging.getLogger(__name__)


#: endings of data files other than OSM's own: a missing file with one of them is an error, not a place
DATA_FILE_SUFFIXES = (
    ".gz", ".bz2", ".xz", ".zst", ".zip", ".o5m", ".gpkg", ".geojson", ".json", ".shp", ".parquet", ".csv",
    ".tif", ".tiff",
)


def load(source, *, poi_keys: tuple[str, ...] | None = None, buildings: bool = True) -> OSMExtract:
    """Read an area from whatever the user has: the one entry point notebooks and the CLI use.

    Parameters
    ----------
    source : str, pathlib.Path, tuple, shapely geometry, GeoDataFrame or OSMExtract
        - the name of an embedded data set (``"monaco"``, ``"helsinki"``, ``"barcelona"``);
        - a path to an OSM file (``.osm``, ``.osm.bz2``, ``.osm.pbf``) or an osmnx ``.graphml``;
        - a bbox ``(west, south, east, north)`` in degrees, a polygon, or a place name such as
          ``"Kamppi, Helsinki"``: downloaded through osmnx (online, cached on disk);
        - an :class:`OSMExtract`, returned as it is.
    poi_keys, buildings
        As in :func:`read_osm`.

    Returns
    -------
    OSMExtract
    """
    from .. import datasets

    if isinstance(source, OSMExtract):
        return source
    if isinstance(source, (str, Path)):
        text = str(source)
        if text in datasets.available():
            return read_osm(datasets.get_path(text), poi_keys=poi_keys, buildings=buildings)
        lower = text.lower()
        if lower.endswith(GRAPHML_SUFFIXES):
            return read_graphml(text)
        # a file by its form: a Path, a folder separator, an existing file or a data file's suffix;
        # anything else is a place name, dots included ("St.Gallen", "Frankfurt a.M.")
        looks_like_file = lower.endswith(OSM_SUFFIXES + DATA_FILE_SUFFIXES)
        if isinstance(source, Path) or looks_like_file or "/" in text or "\\" in text or Path(text).exists():
            return read_osm(text, poi_keys=poi_keys, buildings=buildings)
        from .download import from_place

        return from_place(text, poi_keys=poi_keys, buildings=buildings)
    if isinstance(source, (tuple, list)) and len(source) == 4:
        from .download import from_bbox

        return from_bbox(tuple(source), poi_keys=poi_keys, buildings=buildings)
    from .download import from_polygon

    return from_polygon(source, poi_keys=poi_keys, buildings=buildings)


def area_name(source) -> str:
    """A short file-system-safe name for an area source (used in report paths)."""
    import re

    if isinstance(source, OSMExtract):
        source = source.source
    text = str(source)
    name = Path(text).name
    for suffix in sorted(OSM_SUFFIXES + GRAPHML_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_").lower() or "area"
