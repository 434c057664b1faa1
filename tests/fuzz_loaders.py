"""Fuzz urbankit's OSM loaders with mutated files, for a bounded time (``make test-fuzz``).

Usage::

    python tests/fuzz_loaders.py [--seconds 120] [--seed 0] [--case N] [--timeout 30]

What it does
------------
A corpus of valid seed files is built first, deterministically: a small hand-written OSM XML area
(streets of several classes, a one-way street, a clipped way referencing an absent node, shops, a
building way and a building multipolygon), the same area as uncompressed and zlib PBF, bzip2 and
gzip XML, an osmnx GraphML of it, and the data sets and fixture files that are present (the extracts
packaged with urbankit, Barcelona from the data mirror or cache, ``../shared/data/fixtures/*``; the larger
ones are drawn less often). Every case then takes one seed and applies 1 to 4 mutations drawn from:

* byte level: flips (xor), truncation, insertion of random bytes or of tokens from a dictionary
  (``<node``, ``"``, ``&``, invalid UTF-8, ``nan``, ids beyond 64 bits, an entity-expansion DOCTYPE,
  ...), deletion, duplication and swapping of ranges;
* XML level (on the decompressed text of XML, bzip2, gzip and GraphML seeds, recompressed after):
  replacing an attribute value by a dictionary value, renaming or garbling an element name,
  removing a closing tag, duplicating or swapping lines.

Compressed seeds are mutated half the time in their compressed bytes, half the time in their text.

Each mutated file is written with its seed's suffix and given to a persistent worker process:
``read_osm`` (``read_graphml`` for ``.graphml``), then, when that succeeds, a validity check of the
:class:`~urbankit.OSMExtract` (columns, dtypes, way runs of at least two nodes, coordinates in range),
``build_network`` for walk, bike and drive (cache off) with a validity check of each network, and
``destinations``. An exception that is not a :class:`urbankit.UrbankitError`, a failed validity
check, a worker that dies (e.g. a segfault in a C extension) or a case running longer than
``--timeout`` seconds (a hang) is a **crash**. The worker runs under a 6 GiB address-space limit,
so an unbounded allocation shows as a MemoryError crash rather than taking the machine down.

Crashes are grouped by signature (exception type and innermost urbankit frame, or hang/death);
the first input of each *new* signature is written to ``tests/fuzz_crashes/`` as a recipe,
``<signature hash>-<seed name><suffix>.json`` (the seed file, its SHA-256 and the byte patches that turn it
into the input: see :func:`make_recipe`; third-party data never lands in the repository), with a ``.txt``
beside it (signature, traceback, how to reproduce); a signature already recorded there (a ``signature:``
line of a ``.txt``) is reported as known and not written again. Every recipe there is rebuilt with
:func:`rebuild` and replayed by ``tests/test_bad_input.py::test_fuzz_regressions`` (see
``tests/fuzz_crashes/README.md`` for turning a new one into a regression test).

Cases are deterministic: case ``i`` of ``--seed S`` always produces the same file, so
``--seed S --case i`` replays one case. The run stops starting cases after ``--seconds``; the exit
status is 1 when a NEW crash was found (known ones are already regression tests), else 0. A summary
(cases per seed, outcomes by error class, crashes) is printed at the end.
"""

from __future__ import annotations

import argparse
import bz2
import collections
import difflib
import gzip
import hashlib
import json
import multiprocessing as mp
import os
import random
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CRASH_DIR = HERE / "fuzz_crashes"

SHARED = REPO.parent / "shared" / "data"

#: data sets and shared files used as seeds when present: source -> weight (larger files: rarer). A source is
#: ``("dataset", name)`` (urbankit.datasets, never downloaded here) or ``("shared", path in ../shared/data)``
FILE_SEEDS = {
    ("dataset", "monaco"): 1,
    ("dataset", "helsinki"): 1,
    ("dataset", "barcelona"): 2,
    ("shared", "fixtures/west_oakland.osm.bz2"): 4,
    ("shared", "fixtures/pyrosm_test.osm.pbf"): 2,
    ("shared", "fixtures/singapore_bayfront.osm.pbf"): 3,
}
SYNTHETIC_WEIGHT = 8

