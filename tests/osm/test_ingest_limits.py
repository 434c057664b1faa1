"""Reading and network building stay bounded by the data actually used; GraphML files whose
coordinates cannot be right are refused (issue 10, items 7 and 8).

Memory is measured in a fresh subprocess (``resource.getrusage`` peak RSS, minus the peak after the
imports), so the figures are those of one read and build, not of the test session. Expected
networks are stated from the generated files and measured with pyproj, never copied from urbankit.
"""

from __future__ import annotations

import bz2
import json
import logging
import os
import subprocess
import sys
import textwrap

import networkx as nx
import numpy as np
import pytest
from pyproj import Geod, Transformer

import urbankit
from urbankit._errors import CorruptFileError, MemoryBudgetError, UrbankitError

#: the two nodes every hostile way runs between (id: lon, lat), ~136 m apart near Monaco
NODES = {1: (7.4200, 43.7300), 2: (7.4210, 43.7310)}

#: growth of the peak RSS allowed for reading and building the two-node networks (the old code took
#: 1.2 GB for a million references and 3.5 GB for three million)
MAX_GROWTH_MB = 300


def _distance_m(a: int, b: int) -> float:
    (lon1, lat1), (lon2, lat2) = NODES[a], NODES[b]
    return float(Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)[2])


def _write_way_file(path, refs_text: str, repeat: int) -> None:
    """A bz2 OSM file: the two nodes, and one residential way whose nodes are 1, 2 then ``refs_text`` x ``repeat``."""
    with bz2.open(path, "wt") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n')
        for i, (lon, lat) in NODES.items():
            f.write(f'<node id="{i}" lat="{lat}" lon="{lon}"/>\n')
        f.write('<way id="10">\n<nd ref="1"/>\n<nd ref="2"/>\n')
        block = refs_text * 10_000
        for _ in range(repeat // 10_000):
            f.write(block)
        f.write(refs_text * (repeat % 10_000))
        f.write('<tag k="highway" v="residential"/>\n</way>\n</osm>\n')


_MEASURE = textwrap.dedent(
    """
    import json, resource, sys, time
    import urbankit

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    base = peak_mb()
    cpu0 = time.process_time()
    ex = urbankit.read_osm(sys.argv[1])
    out = {"missing": ex.missing_node_refs, "way_nodes": len(ex.way_nodes), "networks": {}}
    for mode in sys.argv[2:]:
        net = urbankit.build_network(ex, mode, cache=False)
        e = net.edges
        out["networks"][mode] = {
            "nodes": sorted(int(n) for n in net.nodes.index),
            "edges": sorted([int(u), int(v), float(m)] for u, v, m in zip(e.u, e.v, e.length_m)),
        }
    out["growth_mb"] = peak_mb() - base
    out["cpu_s"] = time.process_time() - cpu0
    print(json.dumps(out))
    """
)


def _measure(path, *modes, tmp_path) -> dict:
    env = {"URBANKIT_CACHE": str(tmp_path / "cache"), "URBANKIT_PROGRESS": "0", "PATH": os.environ.get("PATH", "")}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), *modes],
        capture_output=True,
        text=True,
        timeout=600,  # a hang fails here
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_way_running_a_million_times_between_two_nodes_is_bounded(tmp_path):
    """1,000,002 references to two nodes (1, 2, 1, 2, ...: a 1.5 KB file) give the two-node networks
    in bounded memory: one walk edge, one drive edge each way."""
    path = tmp_path / "there_and_back.osm.bz2"
    _write_way_file(path, '<nd ref="1"/>\n<nd ref="2"/>\n', 500_000)
    assert path.stat().st_size < 10_000
    got = _measure(path, "walk", "drive", tmp_path=tmp_path)
    assert got["growth_mb"] < MAX_GROWTH_MB, got
    d = _distance_m(1, 2)
    assert got["missing"] == 0 and got["way_nodes"] == 1_000_002
    walk, drive = got["networks"]["walk"], got["networks"]["drive"]
    assert walk["nodes"] == drive["nodes"] == [1, 2]
    assert [e[:2] for e in walk["edges"]] == [[1, 2]]
    assert [e[:2] for e in drive["edges"]] == [[1, 2], [2, 1]]
    for _, _, length in walk["edges"] + drive["edges"]:
        assert length == pytest.approx(d, rel=2e-3)  # UTM scale error near the zone centre
    assert got["cpu_s"] < 120, got


