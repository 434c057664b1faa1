"""Population statistics shared by every analysis: one weighted quantile, one Gini coefficient.

Both take plain arrays (values and weights aligned) and never modify them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gini", "weighted_quantile"]


def weighted_quantile(values, weights, q, *, nan: str = "largest") -> np.ndarray:
    """Quantiles of ``values`` over ``weights`` (inverted CDF: the smallest value whose cumulative
    weight reaches the share ``q``).

    Parameters
    ----------
    values, weights : array-like
        Aligned; weights >= 0.
    q : float or array-like
        Shares in [0, 1].
    nan : {"largest", "omit"}, default "largest"
        ``"largest"``: a NaN value counts as larger than every number (an unreachable node is
        farther than any reachable one), so a quantile falling among them is ``inf``.
        ``"omit"``: NaN values and zero weights are left out; all-NaN gives NaN.

    Returns
    -------
    numpy.ndarray
        One value per ``q`` (NaN when the weights sum to 0).

    >>> weighted_quantile(np.array([1.0, 2.0, np.nan]), np.ones(3), [0.5, 0.9])
    array([ 2., inf])
    >>> weighted_quantile(np.array([1.0, 2.0, np.nan]), np.ones(3), 0.9, nan="omit")
    array([2.])
    """
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    qs = np.atleast_1d(np.asarray(q, dtype=float))
    if nan == "largest":
        v = np.where(np.isnan(v), np.inf, v)
    elif nan == "omit":
        keep = np.isfinite(v) & (w > 0)
        v, w = v[keep], w[keep]
    else:
        raise ValueError(f"nan={nan!r} must be 'largest' or 'omit'")
    if len(v) == 0 or not w.sum() > 0:
        return np.full(len(qs), np.nan)
    order = np.argsort(v, kind="stable")
    v, cum = v[order], np.cumsum(w[order])
    idx = np.searchsorted(cum, qs * cum[-1], side="left")
    return v[np.minimum(idx, len(v) - 1)]


def gini(values, weights) -> float:
    """Gini coefficient of ``values`` over ``weights`` (0 = everyone equal).

    Uses the exact weighted formula ``sum_i sum_j w_i w_j |x_i - x_j| / (2 W^2 mean)``, computed in
    O(n log n) by sorting.

    >>> round(gini(np.array([1.0, 1.0, 1.0]), np.ones(3)), 6)
    0.0
    >>> round(gini(np.array([0.0, 0.0, 1.0]), np.ones(3)), 6)
    0.666667
    """
    values, weights = np.asarray(values), np.asarray(weights)
    order = np.argsort(values)
    x, w = values[order].astype(float), weights[order].astype(float)
    W = w.sum()
    mean = (w * x).sum() / W if W else 0.0
    if W == 0 or mean == 0:
        return 0.0
    cw = np.cumsum(w) - w  # weight strictly below
    cwx = np.cumsum(w * x) - w * x
    pair = (w * (x * cw - cwx)).sum()  # sum over pairs j<i of w_i w_j (x_i - x_j)
    return float(2 * pair / (2 * W * W * mean))
