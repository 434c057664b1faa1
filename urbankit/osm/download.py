"""Download an area from OpenStreetMap (Nominatim + Overpass) into an :class:`~urbankit.OSMExtract`.

The online readers :func:`from_place`, :func:`from_bbox` and :func:`from_polygon` return the same
type as :func:`urbankit.read_osm`, with the same columns and the same rules for which ways are
streets, which objects are candidate destinations and which are buildings, so everything downstream
is indifferent to where the data came from.

All HTTP traffic goes through osmnx (its Nominatim and Overpass clients, their rate limiting and
their response cache). The osmnx cache is pointed at ``settings.cache_folder / "osmnx"`` for the
duration of each call, so an area downloaded once is read from disk afterwards, also offline.

Street ways must keep their OSM node order and all their tags, which osmnx's public graph API does
not expose; they are fetched with one private osmnx function, wrapped in :func:`_osmnx_internals`
so that a change in osmnx is fixed in one place.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import requests
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon

from .. import _datacache, settings
from .._errors import CRSError, InvalidOptionError, NoStreetsError, OnlineFetchError, PlaceNotFoundError
from .buildings import polygon_footprints
from .extract import (
    BUILDING_TAGS,
    DEFAULT_POI_KEYS,
    STREET_TAGS,
    OSMExtract,
    StreetCollector,
    building_frame,
    empty_buildings,
    empty_features,
    is_street,
)

logger = logging.getLogger(__name__)


__all__ = ["from_bbox", "from_place", "from_polygon"]

#: Bumped whenever the conversion below changes, so extract hashes (and downstream caches) change.
_FORMAT_VERSION = "urbankit-online-2"  # 2: buildings as points with footprint_m2

#: Overpass way filter for the street download: every way with a ``highway`` tag; urbankit applies
#: its own street rule (as in ``read_osm``) and its mode filters later.
_STREET_WAY_FILTER = '["highway"]'

#: Timeout in seconds of the connectivity probe of the Overpass status endpoint.
_PROBE_TIMEOUT = 10.0

_TYPE_ORDER = {"node": 0, "way": 1, "relation": 2}


# --------------------------------------------------------------------------------------------------
# the only place that touches osmnx private API
# --------------------------------------------------------------------------------------------------


def _osmnx_internals() -> SimpleNamespace:
    """Every private osmnx name urbankit uses, looked up in one place.

    Written against osmnx 2.1.1 (the same names exist in osmnx 2.0): if a new osmnx release moves or
    renames them, this is the only function to fix.

    - ``osmnx._overpass._download_overpass_network(polygon, network_type, custom_filter)``: yields
      one Overpass JSON response per (sub-)polygon, with ``elements``: nodes (``id``, ``lat``,
      ``lon``, ``tags``) and ways (``id``, ordered ``nodes``, ``tags``). It applies osmnx's cache
      and Overpass rate limiting.
    - ``osmnx._errors.InsufficientResponseError``: "nothing found" (geocoder and features).
    - ``osmnx._errors.ResponseStatusCodeError``: the server answered with an HTTP error page.

    Raises
    ------
    RuntimeError
        The installed osmnx lacks one of these names.
    """
    import osmnx as ox

    try:
        overpass = importlib.import_module("osmnx._overpass")
        errors = importlib.import_module("osmnx._errors")
        return SimpleNamespace(
            download_network=overpass._download_overpass_network,
            InsufficientResponseError=errors.InsufficientResponseError,
            ResponseStatusCodeError=errors.ResponseStatusCodeError,
        )
    except (ImportError, AttributeError) as exc:  # pragma: no cover - depends on osmnx release
        raise RuntimeError(
            f"urbankit's online download relies on osmnx 2.0/2.1 internals ({exc}); the installed "
            f"osmnx {ox.__version__} differs. Install 'osmnx>=2.0,<2.2', or download an OSM extract "
            "and read it with urbankit.read_osm."
        ) from exc


def _download_street_elements(polygon: Polygon | MultiPolygon) -> list[dict]:
    """Raw Overpass elements (ways with a ``highway`` tag and all their nodes) inside ``polygon``."""
    internals = _osmnx_internals()
    elements: list[dict] = []
    n_responses = 0
    for response in internals.download_network(polygon, "all", _STREET_WAY_FILTER):
        n_responses += 1
        remark = response.get("remark") if isinstance(response, dict) else None
        if remark and "error" in str(remark).lower():
            # Overpass answers a timed-out or out-of-memory query with HTTP 200, a remark and
            # partial data: never use that as if it were the area.
            raise OnlineFetchError(
                f"the Overpass server could not complete the street query ({remark}); the area is "
                "probably too large for one query. Try a smaller area, raise "
                "osmnx.settings.requests_timeout / overpass_memory, or download an OSM extract "
                "(e.g. from Geofabrik or BBBike) and read it with urbankit.read_osm."
            )
        elements.extend(response.get("elements", ()))
    logger.info("downloaded %d street elements in %d Overpass response(s)", len(elements), n_responses)
    return elements


# --------------------------------------------------------------------------------------------------
# osmnx settings, connectivity and error translation
# --------------------------------------------------------------------------------------------------


@contextmanager
def _osmnx_session() -> Iterator[None]:
    """Point osmnx's HTTP cache at urbankit's cache folder for the duration of one call.

    The cache holds JSON only (never code). For the call, osmnx's cache functions are replaced by
    safe ones: an entry is written atomically (a full disk skips caching with a warning and leaves
    no partial file) and an unreadable entry is ignored with a warning and downloaded again.
    """
    import osmnx as ox
    from osmnx import _http

    names = ("use_cache", "cache_folder", "overpass_rate_limit", "doh_url_template")
    saved = {name: getattr(ox.settings, name) for name in names}
    saved_functions = (_http._save_to_cache, _http._retrieve_from_cache)
    ox.settings.use_cache = bool(settings.use_cache)
    ox.settings.cache_folder = Path(settings.cache_folder) / "osmnx"
    _http._save_to_cache = functools.partial(_save_to_osmnx_cache, saved_functions[0])
    _http._retrieve_from_cache = functools.partial(_retrieve_from_osmnx_cache, saved_functions[1])
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(ox.settings, name, value)
        _http._save_to_cache, _http._retrieve_from_cache = saved_functions


def _save_to_osmnx_cache(original, url: str, response_json, ok: bool) -> None:
    """osmnx's ``_save_to_cache``, written atomically; a write failure only skips the cache."""
    import osmnx as ox
    from osmnx import _http

    if not (ox.settings.use_cache and ok) or (isinstance(response_json, dict) and "remark" in response_json):
        return original(url, response_json, ok)  # osmnx logs why it does not cache
    path = _http._resolve_cache_filepath(url)
    try:
        with contextlib.suppress(OSError):
            _datacache.remove_stale_temporaries(path)
        _datacache.write_atomic(path, json.dumps(response_json).encode("utf-8"))
    except OSError as exc:
        logger.warning("could not write download cache %s (%s); continuing without it", path, exc)
    return None


