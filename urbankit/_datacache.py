"""Data-only cache entries: values and (Geo)DataFrames stored without pickle, verified by SHA-256.

An entry is one file: a preamble of 96 bytes, then the payload::

    URBANKIT-CACHE 2\\n
    <SHA-256 of the payload, 64 hex digits><spaces>\\n
    <header length: 8 bytes, little-endian><header: UTF-8 JSON><raw arrays, each 16-byte aligned>

The header describes the stored value and lists the arrays (dtype, offset, count): one-dimensional
numeric or boolean arrays only (column data, coordinates, UTF-8 text, WKB geometry bytes and their
offsets). Loading never runs code from the file: the magic line and the hash are checked before
anything else is parsed, then the header is read with :func:`json.loads` and every array with
:func:`numpy.frombuffer` after checking its dtype against a numeric whitelist and its extent against
the file (no pickle, no ``numpy.load``, no decompression); CRSs are parsed as ``AUTHORITY:CODE`` or
WKT only. Anything unexpected raises :class:`CorruptEntryError`, so callers ignore the entry and
rebuild.

Writing is atomic: the entry is written to a uniquely named temporary beside it (``<stem>.tmp<pid>-
<random>``, created exclusively) and renamed into place; on any failure (e.g. ``ENOSPC``) the
temporary is removed and the error raised, leaving a previous entry untouched.

The hash detects corrupt, truncated and tampered entries; it does not authenticate their writer:
whoever may write the cache folder can still store a well-formed entry with wrong data, but never
run code in the process that reads it.

JSON values are stored exactly (type-preserving): ``None``, ``bool``, ``int``, ``float``, ``str``
and lists natively, tuples as ``{"tuple": [...]}``, dicts (any storable hashable keys) as
``{"dict": [[key, value], ...]}``, numpy numeric scalars as ``{"scalar": [dtype, value]}`` and
DataFrames / GeoDataFrames as ``{"frame": {...}}``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._util import pid_alive

logger = logging.getLogger(__name__)

MAGIC = b"URBANKIT-CACHE 2\n"
_HASH_LEN = 64
#: bytes before the payload (magic line, hash line padded with spaces), a multiple of the alignment
_PREAMBLE = 96
_ALIGN = 16
#: numeric kinds an array member may have (never object, void or strings)
_ARRAY_KINDS = set("biufmM")
_AUTHORITY_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*:[0-9A-Za-z_.-]+$")
#: shapely geometry type ids stored as coordinate arrays
_POINT, _LINESTRING = 0, 1
#: marks of missing values in text and geometry columns
_PRESENT, _NONE, _NAN, _PD_NA = 0, 1, 2, 3


class CorruptEntryError(ValueError):
    """The cache entry is not one this module wrote (corrupt, truncated, tampered, other format)."""


class UnstorableError(ValueError):
    """The value holds something this format cannot store exactly."""


# ------------------------------------------------------------------------------------------------
# writing


def _write_all(fd: int, data) -> None:
    """Write all of ``data`` to the file descriptor ``fd`` (in chunks of at most 1 MiB)."""
    view = memoryview(data).cast("B")
    while view:
        n = os.write(fd, view[: 1 << 20])
        view = view[n:]


def temporary_name(path: Path) -> Path:
    """A fresh, unique temporary path beside ``path`` (``<stem>.tmp<pid>-<random>``)."""
    return path.with_name(f"{path.stem}.tmp{os.getpid()}-{secrets.token_hex(6)}")


def remove_stale_temporaries(path: Path, *, older_than_s: float = 600.0) -> None:
    """Remove temporaries of writers of ``path`` that died (or are older than ``older_than_s``)."""
    now = time.time()
    for tmp in path.parent.glob(f"{path.stem}.tmp*"):
        match = re.fullmatch(r"tmp(\d+)(?:-[0-9a-f]*)?", tmp.name[len(path.stem) + 1 :])
        pid = int(match.group(1)) if match else -1
        alive = pid > 0 and pid_alive(pid)
        with contextlib.suppress(OSError):
            if not alive or now - tmp.lstat().st_mtime > older_than_s:
                tmp.unlink()


#: forked cache writers not yet waited for (:func:`dump_entry` with ``background``)
_WRITERS: list[int] = []


def _wait_writers() -> None:
    """Wait for every forked cache writer (at exit: the entries are complete when the process ends)."""
    while _WRITERS:
        pid = _WRITERS.pop()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _reap_writers() -> None:
    """Collect the forked cache writers that have finished (no waiting)."""
    for pid in list(_WRITERS):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _WRITERS.remove(pid)


def dump_entry(path: Path, value, *, background: bool = False) -> None:
    """Store ``value`` at ``path`` atomically.

    With ``background`` (and ``settings.background_cache_writes``, where a forked process can help:
    :func:`urbankit._util.can_fork`), a forked process encodes and writes the entry while this one goes
    on; its failures are logged there and leave no entry (the next run rebuilds it). This process
    waits for its writers when it exits.

    Raises
    ------
    UnstorableError
        ``value`` holds something that cannot be stored exactly (nothing is written).
    OSError
        Writing failed (e.g. ``ENOSPC``); no temporary is left and a previous entry stays.
    """
    from . import _util, settings

    if background and settings.background_cache_writes and _util.can_fork():
        import atexit

        _reap_writers()
        if not _WRITERS:
            atexit.unregister(_wait_writers)
            atexit.register(_wait_writers)

        def work() -> None:  # in the forked writer: failures are logged there and leave no entry
            try:
                dump_entry(path, value)
            except (UnstorableError, OSError) as exc:
                logger.warning("cache entry %s not written (%s); continuing without it", Path(path).name, exc)
                raise

        pid = _util.fork_call(work)
        _WRITERS.append(pid)
        return
    payload = encode(value)
    head = (MAGIC + hashlib.sha256(payload).hexdigest().encode()).ljust(_PREAMBLE - 1) + b"\n"
    write_atomic(path, head, payload)


def write_atomic(path: Path, *parts: bytes) -> None:
    """Write the concatenated ``parts`` to ``path`` through a unique temporary and a rename.

    Raises
    ------
    OSError
        Writing failed (e.g. ``ENOSPC``); the temporary is removed and a previous file stays.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        for part in parts:
            _write_all(fd, part)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def encode(value) -> bytes:
    """The payload of ``value``: header length, JSON header, aligned raw arrays."""
    arrays: list[np.ndarray] = []
    encoded = _encode_value(value, arrays)
    table, offset = [], 0
    for a in arrays:
        table.append([a.dtype.str, offset, len(a)])
        offset += -(-a.nbytes // _ALIGN) * _ALIGN
    header = json.dumps({"value": encoded, "arrays": table}, allow_nan=True, separators=(",", ":")).encode("utf-8")
    header += b" " * (-(8 + len(header)) % _ALIGN)
    parts = [len(header).to_bytes(8, "little"), header]
    for a in arrays:
        parts += [a.tobytes(), bytes(-a.nbytes % _ALIGN)]
    return b"".join(parts)


def _encode_value(value, arrays: list):
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [_encode_value(v, arrays) for v in value]
    if type(value) is tuple:
        return {"tuple": [_encode_value(v, arrays) for v in value]}
    if type(value) is dict:
        return {"dict": [[_encode_value(k, arrays), _encode_value(v, arrays)] for k, v in value.items()]}
    if isinstance(value, np.generic) and value.dtype.kind in _ARRAY_KINDS - set("mM"):
        return {"scalar": [value.dtype.str, value.item()]}
    if type(value) in (pd.DataFrame, gpd.GeoDataFrame):
        return {"frame": _encode_frame(value, arrays)}
    raise UnstorableError(f"a value of type {type(value).__name__} cannot be cached")


def _add(arrays: list, array: np.ndarray) -> int:
    array = np.ascontiguousarray(array)
    if array.ndim != 1 or array.dtype.kind not in _ARRAY_KINDS:
        raise UnstorableError(f"an array of dtype {array.dtype} and shape {array.shape} cannot be cached")
    arrays.append(array)
    return len(arrays) - 1


def _encode_frame(df: pd.DataFrame, arrays: list) -> dict:
    if not df.columns.is_unique:
        raise UnstorableError("a frame with duplicate column names cannot be cached")
    if isinstance(df.index, pd.MultiIndex) or isinstance(df.columns, pd.MultiIndex):
        raise UnstorableError("a frame with a MultiIndex cannot be cached")
    if type(df.index) is pd.RangeIndex:
        index = {"enc": "range", "start": df.index.start, "stop": df.index.stop, "step": df.index.step}
    else:
        index = _encode_column(df.index.to_series(index=None), arrays)
    index["name"] = _encode_value(df.index.name, arrays)
    columns = [[_encode_value(name, arrays), _encode_column(df[name], arrays)] for name in df.columns]
    out = {"n": len(df), "index": index, "columns": columns, "attrs": _encode_value(dict(df.attrs), arrays)}
    if isinstance(df, gpd.GeoDataFrame):
        out["geometry"] = _encode_value(df._geometry_column_name, arrays)
    return out


def _encode_column(s: pd.Series, arrays: list) -> dict:
    dtype = s.dtype
    if isinstance(dtype, gpd.array.GeometryDtype):
        geoms = np.asarray(s.array, dtype=object)
        ragged = _encode_ragged(geoms, arrays)
        if ragged is not None:
            return {**ragged, "crs": _encode_crs(s.crs)}
        wkb = shapely.to_wkb(geoms)
        missing = np.fromiter((w is None for w in wkb), dtype=np.uint8, count=len(wkb))
        present = [w for w in wkb if w is not None]
        lengths = np.fromiter(map(len, present), dtype=np.int64, count=len(present))
        return {
            "enc": "geometry",
            "crs": _encode_crs(s.crs),
            "data": _add(arrays, np.frombuffer(b"".join(present), dtype=np.uint8)),
            "offsets": _add(arrays, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)),
            "missing": _add(arrays, missing),
        }
    if isinstance(dtype, pd.StringDtype):
        na = "nan" if dtype.na_value is not pd.NA and np.isnan(dtype.na_value) else "NA"
        spec = _encode_text(np.asarray(s.array, dtype=object), arrays)
        if spec is None:
            raise UnstorableError(f"column {s.name!r} holds a value that is not text")
        return {**spec, "dtype": {"string": [dtype.storage, na]}}
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        values = s.to_numpy(dtype=object)
        spec = _encode_text(values, arrays)
        if spec is not None:
            return {**spec, "dtype": "object"}
        items = values.tolist()
        if _plain_dicts(items):
            text = json.dumps(items, allow_nan=True, separators=(",", ":"))
            return {"enc": "json-objects",
                    "data": _add(arrays, np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8))}
        text = json.dumps([_encode_value(v, arrays) for v in values], allow_nan=True, separators=(",", ":"))
        return {"enc": "json", "data": _add(arrays, np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8))}
    if isinstance(dtype, np.dtype) and dtype.kind in _ARRAY_KINDS:
        return {"enc": "numpy", "dtype": dtype.str, "data": _add(arrays, s.to_numpy())}
    raise UnstorableError(f"column {s.name!r} of dtype {dtype} cannot be cached")