DICTIONARY = [
    b"<node",
    b"<way",
    b"<relation",
    b"<nd ref=",
    b"<tag k=",
    b"<member type=",
    b"</osm>",
    b"</way>",
    b"/>",
    b">",
    b"<",
    b'"',
    b"'",
    b"&",
    b"&amp;",
    b"&#0;",
    b"\x00",
    b"\xff\xfe",
    b"\xc3\x28",
    b"\xe9",
    b"nan",
    b"inf",
    b"-1",
    b"0",
    b"1e400",
    b"99999999999999999999",
    b"-9223372036854775808",
    b"9223372036854775807",
    b"180.0000001",
    b"-91",
    b"<![CDATA[x]]>",
    b"<!-- x -->",
    b'<?xml version="1.0"?>',
    b'<!DOCTYPE osm [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    b"highway",
    b"building",
    b"oneway",
    b"multipolygon",
    b"outer",
    b"inner",
]
ATTR_VALUES = [
    "",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "-1",
    "0",
    "abc",
    "99999999999999999999",
    "9223372036854775807",
    "-9223372036854775808",
    "181",
    "-91",
    "3.0.0",
    "1,5",
    " 5 ",
    "\u00e9\u00e8",
    "yes",
    "-1;yes",
    "walk",
    "50 mph",
    "&amp;",
]
ELEMENT_NAMES = [
    "node",
    "way",
    "relation",
    "nd",
    "tag",
    "member",
    "osm",
    "bounds",
    "x",
    "nodee",
    "graph",
    "edge",
    "data",
    "key",
]

MEMORY_LIMIT_BYTES = 6 << 30


# ------------------------------------------------------------------------------------------ seeds