def _retrieve_from_osmnx_cache(original, url: str):
    """osmnx's ``_retrieve_from_cache``; an unreadable entry (partial, not JSON) is a cache miss."""
    try:
        return original(url)
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        from osmnx import _http

        logger.warning(
            "download cache entry %s is unreadable (%s); ignoring it and downloading again",
            _http._resolve_cache_filepath(url),
            exc,
        )
        return None


def _go_offline_if_unreachable() -> None:
    """Probe the Overpass status endpoint; when unreachable, make osmnx fail fast.

    With rate limiting on, osmnx asks the Overpass status endpoint how long to wait before each
    uncached query and, when that endpoint cannot be reached, waits a default 60 s before trying
    anyway. On an offline machine that turns "no network" into a minute-long hang. When the probe
    fails, rate limiting (and the DNS-over-HTTPS fallback) are switched off for this call only:
    cached responses are still served and uncached ones fail at once.
    """
    import osmnx as ox

    if not ox.settings.overpass_rate_limit:
        return
    url = ox.settings.overpass_url.rstrip("/") + "/status"
    try:
        requests.get(
            url,
            timeout=min(_PROBE_TIMEOUT, float(ox.settings.requests_timeout)),
            headers={"User-Agent": ox.settings.http_user_agent},
            **ox.settings.requests_kwargs,
        )
    except requests.RequestException as exc:
        logger.info("Overpass status endpoint unreachable (%s); using cached responses only", exc)
        ox.settings.overpass_rate_limit = False
        ox.settings.doh_url_template = None


