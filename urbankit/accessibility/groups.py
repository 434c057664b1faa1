"""Accessibility of groups walking at different speeds, computed on the same nodes."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from .._errors import InvalidOptionError
from .._validate import minutes_label as _label
from .compute import compute_accessibility
from .reach import DEFAULT_MINUTES
from .result import Accessibility


def compare_groups(
    extract,
    destinations: gpd.GeoDataFrame,
    *,
    speeds_kmh: dict[str, float],
    mode: str = "walk",
    minutes=DEFAULT_MINUTES,
    population=None,
    **kwargs,
) -> dict[str, Accessibility]:
    """The same analysis for groups who travel at different speeds.

    Every group's network has the same nodes (only travel times differ), so ``population`` (a
    :class:`~urbankit.PopulationEstimate` or Series on those nodes) applies to all of them.

    Parameters
    ----------
    extract : OSMExtract
        The area (:func:`urbankit.load`); one network per group is built from it.
    destinations : geopandas.GeoDataFrame
        From :func:`urbankit.destinations`.
    speeds_kmh : dict of str to float
        Group -> travel speed in km/h, e.g. ``{"adults": 4.8, "older people": 3.0, "children": 3.0}``.
    mode : {"walk", "bike", "drive"}, default "walk"
        The network's mode.
    minutes : sequence of float, default (10, 15, 30)
        Thresholds in minutes.
    population : PopulationEstimate or pandas.Series, optional
        Residents per node (the same for every group).
    **kwargs
        More options of :func:`accessibility` (``k``, ``services``, ``engine``, ...).

    Returns
    -------
    dict of str to Accessibility
        One result per group; :func:`groups_summary` tabulates them.
    """
    from ..network.build import build_network

    if not speeds_kmh:
        raise InvalidOptionError("speeds_kmh is empty; give e.g. {'adults': 4.8, 'older people': 3.0}.")
    out = {}
    for group, speed in speeds_kmh.items():
        net = build_network(extract, mode, speed_kmh=speed)
        out[group] = compute_accessibility(net, destinations, minutes=minutes, population=population, **kwargs)
    return out


def groups_summary(results: dict[str, Accessibility]) -> pd.DataFrame:
    """Share of residents reaching all functions within each threshold, one row per group.

    Parameters
    ----------
    results : dict of str to Accessibility
        From :func:`compare_groups`: one result per group (e.g. ``"adult"``, ``"elderly"``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``group``; one column ``all_functions_<M>min`` per threshold (share 0..1).
    """
    rows = {}
    for group, acc in results.items():
        rows[group] = {f"all_functions_{_label(m)}min": acc.residents_within(m) for m in acc.minutes}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("group")
