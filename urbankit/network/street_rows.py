"""One row per street: the two directions of a two-way street folded into one row for GIS layers.

A drive network holds one edge per travel direction (``u -> v`` and ``v -> u``). A GIS layer of
per-street values wants one feature per street, so :func:`one_row_per_street` folds the two
directed edges of a street into one row when they are the same street (the reversed geometry of
one equals the other, same OSM way, same length) and every per-street value is equal in both
directions. The row keeps the first edge's ``u``, ``v`` and geometry (its digitised direction is
"forward") and says ``both_directions = True``. Direction-specific values (traffic flows) are kept
on the row as ``<column>_forward`` (``u -> v``) and ``<column>_backward`` (``v -> u``), with their
total in ``<column>``; additive per-direction values (emissions, vehicle-km) are summed. Edges
without a twin (one-way streets) and two-way streets whose per-street values differ between the
directions keep a row per direction with ``both_directions = False``.

>>> import geopandas as gpd
>>> from shapely.geometry import LineString
>>> e = gpd.GeoDataFrame({"u": [1, 2, 2], "v": [2, 1, 3], "way_id": [7, 7, 8], "length_m": [10.0, 10.0, 5.0],
...                       "flow": [3.0, 4.0, 1.0]},
...                      geometry=[LineString([(0, 0), (10, 0)]), LineString([(10, 0), (0, 0)]),
...                                LineString([(10, 0), (15, 0)])])
>>> out = one_row_per_street(e, directed=True, flow_columns=["flow"])
>>> out[["u", "v", "flow", "flow_forward", "flow_backward", "both_directions"]].to_numpy().tolist()
[[1, 2, 7.0, 3.0, 4.0, True], [2, 3, 1.0, 1.0, nan, False]]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

logger = logging.getLogger(__name__)

__all__ = ["BOTH_DIRECTIONS_MEANING", "one_row_per_street"]

#: what the ``both_directions`` column of a one-row-per-street layer means (its column dictionary entry)
BOTH_DIRECTIONS_MEANING = (
    "1: the row is one street travelled both ways with the same per-street values (u->v is its digitised "
    "direction); 0: the row is one direction only (a one-way street, or one direction of a two-way street "
    "whose per-street values differ by direction, the other direction being its own row)"
)


def _equal(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise equality of two aligned columns, missing == missing, floats to 1e-9 relative."""
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    both_missing = (a.isna() & b.isna()).to_numpy()
    if pd.api.types.is_float_dtype(a) and pd.api.types.is_float_dtype(b):
        x, y = a.to_numpy(float), b.to_numpy(float)
        with np.errstate(invalid="ignore"):
            return both_missing | np.isclose(x, y, rtol=1e-9, atol=0.0)
    same = (a.astype(object) == b.astype(object)).fillna(False).to_numpy(bool)
    return both_missing | same


def one_row_per_street(
    edges: gpd.GeoDataFrame,
    *,
    directed: bool,
    flow_columns: Sequence[str] = (),
    additive_columns: Sequence[str] = (),
) -> gpd.GeoDataFrame:
    """Fold the two directions of each two-way street into one row.

    Parameters
    ----------
    edges : geopandas.GeoDataFrame
        Network edges with ``u``, ``v``, ``length_m`` and line geometry (``way_id`` when known);
        any other columns are per-street values that must be equal in both directions for the
        two edges to be folded.
    directed : bool
        False: the edges are undirected (walk, bike), each already one row per street; they are
        returned with ``both_directions = True``.
    flow_columns : sequence of str, default ()
        Direction-specific values kept per direction: ``<c>_forward`` (``u -> v``) and
        ``<c>_backward`` (``v -> u``; missing where the row is one direction only), ``<c>`` becomes
        their total.
    additive_columns : sequence of str, default ()
        Direction-specific values summed over the directions (emissions, vehicle-km).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per street (the row of its first direction, in the input order, index reset) with
        ``both_directions`` after the per-street columns and the ``_forward``/``_backward`` columns
        after each flow column.

    Raises
    ------
    KeyError
        ``u``, ``v`` or a listed column is missing.
    """
    geom = edges.geometry.name
    e = edges.reset_index(drop=True)
    flows, sums = list(flow_columns), list(additive_columns)
    missing = [c for c in ["u", "v", *flows, *sums] if c not in e.columns]
    if missing:
        raise KeyError(f"edges lack the columns {missing}; they have {list(e.columns)}")
    if not directed or not len(e):
        out = e.copy()
        out.insert(len(out.columns) - (1 if out.columns[-1] == geom else 0), "both_directions", True)
        for c in flows:
            at = out.columns.get_loc(c) + 1
            out.insert(at, f"{c}_forward", e[c].to_numpy(float))
            out.insert(at + 1, f"{c}_backward", np.nan)
        return out
    street = [c for c in e.columns if c not in {"u", "v", geom, *flows, *sums}]
    keys = ["way_id"] if "way_id" in e.columns else []
    pos = pd.DataFrame({"a": np.arange(len(e)), "u": e["u"].to_numpy(), "v": e["v"].to_numpy()})
    for k in keys:
        pos[k] = e[k].to_numpy()
    twin = pos.merge(pos.rename(columns={"a": "b", "u": "v", "v": "u"}), on=["u", "v", *keys])
    twin = twin[twin["a"] < twin["b"]]
    if len(twin):
        a, b = twin["a"].to_numpy(), twin["b"].to_numpy()
        ok = shapely.equals_exact(shapely.reverse(e[geom].to_numpy()[a]), e[geom].to_numpy()[b], tolerance=1e-7)
        for c in street:
            ok &= _equal(e[c].iloc[a], e[c].iloc[b])
        twin = twin[ok]
        # parallel edges between the same nodes: each edge in one street at most
        twin = twin.drop_duplicates("a").drop_duplicates("b")
        twin = twin[~twin["a"].isin(twin["b"])]
    a, b = twin["a"].to_numpy(), twin["b"].to_numpy()
    keep = np.ones(len(e), bool)
    keep[b] = False
    back_of = np.full(len(e), -1)
    back_of[a] = b
    out = e.copy()
    out.insert(len(out.columns) - (1 if out.columns[-1] == geom else 0), "both_directions", back_of >= 0)
    has_back = back_of >= 0
    for c in [*flows, *sums]:
        values = e[c].to_numpy(float)
        back = np.full(len(e), np.nan)
        back[has_back] = values[back_of[has_back]]
        if c in flows:
            at = out.columns.get_loc(c) + 1
            out.insert(at, f"{c}_forward", values)
            out.insert(at + 1, f"{c}_backward", back)
        out[c] = np.where(has_back, values + np.nan_to_num(back), values)
    out = out[keep].reset_index(drop=True)
    logger.debug("%d directed edges -> %d street rows (%d two-way streets folded)", len(e), len(out), len(a))
    return gpd.GeoDataFrame(out, geometry=geom, crs=edges.crs)
