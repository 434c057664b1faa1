"""Text from the data never becomes markup: hostile OSM names and other values in maps, tables and
the batch index are shown as text.

Folium writes GeoJSON properties into the page as JSON (safe there), but Leaflet shows them with
``innerHTML`` when a tooltip or popup opens, and the layer control shows layer names the same way;
``folium.Tooltip`` puts its text into a JavaScript template literal. These tests rebuild, from the
folium objects of each map, the HTML the browser would parse at that moment (the same string
concatenation folium's templates do) and parse it with :mod:`html.parser`: no element may come from
the data, and the text shown must be the original value, character for character (escaped once, not
twice). ``tests/reporting/test_browser.py`` checks the same in Chromium on the generated reports.
"""

from __future__ import annotations

import html
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote
from xml.sax.saxutils import quoteattr

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import urbankit as uk
from urbankit._html import escape, escape_frame, escape_value
from urbankit.viz import maps

#: a payload for each way text can become code; each records its key in ``top.__pwned`` when it runs
PWN = "(top.__pwned=(top.__pwned||[])).push('{}')"
HOSTILE = {
    "img": "<img src=x onerror=\"" + PWN.format("img") + "\">",
    "script": "<script>" + PWN.format("script") + "</script>",
    "svg": "<svg onload=" + PWN.format("svg").replace("'", "") + ">",
    "close_script": "</script><script>" + PWN.format("close_script") + "</script>",
    "template": "`+${" + PWN.format("template") + "}+`\\",
    "attr": "x' onmouseover='" + PWN.format("attr") + "' y=\"",
    "amp": 'Fish & Chips "&amp;" <b>bold</b> $5',
}
#: what no rendered text may contain unescaped
MARKUP = re.compile(r"<\s*(img|script|svg|b|iframe)\b", re.IGNORECASE)


# ----------------------------------------------------------------------------- synthetic hostile city


