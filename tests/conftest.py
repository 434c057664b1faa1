"""Shared fixtures: data paths, an isolated cache folder, and a slow, obviously-correct OSM reader.

The reference reader below is deliberately naive (plain Python loops over pyosmium objects, no
urbankit code): tests compare urbankit's fast, vectorised results against it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import urbankit

#: the extracts packaged with urbankit (urbankit/data)
DATA = urbankit.datasets.data_dir()
SHARED = Path(__file__).parents[1] / ".." / "shared" / "data"
FIXTURES = SHARED / "fixtures"
ADLISWIL = SHARED / "superblockify" / "Adliswil.graphml"

SHARED_MISSING = (
    "{} absent: tests that read ../shared/data need the steering repo's shared folder beside the checkout"
)
DATASET_MISSING = (
    "data set {!r} absent: tests never download, and neither the mirror ({}) nor the cache has it; put the "
    "shared data folder beside the checkout (../shared/data) or set " + urbankit.datasets.MIRROR_ENV
)

# The downloadable data sets (barcelona, helsinki_population) come from ../shared/data, which is laid out as
# urbankit's mirror: set for the whole session (and the notebook kernels and CLI processes tests start)
# before anything resolves a data set. An explicit URBANKIT_DATA_MIRROR wins.
if SHARED.is_dir():
    os.environ.setdefault(urbankit.datasets.MIRROR_ENV, str(SHARED.resolve()))

#: every OSM file the tests run on: id -> path, or the name of a downloadable data set (see `existing`)
OSM_FILES = {
    "monaco": urbankit.datasets.get_path("monaco"),
    "helsinki": urbankit.datasets.get_path("helsinki"),
    "barcelona": "barcelona",
    "west_oakland": FIXTURES / "west_oakland.osm.bz2",
    "pyrosm_test": FIXTURES / "pyrosm_test.osm.pbf",
    "singapore": FIXTURES / "singapore_bayfront.osm.pbf",
}
SHARED_FILES = ("west_oakland", "pyrosm_test", "singapore")


def dataset(name: str) -> Path:
    """``urbankit.datasets.get_path(name)`` from the mirror or the cache, never downloaded: skip the
    test when neither has it."""
    try:
        return urbankit.datasets.get_path(name, download=False)
    except urbankit.OnlineFetchError:
        pytest.skip(DATASET_MISSING.format(name, urbankit.datasets.mirror_dir()))


def existing(path: Path | str) -> Path:
    """``path`` if it exists, else skip the test (shared files may be absent); a string is the name of a
    data set, resolved with :func:`dataset`."""
    if isinstance(path, str):
        return dataset(path)
    if not path.exists():
        pytest.skip(SHARED_MISSING.format(path))
    return path


@pytest.fixture(autouse=True)
def _required_datasets(request, _isolated_cache):
    """Skip a test marked ``requires_dataset(...)`` whose data sets are neither in the mirror nor the cache."""
    for marker in request.node.iter_markers("requires_dataset"):
        for name in marker.args:
            dataset(name)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never write to ~/.cache: every test gets its own cache folder."""
    folder = tmp_path_factory.mktemp("urbankit-cache")
    monkeypatch.setattr(urbankit.settings, "cache_folder", folder)
    monkeypatch.setattr(urbankit.settings, "use_cache", True)
    return folder


@pytest.fixture
def cache_folder(_isolated_cache) -> Path:
    return _isolated_cache


@pytest.fixture(params=list(OSM_FILES))
def osm_path(request) -> Path:
    """Each OSM file in turn (shared fixtures skipped when absent)."""
    return existing(OSM_FILES[request.param])


@pytest.fixture(params=list(SHARED_FILES))
def fixture_path(request) -> Path:
    """Each file of ../shared/data/fixtures in turn."""
    return existing(OSM_FILES[request.param])


@pytest.fixture
def adliswil() -> Path:
    return existing(ADLISWIL)


@pytest.fixture
def monaco() -> Path:
    return urbankit.datasets.get_path("monaco")


@pytest.fixture
def helsinki() -> Path:
    return urbankit.datasets.get_path("helsinki")


