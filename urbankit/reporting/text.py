"""Words and tables for people: the plain-language summary, the provenance box and number formatting.

Every report opens with :func:`report_header` (a one-paragraph answer generated from the results,
then a provenance box: data source and OSM data date, population source and total, parameters,
urbankit version, caveats) and shows its tables through :func:`people_table` /
:func:`format_table`: thousands separators, units, percentages for shares, the taxonomy's labels
for services ("Primary school", not ``primary_school``), and words instead of NaN ("none in area",
"beyond 30 min"). The raw column or service name stays available on hover (``title``) and in
:attr:`PeopleTable.frame`.

>>> format_share(0.8237), format_count(38_912.4), format_minutes(19.26), format_minutes(float("nan"), largest=30)
('82 %', '38,912', '19.3 min', 'beyond 30 min')
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import InvalidOptionError
from .._html import escape
from ..viz.labels import function_labels, service_labels
from ..viz.labels import lower_label as _lower_label

logger = logging.getLogger(__name__)

__all__ = [
    "MODE_WORDS",
    "FigureHTML",
    "PeopleTable",
    "ReportHeader",
    "area_name",
    "auto_table",
    "figure",
    "format_count",
    "format_minutes",
    "format_share",
    "format_table",
    "function_labels",
    "middle_threshold",
    "name_from_source",
    "outputs_note",
    "people_table",
    "provenance_table",
    "report_header",
    "round_residents",
    "service_labels",
    "summary_sentence",
]

#: how each travel mode reads in a sentence
MODE_WORDS = {"walk": "on foot", "bike": "by bike", "drive": "by car", "transit": "by public transport"}

#: what a table shows instead of a missing value, by the kind of column
NONE_IN_AREA = "none in area"

#: caveats of the model every accessibility report states
MODEL_CAVEATS = (
    "Destinations are what OpenStreetMap maps: a service missing from the map counts as missing.",
    "Minutes are shortest paths on the street network at a constant speed: no slopes, waiting at crossings, "
    "opening hours or capacity.",
)


# ----------------------------------------------------------------------------- numbers


def _finite(value) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def format_share(value, *, missing: str = "n/a", decimals: int = 0) -> str:
    """A share 0..1 as a percentage (``0.8237`` -> ``"82 %"``); ``missing`` for NaN/None.

    Parameters
    ----------
    value : float or None
        The share (0..1).
    missing : str, default "n/a"
        Text for a missing value.
    decimals : int, default 0
        Decimals of the percentage.

    Returns
    -------
    str
        E.g. ``"82 %"``.
    """
    if not _finite(value):
        return missing
    v = 100 * float(value)
    # never round a share that is not all (or not none) to "100 %" (or "0 %")
    while decimals < 2 and (0 < v < 100) and round(v, decimals) in (0, 100):
        decimals += 1
    return f"{v:.{decimals}f} %"


def format_count(value, *, unit: str = "", missing: str = "n/a", decimals: int = 0) -> str:
    """A count or amount with thousands separators and an optional unit (``"38,912 residents"``).

    Parameters
    ----------
    value : float or None
        The number.
    unit : str, default ""
        Appended after a space when given.
    missing : str, default "n/a"
        Text for a missing value.
    decimals : int, default 0
        Decimals shown.

    Returns
    -------
    str
        E.g. ``"38,912"``.
    """
    if not _finite(value):
        return missing
    text = f"{float(value):,.{decimals}f}"
    return f"{text} {unit}" if unit else text


def format_minutes(value, *, largest: float | None = None, missing: str | None = None, decimals: int = 1) -> str:
    """Minutes with their unit; a missing value is "beyond <largest> min" (or ``missing``).

    Parameters
    ----------
    value : float or None
        Minutes (NaN: not reached within the largest threshold).
    largest : float, optional
        The largest threshold computed, for "beyond <largest> min".
    missing : str, optional
        Text for a missing value (overrides the "beyond" wording).
    decimals : int, default 1
        Decimals shown.

    Returns
    -------
    str
        E.g. ``"12.3 min"``.
    """
    if not _finite(value):
        if missing is not None:
            return missing
        return f"beyond {largest:g} min" if largest is not None else "n/a"
    return f"{float(value):,.{decimals}f} min"


def round_residents(value: float) -> int:
    """Residents rounded to three significant figures for a sentence (43,326 -> 43,300).

    Parameters
    ----------
    value : float
        A population total.

    Returns
    -------
    int
        Rounded; 0 for a missing or non-positive value.
    """
    if not _finite(value) or value <= 0:
        return 0
    digits = int(math.floor(math.log10(value)))
    step = 10 ** max(digits - 2, 0)
    return int(round(value / step) * step)


# ----------------------------------------------------------------------------- labels


def area_name(acc) -> str:
    """A readable name of the analysed area from its source (``"monaco"`` -> ``"Monaco"``,
    ``"data/helsinki_center.osm.pbf"`` -> ``"Helsinki center"``).

    Parameters
    ----------
    acc : Accessibility
        The result.

    Returns
    -------
    str
        The name; ``"the area"`` when the source is unknown.
    """
    source = (getattr(acc, "input_files", None) or {}).get("source")
    if source is None:
        source = (getattr(getattr(acc, "network", None), "meta", None) or {}).get("source")
    return name_from_source(source)


def name_from_source(source) -> str:
    """A readable area name from a source file or name: the file name without suffixes and a
    trailing date (``"monaco_2023-12-26.osm.pbf"`` -> ``"Monaco"``).

    Parameters
    ----------
    source : str or pathlib.Path
        A data set name, file path or place name.

    Returns
    -------
    str
        The name; ``"the area"`` when there is none.
    """
    import re

    if not isinstance(source, (str, Path)) or not str(source):
        return "the area"
    name = Path(str(source)).name.split(".")[0]
    name = re.sub(r"[_-]?\d{4}-\d{2}-\d{2}$", "", name)
    name = name.replace("_", " ").replace("-", " ").strip()
    return name[:1].upper() + name[1:] if name else "the area"


def middle_threshold(minutes) -> float:
    """The middle threshold of an analysis (15 of 10, 15, 30; the lower middle of an even count).

    Parameters
    ----------
    minutes : sequence of float
        The thresholds.

    Returns
    -------
    float
        One of them.
    """
    ordered = sorted(minutes)
    return ordered[(len(ordered) - 1) // 2]


# ----------------------------------------------------------------------------- the summary


def _service_median(acc, service: str) -> float:
    from ..accessibility.inequality import weighted_quantile

    nodes, w = acc._populated()
    if not w.sum():
        return float("nan")
    t = nodes[f"time_{service}_min"].to_numpy(float)
    return float(weighted_quantile(np.nan_to_num(t, nan=np.inf), w, 0.5)[0])


def _gaps(acc, minutes: float, labels: dict, *, limit: int = 3) -> list[str]:
    """The services most residents lack: none mapped first, then those whose median resident is
    beyond ``minutes`` (slowest first)."""
    missing = [s for s in acc.services if s in set(acc.missing_services)]
    out = [f"{_lower_label(labels[s])} (none mapped)" for s in missing[:limit]]
    slow = []
    for s in acc.services:
        if s in missing:
            continue
        med = _service_median(acc, s)
        if not med <= minutes:
            slow.append((med, s))
    slow.sort(key=lambda x: -x[0] if math.isfinite(x[0]) else -math.inf)
    largest = max(acc.minutes)
    for med, s in slow[: max(limit - len(out), 0)]:
        when = f"median {med:.0f} minutes" if math.isfinite(med) else f"median beyond {largest:g} minutes"
        out.append(f"{_lower_label(labels[s])} ({when})")
    return out


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _residents_of(acc, name: str) -> str:
    """"Monaco's 43,300 residents" ("the area's ...", "Paris' ..."), or "the street corners of
    <name>" when the result has no residents: who a headline speaks of."""
    total = float(np.nansum(acc.nodes["population"].to_numpy(float)))
    possessive = "the area's" if name == "the area" else (f"{name}'" if name.endswith("s") else f"{name}'s")
    return f"{possessive} {round_residents(total):,} residents" if total > 0 else f"the street corners of {name}"


