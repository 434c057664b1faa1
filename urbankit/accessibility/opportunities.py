"""Opportunities within reach: pandana-style aggregation of any per-node or per-point variable.

:func:`aggregate` sums (or averages, counts, ...) a variable such as jobs or floor area over
everything within ``minutes`` of each street node, optionally decayed with distance, with pandana's
aggregation semantics (see :mod:`urbankit.engines` for its formulas) on either engine.

:func:`opportunities` builds on it the measures accessibility studies use, from any weighted
points, polygons, hexagons or rasters (jobs, school places, hospital beds, floor area): cumulative
opportunities within each threshold, gravity-weighted opportunities, and the two-step floating
catchment ratios 2SFCA (Luo & Wang 2003) and E2SFCA (Luo & Qi 2009) with residents per node as
demand. :func:`opportunity_summary` gives the population-weighted figures (median resident, share
reaching at least X, Gini). An input without opportunities is refused, and without residents the
2SFCA figures are NaN with a note: neither is ever reported as 0.
"""

from __future__ import annotations

import itertools
import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import CorruptFileError, CRSError, InputFileError, InvalidOptionError, UrbankitError
from .._validate import minutes_label as _label
from .._validate import validate_minutes, within
from ..network.engines import AGGREGATIONS, DECAYS, aggregate_pandana, check_engine
from ..network.street import StreetNetwork
from .reach import reach_table, snap_destinations

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


# --------------------------------------------------------------------------------------------------
# opportunities: cumulative, gravity, 2SFCA and E2SFCA per node

#: Luo & Qi (2009) E2SFCA weights of the three travel-time zones (a Gaussian of the zones' mid-times).
E2SFCA_WEIGHTS = (1.0, 0.68, 0.22)
#: Coordinate columns of a CSV of points (EPSG:4326), tried in this order.
_LON_NAMES = ("lon", "lng", "long", "longitude")
_LAT_NAMES = ("lat", "latitude")
_NOT_VALUES = {"x", "y", "fid", "id", "osm_id", "index", "row", "col", "h3", "h3_id", "hex_id", "id_hex"}


