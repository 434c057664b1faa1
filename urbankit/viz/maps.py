"""Folium maps of urbankit results.

Maps draw in EPSG:4326 whatever CRS the inputs are in, and can be drawn without base-map tiles
(``tiles=None``) for offline reports.
"""

from __future__ import annotations

import logging

import folium
import geopandas as gpd

from .._errors import InvalidOptionError
from .._html import escape, escape_frame
from .._validate import minutes_label
from .tiles import tiles_problem

logger = logging.getLogger(__name__)

#: default base map of the accessibility and isochrone maps. OpenStreetMap's standard tiles need no
#: key; CartoDB's now warn that they need an API key (xyzservices >= 2025), so they are not the default.
DEFAULT_TILES = "OpenStreetMap"

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
    what = tiles_problem(tiles)
    if what is not None:
        raise InvalidOptionError(
            f"tiles={tiles!r} {what}; folium needs an attribution for custom tiles: give a named provider "
            "(e.g. 'OpenStreetMap', 'OpenTopoMap', see xyzservices.providers) or None for no base map."
        )
    minx, miny, maxx, maxy = gdf.to_crs("EPSG:4326").total_bounds
    m = folium.Map(tiles=tiles, control_scale=True, prefer_canvas=True)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


# Every map below draws its data through _explore or _geojson, which escape the text of the data
# (OSM names, ids, file names) once before folium sees it: folium and Leaflet show feature
# properties in tooltips and layer names in the layer control as HTML (see urbankit._html).


def _explore(frame: gpd.GeoDataFrame, m: folium.Map, *, name: str, tooltip: list[str] | None = None, **kwargs):
    """``frame.explore(m=m, ...)`` with its text cells, the layer name and the tooltip labels escaped."""
    kwargs["tooltip"] = list(tooltip) if tooltip else False
    if tooltip:
        kwargs["tooltip_kwds"] = {"aliases": [escape(c) for c in tooltip]}
    return escape_frame(frame).explore(m=m, name=escape(name), **kwargs)


def _geojson(frame: gpd.GeoDataFrame, *, name: str, fields: list[str], aliases: list[str] | None = None, **kwargs):
    """A :class:`folium.GeoJson` layer of ``frame`` with a tooltip of ``fields``; text escaped as in
    :func:`_explore`."""
    tooltip = None
    if fields:
        tooltip = folium.GeoJsonTooltip(fields=list(fields), aliases=[escape(a) for a in (aliases or fields)])
    return folium.GeoJson(escape_frame(frame), name=escape(name), tooltip=tooltip, **kwargs)


