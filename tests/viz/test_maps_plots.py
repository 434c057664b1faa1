"""Accessibility and isochrone maps (folium) and charts (matplotlib), offline."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import folium
import matplotlib.pyplot as plt
import numpy as np
import pytest

from urbankit._errors import CRSError, InvalidOptionError
from urbankit.accessibility.isochrones import compute_isochrones
from urbankit.viz.maps import FUNCTION_COLOURS, MISSING_COLOUR, _colours, accessibility_map, isochrone_map
from urbankit.viz.plots import cumulative_share, plot_minutes_histogram, plot_resident_share, plot_scores
from urbankit.zones import to_hex


@pytest.fixture(scope="module")
def acc(monaco_walk_accessibility):
    """Monaco, walk, residents from OSM buildings (most nodes have none: both hexagon kinds occur)."""
    return monaco_walk_accessibility


@pytest.fixture(scope="module")
def bare(acc):
    """The same result without residents."""
    return dataclasses.replace(acc, nodes=acc.nodes.assign(population=0.0))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def geojson_layers(m: folium.Map) -> dict:
    return {child.layer_name: child for child in m._children.values() if isinstance(child, folium.GeoJson)}


def features(layer: folium.GeoJson) -> list:
    return layer.data["features"]


# ------------------------------------------------------------------------------------------------ maps


def test_map_colours_nodes_by_score(acc):
    m = accessibility_map(acc, "score_30min", tiles=None)
    assert isinstance(m, folium.Map)
    layers = geojson_layers(m)
    node_layer = layers[f"score_30min ({len(acc.nodes):,} nodes)"]
    feats = features(node_layer)
    assert len(feats) == len(acc.nodes)
    # colours follow the score on a fixed 0..1 scale
    want = _colours(acc.nodes["score_30min"], "YlGnBu", 0.0, 1.0)
    assert [f["properties"]["_fill"] for f in feats] == want
    html = m.get_root().render()
    assert "share of services reached within 30 min" in html  # colour bar caption
    for function in acc.function_names:
        assert f"{function} destinations" in html
        assert FUNCTION_COLOURS[function] in html
    assert "LayerControl" in html or "L.control.layers" in html
    assert "tile.openstreetmap" not in html  # tiles=None: offline


def test_default_layer_is_the_score_at_the_middle_threshold(acc):
    """Not the saturated largest-threshold score: the middle threshold (15 of 10, 15, 30)."""
    m = accessibility_map(acc, tiles=None, show_pois=False)
    layers = geojson_layers(m)
    assert list(layers) == [f"score_15min ({len(acc.nodes):,} nodes)"]
    feats = features(layers[f"score_15min ({len(acc.nodes):,} nodes)"])
    assert [f["properties"]["_fill"] for f in feats] == _colours(acc.nodes["score_15min"], "YlGnBu", 0.0, 1.0)
    html = m.get_root().render()
    assert "share of services reached within 15 min (%)" in html  # the colour bar reads in percent
    bar = next(c for c in m._children.values() if type(c).__name__ == "LinearColormap")
    assert (bar.vmin, bar.vmax) == (0.0, 100.0)


def _groups(m) -> dict:
    return {c.layer_name: c for c in m._children.values() if type(c) is folium.FeatureGroup}


@pytest.mark.slow  # several seconds on 2 shared cores
def test_service_layers_selectable_on_hexagons(acc):
    from urbankit.viz.labels import service_labels

    m = accessibility_map(acc, hex_resolution=9, tiles=None, show_pois=False)
    labels = service_labels(acc)
    groups = _groups(m)
    want = {f"minutes to: {labels[s]}" for s in acc.services}
    assert want <= set(groups)
    hexes = to_hex(acc, 9)
    for s in ("grocery", "university"):
        group = groups[f"minutes to: {labels[s]}"]
        assert group.show is False  # selectable, hidden at first
        layer = next(c for c in group._children.values() if isinstance(c, folium.GeoJson))
        fills = [f["properties"]["_fill"] for f in features(layer)]
        assert fills == _colours(hexes[f"time_{s}_min"], "viridis_r", 0.0, 30.0)
    # on nodes, per-service layers only when asked for
    assert not any(n.startswith("minutes to") for n in _groups(accessibility_map(acc, tiles=None, show_pois=False)))
    some = accessibility_map(acc, tiles=None, show_pois=False, service_layers=["grocery"])
    assert [n for n in _groups(some) if n.startswith("minutes to")] == [f"minutes to: {labels['grocery']}"]
    with pytest.raises(InvalidOptionError, match="service_layers"):
        accessibility_map(acc, tiles=None, service_layers=["nope"])


def test_destinations_are_clustered_by_function(acc):
    from folium.plugins import FeatureGroupSubGroup, MarkerCluster

    m = accessibility_map(acc, tiles=None)
    clusters = [c for c in m._children.values() if isinstance(c, MarkerCluster)]
    subs = [c for c in m._children.values() if isinstance(c, FeatureGroupSubGroup)]
    assert len(clusters) == 1
    assert sorted(s.layer_name.split(" (")[0] for s in subs) == acc.function_names
    drawn = sum(len(features(next(iter(s._children.values())))) for s in subs)
    assert drawn == len(acc.pois)
    assert not any(isinstance(c, folium.GeoJson) and "destinations" in c.layer_name for c in m._children.values())
    flat = accessibility_map(acc, tiles=None, cluster_pois=False)
    assert not [c for c in flat._children.values() if isinstance(c, MarkerCluster)]


def test_function_colours_are_colour_blind_safe_and_distinct_from_the_scales():
    """Okabe-Ito colours; none is close to a colour of the sequential scales' dark (purple/navy) end."""
    import matplotlib
    from matplotlib.colors import to_rgb

    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
    assert set(FUNCTION_COLOURS.values()) <= okabe_ito
    dark_ends = [to_rgb(matplotlib.colormaps[c](x)) for c in ("YlGnBu", "viridis_r") for x in (0.85, 1.0)]
    for colour in FUNCTION_COLOURS.values():
        rgb = np.array(to_rgb(colour))
        assert min(np.abs(rgb - np.array(d)).sum() for d in dark_ends) > 0.4, colour