def _osm_xml(*, clipped: bool = True) -> str:
    """A small but varied OSM area (every element kind the reader handles)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="urbankit-fuzz">']
    lines.append('<bounds minlat="0.0100000" minlon="3.0000000" maxlat="0.0140000" maxlon="3.0040000"/>')
    nid = 1
    grid = {}
    for r in range(5):
        for c in range(5):
            grid[r, c] = nid
            tags = ""
            if (r, c) == (2, 2):
                tags = '<tag k="amenity" v="pharmacy"/><tag k="name" v="Farm&#xe0;cia"/>'
            elif (r, c) == (1, 3):
                tags = '<tag k="shop" v="supermarket"/>'
            lines.append(
                f'<node id="{nid}" version="1" lat="{0.01 + 0.001 * r:.7f}" lon="{3.0 + 0.001 * c:.7f}">{tags}</node>'
            )
            nid += 1
    # building corners and a courtyard
    b = {}
    for k, (lon, lat) in enumerate(
        [
            (3.0002, 0.0102),
            (3.0008, 0.0102),
            (3.0008, 0.0108),
            (3.0002, 0.0108),
            (3.0004, 0.0104),
            (3.0006, 0.0104),
            (3.0006, 0.0106),
            (3.0004, 0.0106),
        ]
    ):
        b[k] = 1000 + k
        lines.append(f'<node id="{1000 + k}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    for k, (lon, lat) in enumerate([(3.0012, 0.0112), (3.0018, 0.0112), (3.0018, 0.0118), (3.0012, 0.0118)]):
        lines.append(f'<node id="{2000 + k}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')

    def way(wid, refs, tags):
        nds = "".join(f'<nd ref="{x}"/>' for x in refs)
        tg = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        lines.append(f'<way id="{wid}" version="1">{nds}{tg}</way>')

    kinds = ["secondary", "residential", "residential", "footway", "service"]
    for r in range(5):
        tags = {"highway": kinds[r], "name": f"Row {r}", "maxspeed": ["50", "30", "walk", "20 mph", "none"][r]}
        if r == 2:
            tags["oneway"] = "yes"
        if r == 4:
            tags["service"] = "parking_aisle"
        way(100 + r, [grid[r, c] for c in range(5)], tags)
    for c in range(5):
        tags = {"highway": "residential" if c % 2 else "tertiary", "name": f"Column {c}"}
        if c == 3:
            tags["access"] = "private"
            tags["foot"] = "yes"
        refs = [grid[r, c] for r in range(5)]
        if c == 4 and clipped:
            refs.insert(2, 999999)  # clipped: a node absent from the file
        way(200 + c, refs, tags)
    way(300, [1000, 1001, 1002, 1003, 1000], {})
    way(301, [1004, 1005, 1006, 1007, 1004], {})
    way(302, [2000, 2001, 2002, 2003, 2000], {"building": "apartments", "building:levels": "3;4"})
    way(303, [grid[3, 0], grid[3, 1], grid[4, 1], grid[4, 0], grid[3, 0]], {"highway": "pedestrian", "area": "yes"})
    lines.append(
        '<relation id="400" version="1"><member type="way" ref="300" role="outer"/>'
        '<member type="way" ref="301" role="inner"/><tag k="type" v="multipolygon"/>'
        '<tag k="building" v="yes"/><tag k="building:levels" v="5"/></relation>'
    )
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


def build_corpus(folder: Path) -> list[dict]:
    """Seed files (written under ``folder``): list of dicts with name, path, suffix, weight, text."""
    import osmium

    folder.mkdir(parents=True, exist_ok=True)
    xml = _osm_xml()
    seeds = []

    def add(name, suffix, data: bytes, weight, text: bytes | None = None, compress=None):
        path = folder / f"{name}{suffix}"
        path.write_bytes(data)
        seeds.append(
            {
                "name": name,
                "path": path,
                "suffix": suffix,
                "weight": weight,
                "text": text,
                "compress": compress,
                "source": {"synthetic": f"{name}{suffix}"},
            }
        )

    xb = xml.encode()
    add("synthetic_xml", ".osm", xb, SYNTHETIC_WEIGHT, text=xb)
    add("synthetic_bz2", ".osm.bz2", bz2.compress(xb), SYNTHETIC_WEIGHT // 2, text=xb, compress="bz2")
    add("synthetic_gz", ".osm.gz", gzip.compress(xb, mtime=0), SYNTHETIC_WEIGHT // 2, text=xb, compress="gz")
    for comp in ("none", "zlib"):
        out = folder / f"synthetic_pbf_{comp}.osm.pbf"
        if out.exists():
            out.unlink()
        reader_src = folder / "synthetic_xml.osm"
        with osmium.SimpleWriter(osmium.io.File(str(out), f"pbf,pbf_compression={comp}")) as writer:
            for obj in osmium.FileProcessor(str(reader_src)):
                if obj.is_node():
                    writer.add_node(obj)
                elif obj.is_way():
                    writer.add_way(obj)
                elif obj.is_relation():
                    writer.add_relation(obj)
        seeds.append(
            {
                "name": f"synthetic_pbf_{comp}",
                "path": out,
                "suffix": ".osm.pbf",
                "weight": SYNTHETIC_WEIGHT,
                "text": None,
                "compress": None,
                "source": {"synthetic": f"synthetic_pbf_{comp}.osm.pbf"},
            }
        )
    try:
        import osmnx as ox

        (folder / "complete.osm").write_text(_osm_xml(clipped=False))  # osmnx rejects clipped ways
        graph = ox.graph_from_xml(folder / "complete.osm", simplify=False, retain_all=True)
        graph.graph["created_date"] = "2026-01-01 00:00:00"  # deterministic seed bytes
        gpath = folder / "synthetic.graphml"
        ox.save_graphml(graph, gpath)
        gb = gpath.read_bytes()
        seeds.append(
            {
                "name": "synthetic_graphml",
                "path": gpath,
                "suffix": ".graphml",
                "weight": SYNTHETIC_WEIGHT // 2,
                "text": gb,
                "compress": None,
                "source": {"synthetic": "synthetic_graphml.graphml"},
            }
        )
    except Exception as exc:  # noqa: BLE001 - a missing GraphML seed only narrows the corpus
        print(f"fuzz: no GraphML seed ({type(exc).__name__}: {exc})", file=sys.stderr)
    for (kind, ref), weight in FILE_SEEDS.items():
        path = source_path({kind: ref})
        if path is None:
            continue
        name = path.name.split(".")[0]
        suffix = "".join(path.suffixes[-2:]) if path.name.endswith((".osm.pbf", ".osm.bz2")) else path.suffix
        data = path.read_bytes()
        text, compress = None, None
        if suffix == ".osm.bz2":
            text, compress = bz2.decompress(data), "bz2"
        seeds.append(
            {
                "name": name,
                "path": path,
                "suffix": suffix,
                "weight": weight,
                "text": text,
                "compress": compress,
                "data": data,
                "source": {kind: ref},
            }
        )
    for s in seeds:
        s.setdefault("data", Path(s["path"]).read_bytes())
    return seeds


# ------------------------------------------------------------------------------------------ mutations


def _pos(rng: random.Random, data: bytes) -> int:
    return rng.randrange(len(data) + 1)


def m_flip(rng, data: bytes) -> bytes:
    if not data:
        return data
    b = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        i = rng.randrange(len(b))
        b[i] ^= rng.randint(1, 255)
    return bytes(b)


def m_truncate(rng, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


def m_insert(rng, data: bytes) -> bytes:
    i = _pos(rng, data)
    ins = rng.choice(DICTIONARY) if rng.random() < 0.6 else rng.randbytes(rng.randint(1, 32))
    return data[:i] + ins * rng.choice([1, 1, 1, 2, 50]) + data[i:]


def m_delete(rng, data: bytes) -> bytes:
    if len(data) < 2:
        return data
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.choice([1, 2, 8, 64, 512, 4096]))
    return data[:i] + data[j:]


def m_duplicate(rng, data: bytes) -> bytes:
    if len(data) < 2:
        return data
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.choice([4, 64, 512, 4096]))
    k = _pos(rng, data)
    return data[:k] + data[i:j] + data[k:]


def m_swap(rng, data: bytes) -> bytes:
    n = rng.choice([1, 4, 16, 128])
    if len(data) <= 2 * n:
        return data
    i, j = sorted(rng.randrange(len(data) - n) for _ in range(2))
    if j < i + n:
        return data
    return data[:i] + data[j : j + n] + data[i + n : j] + data[i : i + n] + data[j + n :]


_ATTR = re.compile(rb'="[^"]*"')
_ELEM = re.compile(rb"<(/?)([A-Za-z_][\w:.-]*)")
_CLOSE = re.compile(rb"</[A-Za-z_][\w:.-]*>|/>")


def m_attr(rng, data: bytes) -> bytes:
    hits = [m.span() for m in _ATTR.finditer(data)]
    if not hits:
        return m_insert(rng, data)
    for _ in range(rng.randint(1, 3)):
        a, b = rng.choice(hits)
        if b > len(data):
            continue
        val = rng.choice(ATTR_VALUES).encode()
        data = data[:a] + b'="' + val + b'"' + data[b:]
        hits = [m.span() for m in _ATTR.finditer(data)]
        if not hits:
            break
    return data


def m_element(rng, data: bytes) -> bytes:
    hits = list(_ELEM.finditer(data))
    if not hits:
        return m_insert(rng, data)
    m = rng.choice(hits)
    name = rng.choice(ELEMENT_NAMES).encode() if rng.random() < 0.7 else rng.randbytes(rng.randint(1, 6))
    return data[: m.start(2)] + name + data[m.end(2) :]


def m_unclose(rng, data: bytes) -> bytes:
    hits = [m.span() for m in _CLOSE.finditer(data)]
    if not hits:
        return m_delete(rng, data)
    a, b = rng.choice(hits)
    return data[:a] + (b">" if data[a:b] == b"/>" else b"") + data[b:]


def m_lines(rng, data: bytes) -> bytes:
    lines = data.split(b"\n")
    if len(lines) < 3:
        return m_duplicate(rng, data)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    if rng.random() < 0.5:
        lines.insert(j, lines[i])  # duplicated element (e.g. the same node id twice)
    else:
        lines[i], lines[j] = lines[j], lines[i]  # out of order
    return b"\n".join(lines)


BYTE_OPS = [m_flip, m_truncate, m_insert, m_delete, m_duplicate, m_swap]
#: text seeds: structure-preserving edits (attribute values, duplicated or swapped lines) weigh
#: more than byte edits, so more cases get past the XML parser into urbankit's own code
TEXT_OPS = BYTE_OPS + [m_attr] * 5 + [m_lines] * 3 + [m_element, m_unclose]


def mutate(rng: random.Random, seed: dict) -> tuple[bytes, list[str]]:
    """A mutated file of ``seed`` and the names of the mutations applied."""
    text_level = seed["text"] is not None and (seed["compress"] is None or rng.random() < 0.5)
    data = seed["text"] if text_level else seed["data"]
    ops = TEXT_OPS if text_level else BYTE_OPS
    applied = []
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        op = rng.choice(ops)
        data = op(rng, data)
        applied.append(op.__name__[2:])
    if text_level and seed["compress"] == "bz2":
        data = bz2.compress(data)
    elif text_level and seed["compress"] == "gz":
        data = gzip.compress(data, mtime=0)
    return data, (["text"] if text_level and seed["compress"] else []) + applied


def make_case(seed_value: int, index: int, seeds: list[dict]) -> tuple[dict, bytes, list[str]]:
    rng = random.Random(f"urbankit-fuzz-{seed_value}-{index}")
    weights = [s["weight"] for s in seeds]
    seed = rng.choices(seeds, weights=weights)[0]
    data, ops = mutate(rng, seed)
    return seed, data, ops


# ------------------------------------------------------------------------------------------ recipes
# A crash input is kept as a recipe, never as bytes: the seed it was made from (a synthetic seed of
# build_corpus, an urbankit data set, or a file of ../shared/data), the seed's SHA-256, and the byte
# patches that turn the seed (its decompressed text for a text-level mutation of a compressed seed,
# recompressed after) into the input, whose SHA-256 the rebuild checks.


class RecipeSourceMissing(LookupError):
    """The seed file of a recipe is not on this machine (shared data folder or data set absent)."""


class RecipeError(AssertionError):
    """A recipe does not rebuild its input (the seed or the patches changed)."""


def source_path(source: dict) -> Path | None:
    """The file of a ``{"dataset": name}`` or ``{"shared": path}`` seed source, or ``None`` when absent."""
    if "dataset" in source:
        import urbankit as uk

        try:
            return uk.datasets.get_path(source["dataset"], download=False)
        except uk.UrbankitError:
            return None
    if "shared" in source:
        path = SHARED / source["shared"]
        return path if path.is_file() else None
    raise ValueError(f"unknown seed source {source!r}")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _encode(data: bytes):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": data.hex()}


def _decode(value) -> bytes:
    return bytes.fromhex(value["hex"]) if isinstance(value, dict) else value.encode("utf-8")


def diff_patches(a: bytes, b: bytes) -> list[list]:
    """Patches ``[offset in a, bytes of a deleted, bytes inserted]`` (ascending) that turn ``a`` into ``b``:
    lines first, then bytes within each changed block, so that each patch holds only what changed."""
    la, lb = a.splitlines(keepends=True), b.splitlines(keepends=True)
    starts = [0]
    for line in la:
        starts.append(starts[-1] + len(line))
    patches = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, la, lb, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        off, old, new = starts[i1], b"".join(la[i1:i2]), b"".join(lb[j1:j2])
        if len(old) + len(new) > 200_000:  # too big for a byte-level match: trim the common ends only
            p = len(os.path.commonprefix([old, new]))
            q = len(os.path.commonprefix([old[p:][::-1], new[p:][::-1]]))
            blocks = [("replace", p, len(old) - q, p, len(new) - q)]
        else:
            blocks = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
        for t, x1, x2, y1, y2 in blocks:
            if t != "equal":
                patches.append([off + x1, x2 - x1, _encode(new[y1:y2])])
    return patches


def apply_patches(a: bytes, patches: list[list]) -> bytes:
    out, pos = [], 0
    for off, n, ins in patches:
        if off < pos or off + n > len(a):
            raise RecipeError(f"patch at {off} (delete {n}) overlaps another or runs past the seed ({len(a)} B)")
        out += [a[pos:off], _decode(ins)]
        pos = off + n
    out.append(a[pos:])
    return b"".join(out)


def _compress(data: bytes, kind: str | None) -> bytes:
    if kind == "bz2":
        return bz2.compress(data)
    if kind == "gz":
        return gzip.compress(data, mtime=0)
    return data


def make_recipe(seed: dict, data: bytes, ops: list[str], **meta) -> dict:
    """The recipe of input ``data`` made from ``seed`` by mutations ``ops`` (see :func:`mutate`)."""
    text_level = bool(ops) and ops[0] == "text"
    base = seed["text"] if text_level else seed["data"]
    target = data
    if text_level:
        target = bz2.decompress(data) if seed["compress"] == "bz2" else gzip.decompress(data)
    recipe = {
        "source": seed["source"],
        "source_sha256": _sha(seed["data"]),
        "level": "text" if text_level else "bytes",
        "compress": seed["compress"] if text_level else None,
        "sha256": _sha(data),
        "mutations": ops,
        **meta,
        "patches": diff_patches(base, target),
    }
    return recipe


def rebuild(recipe: dict, seeds: dict[str, dict]) -> bytes:
    """The input bytes of a recipe. ``seeds``: the synthetic seeds of :func:`build_corpus` by file name.

    Raises :class:`RecipeSourceMissing` when the seed file is absent, :class:`RecipeError` when the seed or the
    rebuilt input does not have the recorded SHA-256."""
    source = recipe["source"]
    if "synthetic" in source:
        if source["synthetic"] not in seeds:
            raise RecipeSourceMissing(f"synthetic seed {source['synthetic']} was not built (see build_corpus)")
        data = seeds[source["synthetic"]]["data"]
    else:
        path = source_path(source)
        if path is None:
            raise RecipeSourceMissing(f"seed {source} absent (data mirror / ../shared/data)")
        data = path.read_bytes()
    if _sha(data) != recipe["source_sha256"]:
        raise RecipeError(f"seed {source} has SHA-256 {_sha(data)}, the recipe was made from {recipe['source_sha256']}")
    if recipe["level"] == "text":
        data = bz2.decompress(data) if recipe["compress"] == "bz2" else gzip.decompress(data)
    out = _compress(apply_patches(data, recipe["patches"]), recipe["compress"])
    if _sha(out) != recipe["sha256"]:
        raise RecipeError(f"the recipe rebuilds an input with SHA-256 {_sha(out)}, not {recipe['sha256']}")
    return out


def load_recipes(folder: Path = CRASH_DIR) -> dict[str, dict]:
    """The recipes of ``folder``: input file name -> recipe."""
    return {p.name[: -len(".json")]: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


# ------------------------------------------------------------------------------------------ worker


class Invalid(AssertionError):
    """A successful read or build returned something that breaks urbankit's own contract."""


