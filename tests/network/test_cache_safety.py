"""The network cache holds data only: nothing in the cache folder is ever executed, and a bad entry is
ignored (with a warning) and rebuilt; a full disk leaves no temporary behind.

Entries are JSON plus raw numeric arrays, checked by SHA-256 before any parsing (see
``urbankit/_datacache.py``). Concurrent writers and killed writers: ``tests/network/test_cache_concurrency.py``.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import pickle
import random

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from pyproj import CRS

import urbankit
from urbankit import _datacache, datasets
from urbankit.mock import grid_extract
from urbankit.network import build as network_build
from urbankit.network import cache as networks

LOGGER = "urbankit.networks"


def _frames_identical(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Equal values, dtypes, index (type, name), column order, geometry and CRS."""
    assert type(got) is type(want)
    assert list(got.columns) == list(want.columns)
    assert [str(t) for t in got.dtypes] == [str(t) for t in want.dtypes]
    assert type(got.index) is type(want.index) and got.index.name == want.index.name
    pd.testing.assert_index_equal(got.index, want.index, exact=True)
    plain = [c for c in want.columns if not isinstance(want[c].dtype, gpd.array.GeometryDtype)]
    pd.testing.assert_frame_equal(pd.DataFrame(got[plain]), pd.DataFrame(want[plain]), check_exact=True)
    for c in set(want.columns) - set(plain):
        assert got[c].crs == want[c].crs
        # identical coordinates (and missing values), not only the same shapes
        assert shapely.to_wkb(got[c].to_numpy()).tolist() == shapely.to_wkb(want[c].to_numpy()).tolist()
    if isinstance(want, gpd.GeoDataFrame):
        assert got.geometry.name == want.geometry.name and got.crs == want.crs
        assert_geodataframe_equal(got, want, check_less_precise=False)


def _networks_identical(got, want) -> None:
    _frames_identical(got.nodes, want.nodes)
    _frames_identical(got.edges, want.edges)
    assert (got.mode, got.crs, got.directed) == (want.mode, want.crs, want.directed)
    assert got.meta == want.meta
    assert json.dumps(got.meta, sort_keys=True) == json.dumps(want.meta, sort_keys=True)  # types too


def _no_rebuild(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("network rebuilt although a valid entry is cached")

    monkeypatch.setattr(network_build, "_split_ways", fail)


def _leftovers(cache_folder) -> list[str]:
    folder = cache_folder / "networks"
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name) if folder.is_dir() else []


# ------------------------------------------------------------------------------------------------
# round trip


@pytest.fixture(scope="module")
def real_extracts():
    out = {}
    for name in ("monaco", "helsinki"):
        try:
            out[name] = urbankit.read_osm(datasets.get_path(name))
        except urbankit.UrbankitError as exc:
            pytest.skip(f"embedded data set {name!r} unavailable: {exc}")
    return out


@pytest.mark.parametrize("mode", ["walk", "bike", "drive"])
@pytest.mark.parametrize("name", ["monaco", "helsinki"])
def test_cached_network_is_identical_to_a_fresh_build(real_extracts, name, mode, cache_folder, monkeypatch):
    ex = real_extracts[name]
    fresh = urbankit.build_network(ex, mode, cache=False)
    urbankit.build_network(ex, mode)  # builds and stores
    entry = networks._cache_path(fresh.key)
    assert entry.is_file() and entry.read_bytes().startswith(_datacache.MAGIC)
    with monkeypatch.context() as patch:
        _no_rebuild(patch)
        cached = urbankit.build_network(ex, mode)
    _networks_identical(cached, fresh)
    # the loaded frames are ordinary, writable data
    cached.nodes.loc[cached.nodes.index[0], "x"] = -1.0
    cached.edges.loc[0, "time_min"] = -1.0
    _networks_identical(networks._load_cached(fresh.key), fresh)
    assert _leftovers(cache_folder) == []