def _encode_ragged(geoms: np.ndarray, arrays: list) -> dict | None:
    """Points or line strings (all of one type, none missing or empty, uniform Z, no M) as
    coordinates and offsets, which load much faster than WKB; None for any other column."""
    if len(geoms) == 0 or shapely.is_missing(geoms).any() or shapely.is_empty(geoms).any():
        return None
    types = shapely.get_type_id(geoms)
    kind = int(types[0])
    has_z = shapely.has_z(geoms)
    if kind not in (_POINT, _LINESTRING) or (types != kind).any() or has_z.any() != has_z.all():
        return None
    if hasattr(shapely, "has_m") and shapely.has_m(geoms).any():
        return None
    _, coords, offsets = shapely.to_ragged_array(geoms, include_z=bool(has_z[0]))
    spec = {"enc": "ragged", "type": kind, "dims": int(coords.shape[1]), "coords": _add(arrays, coords.ravel())}
    if kind == _LINESTRING:
        spec["offsets"] = _add(arrays, offsets[0])
    return spec


def _encode_text(values: np.ndarray, arrays: list) -> dict | None:
    """Text as a dictionary (its distinct values as UTF-8 with code point offsets, and the code of
    each row; -1 and a mark in ``missing`` for missing values), or None if a value is no str.

    Codes number the distinct values in order of first appearance (``pandas.factorize``, in C; the
    Python loop only visits the missing values)."""
    values = np.asarray(values, dtype=object)
    missing = np.zeros(len(values), dtype=np.uint8)
    absent = pd.isna(values)
    for i in np.flatnonzero(absent).tolist():
        v = values[i]
        if v is None:
            missing[i] = _NONE
        elif v is pd.NA:
            missing[i] = _PD_NA
        elif type(v) is float and v != v:
            missing[i] = _NAN
        else:  # NaT, numpy NaN scalars, ...: not text
            return None
    present = values[~absent] if absent.any() else values
    if any(t is not str for t in set(map(type, present))):
        return None
    codes = np.full(len(values), -1, dtype=np.int64)
    found, uniques = pd.factorize(present, use_na_sentinel=False)
    codes[~absent] = found
    distinct = uniques.tolist() if hasattr(uniques, "tolist") else list(uniques)
    lengths = np.fromiter(map(len, distinct), dtype=np.int64, count=len(distinct))
    data = "".join(distinct).encode("utf-8", "surrogatepass")
    return {
        "enc": "text",
        "data": _add(arrays, np.frombuffer(data, dtype=np.uint8)),
        "offsets": _add(arrays, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)),
        "codes": _add(arrays, codes.astype(np.int64 if len(distinct) >= 2**31 else np.int32)),
        "missing": _add(arrays, missing),
    }