def compute_opportunities(
    network: StreetNetwork,
    opportunities,
    *,
    minutes,
    population=None,
    columns: list[str] | None = None,
    e2sfca_zones_min=None,
    e2sfca_weights=E2SFCA_WEIGHTS,
    engine: str | None = None,
) -> gpd.GeoDataFrame:
    """Opportunities within reach of every node: cumulative, gravity-weighted, 2SFCA and E2SFCA.

    Every figure comes from the travel times of :func:`aggregate` (network minutes from the node to
    the opportunity's nearest node plus the straight line to it walked at
    ``settings.walk_speed_kmh``); an opportunity counts when its minutes ``t`` are at most the
    threshold. With ``R`` the largest threshold and ``v_j`` the opportunities at location ``j``:

    ``<col>_<M>min``
        Cumulative opportunities ``sum_j v_j [t_ij <= M]`` for every threshold ``M``.
    ``<col>_gravity``
        Gravity-weighted opportunities ``sum_j v_j exp(-t_ij / R) [t_ij <= R]`` (pandana's ``exp``
        decay over the largest threshold: the weight halves every ``R ln 2`` minutes, 20.8 min for
        ``R = 30``).
    ``<col>_2sfca_<M>min``
        Two-step floating catchment (Luo & Wang 2003) with catchment ``M``: each location's ratio
        ``r_j = v_j / sum_k P_k [t_kj <= M]`` of opportunities to the residents ``P_k`` of the nodes
        within ``M`` of it, then per node ``A_i = sum_j r_j [t_ij <= M]`` (opportunities per resident).
    ``<col>_e2sfca``
        Enhanced 2SFCA (Luo & Qi 2009): the same two steps with step-wise weights ``W(t)`` in both,
        ``r_j = v_j / sum_k P_k W(t_kj)`` and ``A_i = sum_j r_j W(t_ij)``; ``W`` is
        ``e2sfca_weights[z]`` in zone ``z`` of ``e2sfca_zones_min`` (upper bounds, inclusive),
        0 beyond. Default zones: the largest threshold cut in three equal parts (10/20/30 min for
        ``R = 30``, Luo & Qi's zones) with their weights 1.0/0.68/0.22.

    Parameters
    ----------
    network : StreetNetwork
    opportunities : geopandas.GeoDataFrame, str or pathlib.Path
        Weighted points, polygons or hexagons, or a file: GeoPackage/GeoJSON/GeoParquet/... (any
        vector file geopandas reads), a CSV with ``lon``/``lat`` columns (EPSG:4326) or, without
        them, an H3 id column (CSV/Parquet H3 tables as IPEA and Kontur publish them), or a raster
        (GeoTIFF, VRT: band 1 per cell, cut by the network's area as population rasters are, see
        :mod:`urbankit.population.sources`). Polygons (hexagons, raster cells) count at their
        centroid, or at a representative point inside them when the centroid lies outside.
    minutes : float or sequence of float
        Thresholds in minutes.
    population : PopulationEstimate or pandas.Series, optional
        Residents per node (the demand of 2SFCA/E2SFCA). Without it, or with no residents, the
        2SFCA/E2SFCA columns are NaN and ``attrs["notes"]`` says why.
    columns : list of str, optional
        The opportunity columns. Default: every numeric column that is not a coordinate or id
        (``lon``, ``lat``, ``x``, ``y``, ``id``, ``*_id``, ...); refused as ambiguous when one of them
        is a residents column (``population``, ``pop``, ...: name the columns then). A raster's
        single column is named ``columns[0]``, else after the file.
    e2sfca_zones_min : sequence of float, optional
        Upper bounds of the E2SFCA zones (increasing); default ``R/3, 2R/3, R``.
    e2sfca_weights : sequence of float, default (1.0, 0.68, 0.22)
        One weight per zone, positive and not increasing.
    engine : {"scipy", "pandana"}, optional
        As in :func:`aggregate` (same figures).

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed like ``network.nodes`` with their geometry; ``attrs``: ``columns``,
        ``opportunities`` (total of each column in the input), ``population_total``, ``source``,
        ``e2sfca_zones_min``, ``e2sfca_weights`` and ``notes`` (what could not be computed and why,
        opportunities no resident is within reach of).

    Raises
    ------
    InvalidOptionError
        Unknown or ambiguous columns, non-numeric, negative or missing values, a column that sums
        to 0 (nothing to reach is not a finding), bad thresholds, zones or weights.
    InputFileError, CorruptFileError, CRSError
        Unreadable files, geometries without a CRS.
    """
    from .inequality import _population_series

    if not isinstance(network, StreetNetwork):
        raise InvalidOptionError(
            f"network must be a StreetNetwork (urbankit.build_network), not {type(network).__name__}."
        )
    mins = validate_minutes(minutes)
    engine = check_engine(engine)
    R = max(mins)
    zones, weights = _e2sfca_zones(e2sfca_zones_min, e2sfca_weights, R)
    points, cols, source = read_opportunities(opportunities, network=network, columns=columns)
    notes: list[str] = []
    totals = {c: float(points[c].sum()) for c in cols}
    if population is None:
        pop, pop_source = np.zeros(len(network.nodes)), "none"
    else:
        pop, pop_source = _population_series(population, network)
    pop_total = float(pop.sum())
    no_demand = pop_total <= 0
    if no_demand:
        notes.append(
            "2SFCA/E2SFCA not computable: "
            + (
                "no population given (pass population=...)"
                if population is None
                else "the population has no residents on this network"
            )
        )
    out = {}
    snapped = snap_destinations(network, points[[points.geometry.name]]).reset_index(drop=True)
    far = snapped["snap_min"].to_numpy() > R
    if far.any():
        for c in cols:
            notes.append(
                f"{c}: {points[c].to_numpy()[far].sum():,.6g} of {totals[c]:,.6g} lie more than {R:g} min on foot from "
                f"the nearest street node ({int(far.sum())} locations outside the network's area): no node reaches them"
            )
    pairs = None
    if not no_demand:
        table = pd.DataFrame({"node_id": snapped["node_id"].to_numpy(), "snap_min": snapped["snap_min"].to_numpy()})
        reach_r = max(R, zones[-1])
        if engine == "pandana":
            from ..network.engines import reach_table_pandana

            pairs = reach_table_pandana(network, table, reach_r)
        else:
            pairs = reach_table(network, table, reach_r, progress=False)
    for c in cols:
        cum = aggregate(network, points, minutes=list(mins), column=c, agg="sum", engine=engine)
        for m in mins:
            out[f"{c}_{_label(m)}min"] = cum[f"sum_{_label(m)}min"].to_numpy()
        out[f"{c}_gravity"] = aggregate(
            network, points, minutes=R, column=c, agg="sum", decay="exp", engine=engine
        ).to_numpy()
        vals = points[c].to_numpy(float)
        for m in mins:
            key = f"{c}_2sfca_{_label(m)}min"
            if no_demand:
                out[key] = np.full(len(network.nodes), np.nan)
                continue
            ratio, lost = _supply_ratio(pairs, pop, vals, [m], [1.0])
            out[key] = _spread(network, points, ratio, [m], [1.0], engine)
            if lost > 0:
                notes.append(
                    f"{c}: {lost:,.6g} of {totals[c]:,.6g} are within {m:g} min of no resident (left out of {key})"
                )
        key = f"{c}_e2sfca"
        if no_demand:
            out[key] = np.full(len(network.nodes), np.nan)
        else:
            ratio, lost = _supply_ratio(pairs, pop, vals, zones, weights)
            out[key] = _spread(network, points, ratio, zones, weights, engine)
            if lost > 0:
                notes.append(
                    f"{c}: {lost:,.6g} of {totals[c]:,.6g} are within {zones[-1]:g} min of no resident "
                    f"(left out of {key})"
                )
    for note in notes:
        logger.info("opportunities: %s", note)
    frame = gpd.GeoDataFrame(
        pd.DataFrame(out, index=network.nodes.index), geometry=network.nodes.geometry, crs=network.crs
    )
    frame.attrs = {
        "columns": list(cols),
        "opportunities": totals,
        "population_total": pop_total,
        "population_source": pop_source,
        "source": source,
        "minutes": list(mins),
        "e2sfca_zones_min": list(zones),
        "e2sfca_weights": list(weights),
        "notes": notes,
    }
    return frame