def hostile_osm(path: Path, *, blocks: int = 6, block_m: float = 110.0, lonlat=(2.15, 41.38)) -> Path:
    """Write a small OSM XML city with hostile ``name`` tags on streets, destinations and buildings.

    A grid of ``blocks`` x ``blocks`` square blocks: every third street line is a ``secondary``
    road (so superblock detection finds cells), the others ``residential``; one apartment block
    per block; a destination in every other block, of eight services in turn. Street, building
    and destination names each cycle through :data:`HOSTILE` (every name is on some street and
    on some destination).
    """
    lon0, lat0 = lonlat
    dlat = block_m / 111_320.0
    dlon = block_m / (111_320.0 * math.cos(math.radians(lat0)))
    names = list(HOSTILE.values())
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="urbankit-tests">']
    next_id = [1]

    def node(lon, lat, tags=None) -> int:
        i = next_id[0]
        next_id[0] += 1
        body = "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in (tags or {}).items())
        out.append(f'<node id="{i}" version="1" lat="{lat:.7f}" lon="{lon:.7f}">{body}</node>')
        return i

    ways = []

    def way(refs, tags):
        ways.append((refs, tags))

    grid = {(i, j): node(lon0 + i * dlon, lat0 + j * dlat) for i in range(blocks + 1) for j in range(blocks + 1)}
    k = 0
    for line in range(blocks + 1):
        highway = "secondary" if line % 3 == 0 else "residential"
        for refs in ([grid[(i, line)] for i in range(blocks + 1)], [grid[(line, j)] for j in range(blocks + 1)]):
            way(refs, {"highway": highway, "name": names[k % len(names)]})
            k += 1
    services = [
        {"shop": "supermarket"}, {"amenity": "pharmacy"}, {"amenity": "school"}, {"amenity": "restaurant"},
        {"office": "company"}, {"leisure": "playground"}, {"amenity": "doctors"}, {"shop": "clothes"},
    ]
    k = d = 0
    for bi in range(blocks):
        for bj in range(blocks):
            # an apartment block filling the middle of the block
            corners = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.6), (0.2, 0.6)]
            refs = [node(lon0 + (bi + a) * dlon, lat0 + (bj + b) * dlat) for a, b in corners]
            way(refs + refs[:1], {"building": "apartments", "building:levels": "5", "name": names[k % len(names)]})
            if (bi + bj) % 2 == 0:  # a destination near the block's south-west street corner
                tags = dict(services[d % len(services)], name=names[d % len(names)])
                node(lon0 + (bi + 0.1) * dlon, lat0 + (bj + 0.1) * dlat, tags)
                d += 1
            k += 1
    for i, (refs, tags) in enumerate(ways, start=1):
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        body = "".join(f"<tag k={quoteattr(a)} v={quoteattr(b)}/>" for a, b in tags.items())
        out.append(f'<way id="{i}" version="1">{nds}{body}</way>')
    out.append("</osm>")
    path.write_text("\n".join(out), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- what the browser would parse


class _Fragment(HTMLParser):
    """Elements and text of an HTML fragment, as a browser's innerHTML would build them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def parse(fragment: str) -> _Fragment:
    p = _Fragment()
    p.feed(fragment)
    p.close()
    return p


def shown(fragment: str, *, allowed=frozenset()) -> str:
    """The text a browser shows for ``fragment``; fails if it holds an element not in ``allowed``
    or any event-handler attribute."""
    p = parse(fragment)
    extra = [t for t in p.tags if t not in allowed]
    assert not extra, f"markup from the data: {extra} in {fragment!r}"
    handlers = [a for a, _ in p.attrs if a.lower().startswith("on")]
    assert not handlers, f"event handler from the data: {handlers} in {fragment!r}"
    return "".join(p.text)


def _elements(element):
    yield element
    for child in element._children.values():
        yield from _elements(child)


def _template_literal(text: str) -> str:
    """What a JavaScript template literal `...` holding ``text`` evaluates to; fails if ``text``
    would end the literal or interpolate code (the way folium.Tooltip and folium.Popup embed it)."""
    assert "`" not in text and "${" not in text, f"text breaks out of a template literal: {text!r}"
    assert "</script" not in text.lower(), f"text closes the script element: {text!r}"
    return re.sub(r"\\(.)", r"\1", text)


def rendered_texts(m: folium.Map) -> dict[str, list[str]]:
    """Every data-derived text of a folium map as the browser would show it, checked for markup.

    ``tooltip``/``popup``: each feature's GeoJson tooltip or popup table (as folium's template
    builds it), ``tooltip_text``: folium.Tooltip/Popup texts, ``layer``: layer control labels,
    ``legend``: urbankit's legend boxes. (Colour bar captions are drawn with d3's ``.text``: text.)
    """
    got = {"tooltip": [], "popup": [], "tooltip_text": [], "layer": [], "legend": []}
    m.get_root().render()  # fills the layer control and the tooltips' parents
    for el in _elements(m):
        if isinstance(el, (folium.GeoJsonTooltip, folium.GeoJsonPopup)):
            kind = "tooltip" if isinstance(el, folium.GeoJsonTooltip) else "popup"
            for feature in el._parent.data["features"]:
                props = feature["properties"]
                cells = []
                for field, alias in zip(el.fields, el.aliases):
                    value = props.get(field)
                    value = "" if value is None else json.dumps(value) if isinstance(value, (dict, list)) else value
                    if isinstance(value, bool):
                        value = str(value).lower()
                    cells.append(f"<tr><th>{alias}</th><td>{value}</td></tr>")
                got[kind].append(shown("<table>" + "".join(cells) + "</table>", allowed={"table", "tr", "th", "td"}))
        elif isinstance(el, (folium.Tooltip, folium.Popup)):
            text = el.text if isinstance(el, folium.Tooltip) else "".join(
                c.data for c in el.html._children.values() if hasattr(c, "data")
            )
            got["tooltip_text"].append(shown(_template_literal(text), allowed={"div"}))
        elif isinstance(el, folium.LayerControl):
            for name in list(el.base_layers) + list(el.overlays):
                got["layer"].append(shown(" " + name))
        elif isinstance(el, maps._LegendControl):  # urbankit's legend boxes, as Leaflet controls
            got["legend"].append(shown(el.html, allowed={"div", "span", "b"}))
    for el in _elements(m.get_root().html):
        if type(el) is folium.Element and "position:fixed" in el.render():  # urbankit's legend boxes
            got["legend"].append(shown(el.render(), allowed={"div", "span", "b"}))
    return got


def _contains_each(texts: list[str], values) -> None:
    joined = "\n".join(texts)
    missing = [v for v in values if v not in joined]
    assert not missing, f"not shown literally (lost or escaped twice): {missing}"


# ----------------------------------------------------------------------------- the escaping helper


@pytest.mark.parametrize("value", list(HOSTILE.values()) + ["", "plain", "a\\b", "ü € 😀", "&lt;"])
def test_escape_shows_the_text_and_nothing_else(value):
    out = escape(value)
    assert html.unescape(out) == value  # escaped once: the browser shows the original
    assert not re.search(r"[<>\"'`$\\]", out)
    assert shown(f"<td title='{out}'>{out}</td>", allowed={"td"}) == value
    assert _template_literal(out) == out


def test_escape_frame_escapes_text_cells_only():
    frame = gpd.GeoDataFrame(
        {
            "name": [HOSTILE["img"], None, "A & B"],
            "string": pd.array([HOSTILE["script"], pd.NA, "ok"], dtype="string"),
            "category": pd.Categorical([HOSTILE["svg"], "x", HOSTILE["svg"]]),
            "nested": [["<b>", 1], {"k": "<i>"}, b"<s>"],
            "n": [1, 2, 3],
            "f": [0.5, np.nan, 2.0],
        },
        geometry=[shapely.Point(0, 0)] * 3,
        crs="EPSG:4326",
    )
    before = frame.copy()
    out = escape_frame(frame)
    pd.testing.assert_frame_equal(frame, before)  # the input is left alone
    assert out["name"].tolist()[0] == html.escape(HOSTILE["img"])
    assert out["name"].isna().tolist() == [False, True, False]
    assert out["name"].tolist()[2] == "A &amp; B"
    assert out["string"].tolist()[0] == html.escape(HOSTILE["script"]) and pd.isna(out["string"].tolist()[1])
    assert list(out["category"].cat.categories) == sorted(escape(c) for c in frame["category"].cat.categories)
    assert [html.unescape(v) for v in out["nested"]] == [str(v) for v in frame["nested"]]
    pd.testing.assert_series_equal(out["n"], frame["n"])
    pd.testing.assert_series_equal(out["f"], frame["f"])
    assert out.geometry.equals(frame.geometry) and out.crs == frame.crs
    assert escape_value(None) is None and escape_value(3) == 3 and escape_value(True) is True


# ----------------------------------------------------------------------------- maps


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """The hostile city loaded through the public API: extract, walk network, destinations, residents."""
    path = hostile_osm(tmp_path_factory.mktemp("hostile") / "hostile_city.osm")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(uk.settings, "progress", False)
        mp.setattr(uk.settings, "cache_folder", tmp_path_factory.mktemp("hostile-cache"))
        area = uk.load(path)
        walk = uk.build_network(area, "walk", cache=False)
        dest = uk.find_destinations(area)
        pop = uk.population_per_node(walk.nodes, buildings=area.buildings)
        acc = uk.compute_accessibility(walk, dest, minutes=[5, 10], population=pop)
    return {"path": path, "area": area, "walk": walk, "dest": dest, "pop": pop, "acc": acc}


def test_the_hostile_city_carries_the_names(city):
    """Control: the payloads reach the frames the maps draw, unchanged."""
    names = set(HOSTILE.values())
    assert names <= set(city["walk"].edges["name"].dropna())
    assert set(city["dest"]["name"]) == names


@pytest.mark.slow
def test_overview_map_shows_names_as_text(city):
    m = maps.overview_map({"walk": city["walk"]}, city["dest"], city["pop"], tiles=None)
    got = rendered_texts(m)
    _contains_each(got["tooltip"], HOSTILE.values())  # street and destination names, literally
    populated = int((city["pop"].per_node > 0).sum())
    assert len(got["tooltip"]) == len(city["walk"].edges) + len(city["dest"]) + populated
    assert got["layer"]


@pytest.mark.slow  # several seconds on 2 shared cores
def test_overview_map_layer_names_from_data(city):
    """The residents layer is named after the population source (a file name, for one)."""
    pop = uk.PopulationEstimate(per_node=city["pop"].per_node, source=HOSTILE["img"], total=city["pop"].total)
    m = maps.overview_map({"walk": city["walk"]}, city["dest"], pop, tiles=None)
    got = rendered_texts(m)
    _contains_each(got["layer"], [HOSTILE["img"]])


@pytest.mark.parametrize("hex_resolution", [None, 9])
def test_accessibility_map_shows_names_as_text(city, hex_resolution):
    m = maps.accessibility_map(city["acc"], tiles=None, hex_resolution=hex_resolution)
    got = rendered_texts(m)
    _contains_each(got["tooltip"], set(city["dest"]["name"]))
    assert got["legend"] and got["layer"]


def test_isochrone_map_shows_point_ids_as_text(city):
    """Isochrones of points named by the user (ids need not be numbers)."""
    walk = city["walk"]
    xy = walk.nodes.to_crs("EPSG:4326").geometry.iloc[[0, 10]]
    iso = uk.compute_isochrones(walk, gpd.GeoDataFrame(geometry=xy.to_numpy(), crs="EPSG:4326"), [5, 10])
    ids = {0: HOSTILE["template"], 1: HOSTILE["close_script"]}
    iso["point_id"] = iso["point_id"].map(ids)
    m = maps.isochrone_map(iso, tiles=None)
    got = rendered_texts(m)
    _contains_each(got["tooltip"], [HOSTILE["template"], HOSTILE["close_script"]])
    _contains_each(got["tooltip_text"], [f"origin {HOSTILE['template']}", f"origin {HOSTILE['close_script']}"])


@pytest.fixture(scope="module")
def scenario(city):
    """Superblocks of the hostile city (cells between its secondary roads)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(uk.settings, "progress", False)
        return uk.superblocks_scenario(city["path"], method="arterial")


