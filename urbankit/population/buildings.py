"""Residents estimated from OSM buildings: classification, levels, floor area, calibration and plausibility."""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import (
    PopulationError,
)
from .estimate import (
    _MAX_LEVELS,
    ACTIVITY_KEYS,
    AMENITY_NOT_PREMISES,
    BOUNDARY_INSIDE_SHARE,
    BOUNDARY_MAX_GAP_SHARE,
    BOUNDARY_MIN_MEMBERS_SHARE,
    DEFAULT_LEVELS_BY_TYPE,
    DEFAULT_LEVELS_OTHER,
    MAX_AREA_DENSITY_PER_KM2,
    MAX_CELL_DENSITY_PER_KM2,
    MAX_DEFAULT_LEVELS,
    MIN_FOOTPRINT_M2_PER_STREET_KM,
    MIN_TAGGED_FOR_LOCAL_LEVELS,
    NON_RESIDENTIAL_BUILDINGS,
    NON_RESIDENTIAL_LANDUSE,
    RESIDENTIAL_LANDUSE,
    PopulationEstimate,
)

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# buildings


def _parse_max_number(values: pd.Series, *, height: bool = False) -> np.ndarray:
    """Largest number in an OSM value (``"3"``, ``"3.5"``, ``"3;4"``), NaN when unparseable.

    With ``height=True`` a unit ``m`` is accepted and feet (``ft``, ``'``) are converted.
    """
    s = pd.Series(values.to_numpy(dtype=object), dtype="string")  # positional index
    parts = s.str.split(";").explode().str.strip()
    if height:
        m = parts.str.extract(r"^(\d+(?:\.\d+)?)\s*(m|ft|')?$", expand=True)
        num = pd.to_numeric(m[0], errors="coerce")
        num = num.where(~m[1].isin(["ft", "'"]), num * 0.3048)
    else:
        num = pd.to_numeric(parts.where(parts.str.fullmatch(r"\d+(?:\.\d+)?").fillna(False)), errors="coerce")
    out = num.astype(float).groupby(level=0).max()
    return np.array(out.reindex(range(len(s))), dtype=float)  # a writable copy


