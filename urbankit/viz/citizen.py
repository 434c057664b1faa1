"""A page residents can use: click on the map, read the minutes from there to each everyday service.

:func:`citizen_page` writes one self-contained HTML file that works offline: Leaflet is embedded from
the package's offline assets (see :mod:`urbankit.viz.offline`), the street network is drawn from
compact arrays, and a click (or coordinates typed as ``lat, lon``) finds the nearest node and lists,
in plain language, the minutes to each service ("Grocery: 7 min", "Dentist: none in area"), with
the nearest destination of each service marked on the map.

The data are embedded as one JSON document of base64 typed arrays (little-endian), never as one
marker per node:

``lon``, ``lat``
    Int32 node coordinates in 1e-5 degrees (EPSG:4326, rounded to 5 decimals).
``minutes``
    Uint16, one block of ``n_nodes`` values per service (in the order of ``services``): minutes in
    integer tenths (rounded half up), ``65535`` where the service is beyond the largest threshold (or absent).
``nearest``
    Uint16 or Int32 (``index_type``), laid out as ``minutes``: position in ``destinations`` of the
    nearest destination of the service, the largest value of the type where none is within reach.
``dest_lon``, ``dest_lat``
    Int32 destination coordinates in 1e-5 degrees.
``street_xy``, ``street_starts``
    Int32 interleaved lon/lat (1e-5 degrees) of the streets' lines (simplified to 1 m, each street
    once), and the position of each line's first point (one more entry than lines).

Every text from the data (labels, names, title) is escaped: JSON with ``ensure_ascii`` and ``<``,
``>``, ``&`` written ``\\u003c``...; the page's script writes it with ``textContent`` only.
"""

from __future__ import annotations

import base64
import html as html_lib
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import InvalidOptionError
from .labels import service_labels

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_TEXTS", "UNREACHED", "citizen_data", "citizen_page", "decode_array", "render_citizen_page"]

#: the minutes value of a service beyond the largest threshold (or absent)
UNREACHED = 65535

#: the page's words (English); pass ``texts=`` to :func:`citizen_page` to translate them
DEFAULT_TEXTS = {
    "lang": "en",
    "title": "How far is everyday life from your door?",
    "intro": "Click on the map, or type coordinates as \u201clat, lon\u201d, to see how long it takes to reach "
    "each everyday service.",
    "heading": "From here, {mode}:",
    "walk": "on foot",
    "bike": "by bike",
    "drive": "by car",
    "transit": "by public transport",
    "min": "{minutes} min",
    "under_1": "under 1 min",
    "beyond": "beyond {minutes} min",
    "none": "none in area",
    "input_label": "Coordinates (lat, lon)",
    "go": "Show",
    "bad_input": "Type two numbers: latitude, longitude (e.g. 43.7384, 7.4246).",
    "outside": "This point is {metres} m from the nearest street of the analysis; the minutes are from there.",
    "nearest_node": "Minutes from the nearest street point, {metres} m away.",
    "here": "You are here",
    "nearest": "Nearest {label}",
    "source": "Minutes along the street network (OpenStreetMap data). Services more than {minutes} minutes away "
    "are shown as \u201cbeyond {minutes} min\u201d.",
}

#: Leaflet's files, as folium references them (embedded from folium-offline or Debian's libjs-leaflet)
_LEAFLET_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
_LEAFLET_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"


def _b64(values: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode(
        "ascii"
    )


def decode_array(text: str, dtype: str) -> np.ndarray:
    """Decode one array of the page's data (base64 of a little-endian typed array).

    Parameters
    ----------
    text : str
        The base64 text.
    dtype : str
        ``"int32"``, ``"uint16"``...

    Returns
    -------
    numpy.ndarray
        The values.
    """
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)


