"""``auto`` detection: arterial cells far larger than a superblock subdivided on the grid inside them,
the isolated-cell check, and the ranking; expectations from the mock lattice written out here."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import shapely

import urbankit as uk
from urbankit.mock import grid_extract
from urbankit.superblocks import find_superblocks, label_edges
from urbankit.superblocks.detect import _unreachable_nodes

BLOCK = 113.0


def _demoted(nx_blocks: int, ny_blocks: int, columns: tuple, **kw):
    """A mock grid whose column lines ``columns`` are residential instead of arterial."""
    ex = grid_extract(nx_blocks, ny_blocks, **kw)
    ways = ex.ways.copy()
    demote = ways["name"].isin([f"Column {i}" for i in columns])
    ways.loc[demote, "highway"] = "residential"
    ways.loc[demote, "maxspeed"] = "30"
    return dataclasses.replace(ex, ways=ways, sha256=ex.sha256 + "-demoted" + "-".join(map(str, columns)))


def _boxes(net, cells):
    x0, y0 = net.nodes["x"].min(), net.nodes["y"].min()
    return [shapely.box(x0 + a * BLOCK, y0 + b * BLOCK, x0 + c * BLOCK, y0 + d * BLOCK) for a, b, c, d in cells]


def _same_cells(sb, boxes) -> bool:
    got = list(sb.geometry)
    if len(got) != len(boxes):
        return False
    return all(any(g.symmetric_difference(b).area < 1e-3 * b.area for g in got) for b in boxes)


def test_large_arterial_cell_subdivided_every_third_street():
    # arterials on columns 0, 9, 12, 15, 18 (3 and 6 demoted) and rows 0, 3: the west arterial cell is
    # 9 x 3 blocks (34.5 ha, under max_area_ha): auto cuts it at columns 3 and 6, as a 3 x 3 grid would
    net = uk.build_network(_demoted(18, 3, (3, 6)), "drive", cache=False)
    sb = find_superblocks(net)
    expected = _boxes(net, [(i, 0, i + 3, 3) for i in range(0, 18, 3)])
    assert _same_cells(sb, expected)
    assert sorted(sb["method"]) == ["arterial"] * 3 + ["grid"] * 3
    art = find_superblocks(net, method="arterial")  # the arterial method keeps the large cell
    assert len(art) == 4 and art["area_ha"].max() == pytest.approx(9 * 3 * BLOCK**2 / 1e4, rel=1e-6)


def test_arterial_ring_around_9x9_grid_gives_9_cells():
    net = uk.build_network(grid_extract(9, 9, arterial_every=9), "drive", cache=False)
    sb = find_superblocks(net)
    assert _same_cells(sb, _boxes(net, [(i, j, i + 3, j + 3) for i in (0, 3, 6) for j in (0, 3, 6)]))
    assert (sb["n_unreachable_nodes"] == 0).all()


def test_small_remainder_merged_not_a_sliver():
    # an arterial ring around 10 x 10 blocks: lines 3, 6 and 9 would leave 1-block strips along the
    # east and north sides (3.8 ha or less, under 0.4 of a 16 ha target cell); they are merged into
    # their neighbours: cells of 3 or 4 blocks a side (the strip falls on the west or east side,
    # both phases keep one arterial boundary line: the grid method's tie-break decides)
    net = uk.build_network(grid_extract(10, 10, arterial_every=10), "drive", cache=False)
    sb = find_superblocks(net, min_area_ha=None)
    x0, y0 = net.nodes["x"].min(), net.nodes["y"].min()
    sides = []
    for g in sb.geometry:
        b = np.array(g.bounds) - [x0, y0, x0, y0]
        w, h = (b[2] - b[0]) / BLOCK, (b[3] - b[1]) / BLOCK
        assert g.area == pytest.approx(w * h * BLOCK**2, rel=1e-6)  # a rectangle
        sides.append(tuple(sorted((round(w, 6), round(h, 6)))))
    assert sorted(sides) == sorted([(3, 3)] * 4 + [(3, 4)] * 4 + [(4, 4)])


def test_isolated_cell_check_by_hand():
    net = uk.build_network(grid_extract(3, 3), "drive", cache=False)
    x0, y0 = net.nodes["x"].min(), net.nodes["y"].min()
    ij = {
        n: (round((x - x0) / BLOCK), round((y - y0) / BLOCK))
        for n, x, y in zip(net.nodes.index, net.nodes["x"], net.nodes["y"])
    }
    ring = np.array(
        [
            (ij[u][0] == ij[v][0] and ij[u][0] in (0, 3)) or (ij[u][1] == ij[v][1] and ij[u][1] in (0, 3))
            for u, v in zip(net.edges["u"], net.edges["v"])
        ]
    )
    # the cross streets internal to cell 0; the ring streets internal to a cell 1: no through street left,
    # so no node can be reached: the 4 inner nodes inside cell 0, and the 12 ring nodes inside cell 1
    # (no through street at any of them; the 8 mid-side ones have 4 ring rows and 2 cross-street rows)
    labels = np.where(ring, 1, 0)
    assert _unreachable_nodes(net, labels, 2).tolist() == [4, 12]
    # with the ring as through streets, every inner node is reachable
    assert _unreachable_nodes(net, np.where(ring, -1, 0), 1).tolist() == [0]


def test_ranking_by_residents():
    net = uk.build_network(grid_extract(6, 3), "drive", cache=False)
    x = net.nodes["x"].to_numpy()
    pop = net.nodes["x"].copy() * 0.0
    pop[x > x.min() + 3.5 * BLOCK] = 10.0  # residents only in the east cell
    sb = find_superblocks(net, population=pop)
    east = int(np.argmax([g.centroid.x for g in sb.geometry]))
    assert sb["rank"].iloc[east] == 1 and sorted(sb["rank"]) == [1, 2]


def test_label_edges_of_subdivided_cells():
    net = uk.build_network(grid_extract(9, 9, arterial_every=9), "drive", cache=False)
    sb = find_superblocks(net)
    lab = label_edges(net, sb).fillna(-1).to_numpy()
    x0, y0 = net.nodes["x"].min(), net.nodes["y"].min()
    xy = zip(net.nodes.index, net.nodes["x"], net.nodes["y"])
    pos = {n: (round((x - x0) / BLOCK), round((y - y0) / BLOCK)) for n, x, y in xy}
    for (u, v), k in zip(zip(net.edges["u"], net.edges["v"]), lab):
        (iu, ju), (_, jv) = pos[u], pos[v]
        line = ju if ju == jv else iu
        assert (k < 0) == (line % 3 == 0)


def test_eixample_auto_cells_about_3x3_blocks(barcelona, read_extract):
    """Nova Esquerra de l'Eixample: auto cells of about 3 x 3 Cerda blocks (133 m axes: 16 ha)."""
    net = uk.build_network(read_extract(barcelona), "drive", cache=False)
    sb = find_superblocks(net)
    assert len(sb) >= 3
    assert sb["area_ha"].between(10, 25).all(), sb["area_ha"].tolist()
    assert (sb["n_unreachable_nodes"] == 0).all()


