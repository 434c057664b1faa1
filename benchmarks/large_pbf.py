"""Write a large synthetic OSM PBF (a city of streets, buildings and shops) for load benchmarks.

Usage: ``python benchmarks/large_pbf.py OUT.osm.pbf [--blocks N]``. A square grid of ``N x N``
blocks of ~110 m (4 street nodes per block side, a secondary street every third line): every block
holds a ring of 24 small apartment buildings (closed ways of 4 nodes with ``building:levels``) and
one shop node. Coordinates are jittered so the file compresses like real data rather than a perfect
lattice. The file is sorted (nodes, then ways, by id), like a real extract.

Size and content: ``N²`` blocks give ``24 N²`` buildings and ``~113 N²`` nodes, about 410 bytes of
PBF per block: ~4 MB at ``--blocks 100``, ~37 MB at 300, ~100 MB at 490. Buildings are far denser
per byte than in real extracts (~17 bytes of PBF per building here; 60 to 1,600 in the OpenStreetMap
extracts of the test data, where addresses, metadata and other features share the file), so this is a
hard case for memory.

Memory stays small while writing: building ways are generated again in a second pass instead of
being kept (node ids and levels are recomputed from the block's position and a per-row seed).
"""

from __future__ import annotations

import argparse

import numpy as np
import osmium
from osmium.osm import mutable

STEP_LAT, STEP_LON = 0.0010, 0.0013  # ~110 m blocks near 45 deg N
PER_SIDE = 4  # street nodes per block side
HOUSES = 24  # buildings per block
NODES_PER_BLOCK = HOUSES * 4 + 1  # 4 corners per building, one shop


def _house_centres() -> tuple[np.ndarray, np.ndarray]:
    a = 2 * np.pi * np.arange(HOUSES) / HOUSES
    return STEP_LAT * (0.5 + 0.35 * np.sin(a)), STEP_LON * (0.5 + 0.35 * np.cos(a))


def write(path: str, blocks: int, *, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n = blocks * PER_SIDE + 1
    writer = osmium.SimpleWriter(path)
    try:
        # street grid nodes, ids 1..n*n (row-major)
        for r in range(n):
            lon = 7.0 + np.arange(n) * STEP_LON / PER_SIDE + rng.normal(0, 2e-6, n)
            lat = 45.0 + r * STEP_LAT / PER_SIDE + rng.normal(0, 2e-6, n)
            base = 1 + r * n
            for c, (x, y) in enumerate(zip(lon.tolist(), lat.tolist())):
                writer.add_node(mutable.Node(id=base + c, location=(x, y)))
        # building corners and shop of every block, block after block
        cy, cx = _house_centres()
        dy = np.array([0, 0, 1, 1]) * 0.00009
        dx = np.array([0, 1, 1, 0]) * 0.00012
        nid = n * n + 1
        for br in range(blocks):
            lat0 = 45.0 + br * STEP_LAT + cy[None, :, None] + dy[None, None, :]  # (1, house, corner)
            lon0 = 7.0 + np.arange(blocks)[:, None, None] * STEP_LON + cx[None, :, None] + dx[None, None, :]
            lat = np.broadcast_to(lat0, lon0.shape) + rng.normal(0, 1e-6, lon0.shape)
            lon = lon0 + rng.normal(0, 1e-6, lon0.shape)
            lon, lat = lon.reshape(blocks, -1).tolist(), lat.reshape(blocks, -1).tolist()
            for bc in range(blocks):
                for x, y in zip(lon[bc], lat[bc]):
                    writer.add_node(mutable.Node(id=nid, location=(x, y)))
                    nid += 1
                shop = (7.0 + bc * STEP_LON + STEP_LON * 0.5, 45.0 + br * STEP_LAT + STEP_LAT * 0.5)
                writer.add_node(
                    mutable.Node(id=nid, location=shop, tags={"shop": "convenience", "name": f"Shop {br}-{bc}"})
                )
                nid += 1
        # streets: one way per grid line
        wid = 1
        for r in range(0, n, PER_SIDE):
            nodes = list(range(1 + r * n, 1 + (r + 1) * n))
            tags = {
                "highway": "secondary" if r % (3 * PER_SIDE) == 0 else "residential",
                "name": f"Street {r}",
                "maxspeed": "50",
            }
            writer.add_way(mutable.Way(id=wid, nodes=nodes, tags=tags))
            wid += 1
        for c in range(0, n, PER_SIDE):
            nodes = list(range(1 + c, 1 + n * n, n))
            tags = {"highway": "secondary" if c % (3 * PER_SIDE) == 0 else "residential", "name": f"Avenue {c}"}
            writer.add_way(mutable.Way(id=wid, nodes=nodes, tags=tags))
            wid += 1
        # buildings, regenerated block after block in node order
        first = n * n + 1
        for br in range(blocks):
            levels = np.random.default_rng([seed, br]).integers(2, 9, size=(blocks, HOUSES)).astype(str).tolist()
            for bc in range(blocks):
                start = first + (br * blocks + bc) * NODES_PER_BLOCK
                for k in range(HOUSES):
                    ids = list(range(start + 4 * k, start + 4 * k + 4))
                    tags = {"building": "apartments", "building:levels": levels[bc][k]}
                    writer.add_way(mutable.Way(id=wid, nodes=ids + ids[:1], tags=tags))
                    wid += 1
    finally:
        writer.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--blocks", type=int, default=490, help="blocks per side (default 490: ~100 MB)")
    a = p.parse_args()
    write(a.out, a.blocks)