def _offline_error(what: str, exc: BaseException) -> OnlineFetchError:
    return OnlineFetchError(
        f"could not {what} ({type(exc).__name__}: {exc}). This machine appears to be offline or "
        "the OpenStreetMap servers are unreachable. urbankit caches every download in "
        f"settings.cache_folder ({Path(settings.cache_folder)}), so areas fetched before work "
        "offline; otherwise download an OSM extract (e.g. from Geofabrik, BBBike or "
        "https://extract.bbbike.org) and pass the file to urbankit.read_osm instead."
    )


def _server_error(what: str, exc: BaseException) -> OnlineFetchError:
    return OnlineFetchError(
        f"could not {what}: the server answered with an error ({exc}). OpenStreetMap services are "
        "rate-limited and sometimes overloaded: retry in a few minutes, or download an OSM extract "
        "(e.g. from Geofabrik or BBBike) and pass the file to urbankit.read_osm instead."
    )


@contextmanager
def _network_errors(what: str) -> Iterator[None]:
    """Translate connection failures and HTTP errors raised inside osmnx into OnlineFetchError."""
    internals = _osmnx_internals()
    try:
        yield
    except (requests.RequestException, ConnectionError, TimeoutError) as exc:
        raise _offline_error(what, exc) from exc
    except internals.ResponseStatusCodeError as exc:
        raise _server_error(what, exc) from exc


# --------------------------------------------------------------------------------------------------
# areas
# --------------------------------------------------------------------------------------------------


def _normalise_query(query: str) -> str:
    return " ".join(query.casefold().split())


def _geocode(query: str) -> tuple[Polygon | MultiPolygon, dict]:
    """The boundary polygon of a place name, via Nominatim."""
    import osmnx as ox

    internals = _osmnx_internals()
    hint = (
        "Try a more specific name with the region and country (e.g. 'West Oakland, Oakland, "
        "California, USA'), or pass the area as a bounding box with urbankit.from_bbox "
        "(west, south, east, north) or as a polygon with urbankit.from_polygon."
    )
    with _network_errors(f"geocode {query!r} with Nominatim"):
        try:
            gdf = ox.geocode_to_gdf(query)
        except internals.InsufficientResponseError as exc:
            if "responded" in str(exc):  # osmnx's message for a non-JSON server answer
                raise _server_error(f"geocode {query!r} with Nominatim", exc) from exc
            raise PlaceNotFoundError(f"OpenStreetMap's geocoder found no place named {query!r}. {hint}") from exc
        except TypeError as exc:  # osmnx: results exist but none is a (Multi)Polygon
            if "geocode" not in str(exc):
                raise
            raise PlaceNotFoundError(
                f"{query!r} was found by OpenStreetMap's geocoder only as a point or line, not as an "
                f"area with a boundary. {hint}"
            ) from exc
    geom = gdf.geometry.iloc[0]
    polygon = _polygonal_part(geom)
    if polygon is None:
        raise PlaceNotFoundError(f"{query!r} was geocoded to a {geom.geom_type}, not an area. {hint}")
    row = gdf.iloc[0]
    info = {k: row[k] for k in ("display_name", "osm_type", "osm_id") if k in gdf.columns}
    logger.info("geocoded %r to %s", query, info.get("display_name", polygon.bounds))
    return polygon, info


def _polygonal_part(geom) -> Polygon | MultiPolygon | None:
    """The (multi)polygon part of ``geom`` (made valid), or None when it has no area."""
    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    polys = [g for g in getattr(geom, "geoms", ()) if isinstance(g, (Polygon, MultiPolygon))]
    if not polys:
        return None
    merged = shapely.union_all(polys)
    return merged if isinstance(merged, (Polygon, MultiPolygon)) and not merged.is_empty else None


def _check_degrees(geom, what: str) -> None:
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise CRSError(
            f"{what} has coordinates outside longitude/latitude range (bounds {geom.bounds}); it "
            "seems projected. Give it in EPSG:4326 degrees, or pass a GeoSeries/GeoDataFrame "
            "with its CRS set so urbankit can reproject it."
        )