def summary_sentence(acc, *, minutes: float | None = None, name: str | None = None, taxonomy=None) -> str:
    """The headline a council member can quote, generated from the results.

    E.g. "82 % of Monaco's 43,300 residents live within 15 minutes on foot of every everyday
    function; the gaps are dentists (none mapped) and kindergartens (median 19 minutes)."

    The share is :meth:`Accessibility.residents_within` at ``minutes``; the residents are the
    population total rounded to three significant figures; the gaps are the services without any
    destination in the area, then those whose population-weighted median minutes exceed ``minutes``
    (at most three in all).

    Parameters
    ----------
    acc : Accessibility
        The result.
    minutes : float, optional
        A threshold of ``acc`` (default the middle one, 15 of 10, 15, 30).
    name : str, optional
        The area's name (default :func:`area_name`).
    taxonomy : Taxonomy, str or dict, optional
        Labels from this taxonomy (default the one the destinations were found with).

    Returns
    -------
    str
        One or two sentences.

    Raises
    ------
    InvalidOptionError
        ``minutes`` is not a threshold of ``acc``.
    """
    m = middle_threshold(acc.minutes) if minutes is None else minutes
    if m not in acc.minutes:
        raise InvalidOptionError(f"minutes={m!r} is not one of the thresholds {list(acc.minutes)}; choose one of them.")
    name = area_name(acc) if name is None else name
    labels = service_labels(acc, taxonomy=taxonomy)
    how = MODE_WORDS.get(getattr(acc.network, "mode", ""), f"by {getattr(acc.network, 'mode', 'the network')}")
    who = _residents_of(acc, name)
    share = acc.residents_within(m)
    if acc.missing_functions:
        funcs = function_labels(acc, taxonomy=taxonomy)
        lacking = _join([_lower_label(funcs[f]) for f in acc.missing_functions])
        head = (
            f"None of {who} can reach every everyday function within {m:g} minutes {how}: "
            f"no destination of {lacking} is mapped in the area"
        )
    else:
        head = f"{format_share(share)} of {who} live within {m:g} minutes {how} of every everyday function"
    gaps = _gaps(acc, m, labels)
    if gaps:
        tail = f"the gap is {gaps[0]}" if len(gaps) == 1 else f"the gaps are {_join(gaps)}"
    else:
        tail = f"for every service the median resident is within {m:g} minutes"
    return f"{head}; {tail}."