def test_codec_round_trips_awkward_frames_and_values():
    """Text with every kind of missing value, lists, tuples, int dict keys, numpy scalars, WKB
    geometry (mixed types, missing, empty, Z), a WKT-only CRS, a string index, datetimes, attrs."""
    custom = CRS.from_proj4("+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=m")
    geoms = [
        shapely.Point(1, 2),
        None,
        shapely.LineString([(0, 0, 1), (1, 1, 2)]),
        shapely.Polygon(),
        shapely.MultiPoint([(0, 0), (1, 1)]),
    ]
    df = gpd.GeoDataFrame(
        {
            "s": pd.array(
                ["a", None, "ü\u20ac\U0001f600", "", "x\udcff"], dtype=pd.StringDtype("python", na_value=np.nan)
            ),
            "sna": pd.array(["a", None, "b", "", "c"], dtype=pd.StringDtype("python", na_value=pd.NA)),
            "o": pd.Series(["x", None, np.nan, pd.NA, "y"], dtype=object),
            "lists": pd.Series([[1, 2], "a", None, {"k": (1, 2)}, 3.5], dtype=object),
            "i": np.array([1, -2, 3, 2**62, 0], dtype=np.int64),
            "u8": np.array([0, 1, 2, 255, 7], dtype=np.uint8),
            "f": np.array([0.1, np.nan, np.inf, -0.0, 1e-300]),
            "b": np.array([True, False, True, False, True]),
            "t": pd.to_datetime(
                ["2024-01-01", "NaT", "1970-01-01", "2030-12-31 23:59:59.123456789", "2000-02-29"], format="ISO8601"
            ),
            "g": gpd.GeoSeries(geoms, crs=custom),
            "pts": gpd.GeoSeries([shapely.Point(i, -i) for i in range(5)], crs="EPSG:4326"),
        },
        geometry="pts",
    )
    df.index = pd.Index(["r1", "r2", "r3", "r4", "r5"], name="rid")
    assert df["g"].isna().tolist() == [False, True, False, False, False]
    df.attrs["note"] = "kept"
    value = {
        "frame": df,
        "empty": gpd.GeoDataFrame({"a": np.array([], dtype=np.int32)}, geometry=gpd.GeoSeries([], crs="EPSG:3857")),
        "plain": pd.DataFrame({"x": [1.5, 2.5]}, index=pd.RangeIndex(10, 14, 2, name="n")),
        "meta": {1: "int key", (1, "a"): [None, True, 1, 1.5, "s"], "nested": {"t": (1, (2, 3))}},
        "scalars": [np.float32(1.25), np.int16(-3), np.bool_(True)],
    }
    got = _datacache.decode(bytearray(_datacache.encode(value)))
    assert set(got) == set(value)
    _frames_identical(got["frame"], df)
    assert got["frame"].attrs == {"note": "kept"}
    assert got["frame"]["g"].crs == custom
    _frames_identical(got["empty"], value["empty"])
    _frames_identical(got["plain"], value["plain"])
    assert got["meta"] == value["meta"] and type(got["meta"]["nested"]["t"]) is tuple
    assert [(type(v), v) for v in got["scalars"]] == [(type(v), v) for v in value["scalars"]]
    o = got["frame"]["o"].tolist()
    assert o[0] == "x" and o[1] is None and isinstance(o[2], float) and np.isnan(o[2]) and o[3] is pd.NA


@pytest.mark.parametrize(
    "bad",
    [
        {"a": {1, 2}},
        {"a": object()},
        pd.DataFrame({"c": pd.Categorical(["a", "b"])}),
        pd.DataFrame([[1, 2]], columns=["a", "a"]),
        pd.DataFrame({"a": [1]}, index=pd.MultiIndex.from_tuples([(1, 2)])),
    ],
)
def test_codec_refuses_what_it_cannot_store_exactly(bad):
    with pytest.raises(_datacache.UnstorableError):
        _datacache.encode(bad)


def test_unstorable_network_is_not_cached_and_nothing_is_written(cache_folder, caplog):
    net = urbankit.build_network(grid_extract(4, 4), "walk", cache=False)
    net.meta["extra"] = {1, 2}  # a set: no exact data-only form
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        networks._store_cached(net)
    assert any("not cached" in r.getMessage() and "set" in r.getMessage() for r in caplog.records)
    folder = cache_folder / "networks"
    assert not folder.exists() or list(folder.iterdir()) == []


# ------------------------------------------------------------------------------------------------
# hostile entries