def check_extract(ex) -> None:
    import numpy as np

    import urbankit as uk
    from urbankit.osm import STREET_TAGS

    if not isinstance(ex, uk.OSMExtract):
        raise Invalid(f"read returned {type(ex).__name__}, not OSMExtract")
    if list(ex.ways.columns) != ["way_id", *STREET_TAGS]:
        raise Invalid(f"ways columns {list(ex.ways.columns)}")
    if list(ex.way_nodes.columns) != ["way", "node_id", "lon", "lat"]:
        raise Invalid(f"way_nodes columns {list(ex.way_nodes.columns)}")
    wn = ex.way_nodes
    way = wn["way"].to_numpy()
    if len(wn):
        if way.min() < 0 or way.max() >= len(ex.ways):
            raise Invalid("way_nodes.way outside 0..len(ways)-1")
        counts = np.bincount(way, minlength=len(ex.ways))
        if (counts < 2).any():
            raise Invalid("a street way with fewer than 2 nodes")
        if (np.diff(way) < 0).any():
            raise Invalid("way_nodes rows of one way are not contiguous")
        lon, lat = wn["lon"].to_numpy(float), wn["lat"].to_numpy(float)
        if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
            raise Invalid("non-finite street node coordinates")
        if (np.abs(lon) > 180).any() or (np.abs(lat) > 90).any():
            raise Invalid("street node coordinates out of range")
    elif len(ex.ways):
        raise Invalid("ways without way_nodes")
    for name in ("features", "buildings"):
        frame = getattr(ex, name)
        if frame.crs is None or frame.crs.to_string() != "EPSG:4326":
            raise Invalid(f"{name} CRS {frame.crs}")
    if not re.fullmatch(r"[0-9a-f]{64}", ex.sha256):
        raise Invalid("sha256 is not a hex digest")
    if ex.missing_node_refs < 0:
        raise Invalid("negative missing_node_refs")