def test_completeness_flags_are_drawn_with_their_explanation(acc):
    import geopandas as gpd

    from urbankit.viz.maps import SPARSE_NOTE

    cells = to_hex(acc, 8)
    flags = np.where(np.arange(len(cells)) == 0, "few POIs", "ok")
    comp = gpd.GeoDataFrame({"flag": flags}, geometry=cells.geometry.to_numpy(), crs=cells.crs, index=cells.index)
    flagged = dataclasses.replace(acc, completeness=comp)
    m = accessibility_map(flagged, tiles=None, show_pois=False)
    group = _groups(m)["sparsely mapped cells (1)"]
    outline = next(c for c in group._children.values() if c.layer_name == "sparsely mapped cells")
    assert len(features(outline)) == 1
    assert features(outline)[0]["properties"]["why"] == f"few POIs: {SPARSE_NOTE}"
    style = outline.style_function(features(outline)[0])
    assert style["dashArray"] and style["fillOpacity"] == 0  # outlined (and hatched), the data stays visible
    hatch = next(c for c in group._children.values() if c.layer_name == "hatching")
    assert len(features(hatch)) > 3
    assert SPARSE_NOTE in m.get_root().render()  # in the legend
    assert "sparsely mapped cells" not in "".join(_groups(accessibility_map(acc, tiles=None, show_pois=False)))


def test_legend_is_a_leaflet_control_beside_the_scale_bar(acc):
    """The legend is a control of the bottom-left corner, stacked with the scale bar by Leaflet (a fixed
    box would cover the scale bar)."""
    from urbankit.viz.maps import _LegendControl

    m = accessibility_map(acc, "time_university_min", tiles=None)
    legends = [c for c in m._children.values() if isinstance(c, _LegendControl)]
    assert len(legends) == 1 and legends[0].position == "bottomleft"
    html = m.get_root().render()
    assert "position:fixed" not in html
    assert "L.control({position: \"bottomleft\"})" in html


@pytest.mark.slow  # several seconds on 2 shared cores
def test_saved_explore_map_works_offline(acc, tmp_path):
    from urbankit.viz.offline import NO_TILES_NOTE, external_references

    path = tmp_path / "map.html"
    acc.explore(hex_resolution=9).save(path)  # default tiles: they fail offline, the rest must not
    page = path.read_text(encoding="utf-8")
    assert external_references(page) == []
    assert "Leaflet" in page and "L.map(" in page
    assert "MarkerClusterGroup" in page and "featureGroup.subGroup" in page  # plug-ins embedded
    assert NO_TILES_NOTE in page  # the tile-error fallback
    online = tmp_path / "online.html"
    acc.explore(hex_resolution=9).save(online, offline=False)
    assert any("leaflet" in u for u in external_references(online.read_text(encoding="utf-8")))


