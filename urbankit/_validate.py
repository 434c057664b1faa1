"""Validation of user options shared by every module: one place, one wording.

Each checker returns the normalised value or raises :class:`urbankit.InvalidOptionError` naming the
option, what was given and an example of a valid value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ._errors import InvalidOptionError

__all__ = ["EPS_MIN", "check_h3_resolution", "grid_step", "minutes_label", "validate_minutes", "within"]

#: tolerance when comparing minutes on the 0.001-min grid: far below the grid, far above float error
EPS_MIN = 1e-6
#: the 0.001-min grid every travel time is kept on (see :mod:`urbankit.network`)
_TIME_RESOLUTION_MIN = 0.001


def validate_minutes(minutes) -> tuple[float, ...]:
    """Thresholds as a sorted tuple of positive numbers; raise one clear error otherwise.

    >>> validate_minutes([30, 10, 15])
    (10, 15, 30)
    """
    if isinstance(minutes, (int, float, np.integer, np.floating)) and not isinstance(minutes, bool):
        minutes = [minutes]
    if isinstance(minutes, str) or not isinstance(minutes, Iterable):
        raise InvalidOptionError(f"minutes={minutes!r} must be a list of positive numbers, e.g. [10, 15, 30].")
    values = list(minutes)
    bad = [
        m
        for m in values
        if isinstance(m, bool)
        or not isinstance(m, (int, float, np.integer, np.floating))
        or not np.isfinite(m)
        or m <= 0
    ]
    if bad or not values:
        raise InvalidOptionError(
            f"minutes={values!r}: thresholds must be positive, finite numbers of minutes "
            f"(bad: {bad!r}); e.g. minutes=[10, 15, 30]."
        )
    if len(set(values)) != len(values):
        raise InvalidOptionError(f"minutes={values!r} repeats a threshold; give each once.")
    out = tuple(sorted(int(m) if float(m).is_integer() else float(m) for m in values))
    # two thresholds must differ in their column labels and in what they count: travel times are
    # on the 0.001-min grid, so thresholds between the same two grid steps count the same trips
    labels: dict[str, list] = {}
    steps: dict[int, list] = {}
    for m in out:
        labels.setdefault(minutes_label(m), []).append(m)
        steps.setdefault(grid_step(m), []).append(m)
    clashes = list(dict.fromkeys(tuple(g) for g in (*labels.values(), *steps.values()) if len(g) > 1))
    if clashes:
        names = "; ".join(" and ".join(repr(m) for m in g) for g in clashes)
        raise InvalidOptionError(
            f"minutes={values!r}: the thresholds {names} cannot be told apart (same column label, or the "
            "same step of the 0.001-minute grid of travel times, so they count the same trips); give "
            "thresholds that differ by at least 0.001 minutes, e.g. minutes=[10, 15, 30]."
        )
    return out


def within(t, m) -> np.ndarray:
    """``t <= m`` for minutes on the 0.001-min grid (``700 * 0.001`` is 0.7000000000000001); NaN is False."""
    return np.asarray(t) <= m + EPS_MIN


def grid_step(m) -> int:
    """The last step of the 0.001-min time grid that :func:`within` counts as within ``m``."""
    return int(math.floor((float(m) + EPS_MIN) / _TIME_RESOLUTION_MIN + 1e-9))


def minutes_label(m) -> str:
    """A threshold as it appears in column names: ``15`` -> ``"15"``, ``7.5`` -> ``"7_5"``."""
    return f"{m:g}".replace(".", "_")


def check_h3_resolution(h3_resolution, *, name: str = "h3_resolution") -> int:
    """An H3 resolution as an int from 0 to 15."""
    r = h3_resolution
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 0 <= r <= 15:
        raise InvalidOptionError(
            f"{name}={r!r} must be a whole number from 0 to 15 (H3 resolution; "
            "9 gives cells of about 0.1 km², 8 about 0.7 km², 10 about 0.015 km²)."
        )
    return int(r)
