"""The data sets: packaged files, the mirror (URBANKIT_DATA_MIRROR), pooch downloads through a fake network.

No test reaches the internet: ``requests.get`` (what pooch's HTTP downloader calls) is replaced by a fake
that serves bytes from memory, or fails like an offline machine. Hashes are computed here with hashlib and
compared with the shared folder's ``manifest.json`` where it is present, never copied from urbankit.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import shutil

import pytest
import requests
from conftest import SHARED

import urbankit as uk
from urbankit import CorruptFileError, InvalidOptionError, OnlineFetchError, datasets

MANIFEST = SHARED / "manifest.json"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeResponse:
    def __init__(self, data: bytes):
        self.data = data
        self.headers = {"content-length": str(len(data))}

    def raise_for_status(self):
        return None

    def iter_content(self, chunk_size=1024):
        for i in range(0, len(self.data), chunk_size):
            yield self.data[i : i + chunk_size]


@pytest.fixture
def network(monkeypatch):
    """A fake network: ``network.serve[url] = bytes``; ``network.calls`` lists the URLs asked for; any other
    URL fails as it does offline."""

    class Net:
        def __init__(self):
            self.serve: dict[str, bytes] = {}
            self.calls: list[str] = []

    net = Net()

    def get(url, timeout=None, **kwargs):
        net.calls.append(url)
        if url not in net.serve:
            raise requests.exceptions.ConnectionError(f"Failed to resolve host of {url} (fake network: offline)")
        return FakeResponse(net.serve[url])

    monkeypatch.setattr(requests, "get", get)
    return net


@pytest.fixture
def no_mirror(monkeypatch):
    monkeypatch.delenv(datasets.MIRROR_ENV, raising=False)


def files_in(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture
def fake_dataset(monkeypatch):
    """A downloadable data set of a few bytes, registered under the name ``tiny``."""
    data = b'<?xml version="1.0"?>\n<osm version="0.6"></osm>\n'
    ds = datasets.Dataset(
        name="tiny",
        file="tiny.osm",
        folder="tinyland",
        sha256=sha(data),
        source="made by the test",
        licence="CC0",
        url="https://example.invalid/pinned/tiny.osm",
    )
    monkeypatch.setitem(datasets._DATASETS, "tiny", ds)
    return ds, data


# ------------------------------------------------------------------------------------------------ names


def test_available_and_packaged():
    assert datasets.available() == ["barcelona", "helsinki", "helsinki_population", "monaco"]
    assert {n for n in datasets.available() if datasets.info(n).packaged} == {"monaco", "helsinki"}
    for name in ("barcelona", "helsinki_population"):
        url = datasets.info(name).url
        # pinned: a full 40-hex commit in the URL
        assert url.startswith("https://") and any(len(p) == 40 and int(p, 16) >= 0 for p in url.split("/"))


def test_unknown_name():
    with pytest.raises(InvalidOptionError, match=r"no data set named 'paris'; choose one of \['barcelona'"):
        datasets.get_path("paris")


def test_packaged_files_have_their_hash_and_need_no_mirror(no_mirror, network):
    for name in ("monaco", "helsinki"):
        path = datasets.get_path(name)
        assert path.parent == datasets.data_dir() and path.name == datasets.info(name).file
        assert sha(path.read_bytes()) == datasets.info(name).sha256
    assert network.calls == []


@pytest.mark.skipif(not MANIFEST.exists(), reason="../shared/data/manifest.json absent (shared data folder)")
def test_pinned_hashes_are_the_manifests():
    manifest = {e["path"]: e for e in json.loads(MANIFEST.read_text())}
    for name in datasets.available():
        ds = datasets.info(name)
        assert manifest[f"{ds.folder}/{ds.file}"]["sha256"] == ds.sha256, name
    # Barcelona is downloaded as the upstream .osm: the manifest's .bz2 decompresses to it
    bcn = datasets.info("barcelona")
    raw = bz2.decompress((SHARED / bcn.folder / bcn.file).read_bytes())
    assert sha(raw) == bcn.url_sha256


# ------------------------------------------------------------------------------------------------ mirror


def test_mirror_hit_is_used_without_network(tmp_path, monkeypatch, fake_dataset, network, cache_folder):
    ds, data = fake_dataset
    (tmp_path / "m" / ds.folder).mkdir(parents=True)
    (tmp_path / "m" / ds.folder / ds.file).write_bytes(data)
    monkeypatch.setenv(datasets.MIRROR_ENV, str(tmp_path / "m"))
    assert datasets.get_path("tiny") == tmp_path / "m" / ds.folder / ds.file
    assert network.calls == [] and files_in(cache_folder) == []


def test_mirror_checksum_failure(tmp_path, monkeypatch, fake_dataset, network, cache_folder):
    ds, data = fake_dataset
    tampered = data.replace(b"0.6", b"0.7")
    path = tmp_path / "m" / ds.folder / ds.file
    path.parent.mkdir(parents=True)
    path.write_bytes(tampered)
    monkeypatch.setenv(datasets.MIRROR_ENV, str(tmp_path / "m"))
    with pytest.raises(CorruptFileError) as info:
        datasets.get_path("tiny")
    msg = str(info.value)
    assert str(path) in msg and f"SHA-256 {sha(tampered)}, expected {ds.sha256}" in msg
    assert "replace it with the original file" in msg and datasets.MIRROR_ENV in msg
    assert network.calls == [] and files_in(cache_folder) == []


@pytest.mark.requires_dataset("barcelona")
def test_tampered_barcelona_in_a_mirror(tmp_path, monkeypatch, barcelona, network, cache_folder):
    data = bytearray(barcelona.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy = tmp_path / "mirror" / "barcelona" / barcelona.name
    copy.parent.mkdir(parents=True)
    copy.write_bytes(bytes(data))
    monkeypatch.setenv(datasets.MIRROR_ENV, str(tmp_path / "mirror"))
    with pytest.raises(CorruptFileError, match=f"SHA-256 {sha(bytes(data))}, expected {sha(barcelona.read_bytes())}"):
        uk.load("barcelona")
    assert network.calls == [] and files_in(cache_folder) == []


def test_mirror_without_the_file_falls_back_to_download(tmp_path, monkeypatch, fake_dataset, network, cache_folder):
    ds, data = fake_dataset
    (tmp_path / "m").mkdir()
    monkeypatch.setenv(datasets.MIRROR_ENV, str(tmp_path / "m"))
    network.serve[ds.url] = data
    path = datasets.get_path("tiny")
    assert path == cache_folder / "datasets" / ds.file and path.read_bytes() == data


# ------------------------------------------------------------------------------------------------ download


def test_offline_without_mirror_says_what_to_do(no_mirror, fake_dataset, network, cache_folder):
    ds, _ = fake_dataset
    with pytest.raises(OnlineFetchError) as info:
        datasets.get_path("tiny")
    msg = str(info.value)
    assert "URBANKIT_DATA_MIRROR is not set" in msg and "ConnectionError" in msg
    assert f"Connect to the internet to download it from {ds.url}" in msg
    assert f"set URBANKIT_DATA_MIRROR to a folder holding tinyland/tiny.osm (SHA-256 {ds.sha256})" in msg
    assert network.calls == [ds.url] and files_in(cache_folder) == []


def test_download_false_never_asks_the_network(no_mirror, fake_dataset, network, cache_folder):
    with pytest.raises(OnlineFetchError, match=r"download=False"):
        datasets.get_path("tiny", download=False)
    assert network.calls == []


def test_download_is_cached_and_reused(no_mirror, fake_dataset, network, cache_folder):
    ds, data = fake_dataset
    network.serve[ds.url] = data
    path = datasets.get_path("tiny")
    assert path == cache_folder / "datasets" / "tiny.osm" and path.read_bytes() == data
    del network.serve[ds.url]  # offline now: the cached copy is enough
    assert datasets.get_path("tiny") == path and datasets.get_path("tiny", download=False) == path
    assert network.calls == [ds.url]
    assert files_in(cache_folder) == ["datasets/tiny.osm"]


def test_download_checksum_failure_caches_nothing(no_mirror, fake_dataset, network, cache_folder):
    ds, data = fake_dataset
    network.serve[ds.url] = data + b"<!-- changed upstream -->"
    with pytest.raises(CorruptFileError) as info:
        datasets.get_path("tiny")
    msg = str(info.value)
    assert f"downloaded from {ds.url} has SHA-256 {sha(network.serve[ds.url])}, expected {ds.sha256}" in msg
    assert "nothing was cached" in msg and datasets.MIRROR_ENV in msg
    assert files_in(cache_folder) == []


def test_corrupt_cached_copy_is_fetched_again(no_mirror, fake_dataset, network, cache_folder, caplog):
    ds, data = fake_dataset
    (cache_folder / "datasets").mkdir()
    (cache_folder / "datasets" / ds.file).write_bytes(b"truncat")
    network.serve[ds.url] = data
    with caplog.at_level("WARNING", logger="urbankit.datasets"):
        path = datasets.get_path("tiny")
    assert path.read_bytes() == data and network.calls == [ds.url]
    assert "does not have its SHA-256" in caplog.text


@pytest.mark.requires_dataset("barcelona")
def test_barcelona_download_reproduces_the_mirror_bytes(barcelona, network, cache_folder, monkeypatch):
    """The upstream .osm is downloaded, checked and stored bz2-compressed: the same bytes as the mirror's copy."""
    monkeypatch.delenv(datasets.MIRROR_ENV)
    ds = datasets.info("barcelona")
    network.serve[ds.url] = bz2.decompress(barcelona.read_bytes())
    path = datasets.get_path("barcelona")
    assert path == cache_folder / "datasets" / "eixample_nova_esquerra_2012.osm.bz2"
    assert path.read_bytes() == barcelona.read_bytes()
    assert files_in(cache_folder) == ["datasets/eixample_nova_esquerra_2012.osm.bz2"]  # the .osm is not kept
    network.serve.clear()
    extract = uk.load("barcelona")  # from the cache, offline
    assert extract.sha256 == sha(barcelona.read_bytes()) and len(extract.ways) > 0


