"""Opportunities within reach: pandana-style aggregation of any per-node or per-point variable.

:func:`aggregate` sums (or averages, counts, ...) a variable such as jobs or floor area over
everything within ``minutes`` of each street node, optionally decayed with distance, with pandana's
aggregation semantics (see :mod:`urbankit.engines` for its formulas) on either engine.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from ._errors import InvalidOptionError
from .accessibility import _label, reach_table, snap_destinations, validate_minutes, within
from .engines import AGGREGATIONS, DECAYS, aggregate_pandana, check_engine
from .networks import StreetNetwork

logger = logging.getLogger(__name__)


def aggregate(
    network: StreetNetwork,
    values,
    *,
    minutes,
    agg: str = "sum",
    decay: str = "flat",
    column: str | None = None,
    engine: str | None = None,
):
    """Aggregate a variable over everything within ``minutes`` of every node (pandana's ``aggregate``).

    Travel times are those of the accessibility figures: network minutes from the node to the
    item's node, plus, for points, the straight line from the point to its nearest node walked at
    ``settings.walk_speed_kmh`` (:func:`urbankit.accessibility.snap_destinations`). An item counts
    when its minutes are at most ``minutes``.

    With ``d`` those minutes and ``r = minutes``: ``decay="flat"`` weighs every item 1,
    ``"linear"`` ``1 - d / r``, ``"exp"`` ``exp(-d / r)`` (pandana's decays). ``agg="sum"`` adds
    ``weight * value``; ``"mean"`` divides that sum by the number of items (with a decay: the mean of
    the decayed values, as pandana); ``"count"`` counts items (values ignored); ``"min"``, ``"max"``
    and ``"std"`` (population standard deviation) take the plain values and no decay.

    Parameters
    ----------
    network : StreetNetwork
    values : pandas.Series or geopandas.GeoDataFrame
        Per node: a Series indexed by ``node_id`` of ``network`` (each entry an item at its node).
        Per point: a GeoDataFrame of points with a CRS, the variable in ``column`` (not needed for
        ``agg="count"``).
    minutes : float or sequence of float
        Threshold(s) in minutes.
    agg : {"sum", "mean", "min", "max", "std", "count"}, default "sum"
    decay : {"flat", "linear", "exp"}, default "flat"
        Only with ``agg="sum"`` or ``"mean"``.
    column : str, optional
        The variable's column when ``values`` is a GeoDataFrame.
    engine : {"scipy", "pandana"}, optional
        ``"pandana"`` runs pandana's ``set``/``aggregate``; ``"scipy"`` the same formulas over
        scipy's exact Dijkstra. pandana passes values through single precision (``float``), so its
        sums of values that are not exact in single precision differ in about the 7th digit.
        Default :data:`urbankit.engines.DEFAULT_ENGINE`.

    Returns
    -------
    pandas.Series or pandas.DataFrame
        Indexed like ``network.nodes``; named ``<agg>_<minutes>min`` (a DataFrame with one such
        column per threshold when ``minutes`` is a sequence). Where no item is within reach:
        ``count`` and ``sum`` are 0, the others NaN.

    Raises
    ------
    InvalidOptionError
        Unknown ``agg``, ``decay`` or ``engine``, a decay with an aggregation that takes none,
        bad thresholds, values that are not finite numbers, node ids not in ``network`` or a
        missing ``column``.

    Examples
    --------
    >>> import pandas as pd
    >>> import urbankit as uk
    >>> from urbankit.mock import grid_extract

    100 jobs at a corner of a grid of 4 x 1 blocks (10 nodes) are within two and a half blocks of
    five nodes: the corner, the next two along the long side, and the two across:

    >>> net = uk.build_network(grid_extract(4, 1), "walk", cache=False)
    >>> corner = net.nodes.sort_values(["x", "y"]).index[0]
    >>> jobs = pd.Series([100.0], index=[corner])
    >>> block_min = float(net.edges["time_min"].iloc[0])                  # 113 m at 4.8 km/h
    >>> uk.aggregate(net, jobs, minutes=2.5 * block_min).sort_values(ascending=False).tolist()
    [100.0, 100.0, 100.0, 100.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    if not isinstance(network, StreetNetwork):
        raise InvalidOptionError(
            f"network must be a StreetNetwork (urbankit.build_network or StreetNetwork.from_pandana), "
            f"not {type(network).__name__}."
        )
    if agg not in AGGREGATIONS:
        raise InvalidOptionError(f"agg={agg!r} is not one of {AGGREGATIONS}.")
    if decay not in DECAYS:
        raise InvalidOptionError(f"decay={decay!r} is not one of {DECAYS}.")
    if decay != "flat" and agg not in ("sum", "mean"):
        raise InvalidOptionError(
            f"decay={decay!r} applies to agg='sum' or 'mean' only; agg={agg!r} takes the plain values "
            "(pass decay='flat')."
        )
    single = isinstance(minutes, (int, float, np.integer, np.floating)) and not isinstance(minutes, bool)
    mins = validate_minutes(minutes)
    engine = check_engine(engine)
    node_pos, offset, vals = _items(network, values, column=column, agg=agg)
    n = len(network.nodes)
    out = {}
    if engine == "pandana":
        for m in mins:
            if len(node_pos) == 0:
                res = np.zeros(n) if agg in ("sum", "count") else np.full(n, np.nan)
            else:
                res = aggregate_pandana(network, node_pos, offset, vals, m, agg=agg, decay=decay)
            out[m] = res
    else:
        items = pd.DataFrame({"node_id": network.nodes.index.to_numpy()[node_pos], "snap_min": offset})
        reach = reach_table(network, items, max(mins), progress=False)
        for m in mins:
            out[m] = _aggregate_reach(reach, vals, n, m, agg=agg, decay=decay)
    cols = {f"{agg}_{_label(m)}min": (out[m].astype(np.int64) if agg == "count" else out[m]) for m in mins}
    frame = pd.DataFrame(cols, index=network.nodes.index)
    return frame.iloc[:, 0] if single else frame


def _items(network: StreetNetwork, values, *, column, agg) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(node positions, snap minutes, values) of the items to aggregate."""
    if isinstance(values, gpd.GeoDataFrame):
        if column is None:
            if agg != "count":
                raise InvalidOptionError(
                    f"values is a GeoDataFrame: name its variable with column=... (one of {list(values.columns)}); "
                    "only agg='count' needs none."
                )
            vals = np.ones(len(values))
        elif column not in values.columns:
            raise InvalidOptionError(f"column={column!r} is not a column of values ({list(values.columns)}).")
        else:
            vals = _numbers(values[column], f"values[{column!r}]")
        bad = values.geometry.is_empty | values.geometry.isna() | (values.geom_type != "Point")
        if bad.any():
            raise InvalidOptionError(
                f"values has {int(bad.sum())} rows without a point geometry; give points (a polygon's "
                ".representative_point() is one)."
            )
        snapped = snap_destinations(network, values[[values.geometry.name]])
        node_pos = network.nodes.index.get_indexer(snapped["node_id"].to_numpy())
        return node_pos, snapped["snap_min"].to_numpy(float), vals
    if isinstance(values, pd.Series):
        vals = _numbers(values, "values")
        node_pos = network.nodes.index.get_indexer(values.index)
        missing = values.index[node_pos < 0]
        if len(missing):
            raise InvalidOptionError(
                f"values has {len(missing)} index labels that are not node ids of the network "
                f"(e.g. {list(missing[:3])}); index it by network.nodes.index (e.g. values.reindex(...))."
            )
        return node_pos.astype(np.int64), np.zeros(len(values)), vals
    raise InvalidOptionError(
        f"values must be a pandas Series indexed by node_id or a GeoDataFrame of points, not {type(values).__name__}."
    )


def _numbers(series: pd.Series, name: str) -> np.ndarray:
    try:
        vals = pd.to_numeric(series, errors="raise").to_numpy(float)
    except (TypeError, ValueError):
        raise InvalidOptionError(f"{name} must hold numbers; it has {series.dtype} values.") from None
    bad = ~np.isfinite(vals)
    if bad.any():
        raise InvalidOptionError(f"{name} has {int(bad.sum())} NaN or infinite values; drop or fill them first.")
    return vals


def _aggregate_reach(reach: pd.DataFrame, vals: np.ndarray, n: int, m: float, *, agg: str, decay: str) -> np.ndarray:
    """The scipy engine: pandana's formulas over the exact reach table."""
    t = reach["minutes"].to_numpy()
    inside = within(t, m)
    node = reach["node"].to_numpy()[inside]
    t = t[inside]
    v = vals[reach["dest"].to_numpy()[inside]]
    count = np.bincount(node, minlength=n).astype(float)
    if agg == "count":
        return count
    has = count > 0
    if agg in ("sum", "mean"):
        weight = {"flat": np.ones_like(t), "linear": 1.0 - t / m, "exp": np.exp(-t / m)}[decay]
        total = np.bincount(node, weights=weight * v, minlength=n)
        if agg == "sum":
            return total
        return np.divide(total, count, out=np.full(n, np.nan), where=has)
    if agg == "std":
        mean = np.divide(np.bincount(node, weights=v, minlength=n), count, out=np.zeros(n), where=has)
        sq = np.bincount(node, weights=(v - mean[node]) ** 2, minlength=n)
        return np.where(has, np.sqrt(np.divide(sq, count, out=np.zeros(n), where=has)), np.nan)
    out = np.full(n, np.inf if agg == "min" else -np.inf)
    (np.minimum if agg == "min" else np.maximum).at(out, node, v)
    return np.where(has, out, np.nan)