def _e2sfca_zones(zones, weights, R: float) -> tuple[list[float], list[float]]:
    if zones is None:
        zones = [R / 3, 2 * R / 3, R]
    try:
        z = [float(v) for v in zones]
        w = [float(v) for v in weights]
    except (TypeError, ValueError):
        raise InvalidOptionError(
            f"e2sfca_zones_min={zones!r} and e2sfca_weights={weights!r} must be sequences of numbers."
        ) from None
    if len(z) != len(w) or not z:
        raise InvalidOptionError(
            f"e2sfca_zones_min has {len(z)} zones but e2sfca_weights {len(w)} weights; give one weight per zone."
        )
    if not all(np.isfinite(z)) or z[0] <= 0 or any(b <= a for a, b in itertools.pairwise(z)):
        raise InvalidOptionError(f"e2sfca_zones_min={zones!r} must be increasing positive minutes.")
    if not all(np.isfinite(w)) or w[-1] <= 0 or any(b > a for a, b in itertools.pairwise(w)):
        raise InvalidOptionError(
            f"e2sfca_weights={weights!r} must be positive and not increasing (nearer counts more)."
        )
    return z, w


def _step_weight(t: np.ndarray, zones, weights) -> np.ndarray:
    """``W(t)``: the weight of the first zone whose upper bound ``t`` is within, else 0."""
    out = np.zeros(len(t))
    for z, w in zip(reversed(zones), reversed(weights)):
        out[within(t, z)] = w
    return out


