"""Static user equilibrium (Wardrop) by the bi-conjugate Frank-Wolfe algorithm with BPR delays.

Algorithm: Mitradjieva, M. & Lindberg, P. O. (2013), "The stiff is moving - conjugate direction
Frank-Wolfe methods with applications to traffic assignment", *Transportation Science* 47(2),
280-293, following AequilibraE's implementation (``aequilibrae.paths.linear_approximation``):
iteration 1 all-or-nothing at free-flow times, iteration 2 a Frank-Wolfe step, iteration 3 a
conjugate step, then bi-conjugate steps; a direction that is not a descent direction, or a step of
one (which collapses the direction history), restarts from a Frank-Wolfe step. The step length
minimises the Beckmann objective along the direction, found by bisection on its derivative
(monotone for BPR).

Relative gap: ``(sum t(x) x - sum t(x) y) / sum t(x) x`` with ``y`` the all-or-nothing flows at the
congested times ``t(x)``.

All-or-nothing loading (:class:`ShortestPathLoader`) is compiled with numba
(:mod:`urbankit.assignment._aon`): one Dijkstra per origin, its trips pushed down the shortest-path
tree in reverse settle order, origins in parallel; the line search evaluates the Beckmann derivative
only on the links the direction moves. ``initial_flow`` starts from a given all-or-nothing loading
(e.g. one the caller already has) instead of loading the demand again.

Limits: one vehicle class, fixed demand, no turn penalties (a custom all-or-nothing loader can add
them, e.g. the superblock layered graph).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from urbankit._errors import InvalidOptionError

from .bpr import BPR_ALPHA, BPR_BETA

log = logging.getLogger(__name__)

#: an all-or-nothing loader: link costs -> link loads (same length as the link arrays)
Loader = Callable[[np.ndarray], np.ndarray]

# the smallest link cost kept (as the former scipy loader, where a zero-cost edge would vanish)
_MIN_COST = 1e-9


class AssignmentConvergenceWarning(UserWarning):
    """The equilibrium assignment stopped at ``max_iter`` before reaching its relative-gap target."""


class ShortestPathLoader:
    """All-or-nothing loading of an OD table on a directed graph (compiled Dijkstra per origin).

    Each call runs one Dijkstra per origin (the OD rows are grouped by origin once, here) and
    loads that origin's trips down its shortest-path tree in one backward pass
    (:mod:`urbankit.assignment._aon`, numba, parallel over origins). Of parallel links the
    cheapest carries the load (the lowest link number among equally cheap ones); ties between
    equal-cost paths are broken deterministically (see :mod:`urbankit.assignment._aon`).

    Parameters
    ----------
    from_node, to_node : array-like of int
        Link end nodes, integers in ``0..n_nodes-1``.
    origins, destinations : array-like of int
        OD pairs (node numbers).
    trips : array-like of float
        Trips of each OD pair (>= 0).
    n_nodes : int, optional, keyword-only
        Number of nodes (default: the largest node number + 1).

    Attributes
    ----------
    unrouted_trips : float
        Trips whose destination was unreachable at the last call (not loaded).

    Raises
    ------
    InvalidOptionError
        If a node number lies outside ``0..n_nodes-1``.
    """

    def __init__(self, from_node, to_node, origins, destinations, trips, *, n_nodes: int | None = None):
        self.from_node = np.asarray(from_node, dtype=np.int64)
        self.to_node = np.asarray(to_node, dtype=np.int64)
        o = np.asarray(origins, dtype=np.int64)
        d = np.asarray(destinations, dtype=np.int64)
        t = np.asarray(trips, dtype=float)
        top = max(
            int(self.from_node.max(initial=-1)),
            int(self.to_node.max(initial=-1)),
            int(o.max(initial=-1)),
            int(d.max(initial=-1)),
        )
        self.n_nodes = int(n_nodes) if n_nodes is not None else top + 1
        if (
            top >= self.n_nodes
            or min(self.from_node.min(initial=0), self.to_node.min(initial=0), o.min(initial=0), d.min(initial=0)) < 0
        ):
            raise InvalidOptionError(
                f"node numbers must lie in 0..{self.n_nodes - 1}; renumber the graph (e.g. with "
                "pandas.factorize) or pass a larger n_nodes."
            )
        keep = (t > 0) & (o != d)
        o, d, t = o[keep], d[keep], t[keep]
        order = np.argsort(o, kind="stable")
        self._o, self._d, self._t = o[order], d[order], t[order]
        self.origins = np.unique(self._o)
        self._row_start = np.searchsorted(self._o, np.r_[self.origins, self.n_nodes]).astype(np.int64)
        # CSR of the links without self-loops, by tail node then link number
        link = np.flatnonzero(self.from_node != self.to_node)
        link = link[np.argsort(self.from_node[link], kind="stable")]
        self._arc_link = link.astype(np.int64)
        self._tail = self.from_node[link]
        self._head = self.to_node[link]
        self._indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(self._tail, minlength=self.n_nodes), out=self._indptr[1:])
        self.unrouted_trips = 0.0

    def __call__(self, cost: np.ndarray) -> np.ndarray:
        """All-or-nothing link loads at the given link costs.

        Parameters
        ----------
        cost : numpy.ndarray
            Cost of each link (>= 0); of parallel links the cheapest carries the load.

        Returns
        -------
        numpy.ndarray
            Load of each link; trips to unreachable destinations are left out and counted in
            ``unrouted_trips``.
        """
        from ._aon import load_all_or_nothing

        cost = np.asarray(cost, dtype=float)
        self.unrouted_trips = 0.0
        if len(self.origins) == 0:
            return np.zeros(len(self.from_node))
        arc_cost = np.maximum(cost[self._arc_link], _MIN_COST)
        loads, unrouted = load_all_or_nothing(
            self._indptr,
            self._head,
            self._tail,
            self._arc_link,
            arc_cost,
            self.origins,
            self._row_start,
            self._d,
            self._t,
            len(self.from_node),
        )
        self.unrouted_trips = float(unrouted)
        return loads


def beckmann_objective(flow, free_time, capacity, alpha, beta) -> float:
    """Beckmann objective ``sum_a integral_0^{v_a} t_a(w) dw`` for BPR links.

    Parameters
    ----------
    flow, free_time, capacity, alpha, beta : array-like
        Link flows and BPR parameters.

    Returns
    -------
    float
        ``sum t0 (v + alpha c / (beta + 1) (v / c) ** (beta + 1))``.
    """
    v = np.asarray(flow, dtype=float)
    return float(np.sum(free_time * (v + alpha * capacity / (beta + 1.0) * (v / capacity) ** (beta + 1.0))))


@dataclass
class EquilibriumResult:
    """Result of :func:`equilibrium_assignment`.

    Parameters
    ----------
    flow : numpy.ndarray
        Equilibrium flow of each link (same unit as the trips, e.g. vehicles per hour).
    congested_time : numpy.ndarray
        BPR time of each link at ``flow`` (unit of the free-flow times).
    iterations : pandas.DataFrame
        One row per iteration: ``iteration``, ``rel_gap``, ``objective``, ``step``, ``direction``,
        ``time_s``.
    converged : bool
        Whether the last relative gap is at or below the target.
    rel_gap : float
        Last relative gap.
    unrouted_trips : float
        Trips whose destination could not be reached (not loaded), from the default loader.
    meta : dict, optional
        Free-form details of the run.
    """

    flow: np.ndarray
    congested_time: np.ndarray
    iterations: pd.DataFrame
    converged: bool
    rel_gap: float
    unrouted_trips: float = 0.0
    meta: dict = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """The convergence table, one row per iteration.

        Returns
        -------
        pandas.DataFrame
            Columns ``iteration``, ``rel_gap``, ``objective``, ``step``, ``direction``, ``time_s``.
        """
        return self.iterations.copy()

    def describe(self) -> str:
        """One sentence on convergence.

        Returns
        -------
        str
            Iterations, final relative gap and whether the target was met.
        """
        state = "converged" if self.converged else "did NOT converge"
        return f"equilibrium assignment {state}: {len(self.iterations)} iterations, relative gap {self.rel_gap:.2e}"


def _as_link_array(value, n: int, name: str) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=float), (n,)).astype(float)
    if not np.all(np.isfinite(arr)):
        raise InvalidOptionError(f"{name} must be finite on every link; fix or drop the links with NaN/inf.")
    return arr


def equilibrium_assignment(
    from_node,
    to_node,
    free_time,
    capacity,
    od,
    *,
    alpha=BPR_ALPHA,
    beta=BPR_BETA,
    rel_gap: float = 1e-4,
    max_iter: int = 500,
    algorithm: str = "bfw",
    loader: Loader | None = None,
    n_nodes: int | None = None,
    initial_flow=None,
) -> EquilibriumResult:
    """Static user equilibrium with BPR link delays.

    Parameters
    ----------
    from_node, to_node : array-like of int
        Link end nodes, integers in ``0..n_nodes-1`` (parallel links allowed).
    free_time : array-like of float
        Free-flow time of each link (>= 0), e.g. minutes.
    capacity : array-like of float
        Capacity of each link (> 0), in the unit of the trips (e.g. vehicles per hour).
    od : pandas.DataFrame or tuple of arrays
        Columns ``origin``, ``destination``, ``trips`` (or a tuple of the three arrays).
    alpha, beta : float or array-like, keyword-only
        BPR coefficients, scalars or per link (default 0.15 and 4).
    rel_gap : float, default 1e-4, keyword-only
        Stop when the relative gap is at or below this.
    max_iter : int, default 500, keyword-only
        Largest number of iterations (all-or-nothing loadings).
    algorithm : {"bfw", "cfw", "fw", "msa", "all-or-nothing"}, keyword-only
        Bi-conjugate / conjugate / plain Frank-Wolfe, method of successive averages, or one
        all-or-nothing loading at free-flow times.
    loader : callable, optional, keyword-only
        ``loader(link_costs) -> link_loads``, an all-or-nothing loader of the demand (e.g. on a
        graph with restrictions); it replaces the default :class:`ShortestPathLoader` built from
        ``od`` (``od`` may then be None).
    n_nodes : int, optional, keyword-only
        Number of nodes for the default loader.
    initial_flow : array-like of float, optional, keyword-only
        Link flows of an all-or-nothing loading of the same demand at the free-flow times (e.g.
        from an earlier all-or-nothing assignment): iteration 1 starts from them instead of
        loading the demand once more. Any feasible flow of the demand is a valid start.

    Returns
    -------
    EquilibriumResult
        Link flows, congested times, the per-iteration table and the ``converged`` flag.

    Raises
    ------
    InvalidOptionError
        If an option is out of range, link arrays differ in length, a capacity is not positive, or
        the OD table lacks its columns, or ``initial_flow`` is not one finite value >= 0 per link.

    Warns
    -----
    AssignmentConvergenceWarning
        When ``max_iter`` is reached before ``rel_gap``.
    """
    choices = ("bfw", "cfw", "fw", "msa", "all-or-nothing")
    if algorithm not in choices:
        raise InvalidOptionError(f"algorithm must be one of {choices}, got {algorithm!r}.")
    if not (0 < rel_gap < 1):
        raise InvalidOptionError(f"rel_gap must lie in (0, 1), got {rel_gap!r}.")
    if int(max_iter) < 1:
        raise InvalidOptionError(f"max_iter must be >= 1, got {max_iter!r}.")
    fn = np.asarray(from_node)
    m = len(fn)
    if len(np.asarray(to_node)) != m:
        raise InvalidOptionError("from_node and to_node must have the same length (one entry per link).")
    t0 = _as_link_array(free_time, m, "free_time")
    cap = _as_link_array(capacity, m, "capacity")
    al = _as_link_array(alpha, m, "alpha")
    be = _as_link_array(beta, m, "beta")
    if np.any(cap <= 0):
        raise InvalidOptionError("capacity must be > 0 on every link; give closed links a tiny capacity or drop them.")
    if np.any(t0 < 0) or np.any(al < 0) or np.any(be < 0):
        raise InvalidOptionError("free_time, alpha and beta must be >= 0 on every link.")
    default_loader = None
    if loader is None:
        if od is None:
            raise InvalidOptionError("give an OD table (origin, destination, trips) or a custom loader.")
        if isinstance(od, pd.DataFrame):
            missing = {"origin", "destination", "trips"} - set(od.columns)
            if missing:
                raise InvalidOptionError(
                    f"od lacks the columns {sorted(missing)}; it needs origin, destination, trips."
                )
            o, d, trips = od["origin"].to_numpy(), od["destination"].to_numpy(), od["trips"].to_numpy()
        else:
            o, d, trips = od
        if np.any(np.asarray(trips, dtype=float) < 0):
            raise InvalidOptionError("od trips must be >= 0.")
        default_loader = ShortestPathLoader(fn, to_node, o, d, trips, n_nodes=n_nodes)
        loader = default_loader

    link = (t0, al, cap, be)

    def cost_of(v):
        return t0 * (1.0 + al * (v / cap) ** be)

    def deriv_of(v):
        with np.errstate(divide="ignore", invalid="ignore"):
            out = t0 * al * be / cap * (v / cap) ** (be - 1.0)
        return np.nan_to_num(out, nan=0.0, posinf=0.0)

    start = time.perf_counter()
    rows = []
    if initial_flow is None:
        x = np.asarray(loader(t0), dtype=float)
    else:
        x = np.array(initial_flow, dtype=float)
        if x.shape != (m,) or not np.all(np.isfinite(x)) or np.any(x < 0):
            raise InvalidOptionError(
                f"initial_flow must hold one finite flow >= 0 per link ({m} links); pass the flows of an "
                "all-or-nothing loading of the same demand, or None."
            )
    rows.append((1, np.nan, beckmann_objective(x, t0, cap, al, be), 1.0, "aon", time.perf_counter() - start))
    gap = np.inf
    converged = False
    if algorithm == "all-or-nothing":
        max_iter = 1
    s = s_prev = None
    step_prev = 0.0
    next_dir = "fw"
    for it in range(2, int(max_iter) + 1):
        t = cost_of(x)
        y = np.asarray(loader(t), dtype=float)
        tx = float(t @ x)
        gap = abs(tx - float(t @ y)) / tx if tx > 0 else 0.0
        rows[-1] = rows[-1][:1] + (gap,) + rows[-1][2:]
        if gap <= rel_gap:
            converged = True
            break
        direction = next_dir if algorithm == "bfw" else {"cfw": "cfw", "fw": "fw", "msa": "fw"}[algorithm]
        if algorithm == "cfw" and s is None:
            direction = "fw"
        h = deriv_of(x)
        if direction == "cfw" and s is not None:
            a_num = float(np.sum(h * (s - x) * (y - x)))
            a_den = float(np.sum(h * (s - x) * (y - s)))
            a = 0.0 if a_den == 0 else min(max(a_num / a_den, 0.0), 0.99999)
            s_prev, s = s, (1.0 - a) * y + a * s
        elif direction == "bfw" and s is not None and s_prev is not None:
            xb = step_prev * s + (1.0 - step_prev) * s_prev - x
            yb, zb, wb = y - x, s - x, s_prev - s
            mu_den = float(np.sum(h * xb * wb))
            mu = 0.0 if mu_den == 0 else max(0.0, -float(np.sum(h * xb * yb)) / mu_den)
            nu_den = float(np.sum(h * zb * zb))
            nu = (
                0.0
                if nu_den == 0
                else max(0.0, -float(np.sum(h * zb * yb)) / nu_den + mu * step_prev / (1 - step_prev))
            )
            b0 = 1.0 / (1.0 + mu + nu)
            s_prev, s = s, b0 * y + nu * b0 * s + mu * b0 * s_prev
        else:
            direction = "fw"
            s_prev, s = s, y
        if algorithm == "msa":
            step = 1.0 / it
        else:
            step = _line_search(x, s - x, link)
            if step is None and direction != "fw":
                direction, s = "fw", y
                step = _line_search(x, y - x, link)
            if step is None:
                step = 1e-2 / it
        if algorithm == "bfw":
            # a full step collapses the direction history; restart after a Frank-Wolfe step
            next_dir = {"fw": "cfw", "cfw": "bfw", "bfw": "bfw"}[direction] if step < 1.0 - 1e-9 else "fw"
        x = x + step * (s - x)
        step_prev = step
        rows.append((it, np.nan, beckmann_objective(x, t0, cap, al, be), step, direction, time.perf_counter() - start))
    if algorithm == "all-or-nothing":
        converged, gap = True, np.nan
    elif not converged:
        t = cost_of(x)
        tx = float(t @ x)
        gap = abs(tx - float(t @ np.asarray(loader(t), dtype=float))) / tx if tx > 0 else 0.0
        rows[-1] = rows[-1][:1] + (gap,) + rows[-1][2:]
        converged = gap <= rel_gap
    table = pd.DataFrame(rows, columns=["iteration", "rel_gap", "objective", "step", "direction", "time_s"])
    if not converged:
        warnings.warn(
            f"equilibrium assignment stopped after {max_iter} iterations at relative gap {gap:.2e} "
            f"(target {rel_gap:.0e}); raise max_iter or relax rel_gap.",
            AssignmentConvergenceWarning,
            stacklevel=2,
        )
    unrouted = getattr(default_loader if default_loader is not None else loader, "unrouted_trips", 0.0)
    if unrouted:
        log.warning(
            "equilibrium assignment: %.6g trips have no route to their destination and were not loaded", unrouted
        )
    log.info("equilibrium assignment: %d iterations, relative gap %.3g", len(rows), gap)
    return EquilibriumResult(
        flow=x,
        congested_time=cost_of(x),
        iterations=table,
        converged=converged,
        rel_gap=float(gap),
        unrouted_trips=float(unrouted or 0.0),
    )


def _line_search(x: np.ndarray, d: np.ndarray, link, *, tol: float = 1e-10, max_steps: int = 60):
    """Step in [0, 1] minimising the Beckmann objective along ``d``: bisection on its derivative.

    ``link`` holds the BPR arrays ``(free_time, alpha, capacity, beta)``; only links with
    ``d != 0`` enter the derivative (compiled, :func:`urbankit.assignment._aon.beckmann_slope`).
    Returns None when ``d`` is not a descent direction (derivative at 0 >= 0).
    """
    from ._aon import beckmann_slope

    on = np.flatnonzero(d)
    xs, ds = x[on], d[on]
    arrays = tuple(a[on] for a in link)

    def slope(lam):
        return beckmann_slope(lam, xs, ds, *arrays)

    if slope(0.0) >= 0:
        return None
    if slope(1.0) <= 0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(max_steps):
        mid = 0.5 * (lo + hi)
        if slope(mid) > 0:
            hi = mid
        else:
            lo = mid
        if hi - lo < tol:
            break
    return 0.5 * (lo + hi)