def check_network(net, mode: str) -> None:
    import numpy as np

    e, n = net.edges, net.nodes
    if len(e) == 0 or len(n) == 0:
        raise Invalid(f"{mode}: an empty network was returned instead of NoStreetsError")
    if not (e["u"].isin(n.index).all() and e["v"].isin(n.index).all()):
        raise Invalid(f"{mode}: edge ends missing from nodes")
    for col in ("length_m", "time_min", "speed_kmh"):
        v = e[col].to_numpy(float)
        if not (np.isfinite(v).all() and (v > 0).all()):
            raise Invalid(f"{mode}: {col} not finite and positive")
    if not (np.isfinite(n["x"].to_numpy(float)).all() and np.isfinite(n["y"].to_numpy(float)).all()):
        raise Invalid(f"{mode}: non-finite node coordinates")
    if net.directed != (mode == "drive"):
        raise Invalid(f"{mode}: directed={net.directed}")


def run_target(path: str) -> list[str]:
    """Read, check, build: the outcomes (urbankit errors are outcomes, anything else raises)."""
    import urbankit as uk

    outcomes = []
    try:
        ex = uk.read_graphml(path) if path.endswith(".graphml") else uk.read_osm(path)
    except uk.UrbankitError as exc:
        if path not in str(exc):
            raise Invalid(f"{type(exc).__name__} does not name the file: {exc}") from exc
        return [f"read:{type(exc).__name__}"]
    check_extract(ex)
    outcomes.append("read:ok")
    for mode in uk.MODES:
        try:
            net = uk.build_network(ex, mode, cache=False)
        except uk.UrbankitError as exc:
            outcomes.append(f"{mode}:{type(exc).__name__}")
            continue
        check_network(net, mode)
        outcomes.append(f"{mode}:ok")
    try:
        uk.find_destinations(ex)
        outcomes.append("destinations:ok")
    except uk.UrbankitError as exc:
        outcomes.append(f"destinations:{type(exc).__name__}")
    return outcomes