def _lonlat(gdf) -> tuple[np.ndarray, np.ndarray]:
    geom = gdf.geometry
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        geom = geom.to_crs(4326)
    if len(geom) and not (geom.geom_type == "Point").all():
        geom = geom.representative_point()
    return np.round(geom.x.to_numpy() * 1e5).astype(np.int64), np.round(geom.y.to_numpy() * 1e5).astype(np.int64)


def _nearest_destinations(acc, services: list[str]) -> np.ndarray:
    """Per service and node: position in ``acc.pois`` of the nearest destination, -1 where none is in reach."""
    n, S = len(acc.nodes), len(services)
    out = np.full(n * S, -1, np.int64)
    reach = acc.reach
    if not len(reach) or not len(acc.pois):
        return out.reshape(S, n)
    code = {s: i for i, s in enumerate(services)}
    svc = np.array([code.get(s, -1) for s in acc.pois["service"]], dtype=np.int64)
    dest = reach["dest"].to_numpy().astype(np.int64)
    node = reach["node"].to_numpy().astype(np.int64)
    s_of = svc[dest]
    keep = s_of >= 0
    key = (s_of * n + node)[keep]
    order = np.lexsort((reach["minutes"].to_numpy()[keep], key))
    key, dest = key[order], dest[keep][order]
    first = np.ones(len(key), bool)
    first[1:] = key[1:] != key[:-1]
    out[key[first]] = dest[first]
    return out.reshape(S, n)


