"""GTFS reading and exact range-RAPTOR (issue 13 items 1-2).

The router is checked against oracles written here and sharing no code with it: a Connection Scan (unlimited
rides) and a Dijkstra on an explicitly built time-expanded graph (ride limits), on real feeds from
../shared/data/transit (skipped when absent) and on synthetic feeds with answers worked out by hand.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
import os
import zipfile
from collections import defaultdict
from pathlib import Path
from zoneinfo import ZoneInfo

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from conftest import SHARED, existing

import urbankit
from urbankit.transit import GTFSError, NoServiceError, read_gtfs
from urbankit.transit.raptor import UNREACHED, build_network, frequency_offsets, raptor, travel_times

#: the shared data folder, or the data mirror laid out like it (URBANKIT_DATA_MIRROR, set by conftest)
TRANSIT = Path(os.environ.get(urbankit.datasets.MIRROR_ENV) or SHARED) / "transit"
FEEDS = {
    "caltrain": (TRANSIT / "feeds" / "caltrain_gtfs.zip", "2018-06-12", 7 * 3600),
    "cairns": (TRANSIT / "feeds" / "cairns_gtfs.zip", "2014-06-10", 7 * 3600),
    "herrenberg": ([TRANSIT / "herrenberg" / "vvs-bus-751-only.gtfs.zip",
                    TRANSIT / "herrenberg" / "vvs-bus-764-only.gtfs.zip"], "2020-03-10", 7 * 3600),
    "berlin": (TRANSIT / "feeds" / "ber_gtfs.zip", "2021-03-10", 8 * 3600),
    "nyc": (TRANSIT / "feeds" / "nyc_subway_gtfs.zip", "2025-01-07", 8 * 3600),
}
SLACK = 60


def _paths(spec):
    paths = spec if isinstance(spec, list) else [spec]
    return [existing(p) for p in paths]


def _hms(s):
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def write_feed(folder, files: dict, *, zip_it=False):
    """A GTFS feed from {filename: csv text}; agency/calendar defaults when not given."""
    files = {"agency.txt": "agency_id,agency_name,agency_url,agency_timezone\nA,A,http://a,Europe/Berlin\n",
             "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,"
                             "end_date\nS,1,1,1,1,1,1,1,20260101,20261231\n", **files}
    files = {k: v for k, v in files.items() if v is not None}
    folder.mkdir(parents=True, exist_ok=True)
    if zip_it:
        path = folder.with_suffix(".zip")
        with zipfile.ZipFile(path, "w") as z:
            for name, text in files.items():
                z.writestr(name, text)
        return path
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def line_feed(lines, *, stops=None, frequencies=None, transfers=None, **extra):
    """Files of a feed from lines = {route: [(trip_id, [(stop, arr_s, dep_s), ...]), ...]}."""
    all_stops = sorted({s for trips in lines.values() for _, st in trips for s, _, _ in st} | set(stops or ()))
    files = {
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n" + "".join(
            f"{s},{s},{50 + i * 0.001},{8 + i * 0.001}\n" for i, s in enumerate(all_stops)),
        "routes.txt": "route_id,route_type\n" + "".join(f"{r},3\n" for r in lines),
        "trips.txt": "route_id,service_id,trip_id\n" + "".join(
            f"{r},S,{t}\n" for r, trips in lines.items() for t, _ in trips),
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n" + "".join(
            f"{t},{_hms(a)},{_hms(d)},{s},{i + 1}\n"
            for trips in lines.values() for t, st in trips for i, (s, a, d) in enumerate(st)),
    }
    if frequencies:
        files["frequencies.txt"] = "trip_id,start_time,end_time,headway_secs,exact_times\n" + "".join(
            f"{t},{_hms(a)},{_hms(b)},{h},{e}\n" for t, a, b, h, e in frequencies)
    if transfers:
        files["transfers.txt"] = "from_stop_id,to_stop_id,transfer_type,min_transfer_time\n" + "".join(
            f"{a},{b},{k},{'' if m is None else m}\n" for a, b, k, m in transfers)
    files.update(extra)
    return files


# ---------------------------------------------------------------------------------------------- oracles


def oracle_walks(tt, *, radius_m=300.0, speed_ms=1.3):
    """Walks between stops within radius_m (great-circle), plus 0 s between stops of the same id in two feeds."""
    lat = np.radians(tt.stops.stop_lat.to_numpy())
    lon = np.radians(tt.stops.stop_lon.to_numpy())
    rows = []
    n = len(lat)
    for i in range(n):
        d = 2 * 6371000 * np.arcsin(np.sqrt(np.sin((lat - lat[i]) / 2) ** 2 + np.cos(lat[i]) * np.cos(lat)
                                            * np.sin((lon - lon[i]) / 2) ** 2))
        for j in np.flatnonzero(d <= radius_m):
            if j != i:
                rows.append((i, int(j), math.ceil(d[j] / speed_ms)))
    ids = tt.stops.stop_id.to_numpy()
    for i in range(n):
        for j in range(n):
            if i != j and ids[i] == ids[j]:
                rows.append((i, j, 0))
    df = pd.DataFrame(rows, columns=["from_stop", "to_stop", "walk_s"])
    return df.groupby(["from_stop", "to_stop"], as_index=False).walk_s.min()


def oracle_edges(tt, walks):
    """transfers.txt semantics applied by hand: walk dict and the stops where a vehicle arrival may board."""
    edges = {(int(a), int(b)): int(w) for a, b, w in walks.itertuples(index=False) if a != b}
    board_from_vehicle = [True] * tt.n_stops
    for a, b, kind, mtt in tt.transfers.itertuples(index=False):
        a, b = int(a), int(b)
        if a == b:
            if kind in (2, 3):
                board_from_vehicle[a] = False
            if kind == 2:
                edges[(a, a)] = math.ceil(mtt)
        elif kind == 3:
            edges.pop((a, b), None)
        elif kind == 2:
            edges[(a, b)] = max(edges.get((a, b), 0), math.ceil(mtt))
    out = defaultdict(list)
    for (a, b), w in edges.items():
        out[a].append((b, w))
    return out, board_from_vehicle


def scheduled_rows(tt):
    """(trip, pos, stop, arr, dep, pickup, drop) of the scheduled trips, read from the timetable's stop_times."""
    st = tt.stop_times
    tmpl = tt.trips.frequency_template.to_numpy()
    out = defaultdict(list)
    for r in st.itertuples(index=False):
        if not tmpl[r.trip_index]:
            out[r.trip_index].append((r.stop_index, r.arrival_s, r.departure_s, r.pickup, r.drop_off))
    return out