def _signature(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    inner = [f for f in frames if "urbankit" in f.filename and "fuzz_loaders" not in f.filename]
    where = (
        f"{Path(inner[-1].filename).name}:{inner[-1].name}"
        if inner
        else (f"{Path(frames[-1].filename).name}:{frames[-1].name}" if frames else "?")
    )
    return f"{type(exc).__name__} at {where}: {_message_kind(str(exc), cut=not isinstance(exc, Invalid))}"


def _message_kind(message: str, *, cut: bool = True) -> str:
    """What kind of failure a message reports, without the offending value: its first line (up to
    the first ': ' when ``cut``: ``illegal id: '99'`` -> ``illegal id``), quoted parts and numbers
    removed."""
    first = message.split("\n")[0]
    if cut:
        first = first.split(": ")[0]
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "", first).strip().rstrip(":").strip()[:100]


def worker(conn, tmpdir: str) -> None:
    import logging
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ValueError, OSError):
        pass
    os.environ["URBANKIT_PROGRESS"] = "0"
    logging.disable(logging.CRITICAL)
    import urbankit as uk

    uk.settings.use_cache = False
    uk.settings.progress = False
    uk.settings.cache_folder = Path(tmpdir) / "cache"
    k = 0
    while True:
        msg = conn.recv()
        if msg is None:
            return
        data, suffix = msg
        k += 1
        path = str(Path(tmpdir) / f"case{k}{suffix}")
        with open(path, "wb") as f:
            f.write(data)
        try:
            result = ("ok", run_target(path))
        except BaseException as exc:  # noqa: BLE001 - every non-urbankit exception is a finding
            result = ("crash", _signature(exc), "".join(traceback.format_exception(exc))[-6000:])
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass
        conn.send(result)


