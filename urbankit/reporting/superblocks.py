"""The superblocks report in words: its summary sentence, provenance box and totals for people.

Used by ``notebooks/superblocks.ipynb`` on a :class:`urbankit.superblocks.Scenario`; the formatting
is :mod:`urbankit.reporting.text`'s.
"""

from __future__ import annotations

import logging
import math

import pandas as pd

from .text import PeopleTable, ReportHeader, format_count, format_table, name_from_source, round_residents

logger = logging.getLogger(__name__)

__all__ = [
    "exposure_tables",
    "health_table",
    "measured_table",
    "superblocks_header",
    "superblocks_sentence",
    "superblocks_table",
]

#: scenario totals in words: key -> (label, kind)
_LABELS = {
    "n_superblocks": ("candidate superblocks", "count"),
    "residents_inside": ("residents inside", "count"),
    "street_area_freed_m2": ("street area freed for people (m²)", "count"),
    "internal_length_km": ("streets inside (access only)", "km"),
    "trips": ("car trips per day", "count"),
    "vkm_before": ("vehicle-km per day, before", "count"),
    "vkm_after": ("vehicle-km per day, after", "count"),
    "median_detour": ("median detour of affected trips (after / before)", "decimal"),
    "co2_kg_day_before": ("CO2 per day, before", "kg"),
    "co2_kg_day_after": ("CO2 per day, after", "kg"),
    "nox_kg_day_before": ("NOx per day, before", "kg"),
    "nox_kg_day_after": ("NOx per day, after", "kg"),
    "mean_d_noise_internal_db": ("noise change inside (mean)", "dB"),
    "mean_d_noise_perimeter_db": ("noise change on the perimeter (mean)", "dB"),
    "flow_moved_to_perimeter_vkm": ("vehicle-km per day moved to the perimeter", "count"),
}

#: columns that are not totals (text, timings, the caveat shown on its own)
_SKIP = {"noise_caveat", "source", "population_source", "method"}


def _default_label(key: str) -> tuple[str, str]:
    """(label, kind) of a scenario total without an entry in ``_LABELS``, from its name."""
    words = key.replace("_", " ")
    if key.startswith("trips"):
        return f"car {words} (per day)", "count"
    if key.startswith("vkm"):
        return words.replace("vkm", "vehicle-km per day,", 1), "count"
    if "detour" in key or "efficiency" in key or "directness" in key:
        return f"{words} (ratio)", "decimal"
    return words, "number"


def _row(scenario) -> pd.Series:
    return scenario.summary_table.iloc[0]


def superblocks_sentence(scenario, *, name: str | None = None) -> str:
    """What the superblock scenario does, in one sentence a council member can quote.

    E.g. "Barcelona: 12 candidate superblocks with 23,400 residents inside free 45,000 m² of street;
    car traffic goes from 120,000 to 118,000 vehicle-km per day (-1.7 %) and the median affected
    car trip is 12 % longer."

    Parameters
    ----------
    scenario : Scenario
        From :func:`urbankit.superblocks.superblocks_scenario`.
    name : str, optional
        The area's name (default from the scenario's source).

    Returns
    -------
    str
        The sentence.
    """
    s = _row(scenario)
    name = name_from_source(s.get("source")) if name is None else name
    n = int(s.get("n_superblocks", len(scenario.superblocks)))
    residents = s.get("residents_inside", float("nan"))
    freed = s.get("street_area_freed_m2", float("nan"))
    head = f"{name}: {n:,} candidate superblock{'s' if n != 1 else ''}"
    if isinstance(residents, (int, float)) and math.isfinite(residents):
        head += f" with {round_residents(residents):,} residents inside"
    if isinstance(freed, (int, float)) and math.isfinite(freed) and freed > 0:
        head += f" free {format_count(freed)} m² of street"
    before, after = float(s.get("vkm_before", float("nan"))), float(s.get("vkm_after", float("nan")))
    parts = [head]
    if math.isfinite(before) and math.isfinite(after) and before > 0:
        change = 100 * (after - before) / before
        parts.append(
            f"car traffic goes from {format_count(before)} to {format_count(after)} vehicle-km per day "
            f"({change:+.1f} %)"
        )
    detour = float(s.get("median_detour", float("nan")))
    if math.isfinite(detour):
        parts.append(f"the median affected car trip is {100 * (detour - 1):.0f} % longer")
    return parts[0] + ("; " + " and ".join(parts[1:]) if len(parts) > 1 else "") + "."