def _building_levels(b: pd.DataFrame, *, level_height_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Levels (NaN where unknown) and how each was found (0 tag, 1 height, -1 unknown)."""
    n = len(b)
    none = pd.Series([None] * n, dtype=object)
    levels = _parse_max_number(b["building:levels"] if "building:levels" in b else none)
    levels[(levels <= 0) | (levels > _MAX_LEVELS)] = np.nan
    min_level = _parse_max_number(b["building:min_level"] if "building:min_level" in b else none)
    sub = np.isfinite(levels) & np.isfinite(min_level) & (min_level < levels)
    levels[sub] = levels[sub] - min_level[sub]
    height = _parse_max_number(b["height"] if "height" in b else none, height=True)
    from_height = np.maximum(1.0, np.round(height / level_height_m))
    from_height[~(height > 0) | (from_height > _MAX_LEVELS)] = np.nan
    how = np.where(np.isfinite(levels), 0, np.where(np.isfinite(from_height), 1, -1))
    return np.where(np.isfinite(levels), levels, from_height), how


def _tag(b: pd.DataFrame, key: str) -> pd.Series:
    """A tag column as lower-case stripped strings (<NA> where absent), positional index."""
    if key not in b.columns:
        return pd.Series(pd.NA, index=range(len(b)), dtype="string")
    return pd.Series(b[key].to_numpy(dtype=object), dtype="string").str.strip().str.lower()


def _activity_points(features) -> np.ndarray:
    """(n, 2) lon/lat of the OSM points that are shops, offices, crafts, healthcare or amenity premises."""
    if features is None or len(features) == 0 or "tags" not in features.columns:
        return np.empty((0, 2))
    geom = features.geometry.values
    is_pt = shapely.get_type_id(geom) == 0
    tags = features["tags"].to_numpy(dtype=object)[is_pt]

    def premises(t) -> bool:
        if not isinstance(t, dict):
            return False
        if any(k in t for k in ACTIVITY_KEYS):
            return True
        a = t.get("amenity")
        return a is not None and a not in AMENITY_NOT_PREMISES

    ok = np.fromiter((premises(t) for t in tags), dtype=bool, count=len(tags))
    return shapely.get_coordinates(geom[is_pt][ok])


def _landuse_of(points_4326: np.ndarray, features) -> tuple[np.ndarray, np.ndarray]:
    """Whether each building point lies in a residential / a non-residential ``landuse`` polygon."""
    n = len(points_4326)
    res, nonres = np.zeros(n, bool), np.zeros(n, bool)
    if features is None or len(features) == 0 or "tags" not in features.columns or n == 0:
        return res, nonres
    geom = features.geometry.values
    is_poly = np.isin(shapely.get_type_id(geom), (3, 6))
    values = np.array(
        [t.get("landuse") if isinstance(t, dict) else None for t in features["tags"].to_numpy(dtype=object)[is_poly]],
        dtype=object,
    )
    for want, out in ((RESIDENTIAL_LANDUSE, res), (NON_RESIDENTIAL_LANDUSE, nonres)):
        polys = geom[is_poly][np.isin(values, list(want))]
        if len(polys):
            hit = shapely.STRtree(polys).query(shapely.points(points_4326), predicate="within")[0]
            out[hit] = True
    return res, nonres


def _default_levels(kind: pd.Series, levels: np.ndarray, counted: np.ndarray) -> tuple[np.ndarray, dict]:
    """Levels for buildings without any: per class (houses / others) the median of the tagged buildings
    of the class counted as homes when there are at least :data:`MIN_TAGGED_FOR_LOCAL_LEVELS`, capped
    at :data:`MAX_DEFAULT_LEVELS`, else :data:`DEFAULT_LEVELS_BY_TYPE`."""
    by_type = kind.map(DEFAULT_LEVELS_BY_TYPE).astype(float).to_numpy(na_value=np.nan)
    house = np.isfinite(by_type)
    out = np.where(house, by_type, DEFAULT_LEVELS_OTHER)
    info = {}
    known = np.isfinite(levels) & counted
    for name, cls in (("houses", house), ("other", ~house)):
        tagged = known & cls
        if tagged.sum() >= MIN_TAGGED_FOR_LOCAL_LEVELS:
            med = float(min(np.median(levels[tagged]), MAX_DEFAULT_LEVELS))
            out[cls] = med
            info[f"default_levels_{name}"] = f"{med:g} (median of {int(tagged.sum())} tagged buildings)"
        else:
            info[f"default_levels_{name}"] = (
                f"by type ({int(tagged.sum())} tagged buildings, fewer than {MIN_TAGGED_FOR_LOCAL_LEVELS})"
            )
    return out, info


def _street_km(context) -> float | None:
    """Length of the street ways of an OSM extract, km (None without one)."""
    wn = getattr(context, "way_nodes", None)
    if wn is None or len(wn) < 2:
        return None
    way = wn["way"].to_numpy()
    lon, lat = np.radians(wn["lon"].to_numpy(float)), np.radians(wn["lat"].to_numpy(float))
    same = way[1:] == way[:-1]
    dx = np.diff(lon) * np.cos((lat[1:] + lat[:-1]) / 2)
    dy = np.diff(lat)
    return float((np.hypot(dx, dy)[same]).sum() * 6_371.0088)


def _calibration_boundary(context, nodes_crs, hull, pts_xy: np.ndarray, residents: np.ndarray):
    """The boundary (or place area) with a population tag that calibrates the estimate, as
    (name, population, inside mask, note), or None; the reasons others were not used are logged."""
    areas = (getattr(context, "meta", None) or {}).get("population_areas") or []
    best = None
    for a in areas:
        name = a.get("name") or f"{a.get('osm_type')} {a.get('osm_id')}"
        try:
            pop = float(str(a.get("population")).replace(",", "").replace(" ", ""))
        except ValueError:
            logger.info("population tag %r of %s is not a number; not used", a.get("population"), name)
            continue
        if not (math.isfinite(pop) and pop > 0):
            continue
        if "members_total" in a and (
            a["members_found"] < BOUNDARY_MIN_MEMBERS_SHARE * a["members_total"]
            or a["gap_m"] > BOUNDARY_MAX_GAP_SHARE * a["perimeter_m"]
        ):
            continue  # mostly outside the extract: only a few of its ways are in the file
        poly = gpd.GeoSeries.from_wkb([bytes.fromhex(a["wkb_hex"])], crs="EPSG:4326").to_crs(nodes_crs).values[0]
        if poly.is_empty or poly.area <= 0:
            continue
        share = shapely.area(shapely.intersection(poly, hull)) / poly.area
        if share < BOUNDARY_INSIDE_SHARE:
            logger.debug("boundary %s: only %.0f%% inside the network's area; not used", name, 100 * share)
            continue
        inside = shapely.contains_xy(poly, pts_xy[:, 0], pts_xy[:, 1])
        est_inside = float(residents[inside].sum())
        if est_inside <= 0:
            continue
        if best is None or poly.area > best[4]:
            best = (name, pop, inside, est_inside, poly.area)
    return best


def _plausibility(xy_nodes: np.ndarray, nodes_crs, per_node: np.ndarray, hull) -> dict:
    """Gross residential density over the network's area and per H3 cell (resolution 8), with a
    warning above :data:`MAX_AREA_DENSITY_PER_KM2` / :data:`MAX_CELL_DENSITY_PER_KM2`."""
    area_km2 = float(shapely.area(hull)) / 1e6
    out: dict = {"area_km2": area_km2}
    if area_km2 > 0:
        dens = float(per_node.sum()) / area_km2
        out["density_per_km2"] = dens
        if dens > MAX_AREA_DENSITY_PER_KM2:
            logger.warning(
                "implausible estimate: %s residents/km² over the whole %.2f km² area, above the densest "
                "European districts (%s/km²); pass a population grid or a known total=.",
                f"{dens:,.0f}",
                area_km2,
                f"{MAX_AREA_DENSITY_PER_KM2:,.0f}",
            )
    try:
        import h3
    except ImportError:  # pragma: no cover - h3 is a dependency of the hex layer
        return out
    lonlat = gpd.GeoSeries(shapely.points(xy_nodes), crs=nodes_crs).to_crs("EPSG:4326")
    cells = np.array([h3.latlng_to_cell(y, x, 8) for x, y in zip(lonlat.x, lonlat.y)], dtype=object)
    sums = pd.Series(per_node).groupby(cells).sum()
    if len(sums):
        dens = np.array([v / h3.cell_area(c, unit="km^2") for c, v in sums.items()])
        out["max_cell_density_per_km2"] = float(dens.max())
        if dens.max() > MAX_CELL_DENSITY_PER_KM2:
            logger.warning(
                "implausible estimate: %d H3 cells (resolution 8) hold more than %s residents/km² (up to %s); "
                "pass a population grid or a known total=.",
                int((dens > MAX_CELL_DENSITY_PER_KM2).sum()),
                f"{MAX_CELL_DENSITY_PER_KM2:,.0f}",
                f"{dens.max():,.0f}",
            )
    return out


def _from_buildings(
    nodes: gpd.GeoDataFrame,
    xy: np.ndarray,
    buildings: gpd.GeoDataFrame,
    *,
    floor_area_per_resident_m2: float,
    default_levels: float | None,
    max_snap_m: float,
    level_height_m: float,
    residential,
    context=None,
    total: float | None = None,
) -> PopulationEstimate:
    from scipy.spatial import cKDTree

    n_nodes = len(xy)
    residential = {str(v).strip().lower() for v in residential}
    b = buildings.reset_index(drop=True)
    kind = _tag(b, "building")
    use = _tag(b, "building:use")
    geom = b.geometry.values
    type_id = shapely.get_type_id(geom)
    nonempty = ~shapely.is_empty(geom)
    is_poly = np.isin(type_id, (3, 6)) & nonempty
    # points carrying their footprint area (read_osm's buildings); polygons use their own area
    footprint = np.full(len(b), np.nan)
    if "footprint_m2" in b.columns:
        footprint = pd.to_numeric(b["footprint_m2"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    is_point = (type_id == 0) & nonempty & np.isfinite(footprint) & (footprint >= 0)
    has_footprint = is_poly | is_point
    geom_m = gpd.GeoSeries(np.where(has_footprint, geom, None), crs=b.crs).to_crs(nodes.crs).values
    area = np.where(is_poly, shapely.area(geom_m), np.where(is_point, footprint, 0.0))
    area = np.nan_to_num(area)

    # --- classification: typed homes, typed non-homes, untyped (judged by land use and activities)
    typed_res = kind.isin(residential).fillna(False).to_numpy(bool) | use.isin(residential).fillna(False).to_numpy(bool)
    typed_non = (kind.isin(NON_RESIDENTIAL_BUILDINGS).fillna(False).to_numpy(bool) & ~typed_res) | (
        use.notna().to_numpy(bool) & ~use.isin(residential | {"mixed", "mixed_use"}).fillna(False).to_numpy(bool)
    )
    mixed = (kind.isin({"mixed", "mixed_use"}) | use.isin({"mixed", "mixed_use"})).fillna(False).to_numpy(bool)
    typed_res = (typed_res | mixed) & ~typed_non
    untyped = ~typed_res & ~typed_non
    # activities on the building itself (its own shop/office/amenity tags) or points inside it
    amen = _tag(b, "amenity")
    on_it = amen.notna().to_numpy(bool) & ~amen.isin(AMENITY_NOT_PREMISES).fillna(False).to_numpy(bool)
    for key in ("shop", "office"):
        on_it |= _tag(b, key).notna().to_numpy(bool)
    features = getattr(context, "features", None)
    cent_m = shapely.get_coordinates(shapely.centroid(geom_m[has_footprint]))
    cent = np.full((len(b), 2), np.nan)
    cent[has_footprint] = cent_m
    acts = _activity_points(features)
    n_inside = np.zeros(len(b), dtype=np.int64)
    if len(acts) and has_footprint.any():
        acts_m = shapely.get_coordinates(gpd.GeoSeries(shapely.points(acts), crs="EPSG:4326").to_crs(nodes.crs).values)
        radius = np.sqrt(area[has_footprint] / np.pi)  # the disc of the footprint's area
        n_inside[has_footprint] = cKDTree(acts_m).query_ball_point(cent_m, r=radius, return_length=True)
    activities = on_it | (n_inside > 0) | mixed
    pts_4326 = np.full((len(b), 2), np.nan)
    if has_footprint.any():
        pts_4326[has_footprint] = shapely.get_coordinates(
            gpd.GeoSeries(shapely.points(cent_m), crs=nodes.crs).to_crs("EPSG:4326").values
        )
    lu_res, lu_non = np.zeros(len(b), bool), np.zeros(len(b), bool)
    lu_res[has_footprint], lu_non[has_footprint] = _landuse_of(pts_4326[has_footprint], features)
    untyped_home = untyped & (lu_res | (~lu_non & ~activities))
    counted = (typed_res | untyped_home) & has_footprint
    ground_lost = counted & activities

    details: dict = {
        "label": "OSM buildings",
        "method": (f"footprint x residential levels / {floor_area_per_resident_m2:g} m² gross floor area per resident"),
        "buildings_total": len(b),
        "buildings_non_residential": int((~(typed_res | untyped_home)).sum()),
        "buildings_typed_non_residential": int(typed_non.sum()),
        "buildings_untyped": int(untyped.sum()),
        "buildings_untyped_counted": int((untyped_home & has_footprint).sum()),
        "buildings_with_activities": int((counted & activities).sum()),
        "buildings_not_polygons": int(((typed_res | untyped_home) & ~has_footprint).sum()),
        "floor_area_per_resident_m2": floor_area_per_resident_m2,
    }
    if isinstance(getattr(context, "source", None), str):
        details["file"] = context.source

    # --- sparse buildings: refuse rather than invent residents
    street_km = _street_km(context)
    if street_km:
        per_km = float(area[has_footprint].sum()) / street_km
        details.update(street_km=street_km, footprint_m2_per_street_km=per_km)
        if per_km < MIN_FOOTPRINT_M2_PER_STREET_KM:
            msg = (
                f"the buildings are too sparse to estimate residents: {per_km:,.0f} m² of building "
                f"footprint per km of street ({int(has_footprint.sum()):,} buildings, {street_km:,.1f} km of "
                f"streets), far below the {MIN_FOOTPRINT_M2_PER_STREET_KM:,.0f} m²/km of even a thinly built "
                "suburb: most buildings are not mapped here. Pass a population grid or raster "
                "(population=/grid=, e.g. WorldPop or GHSL), or the known number of residents (total=; CLI "
                "--population-total)."
            )
            if total is None:
                raise PopulationError(msg)
            logger.warning("%s Sharing total=%s over them anyway.", msg, f"{total:,.0f}")

    if not counted.any():
        seen = kind.value_counts(dropna=False).head(8)
        seen_s = ", ".join(f"{k}={v}" for k, v in seen.items()) or "none"
        raise PopulationError(
            f"none of the {len(b)} buildings is a residential footprint (a polygon, or a "
            f"point with footprint_m2; building values seen: {seen_s}); the estimate would be 0 "
            "residents. Give residential footprints, pass residential={...} with the values that "
            "mean homes here, or use a population grid."
        )

    rows = np.flatnonzero(counted)
    levels_all, how_all = _building_levels(b, level_height_m=level_height_m)
    levels, how = levels_all[rows], how_all[rows]
    if default_levels is None:
        defaults, info = _default_levels(kind.iloc[rows].reset_index(drop=True), levels, np.ones(len(rows), bool))
        details.update(info)
    else:
        defaults = np.full(len(rows), float(default_levels))
        details["default_levels"] = float(default_levels)
    levels = np.where(np.isfinite(levels), levels, defaults)
    res_levels = np.where(ground_lost[rows], np.maximum(levels - 1.0, 0.0), levels)
    residents = area[rows] * res_levels / floor_area_per_resident_m2

    xy_b = cent[rows]
    dist, nearest = cKDTree(xy).query(xy_b, k=1)
    ok = dist <= max_snap_m
    details.update(
        buildings_used=int(counted.sum()),
        buildings_ground_floor_not_homes=int(ground_lost.sum()),
        buildings_levels_tagged=int((how == 0).sum()),
        buildings_levels_from_height=int((how == 1).sum()),
        buildings_default_levels=int((how == -1).sum()),
        floor_area_m2=float((area[rows] * res_levels).sum()),
    )

    # --- calibration to a population tag of a boundary lying within the network's area
    hull = shapely.buffer(shapely.convex_hull(shapely.multipoints(xy)), 100.0)
    if total is None and context is not None:
        best = _calibration_boundary(context, nodes.crs, hull, xy_b, residents)
        if best is not None:
            name, pop, inside, est_inside, _ = best
            factor = pop / est_inside
            details.update(
                residents_before_calibration=float(residents.sum()),
                calibration_factor=factor,
                calibration_boundary=name,
                calibration_population=pop,
                buildings_in_boundary=int(inside.sum()),
            )
            details["calibration"] = (
                f"calibrated to {name}'s population tag {pop:,.0f} (x{factor:.3g} on the "
                f"{est_inside:,.0f} estimated inside it)"
            )
            residents = residents * factor

    per_node = np.bincount(nearest[ok], weights=residents[ok], minlength=n_nodes).astype(float)
    details.update(
        residents_total=float(residents.sum()),
        buildings_unreached=int((~ok).sum()),
        residents_unreached=float(residents[~ok].sum()),
        max_snap_m=float(max_snap_m),
        residents_assigned=float(per_node.sum()),
    )
    if details["buildings_default_levels"]:
        logger.info(
            "%d of %d residential buildings have no levels or height tag; default levels used (%s).",
            details["buildings_default_levels"],
            len(rows),
            "; ".join(f"{k}: {v}" for k, v in details.items() if k.startswith("default_levels")),
        )
    if details["buildings_unreached"]:
        logger.warning(
            "%d residential buildings (%s residents) are farther than max_snap_m=%g m from any "
            "street node; their residents are left out.",
            details["buildings_unreached"],
            f"{details['residents_unreached']:,.0f}",
            max_snap_m,
        )
    if per_node.sum() <= 0:
        why = (
            f"all {int(counted.sum())} residential buildings are farther than max_snap_m={max_snap_m:g} m "
            "from the street nodes (buildings of another area, or a wrong CRS?)"
            if residents.sum() > 0
            else "the residential footprints have no area"
        )
        raise PopulationError(f"the buildings give 0 residents: {why}.")
    details.update(_plausibility(xy, nodes.crs, per_node, hull))
    series = pd.Series(per_node, index=nodes.index.copy(), name="population", dtype=float)
    return PopulationEstimate(per_node=series, source="buildings", total=float(per_node.sum()), details=details)
