"""The citizen page (#16 item 6): small, its embedded arrays are the nodes layer's minutes, data text is
escaped, and in headless Chromium a click (or typed coordinates) lists the nodes' minutes."""

from __future__ import annotations

import base64
import json
import math
import re
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

import urbankit

DATA_BLOCK = re.compile(r'<script type="application/json" id="uk-data">(.*?)</script>', re.DOTALL)
HOSTILE = "</script><script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">"


@pytest.fixture(scope="module")
def monaco(tmp_path_factory):
    """``uk.x_minute_city("monaco")`` (walk, 10/15/30 min) and its citizen page."""
    folder = tmp_path_factory.mktemp("citizen")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(urbankit.settings, "cache_folder", folder / "cache")
        mp.setattr(urbankit.settings, "progress", False)
        acc = urbankit.x_minute_city("monaco")
    page = acc.citizen_page(folder / "monaco.html")
    return acc, page


def _data(page: Path) -> dict:
    return json.loads(DATA_BLOCK.search(page.read_text(encoding="utf-8")).group(1))


def _array(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<"))


def test_page_is_small_self_contained_and_mobile(monaco):
    acc, page = monaco
    html = page.read_text(encoding="utf-8")
    assert page.stat().st_size < 3_000_000
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "@media (max-width:760px)" in html  # the list goes below the map on a phone
    # Leaflet embedded, nothing loaded from elsewhere, no marker per node
    from urbankit.viz.offline import external_references

    assert external_references(html) == []
    assert "Leaflet 1.9" in html and "L.map(" in html
    assert html.count("circleMarker") < 5


def test_embedded_arrays_are_the_nodes_minutes(monaco):
    acc, page = monaco
    data = _data(page)
    services = urbankit.load_taxonomy().service_names()
    assert data["services"] == services
    n = len(acc.nodes)
    assert data["n_nodes"] == n
    # coordinates: lon/lat of the nodes rounded to 5 decimals
    ll = acc.nodes.geometry.to_crs(4326)
    assert np.array_equal(_array(data["lon"], "int32"), np.round(ll.x.to_numpy() * 1e5).astype(int))
    assert np.array_equal(_array(data["lat"], "int32"), np.round(ll.y.to_numpy() * 1e5).astype(int))
    minutes = _array(data["minutes"], "uint16").reshape(len(services), n)
    tax = urbankit.load_taxonomy()
    present = set(acc.pois["service"])
    for i, s in enumerate(services):
        t = acc.nodes[f"time_{s}_min"].to_numpy(float)
        expected = np.where(np.isnan(t), 65535, np.floor(np.nan_to_num(t) * 10 + 0.5))
        assert np.array_equal(minutes[i], expected), s
        assert data["labels"][i] == tax.services[s].label
        assert data["present"][i] == (s in present)
    # the nearest destination of each service: one of that service, reached in the node's minutes
    nearest = _array(data["nearest"], data["index_type"]).reshape(len(services), n)
    P = len(acc.pois)
    key = acc.reach["node"].to_numpy(np.int64) * P + acc.reach["dest"].to_numpy(np.int64)
    reach = dict(zip(key.tolist(), acc.reach["minutes"].tolist()))
    poi_service = acc.pois["service"].to_numpy()
    for i, s in enumerate(services):
        t = acc.nodes[f"time_{s}_min"].to_numpy(float)
        reached = np.flatnonzero(np.isfinite(t))
        d = nearest[i, reached].astype(np.int64)
        assert (poi_service[d] == s).all(), s
        got = np.array([reach[k] for k in (reached * P + d).tolist()])
        assert np.allclose(got, t[reached]), s
        assert (nearest[i, np.isnan(t)] == np.iinfo(data["index_type"]).max).all()


def test_data_text_is_escaped(monaco, tmp_path):
    acc, _ = monaco
    raw = tomllib.loads((Path(urbankit.__file__).parent / "data" / "taxonomy.toml").read_text(encoding="utf-8"))
    first = urbankit.load_taxonomy().service_names()[0]
    raw["services"][first]["label"] = HOSTILE
    page = acc.citizen_page(tmp_path / "hostile.html", title=HOSTILE, taxonomy=raw, texts={"none": HOSTILE})
    html = page.read_text(encoding="utf-8")
    assert "window.__pwned" in html  # the text is there ...
    assert "<script>window.__pwned" not in html and "<img src=x" not in html  # ... never as markup
    data = _data(page)
    assert HOSTILE in data["labels"]
    with pytest.raises(urbankit.InvalidOptionError, match="unknown keys"):
        acc.citizen_page(tmp_path / "x.html", texts={"nonsense": "x"})


@pytest.mark.slow
def test_cli_citizen_page(tmp_path, capsys):
    from urbankit.cli import main

    out = tmp_path / "page.html"
    assert main(["citizen-page", "monaco", "--mode", "walk", "--minutes", "10", "20", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    data = _data(out)
    assert data["mode"] == "walk" and data["max_minutes"] == 20
    assert out.stat().st_size < 3_000_000
    assert main(["citizen-page", "monaco", "--out", str(tmp_path / "page.gpkg")]) == 2
    assert "must end in .html" in capsys.readouterr().err


# ----------------------------------------------------------------------------- in headless Chromium


def _browser():
    sys.path.insert(0, str(Path(__file__).parents[1] / "reporting"))
    import test_browser

    return test_browser


LIST_JS = """(() => Array.from(document.querySelectorAll('#uk-list li')).map(li => ({
  service: li.dataset.service, tenths: li.dataset.tenths,
  label: li.querySelector('.uk-label').textContent, time: li.querySelector('.uk-time').textContent})))()"""


def _expected_text(t: float, present: bool) -> str:
    if not present:
        return "none in area"
    if math.isnan(t):
        return "beyond 30 min"
    whole = math.floor(math.floor(t * 10 + 0.5) / 10 + 0.5)
    return "under 1 min" if whole < 1 else f"{whole} min"


@pytest.mark.slow
def test_clicks_show_the_nodes_minutes(monaco, tmp_path):
    browser = _browser()
    if browser.CHROMIUM is None:
        pytest.skip("no chromium on PATH: install Debian's chromium to run the browser test")
    acc, page = monaco
    tax = urbankit.load_taxonomy()
    present = set(acc.pois["service"])
    # three nodes, each at least 10 m from any other (a click on it finds it), with different minutes
    xy = np.column_stack([acc.nodes.geometry.x, acc.nodes.geometry.y])
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(xy).query(xy, k=2)
    isolated = np.flatnonzero(dist[:, 1] > 10)
    picks = [isolated[0], isolated[len(isolated) // 2], isolated[-1]]
    ll = acc.nodes.geometry.to_crs(4326)

    proc, base = browser._launch(tmp_path)
    try:
        dt = browser.DevTools(browser._page_websocket(base))
        for domain in ("Page", "Runtime", "Network"):
            dt.send(f"{domain}.enable")
        dt.send("Page.navigate", url=page.resolve().as_uri())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(e["method"] == "Page.loadEventFired" for e in dt.events):
            dt.pump(0.5)
        dt.pump(1.0)
        for k, node in enumerate(picks):
            lat, lon = float(ll.y.iloc[node]), float(ll.x.iloc[node])
            if k < 2:  # a real mouse click on the node, the map zoomed in around it
                x, y = dt.evaluate(
                    f"""(() => {{ const m = window.urbankitCitizen.map;
                    m.setView([{lat}, {lon}], 18, {{animate: false}});
                    const p = m.latLngToContainerPoint([{lat}, {lon}]), r = m.getContainer().getBoundingClientRect();
                    return [r.left + p.x, r.top + p.y]; }})()"""
                )
                dt.pump(0.3)
                for kind in ("mousePressed", "mouseReleased"):
                    dt.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
            else:  # coordinates typed into the box
                dt.evaluate(
                    f"""(() => {{ const i = document.getElementById('uk-coords'); i.value = '{lat:.6f}, {lon:.6f}';
                    document.getElementById('uk-go').click(); }})()"""
                )
            dt.pump(0.5)
            assert dt.evaluate("window.urbankitCitizen.last && window.urbankitCitizen.last.node") == int(node)
            shown = dt.evaluate(LIST_JS)
            assert dt.evaluate("document.getElementById('uk-heading').textContent") == "From here, on foot:"
            assert [r["service"] for r in shown] and sorted(r["service"] for r in shown) == sorted(acc.services)
            for r in shown:
                s = r["service"]
                t = float(acc.nodes[f"time_{s}_min"].iloc[node])
                assert r["label"] == tax.services[s].label
                assert r["time"] == _expected_text(t, s in present), (node, s, t, r)
                if s in present and not math.isnan(t):
                    assert abs(int(r["tenths"]) / 10 - t) <= 0.05 + 1e-9
            # sorted: reached services by minutes, then those beyond 30 min, then those with none in the area
            rank = [
                (0, int(r["tenths"])) if r["tenths"] else (1 if r["time"].startswith("beyond") else 2, 0) for r in shown
            ]
            assert rank == sorted(rank)
            # the clicked point and the nearest destinations are marked
            marks = dt.evaluate("document.querySelectorAll('.leaflet-overlay-pane canvas').length")
            assert marks >= 1
        exceptions = [e for e in dt.events if e["method"] == "Runtime.exceptionThrown"]
        assert not exceptions, exceptions
        remote = [
            e["params"]["request"]["url"]
            for e in dt.events
            if e["method"] == "Network.requestWillBeSent"
            and not e["params"]["request"]["url"].startswith(browser.LOCAL_SCHEMES)
        ]
        assert all("tile.openstreetmap.org" in u for u in remote), remote  # only base-map tiles, which fail
        shot = dt.send("Page.captureScreenshot", format="png")
        (tmp_path / "citizen_page.png").write_bytes(base64.b64decode(shot["data"]))
        dt.close()
    finally:
        proc.kill()
        proc.wait(timeout=30)