def superblocks_table(scenario) -> PeopleTable:
    """The scenario totals, one row each, with labels and units (no timings, no raw names).

    Parameters
    ----------
    scenario : Scenario
        From :func:`urbankit.superblocks.superblocks_scenario`.

    Returns
    -------
    PeopleTable
        Rows ``value`` per total; the raw column name on hover.
    """
    s = _row(scenario)
    keys = [k for k in s.index if k not in _SKIP and not k.endswith("_s") and isinstance(s[k], (int, float))]
    rows, kinds = [], []
    for k in keys:
        label, kind = _LABELS.get(k) or _default_label(k)
        rows.append((k, float(s[k])))
        kinds.append(kind)
    frame = pd.DataFrame({"value": [v for _, v in rows]}, index=pd.Index([k for k, _ in rows], name="total"))
    labels = {k: (_LABELS.get(k) or _default_label(k))[0] for k in keys}
    # one column, a unit per row: format row by row
    text = [
        format_table(frame.iloc[[i]], kinds={"value": kind}, missing={"value": "n/a"}).frame.iloc[0, 0]
        for i, kind in enumerate(kinds)
    ]
    out = pd.DataFrame({"value": text}, index=pd.Index([labels[k] for k in keys], name="Scenario total"))
    return PeopleTable(frame=out, raw=frame, names={labels[k]: k for k in keys}, caption="Per day, before and after.")


def superblocks_header(scenario, *, name: str | None = None) -> ReportHeader:
    """The opening of the superblocks report: the sentence and a provenance box (source and OSM data
    date, residents and their source, parameters, urbankit version, the noise caveat).

    Parameters
    ----------
    scenario : Scenario
        From :func:`urbankit.superblocks.superblocks_scenario`.
    name : str, optional
        The area's name.

    Returns
    -------
    ReportHeader
        Displays as HTML in a notebook.
    """
    from pathlib import Path

    from ..io import provenance

    s = _row(scenario)
    meta = provenance(s.get("source"), {})
    rows = [
        (
            "Data source",
            "OpenStreetMap (© OpenStreetMap contributors, ODbL): "
            + (Path(str(meta["source"])).name if meta.get("source") else "unknown"),
        ),
        ("OSM data date", meta.get("osm_data_date") or "unknown (the file records no timestamp)"),
        ("Population source", scenario.population_description or str(s.get("population_source", "unknown"))),
    ]
    x = getattr(scenario, "exposure", None)
    if x is not None and len(x):  # every resident is placed on a street: the bands sum to all of them
        total = float(x.loc[(x["kind"] == "lden_band") & (x["group"] == "all"), "residents_before"].sum())
        rows.insert(2, ("Residents", f"{format_count(total)} (placed on their nearest street)"))
    assignment = s.get("assignment")
    if assignment == "equilibrium":
        from ..superblocks.congestion import PEAK_HOUR_SHARE

        gaps = [s.get(f"rel_gap_{p}") for p in ("before", "after")]
        gap = max((float(g) for g in gaps if g is not None), default=float("nan"))
        rows.append(("Assignment", "user equilibrium, BPR delays at the peak hour "
                                   f"({PEAK_HOUR_SHARE:.0%} of the day's trips), "
                                   f"relative gap {gap:.1e}; emissions at its congested speeds"))
    elif assignment == "aon":
        rows.append(("Assignment", "all-or-nothing at free-flow times"))
    for key, label in (("internal_speed_kmh", "Speed inside superblocks (km/h)"), ("evaporation", "Evaporation")):
        value = scenario.assignment.params.get(key) if hasattr(scenario, "assignment") else None
        if value is not None:
            rows.append((label, f"{value:g}"))
    params = scenario.assignment.params if hasattr(scenario, "assignment") else {}
    if params.get("evaporation_method") == "elastic":  # the share above is what the elasticity gave
        rows.append(
            (
                "Evaporation method",
                f"elastic: each affected trip keeps (time after / time before)^{params['time_elasticity']:g} "
                f"of its trips ({s.get('evaporation_source', 'user elasticity')})"
                + ("; times of the equilibrium, trips after its fixed point" if assignment == "equilibrium" else ""),
            )
        )
    rows.append(("urbankit version", str(meta.get("urbankit_version"))))
    caveat = s.get("noise_caveat")
    if isinstance(caveat, str) and caveat:
        rows.append(("Caveat", caveat))
    rows.append(("Caveat", "Car trips come from a gravity model between residents and destinations, not counts."))
    return ReportHeader(superblocks_sentence(scenario, name=name), pd.DataFrame(rows, columns=["item", "value"]))


_GROUPS = {"all": "All residents", "inside": "Inside superblocks", "perimeter": "On perimeter streets",
           "elsewhere": "Elsewhere"}