@pytest.mark.requires_dataset("barcelona")
def test_barcelona_download_with_another_bz2_keeps_the_checked_osm(barcelona, network, cache_folder, monkeypatch):
    monkeypatch.delenv(datasets.MIRROR_ENV)
    ds = datasets.info("barcelona")
    raw = bz2.decompress(barcelona.read_bytes())
    network.serve[ds.url] = raw
    compress = bz2.compress
    monkeypatch.setattr(bz2, "compress", lambda data, level: compress(data, 1))  # as another libbzip2 might
    path = datasets.get_path("barcelona")
    assert path == cache_folder / "datasets" / "eixample_nova_esquerra_2012.osm" and path.read_bytes() == raw
    network.serve.clear()
    assert datasets.get_path("barcelona", download=False) == path


@pytest.mark.requires_dataset("helsinki_population")
def test_population_grid_download_and_name(helsinki_population, network, cache_folder, monkeypatch):
    monkeypatch.delenv(datasets.MIRROR_ENV)
    ds = datasets.info("helsinki_population")
    network.serve[ds.url] = helsinki_population.read_bytes()
    path = datasets.get_path("helsinki_population")
    assert path == cache_folder / "datasets" / ds.file and path.read_bytes() == helsinki_population.read_bytes()
    # a data set name is accepted wherever a population grid file is
    by_name = uk.read_population_grid("helsinki_population")
    by_path = uk.read_population_grid(shutil.copy(path, cache_folder / "copy.gpkg"))
    assert by_name.population.sum() == by_path.population.sum() == 71_724
    assert by_name.attrs["source"] == ds.file