def _supply_ratio(pairs: pd.DataFrame, pop: np.ndarray, vals: np.ndarray, zones, weights) -> tuple[np.ndarray, float]:
    """Step 1: opportunities per weighted resident within reach of each location (0 where none is);
    also the opportunities left out for want of residents."""
    t = pairs["minutes"].to_numpy()
    w = _step_weight(t, zones, weights)
    demand = np.bincount(pairs["dest"].to_numpy(), weights=w * pop[pairs["node"].to_numpy()], minlength=len(vals))
    ratio = np.divide(vals, demand, out=np.zeros(len(vals)), where=demand > 0)
    return ratio, float(vals[demand <= 0].sum())


def _spread(network, points, ratio, zones, weights, engine) -> np.ndarray:
    """Step 2 with :func:`aggregate`: ``sum_j r_j W(t_ij)`` as ``sum_z (w_z - w_{z+1}) * S(<= zone_z)``."""
    pts = points[[points.geometry.name]].copy()
    pts["ratio"] = ratio
    sums = aggregate(network, pts, minutes=list(zones), column="ratio", agg="sum", engine=engine)
    out = np.zeros(len(network.nodes))
    for i, z in enumerate(zones):
        step = weights[i] - (weights[i + 1] if i + 1 < len(weights) else 0.0)
        out += step * sums[f"sum_{_label(z)}min"].to_numpy()
    return out


def read_opportunities(opportunities, *, network: StreetNetwork, columns=None) -> tuple[gpd.GeoDataFrame, list, str]:
    """Opportunity locations as points in the network's CRS, their value columns and a source label.

    See :func:`opportunities` for the inputs accepted; values must be finite and non-negative, and
    every column must hold some opportunities.
    """
    from pathlib import Path

    if columns is not None:
        if isinstance(columns, str):
            columns = [columns]
        if not list(columns) or not all(isinstance(c, str) for c in columns):
            raise InvalidOptionError(f"opportunity columns {columns!r} must be a non-empty list of column names.")
        columns = list(columns)
    if isinstance(opportunities, gpd.GeoDataFrame):
        gdf, source = opportunities, "GeoDataFrame"
    elif isinstance(opportunities, (str, Path)):
        from ..population import sources as ps

        path = Path(opportunities).expanduser()
        source = path.name
        if not path.exists():
            raise InputFileError(f"opportunities file {str(path)!r} does not exist; check the path.")
        if path.is_dir() or path.stat().st_size == 0:
            raise InputFileError(f"opportunities file {str(path)!r} is a folder or empty; give a file of locations.")
        kind = ps.source_kind(path)
        if kind == "raster":
            name = columns[0] if columns else "".join(ch if ch.isalnum() else "_" for ch in path.stem)
            hull = shapely.convex_hull(shapely.multipoints(network.nodes.geometry.values)).buffer(500.0)
            gdf = ps.read_population_raster(path, area=hull, area_crs=network.crs).rename(columns={"population": name})
            gdf = gdf[[name, gdf.geometry.name]]
            columns = [name]
        elif kind == "hex":
            gdf = _read_table(path)
        else:
            try:
                gdf = gpd.read_parquet(path) if path.name.lower().endswith(".parquet") else gpd.read_file(path)
            except Exception as exc:  # pyogrio/pyarrow raise many types on malformed files
                raise CorruptFileError(
                    f"cannot read opportunities file {path.name!r} ({type(exc).__name__}: {exc}); re-export it as "
                    "GeoPackage, GeoJSON or GeoParquet."
                ) from exc
    else:
        raise InvalidOptionError(
            f"opportunities must be a GeoDataFrame or a file path, not {type(opportunities).__name__}."
        )
    if gdf.crs is None:
        raise CRSError(f"opportunities {source!r} have no CRS; set it (e.g. .set_crs('EPSG:4326')).")
    if len(gdf) == 0:
        raise InvalidOptionError(f"opportunities {source!r} hold no locations: there is nothing to reach.")
    geom = gdf.geometry
    if (geom.isna() | geom.is_empty).any():
        raise InvalidOptionError(
            f"opportunities {source!r} have {int((geom.isna() | geom.is_empty).sum())} rows without geometry; "
            "drop them."
        )
    cols = _opportunity_columns(gdf, columns, source)
    gdf = gdf.to_crs(network.crs)
    geoms = gdf.geometry.values
    poly = np.isin(shapely.get_type_id(geoms), (3, 6))
    if poly.any():
        cent = shapely.centroid(geoms[poly])
        inside = shapely.within(cent, geoms[poly])
        rep = shapely.point_on_surface(geoms[poly])
        geoms = geoms.copy()
        geoms[poly] = np.where(inside, cent, rep)
    other = ~np.isin(shapely.get_type_id(geoms), (0, 3, 6))
    if other.any():
        raise InvalidOptionError(
            f"opportunities {source!r} have {int(other.sum())} geometries that are neither points nor polygons "
            f"({sorted(set(gdf.geom_type[other]))}); give points or polygons."
        )
    values = {}
    for c in cols:
        v = _numbers(gdf[c], f"opportunities column {c!r}")
        if (v < 0).any():
            raise InvalidOptionError(
                f"opportunities column {c!r} has {int((v < 0).sum())} negative values; "
                "opportunities are counts or amounts >= 0."
            )
        if v.sum() <= 0:
            raise InvalidOptionError(
                f"opportunities column {c!r} of {source!r} sums to 0: there is nothing to reach, so no figure of "
                "it would mean anything; check the column or leave it out."
            )
        values[c] = v
    out = gpd.GeoDataFrame(values, geometry=gpd.GeoSeries(geoms, crs=network.crs), crs=network.crs)
    return out, cols, source