# ----------------------------------------------------------------------------- provenance


def provenance_table(acc, *, hex_resolution: int | None = None) -> pd.DataFrame:
    """Where the figures come from, for the provenance box of a report.

    Parameters
    ----------
    acc : Accessibility
        The result.
    hex_resolution : int, optional
        H3 resolution of the report's map and hex layer.

    Returns
    -------
    pandas.DataFrame
        Columns ``item`` and ``value`` (text): data source, OSM data date, population source and
        total, mode and thresholds, services, engine, H3 resolution, urbankit version and caveats
        (one row each: missing services, completeness flags, the model's limits).
    """
    from ..io import accessibility_metadata

    meta = accessibility_metadata(acc, hex_resolution=hex_resolution)
    labels = service_labels(acc)
    rows = [
        ("Data source", f"OpenStreetMap (© OpenStreetMap contributors, ODbL): {_source_text(meta)}"),
        ("OSM data date", meta.get("osm_data_date") or "unknown (the file records no timestamp)"),
        ("Residents", format_count(meta.get("population_total"), missing="none given")),
        ("Population source", acc.population_description or acc.population_source),
        (
            "Travel",
            f"{MODE_WORDS.get(meta.get('mode'), meta.get('mode'))}, within "
            + ", ".join(f"{m:g}" for m in acc.minutes)
            + " minutes",
        ),
        ("Services", f"{len(acc.services)} services of {len(acc.function_names)} functions"),
        ("Routing engine", str(meta.get("engine") or "unknown")),
    ]
    if hex_resolution is not None:
        rows.append(("Map cells", f"H3 hexagons of resolution {hex_resolution}"))
    rows.append(("urbankit version", str(meta.get("urbankit_version"))))
    caveats = []
    if acc.missing_services:
        caveats.append(
            "No destination mapped in the area for: " + ", ".join(labels[s] for s in acc.missing_services) + "."
        )
    comp = getattr(acc, "completeness", None)
    if comp is not None and len(comp) and "flag" in comp:
        flagged = int((comp["flag"] != "ok").sum())
        if flagged:
            caveats.append(
                f"{flagged} of {len(comp)} map cells look sparsely mapped (few destinations or buildings): "
                "low scores there may be missing data."
            )
    caveats += list(MODEL_CAVEATS)
    rows += [("Caveat", c) for c in caveats]
    return pd.DataFrame(rows, columns=["item", "value"])