class _Evil:
    """Unpickling this creates the marker file (stands for any code an attacker would run)."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_pickle(marker) -> bytes:
    evil = _Evil()
    evil.marker = str(marker)
    return pickle.dumps(evil)


def _rehash(path, payload: bytes) -> None:
    """Write ``payload`` behind a valid preamble (as an attacker who knows the format would)."""
    digest = hashlib.sha256(payload).hexdigest().encode()
    path.write_bytes((_datacache.MAGIC + digest).ljust(_datacache._PREAMBLE - 1) + b"\n" + payload)


def _column_start(entry: bytes, frame: str, column: str) -> int:
    """Byte position, in an entry file, of the first value of a numeric column of a network frame."""
    payload = entry[_datacache._PREAMBLE :]
    header_len = int.from_bytes(payload[:8], "little")
    header = json.loads(payload[8 : 8 + header_len])
    items = dict(header["value"]["dict"])
    spec = dict(items[frame]["frame"]["columns"])[column]
    assert spec["enc"] == "numpy" and spec["dtype"] == "<f8"
    offset = header["arrays"][spec["data"]][1]
    return _datacache._PREAMBLE + 8 + header_len + offset


def _plants(marker, valid: bytes):
    """(description, file name suffix, bytes) of hostile entries under a network's key."""
    evil = _evil_pickle(marker)
    old_blob = pickle.dumps({"sha256": hashlib.sha256(evil).hexdigest(), "blob": evil})
    payload = valid[_datacache._PREAMBLE :]
    tampered = bytearray(valid)
    start = _column_start(valid, "edges", "time_min")
    assert np.frombuffer(valid, np.float64, 1, start)[0] != 0.5
    tampered[start : start + 8] = np.float64(0.5).tobytes()  # a plausible travel time, hash not updated
    header_len = int.from_bytes(payload[:8], "little")
    header = json.loads(payload[8 : 8 + header_len])
    header["arrays"][0][0] = "|O"  # an object array would need pickle
    obj_header = json.dumps(header).encode()
    obj_payload = len(obj_header).to_bytes(8, "little") + obj_header + evil
    evil_obj = _Evil()
    evil_obj.marker = str(marker)
    buf = io.BytesIO()
    np.save(buf, np.array([evil_obj], dtype=object), allow_pickle=True)  # an object .npy
    npy = buf.getvalue()
    return [
        ("old pickle format, valid inner hash", ".pkl", old_blob),
        ("raw pickle under the new name", networks.CACHE_SUFFIX, evil),
        ("pickle behind a valid preamble and hash", networks.CACHE_SUFFIX, None),
        ("tampered payload, stale hash", networks.CACHE_SUFFIX, bytes(tampered)),
        ("object dtype behind a valid hash", networks.CACHE_SUFFIX, ("rehash", obj_payload)),
        ("object .npy behind a valid hash", networks.CACHE_SUFFIX, ("rehash", npy)),
    ]


_PLANT_IDS = ["old-pkl", "raw-pickle", "pickle-valid-hash", "tampered-stale-hash", "object-dtype", "object-npy"]


@pytest.mark.parametrize("case", range(len(_PLANT_IDS)), ids=_PLANT_IDS)
def test_planted_entry_is_neither_run_nor_used(case, cache_folder, tmp_path, caplog):
    ex = grid_extract(6, 6)
    fresh = urbankit.build_network(ex, "drive", cache=False)
    # a valid entry of this key, to tamper with
    networks._store_cached(fresh)
    entry = networks._cache_path(fresh.key)
    valid = entry.read_bytes()
    entry.unlink()
    marker = tmp_path / "PWNED"
    what, suffix, data = _plants(marker, valid)[case]
    target = entry.with_suffix(suffix)
    if data is None:
        _rehash(target, _evil_pickle(marker))
    elif isinstance(data, tuple):
        _rehash(target, data[1])
    else:
        target.write_bytes(data)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        got = urbankit.build_network(ex, "drive")
    assert not marker.exists(), f"{what}: code from the cache ran"
    _networks_identical(got, fresh)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(target) in w for w in warnings), (what, warnings)
    if suffix == ".pkl":
        assert any("old-format" in w and "never loaded" in w for w in warnings)
    # rebuilt into a valid entry, which then loads
    assert networks._load_cached(fresh.key) is not None
    assert not marker.exists()
    assert _leftovers(cache_folder) == []


def test_a_fifo_or_symlink_entry_is_ignored_without_hanging(cache_folder, caplog, tmp_path):
    ex = grid_extract(5, 5)
    fresh = urbankit.build_network(ex, "walk", cache=False)
    entry = networks._cache_path(fresh.key)
    entry.parent.mkdir(parents=True)
    os.mkfifo(entry)  # opening it for reading would block forever
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        got = urbankit.build_network(ex, "walk")
    _networks_identical(got, fresh)
    assert any("not a regular file" in r.getMessage() for r in caplog.records)
    assert entry.is_file()  # replaced by a valid entry
    # a symlink to a valid entry (of any key) is not followed
    other = tmp_path / "elsewhere.uknet"
    entry.rename(other)
    entry.symlink_to(other)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        got = urbankit.build_network(ex, "walk")
    _networks_identical(got, fresh)
    assert any("regular file" in r.getMessage() for r in caplog.records)
    assert entry.is_file() and not entry.is_symlink()