@pytest.mark.parametrize("layer", maps.SUPERBLOCK_LAYERS)
def test_superblocks_map_shows_street_names_as_text(scenario, layer):
    m = maps.superblocks_map(scenario, layer=layer, tiles=None)
    got = rendered_texts(m)
    _contains_each(got["tooltip"], HOSTILE.values())
    assert len(scenario.superblocks) >= 1 and got["layer"]


@pytest.mark.slow  # several seconds on 2 shared cores
def test_network_explore_shows_names_as_text(city):
    m = city["walk"].explore(tiles=None)
    got = rendered_texts(m)
    _contains_each(got["tooltip"], HOSTILE.values())


# ----------------------------------------------------------------------------- tables


def test_repr_html_of_results_escapes_data(city, tmp_path):
    """Rich displays built by urbankit (network, overview, population) escape what comes from data."""
    hostile_file = tmp_path / (HOSTILE["img"] + ".osm")
    hostile_file.write_bytes(city["path"].read_bytes())
    net = uk.build_network(uk.load(hostile_file), "walk", cache=False)
    text = shown(net._repr_html_(), allowed={"table", "caption", "tr", "th", "td"})
    assert hostile_file.name in text


NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


@pytest.mark.parametrize("notebook", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_report_tables_escape_their_cells(notebook):
    """pandas' Styler writes cell text, index and column labels into the page as HTML (escaping is
    opt-in and per axis); DataFrame's HTML escapes them all. The reports show their tables as
    DataFrames."""
    cells = json.loads((NOTEBOOKS / notebook).read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert not re.findall(r"\.style\b[^\n]*", code), f"{notebook} shows a pandas Styler"


def test_report_tables_show_street_names_as_text(scenario):
    """The superblock table lists perimeter street names (OSM data), as the report shows it."""
    table = scenario.superblocks.drop(columns="geometry").round(1)
    assert any(HOSTILE["img"] in s for s in table["perimeter_streets"])
    with pd.option_context("display.max_colwidth", None):  # the report cuts long cells; here every name counts
        page = table._repr_html_()
    text = shown(page.split("</style>", 1)[1], allowed={"div", "table", "thead", "tbody", "tr", "th", "td"})
    _contains_each([text], [s for s in table["perimeter_streets"] if s])


# ----------------------------------------------------------------------------- batch index


def test_batch_index_shows_parameters_errors_and_names_as_text(tmp_path):
    from urbankit.reporting.batch import Entry, write_index

    out = tmp_path / "reports"
    out.mkdir()
    hostile_area = "javascript:" + PWN.format("href")
    entry = Entry(
        area=hostile_area,
        notebook="overview",
        name=HOSTILE["img"],
        parameters={"source": HOSTILE["script"], "modes": [HOSTILE["svg"]], HOSTILE["attr"]: 1},
        status="failed",
        error="KeyError: " + HOSTILE["close_script"],
        note=HOSTILE["amp"],
        failed_cell={"index": 2, "execution_count": HOSTILE["template"], "source": HOSTILE["img"]},
        folder=str(out / hostile_area / "overview" / "x"),
        failed_folder=str(out / hostile_area / "overview" / "x.failed"),
        outputs=[HOSTILE["attr"] + ".csv"],
    )
    page = write_index(out, [entry], title=HOSTILE["script"], config=Path(HOSTILE["img"])).read_text(encoding="utf-8")
    body = page.split("</style>", 1)[1]
    text = shown(
        body,
        allowed={
            "head",
            "title",
            "body",
            "h1",
            "div",
            "code",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
            "span",
            "a",
            "b",
            "pre",
        },
    )
    for value in (HOSTILE["img"], HOSTILE["script"], HOSTILE["close_script"], HOSTILE["amp"], HOSTILE["attr"]):
        assert value in text
    hrefs = [v for a, v in parse(body).attrs if a == "href"]
    assert hrefs and all(not re.match(r"^\s*[a-z][a-z0-9+.-]*:", h, re.IGNORECASE) for h in hrefs), hrefs
    # the links still lead to the files: the report, the data output and run.json of both runs
    expected = [
        Path(entry.folder) / "overview.html",
        Path(entry.folder) / entry.outputs[0],
        Path(entry.folder) / "run.json",
        Path(entry.failed_folder) / "overview.html",
        Path(entry.failed_folder) / "run.json",
    ]
    assert [out / unquote(h) for h in hrefs] == [out / "." / p.relative_to(out) for p in expected]