def _polygon_from_input(polygon) -> Polygon | MultiPolygon:
    """Validate and reproject the input of :func:`from_polygon` to an EPSG:4326 (multi)polygon."""
    if isinstance(polygon, (gpd.GeoSeries, gpd.GeoDataFrame)):
        series = polygon.geometry if isinstance(polygon, gpd.GeoDataFrame) else polygon
        if series.crs is None:
            raise CRSError(
                "the polygon's GeoSeries/GeoDataFrame has no CRS; set it first, e.g. "
                "`gdf.set_crs('EPSG:4326')` for longitude/latitude or the CRS the coordinates "
                "are in, so urbankit can reproject it."
            )
        series = series[series.notna() & ~series.is_empty]
        if len(series) == 0:
            raise InvalidOptionError("the polygon's GeoSeries/GeoDataFrame is empty; give an area.")
        geom = shapely.union_all(series.to_crs("EPSG:4326").values)
    elif isinstance(polygon, shapely.Geometry):
        geom = polygon
        _check_degrees(geom, "the polygon")
    else:
        raise InvalidOptionError(
            f"polygon must be a shapely Polygon/MultiPolygon in EPSG:4326 or a GeoSeries/GeoDataFrame "
            f"with a CRS, not {type(polygon).__name__}."
        )
    result = _polygonal_part(geom)
    if result is None:
        raise InvalidOptionError(
            f"the polygon is a {geom.geom_type} without area; give a Polygon or MultiPolygon "
            "(buffer points or lines first, in a projected CRS)."
        )
    return result


def _bbox_polygon(bbox) -> Polygon:
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        raise InvalidOptionError(
            f"bbox must be four numbers (west, south, east, north) in degrees, got {bbox!r}."
        ) from exc
    if not all(np.isfinite((west, south, east, north))):
        raise InvalidOptionError(f"bbox {bbox!r} contains non-finite values.")
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise CRSError(
            f"bbox {bbox!r} is outside longitude/latitude range; give (west, south, east, north) in "
            "EPSG:4326 degrees."
        )
    if not (west < east and south < north):
        raise InvalidOptionError(
            f"bbox {bbox!r} is empty or in the wrong order; give (west, south, east, north) with "
            "west < east and south < north, e.g. (-122.31, 37.80, -122.29, 37.82)."
        )
    return shapely.box(west, south, east, north)


# --------------------------------------------------------------------------------------------------
# conversion of Overpass elements and osmnx features to the OSMExtract schema
# --------------------------------------------------------------------------------------------------


def _unique_elements(elements: Iterable[dict]) -> list[dict]:
    """Elements deduplicated by (type, id) (subdivided queries overlap) and sorted by type and id."""
    unique = {(el["type"], el["id"]): el for el in elements}
    return [unique[k] for k in sorted(unique, key=lambda k: (_TYPE_ORDER.get(k[0], 3), k[1]))]


def _streets_from_elements(elements: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """``ways`` and ``way_nodes`` frames from Overpass elements, exactly as ``read_osm`` builds them."""
    coords = {el["id"]: (el["lon"], el["lat"]) for el in elements if el["type"] == "node" and "lat" in el}
    streets = StreetCollector()
    for el in elements:
        if el["type"] != "way":
            continue
        tags = el.get("tags", {})
        if not is_street(tags):
            continue
        row = tuple(tags.get(k) for k in STREET_TAGS)
        run: list[int] = []
        for ref in el.get("nodes", ()):
            if ref in coords:
                run.append(ref)
                continue
            streets.missing += 1  # cut the way at nodes absent from the response, as read_osm does
            streets.add_run(el["id"], row, run, [coords[r][0] for r in run], [coords[r][1] for r in run])
            run = []
        streets.add_run(el["id"], row, run, [coords[r][0] for r in run], [coords[r][1] for r in run])
    ways, way_nodes = streets.frames()
    missing = streets.missing
    return ways, way_nodes, missing


def _as_area(geom) -> MultiPolygon | None:
    """A feature's area as a MultiPolygon (like osmium's areas), None when it has none."""
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, LineString):
        # a closed way that osmnx kept as a line (its tags do not denote an area): osmium builds
        # an area from every closed way that is not tagged area=no
        if geom.is_closed and len(geom.coords) >= 4:
            poly = Polygon(geom.coords)
            if poly.is_valid and not poly.is_empty:
                return MultiPolygon([poly])
        return None
    polygonal = _polygonal_part(geom)
    if isinstance(polygonal, Polygon):
        return MultiPolygon([polygonal])
    return polygonal


