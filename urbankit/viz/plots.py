"""Static charts of accessibility results (matplotlib).

Every function draws on ``ax`` when given (else on a new figure) and returns the Axes; none calls
``plt.show()``. Figures are weighted by residents when the accessibility has a population, else by
street nodes (the axis labels say which).
"""

from __future__ import annotations

import numpy as np

from .._errors import InvalidOptionError
from .maps import FUNCTION_COLOURS

__all__ = [
    "alt_text",
    "plot_detours",
    "plot_minutes_histogram",
    "plot_resident_share",
    "plot_resident_share_by_function",
    "plot_scores",
    "set_alt_text",
]

_ALL = "all functions"


def _axes(ax, figsize=(7.5, 4.5)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


#: the travel modes in words, for axis labels and alt text
_MODE_WORDS = {"walk": "on foot", "bike": "by bike", "drive": "by car", "transit": "by public transport"}


def set_alt_text(ax, text: str):
    """Attach alternative text (what the figure shows, for screen readers) to a figure's axes.

    Reports show figures with it (``<img alt=...>``); read it back with :func:`alt_text`.

    Parameters
    ----------
    ax : matplotlib Axes or Figure
        The figure (any of its axes).
    text : str
        The description.

    Returns
    -------
    matplotlib Axes or Figure
        ``ax``.
    """
    fig = ax if hasattr(ax, "savefig") else ax.figure
    fig._urbankit_alt = str(text)
    return ax


def alt_text(ax) -> str:
    """The alternative text of a figure: the one set by :func:`set_alt_text` (every urbankit plot sets
    one), else its title and axis labels.

    Parameters
    ----------
    ax : matplotlib Axes or Figure
        The figure (any of its axes).

    Returns
    -------
    str
        The description.
    """
    fig = ax if hasattr(ax, "savefig") else ax.figure
    given = getattr(fig, "_urbankit_alt", None)
    if given:
        return given
    parts = []
    sup = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    if sup:
        parts.append(sup)
    for a in fig.axes:
        bits = [a.get_title(), a.get_xlabel() and f"x: {a.get_xlabel()}", a.get_ylabel() and f"y: {a.get_ylabel()}"]
        parts.append(", ".join(b for b in bits if b))
    return "; ".join(p for p in parts if p) or "figure"


def _weights(acc) -> tuple[np.ndarray, str]:
    """Residents per node, or 1 per node when the result has no population."""
    pop = acc.nodes["population"].to_numpy(float)
    if np.nansum(pop) > 0:
        return pop, "residents"
    return np.ones(len(pop)), "street nodes"


def cumulative_share(minutes: np.ndarray, weights: np.ndarray, largest: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact step curve of the weighted share within t minutes, for t from 0 to ``largest``.

    Returns x (0, every distinct time, ``largest``) and the share at each x (NaN minutes: never
    reached). Draw it with ``drawstyle="steps-post"``.

    >>> x, y = cumulative_share(np.array([2.0, 1.0, np.nan, 1.0]), np.ones(4), 10)
    >>> x.tolist(), y.tolist()
    ([0.0, 1.0, 2.0, 10.0], [0.0, 0.5, 0.75, 0.75])
    >>> cumulative_share(np.array([np.nan]), np.ones(1), 10)[1].tolist()
    [0.0, 0.0]
    """
    t = np.asarray(minutes, dtype=float)
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    fin = np.isfinite(t) & (t <= largest)
    xs = np.unique(np.r_[0.0, t[fin], float(largest)])
    order = np.argsort(t[fin])
    cum = np.r_[0.0, np.cumsum(w[fin][order])]  # cum[i]: weight of the i smallest times
    idx = np.searchsorted(t[fin][order], xs, side="right")
    share = cum[idx] / total if total > 0 else np.full(len(xs), np.nan)
    return xs, share


def _threshold_lines(ax, minutes, *, label_y: float | None = 1.0) -> None:
    for m in minutes:
        ax.axvline(m, color="#777777", lw=0.9, ls="--", zorder=1)
        if label_y is not None:
            ax.annotate(
                f"{m:g} min",
                (m, label_y),
                xycoords=("data", "axes fraction"),
                xytext=(2, -2),
                textcoords="offset points",
                ha="left",
                va="top",
                fontsize=8,
                color="#555555",
            )


def plot_resident_share(acc, services=None, ax=None):
    """Cumulative share of residents reaching each service within t minutes, and all functions.

    Parameters
    ----------
    acc : Accessibility
    services : list of str, optional
        Services to draw (default: all), coloured by their function; ``all functions`` (minutes
        until every function is reached) is drawn in bold black.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import PercentFormatter

    services = list(acc.services) if services is None else list(services)
    unknown = [s for s in services if s not in acc.services]
    if unknown:
        raise InvalidOptionError(f"services {unknown} are not in this result; choose from {list(acc.services)}.")
    ax = _axes(ax)
    w, unit = _weights(acc)
    largest = max(acc.minutes)
    per_service = len(services) <= 8
    for s in services:
        x, y = cumulative_share(acc.nodes[f"time_{s}_min"].to_numpy(), w, largest)
        colour = FUNCTION_COLOURS.get(acc.functions[s], "#777777")
        ax.plot(
            x,
            y,
            drawstyle="steps-post",
            color=colour,
            lw=1.4 if per_service else 1.0,
            alpha=0.85,
            label=s.replace("_", " ") if per_service else None,
        )
    x, y = cumulative_share(acc.all_functions_minutes().to_numpy(), w, largest)
    ax.plot(x, y, drawstyle="steps-post", color="black", lw=2.8, label=_ALL, zorder=5)
    _threshold_lines(ax, acc.minutes, label_y=None)
    ax.set_xlim(0, largest)
    ax.set_ylim(0, 1.02)
    ax.set_xticks(sorted({0, *acc.minutes}))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(f"minutes ({acc.network.mode})")
    ax.set_ylabel(f"share of {unit} within")
    ax.grid(axis="y", lw=0.4, alpha=0.6)
    if per_service:
        ax.legend(fontsize=8, loc="lower right")
    else:
        functions = sorted({acc.functions[s] for s in services})
        handles = [Line2D([], [], color=FUNCTION_COLOURS.get(f, "#777777"), lw=1.4, label=f) for f in functions]
        handles.append(Line2D([], [], color="black", lw=2.8, label=_ALL))
        ax.legend(handles=handles, fontsize=8, loc="lower right", title="services by function", title_fontsize=8)
    ax.set_title(f"Share of {unit} reaching each service")
    set_alt_text(ax, _share_alt(acc, services, w, unit))
    return ax


def _share_alt(acc, services, w, unit: str) -> str:
    """Alt text of the resident-share plots: what is drawn and the share at the middle threshold."""
    ordered = sorted(acc.minutes)
    middle = ordered[(len(ordered) - 1) // 2]
    how = _MODE_WORDS.get(acc.network.mode, acc.network.mode)
    total = w.sum()

    def share(t) -> str:
        if not total:
            return "n/a"
        return f"{100 * float((w * (np.nan_to_num(t, nan=np.inf) <= middle)).sum() / total):.0f} %"

    each = ", ".join(f"{s.replace('_', ' ')} {share(acc.nodes[f'time_{s}_min'].to_numpy(float))}" for s in services)
    every = share(acc.all_functions_minutes().to_numpy(float))
    return (
        f"Step curves of the share of {unit} reaching each service within 0 to {max(acc.minutes):g} minutes {how}. "
        f"Within {middle:g} minutes: all functions {every}; {each}."
    )


def plot_resident_share_by_function(acc, *, services=None, ncols: int = 3, labels: dict | None = None):
    """Small multiples: one panel per function, each line labelled with its service.

    The cumulative share of residents reaching each service within t minutes (as
    :func:`plot_resident_share`), one panel per function so every line can be named; the bold
    black line (every function) repeats in each panel for reference.

    Parameters
    ----------
    acc : Accessibility
        The result.
    services : list of str, optional
        Services to draw (default all).
    ncols : int, default 3
        Panels per row.
    labels : dict of str to str, optional
        Service -> label shown (default the taxonomy's labels, :func:`urbankit.viz.labels.service_labels`).

    Returns
    -------
    numpy.ndarray of matplotlib Axes
        One per function (in function order), flattened; unused panels are removed.

    Raises
    ------
    InvalidOptionError
        A service that is not in the result.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    from .labels import function_labels, service_labels

    services = list(acc.services) if services is None else list(services)
    unknown = [s for s in services if s not in acc.services]
    if unknown:
        raise InvalidOptionError(f"services {unknown} are not in this result; choose from {list(acc.services)}.")
    labels = {**service_labels(acc), **(labels or {})}
    flabels = function_labels(acc)
    functions = [f for f in acc.function_names if any(acc.functions[s] == f for s in services)]
    nrows = max(1, -(-len(functions) // ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows), sharex=True, sharey=True, layout="constrained", squeeze=False
    )
    axes = axes.ravel()
    w, unit = _weights(acc)
    largest = max(acc.minutes)
    every_x, every_y = cumulative_share(acc.all_functions_minutes().to_numpy(), w, largest)
    palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9"]
    how = _MODE_WORDS.get(acc.network.mode, acc.network.mode)
    for ax, f in zip(axes, functions):
        mine = [s for s in services if acc.functions[s] == f]
        for i, s in enumerate(mine):
            x, y = cumulative_share(acc.nodes[f"time_{s}_min"].to_numpy(), w, largest)
            ax.plot(x, y, drawstyle="steps-post", color=palette[i % len(palette)], lw=1.6, label=labels[s])
        ax.plot(every_x, every_y, drawstyle="steps-post", color="black", lw=2.2, label="every function", zorder=5)
        _threshold_lines(ax, acc.minutes, label_y=None)
        ax.set_title(flabels.get(f, f), fontsize=10)
        ax.set_xlim(0, largest)
        ax.set_ylim(0, 1.02)
        ax.set_xticks(sorted({0, *acc.minutes}))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(axis="y", lw=0.4, alpha=0.6)
        ax.legend(fontsize=7, loc="lower right", handlelength=1.2, framealpha=0.85)
    for ax in axes[len(functions) :]:
        ax.remove()
    axes = axes[: len(functions)]
    fig.supxlabel(f"minutes {how}")
    fig.supylabel(f"share of {unit} within")
    fig.suptitle(f"Share of {unit} reaching each service, by function")
    set_alt_text(fig, _share_alt(acc, services, w, unit))
    return axes


def plot_minutes_histogram(acc, service: str, ax=None, *, bin_min: float = 1.0):
    """Histogram of minutes to the nearest ``service``, weighted by residents.

    Those beyond the largest threshold (no minutes computed) are drawn as a grey bar to its
    right; dashed lines mark the thresholds, a solid line the median.

    Parameters
    ----------
    acc : Accessibility
    service : str
        A service of ``acc.services``, or ``"all functions"``.
    ax : matplotlib Axes, optional
    bin_min : float, default 1
        Bin width in minutes.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from ..accessibility import weighted_quantile

    if service == _ALL:
        t = acc.all_functions_minutes().to_numpy()
        colour = "#333333"
    elif service in acc.services:
        t = acc.nodes[f"time_{service}_min"].to_numpy(float)
        colour = FUNCTION_COLOURS.get(acc.functions[service], "#777777")
    else:
        raise InvalidOptionError(
            f"service={service!r} is not in this result; choose from {list(acc.services) + [_ALL]}."
        )
    if isinstance(bin_min, bool) or not isinstance(bin_min, (int, float)) or not bin_min > 0:
        raise InvalidOptionError(f"bin_min={bin_min!r} must be a positive number of minutes.")
    ax = _axes(ax)
    w, unit = _weights(acc)
    largest = float(max(acc.minutes))
    fin = np.isfinite(t)
    bins = np.arange(0.0, largest + bin_min, bin_min)
    bins[-1] = max(bins[-1], largest)
    ax.hist(t[fin], bins=bins, weights=w[fin], color=colour, alpha=0.85, edgecolor="white", linewidth=0.4)
    beyond = float(w[~fin].sum())
    if beyond > 0:
        ax.bar(largest + 1.5 * bin_min, beyond, width=2 * bin_min, color="#9e9e9e", label=f"beyond {largest:g} min")
        ax.legend(fontsize=8, loc="upper right", bbox_to_anchor=(1.0, 0.9))
    _threshold_lines(ax, acc.minutes)
    if fin.any() and w[fin].sum() > w.sum() / 2:
        med = float(weighted_quantile(t[fin], w[fin], 0.5)[0])
        ax.axvline(med, color="black", lw=1.2)
        ax.annotate(
            f"median {med:.1f} min",
            (med, 0.92),
            xycoords=("data", "axes fraction"),
            xytext=(3, 0),
            textcoords="offset points",
            fontsize=8,
        )
    ax.set_xlim(0, largest + (3 * bin_min if beyond > 0 else 0))
    ax.set_xlabel(f"minutes to the nearest {service.replace('_', ' ')} ({acc.network.mode})")
    ax.set_ylabel(unit)
    ax.set_title(f"Minutes to the nearest {service.replace('_', ' ')}")
    beyond_share = f"{100 * beyond / w.sum():.0f} %" if w.sum() else "n/a"
    set_alt_text(
        ax,
        f"Histogram of {unit} by minutes to the nearest {service.replace('_', ' ')} ({acc.network.mode}), "
        f"in {bin_min:g}-minute bins up to {largest:g} minutes; {beyond_share} beyond {largest:g} minutes.",
    )
    return ax


def plot_scores(acc, ax=None):
    """Bar chart: share of residents reaching every function within each threshold.

    Parameters
    ----------
    acc : Accessibility
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import PercentFormatter

    ax = _axes(ax, figsize=(5.5, 4))
    w, unit = _weights(acc)
    n_functions = len(acc.function_names)
    shares = []
    for m in acc.minutes:
        ok = acc.nodes[f"functions_{f'{m:g}'.replace('.', '_')}min"].to_numpy() == n_functions
        shares.append(float((w * ok).sum() / w.sum()) if w.sum() else np.nan)
    labels = [f"{m:g} min" for m in acc.minutes]
    bars = ax.bar(labels, shares, color="#2b8cbe", width=0.6)
    for bar, s in zip(bars, shares):
        ax.annotate(
            f"{s:.0%}",
            (bar.get_x() + bar.get_width() / 2, s),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=9,
        )
    ax.set_ylim(0, 1.08)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel(f"share of {unit}")
    ax.set_xlabel(f"threshold (minutes {_MODE_WORDS.get(acc.network.mode, acc.network.mode)})")
    ax.set_title(f"{unit.capitalize()} reaching all {n_functions} functions")
    ax.grid(axis="y", lw=0.4, alpha=0.6)
    how = _MODE_WORDS.get(acc.network.mode, acc.network.mode)
    set_alt_text(
        ax,
        f"Bar chart: share of {unit} reaching all {n_functions} functions {how} within "
        + ", ".join(
            f"{m:g} minutes: {'n/a' if not np.isfinite(v) else f'{100 * v:.0f} %'}" for m, v in zip(acc.minutes, shares)
        )
        + ".",
    )
    return ax


def plot_detours(scenario, ax=None, *, by: str = "time", max_ratio: float = 3.0):
    """Distribution of the detours of car trips affected by a superblock scenario.

    Histogram of the ratio after / before (``by="time"`` or ``"distance"``) of the affected, still
    routable trips, weighted by trips per day; ratios above ``max_ratio`` are gathered in the last
    bin. The trip-weighted median is marked. Returns the Axes.
    """
    col = {"time": "detour_time", "distance": "detour_distance"}.get(by)
    if col is None:
        raise InvalidOptionError(f"by={by!r} must be 'time' or 'distance'.")
    od = scenario.od
    aff = od["affected"].to_numpy(bool) & ~od["unroutable_after"].to_numpy(bool)
    r = od[col].to_numpy(float)[aff]
    w = od["trips"].to_numpy(float)[aff]
    ok = np.isfinite(r) & (w > 0)
    r, w = r[ok], w[ok]
    ax = _axes(ax)
    if len(r) == 0:
        ax.text(0.5, 0.5, "no trip is affected", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    bins = np.linspace(1.0, max_ratio, 41)
    ax.hist(np.clip(r, 1.0, max_ratio - 1e-9), bins=bins, weights=w, color="#6a3d9a", alpha=0.85)
    order = np.argsort(r)
    cum = np.cumsum(w[order])
    med = float(r[order][np.searchsorted(cum, 0.5 * cum[-1])])
    ax.axvline(med, color="black", lw=1, ls="--")
    ax.text(med, ax.get_ylim()[1] * 0.95, f" median {med:.2f}", va="top", fontsize=9)
    ax.set_xlabel(f"detour ({by} after / before; >= {max_ratio:g} in the last bin)")
    ax.set_ylabel("affected car trips per day")
    ax.set_title(f"Detours of {w.sum():,.0f} affected car trips/day")
    set_alt_text(
        ax,
        f"Histogram of the detour ratio ({by} after / before) of {w.sum():,.0f} affected car trips per day; "
        f"median {med:.2f}.",
    )
    return ax
