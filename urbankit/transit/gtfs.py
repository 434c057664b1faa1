"""Read GTFS feeds (zip or folder, one or several at once) into one timetable for one service date.

Semantics (tested in ``tests/test_transit.py``):

* **Service date.** Only the trips running on the chosen date are kept: a service is active when ``calendar.txt``
  has the weekday flag set and ``start_date <= date <= end_date``, then ``calendar_dates.txt`` adds
  (``exception_type`` 1) or removes (2) it. Trips of the previous service day that run past midnight are not
  included (as in Conveyal R5, which routes on one service day).
* **Times.** GTFS times are ``H:MM:SS`` local to the feed's agency time zone, measured from "noon minus 12 h" of the
  service day (midnight, except on days when the clocks change) and may exceed 24:00. They are kept as integer
  seconds since noon minus 12 h of the service date *in the reference time zone* (``timezone``, by default the
  first feed's agency zone): a feed in another zone is shifted by the difference between the two days' origins,
  so that every time in the timetable is on one clock. Missing times of intermediate stops (non-timepoints) are
  interpolated linearly by position between the surrounding timed stops, rounded down to the second.
* **Frequencies.** ``exact_times=1`` rows are expanded to scheduled trips departing at ``start_time``,
  ``start_time + headway_secs``, ... while before ``end_time``, each a copy of the template trip shifted in time.
  ``exact_times=0`` (or empty) rows are headway-based: they stay in :attr:`Timetable.frequencies` with their
  template trip (``Timetable.trips.frequency_template``) and the router either draws offsets for them (seeded,
  stratified) or uses half-headway waits (see :mod:`urbankit.transit.raptor`).
* **transfers.txt.** A row naming a station (a stop that is the ``parent_station`` of others) applies to every
  pair of its child stops (GTFS); a later row for the same pair replaces an earlier one. Stop-to-stop rows are kept
  with ``transfer_type`` (0-3) and ``min_transfer_time`` (seconds).
  Rows naming ``from_route_id``/``to_route_id``/``from_trip_id``/``to_trip_id`` and in-seat types (4, 5) are left
  out (logged). How the router uses them: :func:`urbankit.transit.raptor.build_network`.
* **Lenient points.** ``stop_times.txt`` rows of trips absent from ``trips.txt`` are ignored with a logged warning
  (Google's reference example has some); everything else inconsistent is an error.
* **pickup_type / drop_off_type** 1 (no pickup / no drop off) forbid boarding / alighting there; other values allow
  them.

Stops of several feeds are kept apart (``feed`` + ``stop_id``); ``stop_index`` numbers them all.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from .._errors import CorruptFileError, InputFileError, InvalidOptionError, UrbankitError

log = logging.getLogger(__name__)

REQUIRED_FILES = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
REQUIRED_COLUMNS = {
    "agency.txt": ("agency_timezone",),
    "stops.txt": ("stop_id",),
    "routes.txt": ("route_id",),
    "trips.txt": ("route_id", "service_id", "trip_id"),
    "stop_times.txt": ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"),
    "calendar.txt": ("service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                     "start_date", "end_date"),
    "calendar_dates.txt": ("service_id", "date", "exception_type"),
    "frequencies.txt": ("trip_id", "start_time", "end_time", "headway_secs"),
    "transfers.txt": ("from_stop_id", "to_stop_id", "transfer_type"),
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class GTFSError(CorruptFileError):
    """A GTFS feed is incomplete or inconsistent (missing file or column, bad time, decreasing stop times)."""


class NoServiceError(UrbankitError, ValueError):
    """A GTFS feed has no trip on the requested service date."""


@dataclass
class Timetable:
    """One service date of one or several GTFS feeds, on one clock.

    Attributes
    ----------
    date : datetime.date
        The service date.
    timezone : str
        The reference time zone: every time is in seconds since noon minus 12 h of ``date`` in this zone.
    feeds : pandas.DataFrame
        One row per feed: ``feed`` (name), ``path``, ``timezone``, ``offset_s`` (seconds added to the feed's
        own times to put them on the reference clock), ``service_start`` and ``service_end`` (first and last date
        any service of the feed runs, from calendar.txt and the added dates of calendar_dates.txt: the feed's
        validity, for reports).
    stops : pandas.DataFrame
        ``stop_index`` (0..n-1, also the index), ``feed``, ``stop_id``, ``stop_name``, ``stop_lat``, ``stop_lon``,
        ``parent_station``.
    trips : pandas.DataFrame
        Trips running on ``date``: ``trip_index`` (also the index), ``feed``, ``trip_id``, ``route_id``,
        ``service_id``, ``frequency_template`` (True for templates of headway-based frequencies, which are not
        scheduled trips themselves).
    stop_times : pandas.DataFrame
        Sorted by ``trip_index`` then ``stop_sequence``: ``trip_index``, ``stop_index``, ``stop_sequence``,
        ``arrival_s``, ``departure_s`` (int64 seconds, reference clock), ``pickup`` and ``drop_off`` (bool: allowed).
    frequencies : pandas.DataFrame
        Headway-based (``exact_times=0``) rows: ``trip_index`` (template), ``start_s``, ``end_s``, ``headway_s``.
    transfers : pandas.DataFrame
        ``from_stop``, ``to_stop`` (stop indexes), ``transfer_type``, ``min_transfer_time_s`` (NaN when empty).
    """

    date: dt.date
    timezone: str
    feeds: pd.DataFrame
    stops: pd.DataFrame
    trips: pd.DataFrame
    stop_times: pd.DataFrame
    frequencies: pd.DataFrame
    transfers: pd.DataFrame

    @property
    def n_stops(self) -> int:
        """Number of stops of all feeds."""
        return len(self.stops)

    def stop_index(self, stop_id: str, *, feed: str | None = None) -> int:
        """The ``stop_index`` of ``stop_id`` (in ``feed``, needed when several feeds have that id)."""
        rows = self.stops[(self.stops.stop_id == str(stop_id)) & ((feed is None) | (self.stops.feed == feed))]
        if len(rows) != 1:
            raise InvalidOptionError(f"stop_id {stop_id!r}{'' if feed is None else f' in feed {feed!r}'} matches "
                                     f"{len(rows)} stops; give an existing stop_id and the feed when ambiguous")
        return int(rows.index[0])


class _Feed:
    """The raw text tables of one feed (zip or folder), read as strings."""

    def __init__(self, path: Path, name: str):
        self.path = path
        self.name = name
        if path.is_dir():
            self._members = {p.name: p for p in path.iterdir() if p.suffix == ".txt"}
            self._zip = None
        elif path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except zipfile.BadZipFile as exc:
                raise InputFileError(f"GTFS feed {name!r} ({path}) is not a zip file or folder: {exc}") from None
            # a feed zipped with its folder, or with macOS resource forks (__MACOSX/._x.txt): take the .txt files
            self._members = {}
            for info in self._zip.infolist():
                base = info.filename.rsplit("/", 1)[-1]
                if base.endswith(".txt") and not base.startswith("._") and "__MACOSX" not in info.filename:
                    self._members.setdefault(base, info.filename)
        else:
            raise InputFileError(f"GTFS feed {name!r}: {path} does not exist; give a GTFS zip file or folder")

    def has(self, filename: str) -> bool:
        return filename in self._members

    def read(self, filename: str, *, required: bool = True) -> pd.DataFrame | None:
        if filename not in self._members:
            if required:
                raise GTFSError(f"GTFS feed {self.name!r} ({self.path}) has no {filename}; a GTFS feed needs "
                                f"{', '.join(REQUIRED_FILES)} and calendar.txt or calendar_dates.txt")
            return None
        member = self._members[filename]
        raw = self._zip.read(member) if self._zip is not None else Path(member).read_bytes()
        try:
            df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, encoding="utf-8-sig",
                             skipinitialspace=True)
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise GTFSError(f"GTFS feed {self.name!r}: {filename} cannot be parsed as CSV: {exc}") from None
        except pd.errors.EmptyDataError:
            df = pd.DataFrame()
        df.columns = [c.strip() for c in df.columns]
        for col in df.columns:
            df[col] = df[col].str.strip()
        missing = [c for c in REQUIRED_COLUMNS.get(filename, ()) if c not in df.columns]
        if missing:
            raise GTFSError(f"GTFS feed {self.name!r}: {filename} lacks the required column(s) {', '.join(missing)}")
        return df


def parse_times(values: pd.Series, *, feed: str, filename: str, column: str) -> np.ndarray:
    """``H:MM:SS`` strings (hours may exceed 24) to float seconds, NaN for empty strings.

    A malformed time raises :class:`GTFSError` naming the feed, file, column and row (1 = header).
    """
    s = values.astype(str)
    # a timetable repeats its times: parse each distinct string once (a large feed's stop_times hold
    # millions of cells but at most a few tens of thousands of distinct times)
    codes, distinct = pd.factorize(s, use_na_sentinel=False)
    distinct = pd.Series(np.asarray(distinct, dtype=object), dtype=object).astype(str)
    empty = (distinct.str.len() == 0).to_numpy()
    parts = distinct.str.extract(r"^(\d+):([0-5]?\d):([0-5]?\d)$")
    bad = (parts[0].isna().to_numpy() & ~empty)
    if bad.any():
        pos = int(np.flatnonzero(bad[codes])[0])
        raise GTFSError(f"GTFS feed {feed!r}: {filename} row {pos + 2} has {column} {s.iloc[pos]!r}, not a time "
                        "H:MM:SS")
    seconds = (parts[0].astype(float) * 3600 + parts[1].astype(float) * 60 + parts[2].astype(float)).to_numpy(float)
    return seconds[codes]


def _parse_dates(values: pd.Series, *, feed: str, filename: str, column: str) -> pd.Series:
    parsed = pd.to_datetime(values, format="%Y%m%d", errors="coerce")
    bad = parsed.isna()
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise GTFSError(f"GTFS feed {feed!r}: {filename} row {pos + 2} has {column} {values.iloc[pos]!r}, not a "
                        "date YYYYMMDD")
    return parsed.dt.date


def _int_column(df: pd.DataFrame, column: str, *, feed: str, filename: str, default: int | None = None) -> np.ndarray:
    if column not in df.columns:
        return np.full(len(df), default if default is not None else 0, dtype=np.int64)
    s = df[column]
    if default is not None:
        s = s.where(s.str.len() > 0, str(default))
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() | (num != num.round())
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise GTFSError(f"GTFS feed {feed!r}: {filename} row {pos + 2} has {column} {s.iloc[pos]!r}, not an integer")
    return num.to_numpy(dtype=np.int64)


def active_services(feed: _Feed, date: dt.date) -> tuple[set, tuple[dt.date, dt.date] | None]:
    """Service ids running on ``date``, and the first and last date any service of the feed runs (or None)."""
    cal = feed.read("calendar.txt", required=False)
    dates = feed.read("calendar_dates.txt", required=False)
    if cal is None and dates is None:
        raise GTFSError(f"GTFS feed {feed.name!r} ({feed.path}) has neither calendar.txt nor calendar_dates.txt; "
                        "one of them says which days trips run")
    active: set = set()
    lo, hi = [], []
    if cal is not None and len(cal):
        start = _parse_dates(cal.start_date, feed=feed.name, filename="calendar.txt", column="start_date")
        end = _parse_dates(cal.end_date, feed=feed.name, filename="calendar.txt", column="end_date")
        day = cal[WEEKDAYS[date.weekday()]] == "1"
        running = day & (start <= date) & (end >= date)
        active |= set(cal.service_id[running])
        lo.append(min(start))
        hi.append(max(end))
    if dates is not None and len(dates):
        when = _parse_dates(dates.date, feed=feed.name, filename="calendar_dates.txt", column="date")
        kind = _int_column(dates, "exception_type", feed=feed.name, filename="calendar_dates.txt")
        bad = ~np.isin(kind, (1, 2))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise GTFSError(f"GTFS feed {feed.name!r}: calendar_dates.txt row {pos + 2} has exception_type "
                            f"{dates.exception_type.iloc[pos]!r}; it must be 1 (added) or 2 (removed)")
        today = (when == date).to_numpy()
        active |= set(dates.service_id[today & (kind == 1)])
        active -= set(dates.service_id[today & (kind == 2)])
        added = when[kind == 1]
        if len(added):
            lo.append(min(added))
            hi.append(max(added))
    return active, ((min(lo), max(hi)) if lo else None)


def _day_origin_utc(date: dt.date, zone: ZoneInfo) -> dt.datetime:
    """Noon minus 12 h of ``date`` in ``zone``, as a UTC instant."""
    noon = dt.datetime(date.year, date.month, date.day, 12, tzinfo=zone)
    return noon.astimezone(dt.UTC) - dt.timedelta(hours=12)


def _zone(name: str, *, feed: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise GTFSError(f"GTFS feed {feed!r}: agency_timezone {name!r} is not an IANA time zone (such as "
                        f"'America/Los_Angeles'); pass timezones={{{feed!r}: '<zone>'}} to read_gtfs") from None


def _feed_names(paths: list[Path], names) -> list[str]:
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != len(paths) or len(set(names)) != len(names):
            raise InvalidOptionError(f"names {names} must be as many as the feeds ({len(paths)}) and distinct")
        return names
    out: list[str] = []
    for p in paths:
        base = p.name.removesuffix(".zip")
        name, i = base, 2
        while name in out:
            name, i = f"{base}_{i}", i + 1
        out.append(name)
    return out


def read_gtfs(
    feeds,
    date,
    *,
    names=None,
    timezone: str | None = None,
    timezones: dict | None = None,
) -> Timetable:
    """Read one or several GTFS feeds for one service date.

    Parameters
    ----------
    feeds : str, Path or list of them
        GTFS zip files or folders.
    date : datetime.date or str
        The service date (``"2026-03-10"``).
    names : list of str, optional
        Feed names used in messages and in the ``feed`` columns (default: the file or folder names).
    timezone : str, optional
        Reference time zone of all times (default: the first feed's agency time zone).
    timezones : dict, optional
        Time zone per feed name, overriding ``agency_timezone`` (for feeds with a non-IANA zone).

    Returns
    -------
    Timetable

    Raises
    ------
    InputFileError
        A feed path does not exist or is not a zip or folder.
    GTFSError
        A required file or column is missing, a value cannot be parsed, ``stop_times`` of a trip decrease, a row
        names an unknown stop or trip (the message names the feed, file and row).
    NoServiceError
        A feed has no trip on ``date`` (the message gives the dates it runs).
    """
    if isinstance(feeds, (str, Path)):
        feeds = [feeds]
    paths = [Path(f) for f in feeds]
    if not paths:
        raise InvalidOptionError("feeds is empty; give at least one GTFS zip file or folder")
    try:
        date = dt.date.fromisoformat(date) if isinstance(date, str) else date
    except ValueError:
        raise InvalidOptionError(f"date {date!r} is not an ISO date such as '2026-03-10'") from None
    if isinstance(date, dt.datetime):
        date = date.date()
    if not isinstance(date, dt.date):
        raise InvalidOptionError(f"date {date!r} must be a datetime.date or an ISO date string")
    feed_names = _feed_names(paths, names)
    timezones = dict(timezones or {})
    unknown = set(timezones) - set(feed_names)
    if unknown:
        raise InvalidOptionError(f"timezones names unknown feeds {sorted(unknown)}; the feeds are {feed_names}")
    parts = [_read_one(_Feed(p, n), date, timezones.get(n)) for p, n in zip(paths, feed_names)]
    ref_name = timezone or parts[0]["timezone"]
    try:
        ref = ZoneInfo(ref_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidOptionError(f"timezone {ref_name!r} is not an IANA time zone such as 'Europe/Berlin'") from None
    ref_origin = _day_origin_utc(date, ref)
    stops, trips, st, freqs, transfers, feed_rows = [], [], [], [], [], []
    n_stops = n_trips = 0
    for part in parts:
        offset = int((_day_origin_utc(date, _zone(part["timezone"], feed=part["name"])) - ref_origin).total_seconds())
        feed_rows.append({"feed": part["name"], "path": str(part["path"]), "timezone": part["timezone"],
                          "offset_s": offset, "service_start": part["span"][0], "service_end": part["span"][1]})
        s = part["stops"].copy()
        s.index = s.index + n_stops
        stops.append(s)
        t = part["trips"].copy()
        t.index = t.index + n_trips
        trips.append(t)
        x = part["stop_times"].copy()
        x["trip_index"] += n_trips
        x["stop_index"] += n_stops
        x["arrival_s"] += offset
        x["departure_s"] += offset
        st.append(x)
        f = part["frequencies"].copy()
        f["trip_index"] += n_trips
        f[["start_s", "end_s"]] += offset
        freqs.append(f)
        tr = part["transfers"].copy()
        tr[["from_stop", "to_stop"]] += n_stops
        transfers.append(tr)
        n_stops += len(s)
        n_trips += len(t)
    stops_df = pd.concat(stops)
    stops_df.index.name = "stop_index"
    trips_df = pd.concat(trips)
    trips_df.index.name = "trip_index"
    return Timetable(
        date=date, timezone=ref_name, feeds=pd.DataFrame(feed_rows), stops=stops_df, trips=trips_df,
        stop_times=pd.concat(st, ignore_index=True), frequencies=pd.concat(freqs, ignore_index=True),
        transfers=pd.concat(transfers, ignore_index=True),
    )


def _read_one(feed: _Feed, date: dt.date, tz_override: str | None) -> dict:
    for filename in REQUIRED_FILES:
        if not feed.has(filename):
            feed.read(filename)  # raises, naming the file
    agency = feed.read("agency.txt")
    zones = sorted(set(agency.agency_timezone) - {""})
    if tz_override is None:
        if not zones:
            raise GTFSError(f"GTFS feed {feed.name!r}: agency.txt gives no agency_timezone")
        if len(zones) > 1:
            raise GTFSError(f"GTFS feed {feed.name!r}: agency.txt gives several time zones {zones}; GTFS requires "
                            "one per feed (split the feed or pass timezones=)")
    tz_name = tz_override or zones[0]
    _zone(tz_name, feed=feed.name)

    stops = feed.read("stops.txt")
    dup = stops.stop_id.duplicated()
    if dup.any():
        pos = int(np.flatnonzero(dup.to_numpy())[0])
        raise GTFSError(f"GTFS feed {feed.name!r}: stops.txt row {pos + 2} repeats stop_id {stops.stop_id.iloc[pos]!r}")
    out_stops = pd.DataFrame({
        "feed": feed.name,
        "stop_id": stops.stop_id.to_numpy(),
        "stop_name": stops.get("stop_name", pd.Series("", index=stops.index)).to_numpy(),
        "stop_lat": pd.to_numeric(stops.get("stop_lat", pd.Series("", index=stops.index)), errors="coerce").to_numpy(),
        "stop_lon": pd.to_numeric(stops.get("stop_lon", pd.Series("", index=stops.index)), errors="coerce").to_numpy(),
        "parent_station": stops.get("parent_station", pd.Series("", index=stops.index)).to_numpy(),
    })
    stop_pos = pd.Series(np.arange(len(stops)), index=stops.stop_id.to_numpy())

    routes = feed.read("routes.txt")
    trips = feed.read("trips.txt")
    unknown_route = ~trips.route_id.isin(routes.route_id)
    if unknown_route.any():
        pos = int(np.flatnonzero(unknown_route.to_numpy())[0])
        raise GTFSError(f"GTFS feed {feed.name!r}: trips.txt row {pos + 2} names route_id "
                        f"{trips.route_id.iloc[pos]!r}, absent from routes.txt")
    dup = trips.trip_id.duplicated()
    if dup.any():
        pos = int(np.flatnonzero(dup.to_numpy())[0])
        raise GTFSError(f"GTFS feed {feed.name!r}: trips.txt row {pos + 2} repeats trip_id {trips.trip_id.iloc[pos]!r}")
    services, span = active_services(feed, date)
    running = trips.service_id.isin(services).to_numpy()
    if not running.any():
        runs = f"it runs {span[0]} to {span[1]}" if span else "its calendar has no date"
        raise NoServiceError(f"no service on {date} in feed {feed.name!r}; {runs} (choose a date in that range)")
    kept = trips[running].reset_index(drop=True)
    trip_pos = pd.Series(np.arange(len(kept)), index=kept.trip_id.to_numpy())

    st = feed.read("stop_times.txt")
    st_row = np.arange(len(st)) + 2  # line numbers in stop_times.txt
    unknown_trip = ~st.trip_id.isin(trips.trip_id)
    if unknown_trip.any():  # Google's own example feed has such rows: no trip, nothing to route
        pos = int(np.flatnonzero(unknown_trip.to_numpy())[0])
        log.warning("GTFS feed %r: %d stop_times.txt rows name trips absent from trips.txt and are ignored (first: "
                    "row %d, trip_id %r)", feed.name, int(unknown_trip.sum()), pos + 2, st.trip_id.iloc[pos])
    unknown_stop = ~st.stop_id.isin(stop_pos.index)
    if unknown_stop.any():
        pos = int(np.flatnonzero(unknown_stop.to_numpy())[0])
        raise GTFSError(f"GTFS feed {feed.name!r}: stop_times.txt row {pos + 2} names stop_id "
                        f"{st.stop_id.iloc[pos]!r}, absent from stops.txt")
    keep = st.trip_id.isin(kept.trip_id).to_numpy()
    st, st_row = st[keep], st_row[keep]
    seq = _int_column(st, "stop_sequence", feed=feed.name, filename="stop_times.txt")
    arr = parse_times(st.arrival_time, feed=feed.name, filename="stop_times.txt", column="arrival_time")
    dep = parse_times(st.departure_time, feed=feed.name, filename="stop_times.txt", column="departure_time")
    arr = np.where(np.isnan(arr), dep, arr)
    dep = np.where(np.isnan(dep), arr, dep)
    tix = trip_pos[st.trip_id.to_numpy()].to_numpy()
    order = np.lexsort((seq, tix))
    tix, seq, arr, dep, st_row = tix[order], seq[order], arr[order], dep[order], st_row[order]
    six = stop_pos[st.stop_id.to_numpy()[order]].to_numpy()
    pickup = _int_column(st, "pickup_type", feed=feed.name, filename="stop_times.txt", default=0)[order] != 1
    drop = _int_column(st, "drop_off_type", feed=feed.name, filename="stop_times.txt", default=0)[order] != 1
    same_trip = np.r_[False, tix[1:] == tix[:-1]]
    dup = same_trip & np.r_[False, seq[1:] == seq[:-1]]
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise GTFSError(f"GTFS feed {feed.name!r}: stop_times.txt rows {st_row[i - 1]} and {st_row[i]} give trip "
                        f"{kept.trip_id.iloc[tix[i]]!r} the same stop_sequence {seq[i]}")
    first = ~same_trip
    last = np.r_[~same_trip[1:], True]
    untimed = np.isnan(arr) & (first | last)
    if untimed.any():
        i = int(np.flatnonzero(untimed)[0])
        raise GTFSError(f"GTFS feed {feed.name!r}: stop_times.txt row {st_row[i]} (trip "
                        f"{kept.trip_id.iloc[tix[i]]!r}) is the first or last stop of its trip and has no time")
    if np.isnan(arr).any():
        arr, dep = _interpolate(arr, dep, tix)
    bad = dep < arr
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GTFSError(f"GTFS feed {feed.name!r}: stop_times.txt row {st_row[i]} (trip {kept.trip_id.iloc[tix[i]]!r}, "
                        f"stop_sequence {seq[i]}) departs before it arrives; fix departure_time >= arrival_time")
    dec = same_trip & np.r_[False, arr[1:] < dep[:-1]]
    if dec.any():
        i = int(np.flatnonzero(dec)[0])
        raise GTFSError(f"GTFS feed {feed.name!r}: stop_times.txt row {st_row[i]} (trip {kept.trip_id.iloc[tix[i]]!r}, "
                        f"stop_sequence {seq[i]}) arrives at {_hms(arr[i])}, before the previous stop's departure "
                        f"{_hms(dep[i - 1])} (row {st_row[i - 1]}): stop times must not decrease along a trip")
    stop_times = pd.DataFrame({
        "trip_index": tix.astype(np.int64), "stop_index": six.astype(np.int64), "stop_sequence": seq,
        "arrival_s": arr.astype(np.int64), "departure_s": dep.astype(np.int64), "pickup": pickup, "drop_off": drop,
    })
    n_per_trip = np.bincount(tix, minlength=len(kept))
    kept_trips = pd.DataFrame({
        "feed": feed.name, "trip_id": kept.trip_id.to_numpy(), "route_id": kept.route_id.to_numpy(),
        "service_id": kept.service_id.to_numpy(), "frequency_template": False,
    })
    if (n_per_trip < 2).any():
        i = int(np.flatnonzero(n_per_trip < 2)[0])
        log.info("feed %r: %d trips have fewer than two stop times and cannot be ridden (first: %r)", feed.name,
                 int((n_per_trip < 2).sum()), kept.trip_id.iloc[i])

    exact_freq, head_freq = _frequencies(feed, trip_pos, kept)
    if len(exact_freq):
        stop_times, kept_trips, renum = _expand_exact(stop_times, kept_trips, exact_freq)
        head_freq["trip_index"] = renum[head_freq.trip_index.to_numpy()]
    if len(head_freq):
        kept_trips.loc[head_freq.trip_index.unique(), "frequency_template"] = True
    transfers = _transfers(feed, stop_pos, out_stops)
    return {"name": feed.name, "path": feed.path, "timezone": tz_name, "stops": out_stops, "trips": kept_trips,
            "stop_times": stop_times, "frequencies": head_freq, "transfers": transfers, "span": span}


def _hms(s: float) -> str:
    s = int(s)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _interpolate(arr: np.ndarray, dep: np.ndarray, tix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill missing times linearly by position between the timed stops around them (same trip)."""
    pos = np.arange(len(arr), dtype=float)
    known = ~np.isnan(arr)
    prev_pos = pd.Series(np.where(known, pos, np.nan)).groupby(tix).ffill().to_numpy()
    next_pos = pd.Series(np.where(known, pos, np.nan)).groupby(tix).bfill().to_numpy()
    prev_dep = dep[np.nan_to_num(prev_pos).astype(np.int64)]
    next_arr = arr[np.nan_to_num(next_pos).astype(np.int64)]
    frac = (pos - prev_pos) / np.where(next_pos > prev_pos, next_pos - prev_pos, 1)
    fill = np.floor(prev_dep + (next_arr - prev_dep) * frac)
    return np.where(known, arr, fill), np.where(known, dep, fill)


def _frequencies(feed: _Feed, trip_pos: pd.Series, kept: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    cols = ["trip_index", "start_s", "end_s", "headway_s"]
    empty = pd.DataFrame({c: pd.Series(dtype=np.int64) for c in cols})
    fr = feed.read("frequencies.txt", required=False)
    if fr is None or not len(fr):
        return empty, empty.copy()
    rows = np.arange(len(fr)) + 2
    start = parse_times(fr.start_time, feed=feed.name, filename="frequencies.txt", column="start_time")
    end = parse_times(fr.end_time, feed=feed.name, filename="frequencies.txt", column="end_time")
    head = _int_column(fr, "headway_secs", feed=feed.name, filename="frequencies.txt")
    exact = _int_column(fr, "exact_times", feed=feed.name, filename="frequencies.txt", default=0)
    bad = np.isnan(start) | np.isnan(end) | (end <= start) | (head <= 0) | ~np.isin(exact, (0, 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GTFSError(f"GTFS feed {feed.name!r}: frequencies.txt row {rows[i]} needs start_time < end_time, "
                        "headway_secs > 0 and exact_times 0 or 1")
    running = fr.trip_id.isin(trip_pos.index).to_numpy()
    df = pd.DataFrame({"trip_index": trip_pos.reindex(fr.trip_id.to_numpy()).to_numpy(), "start_s": start,
                       "end_s": end, "headway_s": head, "exact": exact})[running]
    df = df.astype({"trip_index": np.int64, "start_s": np.int64, "end_s": np.int64})
    both = df.groupby("trip_index").exact.nunique() > 1
    if both.any():
        raise GTFSError(f"GTFS feed {feed.name!r}: frequencies.txt gives trip {kept.trip_id.iloc[both.idxmax()]!r} "
                        "rows with both exact_times 0 and 1; use one kind per trip")
    exact_df = df[df.exact == 1][cols].reset_index(drop=True)
    head_df = df[df.exact == 0][cols].reset_index(drop=True)
    return exact_df, head_df


def expand_frequencies(stop_times: pd.DataFrame, freqs: pd.DataFrame, offsets_s: np.ndarray | None = None,
                       ) -> tuple[pd.DataFrame, np.ndarray]:
    """Scheduled trips of frequency rows: departures at ``start_s + offset + k * headway_s < end_s``.

    Parameters
    ----------
    stop_times : pandas.DataFrame
        Timetable stop times (sorted by trip), containing the template trips of ``freqs``.
    freqs : pandas.DataFrame
        ``trip_index`` (template), ``start_s``, ``end_s``, ``headway_s``.
    offsets_s : numpy.ndarray, optional
        Offset of the first departure of each row (default 0: exact times).

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray)
        The new stop times with ``trip_index`` 0..m-1 numbering the generated trips in order, and for each generated
        trip the ``freqs`` row it comes from.
    """
    offsets = np.zeros(len(freqs), dtype=np.int64) if offsets_s is None else np.asarray(offsets_s, dtype=np.int64)
    first = freqs.start_s.to_numpy() + offsets
    head = freqs.headway_s.to_numpy()
    n = np.maximum(0, -((first - freqs.end_s.to_numpy()) // head))  # ceil((end - first) / head)
    row = np.repeat(np.arange(len(freqs)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    trip_start = first[row] + k * head[row]
    # the template's rows
    tix = stop_times.trip_index.to_numpy()
    tmpl = freqs.trip_index.to_numpy()[row]
    lo = np.searchsorted(tix, tmpl, side="left")
    hi = np.searchsorted(tix, tmpl, side="right")
    length = hi - lo
    gen_trip = np.repeat(np.arange(len(row)), length)
    src = np.repeat(lo, length) + (np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length))
    base = stop_times.departure_s.to_numpy()[lo]  # template's first departure
    shift = np.repeat(trip_start - base, length)
    out = stop_times.iloc[src].reset_index(drop=True)
    out["trip_index"] = gen_trip
    out["arrival_s"] = out.arrival_s.to_numpy() + shift
    out["departure_s"] = out.departure_s.to_numpy() + shift
    return out, row


def _expand_exact(stop_times: pd.DataFrame, trips: pd.DataFrame, freqs: pd.DataFrame):
    """Replace the template trips of exact_times=1 rows with their scheduled copies (``trip_id@HH:MM:SS``)."""
    gen, row = expand_frequencies(stop_times, freqs)
    tmpl = freqs.trip_index.to_numpy()[row]
    first = gen.groupby("trip_index").departure_s.first().to_numpy()
    new_trips = trips.iloc[tmpl].reset_index(drop=True)
    new_trips["trip_id"] = new_trips.trip_id + "@" + pd.Series([_hms(s) for s in first])
    keep = ~np.isin(np.arange(len(trips)), freqs.trip_index.to_numpy())
    old_index = np.flatnonzero(keep)
    renum = np.full(len(trips), -1)
    renum[old_index] = np.arange(len(old_index))
    st_keep = keep[stop_times.trip_index.to_numpy()]
    old_st = stop_times[st_keep].copy()
    old_st["trip_index"] = renum[old_st.trip_index.to_numpy()]
    gen["trip_index"] += len(old_index)
    all_trips = pd.concat([trips[keep], new_trips], ignore_index=True)
    return pd.concat([old_st, gen], ignore_index=True), all_trips, renum


def _transfers(feed: _Feed, stop_pos: pd.Series, stops: pd.DataFrame) -> pd.DataFrame:
    cols = {"from_stop": np.int64, "to_stop": np.int64, "transfer_type": np.int64, "min_transfer_time_s": float}
    tr = feed.read("transfers.txt", required=False)
    if tr is None or not len(tr):
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    rows = np.arange(len(tr)) + 2
    kind = _int_column(tr, "transfer_type", feed=feed.name, filename="transfers.txt", default=0)
    scoped = np.zeros(len(tr), dtype=bool)
    for c in ("from_route_id", "to_route_id", "from_trip_id", "to_trip_id"):
        if c in tr.columns:
            scoped |= (tr[c].str.len() > 0).to_numpy()
    skip = scoped | (kind > 3)
    if skip.any():
        log.info("feed %r: %d transfers.txt rows naming routes or trips, or in-seat, are left out", feed.name,
                 int(skip.sum()))
    for col in ("from_stop_id", "to_stop_id"):
        unknown = ~tr[col].isin(stop_pos.index).to_numpy() & ~skip
        if unknown.any():
            i = int(np.flatnonzero(unknown)[0])
            raise GTFSError(f"GTFS feed {feed.name!r}: transfers.txt row {rows[i]} names {col} {tr[col].iloc[i]!r}, "
                            "absent from stops.txt")
    mtt = pd.to_numeric(tr.get("min_transfer_time", pd.Series("", index=tr.index)), errors="coerce").to_numpy()
    bad = (kind == 2) & (np.isnan(mtt) | (mtt < 0)) & ~skip
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GTFSError(f"GTFS feed {feed.name!r}: transfers.txt row {rows[i]} has transfer_type 2 without a "
                        "min_transfer_time >= 0 (seconds)")
    keep = ~skip
    out = pd.DataFrame({
        "from_stop": stop_pos.reindex(tr.from_stop_id[keep].to_numpy()).to_numpy(dtype=np.int64),
        "to_stop": stop_pos.reindex(tr.to_stop_id[keep].to_numpy()).to_numpy(dtype=np.int64),
        "transfer_type": kind[keep], "min_transfer_time_s": mtt[keep],
    })
    # a station (a stop with child stops) stands for all its stops: one row per pair of children
    parent = stops.parent_station.to_numpy()
    has_parent = parent != ""
    children = pd.DataFrame({"station": stop_pos.reindex(parent[has_parent]).to_numpy(),
                             "child": np.flatnonzero(has_parent)}).dropna().astype(np.int64)
    for col in ("from_stop", "to_stop"):
        m = out.merge(children, how="left", left_on=col, right_on="station")
        m[col] = m.child.fillna(m[col]).astype(np.int64)
        out = m[["from_stop", "to_stop", "transfer_type", "min_transfer_time_s"]]
    return out.drop_duplicates(["from_stop", "to_stop"], keep="last").reset_index(drop=True)