def _source_text(meta: dict) -> str:
    source, file = meta.get("source"), meta.get("source_file")
    if not source:
        return "unknown"
    name = Path(file).name if file else None
    return f"{source} ({name})" if name and name != Path(str(source)).name else str(source)


@dataclass
class ReportHeader:
    """The opening of a report: the summary paragraph and the provenance box (HTML in notebooks)."""

    summary: str
    provenance: pd.DataFrame
    title: str = "Data and method"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left;padding:2px 12px 2px 0;vertical-align:top;white-space:nowrap'>"
            f"{escape(item)}</th><td style='text-align:left;padding:2px 0'>{escape(value)}</td></tr>"
            for item, value in zip(self.provenance["item"], self.provenance["value"])
        )
        return (
            "<div class='urbankit-summary' style='font-size:1.15em;line-height:1.5;margin:0.4em 0 0.8em;"
            "padding:0.6em 0.9em;border-left:5px solid #2b8cbe;background:#f3f8fb'>"
            f"<p style='margin:0'>{escape(self.summary)}</p></div>"
            "<details class='urbankit-provenance' open style='border:1px solid #ccc;border-radius:4px;"
            "padding:0.4em 0.8em;margin-bottom:1em;max-width:100%;overflow-wrap:anywhere'>"
            f"<summary style='font-weight:bold;cursor:pointer'>{escape(self.title)}</summary>"
            f"<table style='border-collapse:collapse;font-size:0.92em;width:100%;table-layout:auto'>{rows}</table>"
            "</details>"
        )

    def __repr__(self) -> str:
        lines = [self.summary, "", self.title + ":"]
        lines += [f"  {i}: {v}" for i, v in zip(self.provenance["item"], self.provenance["value"])]
        return "\n".join(lines)


def report_header(acc, *, minutes: float | None = None, hex_resolution: int | None = None) -> ReportHeader:
    """The summary paragraph (:func:`summary_sentence`) and provenance box (:func:`provenance_table`).

    Parameters
    ----------
    acc : Accessibility
        The result.
    minutes : float, optional
        Threshold of the summary (default the middle one).
    hex_resolution : int, optional
        H3 resolution shown in the provenance box.

    Returns
    -------
    ReportHeader
        Displays as HTML in a notebook.
    """
    return ReportHeader(summary_sentence(acc, minutes=minutes), provenance_table(acc, hex_resolution=hex_resolution))


# ----------------------------------------------------------------------------- tables


@dataclass
class PeopleTable:
    """A table formatted for reading: text cells, human labels, the raw names on hover.

    ``frame`` holds the formatted text; ``raw`` the numbers it came from; ``names`` maps each
    displayed row/column label to the raw name shown on hover (``title``).
    """

    frame: pd.DataFrame
    raw: pd.DataFrame | None = None
    names: dict = field(default_factory=dict)
    caption: str = ""

    def _repr_html_(self) -> str:
        def label(text) -> str:
            raw = self.names.get(text)
            title = f" title='{escape(raw)}'" if raw and raw != text else ""
            return f"<span{title}>{escape(text)}</span>"

        head = "".join(f"<th style='text-align:right'>{label(c)}</th>" for c in self.frame.columns)
        index_name = escape(self.frame.index.name or "")
        body = "".join(
            f"<tr><th style='text-align:left'>{label(idx)}</th>"
            + "".join(f"<td style='text-align:right'>{escape(v)}</td>" for v in row)
            + "</tr>"
            for idx, row in zip(self.frame.index, self.frame.itertuples(index=False))
        )
        cap = f"<caption style='caption-side:bottom;text-align:left;font-size:0.85em'>{escape(self.caption)}</caption>"
        return (
            "<table class='urbankit-table dataframe'>"
            + (cap if self.caption else "")
            + f"<thead><tr><th style='text-align:left'>{index_name}</th>{head}</tr></thead>"
            + f"<tbody>{body}</tbody></table>"
        )

    def __repr__(self) -> str:
        return self.frame.to_string()


