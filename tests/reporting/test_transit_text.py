"""The transit report's words (#16): summary sentence, provenance box and tables, checked against
shares computed here from the node minutes (Monaco on foot standing in for both results; the real
transit report on Sao Paulo is rendered in ``test_browser.py``)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from urbankit._errors import InvalidOptionError
from urbankit.reporting.text import format_share
from urbankit.reporting.transit import (
    transit_header,
    transit_jobs_table,
    transit_provenance,
    transit_sentence,
    transit_service_table,
)

TRANSIT_PARAMS = {
    "gtfs": ["feed.zip"], "departure": "2019-05-13T07:00", "window_min": 60, "percentile": 50, "max_rides": 8,
    "max_walk_min": 15.0, "walk_speed_kmh": 4.8, "draws": 1, "seed": 0, "boarding_slack_s": 60,
}


def as_transit(acc, *, faster: str | None = None):
    """``acc`` labelled as a transit result; ``faster``: that service reached at once from every node."""
    nodes = acc.nodes.copy()
    if faster is not None:
        nodes[f"time_{faster}_min"] = 0.0
    return dataclasses.replace(acc, nodes=nodes, params={**acc.params, "mode": "transit", "transit": TRANSIT_PARAMS})


def share_within(acc, column: str, m: float) -> float:
    w = acc.nodes["population"].to_numpy(float)
    t = acc.nodes[column].to_numpy(float)
    return float((w * (t <= m + 1e-9)).sum() / w.sum())


def every_function_share(acc, m: float) -> float:
    w = acc.nodes["population"].to_numpy(float)
    ok = np.ones(len(acc.nodes), bool)
    for f in set(acc.functions.values()):
        cols = [f"time_{s}_min" for s in acc.services if acc.functions[s] == f]
        ok &= (acc.nodes[cols].to_numpy(float) <= m + 1e-9).any(axis=1)
    return float((w * ok).sum() / w.sum())


def pct(x: float) -> str:
    return format_share(x)  # formatting only (82 %, 99.96 %): the shares are computed above


def test_sentence_every_function_and_largest_gain(monaco_walk_accessibility):
    walk = monaco_walk_accessibility
    assert not walk.missing_functions
    transit = as_transit(walk, faster="grocery")
    m = 15
    text = transit_sentence(transit, walk, minutes=m, name="Monaco")
    share = pct(every_function_share(walk, m))
    assert text.startswith(f"By public transport and on foot, {share} of Monaco's "), text
    assert f"reach every everyday function within 15 minutes, against {share} on foot alone;" in text
    assert re.search(r"Monaco's [\d,]+ residents", text)
    gain = "the largest gain is for grocery: 100 % of residents within 15 minutes, against "
    assert gain + pct(share_within(walk, "time_grocery_min", m)) + " on foot." in text, text
    # the same result both ways: no gain
    same = transit_sentence(as_transit(walk), walk, minutes=m, name="Monaco")
    assert "no service is reached by more residents within 15 minutes than on foot" in same


def test_sentence_with_jobs_and_errors(monaco_walk_accessibility):
    walk = monaco_walk_accessibility
    transit = as_transit(walk)
    jobs = pd.DataFrame({"transit_walk_share_of_jobs": [0.2, 0.5, 0.9], "walk_share_of_jobs": [0.1, 0.25, 0.6]},
                        index=pd.Index(walk.minutes, name="minutes"))
    text = transit_sentence(transit, walk, jobs=jobs, jobs_total=12_345, name="Monaco")
    assert "and on average 50 % of the area's 12,300 jobs (on foot: 25 %)" in text, text  # rounded as residents
    with pytest.raises(InvalidOptionError, match="transit result"):
        transit_sentence(walk, walk)
    with pytest.raises(InvalidOptionError, match="not one of the thresholds"):
        transit_sentence(transit, walk, minutes=20)
    with pytest.raises(InvalidOptionError, match="columns"):
        transit_sentence(transit, walk, jobs=jobs.rename(columns={"walk_share_of_jobs": "x"}))
    table = transit_jobs_table(jobs)
    assert table.frame.loc["within 15 min"].tolist() == ["50 %", "25 %"]


def test_provenance_and_service_table(monaco_walk_accessibility):
    walk = monaco_walk_accessibility
    transit = as_transit(walk, faster="grocery")
    prov = transit_provenance(transit, jobs_total=1000, jobs_source="/data/grid.csv")
    items = dict(zip(prov["item"], prov["value"]))
    assert items["Timetables"] == "GTFS: feed.zip"
    assert items["Service date"] == "Monday 13 May 2019"
    assert items["Departure window"].startswith("07:00 to 08:00 (60 minutes)")
    assert "50th percentile" in items["Departure window"] and items["Jobs"] == "1,000 jobs, from grid.csv"
    assert {"Data source", "OSM data date", "Residents", "Population source", "urbankit version"} <= set(items)
    assert (prov["item"] == "Caveat").sum() >= 3
    header = transit_header(transit, walk, name="Monaco")
    html = header._repr_html_()
    assert "urbankit-summary" in html and "urbankit-provenance" in html
    table = transit_service_table(transit, walk)
    assert table.frame.loc["Grocery", "15 min by transit"] == "100 %"
    assert table.frame.loc["Grocery", "15 min on foot"] == pct(share_within(walk, "time_grocery_min", 15))
    shown = table.frame.to_numpy().ravel().tolist()
    assert not any(re.search(r"\b(nan|NaN|None)\b", v) for v in shown)
    for s in walk.missing_services:
        assert s not in table.raw.index  # none in the area: left out, named in the caption