def test_minutes_map_greys_nodes_beyond_the_largest_threshold(acc):
    m = acc.explore("time_university_min", tiles=None, show_pois=False)
    feats = features(next(iter(geojson_layers(m).values())))
    t = acc.nodes["time_university_min"].to_numpy()
    fills = np.array([f["properties"]["_fill"] for f in feats])
    values = np.array([f["properties"]["value"] for f in feats])
    assert np.isnan(t).any() and (~np.isnan(t)).any()
    assert (fills[np.isnan(t)] == MISSING_COLOUR).all()
    assert (fills[~np.isnan(t)] != MISSING_COLOUR).all()
    assert (values[np.isnan(t)] == "beyond 30 min").all()
    # short trips and long trips get different colours on a 0..30 min scale
    assert _colours([0.0], "viridis_r", 0, 30) != _colours([30.0], "viridis_r", 0, 30)
    html = m.get_root().render()
    assert "beyond 30 min" in html and "minutes to the nearest university" in html
    assert "destinations" not in html  # show_pois=False
    assert len(geojson_layers(m)) == 1


def test_hex_map(acc):
    m = accessibility_map(acc, "time_grocery_min", hex_resolution=9, tiles=None)
    hexes = to_hex(acc, 9)
    layer = next(layer for name, layer in geojson_layers(m).items() if "hexagons" in name)
    feats = features(layer)
    assert len(feats) == len(hexes)
    assert {f["geometry"]["type"] for f in feats} == {"Polygon"}
    assert [f["properties"]["h3"] for f in feats] == list(hexes.index)
    assert [f["properties"]["_fill"] for f in feats] == _colours(hexes["time_grocery_min"], "viridis_r", 0.0, 30.0)
    # default column on hexagons
    assert accessibility_map(acc, hex_resolution=8, tiles=None, show_pois=False) is not None


@pytest.mark.slow  # several seconds on 2 shared cores
def test_other_columns_and_tiles(acc):
    m = accessibility_map(acc, "population", show_pois=False)  # default tiles
    assert "openstreetmap" in m.get_root().render().lower()
    feats = features(next(iter(geojson_layers(m).values())))
    assert len(feats) == len(acc.nodes)
    accessibility_map(acc, "n_grocery_15min", tiles=None, show_pois=False)
    accessibility_map(acc, "all_functions_min", tiles=None, show_pois=False)
    accessibility_map(acc, "all_functions_15min_share", hex_resolution=9, tiles=None, show_pois=False)


def test_map_errors(acc):
    with pytest.raises(InvalidOptionError, match="choose one of"):
        accessibility_map(acc, "time_nope_min", tiles=None)
    with pytest.raises(InvalidOptionError, match="hexagons"):
        accessibility_map(acc, "n_grocery_15min", hex_resolution=9, tiles=None)
    with pytest.raises(InvalidOptionError, match="0 to 15"):
        accessibility_map(acc, hex_resolution=99, tiles=None)


@pytest.mark.parametrize(
    "tiles, fragment",
    [("https://tiles.example/{z}/{x}/{y}.png", "is a custom tile URL"), ("NoSuchProvider", "not a tile provider")],
)
def test_tiles_folium_cannot_draw_are_refused_with_the_fix(acc, tiles, fragment):
    """folium itself refuses these (a ValueError from inside it); urbankit says what to pass instead."""
    import folium

    with pytest.raises(ValueError):
        folium.Map(tiles=tiles)
    with pytest.raises(InvalidOptionError, match=fragment) as info:
        accessibility_map(acc, tiles=tiles, show_pois=False)
    assert "named provider" in str(info.value) and "None" in str(info.value)


def test_colours_helper():
    got = _colours([0.0, 0.5, 1.0, np.nan, 2.0, -1.0], "viridis", 0.0, 1.0)
    assert got[3] == MISSING_COLOUR
    assert got[0] == got[5] and got[2] == got[4]  # clipped to the range
    assert len(set(got[:3])) == 3


def test_isochrone_map(acc):
    iso = compute_isochrones(acc.network, [(7.4246, 43.7384), (7.42, 43.735)], minutes=[5, 10])
    m = isochrone_map(iso, tiles=None)
    layers = geojson_layers(m)
    assert list(layers) == ["10 min", "5 min"]  # largest drawn first, smaller on top
    assert len(features(layers["5 min"])) == 2
    html = m.get_root().render()
    assert "Reachable within" in html and "origins" in html
    with pytest.raises(InvalidOptionError):
        isochrone_map(iso.drop(columns="minutes"))
    with pytest.raises(CRSError):
        isochrone_map(iso.set_crs(None, allow_override=True))