def test_garbage_behind_a_valid_hash_only_raises_corrupt_entry(cache_folder):
    """Mutated headers and arrays (re-hashed, so the decoder sees them) fail cleanly or load data."""
    net = urbankit.build_network(grid_extract(4, 4), "bike", cache=False)
    networks._store_cached(net)
    valid = networks._cache_path(net.key).read_bytes()
    payload = valid[_datacache._PREAMBLE :]
    header_len = int.from_bytes(payload[:8], "little")
    rng = random.Random(10)
    outcomes = {"corrupt": 0, "loaded": 0}
    for i in range(300):
        data = bytearray(payload)
        if i % 3 == 0:  # in the JSON header
            pos = rng.randrange(8, 8 + header_len)
        elif i % 3 == 1:  # in the arrays
            pos = rng.randrange(8 + header_len, len(data))
        else:  # the header length
            pos = rng.randrange(0, 8)
        data[pos] = rng.randrange(256)
        try:
            _datacache.decode(data)
        except _datacache.CorruptEntryError:
            outcomes["corrupt"] += 1
        else:
            outcomes["loaded"] += 1
    assert outcomes["corrupt"] > 50 and sum(outcomes.values()) == 300, outcomes


# ------------------------------------------------------------------------------------------------
# a full disk


def _enospc_mid_write(monkeypatch, calls: list):
    real = _datacache._write_all

    def write_all(fd, data):
        calls.append(len(data))
        if len(data) <= _datacache._PREAMBLE:
            return real(fd, data)
        real(fd, memoryview(data)[: len(data) // 2])  # half of the payload reaches the disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_datacache, "_write_all", write_all)


def test_disk_full_while_writing_the_cache(cache_folder, caplog, monkeypatch):
    ex = grid_extract(8, 8)
    fresh = urbankit.build_network(ex, "drive", cache=False)
    calls = []
    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING, logger=LOGGER):
        _enospc_mid_write(patch, calls)
        got = urbankit.build_network(ex, "drive")
    assert len(calls) == 2  # the failure happened mid-write, not before
    _networks_identical(got, fresh)
    msgs = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "could not write network cache" in m and "No space left" in m and "continuing without it" in m for m in msgs
    ), msgs
    assert list((cache_folder / "networks").iterdir()) == []  # no entry, no partial temporary


def test_disk_full_keeps_the_previous_entry(cache_folder, caplog, monkeypatch):
    ex = grid_extract(8, 8)
    net = urbankit.build_network(ex, "walk")
    entry = networks._cache_path(net.key)
    before = entry.read_bytes()
    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING, logger=LOGGER):
        _enospc_mid_write(patch, [])
        networks._store_cached(net)
    assert entry.read_bytes() == before
    assert [p.name for p in (cache_folder / "networks").iterdir()] == [entry.name]
    with monkeypatch.context() as patch:
        _no_rebuild(patch)
        _networks_identical(urbankit.build_network(ex, "walk"), net)


def test_disk_full_when_creating_the_temporary(cache_folder, caplog, monkeypatch):
    ex = grid_extract(5, 5)
    fresh = urbankit.build_network(ex, "walk", cache=False)
    real_open = os.open

    def full_open(path, flags, *args):
        if ".tmp" in os.fspath(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
        return real_open(path, flags, *args)

    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING, logger=LOGGER):
        patch.setattr(_datacache.os, "open", full_open)
        got = urbankit.build_network(ex, "walk")
    _networks_identical(got, fresh)
    assert any("No space left" in r.getMessage() for r in caplog.records)
    assert _leftovers(cache_folder) == []


