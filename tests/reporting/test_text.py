"""Plain-language summaries, provenance and tables for people (issue #16), checked against
independent computations on Monaco."""

from __future__ import annotations

import dataclasses
import math
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

import urbankit
from urbankit._errors import InvalidOptionError
from urbankit.reporting import text
from urbankit.viz import plots


@pytest.fixture(scope="module")
def acc(monaco_walk_accessibility):
    return monaco_walk_accessibility


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _weighted_median(values, weights):
    """Lower weighted median, NaN as +inf (independent of urbankit's helper)."""
    v = np.nan_to_num(np.asarray(values, float), nan=np.inf)
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(np.asarray(weights, float)[order])
    return v[order][np.searchsorted(cum, 0.5 * cum[-1])]


def test_formatters():
    assert text.format_share(0.8237) == "82 %"
    assert text.format_share(0.9996) == "99.96 %" and text.format_share(1.0) == "100 %"  # never a false 100 %
    assert text.format_share(0.0004) == "0.04 %" and text.format_share(0.0) == "0 %"
    assert text.format_share(float("nan")) == "n/a"
    assert text.format_share(None, missing="none in area") == "none in area"
    assert text.format_count(38912.4) == "38,912" and text.format_count(5, unit="km") == "5 km"
    assert text.format_minutes(19.26) == "19.3 min"
    assert text.format_minutes(float("nan"), largest=30) == "beyond 30 min"
    assert text.format_minutes(np.nan, missing="none in area") == "none in area"
    assert text.round_residents(43325.6) == 43300 and text.round_residents(38912) == 38900
    assert text.round_residents(87) == 87 and text.round_residents(float("nan")) == 0
    assert text.middle_threshold([30, 10, 15]) == 15 and text.middle_threshold([5, 10]) == 5


def test_summary_sentence_states_the_headline_from_the_results(acc):
    sentence = text.summary_sentence(acc, name="Monaco")
    # independent: residents (populated nodes) reaching a service of every function within 15 min
    w = acc.nodes["population"].to_numpy(float)
    ok = np.ones(len(w), bool)
    for f in set(acc.functions.values()):
        cols = [f"time_{s}_min" for s, g in acc.functions.items() if g == f]
        ok &= (acc.nodes[cols].to_numpy(float) <= 15 + 1e-9).any(axis=1)
    share = (w * ok).sum() / w.sum()
    assert sentence.startswith(f"{text.format_share(share)} of Monaco's ")
    total = w.sum()
    rounded = round(total / 10 ** (math.floor(math.log10(total)) - 2)) * 10 ** (math.floor(math.log10(total)) - 2)
    assert f"{int(rounded):,} residents live within 15 minutes on foot of every everyday function" in sentence
    # the gaps: services with no destination first, then those whose median resident is beyond 15 min
    present = set(acc.pois["service"])
    missing = [s for s in acc.services if s not in present]
    assert missing == ["dentist"]
    assert "the gaps are dentist (none mapped)" in sentence
    slow = {s: _weighted_median(acc.nodes[f"time_{s}_min"], w) for s in acc.services if s not in missing}
    slow = {s: m for s, m in slow.items() if m > 15}
    assert slow, "Monaco has a service whose median resident is beyond 15 minutes"
    tax = urbankit.load_taxonomy()
    for s, med in sorted(slow.items(), key=lambda kv: -kv[1])[:2]:
        label = tax.services[s].label
        label = label[0].lower() + label[1:]
        assert f"{label} (median {med:.0f} minutes)" in sentence, (s, sentence)
    # another threshold, a default name
    assert "within 30 minutes" in text.summary_sentence(acc, minutes=30)
    with pytest.raises(InvalidOptionError, match="thresholds"):
        text.summary_sentence(acc, minutes=20)


def test_summary_sentence_when_a_whole_function_is_missing(acc):
    pois = acc.pois[acc.pois["function"] != "healthcare"]
    gone = dataclasses.replace(acc, pois=pois)
    sentence = text.summary_sentence(gone, name="Monaco")
    assert sentence.startswith("None of Monaco's ") and "no destination of healthcare is mapped" in sentence
    assert "%" not in sentence.split(";")[0]


