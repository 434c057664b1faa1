"""Per-node accessibility figures from a reach table: minutes, counts, scores and gravity (one column schema)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .._validate import minutes_label as _label
from .._validate import within

# ----------------------------------------------------------------------------- metrics


def node_metrics(
    reach: pd.DataFrame,
    *,
    n_nodes: int,
    dest_service: np.ndarray,
    services: list[str],
    functions: dict[str, str],
    minutes: tuple,
    k: int = 1,
    half_life_min: float = 10.0,
) -> pd.DataFrame:
    """Per-node table of minutes, counts, gravity and scores from a reach table (vectorised)."""
    S = len(services)
    code = {s: i for i, s in enumerate(services)}
    svc = np.asarray([code[s] for s in dest_service], dtype=np.int64) if len(dest_service) else np.empty(0, np.int64)
    t = reach["minutes"].to_numpy()
    # one key per (node, service) cell
    key = reach["node"].to_numpy().astype(np.int64) * S
    key += np.take(svc, reach["dest"].to_numpy()) if len(reach) else 0
    cols: dict[str, np.ndarray] = {}
    nearest = np.full(n_nodes * S, np.inf)
    np.minimum.at(nearest, key, t)
    nearest = np.where(np.isinf(nearest), np.nan, nearest).reshape(n_nodes, S)
    for s, i in code.items():
        cols[f"time_{s}_min"] = nearest[:, i]
    if k > 1:
        # 2nd..k-th nearest: sort by (key, minutes), rank inside each key
        order = np.lexsort((t, key))
        ks, ts = key[order], t[order]
        first = np.ones(len(ks), bool)
        first[1:] = ks[1:] != ks[:-1]
        start_of = np.maximum.accumulate(np.where(first, np.arange(len(ks)), 0))
        rank = np.arange(len(ks)) - start_of
        for r in range(1, k):
            sel = rank == r
            grid = np.full(n_nodes * S, np.nan)
            grid[ks[sel]] = ts[sel]
            grid = grid.reshape(n_nodes, S)
            for s, i in code.items():
                cols[f"time_{s}_{r + 1}_min"] = grid[:, i]
    counted = {}
    key_m, t_m = key, t
    for m in sorted(minutes, reverse=True):
        # each threshold's rows are a subset of the next larger one's
        inside = within(t_m, m)
        if not inside.all():
            key_m, t_m = key_m[inside], t_m[inside]
        counted[m] = np.bincount(key_m, minlength=n_nodes * S).reshape(n_nodes, S)
    for m in minutes:
        counts = counted[m]
        for s, i in code.items():
            cols[f"n_{s}_{_label(m)}min"] = counts[:, i]
        reached = counts > 0
        cols[f"score_{_label(m)}min"] = reached.mean(axis=1) if S else np.zeros(n_nodes)
        fun_names = sorted(set(functions.values()))
        fun_hit = np.zeros((n_nodes, len(fun_names)), bool)
        for j, f in enumerate(fun_names):
            idx = [code[s] for s in services if functions[s] == f]
            fun_hit[:, j] = reached[:, idx].any(axis=1)
        cols[f"functions_{_label(m)}min"] = fun_hit.sum(axis=1)
    weight = np.exp(t * (-math.log(2) / half_life_min))
    grav = np.bincount(key, weights=weight, minlength=n_nodes * S).reshape(n_nodes, S)
    for s, i in code.items():
        cols[f"gravity_{s}"] = grav[:, i]
    return pd.DataFrame(cols)