def _read_table(path) -> gpd.GeoDataFrame:
    """A CSV/Parquet table: points from lon/lat columns, else hexagons from an H3 id column."""
    from ..population import sources as ps

    try:
        df = pd.read_parquet(path) if path.name.lower().endswith(".parquet") else pd.read_csv(path)
    except Exception as exc:  # pandas/pyarrow raise many types on malformed files
        raise CorruptFileError(
            f"cannot read opportunities table {path.name!r} ({type(exc).__name__}: {exc}); re-export it."
        ) from exc
    lower = {str(c).lower(): c for c in df.columns}
    lon = next((lower[n] for n in _LON_NAMES if n in lower), None)
    lat = next((lower[n] for n in _LAT_NAMES if n in lower), None)
    if lon is not None and lat is not None:
        x = _numbers(df[lon], f"{path.name} column {lon!r}")
        y = _numbers(df[lat], f"{path.name} column {lat!r}")
        if (np.abs(x) > 180).any() or (np.abs(y) > 90).any():
            raise InvalidOptionError(
                f"{path.name}: columns {lon!r}/{lat!r} are not longitudes/latitudes in degrees (EPSG:4326)."
            )
        return gpd.GeoDataFrame(df.drop(columns=[lon, lat]), geometry=gpd.points_from_xy(x, y), crs="EPSG:4326")
    try:
        gdf, _ = ps.read_h3_table(path)
    except UrbankitError as exc:
        raise InvalidOptionError(
            f"opportunities table {path.name!r} has neither lon/lat columns nor a usable H3 id column ({exc})"
        ) from None
    return gdf.drop(columns=[gdf.attrs.get("h3_column")])