def _split_features(gdf: gpd.GeoDataFrame | None, poi_keys: tuple[str, ...], buildings: bool):
    """Split an osmnx features GeoDataFrame into urbankit's ``features`` and ``buildings``.

    The rules are those of ``read_osm``: nodes with a destination key are features; open ways (and
    closed ways tagged ``area=no``) with a destination key other than ``highway`` are line features;
    other closed ways and multipolygon/boundary relations are areas, which are features when they
    carry a destination key other than ``highway`` alone, and buildings when ``building`` is set and
    not ``no``. Buildings are reduced as in ``read_osm``: a point at the footprint's centroid and the
    footprint area ``footprint_m2`` (both computed by the same function from the polygon's rings).
    """
    if gdf is None or len(gdf) == 0:
        return empty_features(), empty_buildings()
    gdf = gdf.reset_index()
    # osmnx spreads tags over one column per key: gather each row's non-null ones, column by
    # column, so the work follows the number of tags rather than rows x keys
    records: list[dict] = [{} for _ in range(len(gdf))]
    positions = pd.RangeIndex(len(gdf))
    for col in gdf.columns:
        if col in ("element", "id", gdf.geometry.name):
            continue
        values = gdf[col].set_axis(positions).dropna()
        for i, value in zip(values.index, values.to_numpy(), strict=True):
            records[i][col] = value
    poi_set = set(poi_keys)
    other_poi = poi_set - {"highway"}
    feat_rows, feat_geom, bld_rows, bld_geom = [], [], [], []
    for osm_type, osm_id, geom, tags in zip(gdf["element"], gdf["id"], gdf.geometry, records, strict=True):
        if osm_type == "relation":
            tags.pop("type", None)  # osmium's areas of multipolygon/boundary relations omit it
        has_poi = not poi_set.isdisjoint(tags)
        if geom is None or geom.is_empty:
            continue
        if osm_type == "node":
            if has_poi:
                feat_rows.append(("node", int(osm_id), tags.get("name"), tags))
                feat_geom.append(geom)
            continue
        area = None
        if not (osm_type == "way" and tags.get("area") == "no"):
            area = _as_area(geom)
        if area is None:
            # open ways, and closed ones tagged area=no, are line features when they carry a
            # destination key other than highway (e.g. bus platforms)
            if (
                osm_type == "way"
                and isinstance(geom, LineString)
                and (not geom.is_closed or tags.get("area") == "no")
                and not other_poi.isdisjoint(tags)
            ):
                feat_rows.append(("way", int(osm_id), tags.get("name"), tags))
                feat_geom.append(geom)
            continue
        if has_poi and not ("highway" in tags and other_poi.isdisjoint(tags)):
            feat_rows.append((osm_type, int(osm_id), tags.get("name"), tags))
            feat_geom.append(area)
        if buildings and tags.get("building", "no") != "no":
            bld_rows.append((osm_type, int(osm_id)) + tuple(tags.get(k) for k in BUILDING_TAGS))
            bld_geom.append(area)

    features = gpd.GeoDataFrame(
        pd.DataFrame(feat_rows, columns=["osm_type", "osm_id", "name", "tags"]),
        geometry=feat_geom if feat_geom else [],
        crs="EPSG:4326",
    )
    area_m2, lon, lat = polygon_footprints(bld_geom)
    bld = building_frame(
        [r[0] for r in bld_rows],
        [r[1] for r in bld_rows],
        {k: [r[2 + i] for r in bld_rows] for i, k in enumerate(BUILDING_TAGS)},
        area_m2,
        lon,
        lat,
    )
    return features, bld


def _download_features(polygon, poi_keys: tuple[str, ...], buildings: bool):
    """Destinations and buildings inside ``polygon``, in one osmnx features query."""
    import osmnx as ox

    tags: dict[str, bool] = {k: True for k in poi_keys}
    if buildings:
        tags["building"] = True
    if not tags:
        return empty_features(), empty_buildings()
    internals = _osmnx_internals()
    with _network_errors("download destinations and buildings from Overpass"):
        try:
            gdf = ox.features_from_polygon(polygon, tags=tags)
        except internals.InsufficientResponseError as exc:
            if "responded" in str(exc):  # osmnx's message for a non-JSON server answer
                raise _server_error("download destinations and buildings from Overpass", exc) from exc
            logger.info("no destinations or buildings in the area (%s)", exc)
            gdf = None
    return _split_features(gdf, poi_keys, buildings)


