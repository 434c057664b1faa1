"""Self-contained, offline report HTML.

A report must open anywhere, offline, years later. Folium maps (inside the notebook output an
``<iframe srcdoc="...">`` holding a whole HTML page) and nbconvert's page load Leaflet, jQuery,
Bootstrap, awesome-markers, Font Awesome, d3 (branca colour bars), require.js and MathJax from
CDNs. :func:`make_offline` rewrites an HTML document so that every external ``<script src>`` and
``<link rel="stylesheet" href>`` is replaced by an inline tag holding the file's content, inside
``srcdoc`` documents too. The files come from registry packages, never from the network:

1. `folium-offline <https://pypi.org/project/folium-offline/>`_ (PyPI, MIT; a dependency of
   urbankit, so a plain ``pip install`` by a non-root planner provides it), which ships the exact
   CDN files folium references, keyed by URL. A URL folium changed (e.g. a newer Leaflet) is
   matched by file name with the version stripped, and the run says which version was embedded.
2. Debian's ``libjs-*`` packages under ``/usr/share/javascript`` (``libjs-leaflet``,
   ``libjs-jquery``, ``libjs-d3``...), when installed, for files the first source lacks.

Whatever cannot be provided offline (require.js and MathJax of nbconvert's page, which reports do
not use; a plug-in's file neither source ships) is dropped, and said so in :class:`OfflineHTML`.
Relative ``url(...)`` references of inlined style sheets (font files beside a CSS on the CDN)
become empty ``data:`` URLs, so the browser does not look for them either.

Base-map tiles are the one thing that cannot be embedded. Maps drawn with ``tiles=None`` show the
data on a plain, light background (the "no-tiles style"). Maps with tiles get a small script: when
tiles cannot be fetched (offline, a server gone years later) the broken tiles are hidden, the map
switches to the same plain background and a note in the corner says the base map is unavailable;
the data layers, legend and layer control keep working.
"""

from __future__ import annotations

import functools
import html as html_lib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)


#: where Debian's libjs-* packages put their files
DEBIAN_JS = Path("/usr/share/javascript")

#: CSS class and note of a map whose tiles cannot be fetched
NO_TILES_CLASS = "urbankit-no-tiles"
NO_TILES_NOTE = "Base map unavailable offline: data drawn on a plain background"

#: injected into each map document (after Leaflet): the no-tiles style and the tile-error fallback
_MAP_STYLE = (
    "<style>/* urbankit offline: no-tiles style */"
    ".leaflet-container{background:#f2f0eb}"
    f".{NO_TILES_CLASS} .leaflet-tile-pane{{visibility:hidden}}"
    ".urbankit-no-tiles-note{background:rgba(255,255,255,.85);padding:2px 6px;"
    "font:11px/1.4 sans-serif;color:#555;border-radius:3px}</style>"
)
_MAP_SCRIPT = (
    "<script>/* urbankit offline: hide tiles that cannot be fetched */\n"
    "(function(){if(!window.L||!L.TileLayer||!L.TileLayer.addInitHook)return;"
    "L.TileLayer.addInitHook(function(){this.on('tileerror',function(e){"
    "if(e&&e.tile){e.tile.style.visibility='hidden';}"
    "var map=this._map;if(!map)return;var c=map.getContainer();"
    f"if(c.classList.contains('{NO_TILES_CLASS}'))return;c.classList.add('{NO_TILES_CLASS}');"
    "var note=L.control({position:'bottomright'});note.onAdd=function(){"
    "var d=L.DomUtil.create('div','urbankit-no-tiles-note');"
    f"d.textContent={NO_TILES_NOTE!r};return d;}};note.addTo(map);"
    "});});})();\n</script>"
)


@dataclass
class OfflineHTML:
    """Result of :func:`make_offline`: the rewritten page and what was done to it."""

    html: str
    #: URL -> where its content came from ("folium-offline 0.20.0.2", "/usr/share/javascript/...")
    embedded: dict[str, str] = field(default_factory=dict)
    #: external files that no offline source provides, removed from the page
    dropped: list[str] = field(default_factory=list)
    #: number of map documents (iframe srcdoc) rewritten
    maps: int = 0

    def record(self) -> dict:
        """Summary for ``run.json``."""
        return {
            "embedded": dict(sorted(self.embedded.items())),
            "dropped": sorted(set(self.dropped)),
            "maps": self.maps,
            "bytes": len(self.html.encode("utf-8")),
        }


# --------------------------------------------------------------------------- asset sources


def _version_free(name: str) -> str:
    """A file name without version numbers: ``jquery-3.7.1.min.js`` -> ``jquery.min.js``."""
    return re.sub(r"[-_.@]?v?\d+(?:\.\d+)+", "", name)


