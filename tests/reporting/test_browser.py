"""Generated reports render in headless Chromium with networking disabled.

Chromium (Debian's ``chromium`` package; ``make test`` installs it when running as root with
apt-get) opens the report HTML from disk with every network request sent to a dead proxy and host
names resolving to nothing. The test drives it through the DevTools protocol (a websocket on the
loopback address) and asserts:

- the Leaflet map rendered: a ``leaflet-container`` with its panes, drawn features (canvas or SVG)
  and the layer control, inside the map's ``iframe srcdoc``;
- the plots rendered: the report's ``<img src="data:image/png...">`` decoded to non-zero size;
- no JavaScript exception and no ``console.error`` call;
- nothing was requested from the network but base-map tiles (which then fail, and the map shows
  its "no-tiles" style); with ``tiles=None`` nothing at all;

and saves a screenshot ``<report>.png`` in the test's temporary folder.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from urbankit.reporting.runner import run_report

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium on PATH: install Debian's chromium (make test does so as root) to run the browser tests",
    ),
]

#: requests a page may make without the network
LOCAL_SCHEMES = ("data:", "file:", "about:", "blob:", "chrome-error:")
TILE_HOSTS = ("tile.openstreetmap.org",)


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, ws_url: str):
        import websocket  # websocket-client

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, **params) -> dict:
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def pump(self, seconds: float) -> None:
        """Collect events for ``seconds``."""
        import websocket

        end = time.monotonic() + seconds
        self.ws.settimeout(0.2)
        try:
            while time.monotonic() < end:
                try:
                    msg = json.loads(self.ws.recv())
                except websocket.WebSocketTimeoutException:
                    continue
                if "method" in msg:
                    self.events.append(msg)
        finally:
            self.ws.settimeout(30)

    def evaluate(self, expression: str):
        out = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in out:
            raise RuntimeError(f"evaluation failed: {out['exceptionDetails']}")
        return out["result"].get("value")

    def close(self) -> None:
        self.ws.close()


def _launch(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--mute-audio",
        # networking disabled: every request goes to a dead proxy, every host name resolves to nothing
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "--remote-allow-origins=*",
        "--window-size=1280,1000",
        f"--user-data-dir={profile}",
        "about:blank",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    port_file = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if port_file.exists() and len(port_file.read_text().splitlines()) >= 2:
            break
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("chromium did not open its DevTools port within 60 s")
    port = int(port_file.read_text().splitlines()[0])
    return proc, f"http://127.0.0.1:{port}"


def _page_websocket(base: str) -> str:
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    with opener.open(f"{base}/json/list", timeout=10) as r:
        pages = [t for t in json.loads(r.read()) if t.get("type") == "page"]
    return pages[0]["webSocketDebuggerUrl"]


def render(html_path: Path, tmp_path: Path, *, settle: float = 4.0, probe: str | None = None) -> dict:
    """Open ``html_path`` offline in headless Chromium; what rendered, what was requested, what failed.

    ``probe``: a JavaScript expression evaluated after the page settled (its value is returned as
    ``probe``); then the page is given another second and ``pwned`` lists what hostile data recorded
    in ``window.__pwned`` of the page or any of its frames (see ``tests/viz/test_html_escaping.py``).
    """
    proc, base = _launch(tmp_path)
    try:
        dt = DevTools(_page_websocket(base))
        for domain in ("Page", "Runtime", "Log", "Network"):
            dt.send(f"{domain}.enable")
        dt.send("Page.navigate", url=html_path.resolve().as_uri())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(e["method"] == "Page.loadEventFired" for e in dt.events):
            dt.pump(0.5)
        dt.pump(settle)  # let Leaflet draw, tiles fail, late errors surface
        state = dt.evaluate(
            """(() => {
              const out = {maps: [], images: [], title: document.title, text: document.body.innerText,
                           summary: (document.querySelector('.urbankit-summary') || {}).innerText || null,
                           provenance: (document.querySelector('.urbankit-provenance') || {}).innerText || null};
              const box = el => { const r = el.getBoundingClientRect();
                                  return [r.left, r.top, r.right, r.bottom]; };
              for (const frame of document.querySelectorAll('iframe')) {
                const d = frame.contentDocument;
                if (!d) { out.maps.push({accessible: false}); continue; }
                out.maps.push({
                  accessible: true,
                  containers: d.querySelectorAll('.leaflet-container').length,
                  panes: d.querySelectorAll('.leaflet-pane').length,
                  overlay: d.querySelectorAll('.leaflet-overlay-pane canvas, .leaflet-overlay-pane svg path').length,
                  markers: d.querySelectorAll('.leaflet-marker-pane *').length,
                  layer_control: d.querySelectorAll('.leaflet-control-layers').length,
                  legend_svg: d.querySelectorAll('svg').length,
                  no_tiles: d.querySelectorAll('.urbankit-no-tiles').length,
                  tiles_loaded: Array.from(d.querySelectorAll('img.leaflet-tile'))
                      .filter(i => i.complete && i.naturalWidth > 0).length,
                  leaflet: !!(frame.contentWindow && frame.contentWindow.L && frame.contentWindow.L.version),
                  legend_boxes: Array.from(d.querySelectorAll('.urbankit-legend')).map(box),
                  control_boxes: Array.from(d.querySelectorAll(
                      '.leaflet-control-scale, .leaflet-control-layers, .leaflet-control-zoom')).map(box),
                  width: frame.getBoundingClientRect().width,
                  height: frame.getBoundingClientRect().height,
                });
              }
              for (const img of document.querySelectorAll('img')) {
                out.images.push({src: img.src.slice(0, 22), ok: img.complete && img.naturalWidth > 0, alt: img.alt,
                                 width: img.naturalWidth, height: img.naturalHeight});
              }
              return out;
            })()"""
        )
        if probe is not None:
            state["probe"] = dt.evaluate(probe)
            dt.pump(1.0)  # image errors and other late handlers fire
            state["pwned"] = dt.evaluate(PWNED_JS)
        dt.evaluate("(() => { const f = document.querySelector('iframe'); if (f) f.scrollIntoView(); })()")
        dt.pump(0.5)
        shot = dt.send("Page.captureScreenshot", format="png")
        png = tmp_path / f"{html_path.stem}.png"
        png.write_bytes(base64.b64decode(shot["data"]))
        dt.close()
    finally:
        proc.kill()
        proc.wait(timeout=30)
    exceptions = [e["params"]["exceptionDetails"] for e in dt.events if e["method"] == "Runtime.exceptionThrown"]
    console_errors = [
        e["params"]
        for e in dt.events
        if e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert")
    ]
    log_errors = [
        e["params"]["entry"]
        for e in dt.events
        if e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"
    ]
    requests = [e["params"]["request"]["url"] for e in dt.events if e["method"] == "Network.requestWillBeSent"]
    return {
        **state,
        "exceptions": exceptions,
        "console_errors": console_errors,
        "log_errors": log_errors,
        "requests": requests,
        "screenshot": png,
    }


def _remote(urls):
    return [u for u in urls if not u.startswith(LOCAL_SCHEMES)]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The default report (tiles on, which cannot be fetched offline) and an overview without tiles."""
    out = tmp_path_factory.mktemp("browser-reports")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("URBANKIT_CACHE", str(out / "kernel-cache"))  # the report kernels cache here, not in ~/.cache
        acc = run_report(
            "accessibility", parameters={"source": "monaco", "minutes": [10, 15]}, out_dir=out, run_id="tiles"
        )
        ov = run_report(
            "overview", parameters={"source": "monaco", "modes": ["walk"], "tiles": None}, out_dir=out, run_id="notiles"
        )
    return {"accessibility": acc / "accessibility.html", "overview": ov / "overview.html"}