# --------------------------------------------------------------------------------------------------
# hashing and the shared driver
# --------------------------------------------------------------------------------------------------


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return str(value)


def _content_sha256(query_key: str, poi_keys, buildings: bool, elements, features, bld) -> str:
    """Hash of the normalised query, the options and the downloaded content."""
    h = hashlib.sha256()

    def put(obj) -> None:
        h.update(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default).encode())
        h.update(b"\n")

    put([_FORMAT_VERSION, query_key, sorted(poi_keys), bool(buildings)])
    for el in elements:
        put([el["type"], el["id"], el.get("lat"), el.get("lon"), el.get("nodes"), el.get("tags", {})])
    for frame, name in ((features, "features"), (bld, "buildings")):
        put([name, len(frame)])
        records = pd.DataFrame(frame.drop(columns=frame.geometry.name)).to_dict("records")
        wkb = shapely.to_wkb(frame.geometry.values, hex=True) if len(frame) else []
        order = sorted(range(len(frame)), key=lambda i: (records[i]["osm_type"], int(records[i]["osm_id"])))
        for i in order:
            put([records[i], wkb[i]])
    return h.hexdigest()


def _fetch(polygon, *, query_key: str, source: str, poi_keys, buildings: bool, geocode: str | None) -> OSMExtract:
    import osmnx as ox

    poi_keys = tuple(poi_keys) if poi_keys is not None else DEFAULT_POI_KEYS
    meta: dict = {"online": True, "poi_keys": poi_keys, "query": query_key, "osmnx_version": ox.__version__}
    with _osmnx_session():
        if geocode is not None:
            polygon, info = _geocode(geocode)
            meta["geocoded"] = info
        meta["polygon"] = polygon
        _go_offline_if_unreachable()
        with _network_errors("download the street network from Overpass"):
            elements = _unique_elements(_download_street_elements(polygon))
        ways, way_nodes, missing = _streets_from_elements(elements)
        if len(ways) == 0:
            raise NoStreetsError(
                f"OpenStreetMap has no street ways (ways tagged highway=*) in {source}; check that "
                "the area is the one you meant (bbox order is west, south, east, north)."
            )
        if missing:
            logger.warning(
                "%s: %d node references of street ways were missing from the Overpass response; "
                "ways were cut at the missing nodes.",
                source,
                missing,
            )
        features, bld = _download_features(polygon, poi_keys, buildings)
    extract = OSMExtract(
        ways=ways,
        way_nodes=way_nodes,
        features=features,
        buildings=bld,
        source=source,
        sha256=_content_sha256(query_key, poi_keys, buildings, elements, features, bld),
        missing_node_refs=missing,
        meta=meta,
    )
    logger.info("downloaded %s", extract)
    return extract


# --------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------


def from_place(query: str, *, poi_keys: tuple[str, ...] | None = None, buildings: bool = True) -> OSMExtract:
    """Download the OpenStreetMap data of a named place (geocoded with Nominatim).

    The place's boundary comes from Nominatim (the first result that is an area); street ways with
    all their nodes, destinations and buildings inside it come from Overpass. Everything is cached
    under ``settings.cache_folder / "osmnx"`` (when ``settings.use_cache``), so repeating a call
    needs no network.

    Parameters
    ----------
    query : str
        A place name, e.g. ``"West Oakland, Oakland, California, USA"``.
    poi_keys : tuple of str, optional
        Tag keys that make an object a candidate destination. Default
        :data:`urbankit.osm.DEFAULT_POI_KEYS`, as for :func:`urbankit.read_osm`.
    buildings : bool, default True
        Also download building footprints (used for population estimates).

    Returns
    -------
    OSMExtract
        Same content and columns as :func:`urbankit.read_osm` of an extract of the area. Street
        ways reaching into the area are complete (not clipped at its boundary); ``meta["polygon"]``
        holds the area. ``sha256`` hashes the normalised query and the downloaded content.

    Raises
    ------
    PlaceNotFoundError
        Nominatim knows no area of that name.
    OnlineFetchError
        The servers cannot be reached (offline) and nothing is cached, or they answered with an error.
    NoStreetsError
        The area holds no street ways.
    InvalidOptionError
        ``query`` is empty.

    Notes
    -----
    Nominatim and Overpass are shared, rate-limited services: osmnx pauses between requests and,
    on HTTP 429/504 answers, waits and retries. For large areas or repeated batch work prefer a
    downloaded extract and :func:`urbankit.read_osm`.

    Examples
    --------
    Fetches from the internet (Nominatim, Overpass), so this example is not run as a doctest:

    .. code-block:: python

        import urbankit as uk

        ex = uk.from_place("West Oakland, Oakland, California, USA")
    """
    if not isinstance(query, str) or not query.strip():
        raise InvalidOptionError(f"query must be a non-empty place name, got {query!r}.")
    key = "place:" + _normalise_query(query)
    return _fetch(None, query_key=key, source=f"place {query!r}", poi_keys=poi_keys, buildings=buildings, geocode=query)