def test_open_isolated_by_hand():
    from urbankit.superblocks._common import _Segments
    from urbankit.superblocks.detect import _open_isolated

    net = uk.build_network(grid_extract(3, 3), "drive", cache=False)
    seg = _Segments.of(net)
    x0, y0 = net.nodes["x"].min(), net.nodes["y"].min()
    ij = {
        n: (round((x - x0) / BLOCK), round((y - y0) / BLOCK))
        for n, x, y in zip(net.nodes.index, net.nodes["x"], net.nodes["y"])
    }
    rows = seg.rows
    u, v = net.edges["u"].to_numpy()[rows], net.edges["v"].to_numpy()[rows]
    ring = np.array(
        [
            (ij[a][0] == ij[b][0] and ij[a][0] in (0, 3)) or (ij[a][1] == ij[b][1] and ij[a][1] in (0, 3))
            for a, b in zip(u, v)
        ]
    )
    # as in test_isolated_cell_check_by_hand: every node unreachable, so every street is opened
    info = {}
    opened = _open_isolated(net, seg, np.where(ring, 1, 0), 2, info)
    assert (opened == -1).all() and info == {"opened_streets": 24, "opened_cells": 2}
    # a cell that passes is left alone
    info = {}
    assert (_open_isolated(net, seg, np.where(ring, -1, 0), 1, info) == np.where(ring, -1, 0)).all()
    assert info == {}


def test_helsinki_one_way_cell_opened_not_dropped():
    net = uk.build_network(uk.load("helsinki"), "drive", cache=False)
    kept = find_superblocks(net, isolated="keep")
    assert kept["n_unreachable_nodes"].sum() > 0  # one-way streets trap nodes inside
    sb = find_superblocks(net)  # auto: open
    params = sb.attrs["urbankit_superblocks"]["params"]
    assert params["opened_streets"] > 0
    assert (sb["n_unreachable_nodes"] == 0).all()
    assert sb["n_internal_edges"].sum() < kept["n_internal_edges"].sum()