@functools.lru_cache(maxsize=1)
def _folium_offline() -> tuple[dict[str, str], str]:
    """folium-offline's table of CDN URL -> file content, and the package label."""
    try:
        from importlib import metadata

        from offlinefolium import elements

        table = dict(elements._res)
        try:
            from offlinefolium import features

            table.update(getattr(features, "_vres", {}))
        except ImportError as exc:  # pragma: no cover - vega files are optional
            logger.debug("folium-offline without vega files: %s", exc)
        return table, f"folium-offline {metadata.version('folium-offline')}"
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        logger.warning(
            "folium-offline is not usable (%s); maps fall back to Debian's libjs-* files or lose assets", exc
        )
        return {}, "folium-offline (absent)"


def _url_key(url: str) -> tuple[str, str]:
    parts = urlsplit(url if not url.startswith("//") else "https:" + url)
    name = parts.path.rstrip("/").rsplit("/", 1)[-1]
    return name, _version_free(name)


@functools.lru_cache(maxsize=1)
def _folium_offline_by_name() -> dict[str, list[str]]:
    table, _ = _folium_offline()
    out: dict[str, list[str]] = {}
    for url in table:
        out.setdefault(_url_key(url)[1], []).append(url)
    return out


def _debian_file(url: str) -> Path | None:
    """A Debian libjs-* file with the same (version-free) name as ``url``'s file."""
    if not DEBIAN_JS.is_dir():
        return None
    name, bare = _url_key(url)
    lib = urlsplit(url).path.strip("/").split("/")
    libs = {re.sub(r"@.*$", "", p).lower() for p in lib[:-1]} | {bare.split(".")[0].lower()}
    for folder in sorted(DEBIAN_JS.iterdir()):
        if folder.name.lower() not in libs:
            continue
        for candidate in (folder / name, folder / bare, folder / "dist" / name, folder / "dist" / bare):
            if candidate.is_file():
                return candidate
    return None


def find_asset(url: str) -> tuple[str, str] | None:
    """Content and source of the CDN file ``url`` from an offline source, or ``None``.

    >>> content, source = find_asset("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js")
    >>> source.startswith("folium-offline") and "Leaflet 1.9" in content
    True
    """
    table, label = _folium_offline()
    if url in table:
        return table[url], label
    bare = _url_key(url)[1]
    matches = _folium_offline_by_name().get(bare, [])
    if matches:
        # the candidate sharing most path segments (library name) with the wanted URL
        wanted = set(urlsplit(url).path.lower().replace("@", "/").split("/"))
        best = max(matches, key=lambda u: len(wanted & set(urlsplit(u).path.lower().replace("@", "/").split("/"))))
        logger.info("offline: %s embedded from %s's %s (another version of the same file)", url, label, best)
        return table[best], f"{label} (as {best})"
    path = _debian_file(url)
    if path is not None:
        return path.read_text(encoding="utf-8", errors="replace"), str(path)
    return None


# --------------------------------------------------------------------------- rewriting