def format_table(
    frame: pd.DataFrame,
    *,
    kinds: Mapping[str, str],
    largest: float | None = None,
    labels: Mapping | None = None,
    missing: Mapping[str, str] | None = None,
    caption: str = "",
) -> PeopleTable:
    """Format a numeric table for people: every column by its kind, labels for rows and columns.

    Parameters
    ----------
    frame : pandas.DataFrame
        The numbers.
    kinds : dict of str to str
        Column -> ``"share"`` (percent), ``"minutes"`` (NaN: "beyond <largest> min"), ``"count"``
        (thousands separators), ``"decimal"`` (two decimals), ``"number"`` (one decimal), ``"text"``,
        or a unit such as ``"km"`` (one decimal and the unit). Columns not listed are dropped.
    largest : float, optional
        Largest threshold, for "beyond <largest> min".
    labels : dict, optional
        Row or column name -> displayed label (the raw name stays on hover).
    missing : dict of str to str, optional
        Column -> text for a missing value (default "n/a").
    caption : str, default ""
        Shown under the table.

    Returns
    -------
    PeopleTable
        The formatted table.

    Raises
    ------
    InvalidOptionError
        A column of ``kinds`` is not in ``frame``.
    """
    labels = dict(labels or {})
    missing = dict(missing or {})
    absent = [c for c in kinds if c not in frame.columns]
    if absent:
        raise InvalidOptionError(f"columns {absent} are not in the table; columns: {list(frame.columns)}.")

    def fmt(value, column: str, kind: str) -> str:
        gone = missing.get(column)
        if kind == "text":
            return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
        if kind == "share":
            return format_share(value, missing=gone or "n/a")
        if kind == "minutes":
            return format_minutes(value, largest=largest, missing=gone)
        if kind == "count":
            return format_count(value, missing=gone or "n/a")
        if kind in ("decimal", "number"):
            return format_count(value, missing=gone or "n/a", decimals=2 if kind == "decimal" else 1)
        return format_count(value, unit=kind, missing=gone or "n/a", decimals=1)

    out = pd.DataFrame(
        {labels.get(c, c): [fmt(v, c, k) for v in frame[c]] for c, k in kinds.items()},
        index=pd.Index([labels.get(i, i) for i in frame.index], name=labels.get(frame.index.name, frame.index.name)),
    )
    names = {labels.get(c, c): c for c in list(kinds) + list(frame.index)}
    return PeopleTable(frame=out, raw=frame, names=names, caption=caption)


