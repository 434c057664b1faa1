"""Shared fixtures: data paths, an isolated cache folder, and a slow, obviously-correct OSM reader.

The reference reader below is deliberately naive (plain Python loops over pyosmium objects, no
urbankit code): tests compare urbankit's fast, vectorised results against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

import urbankit

DATA = Path(__file__).parents[1] / "data"
SHARED = Path(__file__).parents[1] / ".." / "shared" / "data"
FIXTURES = SHARED / "fixtures"
ADLISWIL = SHARED / "superblockify" / "Adliswil.graphml"

SHARED_MISSING = (
    "{} absent: tests that read ../shared/data need the steering repo's shared folder beside the checkout"
)

#: every OSM file the tests run on: (id, path)
OSM_FILES = {
    "monaco": DATA / "monaco_2023-12-26.osm.pbf",
    "helsinki": DATA / "helsinki_center.osm.pbf",
    "barcelona": DATA / "eixample_nova_esquerra_2012.osm.bz2",
    "west_oakland": FIXTURES / "west_oakland.osm.bz2",
    "pyrosm_test": FIXTURES / "pyrosm_test.osm.pbf",
    "singapore": FIXTURES / "singapore_bayfront.osm.pbf",
}
SHARED_FILES = ("west_oakland", "pyrosm_test", "singapore")


def existing(path: Path) -> Path:
    """``path`` if it exists, else skip the test (shared files may be absent)."""
    if not path.exists():
        pytest.skip(SHARED_MISSING.format(path))
    return path


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
    return DATA / "monaco_2023-12-26.osm.pbf"


@pytest.fixture
def helsinki() -> Path:
    return DATA / "helsinki_center.osm.pbf"


@pytest.fixture
def barcelona() -> Path:
    return DATA / "eixample_nova_esquerra_2012.osm.bz2"


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
    from urbankit.accessibility import accessibility

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(urbankit.settings, "progress", False)
        area = urbankit.load("monaco")
        net = urbankit.build_network(area, "walk", cache=False)
        pop = urbankit.population_per_node(net.nodes, buildings=area.buildings)
        yield accessibility(net, urbankit.destinations(area), population=pop)