def exposure_tables(scenario) -> tuple[PeopleTable, PeopleTable] | None:
    """Who gains and who loses: residents per 5-dB Lden band before and after, and residents whose
    street gets at least 1 dB louder or quieter, inside the cells, on their perimeters and elsewhere.

    Parameters
    ----------
    scenario : Scenario
        From :func:`urbankit.superblocks.superblocks_scenario` (the CNOSSOS model).

    Returns
    -------
    tuple of PeopleTable or None
        The band table and the louder/quieter table; None when the scenario has no exposure
        (``model="simple"``).
    """
    x = getattr(scenario, "exposure", None)
    if x is None or len(x) == 0:
        return None
    bands = x[(x["kind"] == "lden_band") & (x["group"] == "all")].set_index("band_db")
    bands = bands[["residents_before", "residents_after"]]
    band_table = format_table(
        bands.rename_axis("Lden band (dB)"),
        kinds={"residents_before": "count", "residents_after": "count"},
        labels={"residents_before": "Residents before", "residents_after": "Residents after"},
        caption="Residents by the Lden at their nearest street (CNOSSOS-EU emission index, not facade levels).",
    )
    change = x[x["kind"] == "change"].set_index("group")[["louder", "quieter", "unchanged", "mean_change_db"]]
    change_table = format_table(
        change.rename_axis("Residents"),
        kinds={"louder": "count", "quieter": "count", "unchanged": "count", "mean_change_db": "dB"},
        labels={**_GROUPS, "louder": "Street 1 dB louder or more", "quieter": "Street 1 dB quieter or more",
                "unchanged": "Within 1 dB", "mean_change_db": "Mean change"},
        caption="Residents placed on their nearest street; the change of Lden there.",
    )
    return band_table, change_table


def health_table(scenario) -> PeopleTable | None:
    """The health-impact ESTIMATE of the scenario (:func:`urbankit.environment.health.health_table`):
    premature deaths avoided per year by pathway with the range of the exposure-response function, the
    label, sources and caveat as caption; None without an estimate.

    Parameters
    ----------
    scenario : Scenario
        From :func:`urbankit.superblocks.superblocks_scenario`.

    Returns
    -------
    PeopleTable or None
    """
    h = getattr(scenario, "health", None)
    if h is None or len(h) == 0:
        return None
    frame = h[["deaths_avoided_per_year", "deaths_avoided_low", "deaths_avoided_high", "note"]].copy()
    frame["note"] = frame["note"].fillna("").astype(str)
    first = h.iloc[0]
    sources = h.loc["total"] if "total" in h.index else first  # the total names every estimated pathway's sources
    caption = " ".join(str(first.get(k, "")) for k in ("label", "caveat") if str(first.get(k, "")).strip())
    caption += f" Exposure-response: {sources.get('erf_source', '')}. Baseline: {sources.get('baseline_source', '')}."
    return format_table(
        frame.rename_axis("Pathway"),
        kinds={"deaths_avoided_per_year": "decimal", "deaths_avoided_low": "decimal",
               "deaths_avoided_high": "decimal", "note": "text"},
        labels={"noise_ihd": "Road-traffic noise: ischaemic heart disease",
                "no2": "NO2 (roadside estimate): all-cause mortality", "total": "Total",
                "deaths_avoided_per_year": "Deaths avoided per year (estimate)", "deaths_avoided_low": "Low",
                "deaths_avoided_high": "High", "note": "Note"},
        missing={"deaths_avoided_per_year": "not estimated", "deaths_avoided_low": "n/a",
                 "deaths_avoided_high": "n/a"},
        caption=caption,
    )


def measured_table(scenario) -> PeopleTable | None:
    """The model beside what was measured at the Sant Antoni superblock (Barcelona, 2019): the change of
    traffic on the internal streets and the length-weighted median change of their noise level by
    period, as the scenario's summary gives them (:func:`urbankit.superblocks.effects`).

    Parameters
    ----------
    scenario : Scenario
        From :func:`urbankit.superblocks.superblocks_scenario` (the CNOSSOS model, for the noise rows).

    Returns
    -------
    PeopleTable or None
        Rows per measure, columns ``This scenario`` and ``Measured at Sant Antoni``; None without
        internal streets.
    """
    import numpy as np

    from ..superblocks._common import SANT_ANTONI_MEASURED as measured

    s = _row(scenario)
    if not float(s.get("internal_length_km", 0.0)) > 0:
        return None
    rows = {}
    before, after = float(s.get("vkm_internal_before", np.nan)), float(s.get("vkm_internal_after", np.nan))
    if before > 0:
        rows["Traffic on internal streets (vehicle-km, %)"] = (100.0 * (after / before - 1.0),
                                                               measured["internal_traffic_pct"])
    for period in ("day", "evening", "night"):
        median = s.get(f"median_d_l_{period}_internal_db")
        if median is not None:
            rows[f"Noise on internal streets, {period} (median, dB)"] = (float(median), measured[f"d_l_{period}_db"])
    raw = pd.DataFrame(rows, index=["This scenario", "Measured at Sant Antoni"]).T.rename_axis("Measure")
    text = raw.map(lambda v: "n/a" if not np.isfinite(v) else f"{v:+.1f}")
    return PeopleTable(frame=text, raw=raw, names={}, caption=f"Measured: {measured['source']}. The model's "
                       "noise is a roadside emission index, the measurements are at facades.")