#: JSON scalars a tags-like column (dicts of them) is stored as plain JSON objects with
_JSON_SCALARS = (str, int, float, bool, type(None))


def _plain_dicts(values: list) -> bool:
    """Whether every value is None or a dict of str keys to JSON scalars (e.g. OSM tags): such a
    column is stored as JSON objects, which :func:`json.loads` rebuilds in C, exactly."""
    for v in values:
        if v is None:
            continue
        if type(v) is not dict:
            return False
        for key, item in v.items():
            if type(key) is not str or type(item) not in _JSON_SCALARS:
                return False
    return True


def _encode_crs(crs) -> str | None:
    if crs is None:
        return None
    from pyproj import CRS

    srs = crs.srs if isinstance(crs.srs, str) else ""
    if _AUTHORITY_CODE.match(srs) and CRS.from_user_input(srs) == crs:
        return srs
    wkt = crs.to_wkt()
    if CRS.from_wkt(wkt) != crs:
        raise UnstorableError(f"the CRS {srs or wkt!r} cannot be stored exactly")
    return wkt


# ------------------------------------------------------------------------------------------------
# reading


def load_entry(path: Path):
    """The value stored at ``path`` by :func:`dump_entry`.

    Raises
    ------
    FileNotFoundError
        There is no entry.
    CorruptEntryError
        The file is not a valid entry (wrong format, hash mismatch, unexpected content); nothing in
        it was executed.
    OSError
        It cannot be read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise CorruptEntryError(f"cannot open it as a regular file ({exc.strerror or exc})") from None
    with open(fd, "rb", buffering=0) as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise CorruptEntryError("not a regular file")
        # a writable, aligned buffer: arrays are views of it
        data = bytearray(st.st_size)
        view = memoryview(data)
        got = 0
        while got < len(data):
            n = f.readinto(view[got:])
            if not n:
                break
            got += n
        if got != len(data) or f.read(1):
            raise CorruptEntryError("the file changed while it was read")
    if not data.startswith(MAGIC):
        raise CorruptEntryError("not an urbankit cache entry of this format (wrong magic line)")
    if len(data) < _PREAMBLE or data[_PREAMBLE - 1 : _PREAMBLE] != b"\n":
        raise CorruptEntryError("truncated preamble")
    digest = bytes(data[len(MAGIC) : len(MAGIC) + _HASH_LEN])
    if bytes(data[len(MAGIC) + _HASH_LEN : _PREAMBLE - 1]).strip(b" "):
        raise CorruptEntryError("malformed preamble")
    if not hmac.compare_digest(hashlib.sha256(view[_PREAMBLE:]).hexdigest().encode(), digest):
        raise CorruptEntryError("content hash mismatch (corrupt, truncated or tampered)")
    return decode(data, start=_PREAMBLE)


def decode(buffer, *, start: int = 0):
    """The value of a payload made by :func:`encode` at ``start`` of ``buffer`` (data only: no
    pickle, no code). Arrays are views of ``buffer``.

    Raises
    ------
    CorruptEntryError
        Anything malformed (whatever the underlying error).
    """
    try:
        return _decode(buffer, start)
    except CorruptEntryError:
        raise
    except Exception as exc:  # malformed content behind a valid hash: still only data
        raise CorruptEntryError(f"malformed content ({type(exc).__name__}: {exc})") from None


def _decode(buffer, start: int):
    if len(buffer) < start + 8:
        raise CorruptEntryError("truncated payload")
    size = int.from_bytes(bytes(buffer[start : start + 8]), "little")
    if size > len(buffer) - start - 8:
        raise CorruptEntryError("truncated header")
    header = json.loads(bytes(buffer[start + 8 : start + 8 + size]).decode("utf-8"))
    if type(header) is not dict or set(header) != {"value", "arrays"} or type(header["arrays"]) is not list:
        raise CorruptEntryError("unexpected header")
    base = start + 8 + size
    arrays = []
    for item in header["arrays"]:
        if type(item) is not list or len(item) != 3 or type(item[1]) is not int or type(item[2]) is not int:
            raise CorruptEntryError("unexpected array table")
        dtype, offset, count = _safe_dtype(item[0]), item[1], item[2]
        if offset < 0 or count < 0 or base + offset + count * dtype.itemsize > len(buffer):
            raise CorruptEntryError("an array lies outside the file")
        arrays.append(np.frombuffer(buffer, dtype=dtype, count=count, offset=base + offset))
    return _Decoder(arrays).value(header["value"])


def _safe_dtype(desc) -> np.dtype:
    if type(desc) is not str or not re.fullmatch(r"[<>|=]?[biufmM]\d+(\[[a-zA-Z0-9]+\])?", desc):
        raise CorruptEntryError(f"unexpected dtype {desc!r}")
    dtype = np.dtype(desc)
    if dtype.kind not in _ARRAY_KINDS:
        raise CorruptEntryError(f"unexpected dtype {desc!r}")
    return dtype


class _Decoder:
    def __init__(self, arrays: list[np.ndarray]):
        self.arrays = arrays

    def array(self, ref, dtype=None) -> np.ndarray:
        if type(ref) is not int or not 0 <= ref < len(self.arrays):
            raise CorruptEntryError(f"no array {ref!r}")
        a = self.arrays[ref]
        if dtype is not None and a.dtype != np.dtype(dtype):
            raise CorruptEntryError(f"array {ref} has dtype {a.dtype}, not {np.dtype(dtype)}")
        return a

    def value(self, v):
        if v is None or type(v) in (bool, int, float, str):
            return v
        if type(v) is list:
            return [self.value(x) for x in v]
        if type(v) is not dict or len(v) != 1:
            raise CorruptEntryError("unexpected value in header")
        (tag, body), = v.items()
        if tag == "tuple" and type(body) is list:
            return tuple(self.value(x) for x in body)
        if tag == "dict" and type(body) is list:
            out = {}
            for pair in body:
                if type(pair) is not list or len(pair) != 2:
                    raise CorruptEntryError("unexpected dict item in header")
                out[self.value(pair[0])] = self.value(pair[1])
            return out
        if tag == "scalar" and type(body) is list and len(body) == 2:
            dtype = _safe_dtype(body[0])
            if dtype.kind in "mM" or type(body[1]) not in (bool, int, float):
                raise CorruptEntryError("unexpected scalar in header")
            return dtype.type(body[1])
        if tag == "frame" and type(body) is dict:
            return self.frame(body)
        raise CorruptEntryError(f"unexpected tag {tag!r} in header")

    def frame(self, spec: dict) -> pd.DataFrame:
        n = spec.get("n")
        if type(n) is not int or n < 0 or type(spec.get("columns")) is not list or type(spec.get("index")) is not dict:
            raise CorruptEntryError("unexpected frame header")
        ispec = spec["index"]
        if ispec.get("enc") == "range":
            bounds = [ispec.get(k) for k in ("start", "stop", "step")]
            if any(type(b) is not int for b in bounds) or bounds[2] == 0:
                raise CorruptEntryError("unexpected range index")
            index = pd.RangeIndex(*bounds, name=self.value(ispec.get("name")))
            if len(index) != n:
                raise CorruptEntryError("index length differs from the row count")
        else:
            values = self.column(ispec, n)
            dtype = object if isinstance(values, np.ndarray) and values.dtype == object else None
            index = pd.Index(values, dtype=dtype, name=self.value(ispec.get("name")), copy=False)
        data = {}
        for item in spec["columns"]:
            if type(item) is not list or len(item) != 2 or type(item[1]) is not dict:
                raise CorruptEntryError("unexpected column header")
            name = self.value(item[0])
            if name in data:
                raise CorruptEntryError(f"duplicate column {name!r}")
            values = self.column(item[1], n)
            if isinstance(values, np.ndarray) and values.dtype == object:  # kept as object, not inferred
                values = pd.Series(values, index=index, dtype=object, copy=False)
            data[name] = values
        df = pd.DataFrame(data, index=index, copy=False)
        if "geometry" in spec:
            geometry = self.value(spec["geometry"])
            if geometry not in data or not isinstance(df[geometry].dtype, gpd.array.GeometryDtype):
                raise CorruptEntryError("the active geometry column is not a geometry column")
            df = gpd.GeoDataFrame(df, geometry=geometry)
        attrs = self.value(spec.get("attrs"))
        if type(attrs) is not dict:
            raise CorruptEntryError("unexpected frame attributes")
        df.attrs.update(attrs)
        return df

    def column(self, spec: dict, n: int):
        enc = spec.get("enc")
        if enc == "numpy":
            a = self.array(spec.get("data"), _safe_dtype(spec.get("dtype")))
            if len(a) != n:
                raise CorruptEntryError("column length differs from the row count")
            return a
        if enc == "json":
            text = self.array(spec.get("data"), np.uint8).tobytes().decode("utf-8", "surrogatepass")
            items = json.loads(text)
            if type(items) is not list or len(items) != n:
                raise CorruptEntryError("column length differs from the row count")
            out = np.empty(n, dtype=object)
            out[:] = [self.value(v) for v in items] if n else []
            return out
        if enc == "json-objects":
            text = self.array(spec.get("data"), np.uint8).tobytes().decode("utf-8", "surrogatepass")
            items = json.loads(text)
            if type(items) is not list or len(items) != n:
                raise CorruptEntryError("column length differs from the row count")
            if not _plain_dicts(items):
                raise CorruptEntryError("a JSON-object column holds something else")
            out = np.empty(n, dtype=object)
            out[:] = items if n else []
            return out
        if enc == "ragged":
            return self.ragged(spec, n)
        if enc not in ("text", "geometry"):
            raise CorruptEntryError(f"unexpected column encoding {enc!r}")
        raw = self.array(spec.get("data"), np.uint8)
        offsets = self.array(spec.get("offsets"), np.int64)
        missing = self.array(spec.get("missing"), np.uint8)
        present = missing == _PRESENT
        k = int(present.sum()) if enc == "geometry" else len(offsets) - 1
        if len(missing) != n or len(offsets) != k + 1 or offsets[0] != 0 or (np.diff(offsets) < 0).any():
            raise CorruptEntryError("inconsistent text or geometry offsets")
        out = np.empty(n, dtype=object)
        if enc == "geometry":
            if offsets[-1] != len(raw):
                raise CorruptEntryError("inconsistent geometry offsets")
            blob = raw.tobytes()
            bounds = offsets.tolist()
            wkb = np.array([blob[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)] if k else [], dtype=object)
            if ((missing != _PRESENT) & (missing != _NONE)).any():
                raise CorruptEntryError("unexpected missing-geometry mark")
            out[present] = shapely.from_wkb(wkb, on_invalid="raise") if k else []
            return gpd.array.GeometryArray(out, crs=_decode_crs(spec.get("crs")))
        text = raw.tobytes().decode("utf-8", "surrogatepass")
        if offsets[-1] != len(text):
            raise CorruptEntryError("inconsistent text offsets")
        bounds = offsets.tolist()
        distinct = np.empty(k, dtype=object)
        distinct[:] = [text[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        codes = self.array(spec.get("codes"))
        if codes.dtype.kind != "i" or len(codes) != n:
            raise CorruptEntryError("inconsistent text codes")
        codes = codes[present]
        if len(codes) and (codes.min() < 0 or codes.max() >= k):
            raise CorruptEntryError("a text code lies outside its dictionary")
        out[present] = distinct[codes]
        for mark, fill in ((_NONE, None), (_NAN, np.nan), (_PD_NA, pd.NA)):
            sel = missing == mark
            if sel.any():
                out[sel] = [fill] * int(sel.sum())
        if (missing > _PD_NA).any():
            raise CorruptEntryError("unexpected missing-text mark")
        dtype = spec.get("dtype")
        if dtype == "object":
            return out
        string = dtype.get("string") if type(dtype) is dict and set(dtype) == {"string"} else None
        if type(string) is list and len(string) == 2:
            storage, na = string
            if storage in ("python", "pyarrow") and na in ("nan", "NA"):
                return pd.array(out, dtype=pd.StringDtype(storage, na_value=np.nan if na == "nan" else pd.NA))
        raise CorruptEntryError(f"unexpected text dtype {dtype!r}")

    def ragged(self, spec: dict, n: int):
        kind, dims = spec.get("type"), spec.get("dims")
        if kind not in (_POINT, _LINESTRING) or dims not in (2, 3):
            raise CorruptEntryError("unexpected geometry type or dimensions")
        coords = self.array(spec.get("coords"), np.float64)
        if len(coords) % dims:
            raise CorruptEntryError("coordinates do not fill whole points")
        coords = coords.reshape(-1, dims)
        if kind == _POINT:
            if len(coords) != n:
                raise CorruptEntryError("column length differs from the row count")
            offsets = ()
        else:
            off = self.array(spec.get("offsets"))
            if (
                off.dtype.kind != "i"
                or len(off) != n + 1
                or off[0] != 0
                or off[-1] != len(coords)
                or (np.diff(off) < 2).any()
            ):
                raise CorruptEntryError("inconsistent line string offsets")
            offsets = (off,)
        geoms = shapely.from_ragged_array(shapely.GeometryType(kind), coords, offsets)
        return gpd.array.GeometryArray(geoms, crs=_decode_crs(spec.get("crs")))


def _decode_crs(text):
    if text is None:
        return None
    from pyproj import CRS

    if type(text) is not str:
        raise CorruptEntryError("unexpected CRS")
    return CRS.from_user_input(text) if _AUTHORITY_CODE.match(text) else CRS.from_wkt(text)
