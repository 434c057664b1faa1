"""Exact range-RAPTOR (Delling, Pajor and Werneck 2012) over a departure window, compiled with numba.

Semantics (tested against an independent Connection Scan and a time-expanded Dijkstra in ``tests/test_transit.py``):

* **Rounds.** Round *k* finds the earliest arrival at every stop using at most *k* vehicles (``max_rides``). Each
  round keeps two labels per stop: arrived by vehicle, and arrived on foot (access walk in round 0, a transfer walk
  in later rounds). A transfer walk starts only from an arrival by vehicle, so walks never chain (access then walk,
  or walk then walk).
* **Boarding.** A vehicle is boarded at its departure time if the rider is at the stop at least
  ``boarding_slack_s`` (60 s, as R5) earlier, whether the rider arrived by vehicle, on foot or from the origin;
  ``pickup_type`` / ``drop_off_type`` 1 forbid boarding / alighting at that stop.
* **transfers.txt.** ``transfer_type`` 3 between two different stops removes the walk between them; between a stop
  and itself it forbids boarding there from a vehicle arrival at that stop (only riders arriving on foot may
  board). ``transfer_type`` 2 between two different stops sets the walk to ``max(walk, min_transfer_time)`` (adding
  the walk when not given); between a stop and itself it makes a vehicle arrival usable for boarding there only
  after ``min_transfer_time`` (a self-walk of that length). Types 0 and 1 change nothing.
* **Range.** Departure minutes are run from the latest to the earliest, keeping the labels of later departures
  (a journey leaving later is also available to a rider leaving earlier, who waits): the result for each minute is
  exactly the per-minute result (``range_mode=False`` recomputes every minute from scratch, for checking).
* **Frequencies** (``exact_times=0``). ``frequency="draws"``: for each of ``draws`` timetables, the first
  departure of every frequency row is ``start_time + offset`` and then every headway before ``end_time``, with
  offsets drawn stratified (Latin hypercube): over the draws, row *r*'s offsets are ``headway * (p + u) / draws``
  for a random permutation ``p`` of ``0..draws-1`` and uniform ``u``, from ``numpy.random.default_rng(seed)`` (same
  seed and inputs, same numbers). ``frequency="half_headway"``: a rider ready at a stop boards a frequency vehicle
  half a headway (rounded down to the second) after the moment it would be there if it left its first stop
  exactly then: ``start = max(ready - offset_of_stop, start_time) + headway // 2``, if ``ready - offset_of_stop
  < end_time`` (a rider earlier than ``start_time`` waits for the first vehicle, expected half a headway after).

Times are integer seconds on the timetable's clock (:class:`urbankit.transit.gtfs.Timetable`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from .._errors import InvalidOptionError
from .gtfs import Timetable, expand_frequencies

log = logging.getLogger(__name__)

#: "not reached" in the integer arrival arrays
UNREACHED = np.iinfo(np.int64).max // 4


@dataclass
class Network:
    """A timetable compiled for the router (one frequency draw). Built by :func:`build_network`."""

    n_stops: int
    pat_stop_ptr: np.ndarray
    pat_stops: np.ndarray
    pat_pick: np.ndarray
    pat_drop: np.ndarray
    pat_n_trips: np.ndarray
    pat_time_ptr: np.ndarray
    arr: np.ndarray
    dep: np.ndarray
    pat_freq_ptr: np.ndarray
    freq_start: np.ndarray
    freq_end: np.ndarray
    freq_half: np.ndarray
    stop_pp_ptr: np.ndarray
    stop_pp_pat: np.ndarray
    stop_pp_pos: np.ndarray
    tr_ptr: np.ndarray
    tr_to: np.ndarray
    tr_s: np.ndarray
    board_from_vehicle: np.ndarray

    @property
    def n_patterns(self) -> int:
        return len(self.pat_stop_ptr) - 1


@numba.njit(cache=True)
def _split_overtaking(n_trips, length, arr, dep):  # pragma: no cover - compiled
    """Greedy split of trips (sorted by first departure) into chains where each trip never overtakes or ties
    badly with the previous one (all arrivals and departures >=): returns the chain of each trip."""
    chain = np.full(n_trips, -1, np.int64)
    last = np.full(n_trips, -1, np.int64)
    n_chain = 0
    for t in range(n_trips):
        placed = False
        for c in range(n_chain):
            p = last[c]
            ok = True
            for i in range(length):
                if arr[t, i] < arr[p, i] or dep[t, i] < dep[p, i]:
                    ok = False
                    break
            if ok:
                chain[t] = c
                last[c] = t
                placed = True
                break
        if not placed:
            chain[t] = n_chain
            last[n_chain] = t
            n_chain += 1
    return chain


def _walk_edges(n_stops: int, walks, transfers: pd.DataFrame, use_transfers_txt: bool):
    """Stop-to-stop walk edges (CSR) after transfers.txt, and which stops allow boarding from a vehicle arrival."""
    if walks is None:
        fr = np.zeros(0, np.int64)
        to = np.zeros(0, np.int64)
        sec = np.zeros(0, np.int64)
    else:
        if isinstance(walks, pd.DataFrame):
            missing = {"from_stop", "to_stop", "walk_s"} - set(walks.columns)
            if missing:
                raise InvalidOptionError(f"transfer walks lack the column(s) {sorted(missing)}; give from_stop, "
                                         "to_stop (stop indexes) and walk_s (seconds)")
            walks = (walks.from_stop.to_numpy(), walks.to_stop.to_numpy(), walks.walk_s.to_numpy())
        fr, to, sec = (np.asarray(a) for a in walks)
        if not (len(fr) == len(to) == len(sec)):
            raise InvalidOptionError("transfer walks: from_stop, to_stop and walk_s must have the same length")
        if len(fr) and (fr.min() < 0 or to.min() < 0 or max(fr.max(), to.max()) >= n_stops):
            raise InvalidOptionError(f"transfer walks name stop indexes outside 0..{n_stops - 1}")
        if len(sec) and (not np.isfinite(sec).all() or sec.min() < 0):
            raise InvalidOptionError("transfer walks: walk_s must be finite seconds >= 0")
        fr, to, sec = fr.astype(np.int64), to.astype(np.int64), np.ceil(sec).astype(np.int64)
        keep = fr != to  # a walk from a stop to itself is no transfer; transfers.txt decides boarding there
        fr, to, sec = fr[keep], to[keep], sec[keep]
    board_ok = np.ones(n_stops, dtype=np.bool_)
    if use_transfers_txt and len(transfers):
        t = transfers
        same = (t.from_stop == t.to_stop).to_numpy()
        kind = t.transfer_type.to_numpy()
        mtt = t.min_transfer_time_s.to_numpy()
        # forbidden (3) between different stops: remove walks
        forb = t[(~same) & (kind == 3)]
        if len(forb):
            key = fr * n_stops + to
            fr_keep = ~np.isin(key, forb.from_stop.to_numpy() * n_stops + forb.to_stop.to_numpy())
            fr, to, sec = fr[fr_keep], to[fr_keep], sec[fr_keep]
        # minimum times (2) between different stops: max(walk, mtt), adding missing walks
        mins = t[(~same) & (kind == 2)]
        if len(mins):
            add = pd.DataFrame({"fr": mins.from_stop.to_numpy(), "to": mins.to_stop.to_numpy(),
                                "sec": np.ceil(mins.min_transfer_time_s.to_numpy()).astype(np.int64), "mtt": True})
            cur = pd.DataFrame({"fr": fr, "to": to, "sec": sec, "mtt": False})
            both = pd.concat([cur, add], ignore_index=True)
            both = both.groupby(["fr", "to"], as_index=False).sec.max()
            fr, to, sec = both.fr.to_numpy(), both.to.to_numpy(), both.sec.to_numpy()
        # same stop: 2 -> a self walk of mtt, 3 -> no boarding from a vehicle arrival at all
        selfs = t[same & np.isin(kind, (2, 3))]
        if len(selfs):
            board_ok[selfs.from_stop.to_numpy()] = False
            s2 = selfs[selfs.transfer_type == 2]
            fr = np.r_[fr, s2.from_stop.to_numpy()]
            to = np.r_[to, s2.to_stop.to_numpy()]
            sec = np.r_[sec, np.ceil(mtt[same & (kind == 2)]).astype(np.int64)]
    order = np.lexsort((to, fr))
    fr, to, sec = fr[order], to[order], sec[order]
    ptr = np.zeros(n_stops + 1, np.int64)
    np.cumsum(np.bincount(fr, minlength=n_stops), out=ptr[1:])
    return ptr, to.astype(np.int64), sec.astype(np.int64), board_ok


def frequency_offsets(timetable: Timetable, *, draws: int, seed: int) -> np.ndarray:
    """Stratified (Latin hypercube) offsets in seconds, shape ``(draws, n_frequency_rows)``.

    Row *r*'s offsets over the draws are ``floor(headway_r * (perm_r + u_r) / draws)`` with ``perm_r`` a random
    permutation of ``0..draws-1`` and ``u_r`` uniform in [0, 1), all from ``numpy.random.default_rng(seed)``.
    """
    head = timetable.frequencies.headway_s.to_numpy()
    rng = np.random.default_rng(seed)
    u = rng.random((len(head), draws))
    perm = np.argsort(rng.random((len(head), draws)), axis=1)
    return np.floor(head[:, None] * (perm + u) / draws).astype(np.int64).T


def build_network(
    timetable: Timetable,
    *,
    walks=None,
    use_transfers_txt: bool = True,
    frequency: str = "draws",
    offsets_s: np.ndarray | None = None,
) -> Network:
    """Compile a timetable for :func:`raptor`.

    Parameters
    ----------
    timetable : Timetable
        From :func:`urbankit.transit.read_gtfs`.
    walks : pandas.DataFrame or tuple of arrays, optional
        Stop-to-stop transfer walks: ``from_stop``, ``to_stop`` (stop indexes) and ``walk_s`` (seconds, rounded up).
    use_transfers_txt : bool
        Apply transfers.txt (see the module docstring).
    frequency : {"draws", "half_headway"}
        How headway-based frequency rows are routed.
    offsets_s : numpy.ndarray, optional
        With ``frequency="draws"``: the first-departure offset of each frequency row (one draw of
        :func:`frequency_offsets`; default 0).

    Returns
    -------
    Network
    """
    if frequency not in ("draws", "half_headway"):
        raise InvalidOptionError(f"frequency {frequency!r} must be 'draws' or 'half_headway'")
    st = timetable.stop_times
    trips = timetable.trips
    freqs = timetable.frequencies
    sched = st[~trips.frequency_template.to_numpy()[st.trip_index.to_numpy()]]
    tmpl = st[trips.frequency_template.to_numpy()[st.trip_index.to_numpy()]]
    half_rows = pd.DataFrame(columns=["trip_index", "start_s", "end_s", "headway_s"])
    if len(freqs):
        if frequency == "draws":
            if offsets_s is not None and len(offsets_s) != len(freqs):
                raise InvalidOptionError(f"offsets_s has {len(offsets_s)} values for {len(freqs)} frequency rows")
            gen, _ = expand_frequencies(tmpl, freqs, offsets_s)
            gen["trip_index"] += len(trips)
            sched = pd.concat([sched, gen], ignore_index=True)
        else:
            half_rows = freqs
    return _compile(timetable.n_stops, sched, tmpl, half_rows,
                    *_walk_edges(timetable.n_stops, walks, timetable.transfers, use_transfers_txt))


def _compile(n_stops, sched: pd.DataFrame, tmpl: pd.DataFrame, half_rows: pd.DataFrame, tr_ptr, tr_to, tr_s,
             board_ok) -> Network:
    # --- scheduled patterns: trips with the same stops and pickup/drop-off flags, split where trips overtake
    tix = sched.trip_index.to_numpy()
    uniq, trip_of_row = np.unique(tix, return_inverse=True)
    n_trips = len(uniq)
    length = np.bincount(trip_of_row, minlength=n_trips)
    max_len = int(length.max()) if n_trips else 0
    start = np.cumsum(length) - length
    col = np.arange(len(tix)) - start[trip_of_row]
    code = (sched.stop_index.to_numpy() * 4 + sched.pickup.to_numpy() * 2 + sched.drop_off.to_numpy()).astype(np.int64)
    grid = np.full((n_trips, max_len), -1, np.int64)
    grid[trip_of_row, col] = code
    if n_trips:
        _, pat_of_trip = np.unique(grid, axis=0, return_inverse=True)
        pat_of_trip = pat_of_trip.ravel()
    else:
        pat_of_trip = np.zeros(0, np.int64)
    arr_grid = np.zeros((n_trips, max_len), np.int64)
    dep_grid = np.zeros((n_trips, max_len), np.int64)
    arr_grid[trip_of_row, col] = sched.arrival_s.to_numpy()
    dep_grid[trip_of_row, col] = sched.departure_s.to_numpy()
    order = np.lexsort((dep_grid[:, 0] if n_trips else np.zeros(0), pat_of_trip))
    pat_sorted = pat_of_trip[order]
    bounds = np.flatnonzero(np.r_[True, pat_sorted[1:] != pat_sorted[:-1], True]) if n_trips else np.array([0])
    groups = []  # (trip rows sorted by first departure) per final pattern
    for g in range(len(bounds) - 1):
        rows = order[bounds[g]:bounds[g + 1]]
        L = length[rows[0]]
        chain = _split_overtaking(len(rows), L, arr_grid[rows, :L], dep_grid[rows, :L])
        for c in range(int(chain.max()) + 1):
            groups.append(rows[chain == c])
    pat_stop_ptr = [0]
    pat_stops, pat_pick, pat_drop, pat_n_trips, pat_time_ptr, arr_parts, dep_parts = [], [], [], [], [0], [], []
    for rows in groups:
        L = length[rows[0]]
        c = grid[rows[0], :L]
        pat_stops.append(c // 4)
        pat_pick.append((c // 2) % 2 == 1)
        pat_drop.append(c % 2 == 1)
        pat_stop_ptr.append(pat_stop_ptr[-1] + L)
        pat_n_trips.append(len(rows))
        arr_parts.append(arr_grid[rows, :L].ravel())
        dep_parts.append(dep_grid[rows, :L].ravel())
        pat_time_ptr.append(pat_time_ptr[-1] + len(rows) * L)
    n_sched = len(groups)
    # --- half-headway frequency patterns: one per template trip, times relative to its first departure
    freq_ptr = [0] * (n_sched + 1)
    f_start, f_end, f_half = [], [], []
    if len(half_rows):
        ttix = tmpl.trip_index.to_numpy()
        for trip, rows_f in half_rows.groupby("trip_index"):
            lo, hi = np.searchsorted(ttix, trip), np.searchsorted(ttix, trip, side="right")
            part = tmpl.iloc[lo:hi]
            base = int(part.departure_s.iloc[0])
            L = hi - lo
            pat_stops.append(part.stop_index.to_numpy())
            pat_pick.append(part.pickup.to_numpy())
            pat_drop.append(part.drop_off.to_numpy())
            pat_stop_ptr.append(pat_stop_ptr[-1] + L)
            pat_n_trips.append(1)
            arr_parts.append(part.arrival_s.to_numpy() - base)
            dep_parts.append(part.departure_s.to_numpy() - base)
            pat_time_ptr.append(pat_time_ptr[-1] + L)
            f_start.extend(rows_f.start_s.to_numpy())
            f_end.extend(rows_f.end_s.to_numpy())
            f_half.extend(rows_f.headway_s.to_numpy() // 2)
            freq_ptr.append(freq_ptr[-1] + len(rows_f))

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    pat_stops_a = cat(pat_stops, np.int64)
    pat_stop_ptr_a = np.asarray(pat_stop_ptr, np.int64)
    n_pat = len(pat_stop_ptr_a) - 1
    pat_of_pos = np.repeat(np.arange(n_pat), np.diff(pat_stop_ptr_a))
    pos_in_pat = np.arange(len(pat_stops_a)) - pat_stop_ptr_a[pat_of_pos]
    o = np.lexsort((pos_in_pat, pat_of_pos, pat_stops_a))
    stop_pp_ptr = np.zeros(n_stops + 1, np.int64)
    np.cumsum(np.bincount(pat_stops_a, minlength=n_stops), out=stop_pp_ptr[1:])
    return Network(
        n_stops=n_stops, pat_stop_ptr=pat_stop_ptr_a, pat_stops=pat_stops_a, pat_pick=cat(pat_pick, np.bool_),
        pat_drop=cat(pat_drop, np.bool_), pat_n_trips=np.asarray(pat_n_trips, np.int64),
        pat_time_ptr=np.asarray(pat_time_ptr, np.int64), arr=cat(arr_parts, np.int64), dep=cat(dep_parts, np.int64),
        pat_freq_ptr=np.asarray(freq_ptr, np.int64), freq_start=np.asarray(f_start, np.int64),
        freq_end=np.asarray(f_end, np.int64), freq_half=np.asarray(f_half, np.int64), stop_pp_ptr=stop_pp_ptr,
        stop_pp_pat=pat_of_pos[o].astype(np.int64), stop_pp_pos=pos_in_pat[o].astype(np.int64), tr_ptr=tr_ptr,
        tr_to=tr_to, tr_s=tr_s, board_from_vehicle=board_ok,
    )


@numba.njit(cache=True)
def _raptor(n_stops, max_rides, pat_stop_ptr, pat_stops, pat_pick, pat_drop, pat_n_trips, pat_time_ptr, arr, dep,
            pat_freq_ptr, freq_start, freq_end, freq_half, stop_pp_ptr, stop_pp_pat, stop_pp_pos, tr_ptr, tr_to,
            tr_s, board_ok, slack, acc_stops, acc_s, departures, reuse, max_duration, out):  # pragma: no cover
    INF = np.iinfo(np.int64).max // 4
    K = max_rides
    n_pat = len(pat_stop_ptr) - 1
    V = np.full((K + 1, n_stops), INF, np.int64)
    W = np.full((K + 1, n_stops), INF, np.int64)
    marked = np.zeros(n_stops, np.bool_)
    mark_list = np.empty(n_stops, np.int64)
    new_marked = np.zeros(n_stops, np.bool_)
    new_list = np.empty(n_stops, np.int64)
    veh_marked = np.zeros(n_stops, np.bool_)
    veh_list = np.empty(n_stops, np.int64)
    pat_first = np.full(n_pat, -1, np.int64)
    pat_queue = np.empty(n_pat, np.int64)
    for d in range(len(departures)):
        tau = departures[d]
        limit = tau + max_duration
        if not reuse:
            V[:, :] = INF
            W[:, :] = INF
        n_mark = 0
        for a in range(len(acc_stops)):
            s = acc_stops[a]
            t = tau + acc_s[a]
            if t < W[0, s] and t <= limit:
                W[0, s] = t
                if not marked[s]:
                    marked[s] = True
                    mark_list[n_mark] = s
                    n_mark += 1
        for k in range(1, K + 1):
            for s in range(n_stops):
                V[k, s] = min(V[k, s], V[k - 1, s])
                W[k, s] = min(W[k, s], W[k - 1, s])
            if n_mark == 0:
                continue
            # patterns through marked stops, from their earliest marked position
            n_q = 0
            for m in range(n_mark):
                s = mark_list[m]
                marked[s] = False
                for e in range(stop_pp_ptr[s], stop_pp_ptr[s + 1]):
                    p = stop_pp_pat[e]
                    pos = stop_pp_pos[e]
                    if pat_first[p] == -1:
                        pat_first[p] = pos
                        pat_queue[n_q] = p
                        n_q += 1
                    elif pos < pat_first[p]:
                        pat_first[p] = pos
            n_new = 0
            n_veh = 0
            for q in range(n_q):
                p = pat_queue[q]
                first = pat_first[p]
                pat_first[p] = -1
                base = pat_stop_ptr[p]
                L = pat_stop_ptr[p + 1] - base
                tbase = pat_time_ptr[p]
                nt = pat_n_trips[p]
                is_freq = pat_freq_ptr[p + 1] > pat_freq_ptr[p]
                trip = -1  # scheduled: trip row; frequency: unused
                fstart = INF  # frequency: start time of the boarded vehicle
                for i in range(first, L):
                    s = pat_stops[base + i]
                    # alight
                    if pat_drop[base + i]:
                        a = INF
                        if is_freq:
                            if fstart < INF:
                                a = fstart + arr[tbase + i]
                        elif trip >= 0:
                            a = arr[tbase + trip * L + i]
                        if a < V[k, s] and a <= limit:
                            V[k, s] = a
                            if not new_marked[s]:
                                new_marked[s] = True
                                new_list[n_new] = s
                                n_new += 1
                            if not veh_marked[s]:
                                veh_marked[s] = True
                                veh_list[n_veh] = s
                                n_veh += 1
                    # board (labels of the previous round)
                    if pat_pick[base + i]:
                        lab = W[k - 1, s]
                        if board_ok[s] and V[k - 1, s] < lab:
                            lab = V[k - 1, s]
                        if lab < INF:
                            ready = lab + slack
                            if is_freq:
                                rel = dep[tbase + i]
                                x = ready - rel
                                for f in range(pat_freq_ptr[p], pat_freq_ptr[p + 1]):
                                    if x < freq_end[f]:
                                        st0 = max(freq_start[f], x)
                                        st0 += freq_half[f]
                                        fstart = min(fstart, st0)
                            else:
                                hi = nt if trip < 0 else trip
                                if hi > 0 and dep[tbase + (hi - 1) * L + i] >= ready:
                                    lo = 0
                                    h = hi - 1
                                    while lo < h:
                                        mid = (lo + h) // 2
                                        if dep[tbase + mid * L + i] >= ready:
                                            h = mid
                                        else:
                                            lo = mid + 1
                                    trip = lo
            # transfer walks from stops reached by vehicle in this round
            for m in range(n_veh):
                s = veh_list[m]
                veh_marked[s] = False
                t0 = V[k, s]
                for e in range(tr_ptr[s], tr_ptr[s + 1]):
                    u = tr_to[e]
                    t = t0 + tr_s[e]
                    if t < W[k, u] and t <= limit:
                        W[k, u] = t
                        if not new_marked[u]:
                            new_marked[u] = True
                            new_list[n_new] = u
                            n_new += 1
            for m in range(n_new):
                s = new_list[m]
                new_marked[s] = False
                marked[s] = True
                mark_list[m] = s
            n_mark = n_new
        for m in range(n_mark):
            marked[mark_list[m]] = False
        for s in range(n_stops):
            v = V[K, s]
            v = min(v, W[K, s])
            out[d, s] = v if v <= limit else INF


def raptor(
    network: Network,
    access_stops,
    access_s,
    departures_s,
    *,
    max_rides: int = 8,
    boarding_slack_s: int = 60,
    max_duration_s: int | None = None,
    range_mode: bool = True,
) -> np.ndarray:
    """Earliest arrival at every stop for each departure time, from one origin.

    Parameters
    ----------
    network : Network
        From :func:`build_network`.
    access_stops, access_s : array-like
        Stops reachable on foot from the origin and the walk in seconds to each.
    departures_s : array-like of int
        Departure times from the origin (seconds on the timetable's clock), any order.
    max_rides : int
        Most vehicles boarded (RAPTOR rounds), >= 0.
    boarding_slack_s : int
        Minimum time between reaching a stop and the departure of the vehicle boarded there.
    max_duration_s : int, optional
        Arrivals later than departure + this are not reached (and not explored).
    range_mode : bool
        Reuse the labels of later departures (range-RAPTOR); False recomputes each departure alone.

    Returns
    -------
    numpy.ndarray
        int64 ``(len(departures_s), n_stops)`` arrival times, :data:`UNREACHED` where not reached.
    """
    if int(max_rides) != max_rides or max_rides < 0:
        raise InvalidOptionError(f"max_rides {max_rides!r} must be an integer >= 0")
    if boarding_slack_s < 0:
        raise InvalidOptionError(f"boarding_slack_s {boarding_slack_s!r} must be >= 0 seconds")
    acc_stops = np.asarray(access_stops, dtype=np.int64)
    acc = np.asarray(access_s, dtype=float)
    if acc_stops.shape != acc.shape or acc_stops.ndim != 1:
        raise InvalidOptionError("access_stops and access_s must be 1-d and of the same length")
    if len(acc_stops) and (acc_stops.min() < 0 or acc_stops.max() >= network.n_stops):
        raise InvalidOptionError(f"access_stops name stop indexes outside 0..{network.n_stops - 1}")
    if len(acc) and (not np.isfinite(acc).all() or acc.min() < 0):
        raise InvalidOptionError("access_s must be finite seconds >= 0")
    deps = np.asarray(departures_s, dtype=np.int64)
    order = np.argsort(-deps, kind="stable")
    out = np.empty((len(deps), network.n_stops), np.int64)
    max_dur = UNREACHED if max_duration_s is None else int(max_duration_s)
    n = network
    _raptor(n.n_stops, int(max_rides), n.pat_stop_ptr, n.pat_stops, n.pat_pick, n.pat_drop, n.pat_n_trips,
            n.pat_time_ptr, n.arr, n.dep, n.pat_freq_ptr, n.freq_start, n.freq_end, n.freq_half, n.stop_pp_ptr,
            n.stop_pp_pat, n.stop_pp_pos, n.tr_ptr, n.tr_to, n.tr_s, n.board_from_vehicle, int(boarding_slack_s),
            acc_stops, np.ceil(acc).astype(np.int64), deps[order], bool(range_mode), max_dur, out)
    result = np.empty_like(out)
    result[order] = out
    return result


def travel_times(
    timetable: Timetable,
    access_stops,
    access_s,
    *,
    departure_s: int,
    window_min: int = 1,
    walks=None,
    max_rides: int = 8,
    boarding_slack_s: int = 60,
    max_duration_s: int | None = None,
    frequency: str = "draws",
    draws: int = 1,
    seed: int = 0,
    use_transfers_txt: bool = True,
) -> np.ndarray:
    """Travel-time distribution from one origin to every stop over a departure window.

    Departures are every minute ``departure_s, departure_s + 60, ...`` (``window_min`` of them); with headway-based
    frequencies and ``frequency="draws"`` each draw of offsets is a timetable routed over the whole window.

    Returns
    -------
    numpy.ndarray
        float ``(n_draws, window_min, n_stops)`` travel times in seconds (arrival - departure), NaN where not
        reached; ``n_draws`` is 1 without headway-based frequencies or with ``frequency="half_headway"``.
    """
    if int(window_min) != window_min or window_min < 1:
        raise InvalidOptionError(f"window_min {window_min!r} must be an integer >= 1")
    if int(draws) != draws or draws < 1:
        raise InvalidOptionError(f"draws {draws!r} must be an integer >= 1")
    deps = int(departure_s) + 60 * np.arange(int(window_min))
    if frequency == "draws" and len(timetable.frequencies):
        offsets = frequency_offsets(timetable, draws=int(draws), seed=seed)
    else:
        offsets = [None]
    out = np.empty((len(offsets), len(deps), timetable.n_stops))
    for i, off in enumerate(offsets):
        net = build_network(timetable, walks=walks, use_transfers_txt=use_transfers_txt, frequency=frequency,
                            offsets_s=off)
        arr = raptor(net, access_stops, access_s, deps, max_rides=max_rides, boarding_slack_s=boarding_slack_s,
                     max_duration_s=max_duration_s)
        out[i] = np.where(arr >= UNREACHED, np.nan, arr - deps[:, None])
    return out
