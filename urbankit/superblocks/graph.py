"""graph part of :mod:`urbankit.superblocks`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from ..network import StreetNetwork
from ._common import _HOP


@dataclass
class _Graph:
    """A routing graph (before: the network; after: the layered graph of the module docstring)."""

    csr: csr_matrix
    n: int  # original nodes: positions 0..n-1 (layer L2)
    arc_edge: np.ndarray  # edge row of each arc (-1: layer transition)
    arc_len: np.ndarray  # metres of each arc
    node_sb: np.ndarray  # superblock each node is inside (-1: none)
    l1_keys: np.ndarray  # sorted superblock * n + node of the L1 copies
    l3_keys: np.ndarray

    @property
    def n_exp(self) -> int:
        return self.csr.shape[0]

    def _copy(self, keys: np.ndarray, first: int, pos: np.ndarray, sb: np.ndarray) -> np.ndarray:
        if len(keys) == 0:
            return np.full(len(pos), -1, dtype=np.int64)
        key = sb.astype(np.int64) * self.n + pos
        i = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
        return np.where((sb >= 0) & (keys[i] == key), first + i, -1)

    def l1(self, pos, sb):
        return self._copy(self.l1_keys, self.n, pos, sb)

    def l3(self, pos, sb):
        return self._copy(self.l3_keys, self.n + len(self.l1_keys), pos, sb)

    def starts(self, o: np.ndarray) -> np.ndarray:
        """Start node of trips from node positions ``o``: L1(o, A) inside superblock A, else L2(o)."""
        a = self.node_sb[o]
        c = self.l1(o, a)
        return np.where(a >= 0, c, o)

    def ends(self, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """End nodes of trips o -> d: L3(d, B) (or L2(d) outside superblocks), and L1(d, A) when A == B."""
        a, b = self.node_sb[o], self.node_sb[d]
        t1 = np.where(b >= 0, self.l3(d, b), d)
        t2 = np.where((a >= 0) & (a == b), self.l1(d, a), -1)
        return t1, t2


def _arcs(network: StreetNetwork):
    """Directed arcs (u position, v position, edge row) of a network (undirected edges give two)."""
    nodes = network.nodes.index
    e = network.edges
    u = nodes.get_indexer(e["u"].to_numpy())
    v = nodes.get_indexer(e["v"].to_numpy())
    rows = np.arange(len(e))
    if not network.directed:
        u, v, rows = np.r_[u, v], np.r_[v, u], np.r_[rows, rows]
    ok = (u >= 0) & (v >= 0) & (u != v)
    return u[ok].astype(np.int64), v[ok].astype(np.int64), rows[ok]


def _inside_nodes(network: StreetNetwork, labels: np.ndarray, arcs=None):
    """Superblock each node is inside (-1: none), the (superblock * n + node) membership pairs, and
    whether each pair is a perimeter pair (the node also touches streets not internal to that superblock)."""
    u, v, rows = arcs if arcs is not None else _arcs(network)
    n = len(network.nodes)
    lab = labels[rows]
    ends = np.r_[u, v]
    elab = np.r_[lab, lab]
    has_s = np.zeros(n, bool)
    has_s[ends[elab < 0]] = True
    m = elab >= 0
    pair, cnt = np.unique(elab[m].astype(np.int64) * n + ends[m], return_counts=True)
    p_sb, p_pos = pair // n, pair % n
    order = np.lexsort((p_sb, -cnt, p_pos))
    first = np.ones(len(order), bool)
    first[1:] = p_pos[order][1:] != p_pos[order][:-1]
    node_sb = np.full(n, -1, dtype=np.int64)
    node_sb[p_pos[order][first]] = p_sb[order][first]
    node_sb[has_s] = -1
    # perimeter pair: the node touches S or the internal streets of another superblock
    mixed = has_s | (np.bincount(p_pos, minlength=n) > 1)
    return node_sb, pair, mixed[p_pos]


def _after_graph(network: StreetNetwork, sc, o: np.ndarray, d: np.ndarray) -> tuple[_Graph, np.ndarray, np.ndarray]:
    """The restricted graph of a scenario, with L1/L3 copies only of the superblocks that hold an
    origin (``o``) or a destination (``d``, node positions); also the superblock of every origin and
    destination (-1: none)."""
    node_sb, _, _ = _inside_nodes(network, sc.labels)
    a_sb, b_sb = node_sb[o], node_sb[d]
    graph = _build_graph(
        network, sc.steps_after, ~sc.closed, sc.labels, np.unique(a_sb[a_sb >= 0]), np.unique(b_sb[b_sb >= 0])
    )
    return graph, a_sb, b_sb


def _build_graph(
    network: StreetNetwork,
    steps: np.ndarray,
    usable: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    l1_sbs=(),
    l3_sbs=(),
) -> _Graph:
    """The routing graph: edge rows with ``usable`` on L2 when unlabelled, internal rows copied into
    L1 (superblocks ``l1_sbs``) and L3 (``l3_sbs``); arc weights ``steps + _HOP``. Without ``usable``
    and ``labels``: every edge, no superblock (the unrestricted graph)."""
    if usable is None:
        usable = np.ones(len(steps), bool)
    if labels is None:
        labels = np.full(len(steps), -1, dtype=np.int64)
    arcs = _arcs(network)
    u, v, rows = arcs
    n = len(network.nodes)
    lab = labels[rows]
    node_sb, pair, perim = _inside_nodes(network, labels, arcs)
    p_sb = pair // n
    l1_keys = pair[np.isin(p_sb, np.asarray(list(l1_sbs), dtype=np.int64))]
    l3_keys = pair[np.isin(p_sb, np.asarray(list(l3_sbs), dtype=np.int64))]
    f1, f3 = n, n + len(l1_keys)
    n_exp = f3 + len(l3_keys)
    w = steps[rows].astype(float) + _HOP
    use = usable[rows]
    srcs, dsts, ws, eds = [], [], [], []

    def add(src_, dst_, w_, edge_):
        srcs.append(src_)
        dsts.append(dst_)
        ws.append(w_)
        eds.append(edge_)

    s = use & (lab < 0)
    add(u[s], v[s], w[s], rows[s])  # L2: the unrestricted network S
    inn = np.flatnonzero(use & (lab >= 0))
    for keys, first in ((l1_keys, f1), (l3_keys, f3)):  # L1 and L3: copies of internal streets
        if len(keys) == 0 or len(inn) == 0:
            continue
        ku = lab[inn].astype(np.int64) * n + u[inn]
        kv = lab[inn].astype(np.int64) * n + v[inn]
        iu = np.minimum(np.searchsorted(keys, ku), len(keys) - 1)
        iv = np.minimum(np.searchsorted(keys, kv), len(keys) - 1)
        ok = (keys[iu] == ku) & (keys[iv] == kv)
        add(first + iu[ok], first + iv[ok], w[inn][ok], rows[inn][ok])
    for keys, first, out in ((l1_keys, f1, True), (l3_keys, f3, False)):  # transitions at perimeter nodes
        if len(keys) == 0:
            continue
        kp = keys % n
        isp = perim[np.searchsorted(pair, keys)]
        idx = first + np.flatnonzero(isp)
        if out:  # L1(p, k) -> L2(p)
            add(idx, kp[isp], np.full(len(idx), _HOP), np.full(len(idx), -1))
        else:  # L2(p) -> L3(p, k)
            add(kp[isp], idx, np.full(len(idx), _HOP), np.full(len(idx), -1))
    src = np.concatenate(srcs).astype(np.int64)
    dst = np.concatenate(dsts).astype(np.int64)
    wt = np.concatenate(ws)
    ed = np.concatenate(eds).astype(np.int64)
    # parallel arcs: keep the fastest (scipy would add duplicate entries)
    order = np.lexsort((wt, dst, src))
    src, dst, wt, ed = src[order], dst[order], wt[order], ed[order]
    first = np.ones(len(src), bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    src, dst, wt, ed = src[first], dst[first], wt[first], ed[first]
    indptr = np.zeros(n_exp + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n_exp), out=indptr[1:])
    idx_dtype = np.int32 if n_exp < 2**31 - 1 and len(src) < 2**31 - 1 else np.int64
    csr = csr_matrix((wt, dst.astype(idx_dtype), indptr.astype(idx_dtype)), shape=(n_exp, n_exp))
    length = network.edges["length_m"].to_numpy(float)
    return _Graph(
        csr=csr,
        n=n,
        arc_edge=ed,
        arc_len=np.where(ed >= 0, length[np.maximum(ed, 0)], 0.0),
        node_sb=node_sb,
        l1_keys=l1_keys,
        l3_keys=l3_keys,
    )
