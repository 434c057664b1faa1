"""The data sets embedded in the repository's ``data/`` folder.

>>> from urbankit import datasets
>>> datasets.available()
['barcelona', 'helsinki', 'helsinki_population', 'monaco']
>>> datasets.get_path("monaco").name
'monaco_2023-12-26.osm.pbf'
"""

from __future__ import annotations

import os
from pathlib import Path

from ._errors import InputFileError, InvalidOptionError

_FILES = {
    "monaco": "monaco_2023-12-26.osm.pbf",
    "helsinki": "helsinki_center.osm.pbf",
    "helsinki_population": "helsinki_population_grid_2020.gpkg",
    "barcelona": "eixample_nova_esquerra_2012.osm.bz2",
}


def data_dir() -> Path:
    """The folder of the embedded data: ``URBANKIT_DATA`` if set, else the repository's ``data/``."""
    env = os.environ.get("URBANKIT_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "data"


def available() -> list[str]:
    """Names of the embedded data sets."""
    return sorted(_FILES)


def get_path(name: str) -> Path:
    """Path of an embedded data set by name (see :func:`available`).

    Raises
    ------
    InvalidOptionError
        Unknown name.
    InputFileError
        The file is not there (an installation without the repository's ``data/``; set
        ``URBANKIT_DATA`` to its folder).
    """
    if name not in _FILES:
        raise InvalidOptionError(f"no embedded data set named {name!r}; choose one of {available()}.")
    path = data_dir() / _FILES[name]
    if not path.exists():
        raise InputFileError(
            f"embedded data set {name!r} is missing at {str(path)!r}; run from a clone of the "
            "repository or set URBANKIT_DATA to the folder that holds it."
        )
    return path
