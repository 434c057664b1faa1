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


# ----------------------------------------------------------------------------- overview, comparison, superblocks


@pytest.fixture(scope="module")
def overview():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(urbankit.settings, "progress", False)
        yield urbankit.area_overview("monaco", modes=["walk"])


def test_overview_sentence_and_tables(overview):
    from urbankit.reporting.overview import overview_header, overview_sentence, overview_table

    sentence = overview_sentence(overview)
    km = overview.networks["walk"].edges["length_m"].sum() / 1000
    total = overview.population.per_node.sum()
    assert sentence.startswith(f"Monaco: {text.round_residents(total):,} residents, {km:,.1f} km of walkable streets")
    assert f"{len(overview.destinations):,} everyday destinations" in sentence
    assert sentence.endswith("none mapped: dentist.")
    services = overview_table(overview, "services").frame
    counts = overview.destinations["service"].value_counts()
    tax = urbankit.load_taxonomy()
    for name, service in tax.services.items():
        want = f"{counts[name]:,}" if name in counts else "none in area"
        assert services.loc[service.label, "destinations"] == want, name
    nets = overview_table(overview, "networks").frame
    assert nets.loc["walk (on foot)", "length"] == f"{km:,.1f} km"
    residents = overview_table(overview, "residents").frame
    assert residents.iloc[0]["residents"] == f"{total:,.0f}"
    header = overview_header(overview)
    items = dict(zip(header.provenance["item"], header.provenance["value"]))
    assert items["OSM data date"].startswith("2023-12-26")
    for table in (services, nets, residents):
        assert not [c for c in table.to_numpy().ravel() if re.search(r"\bnan\b|None", str(c))]


def test_comparison_header_and_formatted_table(acc):
    from urbankit.reporting.compare import compare_areas, compare_header, formatted

    other = dataclasses.replace(acc, pois=acc.pois[acc.pois["service"] != "grocery"].reset_index(drop=True))
    header = compare_header({"Monaco": acc, "no groceries": other}, 15)
    share = acc.residents_within(15)
    assert f"{text.format_share(share)} in Monaco" in header.summary
    table = formatted(compare_areas({"Monaco": acc}, 15), largest=30)
    cells = table.to_numpy().ravel().tolist()
    assert not [c for c in cells if re.search(r"\bnan\b", str(c))]
    assert table.loc["all functions within 15 min", "Monaco"] == text.format_share(share)
    assert table.loc["commerce median min", "Monaco"].endswith(" min")


def test_superblocks_sentence_and_totals():
    from types import SimpleNamespace

    import pandas as pd

    from urbankit.reporting.superblocks import superblocks_header, superblocks_sentence, superblocks_table

    summary = pd.DataFrame(
        {
            "n_superblocks": [3],
            "trips": [23121.3],
            "trips_affected": [9467.4],
            "vkm_before": [30218.0],
            "vkm_after": [34363.0],
            "median_detour": [1.39],
            "street_area_freed_m2": [33955.4],
            "residents_inside": [18910.2],
            "detect_s": [0.01],
            "noise_caveat": ["a caveat"],
            "source": ["data/eixample_2012.osm.bz2"],
        }
    )
    scenario = SimpleNamespace(
        summary_table=summary,
        superblocks=pd.DataFrame({"superblock_id": [0, 1, 2]}),
        population_description="residents: 46,241",
        assignment=SimpleNamespace(params={"internal_speed_kmh": 10.0, "evaporation": 0.0}),
    )
    sentence = superblocks_sentence(scenario)
    change = 100 * (34363.0 - 30218.0) / 30218.0
    assert sentence == (
        "Eixample 2012: 3 candidate superblocks with 18,900 residents inside free 33,955 m² of street; car traffic "
        f"goes from 30,218 to 34,363 vehicle-km per day ({change:+.1f} %) and the median affected car trip is "
        "39 % longer."
    )
    table = superblocks_table(scenario).frame
    assert "detect s" not in " ".join(table.index) and "a caveat" not in table.to_numpy().ravel()  # no timings
    assert table.loc["car trips per day", "value"] == "23,121"
    assert table.loc["street area freed for people (m²)", "value"] == "33,955"
    header = superblocks_header(scenario)
    assert "a caveat" in header.provenance["value"].tolist()


def test_auto_table_units_and_missing_values():
    import pandas as pd

    frame = pd.DataFrame(
        {"area_ha": [19.46, np.nan], "residents": [6090.1, 12.0], "n_edges": [23, 8], "name": ["a", "b"]}
    )
    table = text.auto_table(frame).frame
    assert list(table.columns) == ["area (ha)", "residents", "n edges", "name"]
    assert table["area (ha)"].tolist() == ["19.5", "n/a"]
    assert table["residents"].tolist() == ["6,090", "12"] and table["n edges"].tolist() == ["23", "8"]