def from_bbox(
    bbox: tuple[float, float, float, float],
    *,
    poi_keys: tuple[str, ...] | None = None,
    buildings: bool = True,
) -> OSMExtract:
    """Download the OpenStreetMap data inside a bounding box.

    Parameters
    ----------
    bbox : tuple of float
        ``(west, south, east, north)`` in EPSG:4326 degrees.
    poi_keys : tuple of str, optional
        Tag keys that make an object a candidate destination. Default
        :data:`urbankit.osm.DEFAULT_POI_KEYS`.
    buildings : bool, default True
        Also download building footprints.

    Returns
    -------
    OSMExtract
        As :func:`from_place`.

    Raises
    ------
    InvalidOptionError
        ``bbox`` is not four numbers with west < east and south < north.
    CRSError
        The numbers are outside longitude/latitude range (projected coordinates).
    OnlineFetchError, NoStreetsError
        As :func:`from_place`.

    Examples
    --------
    Fetches from the internet (Overpass), so this example is not run as a doctest:

    .. code-block:: python

        import urbankit as uk

        ex = uk.from_bbox((-122.31, 37.80, -122.29, 37.82))
    """
    polygon = _bbox_polygon(bbox)
    w, s, e, n = polygon.bounds
    key = f"bbox:{w:.7f},{s:.7f},{e:.7f},{n:.7f}"
    return _fetch(
        polygon,
        query_key=key,
        source=f"bbox ({w:.6f}, {s:.6f}, {e:.6f}, {n:.6f})",
        poi_keys=poi_keys,
        buildings=buildings,
        geocode=None,
    )


def from_polygon(
    polygon,
    *,
    poi_keys: tuple[str, ...] | None = None,
    buildings: bool = True,
) -> OSMExtract:
    """Download the OpenStreetMap data inside a polygon.

    Parameters
    ----------
    polygon : shapely.Polygon, shapely.MultiPolygon, geopandas.GeoSeries or geopandas.GeoDataFrame
        The area. Shapely geometries must be in EPSG:4326 (longitude, latitude). GeoSeries and
        GeoDataFrames must have a CRS; they are reprojected and their geometries merged.
    poi_keys : tuple of str, optional
        Tag keys that make an object a candidate destination. Default
        :data:`urbankit.osm.DEFAULT_POI_KEYS`.
    buildings : bool, default True
        Also download building footprints.

    Returns
    -------
    OSMExtract
        As :func:`from_place`.

    Raises
    ------
    CRSError
        A GeoSeries/GeoDataFrame without CRS, or a shapely geometry with projected coordinates.
    InvalidOptionError
        The input is not a geometry with an area.
    OnlineFetchError, NoStreetsError
        As :func:`from_place`.

    Examples
    --------
    Fetches from the internet (Overpass), so this example is not run as a doctest:

    .. code-block:: python

        import shapely
        import urbankit as uk

        ex = uk.from_polygon(shapely.box(-122.31, 37.80, -122.29, 37.82))
    """
    geom = _polygon_from_input(polygon)
    key_geom = shapely.normalize(shapely.set_precision(geom, 1e-7))
    key = "polygon:" + hashlib.sha256(shapely.to_wkb(key_geom)).hexdigest()
    w, s, e, n = geom.bounds
    return _fetch(
        geom,
        query_key=key,
        source=f"polygon within ({w:.6f}, {s:.6f}, {e:.6f}, {n:.6f})",
        poi_keys=poi_keys,
        buildings=buildings,
        geocode=None,
    )