def test_interrupt_while_writing_removes_the_temporary(cache_folder, monkeypatch):
    net = urbankit.build_network(grid_extract(5, 5), "walk", cache=False)
    real = _datacache._write_all

    def interrupted(fd, data):
        real(fd, memoryview(data)[:10])
        raise KeyboardInterrupt

    monkeypatch.setattr(_datacache, "_write_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        networks._store_cached(net)
    assert list((cache_folder / "networks").iterdir()) == []


def test_stale_temporaries_of_dead_writers_are_removed(cache_folder):
    ex = grid_extract(5, 5)
    key = urbankit.build_network(ex, "walk", cache=False).key
    folder = cache_folder / "networks"
    folder.mkdir()
    dead = 2**22 + 12345  # above the default pid_max: no such process
    for name in (f"{key}.tmp{dead}", f"{key}.tmp{dead}-0a1b2c3d4e5f"):  # old and new temporary names
        (folder / name).write_bytes(b"partial")
    urbankit.build_network(ex, "walk")
    assert sorted(p.name for p in folder.iterdir()) == [networks._cache_path(key).name]


# ------------------------------------------------------------------------------------------------
# the download (osmnx HTTP) cache: JSON only; atomic writes, unreadable entries are a miss


def test_download_cache_disk_full_and_partial_entries(cache_folder, caplog, monkeypatch):
    osmnx = pytest.importorskip("osmnx")
    from osmnx import _http

    from urbankit.osm import download as _online

    originals = (_http._save_to_cache, _http._retrieve_from_cache)
    url = "https://overpass.example/api/interpreter?data=[out:json];way(1);out;"
    ways = [{"type": "way", "id": i, "nodes": [i, i + 1], "tags": {"name": "<b>x</b>"}} for i in range(50)]
    response = {"elements": ways}
    with _online._osmnx_session():
        path = _http._resolve_cache_filepath(url)
        assert path.parent == cache_folder / "osmnx"
        # disk full mid-write: no exception, a warning, no partial entry and no temporary
        with monkeypatch.context() as patch, caplog.at_level(logging.WARNING, logger="urbankit.osm.download"):
            _enospc_mid_write(patch, calls := [])
            _http._save_to_cache(url, response, True)
        assert calls and any("could not write download cache" in r.getMessage() for r in caplog.records)
        assert not path.parent.exists() or list(path.parent.iterdir()) == []
        assert _http._retrieve_from_cache(url) is None
        # a complete entry round-trips
        _http._save_to_cache(url, response, True)
        assert [p.name for p in path.parent.iterdir()] == [path.name]
        assert _http._retrieve_from_cache(url) == response
        # a partial entry (e.g. left by an older writer on a full disk) is a miss, with a warning
        path.write_bytes(path.read_bytes()[:20])
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="urbankit.osm.download"):
            assert _http._retrieve_from_cache(url) is None
        assert any("unreadable" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)
    assert (_http._save_to_cache, _http._retrieve_from_cache) == originals
    assert osmnx.settings.cache_folder != cache_folder / "osmnx"


def _column_encodings(payload: bytes) -> dict:
    """Column name -> encoding, read from the JSON header of an encoded single frame."""
    import json

    size = int.from_bytes(payload[:8], "little")
    spec = json.loads(payload[8 : 8 + size])["value"]["frame"]
    return {name: col["enc"] for name, col in spec["columns"]}


def test_codec_tags_and_text_columns_round_trip_exactly():
    """OSM-tags-like dicts are stored as plain JSON objects (types, key order, NaN kept); anything
    else in a dict falls back to the general encoding; text keeps first-appearance codes."""
    rng = np.random.default_rng(3)
    words = np.array(["b", "a", "ü", "", "a b"], dtype=object)
    text = words[rng.integers(0, len(words), 500)]
    text[[7, 50, 51]] = [None, np.nan, pd.NA]
    tags = [{"amenity": "cafe", "name": "Caf\u00e9 \udcff", "level": 2, "w": 2.5, "ok": True, "n": None},
            None, {"z": "1", "a": "2"}, {}, {"x": float("nan")}]
    odd = [{"k": (1, 2)}, None, {"k": "v"}, {1: "int key"}, {"k": [1]}]
    df = pd.DataFrame({"text": pd.Series(text, dtype=object), "tags": pd.Series(tags, dtype=object),
                       "odd": pd.Series(odd, dtype=object)}).iloc[:5]
    df["text"] = pd.Series(text[:5], dtype=object)
    payload = _datacache.encode(df)
    assert _column_encodings(payload) == {"text": "text", "tags": "json-objects", "odd": "json"}
    got = _datacache.decode(bytearray(payload))
    for i, (a, b) in enumerate(zip(got["tags"], tags, strict=True)):
        if b is None:
            assert a is None
            continue
        assert list(a) == list(b), i  # key order
        for k in b:
            assert type(a[k]) is type(b[k]) and (a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]))
    assert got["odd"].tolist() == odd and type(got["odd"][0]["k"]) is tuple
    long = pd.DataFrame({"text": pd.Series(text, dtype=object)})
    back = _datacache.decode(bytearray(_datacache.encode(long)))["text"].tolist()
    for a, b in zip(back, text, strict=True):
        assert (a is b) if b is None or b is pd.NA else (a == b if isinstance(b, str) else np.isnan(a))
    # a NaT among text is no text: the general encoding refuses it, as before
    with pytest.raises(_datacache.UnstorableError):
        _datacache.encode(pd.DataFrame({"t": pd.Series(["a", pd.NaT], dtype=object)}))
