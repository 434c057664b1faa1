"""A synthetic city-scale GTFS feed for the transit benchmark (``bench_transit.py --city synthetic``).

The shared test feeds have a few hundred stops at most; this writes a bus network of several thousand stops on a
square city, matching the synthetic walk grid of :func:`urbankit.mock.grid_extract`:

* **Lines.** ``n_lines`` straight bus lines run north-south and ``n_lines`` run west-east, ``line_spacing_m``
  apart (default 500 m), each the full ``side_m`` of the city (default 20 km), and each is bidirectional (two
  GTFS directions over the same stops). Line ``k`` of an axis lies at ``k * line_spacing_m`` from the city's
  south-west corner.
* **Stops.** One stop every ``stop_spacing_m`` along each line (default 400 m), shared by both directions;
  a north-south and a west-east line crossing at a stop position each have their own stop there (transfers
  walk on the street network). Stop ``L<line>S<i>`` lies ``i * stop_spacing_m`` from the line's start.
  Positions are exact in the UTM zone that :func:`urbankit.network.estimate_utm_crs` picks for the corner
  (the one ``grid_extract`` uses), so stops fall on grid nodes when the spacings are multiples of its block.
* **Speeds.** Each line has a commercial speed drawn uniformly in ``speed_kmh`` (default 18-25 km/h, stops and
  dwell included); times between stops are rounded to the second (arrival = departure).
* **Service.** First departure of each line and direction at 05:00 plus a random whole-minute offset smaller
  than the headway, then every headway while before 24:00 (the last trips arrive after midnight, times
  past 24:00 as GTFS allows). Headways are drawn per line from ``headways_min`` (default 5, 6, 8, 10, 12, 15).
* **Scheduled and frequency-based.** Every ``frequency_every``-th line (default 5: line ids 0, 5, 10, ...) is
  frequency-based: one template trip per direction and a ``frequencies.txt`` row 05:00-24:00, alternately
  ``exact_times=0`` (headway-based: drawn offsets in the router) and ``exact_times=1`` (expanded to scheduled
  trips by :func:`urbankit.read_gtfs`). The other lines list every trip in ``stop_times.txt``.
* **Calendar.** One service, Monday to Friday, all of 2026 (``calendar.txt``); agency time zone
  ``Europe/Madrid`` (the default corner is Barcelona's).

Everything is drawn from ``numpy.random.default_rng(seed)``: the same arguments write the same bytes. The files
are written with the :mod:`csv` module into a zip (nothing is committed; the benchmark writes to a temporary
folder).
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SERVICE_START_S = 5 * 3600
SERVICE_END_S = 24 * 3600


@dataclass(frozen=True)
class SyntheticFeed:
    """What :func:`write_synthetic_gtfs` wrote."""

    path: Path
    n_stops: int
    n_lines: int  # bidirectional lines (both axes)
    n_scheduled_trips: int  # trips listed in stop_times.txt, frequency templates excluded
    n_frequency_templates: int
    n_stop_times: int  # rows of stop_times.txt
    origin_lonlat: tuple[float, float]
    crs: str


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _to_lonlat(origin_lonlat, x_m, y_m):
    """Longitude and latitude of points ``x_m``, ``y_m`` east and north of ``origin_lonlat`` (in its UTM zone)."""
    from pyproj import Transformer

    from urbankit.network import estimate_utm_crs

    lon0, lat0 = origin_lonlat
    crs = estimate_utm_crs(np.array([lon0]), np.array([lat0]))
    x0, y0 = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon0, lat0)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x0 + np.asarray(x_m, float),
                                                                                y0 + np.asarray(y_m, float))
    return np.asarray(lon), np.asarray(lat), crs


def write_synthetic_gtfs(
    path,
    *,
    side_m: float = 20_000.0,
    line_spacing_m: float = 500.0,
    stop_spacing_m: float = 400.0,
    speed_kmh: tuple[float, float] = (18.0, 25.0),
    headways_min: tuple[int, ...] = (5, 6, 8, 10, 12, 15),
    frequency_every: int = 5,
    origin_lonlat: tuple[float, float] = (2.15, 41.38),
    seed: int = 0,
) -> SyntheticFeed:
    """Write the synthetic bus feed described in the module docstring as a GTFS zip at ``path``.

    Parameters
    ----------
    path : str or Path
        The zip file to write (its folder must exist).
    side_m : float
        Side of the square city in metres.
    line_spacing_m, stop_spacing_m : float
        Distance between parallel lines and between consecutive stops of a line.
    speed_kmh : (float, float)
        Range of the per-line commercial speeds.
    headways_min : tuple of int
        Headways (whole minutes) drawn per line.
    frequency_every : int
        Every this many lines is frequency-based (0: none).
    origin_lonlat : (float, float)
        South-west corner of the city.
    seed : int
        Seed of the random draws.

    Returns
    -------
    SyntheticFeed
        The path and the counts written.
    """
    rng = np.random.default_rng(seed)
    per_axis = int(side_m // line_spacing_m) + 1
    per_line = int(side_m // stop_spacing_m) + 1
    along = np.arange(per_line) * stop_spacing_m
    stops_rows, routes_rows, trips_rows, st_rows, freq_rows = [], [], [], [], []
    n_sched = n_templates = 0
    crs = None
    for axis in range(2):  # 0: north-south lines, 1: west-east lines
        for k in range(per_axis):
            line = axis * per_axis + k
            offset = k * line_spacing_m
            x, y = (np.full(per_line, offset), along) if axis == 0 else (along, np.full(per_line, offset))
            lon, lat, crs = _to_lonlat(origin_lonlat, x, y)
            ids = [f"L{line}S{i}" for i in range(per_line)]
            stops_rows += [(sid, f"{'NS' if axis == 0 else 'WE'} {k} stop {i}", f"{la:.7f}", f"{lo:.7f}")
                           for i, (sid, lo, la) in enumerate(zip(ids, lon, lat))]
            speed = rng.uniform(*speed_kmh)
            headway_s = 60 * int(rng.choice(headways_min))
            routes_rows.append((f"R{line}", "A", str(line), f"{'North-south' if axis == 0 else 'West-east'} {k}", 3))
            # whole seconds since the first stop, cumulative rounding (no drift)
            run_s = np.rint(along / (speed / 3.6)).astype(np.int64)
            kind = None
            if frequency_every and line % frequency_every == 0:
                kind = (line // frequency_every) % 2  # exact_times 0, 1, 0, 1, ...
            for direction in range(2):
                order = ids if direction == 0 else ids[::-1]
                first = SERVICE_START_S + 60 * int(rng.integers(0, headway_s // 60))
                if kind is None:
                    starts = np.arange(first, SERVICE_END_S, headway_s)
                else:
                    starts = np.array([SERVICE_START_S])
                    n_templates += 1
                for t0 in starts:
                    trip_id = f"T{line}d{direction}@{_hms(int(t0))}" if kind is None else f"F{line}d{direction}"
                    trips_rows.append((f"R{line}", "WK", trip_id, direction))
                    st_rows += [(trip_id, hms, hms, sid, seq)
                                for seq, (sid, hms) in enumerate(zip(order, (_hms(int(t0 + r)) for r in run_s)))]
                n_sched += len(starts) if kind is None else 0
                if kind is not None:
                    freq_rows.append((f"F{line}d{direction}", _hms(SERVICE_START_S), _hms(SERVICE_END_S),
                                      headway_s, kind))
    tables = {
        "agency.txt": (("agency_id", "agency_name", "agency_url", "agency_timezone"),
                       [("A", "Synthetic city buses", "https://example.org", "Europe/Madrid")]),
        "calendar.txt": (("service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                          "sunday", "start_date", "end_date"), [("WK", 1, 1, 1, 1, 1, 0, 0, "20260101", "20261231")]),
        "routes.txt": (("route_id", "agency_id", "route_short_name", "route_long_name", "route_type"), routes_rows),
        "stops.txt": (("stop_id", "stop_name", "stop_lat", "stop_lon"), stops_rows),
        "trips.txt": (("route_id", "service_id", "trip_id", "direction_id"), trips_rows),
        "stop_times.txt": (("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"), st_rows),
        "frequencies.txt": (("trip_id", "start_time", "end_time", "headway_secs", "exact_times"), freq_rows),
    }
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, (header, rows) in tables.items():
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
    return SyntheticFeed(path=path, n_stops=len(stops_rows), n_lines=2 * per_axis, n_scheduled_trips=n_sched,
                         n_frequency_templates=n_templates, n_stop_times=len(st_rows),
                         origin_lonlat=tuple(origin_lonlat), crs=str(crs))