def frequency_rows(tt, offsets):
    """Scheduled trips of the headway-based frequency rows for given first-departure offsets, by hand."""
    st = tt.stop_times
    out = {}
    templates = {trip: st[st.trip_index == trip] for trip in set(tt.frequencies.trip_index)}
    for r, (trip, start, end, headway) in enumerate(tt.frequencies.itertuples(index=False)):
        tmpl = templates[trip]
        base = int(tmpl.departure_s.iloc[0])
        t = start + int(offsets[r])
        while t < end:
            out[("f", r, t)] = [(s, a - base + t, d - base + t, p, q) for s, a, d, p, q in zip(
                tmpl.stop_index, tmpl.arrival_s, tmpl.departure_s, tmpl.pickup, tmpl.drop_off)]
            t += headway
    return out


def connections(trips):
    """Sorted (dep, arr, trip number, position, from, to, pickup at from, drop-off at to)."""
    conns = []
    for n, rows in enumerate(trips.values()):
        for i in range(len(rows) - 1):
            s0, _, d0, pick, _ = rows[i]
            s1, a1, _, _, drop = rows[i + 1]
            conns.append((d0, a1, n, i, s0, s1, pick, drop))
    conns.sort()
    return conns


def csa(tt, walks, origin_stops, origin_s, departures, *, slack=SLACK, max_duration=None, conns=None):
    """Connection Scan (Dibbelt et al. 2013), unlimited rides, plain Python: {stop: arrival} per departure."""
    conns = connections(scheduled_rows(tt)) if conns is None else conns
    edges, board_from_vehicle = oracle_edges(tt, walks)
    result = []
    for tau in departures:
        limit = math.inf if max_duration is None else tau + max_duration
        walk = defaultdict(lambda: math.inf)
        veh = defaultdict(lambda: math.inf)
        for s, w in zip(origin_stops, origin_s):
            if tau + w <= limit:
                walk[s] = min(walk[s], tau + w)
        on = set()
        for d0, a1, trip, _, s0, s1, pick, drop in conns[bisect.bisect_left(conns, (tau,)):]:
            if d0 > limit:
                break
            if trip not in on and pick:
                label = min(walk[s0], veh[s0] if board_from_vehicle[s0] else math.inf)
                if label + slack <= d0:
                    on.add(trip)
            if trip in on and drop and a1 < veh[s1] and a1 <= limit:
                veh[s1] = a1
                for u, w in edges.get(s1, ()):
                    if a1 + w <= limit:
                        walk[u] = min(walk[u], a1 + w)
        result.append({s: min(walk[s], veh[s]) for s in set(walk) | set(veh) if min(walk[s], veh[s]) < math.inf})
    return result


def time_expanded_dijkstra(tt, walks, origin_stops, origin_s, tau, max_rides, *, slack=SLACK):
    """Earliest arrivals with at most max_rides vehicles by Dijkstra on an explicit time-expanded graph.

    Nodes: R(k, stop, t) 'at stop, ready, k rides used' on a timeline per stop; D/A(k, trip, pos) on board;
    VA(k, stop, t) arrived by vehicle; WA(k, stop, t) arrived on foot. Edge weights are elapsed seconds.
    """
    trips = scheduled_rows(tt)
    edges, board_from_vehicle = oracle_edges(tt, walks)
    times = defaultdict(set)
    for s, w in zip(origin_stops, origin_s):
        times[s].add(tau + w)
    for rows in trips.values():
        for s, a, d, _, _ in rows:
            times[s].add(d - slack)
            times[s].add(a)
            for u, w in edges.get(s, ()):
                times[u].add(a + w)
    g = nx.DiGraph()
    for k in range(max_rides + 1):
        for s, ts in times.items():
            ts = sorted(ts)
            for t0, t1 in itertools.pairwise(ts):
                g.add_edge(("R", k, s, t0), ("R", k, s, t1), weight=t1 - t0)
            if k < max_rides:
                for t in ts:
                    g.add_edge(("R", k, s, t), ("R", k + 1, s, t), weight=0)
        if k == 0:
            continue
        for trip, rows in trips.items():
            for i, (s, a, d, pick, drop) in enumerate(rows):
                g.add_edge(("A", k, trip, i), ("D", k, trip, i), weight=d - a)
                if i + 1 < len(rows):
                    g.add_edge(("D", k, trip, i), ("A", k, trip, i + 1), weight=rows[i + 1][1] - d)
                if pick:
                    g.add_edge(("R", k - 1, s, d - slack), ("D", k, trip, i), weight=slack)
                if drop:
                    g.add_edge(("A", k, trip, i), ("VA", k, s, a), weight=0)
                    if board_from_vehicle[s]:
                        g.add_edge(("VA", k, s, a), ("R", k, s, a), weight=0)
                    for u, w in edges.get(s, ()):
                        g.add_edge(("VA", k, s, a), ("WA", k, u, a + w), weight=w)
                        g.add_edge(("WA", k, u, a + w), ("R", k, u, a + w), weight=0)
    for s, w in zip(origin_stops, origin_s):
        g.add_edge("src", ("WA", 0, s, tau + w), weight=tau + w)
        g.add_edge(("WA", 0, s, tau + w), ("R", 0, s, tau + w), weight=0)
    dist = nx.single_source_dijkstra_path_length(g, "src")
    best = {}
    for node, t in dist.items():
        if node != "src" and node[0] in ("VA", "WA"):
            s = node[2]
            best[s] = min(best.get(s, math.inf), t)
    return best