@pytest.mark.slow
def test_way_with_three_million_missing_references_is_bounded(tmp_path):
    """3,000,002 references of which only the first two exist (4 KB of bz2): the way is kept for the
    nodes present, every missing reference is counted, and memory does not grow with them."""
    path = tmp_path / "mostly_missing.osm.bz2"
    _write_way_file(path, '<nd ref="3"/>\n', 3_000_000)
    assert path.stat().st_size < 10_000
    got = _measure(path, "walk", tmp_path=tmp_path)
    assert got["missing"] == 3_000_000 and got["way_nodes"] == 2
    assert got["networks"]["walk"]["nodes"] == [1, 2]
    [[u, v, length]] = got["networks"]["walk"]["edges"]
    assert (u, v) == (1, 2) and length == pytest.approx(_distance_m(1, 2), rel=2e-3)
    assert got["growth_mb"] < MAX_GROWTH_MB, got


# ------------------------------------------------------------------------------------------------
# ways cut at the extract edge (README: kept for the nodes present)


def _osm(path, nodes: dict, ways: dict) -> None:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    lines += [f'<node id="{i}" lat="{lat}" lon="{lon}"/>' for i, (lon, lat) in nodes.items()]
    for wid, (refs, tags) in ways.items():
        lines.append(f'<way id="{wid}">')
        lines += [f'<nd ref="{r}"/>' for r in refs]
        lines += [f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("</way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines))


def test_way_cut_at_missing_nodes_keeps_the_runs_present(tmp_path, caplog):
    nodes = {i: (3.0 + 0.001 * i, 0.01) for i in (1, 2, 3, 4, 5)}
    path = tmp_path / "clipped.osm"
    # 1, 2 | 99 missing | 3, 4 | 98, 97 missing | 5 (a run of one node: no street)
    _osm(path, nodes, {10: ([1, 2, 99, 3, 4, 98, 97, 5], {"highway": "residential", "name": "Edge Street"})})
    with caplog.at_level(logging.WARNING, logger="urbankit.osm"):
        ex = urbankit.read_osm(path)
    assert ex.missing_node_refs == 3
    assert "3 node references" in caplog.text and "clipped.osm" in caplog.text
    runs = [g.node_id.tolist() for _, g in ex.way_nodes.groupby("way", sort=True)]
    assert runs == [[1, 2], [3, 4]]
    assert ex.ways.way_id.tolist() == [10, 10] and ex.ways.name.tolist() == ["Edge Street"] * 2
    lon_of = {i: lon for i, (lon, _) in nodes.items()}
    assert ex.way_nodes.lon.tolist() == [lon_of[i] for i in (1, 2, 3, 4)]
    net = urbankit.build_network(ex, "walk", largest_component=False, cache=False)
    assert sorted(zip(net.edges.u, net.edges.v)) == [(1, 2), (3, 4)]
    assert sorted(net.nodes.index) == [1, 2, 3, 4]


def test_way_repeating_its_segments_builds_the_same_network_as_once(tmp_path):
    """A way running 1-2-3 and then back and forth over 2-3 is, for every mode, the network of 1-2-3
    plus the way back where it ran back (the repeats add no edge)."""
    nodes = {i: (3.0 + 0.001 * i, 0.01) for i in (1, 2, 3)}
    once, repeated = tmp_path / "once.osm", tmp_path / "repeated.osm"
    tags = {"highway": "residential"}
    _osm(once, nodes, {10: ([1, 2, 3], tags), 11: ([3, 2], {**tags, "oneway": "yes"})})
    _osm(
        repeated, nodes, {10: ([1, 2, 3, 2, 3, 2, 3, 2, 3], tags), 11: ([3, 2, 3, 2, 3, 2], {**tags, "oneway": "yes"})}
    )
    for mode in ("walk", "drive"):
        a = urbankit.build_network(urbankit.read_osm(once), mode, largest_component=False, cache=False)
        b = urbankit.build_network(urbankit.read_osm(repeated), mode, largest_component=False, cache=False)
        key = ["u", "v", "way_id", "oneway"]
        got = b.edges[key].assign(m=b.edges.length_m.round(3)).sort_values(key).reset_index(drop=True)
        want = a.edges[key].assign(m=a.edges.length_m.round(3)).sort_values(key).reset_index(drop=True)
        if mode == "drive":
            # two-way way 10: each direction of 1-2 and 2-3 once; one-way way 11 also runs 2->3 in
            # "repeated" (its nodes 3, 2, 3, ...), so that direction is legal there
            assert sorted(zip(want.u, want.v, want.way_id)) == [
                (1, 2, 10),
                (2, 1, 10),
                (2, 3, 10),
                (3, 2, 10),
                (3, 2, 11),
            ]
            assert sorted(zip(got.u, got.v, got.way_id)) == [
                (1, 2, 10),
                (2, 1, 10),
                (2, 3, 10),
                (2, 3, 11),
                (3, 2, 10),
                (3, 2, 11),
            ]
            metres = dict(zip(zip(want.u, want.v, want.way_id), want.m))
            for u, v, w, m in zip(got.u, got.v, got.way_id, got.m):
                assert m == metres.get((u, v, w), metres.get((v, u, w)))
        else:
            assert got.equals(want), (got, want)


# ------------------------------------------------------------------------------------------------
# the memory guard covers reading and network building


def _long_way_file(path, n_refs: int) -> None:
    _write_way_file(path, '<nd ref="1"/>\n<nd ref="2"/>\n', n_refs // 2)


def test_memory_budget_covers_reading(tmp_path, monkeypatch):
    path = tmp_path / "long_way.osm.bz2"
    _long_way_file(path, 200_000)
    monkeypatch.setattr(urbankit.settings, "memory_limit_gb", 0.002)  # 2 MB: 200,000 nodes do not fit
    with pytest.raises(UrbankitError) as info:
        urbankit.read_osm(path)
    err = info.value
    assert type(err) is MemoryBudgetError and isinstance(err, MemoryError)
    msg = str(err)
    assert str(path) in msg and "reading" in msg and "memory_limit_gb" in msg and "osmium extract" in msg
    assert "2.0 MB available" in msg
    monkeypatch.setattr(urbankit.settings, "memory_limit_gb", None)
    assert len(urbankit.read_osm(path).way_nodes) == 200_002


def test_memory_budget_covers_network_building(tmp_path, monkeypatch):
    nodes = {1 + r * 30 + c: (3.0 + 0.001 * c, 0.01 + 0.001 * r) for r in range(30) for c in range(30)}
    ways = {100 + r: ([1 + r * 30 + c for c in range(30)], {"highway": "residential"}) for r in range(30)}
    ways.update({200 + c: ([1 + r * 30 + c for r in range(30)], {"highway": "residential"}) for c in range(30)})
    path = tmp_path / "grid.osm"
    _osm(path, nodes, ways)
    ex = urbankit.read_osm(path)
    monkeypatch.setattr(urbankit.settings, "memory_limit_gb", 1e-5)  # 10 kB
    with pytest.raises(UrbankitError) as info:
        urbankit.build_network(ex, "walk", cache=False)
    err = info.value
    assert type(err) is MemoryBudgetError
    msg = str(err)
    assert "building the walk network of 'grid.osm'" in msg and "memory_limit_gb" in msg and "smaller extract" in msg
    monkeypatch.setattr(urbankit.settings, "memory_limit_gb", None)
    net = urbankit.build_network(ex, "walk", cache=False)
    assert len(net.nodes) == 900 and len(net.edges) == 2 * 30 * 29


# ------------------------------------------------------------------------------------------------
# GraphML whose coordinates cannot be right


def _graphml(path, *, crs="epsg:4326", xy=None, length_m=None) -> None:
    """A three-node osmnx-style GraphML: nodes 1, 2, 3 at ``xy``, two two-way residential edges."""
    import osmnx as ox

    xy = xy or {1: (7.420, 43.730), 2: (7.421, 43.731), 3: (7.422, 43.730)}
    g = nx.MultiDiGraph(crs=crs)
    for i, (x, y) in xy.items():
        g.add_node(i, x=x, y=y)
    for k, (u, v) in enumerate([(1, 2), (2, 3)]):
        length = length_m[k] if length_m else 100.0
        g.add_edge(u, v, osmid=10 + k, highway="residential", length=length)
        g.add_edge(v, u, osmid=10 + k, highway="residential", length=length)
    ox.save_graphml(g, path)


def _corrupt_graphml(path, *words) -> str:
    with pytest.raises(Exception) as info:
        urbankit.read_graphml(path)
    err = info.value
    assert type(err) is CorruptFileError, f"{type(err).__module__}.{type(err).__name__}: {err}"
    msg = str(err)
    assert str(path) in msg, msg
    for word in words:
        assert word in msg, msg
    return msg


@pytest.mark.parametrize("crs", ["not a crs at all", "", "epsg:999999", "+proj=nonsense"])
def test_graphml_with_garbage_crs(tmp_path, crs):
    path = tmp_path / "garbage_crs.graphml"
    _graphml(path, crs=crs)
    _corrupt_graphml(path, "not a usable coordinate reference system", "'crs' attribute", "epsg:4326")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_graphml_with_nan_coordinates(tmp_path, value):
    path = tmp_path / "nan_xy.graphml"
    _graphml(path, xy={1: (7.420, 43.730), 2: (value, 43.731), 3: (7.422, 43.730)})
    assert "nan" in path.read_text().lower() or "inf" in path.read_text().lower()
    _corrupt_graphml(path, "node 2", "NaN", "re-export")


def test_graphml_projected_coordinates_labelled_degrees(tmp_path):
    path = tmp_path / "utm_as_4326.graphml"
    utm = {1: (500000.0, 4840000.0), 2: (500100.0, 4840100.0), 3: (500200.0, 4840000.0)}
    _graphml(path, xy=utm)
    _corrupt_graphml(path, "outside longitude/latitude range", "look projected", "'crs' attribute")


def test_graphml_small_projected_coordinates_labelled_degrees(tmp_path):
    """Metres that happen to fall within degree ranges: the edges measure ~100,000 times their length."""
    path = tmp_path / "local_metres_as_4326.graphml"
    local = {1: (0.0, 0.0), 2: (60.0, 80.0), 3: (120.0, 0.0)}
    _graphml(path, xy=local, length_m=[100.0, 100.0])
    _corrupt_graphml(path, "'length' attribute", "not in that CRS", "'crs' attribute")


def test_graphml_in_a_projected_crs_reads_in_degrees(tmp_path):
    """The right projected CRS is accepted and converted (checked against pyproj directly)."""
    path = tmp_path / "utm.graphml"
    utm = {1: (500000.0, 4840000.0), 2: (500100.0, 4840100.0), 3: (500200.0, 4840000.0)}
    _graphml(path, crs="EPSG:32632", xy=utm, length_m=[100.0 * 2**0.5, 100.0 * 2**0.5])
    ex = urbankit.read_graphml(path)
    to_deg = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True)
    ends = ex.way_nodes.groupby("way").nth(0)
    for nid, lon, lat in zip(ends.node_id, ends.lon, ends.lat):
        want = to_deg.transform(*utm[int(nid)])
        assert (lon, lat) == pytest.approx(want, abs=1e-9)
    net = urbankit.build_network(ex, "walk", cache=False)
    assert sorted(net.edges.length_m.round(1)) == [141.4, 141.4]
    assert np.isfinite(net.nodes[["x", "y"]].to_numpy()).all()


def test_graph_without_file_with_garbage_crs_is_a_crs_error():
    """Graphs handed over in memory (superblockify compatibility) get the CRS error itself."""
    from urbankit._errors import CRSError
    from urbankit.osm import extract_from_graph

    g = nx.MultiDiGraph(crs="garbage")
    g.add_node(1, x=7.42, y=43.73)
    g.add_node(2, x=7.421, y=43.731)
    g.add_edge(1, 2, osmid=1, highway="residential", length=136.0)
    with pytest.raises(CRSError, match="'in memory'.*not a usable coordinate reference system"):
        extract_from_graph(g, source="in memory", sha256="")
