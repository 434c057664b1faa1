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
from .._qgis import FUNCTION_COLOURS_CB
from .._validate import minutes_label
from .tiles import tiles_problem

logger = logging.getLogger(__name__)

#: default base map of the accessibility and isochrone maps. OpenStreetMap's standard tiles need no
#: key; CartoDB's now warn that they need an API key (xyzservices >= 2025), so they are not the default.
DEFAULT_TILES = "OpenStreetMap"

#: colours of the six social functions, shared by maps, plots and the GeoPackages' QGIS styles: the
#: colour-blind-safe Okabe-Ito palette (none of them is a colour of the sequential viridis / YlGnBu
#: scales' dark end), defined once in :mod:`urbankit._qgis` (below viz in the layers)
FUNCTION_COLOURS = FUNCTION_COLOURS_CB
MODE_COLOURS = {"walk": "#2b8cbe", "bike": "#31a354", "drive": "#de2d26"}


class OfflineMap(folium.Map):
    """A :class:`folium.Map` whose :meth:`save` writes a page that works offline: Leaflet, the
    colour bar's d3, the marker-cluster plug-in and the other assets embedded from registry
    packages (as in reports, see :mod:`urbankit.viz.offline`); tiles that cannot be fetched give way
    to a plain background."""

    def save(self, outfile, close_file: bool = True, *, offline: bool = True, **kwargs) -> None:
        """Write the map to an HTML file.

        Parameters
        ----------
        outfile : str, pathlib.Path or file object
            Where to write.
        close_file : bool, default True
            Close a file object after writing (as :meth:`folium.Map.save`).
        offline : bool, default True
            Embed every asset; ``False`` keeps folium's CDN links.
        **kwargs
            Passed to the page's rendering (as :meth:`folium.Map.save`).
        """
        if not offline:
            return super().save(outfile, close_file=close_file, **kwargs)
        from pathlib import Path

        from .offline import make_map_offline

        page = make_map_offline(self.get_root().render(**kwargs))
        if page.dropped:
            logger.warning("the saved map lacks assets no offline source provides: %s", ", ".join(page.dropped))
        if isinstance(outfile, (str, Path)):
            from ..io import write_bytes_atomic

            write_bytes_atomic(Path(outfile), page.html.encode("utf-8"))
        else:
            outfile.write(page.html.encode("utf-8") if "b" in getattr(outfile, "mode", "") else page.html)
            if close_file:
                outfile.close()


def _base_map(gdf: gpd.GeoDataFrame, *, tiles: str | None) -> folium.Map:
    what = tiles_problem(tiles)
    if what is not None:
        raise InvalidOptionError(
            f"tiles={tiles!r} {what}; folium needs an attribution for custom tiles: give a named provider "
            "(e.g. 'OpenStreetMap', 'OpenTopoMap', see xyzservices.providers) or None for no base map."
        )
    minx, miny, maxx, maxy = gdf.to_crs("EPSG:4326").total_bounds
    # maxZoom: the marker clusters need it also when there is no tile layer to set it
    m = OfflineMap(tiles=tiles, control_scale=True, prefer_canvas=True, maxZoom=19)
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
        :data:`FUNCTION_COLOURS`, clustered (they spread out when zoomed in).
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
        # clustered, one selectable layer per function (see accessibility_map)
        items = _destinations(m, destinations, cluster=True)
        _legend(m, "Destinations", items)
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


class _LegendControl(folium.MacroElement):
    """A Leaflet control holding the legend: Leaflet stacks it with the scale bar and the other
    controls of its corner, so it never covers them."""

    _template = __import__("jinja2").Template(
        """{% macro script(this, kwargs) %}
        (function(){
          var legend = L.control({position: {{ this.position|tojson }}});
          legend.onAdd = function() {
            var div = L.DomUtil.create('div', 'urbankit-legend leaflet-control');
            div.innerHTML = {{ this.html|tojson }};
            L.DomEvent.disableClickPropagation(div);
            return div;
          };
          legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}"""
    )

    def __init__(self, html: str, position: str = "bottomleft"):
        super().__init__()
        self._name = "UrbankitLegend"
        self.html = html
        self.position = position


def _swatch(colour: str, kind: str = "dot") -> str:
    if kind == "outline":
        return (
            "<span style='display:inline-block;width:13px;height:11px;margin-right:6px;vertical-align:-1px;"
            f"border:2px dashed {colour};"
            f"background:repeating-linear-gradient(45deg,{colour} 0 1px,transparent 1px 4px)'>"
            "</span>"
        )
    radius = "6px" if kind == "dot" else "1px"
    return (
        f"<span style='display:inline-block;width:11px;height:11px;border-radius:{radius};"
        f"background:{colour};margin-right:6px;border:1px solid #333'></span>"
    )