# ------------------------------------------------------------------------------------------------ plots


def test_cumulative_share_matches_minutes_distribution(acc):
    w = acc.nodes["population"].to_numpy()
    for service in ("grocery", "university", None):
        t = acc.all_functions_minutes().to_numpy() if service is None else acc.nodes[f"time_{service}_min"].to_numpy()
        x, y = cumulative_share(t, w, 30)
        dist = acc.minutes_distribution(service, step=0.5)
        # the step curve evaluated on the grid
        on_grid = y[np.searchsorted(x, dist["minutes"].to_numpy(), side="right") - 1]
        np.testing.assert_allclose(on_grid, dist["share_of_residents"], atol=1e-12)


def test_plot_resident_share(acc):
    ax = plot_resident_share(acc)
    assert isinstance(ax, plt.Axes)
    lines = [line for line in ax.get_lines() if line.get_drawstyle() == "steps-post"]
    assert len(lines) == len(acc.services) + 1
    bold = max(lines, key=lambda line: line.get_linewidth())
    assert bold.get_label() == "all functions" and bold.get_color() == "black"
    # the bold curve ends at the share of residents reaching all functions within 30 min
    assert bold.get_ydata()[-1] == pytest.approx(acc.residents_within(30))
    # dashed threshold lines
    assert sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--") == [10, 15, 30]
    assert ax.get_ylabel() == "share of residents within"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == acc.function_names + ["all functions"]


def test_plot_resident_share_selected_services_on_given_axes(acc):
    _fig, ax = plt.subplots()
    out = plot_resident_share(acc, services=["grocery", "hospital"], ax=ax)
    assert out is ax
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["grocery", "hospital", "all functions"]
    grocery = next(line for line in ax.get_lines() if line.get_label() == "grocery")
    assert grocery.get_color() == FUNCTION_COLOURS["commerce"]
    with pytest.raises(InvalidOptionError, match="not in this result"):
        plot_resident_share(acc, services=["nope"])


def test_plot_minutes_histogram(acc):
    ax = plot_minutes_histogram(acc, "university")
    heights = sum(p.get_height() for p in ax.patches)
    # every resident is in a bar: within 30 min by minute, beyond in the grey bar
    assert heights == pytest.approx(acc.nodes["population"].sum(), rel=1e-9)
    t = acc.nodes["time_university_min"]
    beyond = acc.nodes.loc[t.isna(), "population"].sum()
    assert beyond > 0
    assert ax.patches[-1].get_height() == pytest.approx(beyond)
    assert ax.get_ylabel() == "residents"
    plot_minutes_histogram(acc, "all functions", bin_min=2.5)
    with pytest.raises(InvalidOptionError):
        plot_minutes_histogram(acc, "nope")
    with pytest.raises(InvalidOptionError):
        plot_minutes_histogram(acc, "grocery", bin_min=0)


def test_plot_scores(acc):
    ax = plot_scores(acc)
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([acc.residents_within(m) for m in acc.minutes])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["10 min", "15 min", "30 min"]


def test_plots_without_population_count_nodes(bare):
    ax = plot_scores(bare)
    n = len(bare.function_names)
    want = [(bare.nodes[f"functions_{m}min"] == n).mean() for m in bare.minutes]
    assert [p.get_height() for p in ax.patches] == pytest.approx(want)
    assert ax.get_ylabel() == "share of street nodes"
    assert plot_resident_share(bare).get_ylabel() == "share of street nodes within"
    hist = plot_minutes_histogram(bare, "grocery")
    assert sum(p.get_height() for p in hist.patches) == pytest.approx(len(bare.nodes))


def test_captions_of_columns():
    from types import SimpleNamespace

    from urbankit.viz.maps import _column_style

    fake = SimpleNamespace(minutes=(7.5, 15), services=["grocery", "bank_post"])
    captions = {c: _column_style(fake, c, [1.0, 2.0])["caption"] for c in (
        "time_grocery_min", "time_bank_post_2_min", "score_7_5min", "all_functions_7_5min_share", "all_functions_min",
    )}
    assert captions == {
        "time_grocery_min": "minutes to the nearest grocery",
        "time_bank_post_2_min": "minutes to the 2nd nearest bank post",
        "score_7_5min": "share of services reached within 7.5 min",
        "all_functions_7_5min_share": "share reaching all functions within 7.5 min",
        "all_functions_min": "minutes until every function is reached",
    }
    other = _column_style(fake, "n_grocery_15min", [3.0, 9.0, float("nan")])
    assert (other["vmin"], other["vmax"]) == (3.0, 9.0)