def test_provenance_table(acc):
    from urbankit.osm.files import osm_data_date

    prov = text.provenance_table(acc, hex_resolution=9)
    items = dict(zip(prov["item"], prov["value"]))
    assert items["Residents"] == f"{acc.nodes['population'].sum():,.0f}"
    file = urbankit.datasets.get_path("monaco")
    assert items["OSM data date"] == osm_data_date(file)
    assert "OpenStreetMap" in items["Data source"] and file.name in items["Data source"]
    assert items["urbankit version"] == urbankit.__version__
    assert items["Travel"] == "on foot, within 10, 15, 30 minutes"
    caveats = prov.loc[prov["item"] == "Caveat", "value"].tolist()
    assert any("Dentist" in c for c in caveats) and len(caveats) >= 3
    html = text.report_header(acc, hex_resolution=9)._repr_html_()
    assert "urbankit-summary" in html and "urbankit-provenance" in html and "Data and method" in html


def test_people_tables_have_no_nan_and_use_labels(acc):
    tax = urbankit.load_taxonomy()
    summary = text.people_table(acc, "summary")
    frame = summary.frame
    cells = frame.to_numpy().ravel().tolist() + list(frame.index) + list(frame.columns)
    assert not [c for c in cells if re.search(r"\bnan\b|\bNaN\b|None", str(c))]
    assert list(frame.index[:-1]) == [tax.services[s].label for s in acc.services]
    assert frame.index[-1] == "Every function"
    dentist = frame.loc["Dentist"]
    assert (dentist.drop("Function") == "none in area").all() and dentist["Function"] == "Healthcare"
    # the shares, independently: population-weighted, within 10 minutes of a grocery
    w = acc.nodes["population"].to_numpy(float)
    t = acc.nodes["time_grocery_min"].to_numpy(float)
    assert frame.loc["Grocery", "within 10 min"] == text.format_share((w * (t <= 10)).sum() / w.sum())
    med = _weighted_median(t, w)
    assert frame.loc["Grocery", "median minutes"] == f"{med:.1f} min"
    # raw names on hover
    html = summary._repr_html_()
    assert "title='grocery'" in html and "title='within_10min'" in html
    ineq = text.people_table(acc, "inequality").frame
    assert "beyond 30 min" in ineq["worst-off 10 %"].tolist()  # kindergartens: the worst tenth is beyond 30 min
    assert not [c for c in ineq.to_numpy().ravel() if "nan" in str(c).lower()]
    with pytest.raises(InvalidOptionError, match="which="):
        text.people_table(acc, "nope")


def test_table_html_escapes_labels(acc):
    hostile = {"grocery": "<img src=x onerror=alert(1)>"}
    table = text.format_table(acc.summary(), kinds={"median_min": "minutes"}, labels=hostile, largest=30)
    html = table._repr_html_()
    assert "<img" not in html and "&lt;img" in html


def test_figures_carry_alt_text(acc):
    ax = plots.plot_scores(acc)
    shares = [acc.residents_within(m) for m in acc.minutes]
    alt = plots.alt_text(ax)
    for m, s in zip(acc.minutes, shares):
        assert f"{m:g} minutes: {100 * s:.0f} %" in alt
    fig = text.figure(ax, caption="caption & more")
    html = fig._repr_html_()
    assert html.count("<img ") == 1 and f"alt='{alt}'" in html.replace("&#x27;", "'")
    assert "caption &amp; more" in html and not plt.get_fignums()  # closed: not shown twice
    assert plots.alt_text(plots.plot_minutes_histogram(acc, "grocery")).startswith("Histogram of residents")
    assert "Step curves" in plots.alt_text(plots.plot_resident_share(acc))


def test_resident_share_small_multiples_label_every_line(acc):
    tax = urbankit.load_taxonomy()
    axes = plots.plot_resident_share_by_function(acc)
    assert len(axes) == len(acc.function_names)
    w = acc.nodes["population"].to_numpy(float)
    for ax, f in zip(axes, acc.function_names):
        want = [tax.services[s].label for s in acc.services if acc.functions[s] == f]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == want + ["every function"]
        assert ax.get_title() == tax.functions[f]
        for line, s in zip(ax.get_lines(), [s for s in acc.services if acc.functions[s] == f]):
            t = acc.nodes[f"time_{s}_min"].to_numpy(float)
            # the share at 15 minutes, independently
            x, y = line.get_xdata(), line.get_ydata()
            at = y[np.searchsorted(x, 15, side="right") - 1]
            assert at == pytest.approx((w * (t <= 15)).sum() / w.sum())
    fig = axes[0].figure
    assert fig.get_suptitle() and "minutes on foot" in fig.supxlabel(fig._supxlabel.get_text()).get_text()
    assert "Within 15 minutes" in plots.alt_text(fig)