@pytest.fixture
def barcelona() -> Path:
    """The Barcelona extract (a downloadable data set: skipped when not in the mirror or cache)."""
    return dataset("barcelona")


@pytest.fixture
def helsinki_population() -> Path:
    """The HSY population grid (a downloadable data set: skipped when not in the mirror or cache)."""
    return dataset("helsinki_population")


# ------------------------------------------------------------------------------------------------
# urbankit reads, shared across tests (reading is deterministic; tests must not mutate them)

_EXTRACTS: dict[Path, urbankit.OSMExtract] = {}


@pytest.fixture
def read_extract():
    """``read_extract(path)``: ``urbankit.read_osm(path)``, read once per session."""

    def read(path: Path) -> urbankit.OSMExtract:
        path = Path(path)
        if path not in _EXTRACTS:
            _EXTRACTS[path] = urbankit.read_osm(path)
        return _EXTRACTS[path]

    return read


# ------------------------------------------------------------------------------------------------
# reference reader


@dataclass
class RefWay:
    id: int
    tags: dict
    #: contiguous runs of (node_id, lon, lat) with a location, each of at least 2 nodes
    runs: list = field(default_factory=list)


@dataclass
class RefOSM:
    ways: list  # of RefWay: highway ways urbankit treats as streets
    missing_refs: int  # node refs of those ways without a location in the file


def _is_street(tags: dict) -> bool:
    # the outline of a highway area is a street only for pedestrian areas (ingest.py)
    if "highway" not in tags:
        return False
    return tags.get("area") != "yes" or tags["highway"] == "pedestrian"


_REFS: dict[Path, RefOSM] = {}


def reference_read(path: Path) -> RefOSM:
    """Street ways of an OSM file, read with plain pyosmium iteration (no urbankit code)."""
    import osmium

    path = Path(path)
    if path in _REFS:
        return _REFS[path]
    ways, missing = [], 0
    for obj in osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations():
        if not obj.is_way():
            continue
        tags = dict(obj.tags)
        if not _is_street(tags):
            continue
        way = RefWay(obj.id, tags)
        run = []
        for nref in obj.nodes:
            if nref.location.valid():
                run.append((nref.ref, nref.location.lon, nref.location.lat))
            else:
                missing += 1
                if len(run) >= 2:
                    way.runs.append(run)
                run = []
        if len(run) >= 2:
            way.runs.append(run)
        ways.append(way)
    _REFS[path] = RefOSM(ways, missing)
    return _REFS[path]


@pytest.fixture
def ref_read():
    """``ref_read(path)``: the reference reader (cached per session)."""
    return reference_read


def osm_xml(nodes: dict, ways: dict) -> str:
    """OSM XML of nodes {id: (lon, lat, tags)} and ways {id: (node ids, tags)}."""

    def tag_xml(tags):
        return "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())

    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="urbankit-tests">']
    for i, (lon, lat, tags) in sorted(nodes.items()):
        out.append(f'<node id="{i}" version="1" lat="{lat:.7f}" lon="{lon:.7f}">{tag_xml(tags)}</node>')
    for i, (refs, tags) in sorted(ways.items()):
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        out.append(f'<way id="{i}" version="1">{nds}{tag_xml(tags)}</way>')
    out.append("</osm>")
    return "\n".join(out)


@pytest.fixture(autouse=True)
def _urbankit_loggers_enabled():
    """Keep urbankit's loggers enabled: libraries that configure logging with dictConfig (dask's
    distributed, for one) disable every logger that existed before, which would hide the warnings
    the tests assert on."""
    import logging

    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("urbankit") and isinstance(logger, logging.Logger):
            logger.disabled = False
    yield


@pytest.fixture(scope="session")
def monaco_walk_accessibility():
    """Monaco, walk, residents from OSM buildings (most nodes have none), every service: shared by
    the tests of aggregation, maps and plots (urbankit functions never mutate their inputs)."""
    from urbankit.accessibility import compute_accessibility

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(urbankit.settings, "progress", False)
        area = urbankit.load("monaco")
        net = urbankit.build_network(area, "walk", cache=False)
        pop = urbankit.population_per_node(net.nodes, buildings=area.buildings)
        yield compute_accessibility(net, urbankit.find_destinations(area), population=pop)
