"""Progress bars for long steps: tqdm (its notebook widget in Jupyter), without tqdm's monitor thread.

tqdm starts a monitor thread with its first bar, even a disabled one, and keeps it for the life of
the process. urbankit's bars update on every step, so the monitor (which only nudges bars that have
not updated for ten seconds) adds nothing, and a second thread makes :func:`os.fork` unsafe, which
the GeoPackage writer uses to write layers in two processes (:mod:`urbankit._gpkg`).
"""

from __future__ import annotations

import functools


@functools.cache
def _bar_class():
    from tqdm.auto import tqdm

    class Bar(tqdm):
        monitor_interval = 0  # no monitor thread (read in tqdm.__new__)

    return Bar


def progress_bar(iterable=None, **kwargs):
    """A ``tqdm.auto`` progress bar over ``iterable`` that starts no monitor thread.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over.
    **kwargs
        Passed to :class:`tqdm.auto.tqdm` (``desc``, ``unit``, ``total``, ``disable``, ``leave``...).

    Returns
    -------
    tqdm.auto.tqdm
        The bar.
    """
    return _bar_class()(iterable, **kwargs)