def as_dict(row):
    return {int(s): int(t) for s, t in enumerate(row) if t < UNREACHED}


# ---------------------------------------------------------------------------------------------- reader


def test_read_times_past_midnight_and_interpolation(tmp_path):
    files = line_feed({"R": [("T1", [("a", 0, 0), ("b", 0, 0), ("c", 0, 0)])]})
    # b has no times (a non-timepoint): interpolated between a's departure and c's arrival
    files["stop_times.txt"] = ("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                               "T1,23:50:00,23:50:00,a,1\nT1,,,b,2\nT1,25:10:00,25:11:00,c,3\n")
    tt = read_gtfs(write_feed(tmp_path / "f", files), "2026-03-10")
    st = tt.stop_times
    assert st.arrival_s.tolist() == [85800, (85800 + 90600) // 2, 90600]
    assert st.departure_s.tolist() == [85800, (85800 + 90600) // 2, 90660]


def test_calendar_dates_add_and_remove(tmp_path):
    files = line_feed({"R": [("T1", [("a", 0, 0), ("b", 60, 60)]), ("T2", [("a", 100, 100), ("b", 200, 200)]),
                             ("T3", [("a", 300, 300), ("b", 400, 400)])]})
    files["trips.txt"] = "route_id,service_id,trip_id\nR,WD,T1\nR,X,T2\nR,WE,T3\n"
    files["calendar.txt"] = ("service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
                             "WD,1,1,1,1,1,0,0,20260101,20261231\nWE,0,0,0,0,0,1,1,20260101,20261231\n")
    files["calendar_dates.txt"] = "service_id,date,exception_type\nWD,20260310,2\nX,20260310,1\nWE,20260311,1\n"
    path = write_feed(tmp_path / "f", files)
    assert read_gtfs(path, "2026-03-10").trips.trip_id.tolist() == ["T2"]  # Tuesday: WD removed, X added
    assert sorted(read_gtfs(path, "2026-03-11").trips.trip_id) == ["T1", "T3"]  # WE added on a Wednesday
    assert read_gtfs(path, dt.date(2026, 3, 14)).trips.trip_id.tolist() == ["T3"]  # Saturday


def test_no_service_on_date_error_names_feed_and_range(tmp_path):
    files = line_feed({"R": [("T1", [("a", 0, 0), ("b", 60, 60)])]})
    files["calendar.txt"] = ("service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
                             "S,1,1,1,1,1,1,1,20190101,20191231\n")
    path = write_feed(tmp_path / "X", files)
    with pytest.raises(NoServiceError, match=r"no service on 2026-03-10 in feed 'X'; it runs 2019-01-01 to "
                                             r"2019-12-31") as err:
        read_gtfs(path, "2026-03-10")
    assert isinstance(err.value, urbankit.UrbankitError) and isinstance(err.value, ValueError)


def test_decreasing_stop_times_error_names_row(tmp_path):
    files = line_feed({"R": [("T1", [("a", 0, 0), ("b", 600, 600)])]})
    files["stop_times.txt"] = ("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                               "T1,08:10:00,08:10:00,b,2\nT1,08:20:00,08:20:00,c,3\nT1,08:15:00,08:15:00,a,1\n")
    files["stops.txt"] += "c,c,50.1,8.1\n"
    with pytest.raises(GTFSError, match=r"feed 'f'.*stop_times.txt row 2 \(trip 'T1', stop_sequence 2\) arrives at "
                                        r"08:10:00, before the previous stop's departure 08:15:00 \(row 4\)"):
        read_gtfs(write_feed(tmp_path / "f", files), "2026-03-10")


def test_departure_before_arrival_and_bad_time_errors(tmp_path):
    files = line_feed({"R": [("T1", [("a", 0, 0), ("b", 600, 500)])]})
    with pytest.raises(GTFSError, match=r"stop_times.txt row 3 .*departs before it arrives"):
        read_gtfs(write_feed(tmp_path / "f", files), "2026-03-10")
    files = line_feed({"R": [("T1", [("a", 0, 0), ("b", 600, 600)])]})
    files["stop_times.txt"] = files["stop_times.txt"].replace("00:10:00,00:10:00", "00:10:00,8h10")
    with pytest.raises(GTFSError, match=r"feed 'g': stop_times.txt row 3 has departure_time '8h10', not a time"):
        read_gtfs(write_feed(tmp_path / "g", files), "2026-03-10")


@pytest.mark.parametrize("zip_it", [False, True])
def test_missing_file_and_column_errors(tmp_path, zip_it):
    files = line_feed({"R": [("T1", [("a", 0, 0), ("b", 60, 60)])]})
    files["stops.txt"] = None
    with pytest.raises(GTFSError, match=r"GTFS feed 'f' .* has no stops.txt"):
        read_gtfs(write_feed(tmp_path / "f", files, zip_it=zip_it), "2026-03-10")
    files = line_feed({"R": [("T1", [("a", 0, 0), ("b", 60, 60)])]})
    files["trips.txt"] = files["trips.txt"].replace("service_id", "service")
    with pytest.raises(GTFSError, match=r"GTFS feed 'g': trips.txt lacks the required column\(s\) service_id"):
        read_gtfs(write_feed(tmp_path / "g", files, zip_it=zip_it), "2026-03-10")
    with pytest.raises(urbankit.InputFileError, match="does not exist"):
        read_gtfs(tmp_path / "nothing.zip", "2026-03-10")


def test_unknown_stop_in_stop_times_error(tmp_path):
    files = line_feed({"R": [("T1", [("a", 0, 0), ("b", 60, 60)])]})
    files["stop_times.txt"] += "T1,00:02:00,00:02:00,zz,3\n"
    with pytest.raises(GTFSError, match=r"stop_times.txt row 4 names stop_id 'zz', absent from stops.txt"):
        read_gtfs(write_feed(tmp_path / "f", files), "2026-03-10")


def test_frequencies_exact_times_both_kinds(tmp_path):
    files = line_feed({"R": [("E", [("a", 0, 0), ("b", 300, 360), ("c", 900, 900)]),
                             ("H", [("c", 1000, 1000), ("a", 1600, 1600)])]},
                      frequencies=[("E", 8 * 3600, 9 * 3600, 1200, 1), ("H", 7 * 3600, 8 * 3600, 600, 0)])
    tt = read_gtfs(write_feed(tmp_path / "f", files), "2026-03-10")
    # exact_times=1: trips leave at 08:00, 08:20, 08:40 (not 09:00: before end_time), copies of the template
    exact = tt.trips[tt.trips.trip_id.str.startswith("E@")]
    assert exact.trip_id.tolist() == ["E@08:00:00", "E@08:20:00", "E@08:40:00"]
    for i, ti in enumerate(exact.index):
        st = tt.stop_times[tt.stop_times.trip_index == ti]
        start = 8 * 3600 + 1200 * i
        assert st.arrival_s.tolist() == [start, start + 300, start + 900]
        assert st.departure_s.tolist() == [start, start + 360, start + 900]
    assert "E" not in tt.trips.trip_id.tolist()
    # exact_times=0: kept as a headway row of its template
    h = tt.trips.index[tt.trips.trip_id == "H"][0]
    assert tt.trips.frequency_template[h]
    assert tt.frequencies.to_dict("records") == [{"trip_index": h, "start_s": 7 * 3600, "end_s": 8 * 3600,
                                                  "headway_s": 600}]


def test_real_feed_frequencies():
    path = existing(TRANSIT / "feeds" / "gtfs_kit_sample_gtfs.zip")
    tt = read_gtfs(path, "2008-05-10")
    with zipfile.ZipFile(path) as z:
        fr = pd.read_csv(z.open("frequencies.txt"))  # no exact_times column: all headway-based
    assert len(tt.frequencies) == len(fr)
    assert tt.trips.trip_id[tt.frequencies.trip_index].tolist() == fr.trip_id.tolist()
    assert tt.trips.frequency_template.sum() == fr.trip_id.nunique()
    for col, out in (("start_time", "start_s"), ("end_time", "end_s")):
        expect = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in fr[col].str.split(":")]
        assert tt.frequencies[out].tolist() == expect
    assert tt.frequencies.headway_s.tolist() == fr.headway_secs.tolist()


def test_google_example_is_refused_naming_the_problem():
    """Google's reference example is pieced together from the spec's snippets: a non-IANA zone, unknown stops."""
    path = existing(TRANSIT / "feeds" / "ggl_gtfs.zip")
    with pytest.raises(GTFSError, match=r"feed 'ggl_gtfs': agency_timezone 'PST' is not an IANA time zone .*"
                                        r"pass timezones="):
        read_gtfs(path, "2006-07-08")
    with pytest.raises(GTFSError, match=r"feed 'ggl_gtfs': stop_times.txt row 2 names stop_id 'S1', absent from "
                                        r"stops.txt"):
        read_gtfs(path, "2006-07-08", timezones={"ggl_gtfs": "America/Los_Angeles"})


def test_transfers_txt_read():
    """NYC's transfers.txt names stations (parent_station of the platforms): each row applies to every pair of
    the stations' platforms."""
    path = existing(TRANSIT / "feeds" / "nyc_subway_gtfs.zip")
    tt = read_gtfs(path, "2025-01-07")
    z = zipfile.ZipFile(path)
    raw = pd.read_csv(z.open("transfers.txt"), dtype=str, keep_default_na=False)
    stops = pd.read_csv(z.open("stops.txt"), dtype=str, keep_default_na=False)
    children = defaultdict(list)
    for sid, parent in zip(stops.stop_id, stops.parent_station):
        if parent:
            children[parent].append(sid)
    expect = {}
    for a, b, kind, mtt in raw[["from_stop_id", "to_stop_id", "transfer_type", "min_transfer_time"]].itertuples(
            index=False):
        for x in children.get(a, [a]):
            for y in children.get(b, [b]):
                expect[(x, y)] = (int(kind), float(mtt) if mtt else math.nan)
    ids = tt.stops.stop_id.to_numpy()
    got = {(ids[a], ids[b]): (k, m) for a, b, k, m in tt.transfers.itertuples(index=False)}
    assert len(got) == len(tt.transfers) == len(expect) > len(raw)
    assert got.keys() == expect.keys()
    for key, (k, m) in expect.items():
        assert got[key][0] == k and (got[key][1] == m or (math.isnan(m) and math.isnan(got[key][1])))


def test_two_feeds_in_two_time_zones(tmp_path):
    a = write_feed(tmp_path / "berlin", line_feed({"R": [("T1", [("a", 8 * 3600, 8 * 3600), ("b", 9 * 3600,
                                                                                               9 * 3600)])]}))
    ny = line_feed({"R": [("T1", [("a", 8 * 3600, 8 * 3600), ("b", 9 * 3600, 9 * 3600)])]})
    ny["agency.txt"] = "agency_id,agency_name,agency_url,agency_timezone\nB,B,http://b,America/New_York\n"
    b = write_feed(tmp_path / "ny", ny, zip_it=True)
    tt = read_gtfs([a, b], "2026-03-10")  # New York on summer time since March 8, Berlin from March 29
    # independent: the UTC instants of both service days' midnights
    berlin0 = dt.datetime(2026, 3, 10, tzinfo=ZoneInfo("Europe/Berlin"))
    ny0 = dt.datetime(2026, 3, 10, tzinfo=ZoneInfo("America/New_York"))
    shift = int((ny0 - berlin0).total_seconds())
    assert shift == 5 * 3600
    assert tt.timezone == "Europe/Berlin"
    assert tt.feeds.offset_s.tolist() == [0, shift]
    assert tt.stops.feed.tolist() == ["berlin", "berlin", "ny", "ny"]
    assert tt.stops.stop_id.tolist() == ["a", "b", "a", "b"]
    st = tt.stop_times
    assert st.trip_index.tolist() == [0, 0, 1, 1] and st.stop_index.tolist() == [0, 1, 2, 3]
    assert st.arrival_s.tolist() == [8 * 3600, 9 * 3600, 8 * 3600 + shift, 9 * 3600 + shift]
    tt_ny = read_gtfs([a, b], "2026-03-10", timezone="America/New_York")
    assert tt_ny.stop_times.arrival_s.tolist() == [8 * 3600 - shift, 9 * 3600 - shift, 8 * 3600, 9 * 3600]


def test_two_real_feeds_at_once():
    paths = _paths(FEEDS["herrenberg"][0])
    both = read_gtfs(paths, "2020-03-10")
    one = [read_gtfs(p, "2020-03-10") for p in paths]
    assert len(both.stops) == sum(len(t.stops) for t in one)
    assert len(both.trips) == sum(len(t.trips) for t in one)
    assert len(both.stop_times) == sum(len(t.stop_times) for t in one)
    second = both.stop_times.trip_index >= len(one[0].trips)
    np.testing.assert_array_equal(both.stop_times.arrival_s[second], one[1].stop_times.arrival_s)
    np.testing.assert_array_equal(both.stop_times.stop_index[second] - len(one[0].stops),
                                  one[1].stop_times.stop_index)


@pytest.mark.parametrize("name", ["caltrain", "cairns", "berlin", "nyc"])
def test_reader_matches_raw_stop_times(name):
    """Every stop time of a running trip, parsed independently from the raw file."""
    spec, date, _ = FEEDS[name]
    (path,) = _paths(spec)
    tt = read_gtfs(path, date)
    z = zipfile.ZipFile(path)
    raw = pd.read_csv(z.open("stop_times.txt"), dtype=str)
    raw = raw[raw.trip_id.isin(set(tt.trips.trip_id))]

    def secs(v):
        if not isinstance(v, str) or not v.strip():
            return None
        h, m, s = v.split(":")
        return int(h) * 3600 + int(m) * 60 + int(s)

    by_trip = defaultdict(list)
    for t, q, s, a, d in raw[["trip_id", "stop_sequence", "stop_id", "arrival_time", "departure_time"]].itertuples(
            index=False):
        by_trip[t].append([int(q), s, secs(a), secs(d)])
    expect = []
    for t, rows in by_trip.items():
        rows.sort()
        for r in rows:  # one of the two times given: the other is the same
            r[2] = r[3] if r[2] is None else r[2]
            r[3] = r[2] if r[3] is None else r[3]
        timed = [i for i, r in enumerate(rows) if r[2] is not None]
        for i, r in enumerate(rows):
            if r[2] is None:  # linear by position between the timed stops around it, rounded down
                ip = max(j for j in timed if j < i)
                jn = min(j for j in timed if j > i)
                r[2] = r[3] = math.floor(rows[ip][3] + (rows[jn][2] - rows[ip][3]) * (i - ip) / (jn - ip))
            expect.append((t, *r))
    expect.sort()
    st = tt.stop_times
    got = sorted(zip(tt.trips.trip_id.to_numpy()[st.trip_index], st.stop_sequence, tt.stops.stop_id.to_numpy()[
        st.stop_index], st.arrival_s, st.departure_s))
    assert got == expect


# ---------------------------------------------------------------------------------------------- router: synthetic


def test_scheduled_transfer_with_slack(tmp_path):
    h8 = 8 * 3600
    files = line_feed({"A": [("A1", [("s1", h8, h8), ("s2", h8 + 600, h8 + 600)])],
                       "B": [(f"B{i}", [("s2", h8 + 600 + d, h8 + 600 + d), ("s3", h8 + 1200 + d, h8 + 1200 + d)])
                             for i, d in enumerate((30, 60, 90))]})
    tt = read_gtfs(write_feed(tmp_path / "f", files), "2026-03-10")
    net = build_network(tt)
    s1, s3 = tt.stop_index("s1"), tt.stop_index("s3")
    deps = [h8 - 60, h8 - 59]
    arr = raptor(net, [s1], [0], deps)
    assert arr[0, s3] == h8 + 1200 + 60  # 08:10:30 leaves 30 s after arriving: the 08:11:00 one is taken
    assert arr[1, s3] == UNREACHED  # 59 s before 08:00 is less than the slack
    assert raptor(net, [s1], [0], deps, boarding_slack_s=0)[0, s3] == h8 + 1200 + 30
    assert raptor(net, [s1], [0], deps, max_rides=1)[0, s3] == UNREACHED
    assert raptor(net, [s1], [0], deps, max_rides=1)[0, tt.stop_index("s2")] == h8 + 600


def test_walks_never_chain_and_transfers_txt(tmp_path):
    h8 = 8 * 3600
    files = line_feed({"A": [("A1", [("o", h8, h8), ("x", h8 + 600, h8 + 600)])],
                       "B": [("B1", [("y", h8 + 900, h8 + 900), ("d", h8 + 1500, h8 + 1500)])],
                       "C": [("C1", [("x", h8 + 700, h8 + 700), ("e", h8 + 800, h8 + 800)])]},
                      stops=["z"])
    tt = read_gtfs(write_feed(tmp_path / "f", files), "2026-03-10")
    i = {s: tt.stop_index(s) for s in "oxydez"}
    walks = pd.DataFrame({"from_stop": [i["x"], i["y"], i["o"]], "to_stop": [i["y"], i["z"], i["z"]],
                          "walk_s": [120, 60, 30]})
    arr = raptor(build_network(tt, walks=walks), [i["o"]], [0], [h8 - 60])[0]
    assert arr[i["y"]] == h8 + 720 and arr[i["d"]] == h8 + 1500
    assert arr[i["z"]] == UNREACHED  # x -> y -> z would chain two walks; o -> z would chain access and a walk
    # transfers.txt: type 3 between x and y removes the walk, type 2 sets a minimum time
    assert arr[i["e"]] == h8 + 800  # 100 s at x, more than the slack
    cases = [([("x", "y", 3, None)], UNREACHED), ([("x", "y", 2, 240)], h8 + 1500), ([("x", "y", 2, 241)], UNREACHED)]
    for n, (rows, expect_d) in enumerate(cases):
        files2 = {**files, "transfers.txt": line_feed({"R": []}, transfers=rows)["transfers.txt"]}
        tt2 = read_gtfs(write_feed(tmp_path / f"t{n}", files2), "2026-03-10")
        arr2 = raptor(build_network(tt2, walks=walks), [i["o"]], [0], [h8 - 60])[0]
        assert arr2[i["d"]] == expect_d, rows
    # a stop with a self minimum transfer time: arriving at x at 08:10 the 08:11:40 departure needs 100 s
    for mtt, expect_e in ((40, h8 + 800), (41, UNREACHED)):
        files3 = {**files, "transfers.txt": line_feed({"R": []}, transfers=[("x", "x", 2, mtt)])["transfers.txt"]}
        tt3 = read_gtfs(write_feed(tmp_path / f"self{mtt}", files3), "2026-03-10")
        assert raptor(build_network(tt3), [i["o"]], [0], [h8 - 60])[0, i["e"]] == expect_e
    files4 = {**files, "transfers.txt": line_feed({"R": []}, transfers=[("x", "x", 3, None)])["transfers.txt"]}
    tt4 = read_gtfs(write_feed(tmp_path / "self3", files4), "2026-03-10")
    assert raptor(build_network(tt4), [i["o"]], [0], [h8 - 60])[0, i["e"]] == UNREACHED


def test_two_frequency_lines_known_distribution(tmp_path):
    """O -(line A, headway 600 s, ride 300 s)-> X -(line B, headway 1200 s, ride 600 s)-> D."""
    h7 = 7 * 3600
    files = line_feed({"A": [("A", [("o", h7, h7), ("x", h7 + 300, h7 + 300)])],
                       "B": [("B", [("x", h7, h7), ("d", h7 + 600, h7 + 600)])]},
                      frequencies=[("A", h7, h7 + 3 * 3600, 600, 0), ("B", h7, h7 + 3 * 3600, 1200, 0)])
    tt = read_gtfs(write_feed(tmp_path / "f", files), "2026-03-10")
    o, x, d = (tt.stop_index(s) for s in "oxd")
    dep0, window = 8 * 3600, 30
    # half-headway: slack + 300 + ride A 300, then slack + 600 + ride B 600: 1920 s at every minute
    half = travel_times(tt, [o], [0], departure_s=dep0, window_min=window, frequency="half_headway")
    assert half.shape == (1, window, tt.n_stops)
    assert (half[0, :, d] == 1920).all() and (half[0, :, x] == 660).all()
    # draws: each draw is a timetable A at 07:00 + oA + 600 k, B at 07:00 + oB + 1200 k; worked out here
    draws = 16
    res = travel_times(tt, [o], [0], departure_s=dep0, window_min=window, draws=draws, seed=42)
    offsets = frequency_offsets(tt, draws=draws, seed=42)
    for j in range(draws):
        o_a, o_b = offsets[j]
        for m in range(window):
            tau = dep0 + 60 * m
            board_a = h7 + o_a + 600 * math.ceil((tau + 60 - h7 - o_a) / 600)
            board_b = h7 + o_b + 1200 * math.ceil((board_a + 300 + 60 - h7 - o_b) / 1200)
            assert res[j, m, d] == board_b + 600 - tau
    # stratified: over the draws each row has one offset in every stratum of headway / draws
    for r, h in enumerate((600, 1200)):
        strata = np.sort(offsets[:, r] // (h / draws))
        np.testing.assert_array_equal(strata, np.arange(draws))
    # same seed same numbers, another seed other numbers
    np.testing.assert_array_equal(res, travel_times(tt, [o], [0], departure_s=dep0, window_min=window,
                                                    draws=draws, seed=42))
    assert not np.array_equal(res, travel_times(tt, [o], [0], departure_s=dep0, window_min=window, draws=draws,
                                                seed=43))
    # percentiles ordered; the mean wait for A over many draws and a window of whole headways is near 300 s
    p = np.nanpercentile(res[:, :, d], [5, 25, 50, 75, 95])
    assert (np.diff(p) >= 0).all()


# ---------------------------------------------------------------------------------------------- router: real feeds


def _origins(tt, n, seed=0):
    used = np.unique(tt.stop_times.stop_index)
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(used, size=min(n, len(used)), replace=False).tolist())


def _access(origin, walks, seed):
    """An origin near a stop: an odd number of seconds to it (so the slack matters to the second) and the walks
    from that stop on to its neighbours."""
    first = int(np.random.default_rng(seed + origin).integers(0, 120))
    near = walks[walks.from_stop == origin]
    return [origin, *near.to_stop.tolist()], [first, *(first + near.walk_s).tolist()]


@pytest.mark.parametrize("name,n_origins,window", [("caltrain", 31, 20), ("cairns", 8, 15), ("herrenberg", 15, 20),
                                                   ("berlin", 8, 15), ("nyc", 4, 10)])
def test_range_raptor_equals_per_minute_and_csa(name, n_origins, window):
    spec, date, dep0 = FEEDS[name]
    tt = read_gtfs(_paths(spec), date)
    walks = oracle_walks(tt)
    net = build_network(tt, walks=walks)
    deps = dep0 + 60 * np.arange(window)
    max_duration = 2 * 3600
    n_checked = 0
    for origin in _origins(tt, n_origins):
        acc = _access(origin, walks, 0)
        rng_arr = raptor(net, *acc, deps, max_rides=40, max_duration_s=max_duration)
        per_min = raptor(net, *acc, deps, max_rides=40, max_duration_s=max_duration, range_mode=False)
        np.testing.assert_array_equal(rng_arr, per_min)
        expect = csa(tt, walks, *acc, deps, max_duration=max_duration)
        for m in range(window):
            assert as_dict(rng_arr[m]) == expect[m], (name, origin, m)
            n_checked += len(expect[m])
    assert n_checked > window * n_origins  # more than the origins themselves were reached


@pytest.mark.parametrize("name,max_rides", [("herrenberg", 1), ("herrenberg", 2), ("caltrain", 1),
                                            ("caltrain", 2)])
@pytest.mark.slow
def test_ride_limits_equal_time_expanded_dijkstra(name, max_rides):
    spec, date, dep0 = FEEDS[name]
    tt = read_gtfs(_paths(spec), date)
    walks = oracle_walks(tt)
    net = build_network(tt, walks=walks)
    deps = dep0 + 60 * np.arange(0, 30, 7)
    for origin in _origins(tt, 4, seed=1):
        acc = _access(origin, walks, 1)
        arr = raptor(net, *acc, deps, max_rides=max_rides)
        for m, tau in enumerate(deps):
            assert as_dict(arr[m]) == time_expanded_dijkstra(tt, walks, *acc, int(tau), max_rides)


def test_properties_on_a_real_feed():
    spec, date, dep0 = FEEDS["herrenberg"]
    tt = read_gtfs(_paths(spec), date)
    walks = oracle_walks(tt)
    net = build_network(tt, walks=walks)
    deps = dep0 + 60 * np.arange(45)
    for origin in _origins(tt, 10, seed=2):
        by_rides = [raptor(net, [origin], [0], deps, max_rides=k) for k in range(5)]
        for a, b in itertools.pairwise(by_rides):
            assert (b <= a).all()  # more rides never slower
        short = raptor(net, [origin], [0], deps[10:25], max_rides=4)
        np.testing.assert_array_equal(short, by_rides[4][10:25])  # a window's minutes do not depend on the window
        longer_walks = build_network(tt, walks=oracle_walks(tt, radius_m=600))
        assert (raptor(longer_walks, [origin], [0], deps, max_rides=4) <= by_rides[4]).all()
        # earliest arrival never decreases with a later departure
        assert (np.diff(np.where(by_rides[4] >= UNREACHED, np.iinfo(np.int64).max, by_rides[4]), axis=0) >= 0).all()


@pytest.mark.slow
def test_frequency_draws_equal_csa_on_sao_paulo():
    """All 36 trips of the Sao Paulo feed are headway-based: each draw equals a Connection Scan on the trips
    expanded by hand from the same offsets."""
    tt = read_gtfs(existing(TRANSIT / "sao_paulo" / "spo_gtfs.zip"), "2019-05-13")
    assert len(tt.frequencies) > 0 and tt.trips.frequency_template.all()
    walks = oracle_walks(tt, radius_m=250)
    dep0, window, draws = 7 * 3600, 10, 3
    offsets = frequency_offsets(tt, draws=draws, seed=5)
    conns = [connections(frequency_rows(tt, offsets[j])) for j in range(draws)]
    for origin in _origins(tt, 5, seed=3):
        acc = _access(origin, walks, 3)
        res = travel_times(tt, *acc, departure_s=dep0, window_min=window, walks=walks, max_rides=40, draws=draws,
                           seed=5, max_duration_s=5400)
        assert res.shape == (draws, window, tt.n_stops)
        deps = dep0 + 60 * np.arange(window)
        for j in range(draws):
            expect = csa(tt, walks, *acc, deps, conns=conns[j], max_duration=5400)
            for m in range(window):
                got = {int(s): int(v) + int(deps[m]) for s, v in enumerate(res[j, m]) if not np.isnan(v)}
                assert got == expect[m], (origin, j, m)


# ---------------------------------------------------------------------------------------------- walks on OSM


@pytest.fixture(scope="module")
def sao_paulo_walk():
    osm = existing(TRANSIT / "sao_paulo" / "spo_osm.pbf")
    tt = read_gtfs(existing(TRANSIT / "sao_paulo" / "spo_gtfs.zip"), "2019-05-13")
    return tt, urbankit.build_network(urbankit.read_osm(osm, buildings=False), "walk", cache=False)


def _reference_walks(net, lon_f, lat_f, lon_t, lat_t, bound_s, speed_kmh, sources=None):
    """networkx Dijkstra over the edges, nearest nodes by brute force (pyproj), plain Python."""
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
    nx_, ny_ = net.nodes.x.to_numpy(), net.nodes.y.to_numpy()
    ids = net.nodes.index.to_numpy()
    speed = speed_kmh / 3.6

    def snap(lon, lat):
        x, y = tr.transform(np.asarray(lon), np.asarray(lat))
        out = []
        for a, b in zip(x, y):
            d2 = (nx_ - a) ** 2 + (ny_ - b) ** 2
            k = int(np.argmin(d2))
            out.append((ids[k], math.sqrt(d2[k]) / speed))
        return out

    g = nx.Graph()
    for u, v, length in zip(net.edges.u, net.edges.v, net.edges.length_m):
        w = length / speed
        if not g.has_edge(u, v) or g[u][v]["weight"] > w:
            g.add_edge(u, v, weight=w)
    src, dst = snap(lon_f, lat_f), snap(lon_t, lat_t)
    out = {}
    for i, (node, s0) in enumerate(src):
        if sources is not None and i not in sources:
            continue
        dist = nx.single_source_dijkstra_path_length(g, node, cutoff=bound_s)
        for j, (node_t, s1) in enumerate(dst):
            if node_t in dist and s0 + dist[node_t] + s1 <= bound_s:
                out[(i, j)] = s0 + dist[node_t] + s1
    return out


@pytest.mark.slow
def test_stop_walks_on_osm_equal_networkx(sao_paulo_walk):
    from urbankit.transit.walks import stop_walks

    tt, net = sao_paulo_walk
    got = stop_walks(net, tt, max_walk_s=600, walk_speed_kmh=4.8)
    sample = set(_origins(tt, 60, seed=4))
    ref = _reference_walks(net, tt.stops.stop_lon, tt.stops.stop_lat, tt.stops.stop_lon, tt.stops.stop_lat, 600, 4.8,
                           sources=sample)
    ref = {k: v for k, v in ref.items() if k[0] != k[1]}
    got_d = {(a, b): w for a, b, w in got.itertuples(index=False)}
    assert len(got_d) == len(got)
    got_d = {k: v for k, v in got_d.items() if k[0] in sample}
    assert got_d.keys() == ref.keys() and len(ref) > 50
    for k, v in ref.items():
        assert got_d[k] == math.ceil(v - 1e-9), k
    # routing with these walks still equals the Connection Scan oracle (one draw of the frequencies)
    dep0, window = 7 * 3600, 6
    offsets = frequency_offsets(tt, draws=1, seed=1)
    conns = connections(frequency_rows(tt, offsets[0]))
    for origin in _origins(tt, 3, seed=9):
        acc = _access(origin, got, 9)
        res = travel_times(tt, *acc, departure_s=dep0, window_min=window, walks=got, max_rides=40, draws=1, seed=1,
                           max_duration_s=3600)
        deps = dep0 + 60 * np.arange(window)
        expect = csa(tt, got, *acc, deps, conns=conns, max_duration=3600)
        for m in range(window):
            assert {int(s): int(v) + int(deps[m]) for s, v in enumerate(res[0, m]) if not np.isnan(v)} == expect[m]


def test_access_walks_on_osm_equal_networkx(sao_paulo_walk):
    from urbankit.transit.walks import access_walks

    tt, net = sao_paulo_walk
    rng = np.random.default_rng(0)
    lon = net.nodes.lon.mean() + rng.normal(0, 0.01, 12)
    lat = net.nodes.lat.mean() + rng.normal(0, 0.01, 12)
    got = access_walks(net, tt, lon, lat, max_walk_s=900, walk_speed_kmh=3.0)
    ref = _reference_walks(net, lon, lat, tt.stops.stop_lon, tt.stops.stop_lat, 900, 3.0)
    got_d = {(p, s): w for p, s, w in got.itertuples(index=False)}
    assert got_d.keys() == ref.keys() and len(ref) > 5
    for k, v in ref.items():
        assert got_d[k] == math.ceil(v - 1e-9), k
    with pytest.raises(urbankit.InvalidOptionError, match="walk_speed_kmh"):
        access_walks(net, tt, lon, lat, walk_speed_kmh=0)


def test_fiji_ferry_across_the_antimeridian():
    """R5's antimeridian ferry (BOM-prefixed files): Suva 00:00 -> Matei 11:59, back 12:00 -> Suva 23:59."""
    tt = read_gtfs(existing(TRANSIT / "fiji" / "fiji-ferry.gtfs.zip"), "2020-10-01")
    assert tt.timezone == "Pacific/Fiji"
    suva, matei = tt.stop_index("0"), tt.stop_index("1")
    assert tt.stops.stop_lon[matei] < -179 < 178 < tt.stops.stop_lon[suva]
    net = build_network(tt)
    arr = raptor(net, [suva], [0], [-60, -59])
    assert arr[0, matei] == 11 * 3600 + 59 * 60 and arr[1, matei] == UNREACHED
    # the 60 s between the ferry's arrival and its departure back are exactly the slack
    assert arr[0, suva] == -60
    back = raptor(net, [matei], [0], [11 * 3600 + 59 * 60])[0]
    assert back[suva] == 23 * 3600 + 59 * 60


def test_router_input_errors(tmp_path):
    tt = read_gtfs(write_feed(tmp_path / "f", line_feed({"R": [("T1", [("a", 0, 0), ("b", 60, 60)])]})),
                   "2026-03-10")
    net = build_network(tt)
    for kwargs, msg in (({"max_rides": -1}, "max_rides"), ({"max_rides": 1.5}, "max_rides"),
                        ({"boarding_slack_s": -5}, "boarding_slack_s")):
        with pytest.raises(urbankit.InvalidOptionError, match=msg):
            raptor(net, [0], [0], [0], **kwargs)
    with pytest.raises(urbankit.InvalidOptionError, match=r"access_stops name stop indexes outside 0\.\.1"):
        raptor(net, [2], [0], [0])
    with pytest.raises(urbankit.InvalidOptionError, match="access_s must be finite"):
        raptor(net, [0], [np.nan], [0])
    with pytest.raises(urbankit.InvalidOptionError, match=r"transfer walks name stop indexes outside"):
        build_network(tt, walks=pd.DataFrame({"from_stop": [0], "to_stop": [5], "walk_s": [10]}))
    with pytest.raises(urbankit.InvalidOptionError, match="frequency 'random'"):
        build_network(tt, frequency="random")
    with pytest.raises(urbankit.InvalidOptionError, match="window_min"):
        travel_times(tt, [0], [0], departure_s=0, window_min=0)
    with pytest.raises(urbankit.InvalidOptionError, match="date 'tomorrow'"):
        read_gtfs(tmp_path / "f", "tomorrow")
    with pytest.raises(urbankit.InvalidOptionError, match="timezone 'Mars/Olympus' is not an IANA time zone"):
        read_gtfs(tmp_path / "f", "2026-03-10", timezone="Mars/Olympus")
    with pytest.raises(urbankit.InvalidOptionError, match=r"timezones names unknown feeds \['g'\]"):
        read_gtfs(tmp_path / "f", "2026-03-10", timezones={"g": "UTC"})


def test_one_minute_window_gives_equal_percentiles():
    spec, date, dep0 = FEEDS["herrenberg"]
    tt = read_gtfs(_paths(spec), date)
    origin = _origins(tt, 1, seed=5)[0]
    res = travel_times(tt, [origin], [0], departure_s=dep0, window_min=1, walks=oracle_walks(tt))
    assert res.shape == (1, 1, tt.n_stops)
    p = np.nanpercentile(res[:, :, np.isfinite(res[0, 0])], [5, 25, 50, 75, 95], axis=(0, 1))
    assert np.isfinite(res[0, 0]).sum() > 1
    assert (p == p[0]).all()