class Worker:
    def __init__(self, tmpdir: str):
        self.tmpdir = tmpdir
        self.ctx = mp.get_context("spawn")
        self.start()

    def start(self) -> None:
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=worker, args=(child, self.tmpdir), daemon=True)
        self.proc.start()
        child.close()

    def run(self, data: bytes, suffix: str, timeout: float):
        self.conn.send((data, suffix))
        if not self.conn.poll(timeout):
            self.proc.kill()
            self.proc.join()
            self.start()
            return ("crash", f"hang (> {timeout:g} s)", "")
        try:
            return self.conn.recv()
        except (EOFError, ConnectionError):
            self.proc.join()
            code = self.proc.exitcode
            self.start()
            return ("crash", f"worker died (exit code {code})", "")

    def close(self) -> None:
        try:
            self.conn.send(None)
            self.proc.join(5)
        except (OSError, ValueError):
            pass
        if self.proc.is_alive():
            self.proc.kill()


# ------------------------------------------------------------------------------------------ main


def save_crash(sig: str, seed: dict, data: bytes, ops: list[str], detail: str, seed_value: int, index: int) -> Path:
    """Write the recipe of a crash input (``<name>.json``, returned) and its ``<name>.txt``."""
    CRASH_DIR.mkdir(exist_ok=True)
    h = hashlib.sha256(sig.encode()).hexdigest()[:10]
    path = CRASH_DIR / f"{h}-{seed['name']}{seed['suffix']}"
    recipe = make_recipe(seed, data, ops, signature=sig, reproduce=f"--seed {seed_value} --case {index}")
    path.with_name(path.name + ".json").write_text(json.dumps(recipe, indent=1, ensure_ascii=False) + "\n")
    path.with_name(path.name + ".txt").write_text(
        f"signature: {sig}\nseed file: {seed['name']}{seed['suffix']}\nmutations: {', '.join(ops)}\n"
        f"reproduce: python tests/fuzz_loaders.py --seed {seed_value} --case {index}\n\n{detail}\n"
    )
    return path.with_name(path.name + ".json")


