"""Data completeness: where a low score may come from missing OSM data rather than missing services."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from .._errors import InvalidOptionError
from ..network.street import StreetNetwork
from ..zones import h3_cells, hex_polygons


def data_completeness(
    network: StreetNetwork,
    destinations: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    resolution: int = 8,
    min_pois_per_km: float = 2.0,
    min_buildings_per_km: float = 2.0,
) -> gpd.GeoDataFrame:
    """Flag areas whose OSM data looks too sparse to judge (H3 cells).

    A low score can come from missing OSM data rather than missing services. Per H3 cell (default
    resolution 8, about 0.7 km2): street length, destinations and buildings per km of street, and
    ``flag``: ``"few POIs"`` below ``min_pois_per_km``, ``"few buildings"`` below
    ``min_buildings_per_km`` (only when ``buildings`` are given), ``"ok"`` otherwise. The defaults
    are conservative: a well-mapped city centre has many POIs per km of street (Helsinki centre: 16,
    Monaco: 6 on the walk network; the 2012 Barcelona extract: 1), and even large perimeter blocks
    give several buildings per km (Helsinki centre: 4.6).

    Parameters
    ----------
    network : StreetNetwork
        Its edges give the street length of each cell (a drive network's two directions count once).
    destinations : geopandas.GeoDataFrame
        From :func:`urbankit.destinations`.
    buildings : geopandas.GeoDataFrame, optional
        ``OSMExtract.buildings``; without them no building flag is set.
    resolution : int, default 8
        H3 resolution of the cells, 0..15.
    min_pois_per_km : float, default 2.0
        Destinations per km of street below which a cell is flagged ``"few POIs"``.
    min_buildings_per_km : float, default 2.0
        Buildings per km of street below which a cell is flagged ``"few buildings"``.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``h3`` (cells with streets), EPSG:4326 hexagons: ``street_km``, ``pois``,
        ``pois_per_km`` (and ``buildings``, ``buildings_per_km``) and ``flag`` (``"ok"``, ``"few POIs"``,
        ``"few buildings"`` or ``"few POIs and buildings"``).

    Raises
    ------
    InvalidOptionError
        ``resolution`` is not 0..15.
    """
    if not 0 <= resolution <= 15:
        raise InvalidOptionError(f"resolution={resolution!r} must be an H3 resolution 0..15.")
    mid = network.edges.geometry.interpolate(0.5, normalized=True).to_crs("EPSG:4326")
    cell_e = h3_cells(mid.x.to_numpy(), mid.y.to_numpy(), resolution)
    street_km = pd.Series(network.edges["length_m"].to_numpy() / 1000.0).groupby(cell_e).sum()
    if network.directed:  # both directions of a two-way street are one street (approximately)
        street_km = street_km / 2.0
    frame = pd.DataFrame({"street_km": street_km})

    def count(gdf):
        if gdf is None or len(gdf) == 0:
            return pd.Series(dtype=float)
        pts = gdf.geometry.representative_point().to_crs("EPSG:4326")
        cells = h3_cells(pts.x.to_numpy(), pts.y.to_numpy(), resolution)
        return pd.Series(1, index=cells).groupby(level=0).sum()

    frame["pois"] = count(destinations).reindex(frame.index).fillna(0)
    frame["pois_per_km"] = frame["pois"] / frame["street_km"]
    flag = np.where(frame["pois_per_km"] < min_pois_per_km, "few POIs", "ok")
    if buildings is not None:
        frame["buildings"] = count(buildings).reindex(frame.index).fillna(0)
        frame["buildings_per_km"] = frame["buildings"] / frame["street_km"]
        few_b = frame["buildings_per_km"] < min_buildings_per_km
        flag = np.where(few_b & (flag == "ok"), "few buildings", np.where(few_b, "few POIs and buildings", flag))
    frame["flag"] = flag

    geoms = hex_polygons(frame.index)
    frame.index.name = "h3"
    return gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:4326")