def _streets(network, *, tolerance_m: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The streets' lines, once per street (both directions of a two-way street drawn once),
    simplified to ``tolerance_m``: interleaved lon/lat in 1e-5 degrees and each line's first point."""
    import shapely

    edges = network.edges
    if not len(edges) or "geometry" not in edges:
        return np.empty(0, np.int64), np.zeros(1, np.int64)
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    length = np.round(edges["length_m"].to_numpy(float)) if "length_m" in edges else np.zeros(len(edges))
    key = pd.DataFrame({"a": np.minimum(u, v), "b": np.maximum(u, v), "length": length})
    lines = edges.geometry[~key.duplicated().to_numpy()]
    metric = lines.crs is not None and lines.crs.is_projected
    if metric:
        lines = lines.simplify(tolerance_m)
    if lines.crs is not None and not lines.crs.equals("EPSG:4326"):
        lines = lines.to_crs(4326)
    geoms = lines.values
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    counts = np.bincount(index, minlength=len(geoms))
    starts = np.r_[0, np.cumsum(counts)].astype(np.int64)
    return np.round(coords * 1e5).astype(np.int64).ravel(), starts


def citizen_data(acc, *, taxonomy=None) -> dict:
    """The data a citizen page embeds (see the module's description of the arrays).

    Parameters
    ----------
    acc : Accessibility
        The result.
    taxonomy : Taxonomy, str or dict, optional
        Labels from this taxonomy (a translated one) instead of the one of the analysis.

    Returns
    -------
    dict
        JSON-ready: ``mode``, ``max_minutes``, ``services``, ``labels``, ``present`` and the
        base64 arrays ``lon``, ``lat``, ``minutes``, ``nearest``, ``dest_lon``, ``dest_lat``,
        ``street_xy``, ``street_starts`` with ``index_type``.
    """
    services = list(acc.services)
    labels = service_labels(acc, taxonomy=taxonomy)
    lon, lat = _lonlat(acc.nodes)
    times = np.column_stack([acc.nodes[f"time_{s}_min"].to_numpy(float) for s in services]).T if services else (
        np.empty((0, len(acc.nodes)))
    )
    tenths = np.where(np.isfinite(times), np.floor(np.nan_to_num(times, nan=0.0) * 10 + 0.5), UNREACHED)
    tenths = np.clip(tenths, 0, UNREACHED).astype(np.int64)
    nearest = _nearest_destinations(acc, services)
    big = len(acc.pois) >= np.iinfo(np.uint16).max
    index_type = "int32" if big else "uint16"
    nearest = np.where(nearest < 0, np.iinfo(index_type).max if not big else -1, nearest)
    dlon, dlat = _lonlat(acc.pois) if len(acc.pois) else (np.empty(0, np.int64), np.empty(0, np.int64))
    street_xy, street_starts = _streets(acc.network)
    present = set(acc.pois["service"]) if len(acc.pois) else set()
    return {
        "mode": acc.network.mode,
        "max_minutes": float(max(acc.minutes)),
        "services": services,
        "labels": [labels[s] for s in services],
        "present": [s in present for s in services],
        "n_nodes": int(len(acc.nodes)),
        "lon": _b64(lon, "int32"),
        "lat": _b64(lat, "int32"),
        "minutes": _b64(tenths.ravel(), "uint16"),
        "nearest": _b64(nearest.ravel(), index_type),
        "index_type": index_type,
        "dest_lon": _b64(dlon, "int32"),
        "dest_lat": _b64(dlat, "int32"),
        "street_xy": _b64(street_xy, "int32"),
        "street_starts": _b64(street_starts, "int32"),
    }


def _json_script(value) -> str:
    """JSON safe inside a ``<script>`` element: ASCII only, no ``<``, ``>`` or ``&`` (written as
    ``\\u003c``...: no ``</script>`` or ``<!--`` can end or change the element)."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _tiles(tiles) -> dict | None:
    if tiles is None:
        return None
    if isinstance(tiles, str) and tiles.strip().lower() == "openstreetmap":
        return {
            "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "attribution": "&copy; OpenStreetMap contributors",
        }
    import xyzservices

    try:
        provider = xyzservices.providers.query_name(str(tiles))
    except ValueError:
        raise InvalidOptionError(
            f"tiles={tiles!r} is not a tile provider name xyzservices knows; use 'OpenStreetMap', another "
            "xyzservices name (e.g. 'CartoDB.Positron') or None for no base map."
        ) from None
    return {"url": provider.build_url(), "attribution": html_lib.escape(provider.get("attribution", ""))}


def _leaflet() -> tuple[str, str]:
    from .offline import _css, _js, find_asset

    js, css = find_asset(_LEAFLET_JS), find_asset(_LEAFLET_CSS)
    if js is None or css is None:
        raise InvalidOptionError(
            "Leaflet is not available offline: install urbankit's dependency folium-offline "
            "(pip install folium-offline) or Debian's libjs-leaflet, then write the citizen page again."
        )
    return _js(js[0]), _css(css[0])


_STYLE = """
*{box-sizing:border-box}html,body{margin:0;height:100%;font:16px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,sans-serif;color:#222;background:#fff}
#uk-page{display:flex;height:100%}#uk-map{flex:1 1 auto;min-height:320px}
#uk-panel{flex:0 0 360px;overflow:auto;padding:14px 16px;border-left:1px solid #ddd}
#uk-panel h1{font-size:1.2em;margin:0 0 6px}#uk-panel h2{font-size:1.05em;margin:14px 0 6px}
#uk-intro,#uk-note,#uk-source{color:#555;font-size:.9em}
#uk-form{display:flex;gap:6px;flex-wrap:wrap;align-items:end;margin:8px 0}
#uk-form label{font-size:.85em;color:#444;width:100%}
#uk-coords{flex:1 1 160px;font:inherit;padding:6px 8px;border:1px solid #aaa;border-radius:4px}
#uk-go{font:inherit;padding:6px 12px;border:1px solid #2b6cb0;background:#2b6cb0;color:#fff;border-radius:4px}
#uk-list{list-style:none;padding:0;margin:0}
#uk-list li{display:flex;justify-content:space-between;gap:10px;padding:5px 0;border-bottom:1px solid #eee}
#uk-list .uk-time{font-weight:600;white-space:nowrap}#uk-list li.uk-far .uk-time{color:#8a4b00}
#uk-list li.uk-none .uk-time{color:#777;font-weight:400}
.leaflet-container{background:#f2f0eb}.urbankit-no-tiles .leaflet-tile-pane{visibility:hidden}
@media (max-width:760px){#uk-page{flex-direction:column;height:auto}#uk-map{flex:none;height:55vh}
#uk-panel{flex:none;border-left:0;border-top:1px solid #ddd}}
"""

_SCRIPT = r"""
(function(){
'use strict';
var D = JSON.parse(document.getElementById('uk-data').textContent);
var T = JSON.parse(document.getElementById('uk-texts').textContent);
function decode(text, Type){
  var bin = atob(text), bytes = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Type(bytes.buffer);
}
var Index = D.index_type === 'int32' ? Int32Array : Uint16Array;
var NONE = D.index_type === 'int32' ? -1 : 65535;
var lon = decode(D.lon, Int32Array), lat = decode(D.lat, Int32Array);
var minutes = decode(D.minutes, Uint16Array), nearest = decode(D.nearest, Index);
var dlon = decode(D.dest_lon, Int32Array), dlat = decode(D.dest_lat, Int32Array);
var sxy = decode(D.street_xy, Int32Array), starts = decode(D.street_starts, Int32Array);
var n = D.n_nodes, S = D.services.length;
function fill(t, v){ return t.split('{minutes}').join(v); }
function fmtMinutes(tenths){
  var m = Math.round(tenths / 10);
  return m < 1 ? T.under_1 : fill(T.min, String(m));
}
var maxText = String(Math.round(D.max_minutes * 10) / 10);

var map = L.map('uk-map', {preferCanvas: true});
if (D.tiles) {
  var tl = L.tileLayer(D.tiles.url, {attribution: D.tiles.attribution, maxZoom: 19});
  tl.on('tileerror', function(e){
    if (e && e.tile) e.tile.style.visibility = 'hidden';
    map.getContainer().classList.add('urbankit-no-tiles');
  });
  tl.addTo(map);
}
var segs = [];
for (var e = 0; e + 1 < starts.length; e++) {
  var line = [];
  for (var p = starts[e]; p < starts[e + 1]; p++) line.push([sxy[2 * p + 1] / 1e5, sxy[2 * p] / 1e5]);
  if (line.length > 1) segs.push(line);
}
var streets = L.polyline(segs, {color: '#7a7a7a', weight: 1.5, opacity: 0.7, interactive: false}).addTo(map);
if (n) {
  var minLa = Infinity, maxLa = -Infinity, minLo = Infinity, maxLo = -Infinity;
  for (var i = 0; i < n; i++) {
    if (lat[i] < minLa) minLa = lat[i]; if (lat[i] > maxLa) maxLa = lat[i];
    if (lon[i] < minLo) minLo = lon[i]; if (lon[i] > maxLo) maxLo = lon[i];
  }
  map.fitBounds([[minLa / 1e5, minLo / 1e5], [maxLa / 1e5, maxLo / 1e5]]);
} else { map.setView([0, 0], 2); }
L.control.scale({imperial: false}).addTo(map);
var marks = L.layerGroup().addTo(map);

function nearestNode(la, lo){
  var best = -1, bestD = Infinity, k = Math.cos(la * Math.PI / 180);
  var x = lo * 1e5, y = la * 1e5;
  for (var i = 0; i < n; i++) {
    var dx = (lon[i] - x) * k, dy = lat[i] - y, d = dx * dx + dy * dy;
    if (d < bestD) { bestD = d; best = i; }
  }
  return {node: best, metres: Math.sqrt(bestD) * 1.11195};
}

function show(la, lo){
  var found = nearestNode(la, lo), i = found.node;
  if (i < 0) return;
  marks.clearLayers();
  var here = L.circleMarker([la, lo], {radius: 8, color: '#111', weight: 3, fillColor: '#ffd500', fillOpacity: 1});
  here.bindTooltip(document.createTextNode(T.here), {permanent: false});
  marks.addLayer(here);
  var rows = [];
  for (var s = 0; s < S; s++) {
    var t = minutes[s * n + i];
    rows.push({s: s, t: t, kind: !D.present[s] ? 2 : (t === 65535 ? 1 : 0)});
  }
  rows.sort(function(a, b){ return a.kind - b.kind || a.t - b.t || (D.labels[a.s] < D.labels[b.s] ? -1 : 1); });
  var list = document.getElementById('uk-list');
  while (list.firstChild) list.removeChild(list.firstChild);
  rows.forEach(function(r){
    var li = document.createElement('li'), name = document.createElement('span'), time = document.createElement('span');
    li.className = ['uk-near', 'uk-far', 'uk-none'][r.kind];
    li.setAttribute('data-service', D.services[r.s]);
    li.setAttribute('data-tenths', r.kind ? '' : String(r.t));
    name.className = 'uk-label'; time.className = 'uk-time';
    name.textContent = D.labels[r.s];
    time.textContent = r.kind === 2 ? T.none : (r.kind === 1 ? fill(T.beyond, maxText) : fmtMinutes(r.t));
    li.appendChild(name); li.appendChild(time); list.appendChild(li);
    if (r.kind === 0) {
      var d = nearest[r.s * n + i];
      if (d !== NONE && d >= 0 && d < dlon.length) {
        var m = L.circleMarker([dlat[d] / 1e5, dlon[d] / 1e5],
          {radius: 6, color: '#fff', weight: 2, fillColor: '#d1495b', fillOpacity: 0.95});
        var tip = T.nearest.split('{label}').join(D.labels[r.s]) + ': ' + time.textContent;
        m.bindTooltip(document.createTextNode(tip));
        marks.addLayer(m);
      }
    }
  });
  document.getElementById('uk-heading').textContent = T.heading.split('{mode}').join(T[D.mode] || D.mode);
  var note = document.getElementById('uk-note');
  var metres = String(Math.round(found.metres));
  note.textContent = found.metres > 150 ? T.outside.split('{metres}').join(metres)
                                         : T.nearest_node.split('{metres}').join(metres);
  document.getElementById('uk-result').hidden = false;
  window.urbankitCitizen.last = {node: i, lat: la, lon: lo};
}

map.on('click', function(ev){ show(ev.latlng.lat, ev.latlng.lng); });
document.getElementById('uk-form').addEventListener('submit', function(ev){
  ev.preventDefault();
  var parts = document.getElementById('uk-coords').value.split(/[,;\s]+/).filter(function(p){ return p; });
  var la = parseFloat(parts[0]), lo = parseFloat(parts[1]);
  var note = document.getElementById('uk-note');
  if (parts.length !== 2 || !isFinite(la) || !isFinite(lo) || Math.abs(la) > 90 || Math.abs(lo) > 180) {
    note.textContent = T.bad_input; return;
  }
  map.setView([la, lo], Math.max(map.getZoom(), 16));
  show(la, lo);
});
window.urbankitCitizen = {map: map, show: show, nearestNode: nearestNode, streets: streets,
  nodeLatLng: function(i){ return [lat[i] / 1e5, lon[i] / 1e5]; }, n: n};
})();
"""


def render_citizen_page(acc, *, title: str | None = None, taxonomy=None, texts: dict | None = None, tiles=None) -> str:
    """The HTML of a citizen page (see :func:`citizen_page`).

    Parameters
    ----------
    acc : Accessibility
        The result.
    title : str, optional
        Page title; default the ``title`` text.
    taxonomy : Taxonomy, str or dict, optional
        Labels from this taxonomy (a translated one).
    texts : dict, optional
        Words of the page replacing :data:`DEFAULT_TEXTS` (a translation).
    tiles : str or None, optional
        Base map (``"OpenStreetMap"`` or an xyzservices name); None draws the streets only.

    Returns
    -------
    str
        The page.

    Raises
    ------
    InvalidOptionError
        An unknown text key, an unknown tile provider or Leaflet missing offline.
    """
    words = dict(DEFAULT_TEXTS)
    if texts:
        unknown = sorted(set(texts) - set(DEFAULT_TEXTS))
        if unknown:
            raise InvalidOptionError(f"texts: unknown keys {unknown}; the keys are {sorted(DEFAULT_TEXTS)}.")
        words.update({k: str(v) for k, v in texts.items()})
    data = citizen_data(acc, taxonomy=taxonomy)
    data["tiles"] = _tiles(tiles)
    js, css = _leaflet()
    heading = title if title is not None else words["title"]
    esc = html_lib.escape
    mode_words = words.get(acc.network.mode, acc.network.mode)
    return (
        f'<!DOCTYPE html><html lang="{esc(words["lang"])}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(heading)}</title>"
        f"<style>/* Leaflet */\n{css}\n</style><style>{_STYLE}</style>"
        f"<script>/* Leaflet */\n{js}\n</script></head><body>"
        '<div id="uk-page"><div id="uk-map" role="application" aria-label="map"></div>'
        f'<div id="uk-panel"><h1>{esc(heading)}</h1><p id="uk-intro">{esc(words["intro"])}</p>'
        f'<form id="uk-form"><label for="uk-coords">{esc(words["input_label"])}</label>'
        '<input id="uk-coords" inputmode="decimal" autocomplete="off" placeholder="43.7384, 7.4246">'
        f'<button id="uk-go" type="submit">{esc(words["go"])}</button></form>'
        f'<p id="uk-note" aria-live="polite"></p><div id="uk-result" hidden>'
        f'<h2 id="uk-heading">{esc(words["heading"].replace("{mode}", mode_words))}</h2>'
        '<ul id="uk-list"></ul></div>'
        f'<p id="uk-source">{esc(words["source"].replace("{minutes}", f"{max(acc.minutes):g}"))}</p></div></div>'
        f'<script type="application/json" id="uk-data">{_json_script(data)}</script>'
        f'<script type="application/json" id="uk-texts">{_json_script(words)}</script>'
        f"<script>{_SCRIPT}</script></body></html>"
    )


def citizen_page(
    acc, path, *, title: str | None = None, taxonomy=None, texts: dict | None = None, tiles="OpenStreetMap"
) -> Path:
    """Write a page residents can use: click on the map (or type coordinates) to read the minutes
    from there to each service, in plain language; one self-contained HTML file that works offline.

    Parameters
    ----------
    acc : Accessibility
        The result.
    path : str or pathlib.Path
        The HTML file to write (atomically; refused when it is an input file of the analysis).
    title : str, optional
        Page title; default "How far is everyday life from your door?" (the ``title`` text).
    taxonomy : Taxonomy, str or dict, optional
        Service labels from this taxonomy (e.g. a translated one) instead of the analysis's.
    texts : dict, optional
        Words of the page replacing those of :data:`DEFAULT_TEXTS` (a translation): e.g.
        ``{"lang": "fr", "heading": "D'ici, {mode} :", "walk": "à pied", "none": "aucun dans la zone"}``.
    tiles : str or None, default "OpenStreetMap"
        Base map; offline it gives way to a plain background (the streets are always drawn from the
        embedded data). None draws no base map.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    InvalidOptionError
        An unknown text key or tile provider, or Leaflet not available offline.
    """
    from ..io import input_files, refuse_overwriting_inputs, write_bytes_atomic

    path = Path(path)
    refuse_overwriting_inputs(path, input_files(acc), option="path")
    page = render_citizen_page(acc, title=title, taxonomy=taxonomy, texts=texts, tiles=tiles)
    write_bytes_atomic(path, page.encode("utf-8"))
    logger.info("citizen page written to %s (%.0f kB)", path, path.stat().st_size / 1e3)
    return path