@pytest.fixture(scope="module")
def transit_report(tmp_path_factory):
    """The transit report on the Sao Paulo sample (its default parameters, tiles on), as the transit tests use."""
    from conftest import existing

    import urbankit

    data = Path(os.environ.get(urbankit.datasets.MIRROR_ENV) or Path(__file__).parents[2] / ".." / "shared" / "data")
    existing(data / "transit" / "sao_paulo" / "spo_gtfs.zip")
    out = tmp_path_factory.mktemp("browser-transit")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("URBANKIT_CACHE", str(out / "kernel-cache"))
        run = run_report("transit", parameters={"data_root": str(data)}, out_dir=out, run_id="tiles", area="sao_paulo")
    return run / "transit.html"


def _assert_legends_clear(m: dict) -> None:
    """No legend box of a rendered map overlaps one of its controls (zoom, layers, scale bar)."""
    for legend in m["legend_boxes"]:
        for control in m["control_boxes"]:
            overlap = min(legend[2], control[2]) > max(legend[0], control[0]) and min(
                legend[3], control[3]
            ) > max(legend[1], control[1])
            assert not overlap, (legend, control)


@pytest.mark.parametrize("name, tiles", [("accessibility", True), ("overview", False), ("transit", True)])
def test_report_renders_offline(request, name, tiles, tmp_path):
    html = request.getfixturevalue("transit_report") if name == "transit" else request.getfixturevalue("reports")[name]
    got = render(html, tmp_path)
    assert got["screenshot"].stat().st_size > 10_000, "screenshot looks empty"

    # the map rendered, from embedded Leaflet
    assert len(got["maps"]) == 1, got["maps"]
    m = got["maps"][0]
    assert m["accessible"] and m["leaflet"], m
    assert m["containers"] == 1 and m["panes"] >= 5, m
    assert m["overlay"] >= 1, f"no features drawn on the map: {m}"
    assert m["layer_control"] == 1 and m["width"] > 300 and m["height"] > 200, m
    assert m["tiles_loaded"] == 0  # there is no network
    if tiles:
        assert m["no_tiles"] == 1, "tiles failed but the map did not switch to its no-tiles style"
        assert m["legend_svg"] >= 1, "the branca colour bar (d3, embedded) did not draw"

    # the plots rendered (the accessibility report has two; the overview none; the transit report one), no broken image
    pngs = [i for i in got["images"] if i["src"].startswith("data:image/png")]
    assert len(pngs) == {"accessibility": 2, "overview": 0, "transit": 1}[name], got["images"]
    assert all(i["ok"] and i["width"] > 100 for i in got["images"]), got["images"]

    # the report opens with the answer and its provenance (#16)
    summary, text = got["summary"], got["text"]
    if name == "accessibility":
        head = re.match(r"(\d+(?:\.\d+)?) % of Monaco's [\d,]+ residents live within 10 minutes on foot", summary)
        assert head, summary
        # the headline figure is the one of the table below
        row = re.search(r"Every function\s+All functions\s+(\S+ %)", text)
        assert row and row.group(1) == f"{head.group(1)} %", (summary, row)
    elif name == "transit":
        # the Sao Paulo sample maps no school, health service or workplace: the headline is the jobs reached
        head = re.match(
            r"By public transport and on foot, São Paulo's [\d,]+ residents reach on average (\d+(?:\.\d+)?) % of "
            r"the area's [\d,]+ jobs within 30 minutes, against (\d+(?:\.\d+)?) % on foot alone; ",
            summary,
        )
        assert head, summary
        assert "No destination of education, healthcare and working is mapped" in summary, summary
        row = re.search(r"within 30 min\s+(\S+ %)\s+(\S+ %)", text)  # the jobs table below
        assert row and row.groups() == (f"{head.group(1)} %", f"{head.group(2)} %"), (summary, row)
    else:
        assert re.match(r"Monaco: [\d,]+ residents, [\d.,]+ km of walkable streets and [\d,]+ everyday", summary)
    provenance = got["provenance"]
    for item in ("Data source", "OSM data date", "Residents", "Population source", "urbankit version", "Caveat"):
        assert item in provenance, (item, provenance)
    if name == "transit":  # the sample's OSM extract records no timestamp; the feed's validity is given
        assert re.search(r"OSM data date\s+unknown", provenance), provenance
        assert re.search(r"Timetables\s+GTFS: spo_gtfs\.zip \(service 20\d\d-\d\d-\d\d to 20\d\d-\d\d-\d\d", provenance)
        wanted = (r"Service date\s+Monday 13 May 2019", r"Departure window\s+07:00 to 08:00", "50th percentile", "Jobs")
        for item in wanted:
            assert re.search(item, provenance), (item, provenance)
    else:
        assert re.search(r"OSM data date\s+20\d\d-\d\d-\d\d", provenance), provenance
    # formatted tables: no NaN, no raw object reprs or timings
    assert not re.search(r"\b(nan|NaN|None)\b", text), re.findall(r".{40}\b(?:nan|NaN|None)\b.{20}", text)
    for raw in ("Accessibility(", "AreaOverview(", "PopulationEstimate(", "detect_s", "<urbankit", "dtype"):
        assert raw not in text, raw
    # every figure has alternative text (not nbconvert's placeholder)
    assert all(i["alt"] and "No description" not in i["alt"] for i in pngs), [i["alt"] for i in pngs]
    # the legend never covers a map control
    _assert_legends_clear(m)
    assert m["legend_boxes"], "no legend on the map"

    # no script failed, nothing but tiles was asked of the network
    assert not got["exceptions"], got["exceptions"]
    assert not got["console_errors"], got["console_errors"]
    remote = _remote(got["requests"])
    if tiles:
        assert remote and all(any(h in u for h in TILE_HOSTS) for u in remote), remote
        unexpected = [e for e in got["log_errors"] if not any(h in e.get("url", "") for h in TILE_HOSTS)]
        assert not unexpected, unexpected
    else:
        assert remote == [], remote
        assert not got["log_errors"], got["log_errors"]


