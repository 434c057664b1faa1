"""Population statistics of accessibility: weighted quantiles, Gini and Palma ratios."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._errors import InvalidOptionError
from .._stats import gini, weighted_quantile  # noqa: F401 (re-exported)
from ..network.street import StreetNetwork

# ----------------------------------------------------------------------------- population statistics


def palma(values: np.ndarray, weights: np.ndarray) -> float:
    """Palma ratio of travel minutes: minutes borne by the 10% of residents with the longest trips
    over those of the 40% with the shortest (1 = the worst-off decile carries four times the minutes
    per head of the best-off 40%... i.e. larger is more unequal)."""
    order = np.argsort(values)
    x, w = values[order].astype(float), weights[order].astype(float)
    W = w.sum()
    cum = np.cumsum(w) / W

    def share(lo: float, hi: float) -> float:
        # weight of each item inside the cumulative band (lo, hi]
        left = np.clip(cum - w / W, lo, hi)
        right = np.clip(cum, lo, hi)
        return float(((right - left) * W * x).sum())

    bottom = share(0.0, 0.4)
    top = share(0.9, 1.0)
    return float(top / bottom) if bottom > 0 else float("inf")


def _population_series(population, network: StreetNetwork) -> tuple[np.ndarray, str]:
    if population is None:
        return np.zeros(len(network.nodes)), "none"
    per_node = getattr(population, "per_node", population)
    source = getattr(population, "source", "user")
    if not isinstance(per_node, pd.Series):
        raise InvalidOptionError("population must be a PopulationEstimate or a Series indexed by node_id.")
    aligned = per_node.reindex(network.nodes.index)
    missing = aligned.isna().sum()
    if missing == len(aligned):
        raise InvalidOptionError(
            "population shares no node_id with the network; compute it on this network's nodes "
            "(urbankit.population_per_node(network.nodes, ...))."
        )
    return aligned.fillna(0.0).to_numpy(float), source
