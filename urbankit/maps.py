"""Folium maps of urbankit results.

Maps draw in EPSG:4326 whatever CRS the inputs are in, and can be drawn without base-map tiles
(``tiles=None``) for offline reports.
"""

from __future__ import annotations

import logging

import folium
import geopandas as gpd

logger = logging.getLogger(__name__)

#: colours of the six social functions, shared by maps and plots
FUNCTION_COLOURS = {
    "living": "#1b9e77",
    "working": "#7570b3",
    "commerce": "#d95f02",
    "healthcare": "#e7298a",
    "education": "#66a61e",
    "entertainment": "#e6ab02",
}
MODE_COLOURS = {"walk": "#2b8cbe", "bike": "#31a354", "drive": "#de2d26"}


def _base_map(gdf: gpd.GeoDataFrame, *, tiles: str | None) -> folium.Map:
    minx, miny, maxx, maxy = gdf.to_crs("EPSG:4326").total_bounds
    m = folium.Map(tiles=tiles, control_scale=True, prefer_canvas=True)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


def overview_map(
    networks: dict,
    destinations: gpd.GeoDataFrame | None = None,
    population=None,
    *,
    tiles: str | None = "CartoDB positron",
) -> folium.Map:
    """Networks by mode, destinations by function and residents per node on one map.

    Parameters
    ----------
    networks : dict of str to StreetNetwork
        One layer per mode.
    destinations : GeoDataFrame, optional
        From :func:`urbankit.destinations`; one layer per function, coloured as
        :data:`FUNCTION_COLOURS`.
    population : PopulationEstimate, optional
        Residents per node, drawn as circles on the first network's nodes.
    tiles : str or None
        Base map; ``None`` draws no tiles (offline reports).
    """
    first = next(iter(networks.values()))
    m = _base_map(first.edges, tiles=tiles)
    for mode, net in networks.items():
        edges = net.edges[["highway", "name", "length_m", "time_min", "geometry"]].to_crs("EPSG:4326")
        edges.explore(
            m=m,
            color=MODE_COLOURS.get(mode, "#555555"),
            style_kwds={"weight": 2 if mode == "walk" else 3, "opacity": 0.7},
            name=f"{mode} network ({len(net.nodes):,} nodes)",
            tooltip=["highway", "name", "length_m", "time_min"],
            show=mode == next(iter(networks)),
        )
    if population is not None:
        per_node = population.per_node
        pts = first.nodes.loc[per_node.index, ["geometry"]].assign(population=per_node.round(1).to_numpy())
        pts = pts[pts.population > 0].to_crs("EPSG:4326")
        if len(pts):
            pts.explore(
                m=m,
                column="population",
                cmap="Purples",
                marker_kwds={"radius": 3},
                style_kwds={"fillOpacity": 0.8, "stroke": False},
                name=f"residents per node ({population.source})",
                show=False,
            )
    if destinations is not None and len(destinations):
        for function, group in destinations.groupby("function", sort=True):
            group[["service", "function", "name", "geometry"]].to_crs("EPSG:4326").explore(
                m=m,
                color=FUNCTION_COLOURS.get(function, "#333333"),
                marker_kwds={"radius": 4},
                style_kwds={"fillOpacity": 0.9, "weight": 1},
                tooltip=["service", "name"],
                name=f"{function} ({len(group):,})",
            )
    folium.LayerControl(collapsed=False).add_to(m)
    return m