def test_online_assets_page_fails_offline(reports, tmp_path):
    """Control: the same report with CDN assets (offline=False) does not render a map without network,
    so the test above really runs offline."""
    from urbankit.reporting.runner import export_html

    nb = reports["overview"].with_suffix(".ipynb")
    page = tmp_path / "online.html"
    page.write_text(export_html(nb, offline=False)[0], encoding="utf-8")
    got = render(page, tmp_path, settle=2.0)
    assert not got["maps"][0]["leaflet"]
    assert any(re.match(r"https://cdn\.jsdelivr\.net/npm/leaflet", u) for u in got["requests"])
    assert os.path.getsize(page) < os.path.getsize(reports["overview"])


# ----------------------------------------------------------------------------- hostile OSM data

#: what hostile data recorded when it ran: ``window.__pwned`` of the page and of every frame, and
#: the page title (a classic payload target)
PWNED_JS = """(() => {
  const wins = [window, ...Array.from(document.querySelectorAll('iframe')).map(f => f.contentWindow)];
  const hits = [];
  for (const w of wins) { try { if (w && w.__pwned) hits.push(...w.__pwned); } catch (e) { hits.push('blocked'); } }
  return {hits: hits, title: document.title};
})()"""

#: opens every tooltip and popup of every Leaflet map of the page (every layer of the layer control
#: shown first), one feature at a time, as the mouse would (mouseover / click on the feature);
#: returns the text each one showed, the elements inside them, and the layer control labels
OPEN_EVERYTHING_JS = """(() => {
  const out = {maps: 0, opened: 0, texts: [], elements: [], labels: [], body: document.body.innerText};
  const allowed = new Set(['TABLE', 'TBODY', 'THEAD', 'TR', 'TH', 'TD', 'DIV']);
  for (const frame of document.querySelectorAll('iframe')) {
    const w = frame.contentWindow, d = frame.contentDocument;
    if (!w || !w.L) continue;
    const L = w.L, maps = [], controls = [];
    for (const k of Object.keys(w)) {
      let v;
      try { v = w[k]; } catch (e) { continue; }
      if (v instanceof L.Map) maps.push(v);
      else if (v instanceof L.Control.Layers) controls.push(v);
    }
    for (const c of controls) {
      for (const item of c._layers) if (c._map && !c._map.hasLayer(item.layer)) c._map.addLayer(item.layer);
    }
    for (const label of d.querySelectorAll('.leaflet-control-layers label')) {
      out.labels.push(label.textContent.trim());
      for (const el of label.querySelectorAll('*')) {
        if (!['DIV', 'SPAN', 'INPUT', 'LABEL'].includes(el.tagName)) out.elements.push(el.outerHTML);
      }
    }
    for (const m of maps) {
      out.maps++;
      const layers = [];
      m.eachLayer(l => layers.push(l));
      for (const l of layers) {
        const kinds = [['tooltip', l.getTooltip && l.getTooltip(), 'mouseover', 'mouseout'],
                       ['popup', l.getPopup && l.getPopup(), 'click', null]];
        for (const [kind, bound, open, close] of kinds) {
          if (!bound) continue;
          for (const c of (l.getLayers ? l.getLayers() : [l])) {
            const at = c.getLatLng ? c.getLatLng() : c.getBounds().getCenter();
            c.fire(open, {latlng: at}, true);
            const el = bound.getElement && bound.getElement();
            if (el) {
              out.opened++;
              out.texts.push(el.textContent);
              for (const inner of el.querySelectorAll('*')) {
                if (!allowed.has(inner.tagName)) out.elements.push(inner.outerHTML);
              }
            }
            if (close) c.fire(close, {latlng: at}, true); else m.closePopup();
          }
        }
      }
    }
  }
  for (const img of document.querySelectorAll('img')) {
    if (!img.src.startsWith('data:')) out.elements.push(img.outerHTML);
  }
  return out;
})()"""