_EXTERNAL = r"(?:https?:)?//[^\"'\s>]+"
_SCRIPT_SRC = re.compile(
    r"<script\b(?P<pre>[^>]*?)\bsrc\s*=\s*(?P<q>[\"'])(?P<url>" + _EXTERNAL + r")(?P=q)(?P<post>[^>]*)>\s*</script\s*>",
    re.IGNORECASE,
)
_LINK = re.compile(r"<link\b[^>]*?>", re.IGNORECASE)
_HREF = re.compile(r"\bhref\s*=\s*([\"'])(" + _EXTERNAL + r")\1", re.IGNORECASE)
_REL = re.compile(r"\brel\s*=\s*([\"'])([^\"']*)\1", re.IGNORECASE)
_MODULE_IMPORT = re.compile(
    r"<script\b[^>]*type\s*=\s*[\"']module[\"'][^>]*>(?:(?!</script).)*?import\(\s*[\"']https?://(?:(?!</script).)*</script\s*>",
    re.IGNORECASE | re.DOTALL,
)
_SRCDOC = re.compile(r"(\bsrcdoc\s*=\s*\")([^\"]*)(\")", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*([\"']?)(?!data:|#)([^)\"']*)\1\s*\)", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import\s+(?:url\()?\s*[\"']?(?:https?:)?//[^;]*;", re.IGNORECASE)
_TYPE_ATTR = re.compile(r"\btype\s*=\s*([\"'])([^\"']*)\1", re.IGNORECASE)


def _js(content: str) -> str:
    # a literal "</script" inside an inline script would end the tag early
    return re.sub(r"</(script)", r"<\\/\1", content, flags=re.IGNORECASE)


def _css(content: str) -> str:
    content = _CSS_IMPORT.sub("", content)
    content = _CSS_URL.sub('url("data:,")', content)  # font files etc. next to the CSS on its CDN
    return re.sub(r"</(style)", r"<\\/\1", content, flags=re.IGNORECASE)


def _rewrite(doc: str, result: OfflineHTML) -> str:
    def script(m: re.Match) -> str:
        url = m.group("url")
        found = find_asset(url)
        if found is None:
            result.dropped.append(url)
            return f"<!-- urbankit offline: dropped {html_lib.escape(url)} (no offline copy) -->"
        content, source = found
        result.embedded.setdefault(url, source)
        attrs = (m.group("pre") + " " + m.group("post")).strip()
        attrs = " ".join(
            a
            for a in re.split(r"\s+", attrs)
            if a and not a.lower().startswith(("integrity", "crossorigin", "defer", "async"))
        )
        return f"<script{' ' + attrs if attrs else ''}>/* {url} */\n{_js(content)}\n</script>"

    def link(m: re.Match) -> str:
        tag = m.group(0)
        href = _HREF.search(tag)
        if href is None:
            return tag
        url = href.group(2)
        rel = _REL.search(tag)
        if rel is None or "stylesheet" not in rel.group(2).lower():
            result.dropped.append(url)  # preconnect, icons, fonts: not needed to read the report
            return ""
        found = find_asset(url)
        if found is None:
            result.dropped.append(url)
            return f"<!-- urbankit offline: dropped {html_lib.escape(url)} (no offline copy) -->"
        content, source = found
        result.embedded.setdefault(url, source)
        return f"<style>/* {url} */\n{_css(content)}\n</style>"

    def module(m: re.Match) -> str:
        block = m.group(0)
        url = re.search(r"import\(\s*[\"'](https?://[^\"']+)", block).group(1)
        result.dropped.append(url)
        return f"<!-- urbankit offline: dropped a module loading {html_lib.escape(url)} -->"

    doc = _SCRIPT_SRC.sub(script, doc)
    doc = _LINK.sub(link, doc)
    if 'class="jp-Mermaid' not in doc:  # nbconvert loads mermaid.js from a CDN only for diagrams
        doc = _MODULE_IMPORT.sub(module, doc)
    return doc


def _map_document(doc: str, result: OfflineHTML) -> str:
    doc = _rewrite(doc, result)
    if "L.map(" in doc or "leaflet" in doc.lower():
        result.maps += 1
        addition = _MAP_STYLE + _MAP_SCRIPT
        head_end = re.search(r"</head\s*>", doc, re.IGNORECASE)
        if head_end:
            doc = doc[: head_end.start()] + addition + doc[head_end.start() :]
        else:
            body = re.search(r"<body[^>]*>", doc, re.IGNORECASE)
            at = body.end() if body else 0
            doc = doc[:at] + addition + doc[at:]
    return doc


def make_offline(html: str) -> OfflineHTML:
    """Rewrite an HTML page (and the pages in its ``iframe srcdoc``) to need no network.

    >>> page = '<html><head><script src="https://code.jquery.com/jquery-3.7.1.min.js"></script></head></html>'
    >>> out = make_offline(page)
    >>> "code.jquery.com" in external_references(out.html), list(out.embedded)
    (False, ['https://code.jquery.com/jquery-3.7.1.min.js'])
    """
    result = OfflineHTML(html="")

    def srcdoc(m: re.Match) -> str:
        inner = html_lib.unescape(m.group(2))
        inner = _map_document(inner, result)
        return m.group(1) + inner.replace("&", "&amp;").replace('"', "&quot;") + m.group(3)

    out = _rewrite(html, result)  # the page itself (srcdoc pages are still escaped: untouched)
    out = _SRCDOC.sub(srcdoc, out)
    result.html = out
    return result


def make_map_offline(html: str) -> OfflineHTML:
    """Rewrite a standalone map page (``folium.Map.save``) to need no network: its assets embedded,
    the no-tiles style and tile-error fallback added (as for the maps inside reports).

    Parameters
    ----------
    html : str
        The page folium rendered.

    Returns
    -------
    OfflineHTML
        The rewritten page and what was embedded or dropped.
    """
    result = OfflineHTML(html="")
    result.html = _map_document(html, result)
    return result


def external_references(html: str) -> list[str]:
    """URLs a page would fetch on opening: ``<script src>``, ``<link href>``, ``<img src>``,
    ``<iframe src>`` and CSS ``url()``/``@import`` pointing to another host, in ``srcdoc`` pages too.

    Links a reader may click (``<a href>``) and tile URL templates in scripts are not counted.
    """
    found: list[str] = []
    docs = [html] + [html_lib.unescape(m.group(2)) for m in _SRCDOC.finditer(html)]
    tag = re.compile(
        r"<(script|link|img|iframe|source|embed|audio|video)\b[^>]*?\b(?:src|href)\s*=\s*([\"'])(" + _EXTERNAL + r")\2",
        re.IGNORECASE,
    )
    css = re.compile(r"(?:url\(\s*[\"']?|@import\s+[\"'])((?:https?:)?//[^\"')\s]+)", re.IGNORECASE)
    for i, doc in enumerate(docs):
        text = _SRCDOC.sub('srcdoc=""', doc) if i == 0 else doc
        found += [m.group(3) for m in tag.finditer(text)]
        for style in re.finditer(r"<style[^>]*>(.*?)</style\s*>", text, re.IGNORECASE | re.DOTALL):
            found += [u for u in css.findall(style.group(1)) if not u.startswith("//www.w3.org")]
    return found