def _opportunity_columns(gdf: gpd.GeoDataFrame, columns, source: str) -> list:
    from ..population import GRID_POPULATION_COLUMNS

    data = [c for c in gdf.columns if c != gdf.geometry.name]
    if columns is not None:
        missing = [c for c in columns if c not in data]
        if missing:
            raise InvalidOptionError(
                f"opportunity columns {missing} are not in {source!r} "
                f"(columns: {', '.join(map(repr, data)) or 'none'})."
            )
        return columns
    numeric = [
        c
        for c in data
        if pd.api.types.is_numeric_dtype(gdf[c])
        and not pd.api.types.is_bool_dtype(gdf[c])
        and str(c).lower() not in _NOT_VALUES
        and not str(c).lower().endswith("_id")
    ]
    if not numeric:
        raise InvalidOptionError(
            f"opportunities {source!r} have no numeric column of opportunities (columns: "
            f"{', '.join(map(repr, data)) or 'none'}); name it with opportunity_columns=[...]."
        )
    residents = [c for c in numeric if str(c).lower() in {n.lower() for n in GRID_POPULATION_COLUMNS} | {"p001"}]
    if residents:
        raise InvalidOptionError(
            f"opportunities {source!r}: which columns are opportunities is ambiguous, {residents} look like residents "
            f"(numeric columns: {numeric}); name the opportunity columns with opportunity_columns=[...] "
            "(CLI --opportunity-columns)."
        )
    return numeric


def opportunity_summary(nodes: pd.DataFrame, columns, minutes, *, totals=None, at_least=None) -> pd.DataFrame:
    """Population-weighted figures of opportunities reached, one row per column and threshold.

    Over residents (``nodes["population"]``, populated nodes only): ``median`` (the median resident
    reaches this many within the threshold), ``mean`` per resident, ``p10`` (the worst-off tenth
    reach at most this many), ``at_least`` and ``share_at_least`` (share of residents reaching at
    least that many; default 10 % of the column's total in the input, else ``at_least[col]`` or a
    number), ``gini`` of opportunities reached over residents (:func:`urbankit.accessibility.gini`)
    and ``median_2sfca`` (the median resident's 2SFCA ratio). Without residents every figure is NaN
    and ``note`` says so.
    """
    from .._stats import gini, weighted_quantile

    pop = nodes["population"].to_numpy(float)
    mask = pop > 0
    w = pop[mask]
    rows = []
    for c in columns:
        total = (totals or {}).get(c, np.nan)
        if isinstance(at_least, dict):
            x = at_least.get(c, 0.1 * total)
        elif at_least is not None:
            x = float(at_least)
        else:
            x = 0.1 * total
        for m in minutes:
            row = {"column": c, "minutes": m, "total": total, "at_least": x}
            if not w.sum():
                row.update(
                    median=np.nan,
                    mean=np.nan,
                    p10=np.nan,
                    share_at_least=np.nan,
                    gini=np.nan,
                    median_2sfca=np.nan,
                    note="no residents: population-weighted figures not computable",
                )
                rows.append(row)
                continue
            v = nodes[f"{c}_{_label(m)}min"].to_numpy(float)[mask]
            r = nodes[f"{c}_2sfca_{_label(m)}min"].to_numpy(float)[mask]
            row.update(
                median=float(weighted_quantile(v, w, 0.5)[0]),
                mean=float((w * v).sum() / w.sum()),
                p10=float(weighted_quantile(v, w, 0.1)[0]),
                share_at_least=float((w * (v >= x)).sum() / w.sum()) if np.isfinite(x) else np.nan,
                gini=gini(v, w) if (w * v).sum() > 0 else np.nan,  # nobody reaches any: no inequality to state
                median_2sfca=float(weighted_quantile(r, w, 0.5)[0]) if np.isfinite(r).all() else np.nan,
                note="",
            )
            rows.append(row)
    return pd.DataFrame(
        rows,
        columns=[
            "column",
            "minutes",
            "total",
            "median",
            "mean",
            "p10",
            "at_least",
            "share_at_least",
            "gini",
            "median_2sfca",
            "note",
        ],
    )