@pytest.fixture(scope="module")
def hostile_reports(tmp_path_factory):
    """Every report type on a small synthetic city whose street, shop and building names are
    hostile (script payloads, quotes, ampersands); the second city of the comparison has a hostile
    file name (shown as a column of the comparison table)."""
    from test_html_escaping import HOSTILE, hostile_osm

    folder = tmp_path_factory.mktemp("hostile-data")
    city = hostile_osm(folder / "hostile_city.osm")
    other = hostile_osm(folder / (HOSTILE["img"] + ".osm"), blocks=4, lonlat=(2.17, 41.39))
    out = tmp_path_factory.mktemp("hostile-reports")
    common = {"out_dir": out, "run_id": "hostile"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("URBANKIT_CACHE", str(out / "kernel-cache"))
        src = str(city)
        reports = {
            "overview": run_report(
                "overview", parameters={"source": src, "modes": ["walk"], "tiles": None}, area="hostile", **common
            ),
            "accessibility": run_report(
                "accessibility", parameters={"source": src, "minutes": [5, 10], "tiles": None}, area="hostile", **common
            ),
            "superblocks": run_report(
                "superblocks", parameters={"source": src, "method": "arterial", "tiles": None}, area="hostile", **common
            ),
            "compare": run_report(
                "compare", parameters={"sources": [src, str(other)], "minutes": 5}, area="hostile-vs-other", **common
            ),
        }
    return {name: folder / f"{name}.html" for name, folder in reports.items()}


#: what each report shows of the hostile data: its number of maps (every hostile name is in their
#: tooltips) and texts that must show in the page itself
SHOWN = {
    "overview": (1, []),
    "accessibility": (1, []),
    "superblocks": (3, ['<img src=x onerror="(top']),  # the perimeter streets column (cut at 50 characters)
    "compare": (0, ['<img src=x onerror="(top']),  # the second city's file name heads a column
}


@pytest.mark.parametrize("name", list(SHOWN))
def test_hostile_osm_names_run_no_script(hostile_reports, name, tmp_path):
    """Hostile names open in every tooltip and popup of every map, and in the tables: no script
    ran, no element came from the data, and the names show as the text they are."""
    from test_html_escaping import HOSTILE as NAMES

    got = render(hostile_reports[name], tmp_path, settle=2.0, probe=OPEN_EVERYTHING_JS)
    probe, pwned = got["probe"], got["pwned"]
    assert pwned["hits"] == [], f"script from the data ran: {pwned['hits']}"
    assert "PWNED" not in pwned["title"]
    assert probe["elements"] == [], f"elements from the data: {probe['elements'][:5]}"
    assert not got["exceptions"], got["exceptions"]
    assert not got["console_errors"], got["console_errors"]

    n_maps, in_page = SHOWN[name]
    assert probe["maps"] == n_maps, probe["maps"]
    if n_maps:
        assert probe["opened"] > 10, "the tooltips did not open"
        shown = "\n".join(probe["texts"])
        missing = [v for v in NAMES.values() if v not in shown]
        assert not missing, f"names not shown as text (lost or escaped twice): {missing}"
        assert probe["labels"]
    for text in in_page:
        assert text in probe["body"], f"{text!r} not shown in the page"


# ----------------------------------------------------------------------------- a saved explore() map


#: hovers every destination marker on the map (zoomed in so the clusters spread out): how many opened
#: their tooltip and what the first ones showed
HOVER_DESTINATIONS_JS = """(() => {
  const w = window, L = w.L, out = {opened: 0, candidates: 0, texts: []};
  const maps = Object.keys(w).map(k => { try { return w[k]; } catch (e) { return null; } })
      .filter(v => v instanceof L.Map);
  for (const m of maps) {
    m.eachLayer(l => {
      if (!(l.getLatLng && l.feature && l.feature.properties.service)) return;
      out.candidates++;
      l.fire('mouseover', {latlng: l.getLatLng()}, true);
      const tip = l.getTooltip && l.getTooltip();
      if (tip && l.isTooltipOpen()) { out.opened++; out.texts.push(tip.getElement().textContent); }
      l.fire('mouseout', {latlng: l.getLatLng()}, true);
    });
  }
  return out;
})()"""


def test_saved_explore_map_works_offline_with_clustered_destinations(monaco_walk_accessibility, tmp_path):
    """``acc.explore().save(path)`` opens offline (Leaflet and the cluster plug-ins embedded), and the
    destinations drawn out of their clusters show their tooltips (a GeoJson group inside a cluster
    is never on the map: its tooltip must be bound to each marker)."""
    page = tmp_path / "explore.html"
    monaco_walk_accessibility.explore(tiles=None).save(page)
    got = render(page, tmp_path, settle=2.0, probe=HOVER_DESTINATIONS_JS)
    assert not got["exceptions"] and not got["console_errors"], (got["exceptions"], got["console_errors"])
    assert _remote(got["requests"]) == [], got["requests"]
    probe = got["probe"]
    assert probe["candidates"] >= 1 and probe["opened"] == probe["candidates"], probe
    assert all("service" in t for t in probe["texts"]), probe["texts"]


@pytest.fixture(scope="module")
def council_reports(tmp_path_factory):
    """The superblocks report on the Barcelona extract and the comparison of Monaco and Helsinki,
    with their default parameters (tiles off: offline)."""
    import urbankit

    try:
        urbankit.datasets.get_path("barcelona", download=False)
    except Exception as exc:  # noqa: BLE001 - not on this machine
        pytest.skip(f"the Barcelona extract is not available offline ({exc})")
    out = tmp_path_factory.mktemp("browser-council")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("URBANKIT_CACHE", str(out / "kernel-cache"))
        sb = run_report("superblocks", parameters={"source": "barcelona", "tiles": None}, out_dir=out, run_id="notiles")
        cmp = run_report("compare", parameters={"sources": ["monaco", "helsinki"]}, out_dir=out, run_id="default")
    return {"superblocks": sb / "superblocks.html", "compare": cmp / "compare.html"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["superblocks", "compare"])
def test_superblocks_and_compare_reports_render_for_councils(council_reports, name, tmp_path):
    """#16 for the other two reports: they open with a sentence carrying a figure, show the provenance
    box, no NaN or raw reprs, legends clear of the map controls, and no script errors offline."""
    got = render(council_reports[name], tmp_path)
    assert got["screenshot"].stat().st_size > 10_000, "screenshot looks empty"
    summary, text, provenance = got["summary"], got["text"], got["provenance"]
    assert summary and re.search(r"\d", summary), summary
    if name == "superblocks":  # the extract's name, its superblocks and the change of car traffic
        assert re.match(r"Eixample nova esquerra 2012: \d+ candidate superblocks with [\d,]+ residents", summary)
        assert re.search(r"vehicle-km per day \([+-]\d+(\.\d+)? %\)", summary), summary
        items = ("Data source", "OSM data date", "Residents", "urbankit version", "Caveat")
    else:  # each city's headline share, by its readable name
        assert re.match(r"Share of residents who reach every everyday function within 15 minutes on foot: "
                        r"\S+ % in Monaco \([\d,]+ residents\); \S+ % in Helsinki", summary), summary
        items = ("Monaco: data source", "Helsinki: residents", "OSM data date", "urbankit version", "Caveat")
    for item in items:
        assert provenance and item in provenance, (item, provenance)
    assert not re.search(r"\b(nan|NaN|None)\b", text), re.findall(r".{40}\b(?:nan|NaN|None)\b.{20}", text)
    raws = ("Scenario(", "Accessibility(", "AreaOverview(", "PopulationEstimate(", "detect_s", "<urbankit", "dtype")
    for raw in raws:
        assert raw not in text, raw
    pngs = [i for i in got["images"] if i["src"].startswith("data:image/png")]
    assert all(i["ok"] and i["width"] > 100 for i in got["images"]), got["images"]
    assert all(i["alt"] and "No description" not in i["alt"] for i in pngs), [i["alt"] for i in pngs]
    for m in got["maps"]:
        assert m["leaflet"] and m["overlay"] >= 1, m
        _assert_legends_clear(m)
    assert not got["exceptions"], got["exceptions"]
    assert not got["console_errors"], got["console_errors"]
    assert _remote(got["requests"]) == [], _remote(got["requests"])
    shots = Path(os.environ.get("URBANKIT_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    (shots / f"{name}.png").write_bytes(got["screenshot"].read_bytes())
