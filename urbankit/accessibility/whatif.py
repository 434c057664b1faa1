"""What-if edits of an accessibility result: add or remove destinations and recompute exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

if TYPE_CHECKING:  # the result module builds WhatIf: import for annotations only
    from .result import Accessibility


@dataclass(repr=False)
class WhatIf:
    """Before and after of a scenario (from :meth:`Accessibility.what_if`).

    Parameters
    ----------
    before, after : Accessibility
        The analysis before and after the change (same nodes, thresholds and services).
    """

    before: Accessibility
    after: Accessibility

    def __repr__(self) -> str:
        return (
            f"WhatIf(pois {len(self.before.pois):,} -> {len(self.after.pois):,}, "
            f"edges {len(self.before.network.edges):,} -> {len(self.after.network.edges):,})"
        )

    def diff(self) -> gpd.GeoDataFrame:
        """Per node: after minus before for every time, count and score column.

        Returns
        -------
        geopandas.GeoDataFrame
            Indexed like the nodes: ``population``, ``d_<column>`` per time, count and score column
            (NaN where either side is NaN) and ``reached_<S>`` per service (+1: newly within the
            largest threshold, -1: no longer).
        """
        b, a = self.before.nodes, self.after.nodes
        cols = [c for c in b.columns if c.startswith(("time_", "n_", "score_", "functions_"))]
        data = {"population": b["population"].to_numpy()}
        for c in cols:
            data[f"d_{c}"] = a[c].to_numpy() - b[c].to_numpy()
        for s in self.before.services:
            col = f"time_{s}_min"
            reached_after, reached_before = np.isfinite(a[col].to_numpy()), np.isfinite(b[col].to_numpy())
            data[f"reached_{s}"] = reached_after.astype(int) - reached_before.astype(int)
        return gpd.GeoDataFrame(pd.DataFrame(data, index=b.index), geometry=b.geometry, crs=b.crs)

    def summary(self) -> pd.DataFrame:
        """Population-weighted shares before and after, side by side, with the change.

        Returns
        -------
        pandas.DataFrame
            The ``within_<M>min`` columns of :meth:`Accessibility.summary` under ``before``,
            ``after`` and ``change`` (after minus before).
        """
        b, a = self.before.summary(), self.after.summary()
        share_cols = [c for c in b.columns if c.startswith("within_")]
        parts = {"before": b[share_cols], "after": a[share_cols], "change": a[share_cols] - b[share_cols]}
        out = pd.concat(parts, axis=1)
        return out

    def hex(self, resolution: int = 9) -> gpd.GeoDataFrame:
        """H3 cells before and after (population-weighted minutes), with the change.

        Parameters
        ----------
        resolution : int, default 9
            H3 resolution.

        Returns
        -------
        geopandas.GeoDataFrame
            The cells of the before analysis: ``geometry``, ``population`` and ``d_<column>`` (after
            minus before) per time and score column.
        """
        hb, ha = self.before.hex(resolution), self.after.hex(resolution)
        num = [c for c in hb.columns if c.startswith("time_") or c.startswith("score_")]
        out = hb[["geometry"] + [c for c in ("population",) if c in hb.columns]].copy()
        for c in num:
            out[f"d_{c}"] = ha[c].reindex(hb.index).to_numpy() - hb[c].to_numpy()
        return out
