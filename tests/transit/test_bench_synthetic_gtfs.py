"""The synthetic city feed of the transit benchmark (benchmarks/_synthetic_gtfs.py) reads back as designed.

Expected counts follow from the generator's documented layout (lines every ``line_spacing_m`` on both axes, a stop
every ``stop_spacing_m``, both directions, departures every headway from 05:00 while before 24:00, every fifth line
frequency-based alternately with ``exact_times`` 0 and 1), computed here from the parameters.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import urbankit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def synthetic():
    spec = importlib.util.spec_from_file_location("bench_synthetic_gtfs", ROOT / "benchmarks" / "_synthetic_gtfs.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(spec.name, None)


def _haversine_m(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(h))


def test_synthetic_feed_reads_with_expected_counts(synthetic, tmp_path):
    side_m, line_m, stop_m, headway_min = 2000.0, 500.0, 400.0, 10
    feed = synthetic.write_synthetic_gtfs(tmp_path / "city.zip", side_m=side_m, line_spacing_m=line_m,
                                          stop_spacing_m=stop_m, headways_min=(headway_min,), frequency_every=5)
    tt = urbankit.read_gtfs(feed.path, "2026-03-10")  # a Tuesday

    lines_per_axis = int(side_m // line_m) + 1  # 5
    stops_per_line = int(side_m // stop_m) + 1  # 6
    n_lines = 2 * lines_per_axis
    assert tt.n_stops == n_lines * stops_per_line == feed.n_stops == 60

    departures = math.ceil((24 - 5) * 60 / headway_min)  # 05:00, 05:10, ..., 23:50
    headway_based = [k for k in range(n_lines) if k % 5 == 0 and (k // 5) % 2 == 0]  # line 0
    exact = [k for k in range(n_lines) if k % 5 == 0 and (k // 5) % 2 == 1]  # line 5
    scheduled = n_lines - len(headway_based) - len(exact)
    n_trips = 2 * (scheduled + len(exact)) * departures + 2 * len(headway_based)
    assert len(tt.trips) == n_trips
    assert int(tt.trips.frequency_template.sum()) == 2 * len(headway_based)
    assert len(tt.frequencies) == 2 * len(headway_based)
    assert (tt.frequencies.headway_s == 60 * headway_min).all()
    assert len(tt.stop_times) == n_trips * stops_per_line

    # every trip starts between 05:00 and 24:00 and runs at 18-25 km/h between stops 400 m apart
    st = tt.stop_times
    first = st.groupby("trip_index").departure_s.min()
    assert first.min() >= 5 * 3600 and first.max() < 24 * 3600
    same_trip = st.trip_index.to_numpy()[1:] == st.trip_index.to_numpy()[:-1]
    hop_s = np.diff(st.arrival_s.to_numpy())[same_trip]
    assert hop_s.min() >= math.floor(stop_m / (25 / 3.6)) and hop_s.max() <= math.ceil(stop_m / (18 / 3.6))
    s = tt.stops.set_index("stop_id")
    d = _haversine_m(s.loc["L0S0", "stop_lon"], s.loc["L0S0", "stop_lat"],
                     s.loc["L0S1", "stop_lon"], s.loc["L0S1", "stop_lat"])
    assert d == pytest.approx(stop_m, abs=1.0)

    # same seed, same bytes
    again = synthetic.write_synthetic_gtfs(tmp_path / "again.zip", side_m=side_m, line_spacing_m=line_m,
                                           stop_spacing_m=stop_m, headways_min=(headway_min,), frequency_every=5)
    assert again.path.read_bytes() == feed.path.read_bytes()