def overview_map(
    networks: dict,
    destinations: gpd.GeoDataFrame | None = None,
    population=None,
    *,
    tiles: str | None = DEFAULT_TILES,
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
        _explore(
            edges,
            m,
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
            _explore(
                pts,
                m,
                column="population",
                cmap="Purples",
                marker_kwds={"radius": 3},
                style_kwds={"fillOpacity": 0.8, "stroke": False},
                name=f"residents per node ({population.source})",
                tooltip=["population"],
                show=False,
            )
    if destinations is not None and len(destinations):
        for function, group in destinations.groupby("function", sort=True):
            _explore(
                group[["service", "function", "name", "geometry"]].to_crs("EPSG:4326"),
                m,
                color=FUNCTION_COLOURS.get(function, "#333333"),
                marker_kwds={"radius": 4},
                style_kwds={"fillOpacity": 0.9, "weight": 1},
                tooltip=["service", "name"],
                name=f"{function} ({len(group):,})",
            )
    folium.LayerControl(collapsed=False).add_to(m)
    return m


# ----------------------------------------------------------------------------- accessibility maps


#: above this many nodes accessibility_map suggests hexagons (the HTML grows ~0.4 kB per node)
_MANY_NODES = 50_000

#: colour of nodes / areas without a value (e.g. beyond the largest threshold)
MISSING_COLOUR = "#9e9e9e"


def _colours(values, cmap: str, vmin: float, vmax: float) -> list[str]:
    """Hex colours of ``values`` on ``cmap`` between vmin and vmax; NaN -> MISSING_COLOUR."""
    import matplotlib
    import numpy as np
    from matplotlib.colors import to_hex

    v = np.asarray(values, dtype=float)
    span = vmax - vmin if vmax > vmin else 1.0
    scaled = np.clip((v - vmin) / span, 0.0, 1.0)
    cm = matplotlib.colormaps[cmap]
    return [MISSING_COLOUR if not np.isfinite(x) else to_hex(cm(s)) for x, s in zip(v, scaled)]


def _colorbar(cmap: str, vmin: float, vmax: float, caption: str):
    import branca.colormap as bc
    import matplotlib
    import numpy as np
    from matplotlib.colors import to_hex

    cm = matplotlib.colormaps[cmap]
    return bc.LinearColormap([to_hex(cm(x)) for x in np.linspace(0, 1, 9)], vmin=vmin, vmax=vmax, caption=caption)


def _legend(m: folium.Map, title: str, items: list[tuple[str, str]]) -> None:
    """A fixed legend box (bottom left) of coloured dots and labels."""
    rows = "".join(
        f"<div><span style='display:inline-block;width:11px;height:11px;border-radius:6px;"
        f"background:{colour};margin-right:6px;border:1px solid #555'></span>{escape(label)}</div>"
        for colour, label in items
    )
    box = (
        "<div style='position:fixed;bottom:28px;left:10px;z-index:9999;background:rgba(255,255,255,0.88);"
        "padding:6px 9px;border-radius:4px;font:12px/1.45 sans-serif;box-shadow:0 0 4px rgba(0,0,0,0.3)'>"
        f"<b>{escape(title)}</b>{rows}</div>"
    )
    m.get_root().html.add_child(folium.Element(box))


def _column_style(acc, column: str, values) -> dict:
    """Colour map, range, caption and missing-value label of an accessibility column."""
    import re

    import numpy as np

    largest = max(acc.minutes)
    minutes_style = {
        "cmap": "viridis_r",
        "vmin": 0.0,
        "vmax": float(largest),
        "missing": f"beyond {largest:g} min",
        "fmt": "{:.1f} min",
    }
    share_style = {"cmap": "YlGnBu", "vmin": 0.0, "vmax": 1.0, "missing": "no data", "fmt": "{:.0%}"}
    if column.startswith("time_") and column.endswith("_min"):
        service = column[len("time_") : -len("_min")]
        nth = re.fullmatch(r"(.+)_(\d+)", service)
        if service not in acc.services and nth and nth.group(1) in acc.services:  # k > 1: time_<S>_<k>_min
            k = int(nth.group(2))
            suffix = {2: "nd", 3: "rd"}.get(k, "th")
            return {**minutes_style, "caption": f"minutes to the {k}{suffix} nearest {nth.group(1).replace('_', ' ')}"}
        return {**minutes_style, "caption": f"minutes to the nearest {service.replace('_', ' ')}"}
    if column == "all_functions_min":
        return {**minutes_style, "caption": "minutes until every function is reached"}
    score = re.fullmatch(r"score_(.+)min", column)
    if score:
        return {**share_style, "caption": f"share of services reached within {score.group(1).replace('_', '.')} min"}
    share = re.fullmatch(r"all_functions_(.+)min_share", column)
    if share:
        return {**share_style, "caption": f"share reaching all functions within {share.group(1).replace('_', '.')} min"}
    v = np.asarray(values, dtype=float)
    finite = v[np.isfinite(v)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    return {
        "cmap": "viridis",
        "vmin": lo,
        "vmax": hi,
        "caption": column.replace("_", " "),
        "missing": "no data",
        "fmt": "{:,.3g}",
    }


def accessibility_map(
    acc,
    column: str | None = None,
    *,
    tiles: str | None = DEFAULT_TILES,
    hex_resolution: int | None = None,
    show_pois: bool = True,
    radius: float = 3.0,
) -> folium.Map:
    """Interactive map of an accessibility result: nodes (or H3 hexagons) coloured by a column.

    Parameters
    ----------
    acc : Accessibility
        From :func:`urbankit.accessibility.accessibility`.
    column : str, optional
        Column to colour by. Default ``score_<largest>min``. Minutes columns (``time_<S>_min``)
        use a sequential colour map from 0 to the largest threshold, with nodes beyond it grey
        ("beyond <max> min"); scores and shares run from 0 to 1; any other numeric column spans its
        values.
    tiles : str or None, default "OpenStreetMap"
        Base map (any folium tiles name); ``None`` draws no tiles (offline reports).
    hex_resolution : int, optional
        Draw H3 hexagons of this resolution (:func:`urbankit.zones.to_hex`, population-weighted)
        instead of nodes; ``column`` must then be a hexagon column (``time_<S>_min``,
        ``score_<M>min``, ``all_functions_<M>min_share``, ``population``...).
    show_pois : bool, default True
        Add the destinations, one layer per function, coloured as :data:`FUNCTION_COLOURS`.
    radius : float, default 3
        Node circle radius in pixels.

    Returns
    -------
    folium.Map
        With a colour bar, a legend (missing values, functions) and a layer control.
    """
    import numpy as np

    from .._errors import InvalidOptionError

    column = column or f"score_{minutes_label(max(acc.minutes))}min"
    if hex_resolution is None:
        data = acc.nodes.copy()
        data["all_functions_min"] = acc.all_functions_minutes()
        data.insert(0, "node_id", data.index.to_numpy())
        what = "nodes"
        if len(data) > _MANY_NODES:
            logger.info(
                "drawing %d node circles makes a heavy map; hex_resolution=9 draws H3 hexagons instead", len(data)
            )
    else:
        from ..zones import to_hex

        data = to_hex(acc, hex_resolution).reset_index()
        what = f"H3 hexagons (resolution {hex_resolution})"
    geom = data.geometry.name
    if column not in data.columns or column == geom:
        choices = [c for c in data.columns if c not in (geom, "node_id", "h3")]
        raise InvalidOptionError(f"column={column!r} is not a column of the {what}; choose one of {choices}.")
    values = data[column]
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
        raise InvalidOptionError(f"column={column!r} is not numeric; choose a minutes, count or score column.")
    values = values.astype(float)
    style = _column_style(acc, column, values)
    keep = ["node_id" if hex_resolution is None else "h3", "population"] + ([] if column == "population" else [column])
    if hex_resolution is not None:
        keep.append("populated")
    layer = data[keep + [geom]].to_crs("EPSG:4326")
    layer["_fill"] = _colours(values, style["cmap"], style["vmin"], style["vmax"])
    layer["value"] = [style["missing"] if not np.isfinite(x) else style["fmt"].format(x) for x in values]
    layer["population"] = layer["population"].round(1)
    if column != "population":
        layer = layer.drop(columns=column)

    m = _base_map(layer, tiles=tiles)
    tooltip = {
        "fields": [keep[0], "value", "population"] + (["populated"] if hex_resolution is not None else []),
        "aliases": [keep[0], column, "residents"] + (["populated"] if hex_resolution is not None else []),
    }
    if hex_resolution is None:
        _geojson(
            layer,
            name=f"{column} ({len(layer):,} nodes)",
            marker=folium.CircleMarker(radius=radius, stroke=False, fill=True, fill_opacity=0.85),
            style_function=lambda f: {"fillColor": f["properties"]["_fill"], "color": f["properties"]["_fill"]},
            **tooltip,
        ).add_to(m)
    else:
        _geojson(
            layer,
            name=f"{column} ({len(layer):,} hexagons)",
            style_function=lambda f: {
                "fillColor": f["properties"]["_fill"],
                "color": "#555555",
                "weight": 0.6,
                "fillOpacity": 0.65 if f["properties"]["populated"] else 0.3,
                "dashArray": None if f["properties"]["populated"] else "3",
            },
            **tooltip,
        ).add_to(m)
    _colorbar(style["cmap"], style["vmin"], style["vmax"], style["caption"]).add_to(m)

    items = []
    if not np.isfinite(values).all():
        items.append((MISSING_COLOUR, style["missing"]))
    if hex_resolution is not None:
        items.append(("#ffffff", "dashed, faint: no residents (node mean)"))
    pois = acc.pois
    if show_pois and len(pois):
        cols = [c for c in ("service", "function", "name", "snap_m") if c in pois.columns]
        for function, group in pois.groupby("function", sort=True):
            colour = FUNCTION_COLOURS.get(function, "#333333")
            _explore(
                group[cols + [pois.geometry.name]].to_crs("EPSG:4326"),
                m,
                color=colour,
                marker_kwds={"radius": 5},
                style_kwds={"fillOpacity": 0.95, "weight": 1, "color": "#222222", "fillColor": colour},
                tooltip=[c for c in ("service", "name") if c in cols],
                name=f"{function} ({len(group):,})",
            )
            items.append((colour, f"{function} destinations"))
    if items:
        _legend(m, "Legend", items)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def isochrone_map(
    iso: gpd.GeoDataFrame,
    *,
    tiles: str | None = DEFAULT_TILES,
    cmap: str = "RdYlGn_r",
    show_points: bool = True,
) -> folium.Map:
    """Interactive map of isochrones (:func:`urbankit.isochrones.isochrones`).

    One layer per threshold, the largest drawn first so the smaller ones stay visible, coloured
    from short (green) to long (red); the origins as black dots; a legend and a layer control.

    Parameters
    ----------
    iso : GeoDataFrame
        With ``minutes`` and polygon geometry (``point_id``, ``area_ha``, ``lon``/``lat`` used
        when present).
    tiles : str or None, default "OpenStreetMap"
        Base map; ``None`` draws no tiles.
    cmap : str, default "RdYlGn_r"
        Matplotlib colour map sampled over the thresholds.
    show_points : bool, default True
        Mark the origins (needs ``lon`` and ``lat`` columns).
    """
    import matplotlib
    import numpy as np
    from matplotlib.colors import to_hex

    from .._errors import CRSError, InvalidOptionError

    if not isinstance(iso, gpd.GeoDataFrame) or "minutes" not in iso.columns:
        raise InvalidOptionError(
            "iso must be the GeoDataFrame returned by urbankit.isochrones (with a 'minutes' column)."
        )
    if iso.crs is None:
        raise CRSError("iso has no CRS; isochrones are returned in EPSG:4326, set it with .set_crs('EPSG:4326').")
    layer = iso.to_crs("EPSG:4326")
    drawn = layer[~layer.geometry.is_empty & layer.geometry.notna()]
    if len(drawn) == 0 and not {"lon", "lat"} <= set(layer.columns):
        raise InvalidOptionError("every isochrone is empty (the points are too far from the network); nothing to map.")
    thresholds = sorted(layer["minutes"].unique())
    cm = matplotlib.colormaps[cmap]
    positions = np.linspace(0.15, 0.85, len(thresholds)) if len(thresholds) > 1 else [0.15]
    colour = {t: to_hex(cm(p)) for t, p in zip(thresholds, positions)}
    if len(drawn):
        m = _base_map(drawn, tiles=tiles)
    else:
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(layer["lon"], layer["lat"]), crs="EPSG:4326")
        m = _base_map(pts.buffer(0.002), tiles=tiles)
    fields = [c for c in ("point_id", "minutes", "area_ha") if c in drawn.columns]
    for t in reversed(thresholds):
        part = drawn[drawn["minutes"] == t]
        if not len(part):
            continue
        cols = fields + [part.geometry.name]
        _geojson(
            part[cols].assign(area_ha=part["area_ha"].round(1)) if "area_ha" in part else part[cols],
            name=f"{t:g} min",
            fields=fields,
            style_function=lambda f, c=colour[t]: {"fillColor": c, "color": c, "weight": 1.2, "fillOpacity": 0.35},
        ).add_to(m)
    if show_points and {"lon", "lat"} <= set(layer.columns):
        group = folium.FeatureGroup(name="origins")
        firsts = layer.drop_duplicates("point_id") if "point_id" in layer else layer
        for row in firsts.itertuples():
            folium.CircleMarker(
                [row.lat, row.lon],
                radius=5,
                color="#000000",
                fill=True,
                fill_opacity=1.0,
                tooltip=escape(f"origin {getattr(row, 'point_id', '')}"),
            ).add_to(group)
        group.add_to(m)
    _legend(m, "Reachable within", [(colour[t], f"{t:g} min") for t in thresholds])
    folium.LayerControl(collapsed=False).add_to(m)
    return m


# ------------------------------------------------------------------------------------------------
# superblocks

SUPERBLOCK_LAYERS = ("candidates", "flow_change", "noise")


def superblocks_map(scenario, *, layer: str = "candidates", tiles: str | None = DEFAULT_TILES) -> folium.Map:
    """A superblock scenario on a map (from :func:`urbankit.superblocks.superblocks_scenario` or
    :func:`~urbankit.superblocks.run_scenario`).

    ``layer``:

    * ``"candidates"``: the candidate cells (area, residents, street area freed) over the streets,
      internal streets highlighted;
    * ``"flow_change"``: change of car flow per street (both directions, veh/day) on a diverging
      scale symmetric around 0 (blue: less traffic, red: more);
    * ``"noise"``: change of the noise level per street (dB, diverging, symmetric around 0);
      see :data:`urbankit.superblocks.CNOSSOS_CAVEAT` (``model="simple"``: :data:`~urbankit.superblocks.NOISE_CAVEAT`).
    """
    import numpy as np

    from .._errors import InvalidOptionError

    if layer not in SUPERBLOCK_LAYERS:
        raise InvalidOptionError(f"layer={layer!r} must be one of {SUPERBLOCK_LAYERS}.")
    edges = scenario.edges.to_crs("EPSG:4326")
    sb = scenario.superblocks.to_crs("EPSG:4326")
    m = _base_map(edges, tiles=tiles)
    cells = sb[["superblock_id", "area_ha", "residents", "internal_street_area_m2", "geometry"]].copy()
    cells["area_ha"] = cells["area_ha"].round(1)
    cells["residents"] = cells["residents"].round(0)
    cells["internal_street_area_m2"] = cells["internal_street_area_m2"].round(0)
    # one line per street: the first row of each (u, v) pair in either direction
    a, b = edges["u"].to_numpy(), edges["v"].to_numpy()
    key = np.where(a < b, a, b).astype(str).astype(object) + "-" + np.where(a < b, b, a).astype(str).astype(object)
    first = ~_pd_duplicated(key)
    streets = edges.loc[
        first,
        [
            "highway",
            "name",
            "superblock_id",
            "role",
            "street_flow_before",
            "street_flow_after",
            "d_noise_db",
            "geometry",
        ],
    ].copy()
    streets["superblock_id"] = streets["superblock_id"].astype("Int64").astype(str)
    streets["street_flow_before"] = streets["street_flow_before"].round(0)
    streets["street_flow_after"] = streets["street_flow_after"].round(0)
    streets["flow_change"] = streets["street_flow_after"] - streets["street_flow_before"]
    streets["d_noise_db"] = streets["d_noise_db"].round(2)
    tip = ["highway", "name", "role", "street_flow_before", "street_flow_after", "flow_change", "d_noise_db"]
    _explore(
        cells,
        m,
        color="#6a3d9a",
        style_kwds={"fillOpacity": 0.25 if layer == "candidates" else 0.05, "weight": 2},
        name=f"superblocks ({len(cells)})",
        tooltip=["superblock_id", "area_ha", "residents", "internal_street_area_m2"],
    )
    if layer == "candidates":
        colour = np.where(
            streets["role"] == "internal", "#33a02c", np.where(streets["role"] == "perimeter", "#e31a1c", "#777777")
        )
        _explore(
            streets.assign(_c=colour),
            m,
            color=None,
            column="_c",
            cmap=None,
            categorical=True,
            legend=False,
            style_kwds={"weight": 3, "opacity": 0.8, "style_function": lambda f: {"color": f["properties"]["_c"]}},
            name="streets",
            tooltip=tip,
        )
        _legend(m, "streets", [("#33a02c", "internal (access only)"), ("#e31a1c", "perimeter"), ("#777777", "other")])
    else:
        col, cap, fmt = (
            ("flow_change", "change of car flow (veh/day, both directions)", "{:+,.0f}")
            if layer == "flow_change"
            else ("d_noise_db", "change of noise level (dB)", "{:+.1f}")
        )
        v = streets[col].to_numpy(float)
        lim = float(np.nanmax(np.abs(v))) if np.isfinite(v).any() and np.nanmax(np.abs(v)) > 0 else 1.0
        streets["_c"] = _colours(v, "RdBu_r", -lim, lim)
        _explore(
            streets,
            m,
            color=None,
            legend=False,
            style_kwds={"weight": 4, "opacity": 0.9, "style_function": lambda f: {"color": f["properties"]["_c"]}},
            name=cap,
            tooltip=tip,
        )
        _colorbar("RdBu_r", -lim, lim, cap).add_to(m)
        del fmt
    folium.LayerControl(collapsed=True).add_to(m)
    return m


def _pd_duplicated(values):
    import pandas as pd

    return pd.Series(values).duplicated().to_numpy()