# ------------------------------------------------------------------------------------------------ packaging


def test_wheel_ships_packaged_data_and_notebooks():
    """What `pip wheel .` puts in the package (checked by hand with a throwaway venv): pyproject's package-data
    globs must cover the packaged extracts and every report notebook, found through the package itself."""
    import fnmatch
    import tomllib
    from importlib import resources
    from pathlib import Path

    from urbankit.reporting.parameters import NOTEBOOK_DIR, resolve_notebook

    root = Path(__file__).resolve().parents[1]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["urbankit"]
    package = Path(str(resources.files("urbankit")))
    for name in datasets.available():
        ds = datasets.info(name)
        shipped = any(fnmatch.fnmatch(f"data/{ds.file}", g) for g in globs)
        assert shipped == ds.packaged, name
        assert (package / "data" / ds.file).is_file() == ds.packaged, name  # never a copy of a downloadable one
    notebooks = sorted(p.name for p in (root / "notebooks").glob("*.ipynb"))
    assert notebooks and sorted(p.name for p in (package / "notebooks").glob("*.ipynb")) == notebooks
    assert all(any(fnmatch.fnmatch(f"notebooks/{n}", g) for g in globs) for n in notebooks)
    assert NOTEBOOK_DIR == (package / "notebooks").resolve()
    assert resolve_notebook("accessibility") == NOTEBOOK_DIR / "accessibility.ipynb"
