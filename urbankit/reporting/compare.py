"""Areas or scenarios side by side: the comparison report (``notebooks/compare.ipynb``).

Give :func:`compare_areas` several :class:`~urbankit.accessibility.Accessibility` results (e.g.
Monaco and Helsinki, or one city on foot and by bike), keyed by the label to show::

    import urbankit as uk
    from urbankit.reporting.compare import compare_areas, plot_comparison

    results = {s: uk.x_minute_city(s, minutes=[15, 30]) for s in ["monaco", "helsinki"]}
    compare_areas(results, 15)        # one column per area
    plot_comparison(results, 15)      # share of residents per function, one bar per area

or let :func:`x_minute_cities` run them, with a population grid for some areas (keyed by the
source, as a name or as a path to the same file: ``"data/x.osm.pbf"`` and its absolute path match)::

    results = x_minute_cities(["monaco", "helsinki"], minutes=[15, 30],
                              populations={"helsinki": uk.datasets.get_path("helsinki_population")})

All shares are over residents (populated street nodes, as :meth:`Accessibility.summary`); a
function is reached within ``minutes`` when at least one of its services is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import InvalidOptionError

__all__ = [
    "compare_areas",
    "compare_header",
    "formatted",
    "function_minutes",
    "match_populations",
    "plot_all_functions",
    "plot_comparison",
    "save_comparison",
    "x_minute_cities",
]

_ALL = "all functions"


def _check(results: dict, minutes) -> float:
    if not isinstance(results, dict) or not results:
        raise InvalidOptionError(
            "results must be a non-empty dict of label -> Accessibility (from urbankit.x_minute_city)."
        )
    bad = [k for k, v in results.items() if not hasattr(v, "nodes") or not hasattr(v, "minutes")]
    if bad:
        raise InvalidOptionError(f"results {bad} are not Accessibility results (from urbankit.x_minute_city).")
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not np.isfinite(minutes) or minutes <= 0:
        raise InvalidOptionError(f"minutes={minutes!r} must be a positive number of minutes.")
    short = [k for k, acc in results.items() if minutes > max(acc.minutes)]
    if short:
        raise InvalidOptionError(
            f"minutes={minutes:g} is beyond the largest threshold of {short}; "
            f"compute them with a threshold >= {minutes:g}."
        )
    return float(minutes)


def match_populations(sources, populations) -> dict:
    """The population input of each source: ``populations`` keys matched to ``sources``.

    A key matches a source when both are the same text, or both name the same file (an embedded
    data set's name, or paths that resolve to one file: relative or absolute, through ``..`` or a
    symbolic link). A key that matches no source is an error, never silently ignored (the area
    would fall back to building-based residents).

    Parameters
    ----------
    sources : list of str or Path
        The areas, as given to :func:`urbankit.x_minute_city`.
    populations : dict or None
        Source -> population grid or polygons (a path or a GeoDataFrame).

    Returns
    -------
    dict
        Source (as given) -> its population input (sources without one are left out).

    Raises
    ------
    InvalidOptionError
        ``populations`` is not a dict, or a key matches no source, or several keys match one source.
    """
    from ..io import _input_path, _same_file

    if isinstance(sources, (str, Path)) or not hasattr(sources, "__iter__"):
        raise InvalidOptionError(f"sources={sources!r} must be a list of areas, e.g. ['monaco', 'helsinki'].")
    sources = list(sources)
    if populations is None:
        return {}
    if not isinstance(populations, dict):
        raise InvalidOptionError(
            f"populations must be a dict of source -> population file, e.g. {{'helsinki': 'grid.gpkg'}}, "
            f"not {type(populations).__name__}."
        )
    files = {i: _input_path(s) for i, s in enumerate(sources)}
    out, unmatched, taken = {}, [], {}
    for key, value in populations.items():
        key_file = _input_path(key) if isinstance(key, (str, Path)) else None
        hits = [
            i
            for i, s in enumerate(sources)
            if (isinstance(key, (str, Path)) and str(key) == str(s))
            or (key_file is not None and files[i] is not None and _same_file(key_file, files[i]))
        ]
        if not hits:
            unmatched.append(key)
        for i in hits:
            if i in taken and taken[i] != key:
                raise InvalidOptionError(
                    f"populations keys {taken[i]!r} and {key!r} both name the source {sources[i]!r}; give one."
                )
            taken[i] = key
            out[sources[i]] = value
    if unmatched:
        raise InvalidOptionError(
            f"populations keys {unmatched!r} match none of the sources {sources!r}: their residents would be "
            "ignored (buildings estimated instead). Key each population by its source, as written in sources "
            "or as a path to the same file."
        )
    return out


def x_minute_cities(sources, *, populations=None, **kwargs) -> dict:
    """:func:`urbankit.x_minute_city` of every source, with its population from ``populations``
    (matched by :func:`match_populations`: a key that matches no source is an error).

    Parameters
    ----------
    sources : list of str or Path
        Areas (embedded data set names, OSM/GraphML files or place names), in the order to show.
    populations : dict, optional
        Source -> population grid or polygons.
    **kwargs
        Options of :func:`urbankit.x_minute_city` (``mode``, ``minutes``, ``taxonomy``...).

    Returns
    -------
    dict of str to Accessibility
        Keyed by the sources as given.
    """
    from ..accessibility import x_minute_city

    matched = match_populations(sources, populations)
    if "population" in kwargs or "population_source" in kwargs:
        raise InvalidOptionError("give populations={source: file}, not population_source=, to x_minute_cities.")
    return {source: x_minute_city(source, population_source=matched.get(source), **kwargs) for source in sources}


def function_minutes(acc) -> pd.DataFrame:
    """Per node: minutes to the nearest service of each function (NaN: beyond the largest
    threshold), and ``all functions``: minutes until every function is reached."""
    data = {}
    for function in acc.function_names:
        cols = [f"time_{s}_min" for s, f in acc.functions.items() if f == function and f"time_{s}_min" in acc.nodes]
        data[function] = acc.nodes[cols].min(axis=1, skipna=True) if cols else np.nan
    out = pd.DataFrame(data, index=acc.nodes.index)
    out[_ALL] = out.max(axis=1, skipna=False)
    return out


def _weighted_median(t: np.ndarray, w: np.ndarray) -> float:
    from ..accessibility import weighted_quantile

    if w.sum() <= 0:
        return float("nan")
    med = weighted_quantile(np.nan_to_num(t, nan=np.inf), w, 0.5)[0]
    return float(med) if np.isfinite(med) else float("nan")


def compare_areas(results: dict, minutes: float) -> pd.DataFrame:
    """One column per area (or scenario): residents, network and destinations, and for each social
    function and for all of them the share of residents within ``minutes`` and the median minutes.

    Parameters
    ----------
    results : dict of str to Accessibility
        Label -> result, in the order to show.
    minutes : float
        Threshold; at most the largest threshold of every result.

    Returns
    -------
    pandas.DataFrame
        Rows ``mode``, ``residents``, ``population source``, ``street nodes``, ``destinations``,
        ``functions without destinations``, then ``<function> within <m> min`` (share) and
        ``<function> median min`` per function and for ``all functions``. A function without any
        destination in an area is NaN there (not computable, not 0 %), and so is ``all functions``.
    """
    from ..accessibility import within

    m = _check(results, minutes)
    functions = sorted({f for acc in results.values() for f in acc.function_names})
    columns = {}
    for label, acc in results.items():
        pop = acc.nodes["population"].to_numpy(float)
        w = np.where(pop > 0, pop, 0.0)
        fm = function_minutes(acc)
        col: dict[str, object] = {
            "mode": acc.network.mode,
            "residents": round(float(pop.sum())),
            "population source": acc.population_source,
            "street nodes": len(acc.nodes),
            "destinations": len(acc.pois),
        }
        missing = set(acc.missing_functions) | {f for f in functions if f not in acc.function_names}
        col["functions without destinations"] = ", ".join(sorted(missing))
        for f in functions + [_ALL]:
            t = fm[f].to_numpy(float) if f in fm else np.full(len(fm), np.nan)
            if f in missing or (f == _ALL and missing):
                col[f"{f} within {m:g} min"] = col[f"{f} median min"] = float("nan")
                continue
            col[f"{f} within {m:g} min"] = float((w * within(t, m)).sum() / w.sum()) if w.sum() else float("nan")
            col[f"{f} median min"] = round(_weighted_median(t, w), 3)
        columns[str(label)] = col
    table = pd.DataFrame(columns)
    table.index.name = "measure"
    return table


def plot_comparison(results: dict, minutes: float, ax=None):
    """Grouped bars: share of residents within ``minutes`` of each function and of all of them,
    one bar per area. Returns the Axes."""
    import matplotlib.pyplot as plt

    m = _check(results, minutes)
    table = compare_areas(results, m)
    rows = [r for r in table.index if r.endswith(f" within {m:g} min")]
    labels = [r[: -len(f" within {m:g} min")] for r in rows]
    if ax is None:
        _, ax = plt.subplots(figsize=(8.5, 0.45 * len(rows) * max(2, len(results)) + 1.2), layout="constrained")
    n = len(table.columns)
    height = 0.8 / n
    y = np.arange(len(rows))
    colours = plt.get_cmap("tab10").colors
    for i, area in enumerate(table.columns):
        values = table.loc[rows, area].astype(float).to_numpy()
        bars = ax.barh(y + (i - (n - 1) / 2) * height, values, height=height * 0.92, label=area, color=colours[i % 10])
        ax.bar_label(bars, labels=[f"{v:.0%}" if np.isfinite(v) else "" for v in values], padding=2, fontsize=8)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_xlabel(
        f"share of residents within {m:g} min ({', '.join(sorted({acc.network.mode for acc in results.values()}))})"
    )
    ax.set_title(f"Residents within {m:g} minutes of each function")
    from ..viz.plots import set_alt_text

    set_alt_text(
        ax,
        f"Horizontal bars: share of residents within {m:g} minutes of each function, one bar per area. "
        + "; ".join(
            f"{area}: "
            + ", ".join(
                f"{lab} {'n/a' if not np.isfinite(v) else f'{100 * v:.0f} %'}"
                for lab, v in zip(labels, table.loc[rows, area].astype(float).to_numpy())
            )
            for area in table.columns
        )
        + ".",
    )
    ax.legend(loc="lower right", fontsize=8, frameon=True)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    return ax


def plot_all_functions(results: dict, ax=None, *, minutes: float | None = None):
    """Cumulative share of residents reaching every function within t minutes, one line per area,
    up to the largest threshold common to all results (a dashed line at ``minutes``). Returns the Axes."""
    import matplotlib.pyplot as plt

    from ..viz.plots import cumulative_share

    _check(results, minutes if minutes is not None else min(min(acc.minutes) for acc in results.values()))
    largest = min(max(acc.minutes) for acc in results.values())
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
    colours = plt.get_cmap("tab10").colors
    for i, (area, acc) in enumerate(results.items()):
        pop = acc.nodes["population"].to_numpy(float)
        w = np.where(pop > 0, pop, 0.0)
        t = function_minutes(acc)[_ALL].to_numpy(float)
        x, y = cumulative_share(t, w, largest)
        ax.plot(x, y, drawstyle="steps-post", lw=2, color=colours[i % 10], label=str(area))
    if minutes is not None:
        ax.axvline(minutes, color="#777777", lw=0.9, ls="--")
    ax.set_xlim(0, largest)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    modes = sorted({acc.network.mode for acc in results.values()})
    ax.set_xlabel(f"minutes ({', '.join(modes)})")
    ax.set_ylabel("share of residents")
    ax.set_title("Residents reaching every function within t minutes")
    from ..viz.plots import set_alt_text

    set_alt_text(
        ax,
        f"Step curves, one per area ({', '.join(map(str, results))}): share of residents reaching every function "
        f"within 0 to {largest:g} minutes.",
    )
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(color="#eeeeee", lw=0.6)
    return ax


def save_comparison(table: pd.DataFrame, folder: str | Path = ".") -> Path:
    """Write ``comparison.csv`` (the table of :func:`compare_areas`) in ``folder``; returns its path.

    Written to a temporary name and renamed, so a failure leaves no half-written file.
    """
    import os

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "comparison.csv"
    tmp = folder / ".comparison.csv.tmp"
    table.to_csv(tmp)
    os.replace(tmp, out)
    return out


def formatted(table: pd.DataFrame, *, largest: float | None = None) -> pd.DataFrame:
    """The table of :func:`compare_areas` as text for reading: shares in percent ("86 %"), minutes
    with their unit ("12.3 min", "beyond <largest> min" when beyond the largest threshold), counts
    with thousands separators; "n/a" for a function without any destination in the area (and for
    all functions there).

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`compare_areas`.
    largest : float, optional
        The largest threshold computed, for "beyond <largest> min" (else "beyond reach").

    Returns
    -------
    pandas.DataFrame
        The same rows and columns, as text.
    """
    from .text import format_count, format_minutes, format_share

    absent = "functions without destinations"

    def not_computable(row: str, column) -> bool:
        missing = table.at[absent, column] if absent in table.index else ""
        if not isinstance(missing, str) or not missing:
            return False
        names = {f.strip() for f in missing.split(",")} | {_ALL}
        return any(row.startswith(f"{f} within ") or row == f"{f} median min" for f in names)

    def fmt(row: str, column) -> str:
        v = table.at[row, column]
        if isinstance(v, str):
            return v or ("none" if row == absent else v)
        if not_computable(row, column):
            return "n/a"
        if " within " in row:
            return format_share(v)
        if row.endswith("median min"):
            return format_minutes(v, largest=largest, missing=None if largest is not None else "beyond reach")
        return format_count(v)

    return pd.DataFrame({c: [fmt(r, c) for r in table.index] for c in table.columns}, index=table.index)


def compare_header(results: dict, minutes: float):
    """The opening of the comparison report: one sentence with the headline figure of each area, and
    the provenance of each (source, OSM data date, residents and their source), parameters and caveats.

    Parameters
    ----------
    results : dict of str to Accessibility
        Label -> result (as :func:`compare_areas`).
    minutes : float
        The threshold compared.

    Returns
    -------
    urbankit.reporting.text.ReportHeader
        Displays as HTML in a notebook.

    Raises
    ------
    InvalidOptionError
        As :func:`compare_areas`.
    """
    from .text import (
        MODE_WORDS,
        MODEL_CAVEATS,
        ReportHeader,
        format_count,
        format_share,
        name_from_source,
        provenance_table,
        round_residents,
    )

    m = _check(results, minutes)
    parts = []
    for label, acc in results.items():
        total = float(np.nansum(acc.nodes["population"].to_numpy(float)))
        share = acc.residents_within(m) if m in acc.minutes else _share_within(acc, m)
        head = format_share(share, missing="not computable")
        parts.append(f"{head} in {name_from_source(label)} ({round_residents(total):,} residents)")
    modes = sorted({MODE_WORDS.get(acc.network.mode, acc.network.mode) for acc in results.values()})
    sentence = (
        f"Share of residents who reach every everyday function within {m:g} minutes {' / '.join(modes)}: "
        + "; ".join(parts)
        + "."
    )
    rows = []
    for label, acc in results.items():
        prov = dict(zip(*provenance_table(acc).T.to_numpy()))
        name = name_from_source(label)
        rows.append((f"{name}: data source", f"{prov['Data source']}; OSM data date {prov['OSM data date']}"))
        rows.append(
            (f"{name}: residents", f"{format_count(acc.nodes['population'].sum())} ({prov['Population source']})")
        )
    first = next(iter(results.values()))
    rows.append(("Threshold compared", f"{m:g} minutes"))
    rows.append(("urbankit version", str(dict(zip(*provenance_table(first).T.to_numpy()))["urbankit version"])))
    rows += [("Caveat", c) for c in MODEL_CAVEATS]
    return ReportHeader(sentence, pd.DataFrame(rows, columns=["item", "value"]))


def _share_within(acc, minutes: float) -> float:
    """Residents reaching every function within ``minutes`` (any value up to the largest threshold)."""
    if acc.missing_functions:
        return float("nan")
    pop = acc.nodes["population"].to_numpy(float)
    t = function_minutes(acc)[_ALL].to_numpy(float)
    return float((pop * (np.nan_to_num(t, nan=np.inf) <= minutes)).sum() / pop.sum()) if pop.sum() else float("nan")