def known_signatures() -> dict[str, str]:
    """Signatures already in ``tests/fuzz_crashes/`` (``signature:`` lines at the top of each ``.txt``)
    -> input file name."""
    out = {}
    if CRASH_DIR.is_dir():
        for txt in sorted(CRASH_DIR.glob("*.txt")):
            for line in txt.read_text(errors="replace").split("\n")[:5]:
                if line.startswith("signature: "):
                    out.setdefault(line[len("signature: ") :], txt.name[: -len(".txt")] + ".json")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fuzz urbankit's OSM loaders with mutated files.")
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", "120")))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--case", type=int, default=None, help="replay this one case and print its outcome")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds after which a case is a hang")
    args = ap.parse_args(argv)
    if SHARED.is_dir():  # Barcelona (a downloadable data set) from the shared folder, as in the tests
        os.environ.setdefault("URBANKIT_DATA_MIRROR", str(SHARED.resolve()))

    with tempfile.TemporaryDirectory(prefix="urbankit-fuzz-") as tmp:
        seeds = build_corpus(Path(tmp) / "seeds")
        print(
            f"fuzz: {len(seeds)} seed files: "
            + ", ".join(f"{s['name']}{s['suffix']} ({len(s['data']):,} B)" for s in seeds)
        )
        w = Worker(tmp)
        # every seed unmodified must read cleanly: a broken corpus would make the run meaningless
        for s in seeds:
            res = w.run(s["data"], s["suffix"], args.timeout)
            if res[0] != "ok" or res[1][0] != "read:ok":
                print(f"fuzz: seed {s['name']} does not read cleanly: {res}", file=sys.stderr)
                w.close()
                return 2
        if args.case is not None:  # replay one case (writes its input when it crashes)
            seed, data, ops = make_case(args.seed, args.case, seeds)
            res = w.run(data, seed["suffix"], args.timeout)
            w.close()
            print(f"case {args.case}: seed {seed['name']}{seed['suffix']}, mutations {ops}: {res[0]} {res[1]}")
            if res[0] == "crash":
                print(res[2])
                known = known_signatures()
                if res[1] in known:
                    print(f"known crash: {(CRASH_DIR / known[res[1]]).relative_to(REPO)}")
                else:
                    saved = save_crash(res[1], seed, data, ops, res[2], args.seed, args.case)
                    print(f"NEW crash: {saved.relative_to(REPO)}")
                return 1
            return 0

        t_end = time.monotonic() + args.seconds
        per_seed = collections.Counter()
        outcomes = collections.Counter()
        crashes: dict[str, tuple[int, Path]] = {}
        crash_count = collections.Counter()
        known = known_signatures()
        index = 0
        t0 = time.monotonic()
        while time.monotonic() < t_end:
            seed, data, ops = make_case(args.seed, index, seeds)
            res = w.run(data, seed["suffix"], args.timeout)
            per_seed[seed["name"]] += 1
            if res[0] == "ok":
                for o in res[1]:
                    outcomes[o] += 1
            else:
                sig = res[1]
                crash_count[sig] += 1
                outcomes["CRASH"] += 1
                if sig not in crashes:
                    if sig in known:  # already a regression input: do not write a duplicate
                        path = CRASH_DIR / known[sig]
                        print(f"fuzz: case {index}: CRASH {sig} (known: {path.relative_to(REPO)})", flush=True)
                    else:
                        path = save_crash(sig, seed, data, ops, res[2], args.seed, index)
                        print(f"fuzz: case {index}: NEW CRASH {sig} -> {path.relative_to(REPO)}", flush=True)
                    crashes[sig] = (index, path)
            index += 1
        w.close()
        elapsed = time.monotonic() - t0

    print()
    print(
        f"fuzz summary: {index:,} cases in {elapsed:.0f} s (seed {args.seed}), {index / max(elapsed, 1e-9):.1f} cases/s"
    )
    print("cases per seed file: " + ", ".join(f"{k} {v}" for k, v in per_seed.most_common()))
    reads = {k: v for k, v in outcomes.items() if k.startswith("read:")}
    print("read outcomes: " + ", ".join(f"{k[5:]} {v}" for k, v in sorted(reads.items(), key=lambda kv: -kv[1])))
    builds = {k: v for k, v in outcomes.items() if not k.startswith(("read:", "CRASH"))}
    print("after a successful read: " + ", ".join(f"{k} {v}" for k, v in sorted(builds.items())))
    if crashes:
        new = [sig for sig in crashes if sig not in known]
        print(f"CRASHES: {outcomes['CRASH']} cases, {len(crashes)} distinct, {len(new)} new:")
        for sig, (i, path) in crashes.items():
            tag = "NEW  " if sig in new else "known"
            print(f"  {tag} {crash_count[sig]:5d} x {sig}  (first: case {i}, {path.relative_to(REPO)})")
        if new:
            print("turn each NEW input into a regression test: see tests/fuzz_crashes/README.md")
            return 1
        print("nothing new: every crash is a known one, already a regression test in tests/fuzz_crashes/")
        return 0
    print("no crash")
    return 0


if __name__ == "__main__":
    sys.exit(main())