def people_table(acc, which: str = "summary", *, taxonomy=None) -> PeopleTable:
    """A report table of an accessibility result, formatted for people.

    Parameters
    ----------
    acc : Accessibility
        The result.
    which : {"summary", "inequality", "completeness"}, default "summary"
        :meth:`Accessibility.summary` (share of residents within each threshold, median minutes),
        :meth:`Accessibility.inequality`, or the data completeness per map cell (flagged cells first).
    taxonomy : Taxonomy, str or dict, optional
        Labels from this taxonomy.

    Returns
    -------
    PeopleTable
        Services by their label (raw name on hover), shares in %, minutes with units, no NaN.

    Raises
    ------
    InvalidOptionError
        An unknown ``which``.
    """
    labels = service_labels(acc, taxonomy=taxonomy)
    funcs = function_labels(acc, taxonomy=taxonomy)
    largest = max(acc.minutes)
    missing = set(acc.missing_services)
    if which == "summary":
        s = acc.summary()
        s["function"] = [funcs.get(f, "All functions" if f == "all" else f) for f in s["function"]]
        s.loc[list(missing), "median_min"] = np.nan
        within = [c for c in s.columns if c.startswith("within_")]
        col_labels = {c: f"within {m:g} min" for c, m in zip(within, acc.minutes)}
        col_labels.update(function="Function", median_min="median minutes")
        table = format_table(
            s,
            kinds={"function": "text", **{c: "share" for c in within}, "median_min": "minutes"},
            largest=largest,
            labels={**labels, "all functions": "Every function", **col_labels, "service": "Service"},
            missing={c: NONE_IN_AREA for c in within},
            caption="Share of residents within each threshold of the nearest service; median minutes over residents.",
        )
        _fill_rows(table, s, labels, missing, acc)
        return table
    if which == "inequality":
        q = acc.inequality()
        table = format_table(
            q,
            kinds={"gini": "decimal", "palma": "decimal", "worst_decile_min": "minutes", "beyond_max_share": "share"},
            largest=largest,
            labels={
                **labels,
                "service": "Service",
                "gini": "Gini",
                "palma": "Palma ratio",
                "worst_decile_min": "worst-off 10 %",
                "beyond_max_share": f"beyond {largest:g} min",
            },
            missing={"gini": "-", "palma": "-"},
            caption="Gini and Palma ratio of minutes over residents within reach; minutes of the worst-off tenth.",
        )
        for s in missing:
            table.frame.loc[labels[s]] = [NONE_IN_AREA] * table.frame.shape[1]
        return table
    if which == "completeness":
        comp = acc.completeness
        if comp is None:
            return PeopleTable(frame=pd.DataFrame({"note": ["no completeness check"]}))
        c = pd.DataFrame(comp.drop(columns=comp.geometry.name))
        c = c.sort_values("flag", key=lambda f: f == "ok", kind="stable")
        kinds = {"street_km": "km", "pois": "count", "pois_per_km": "number"}
        kinds.update({k: v for k, v in (("buildings", "count"), ("buildings_per_km", "number")) if k in c})
        kinds["flag"] = "text"
        return format_table(
            c,
            kinds=kinds,
            labels={
                "street_km": "streets",
                "pois": "destinations",
                "pois_per_km": "destinations per km",
                "buildings": "buildings",
                "buildings_per_km": "buildings per km",
                "flag": "check",
                "h3": "H3 cell",
            },
            caption="Per map cell: street length, destinations and buildings (per km of street); "
            "flagged cells are hatched on the map.",
        )
    raise InvalidOptionError(f"which={which!r} must be 'summary', 'inequality' or 'completeness'.")


def _fill_rows(table: PeopleTable, s: pd.DataFrame, labels: dict, missing: set, acc) -> None:
    """Words for the summary's missing cells: services none in area, every function not computable."""
    med_col = "median minutes"
    for svc in missing:
        table.frame.loc[labels[svc], med_col] = NONE_IN_AREA
    if "all functions" in s.index:
        row = "Every function"
        table.frame.loc[row, med_col] = format_minutes(
            float(np.nan_to_num(_all_functions_median(acc), nan=np.nan)), largest=max(acc.minutes)
        )
        if acc.missing_functions:
            for c in table.frame.columns:
                if c.startswith("within "):
                    table.frame.loc[row, c] = "not computable"


def _all_functions_median(acc) -> float:
    from ..accessibility.inequality import weighted_quantile

    nodes, w = acc._populated()
    if not w.sum():
        return float("nan")
    t = acc.all_functions_minutes().reindex(nodes.index).to_numpy(float)
    med = float(weighted_quantile(np.nan_to_num(t, nan=np.inf), w, 0.5)[0])
    return med if math.isfinite(med) else float("nan")


# ----------------------------------------------------------------------------- figures


@dataclass
class FigureHTML:
    """A rendered figure with its alternative text: ``<figure><img alt=...></figure>`` in notebooks."""

    png: bytes
    alt: str
    caption: str = ""

    def _repr_html_(self) -> str:
        import base64

        data = base64.b64encode(self.png).decode("ascii")
        cap = ""
        if self.caption:
            cap = f"<figcaption style='font-size:0.85em;color:#444'>{escape(self.caption)}</figcaption>"
        return (
            "<figure class='urbankit-figure' style='margin:0.4em 0'>"
            f"<img alt='{escape(self.alt)}' src='data:image/png;base64,{data}' style='max-width:100%;height:auto'>"
            f"{cap}</figure>"
        )

    def __repr__(self) -> str:
        return f"<figure: {self.alt}>"