def _legend(m: folium.Map, title: str, items: list[tuple], *, position: str = "bottomleft") -> None:
    """A legend box of coloured swatches and labels, as a Leaflet control (bottom left by default,
    above the scale bar). ``items``: ``(colour, label)`` or ``(colour, label, kind)`` with kind
    ``"dot"``, ``"square"`` or ``"outline"`` (a dashed, hatched cell)."""
    rows = "".join(
        f"<div>{_swatch(item[0], item[2] if len(item) > 2 else 'dot')}{escape(item[1])}</div>" for item in items
    )
    box = (
        "<div style='background:rgba(255,255,255,0.9);padding:6px 9px;border-radius:4px;"
        "font:12px/1.45 sans-serif;box-shadow:0 0 4px rgba(0,0,0,0.3);max-width:260px'>"
        f"<b>{escape(title)}</b>{rows}</div>"
    )
    _LegendControl(box, position=position).add_to(m)


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


def _middle_minutes(minutes) -> float:
    ordered = sorted(minutes)
    return ordered[(len(ordered) - 1) // 2]


def _layer_frame(acc, column: str, data: gpd.GeoDataFrame, style: dict, key: str, hexes: bool):
    """The drawn frame of one column: id, residents, the formatted value and the fill colour."""
    import numpy as np

    values = data[column].astype(float)
    keep = [key, "population"] + (["populated"] if hexes else [])
    layer = data[keep + [data.geometry.name]].copy()
    layer["_fill"] = _colours(values, style["cmap"], style["vmin"], style["vmax"])
    layer["value"] = [style["missing"] if not np.isfinite(x) else style["fmt"].format(x) for x in values]
    layer["population"] = layer["population"].round(1)
    return layer


def _draw_values(layer, *, name: str, label: str, key: str, hexes: bool, radius: float, show: bool = True):
    fields = [key, "value", "population"] + (["populated"] if hexes else [])
    aliases = [key, label, "residents"] + (["populated"] if hexes else [])
    if not hexes:
        return _geojson(
            layer,
            name=name,
            fields=fields,
            aliases=aliases,
            show=show,
            marker=folium.CircleMarker(radius=radius, stroke=False, fill=True, fill_opacity=0.85),
            style_function=lambda f: {"fillColor": f["properties"]["_fill"], "color": f["properties"]["_fill"]},
        )
    return _geojson(
        layer,
        name=name,
        fields=fields,
        aliases=aliases,
        show=show,
        style_function=lambda f: {
            "fillColor": f["properties"]["_fill"],
            "color": "#555555",
            "weight": 0.6,
            "fillOpacity": 0.7 if f["properties"]["populated"] else 0.3,
            "dashArray": None if f["properties"]["populated"] else "3",
        },
    )


#: explanation of the outlined (hatched) cells of the completeness check
SPARSE_NOTE = "sparsely mapped in OSM: a low score here may be missing data"


def _completeness_layer(acc):
    """Flagged cells of the data completeness check, outlined and hatched, with the reason."""
    comp = getattr(acc, "completeness", None)
    if comp is None or not len(comp) or "flag" not in comp:
        return None
    flagged = comp[comp["flag"] != "ok"]
    if not len(flagged):
        return None
    frame = flagged.reset_index()[["flag", comp.geometry.name]].to_crs("EPSG:4326")
    frame["why"] = [f"{f}: {SPARSE_NOTE}" for f in frame["flag"]]
    group = folium.FeatureGroup(name=escape(f"sparsely mapped cells ({len(frame)})"), show=True)
    _geojson(
        frame[["why", frame.geometry.name]],
        name="sparsely mapped cells",
        fields=["why"],
        aliases=["data check"],
        style_function=lambda f: {"color": "#000000", "weight": 2.5, "dashArray": "6 4", "fillOpacity": 0.0},
    ).add_to(group)
    # hatching: thin diagonal lines clipped to each cell (canvas maps cannot fill with patterns)
    hatch = _hatch_lines(frame)
    if hatch is not None:
        _geojson(
            hatch,
            name="hatching",
            fields=[],
            style_function=lambda f: {"color": "#000000", "weight": 0.8, "opacity": 0.6},
            interactive=False,
        ).add_to(group)
    return group


def _hatch_lines(frame: gpd.GeoDataFrame, *, spacing_m: float = 40.0):
    """Diagonal hatch lines clipped to ``frame``'s polygons (in EPSG:4326), None when there are none."""
    import numpy as np
    import shapely

    metric = frame.to_crs(frame.estimate_utm_crs())
    lines = []
    for poly in metric.geometry:
        minx, miny, maxx, maxy = poly.bounds
        span = (maxx - minx) + (maxy - miny)
        for off in np.arange(-span, span, spacing_m):
            seg = shapely.LineString([(minx + off, miny), (minx + off + span, miny + span)])
            cut = seg.intersection(poly)
            if not cut.is_empty:
                lines.append(cut)
    if not lines:
        return None
    return gpd.GeoDataFrame(geometry=lines, crs=metric.crs).to_crs("EPSG:4326")


#: neutral grey cluster bubbles (the default green/yellow/orange ones look like function colours)
_CLUSTER_ICON = """function(cluster) {
  var n = cluster.getChildCount();
  var size = n < 10 ? 26 : n < 100 ? 32 : 38;
  return L.divIcon({
    html: '<div style="width:' + size + 'px;height:' + size + 'px;border-radius:50%;box-sizing:border-box;'
      + 'background:rgba(255,255,255,0.92);border:2px solid #333;text-align:center;font:bold 11px sans-serif;'
      + 'line-height:' + (size - 4) + 'px;color:#111">' + n + '</div>',
    className: 'urbankit-cluster', iconSize: L.point(size, size)
  });
}"""


class _TooltipPerMarker(folium.MacroElement):
    """Moves a GeoJson layer's tooltip onto each of its markers: in a marker cluster the GeoJson
    group itself is never on the map, and Leaflet opens a group's tooltip only when it is."""

    _template = __import__("jinja2").Template(
        """{% macro script(this, kwargs) %}
        (function(group) {
          var tip = group.getTooltip && group.getTooltip();
          if (!tip) return;
          var content = tip._content, options = tip.options;
          group.unbindTooltip();
          group.eachLayer(function(layer) {
            layer.bindTooltip(typeof content === 'function' ? function() { return content(layer); } : content, options);
          });
        })({{ this._parent.get_name() }});
        {% endmacro %}"""
    )

    def __init__(self):
        super().__init__()
        self._name = "TooltipPerMarker"


#: fewer destinations than this are drawn without clustering
_CLUSTER_MIN = 100


def _destinations(m, pois, *, cluster: bool, labels: dict | None = None) -> list:
    """Destinations, one selectable layer per function; clustered (one folium MarkerCluster with a
    sub-group per function, both plug-ins embedded offline) so they never bury the data, and spread
    out from zoom 17. Returns the legend items."""
    from folium.plugins import FeatureGroupSubGroup, MarkerCluster

    items = []
    cols = [c for c in ("service", "function", "name", "snap_m") if c in pois.columns]
    parent = None
    if cluster and len(pois) >= _CLUSTER_MIN:
        parent = MarkerCluster(
            name="destinations",
            control=False,
            icon_create_function=_CLUSTER_ICON,
            options={"disableClusteringAtZoom": 17, "maxClusterRadius": 50, "showCoverageOnHover": False},
        )
        parent.add_to(m)
    for function, group in pois.groupby("function", sort=True):
        colour = FUNCTION_COLOURS.get(function, "#333333")
        frame = group[cols + [pois.geometry.name]].to_crs("EPSG:4326")
        if labels:
            frame["service"] = [labels.get(s, s) for s in frame["service"]]
        name = f"{function} ({len(group):,})"
        layer = _geojson(
            frame,
            name=name,
            fields=[c for c in ("service", "name") if c in cols],
            marker=folium.CircleMarker(radius=5, weight=1.2, color="#111111", fill=True, fill_opacity=0.95),
            style_function=lambda f, c=colour: {"fillColor": c, "color": "#111111"},
        )
        if parent is not None:
            sub = FeatureGroupSubGroup(parent, name=escape(name))
            layer.add_to(sub)
            _TooltipPerMarker().add_to(layer)
            sub.add_to(m)
        else:
            layer.add_to(m)
        items.append((colour, f"{function} destinations"))
    return items


def accessibility_map(
    acc,
    column: str | None = None,
    *,
    tiles: str | None = DEFAULT_TILES,
    hex_resolution: int | None = None,
    show_pois: bool = True,
    radius: float = 3.0,
    service_layers: bool | list | None = None,
    cluster_pois: bool = True,
    show_completeness: bool = True,
) -> folium.Map:
    """Interactive map of an accessibility result: nodes (or H3 hexagons) coloured by a column.

    Parameters
    ----------
    acc : Accessibility
        From :func:`urbankit.accessibility.accessibility`.
    column : str, optional
        Column to colour by. Default ``score_<middle>min`` (the middle threshold: 15 of 10, 15, 30).
        Minutes columns (``time_<S>_min``) use a sequential colour map from 0 to the largest
        threshold, with nodes beyond it grey ("beyond <max> min"); scores and shares run from 0 to
        1; any other numeric column spans its values. All scales are sequential and colour-blind safe.
    tiles : str or None, default "OpenStreetMap"
        Base map (any folium tiles name); ``None`` draws no tiles (offline reports).
    hex_resolution : int, optional
        Draw H3 hexagons of this resolution (:func:`urbankit.zones.to_hex`, population-weighted)
        instead of nodes; ``column`` must then be a hexagon column (``time_<S>_min``,
        ``score_<M>min``, ``all_functions_<M>min_share``, ``population``...).
    show_pois : bool, default True
        Add the destinations, one selectable layer per function, coloured as :data:`FUNCTION_COLOURS`.
    radius : float, default 3
        Node circle radius in pixels.
    service_layers : bool or list of str, optional
        Add a hidden, selectable layer of minutes to each service (or to the services listed).
        Default: every service on hexagons, none on nodes (each node layer adds ~0.4 kB per node).
    cluster_pois : bool, default True
        Cluster the destinations (they spread out when zoomed in) when there are 100 or more.
    show_completeness : bool, default True
        Outline and hatch the cells the data completeness check flags (``acc.completeness``),
        with the explanation in the legend and tooltip.

    Returns
    -------
    OfflineMap
        A :class:`folium.Map` whose ``save()`` works offline, with a colour bar, a legend (missing
        values, flagged cells, functions) and a layer control.

    Raises
    ------
    InvalidOptionError
        An unknown or non-numeric column or service, or an invalid ``hex_resolution``.
    """
    import numpy as np

    from .labels import service_labels

    column = column or f"score_{minutes_label(_middle_minutes(acc.minutes))}min"
    hexes = hex_resolution is not None
    if not hexes:
        data = acc.nodes.copy()
        data["all_functions_min"] = acc.all_functions_minutes()
        data.insert(0, "node_id", data.index.to_numpy())
        what, key = "nodes", "node_id"
        if len(data) > _MANY_NODES:
            logger.info(
                "drawing %d node circles makes a heavy map; hex_resolution=9 draws H3 hexagons instead", len(data)
            )
    else:
        from ..zones import to_hex

        data = to_hex(acc, hex_resolution).reset_index()
        what, key = f"H3 hexagons (resolution {hex_resolution})", "h3"
    geom = data.geometry.name
    if column not in data.columns or column == geom:
        choices = [c for c in data.columns if c not in (geom, "node_id", "h3")]
        raise InvalidOptionError(f"column={column!r} is not a column of the {what}; choose one of {choices}.")
    if not (np.issubdtype(data[column].dtype, np.number) or data[column].dtype == bool):
        raise InvalidOptionError(f"column={column!r} is not numeric; choose a minutes, count or score column.")
    if service_layers is None:
        service_layers = hexes
    chosen = list(acc.services) if service_layers is True else list(service_layers or [])
    unknown = [s for s in chosen if s not in acc.services]
    if unknown:
        raise InvalidOptionError(
            f"service_layers {unknown} are not services of this result; choose from {acc.services}."
        )
    data = data.to_crs("EPSG:4326")
    values = data[column].astype(float)
    style = _column_style(acc, column, values)
    m = _base_map(data, tiles=tiles)
    unit = "nodes" if not hexes else "hexagons"
    _draw_values(
        _layer_frame(acc, column, data, style, key, hexes),
        name=f"{column} ({len(data):,} {unit})",
        label=column,
        key=key,
        hexes=hexes,
        radius=radius,
    ).add_to(m)
    if style["fmt"] == "{:.0%}":  # shares: the colour bar reads in percent
        _colorbar(style["cmap"], 100 * style["vmin"], 100 * style["vmax"], style["caption"] + " (%)").add_to(m)
    else:
        _colorbar(style["cmap"], style["vmin"], style["vmax"], style["caption"]).add_to(m)
    labels = service_labels(acc)
    items = []
    if not np.isfinite(values).all():
        items.append((MISSING_COLOUR, style["missing"], "square"))
    for s in chosen:
        col = f"time_{s}_min"
        if col == column:
            continue
        s_style = _column_style(acc, col, data[col])
        group = folium.FeatureGroup(name=escape(f"minutes to: {labels[s]}"), show=False)
        _draw_values(
            _layer_frame(acc, col, data, s_style, key, hexes),
            name=f"minutes to {labels[s]}",
            label=f"minutes to {labels[s]}",
            key=key,
            hexes=hexes,
            radius=radius,
        ).add_to(group)
        group.add_to(m)
    if chosen:
        items.append(
            ("#ffffff", f"minutes layers: 0-{max(acc.minutes):g} min on the same scale, grey beyond", "square")
        )
    if hexes:
        items.append(("#ffffff", "dashed, faint: no residents (node mean)", "square"))
    if show_completeness:
        flagged = _completeness_layer(acc)
        if flagged is not None:
            flagged.add_to(m)
            items.append(("#000000", SPARSE_NOTE, "outline"))
    if show_pois and len(acc.pois):
        items += _destinations(m, acc.pois, cluster=cluster_pois, labels=labels)
    if items:
        _legend(m, "Legend", items)
    folium.LayerControl(collapsed=len(chosen) > 4).add_to(m)
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