def figure(ax, *, caption: str = "", dpi: int = 110) -> FigureHTML:
    """Show a matplotlib figure in a report with its alternative text (nbconvert's images have none).

    The figure is rendered to PNG and closed (so the notebook does not show it a second time).

    Parameters
    ----------
    ax : matplotlib Axes, array of Axes or Figure
        What an urbankit plot function returned.
    caption : str, default ""
        Shown under the figure.
    dpi : int, default 110
        Resolution of the PNG.

    Returns
    -------
    FigureHTML
        Displays as ``<figure><img alt=...>`` in a notebook; the alt text is
        :func:`urbankit.viz.plots.alt_text` of the figure.
    """
    import io

    import matplotlib.pyplot as plt

    from ..viz.plots import alt_text

    first = np.ravel(np.asarray(ax, dtype=object))[0] if not hasattr(ax, "savefig") else ax
    fig = first if hasattr(first, "savefig") else first.figure
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    alt = alt_text(fig)
    plt.close(fig)
    return FigureHTML(png=buf.getvalue(), alt=alt, caption=caption)


@dataclass
class OutputsNote:
    """What a report wrote, in words (HTML in notebooks)."""

    lines: list[str]

    def _repr_html_(self) -> str:
        return "<ul class='urbankit-outputs'>" + "".join(f"<li>{escape(t)}</li>" for t in self.lines) + "</ul>"

    def __repr__(self) -> str:
        return "\n".join(f"- {t}" for t in self.lines)


def outputs_note(
    gpkg, *, csv: str | None = "summary.csv", csv_note: str = "the table of services within reach, one row per service"
) -> OutputsNote:
    """Describe the files an accessibility report wrote (for its "Data outputs" section).

    Parameters
    ----------
    gpkg : str or pathlib.Path
        The GeoPackage written (e.g. by :meth:`Accessibility.save`).
    csv : str or None, default "summary.csv"
        The table written beside it.
    csv_note : str
        What that table holds.

    Returns
    -------
    OutputsNote
        One line per file: its name, what it holds and its coordinate reference system.
    """
    import pyogrio

    path = Path(gpkg)
    layers = [name for name, _ in pyogrio.list_layers(path) if name != "metadata"]
    crs = pyogrio.read_info(path, layer=layers[0]).get("crs") if layers else None
    import sqlite3

    con = sqlite3.connect(path)
    try:
        styled = bool(con.execute("SELECT name FROM sqlite_master WHERE name = 'layer_styles'").fetchall())
    finally:
        con.close()
    lines = [
        f"{path.name}: GeoPackage with layers {', '.join(layers)} in {crs or 'unknown CRS'} and a metadata table "
        "(sources, OSM data date, parameters"
        + (", column dictionary with units) and QGIS styles." if styled else ")."),
    ]
    if csv:
        lines.append(f"{csv}: {csv_note}.")
    return OutputsNote(lines)


#: unit suffixes of urbankit column names, for :func:`auto_table`
_SUFFIX_UNITS = {"_ha": "ha", "_m2": "m²", "_km": "km", "_m": "m", "_min": "min", "_db": "dB", "_kmh": "km/h"}


def auto_table(frame: pd.DataFrame, *, caption: str = "", index_label: str | None = None) -> PeopleTable:
    """Any table of numbers formatted for people: the unit suffix of each column name in its label
    (``area_ha`` -> "area (ha)"), whole numbers with thousands separators, others with one decimal,
    "n/a" for missing values; text columns as they are; geometry dropped.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    caption : str, default ""
        Shown under the table.
    index_label : str, optional
        Label of the index column.

    Returns
    -------
    PeopleTable
        The formatted table (raw column names on hover).
    """
    frame = pd.DataFrame(frame).drop(columns=["geometry"], errors="ignore")
    kinds, labels = {}, {}
    for c in frame.columns:
        values = frame[c]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            kinds[c] = "text"
        else:
            finite = values.dropna().to_numpy(float)
            whole = len(finite) and np.all(np.mod(finite, 1) == 0)
            kinds[c] = "count" if whole or "residents" in str(c) or "population" in str(c) else "number"
        label = str(c)
        for suffix, unit in _SUFFIX_UNITS.items():
            if label.endswith(suffix):
                label = f"{label[: -len(suffix)]} ({unit})"
                break
        labels[c] = label.replace("_", " ")
    if index_label is not None:
        labels[frame.index.name] = index_label
    return format_table(frame, kinds=kinds, labels=labels, caption=caption)
