"""Effects of a superblock scenario per street segment and in total: noise, emissions, street space, exposure.

Two models (``model=`` of :func:`effects`):

``"cnossos"`` (default): the environment models of :mod:`urbankit.environment`, per street segment
(both directions of a two-way street together) before and after the scenario.

* **Flows by vehicle category**: the assigned car flow of each street is the total motor traffic,
  split over the CNOSSOS-EU categories by a documented fleet mix
  (:data:`urbankit.environment.noise.FLEET_MIX`, ``fleet_mix="EU"`` by default: 90 % light,
  10 % medium-heavy vehicles, RLS-90 municipal streets) and over day, evening and night with the
  RLS-90 profile (:data:`~urbankit.environment.noise.PERIOD_SHARES`).
* **Noise**: CNOSSOS-EU road emission with the coefficients of Directive (EU) 2021/1226 at the
  roadside (10 m from the axis), plus the residual background of
  :data:`~urbankit.environment.noise.BACKGROUND_DB`; Lday, Levening, Lnight, Lden and their change.
  The same settings for every city: nothing is fitted per street or per city.
* **Speeds**: the congested speeds of the assignment when it carries them (columns
  ``congested_speed_before_kmh``/``congested_speed_after_kmh`` of ``assignment.flows``, from an
  equilibrium assignment), else the free-flow speeds ``speed_before_kmh``/``speed_after_kmh`` (the
  legal speed, and the internal speed inside cells after). Noise takes speeds below 20 km/h at
  20 km/h (the floor of CNOSSOS-EU); emissions below 10 km/h at 10 km/h (COPERT).
* **Emissions**: CO2, NOx and PM2.5 (exhaust plus tyre, brake and road wear) per vehicle-km from the
  COPERT/EMEP-EEA speed curves (:mod:`urbankit.environment.emissions`) at each street's speed:
  category 1 and the two-wheelers (4a/4b, which have no packaged rows) with the light fleet
  ``emission_fleet`` (default ``"EU"``), categories 2 and 3 with ``heavy_emission_fleet`` (``"HDV"``).
* **Street space**: carriageway width from OSM ``width``/``lanes``/``parking:*`` tags (``way_tags``:
  the extract's ways) else class defaults (:func:`urbankit.environment.street_space.carriageway_width`,
  the source of each width in ``width_source``); area freed on internal streets = length x (width -
  ``access_lane_m``).
* **Exposure**: residents (``population`` per node) assigned to their nearest street segment,
  residents per 5-dB Lden band before and after, and residents whose street gets at least 1 dB
  louder or quieter, inside cells, on perimeter streets and elsewhere (:func:`exposure_table`);
  with ``deprivation`` polygons, the same by resident-weighted quintile.

``"simple"``: the model of urbankit 0.x: noise change ``10 log10(max(Q_after, floor) /
max(Q_before, floor))`` on the total flow plus the CNOSSOS-EU light-vehicle speed term, emissions
with constant factors (:data:`CO2_KG_PER_VKM`, :data:`NOX_G_PER_VKM`), street area from class widths.
Its options ``noise_floor_veh_day``, ``co2_kg_per_vkm`` and ``nox_g_per_vkm`` select it (with a
DeprecationWarning when ``model`` is not given).

Read :data:`CNOSSOS_CAVEAT` before using the noise numbers: roadside emission levels, no propagation.
"""

from __future__ import annotations

import logging
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import InvalidOptionError
from .._stats import weighted_quantile
from ..environment import air as _air
from ..environment import emissions as _em
from ..environment import exposure as _ex
from ..environment import noise as _noise
from ..environment import street_space as _space
from ..network import StreetNetwork
from ._common import (
    _A_WEIGHTING,
    _CNOSSOS_AP,
    _CNOSSOS_AR,
    _CNOSSOS_BP,
    _CNOSSOS_BR,
    _CNOSSOS_V_MAX,
    _CNOSSOS_V_MIN,
    CO2_KG_PER_VKM,
    NOISE_CAVEAT,
    NOISE_FLOOR_VEH_DAY,
    NOX_G_PER_VKM,
    _first_rows,
    _number,
    _Segments,
    _street_ids,
)
from .assign import Assignment

logger = logging.getLogger(__name__)

#: the effect models of :func:`effects`
MODELS = ("cnossos", "simple")
#: the limits of the default noise model, carried into the summary (``noise_caveat``) and reports
CNOSSOS_CAVEAT = (
    "Noise: CNOSSOS-EU road emission (Directive (EU) 2021/1226 coefficients) turned into a roadside "
    "level 10 m from the street axis, plus a flat residual background (53/53/45 dB(A) day/evening/"
    "night); fleet mix and day/evening/night profile are documented defaults, not counts. It is an "
    "emission index per street: no propagation, ground or air absorption, no barriers, screening by "
    "buildings, facade reflections or quiet sides, no junction, gradient or road-surface corrections. "
    "Facade levels for END exposure need a propagation model (e.g. NoiseModelling); use the changes "
    "(dB) rather than the absolute levels. Sant Antoni, Barcelona (2019): -82% vehicles, -4.1 dB by "
    "day, -5.3 in the evening and -5.4 at night measured."
)
#: residents' streets that change by at least this much count as louder or quieter, dB
WINNER_LOSER_THRESHOLD_DB = _ex.WINNER_LOSER_THRESHOLD_DB
_ROLES = ("internal", "perimeter", "other")
_ROLE_GROUP = {"internal": "inside", "perimeter": "perimeter", "other": "elsewhere"}


def _cnossos_light_lw(speed_kmh: np.ndarray) -> np.ndarray:
    """A-weighted sound power level of one light vehicle (CNOSSOS-EU category 1), dB(A)."""
    speed = np.clip(np.asarray(speed_kmh, dtype=float), _CNOSSOS_V_MIN, _CNOSSOS_V_MAX)
    values, inverse = np.unique(speed, return_inverse=True)  # few distinct speeds
    v = values[:, None]
    rolling = _CNOSSOS_AR + _CNOSSOS_BR * np.log10(v / 70.0)
    propulsion = _CNOSSOS_AP + _CNOSSOS_BP * (v - 70.0) / 70.0
    band = 10.0 * np.log10(10.0 ** (rolling / 10.0) + 10.0 ** (propulsion / 10.0)) + _A_WEIGHTING
    return (10.0 * np.log10(np.sum(10.0 ** (band / 10.0), axis=-1)))[inverse].reshape(speed.shape)


def noise_speed_term_db(speed_before_kmh, speed_after_kmh) -> np.ndarray:
    """Change of road-traffic noise emission at equal flow when the speed changes (CNOSSOS-EU).

    The emission of a traffic line is ``L_W + 10 log10(Q / (1000 v))`` (Q veh/h, v km/h): the
    per-vehicle sound power of light vehicles (category 1: rolling noise ``A_R + B_R log10(v/70)``
    and propulsion noise ``A_P + B_P (v - 70)/70`` per octave band, A-weighted and summed) minus the
    density term of faster traffic. CNOSSOS-EU is defined from 20 to 130 km/h; speeds outside are
    taken at those bounds (so 30 -> 10 km/h counts as 30 -> 20 km/h, -1.1 dB).

    >>> [round(float(x), 1) for x in noise_speed_term_db([50, 30, 50], [30, 10, 50])]
    [-3.4, -1.1, 0.0]
    """
    vb = np.clip(np.asarray(speed_before_kmh, dtype=float), _CNOSSOS_V_MIN, _CNOSSOS_V_MAX)
    va = np.clip(np.asarray(speed_after_kmh, dtype=float), _CNOSSOS_V_MIN, _CNOSSOS_V_MAX)
    return _cnossos_light_lw(va) - _cnossos_light_lw(vb) - 10.0 * np.log10(va / vb)


def _perimeter_of(network: StreetNetwork, superblocks, labels: np.ndarray, tolerance_m: float = 1.0) -> np.ndarray:
    """Edge rows that are not internal and run along a superblock's boundary."""
    out = np.zeros(len(network.edges), bool)
    if superblocks is None or len(superblocks) == 0:
        return out
    gdf = superblocks.to_crs(network.crs) if str(superblocks.crs) != str(network.crs) else superblocks
    seg = _Segments.of(network)
    tree = shapely.STRtree(shapely.boundary(gdf.geometry.to_numpy()))
    si, _ = tree.query(seg.mid, predicate="dwithin", distance=tolerance_m)
    on = np.zeros(len(seg.rows), bool)
    on[si] = True
    return on[seg.street] & (labels < 0)


def effects(
    assignment: Assignment,
    superblocks: gpd.GeoDataFrame | None = None,
    *,
    model: str | None = None,
    fleet_mix="EU",
    emission_fleet="EU",
    heavy_emission_fleet="HDV",
    period_shares: dict | None = None,
    background_db: dict | None = None,
    reference_distance_m: float = _noise.REFERENCE_DISTANCE_M,
    population=None,
    deprivation: gpd.GeoDataFrame | None = None,
    deprivation_column: str | None = None,
    way_tags: pd.DataFrame | None = None,
    access_lane_m: float = _space.LANE_WIDTH_M,
    no2_options: dict | None = None,
    noise_floor_veh_day: float | None = None,
    co2_kg_per_vkm: float | None = None,
    nox_g_per_vkm: float | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Effects of the scenario per street and in total (see the module docstring for the models).

    Parameters
    ----------
    assignment : Assignment
        From :func:`assign`.
    superblocks : GeoDataFrame, optional
        Default ``assignment.superblocks``.
    model : {"cnossos", "simple"}, optional
        Default ``"cnossos"``; ``"simple"`` when one of the simple model's options is given.
    fleet_mix : str or dict, default "EU"
        Shares of the CNOSSOS-EU vehicle categories (:data:`urbankit.environment.noise.FLEET_MIX`).
    emission_fleet, heavy_emission_fleet : str or dict
        Emission fleets of the light (categories 1, 4a, 4b) and heavy (2, 3) vehicles
        (:data:`urbankit.environment.emissions.FLEETS`).
    period_shares, background_db : dict, optional
        Day/evening/night shares of the daily flow and residual background levels
        (:func:`urbankit.environment.noise.street_noise`).
    reference_distance_m : float, default 10
        Distance of the roadside level from the street axis, m.
    population : PopulationEstimate, Series or array, optional
        Residents per node of ``assignment.network``; gives the exposure columns. Without it the
        residents' columns are NaN.
    deprivation : GeoDataFrame, optional
        Polygons with a deprivation (or income) value in ``deprivation_column``; adds the winners and
        losers by resident-weighted quintile of the value of each street's polygon.
    deprivation_column : str, optional
        The value column of ``deprivation`` (required with it).
    way_tags : DataFrame, optional
        OSM tags per ``way_id`` (``width``, ``lanes``, ``parking:*``, ...; e.g. ``extract.ways``) for
        the carriageway widths; without it every width is a class default.
    access_lane_m : float, default 3.0
        Width kept open to vehicles on internal streets, m.
    no2_options : dict, optional
        Options of :func:`urbankit.environment.air.street_no2` for the roadside NO2 ESTIMATE
        (``background_no2_ugm3``, ``street_type``, ``distance_m``, ``tree_factor``, ``wind_factor``,
        ``conversion``). Give ``background_no2_ugm3``, the city's measured urban-background annual
        mean of NO2 (ug/m3): without it the background is an assumption of 30 ug/m3, which the summary
        says (``no2_background_source``).
    noise_floor_veh_day, co2_kg_per_vkm, nox_g_per_vkm : float, optional
        Options of the ``"simple"`` model (defaults :data:`NOISE_FLOOR_VEH_DAY`,
        :data:`CO2_KG_PER_VKM`, :data:`NOX_G_PER_VKM`).

    Returns
    -------
    edges : geopandas.GeoDataFrame
        Per edge row: ``u``, ``v``, ``way_id``, ``highway``, ``name``, ``length_m``, ``superblock_id``,
        ``role`` (``internal``, ``perimeter`` or ``other``), ``closed``, ``speed_before_kmh``,
        ``speed_after_kmh``, ``flow_before``, ``flow_after``, ``flow_change``, ``street_flow_before``,
        ``street_flow_after`` (both directions), ``d_noise_db``, ``vkm_before``, ``vkm_after``,
        ``co2_kg_day_before``/``_after``, ``nox_kg_day_before``/``_after``, geometry. The
        ``"cnossos"`` model adds ``l_day_before_db``, ``l_evening_before_db``, ``l_night_before_db``,
        ``lden_before_db`` and the same ``_after``, ``d_l_day_db``, ``d_l_evening_db``,
        ``d_l_night_db``, ``d_lden_db`` (= ``d_noise_db``), ``pm25_g_day_before``/``_after`` (and their
        ``pm25_exhaust_``/``pm25_non_exhaust_`` parts), ``emission_speed_before_kmh``/``_after``,
        ``width_m``, ``width_source``, ``area_freed_m2``, ``residents`` (on the first row of each
        street), ``deprivation`` and the roadside NO2 ESTIMATE of the street (both directions:
        ``nox_increment_before_ugm3``/``_after_ugm3``, ``no2_before_ugm3``/``_after_ugm3``,
        ``d_no2_ugm3``; :mod:`urbankit.environment.air`); the ``"simple"`` model ``d_noise_flow_db`` and
        ``d_noise_speed_db``.
    summary : pandas.DataFrame
        One row: the :meth:`Assignment.summary` columns, vehicle-km inside and on the perimeter,
        emissions before/after, ``n_superblocks``, ``street_area_freed_m2`` (class widths),
        ``residents_inside``, ``internal_length_km``, ``mean_d_noise_internal_db`` and
        ``mean_d_noise_perimeter_db`` (length-weighted), ``noise_model`` and ``noise_caveat``. The
        ``"cnossos"`` model adds ``median_d_lden_internal_db``/``_perimeter_db`` (length-weighted),
        ``median_d_l_day_internal_db``/``_evening_``/``_night_`` (the same by period),
        ``pm25_kg_day_before``/``_after``, ``carriageway_area_freed_m2``, ``width_sources``,
        ``speed_source``, ``no2_background_ugm3`` and ``no2_background_source`` (the urban background
        under the NO2 estimate and where it comes from), ``residents_louder_1db``/``residents_quieter_1db``
        (all, and ``_inside``,
        ``_perimeter``, ``_elsewhere``) and residents per Lden band (``residents_lden_55_59_before``,
        ...).

    Raises
    ------
    InvalidOptionError
        A bad option, or options of one model given to the other.
    """
    if not isinstance(assignment, Assignment):
        raise InvalidOptionError("assignment must be an Assignment (from urbankit.superblocks.assign).")
    simple_opts = {
        k: v
        for k, v in (
            ("noise_floor_veh_day", noise_floor_veh_day),
            ("co2_kg_per_vkm", co2_kg_per_vkm),
            ("nox_g_per_vkm", nox_g_per_vkm),
        )
        if v is not None
    }
    if model is None:
        model = "cnossos"
        if simple_opts:
            warnings.warn(
                f"{', '.join(simple_opts)} belong to the simple (flow-only noise, constant emission factor) "
                "model, no longer the default; pass model='simple' to keep it, or drop them for the "
                "CNOSSOS-EU/COPERT model.",
                DeprecationWarning,
                stacklevel=2,
            )
            model = "simple"
    if model not in MODELS:
        raise InvalidOptionError(f"model={model!r} is not one of {MODELS}.")
    if model == "cnossos" and simple_opts:
        raise InvalidOptionError(
            f"{', '.join(simple_opts)} are options of model='simple'; the CNOSSOS-EU model takes fleet_mix, "
            "emission_fleet, background_db, ... instead."
        )
    sb = assignment.superblocks if superblocks is None else superblocks
    if model == "simple":
        return _simple_effects(
            assignment,
            sb,
            noise_floor_veh_day=NOISE_FLOOR_VEH_DAY if noise_floor_veh_day is None else noise_floor_veh_day,
            co2_kg_per_vkm=CO2_KG_PER_VKM if co2_kg_per_vkm is None else co2_kg_per_vkm,
            nox_g_per_vkm=NOX_G_PER_VKM if nox_g_per_vkm is None else nox_g_per_vkm,
        )
    _number("reference_distance_m", reference_distance_m, low=0.0, strict_low=True)
    _number("access_lane_m", access_lane_m, low=0.0)
    if deprivation is not None and (deprivation_column is None or deprivation_column not in deprivation.columns):
        raise InvalidOptionError(
            f"deprivation_column={deprivation_column!r} must name a column of the deprivation polygons "
            f"(they have {[c for c in deprivation.columns if c != 'geometry']})."
        )
    return _cnossos_effects(
        assignment,
        sb,
        fleet_mix=fleet_mix,
        emission_fleet=emission_fleet,
        heavy_emission_fleet=heavy_emission_fleet,
        period_shares=period_shares,
        background_db=background_db,
        reference_distance_m=reference_distance_m,
        population=population,
        deprivation=deprivation,
        deprivation_column=deprivation_column,
        way_tags=way_tags,
        access_lane_m=access_lane_m,
        no2_options=no2_options,
    )


def _speeds(fl: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, str]:
    if {"congested_speed_before_kmh", "congested_speed_after_kmh"} <= set(fl.columns):
        vb = fl["congested_speed_before_kmh"].to_numpy(float)
        va = fl["congested_speed_after_kmh"].to_numpy(float)
        return vb, va, "congested (equilibrium assignment)"
    return fl["speed_before_kmh"].to_numpy(float), fl["speed_after_kmh"].to_numpy(float), "free-flow"


def _street_levels(flow: np.ndarray, speed_kmh: np.ndarray, street: np.ndarray, noise_kw: dict):
    """Levels of each street segment from all its directions, given per edge row: each direction's
    emission at its own flow and speed (under congestion the two directions of a street run at
    different speeds), energy-summed over the segment, with the residual background added once;
    both rows of a two-way street get the segment's levels. At equal speeds this is the emission of
    the summed flow (the line emission is proportional to the flow at a given speed)."""
    background = dict(noise_kw.get("background_db") or _noise.BACKGROUND_DB)
    alone = _noise.street_noise(flow, speed_kmh, **{**noise_kw, "background_db": {p: -np.inf for p in background}})
    n = int(street.max()) + 1 if len(street) else 0
    levels = {}
    for period in ("day", "evening", "night"):
        energy = np.bincount(street, weights=10.0 ** (getattr(alone, f"l_{period}") / 10.0), minlength=n)[street]
        with np.errstate(divide="ignore"):
            levels[period] = _noise._energy_sum(10.0 * np.log10(energy), background[period])
    return _noise.NoiseLevels(levels["day"], levels["evening"], levels["night"],
                              _noise.lden_db(levels["day"], levels["evening"], levels["night"]))


def _clean_speed(v: np.ndarray, floor: float) -> np.ndarray:
    v = np.where(np.isfinite(v), v, floor)
    return np.maximum(v, floor)


def _node_residents(network: StreetNetwork, population) -> np.ndarray | None:
    if population is None:
        return None
    per_node = getattr(population, "per_node", population)
    if isinstance(per_node, pd.Series):
        values = per_node.reindex(network.nodes.index).to_numpy(float)
    else:
        values = np.asarray(per_node, dtype=float)
        if values.shape != (len(network.nodes),):
            raise InvalidOptionError(
                f"population has {values.size} values for {len(network.nodes)} nodes; give one per node "
                "(a PopulationEstimate or a Series indexed by node id)."
            )
    return np.where(np.isfinite(values), np.clip(values, 0.0, None), 0.0)


def _residents_per_segment(network: StreetNetwork, seg: _Segments, node_residents: np.ndarray) -> np.ndarray:
    """Residents of each street segment: every node's residents go to its nearest segment.

    A node equally near several segments (a junction: distance 0 to every street meeting there)
    splits its residents equally among them.
    """
    out = np.zeros(len(seg.rows))
    has = node_residents > 0
    if not has.any():
        return out
    pts = network.nodes.geometry.to_numpy()[has]
    tree = shapely.STRtree(seg.geoms)
    idx_pt, idx_seg = tree.query_nearest(pts, all_matches=True, return_distance=False)
    ties = np.bincount(idx_pt, minlength=len(pts))
    np.add.at(out, idx_seg, node_residents[has][idx_pt] / ties[idx_pt])
    return out


def _deprivation_per_segment(seg: _Segments, crs, polygons: gpd.GeoDataFrame, column: str) -> np.ndarray:
    gdf = polygons.to_crs(crs) if str(polygons.crs) != str(crs) else polygons
    values = pd.to_numeric(gdf[column], errors="coerce").to_numpy(float)
    tree = shapely.STRtree(gdf.geometry.to_numpy())
    i_mid, i_poly = tree.query(seg.mid, predicate="within")
    out = np.full(len(seg.rows), np.nan)
    out[i_mid] = values[i_poly]  # a midpoint in two polygons takes the last one
    return out


def _way_tag_frame(e: pd.DataFrame, way_tags: pd.DataFrame | None) -> pd.DataFrame:
    base = pd.DataFrame({"highway": e["highway"].to_numpy()}, index=e.index)
    if "oneway" in e.columns:
        base["oneway"] = e["oneway"].to_numpy()
    if way_tags is None or len(way_tags) == 0:
        return base
    if "way_id" not in way_tags.columns:
        raise InvalidOptionError("way_tags needs a way_id column (e.g. the extract's ways table).")
    keep = [
        c for c in way_tags.columns if c in {"width", "width:carriageway", "lanes"} or str(c).startswith("parking:")
    ]
    if not keep:
        return base
    tags = way_tags[["way_id", *keep]].drop_duplicates("way_id")
    tags = tags.assign(way_id=tags["way_id"].astype(str)).set_index("way_id")
    joined = tags.reindex(e["way_id"].astype(str).to_numpy())
    for c in keep:
        base[c] = joined[c].to_numpy()
    return base


def _no2_columns(e, street: np.ndarray, nox_before_g_day, nox_after_g_day, options) -> dict:
    """Roadside NO2 ESTIMATE of each street from the NOx of both its directions (environment.air)."""
    length_km = e["length_m"].to_numpy(float) / 1000.0
    per_km = []
    for nox in (nox_before_g_day, nox_after_g_day):
        street_nox = np.bincount(street, weights=nox)[street]
        per_km.append(np.divide(street_nox, length_km, out=np.zeros(len(e)), where=length_km > 0))
    no2 = _air.street_no2(per_km[0], per_km[1], **(options or {}))
    return {c: no2[c].to_numpy() for c in no2.columns}


def _no2_background(options) -> dict:
    """The urban-background NO2 under the roadside estimate and its source, for the summary."""
    value, source = _air.background_no2((options or {}).get("background_no2_ugm3"))
    return {"no2_background_ugm3": value, "no2_background_source": source}


def _band_name(label: str) -> str:
    return label.replace("<", "lt").replace(">=", "ge").replace("-", "_")


def _cnossos_effects(
    assignment: Assignment,
    sb,
    *,
    fleet_mix,
    emission_fleet,
    heavy_emission_fleet,
    period_shares,
    background_db,
    reference_distance_m,
    population,
    deprivation,
    deprivation_column,
    way_tags,
    access_lane_m,
    no2_options=None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    net = assignment.network
    e = net.edges
    fl = assignment.flows
    labels = fl["superblock_id"].fillna(-1).to_numpy(np.int64)
    perimeter = _perimeter_of(net, sb, labels)
    role = np.where(labels >= 0, "internal", np.where(perimeter, "perimeter", "other"))
    seg = _Segments.of(net)
    street = seg.street
    first = np.zeros(len(e), bool)
    first[seg.rows] = True
    qb = fl["flow_before"].to_numpy(float)
    qa = fl["flow_after"].to_numpy(float)
    sqb = np.bincount(street, weights=qb, minlength=len(seg.rows))[street]
    sqa = np.bincount(street, weights=qa, minlength=len(seg.rows))[street]
    vb_raw, va_raw, speed_source = _speeds(fl)
    noise_kw = {"fleet_mix": fleet_mix, "period_shares": period_shares, "background_db": background_db}
    noise_kw["reference_distance_m"] = reference_distance_m
    nb = _street_levels(qb, _clean_speed(vb_raw, _noise.SPEED_MIN_KMH), street, noise_kw).to_frame(e.index)
    na = _street_levels(qa, _clean_speed(va_raw, _noise.SPEED_MIN_KMH), street, noise_kw).to_frame(e.index)
    d_noise = (na - nb).add_prefix("d_")
    # emissions of each direction's flow at its speed: light (1, 4a, 4b) and heavy (2, 3) fleets
    mix = _noise._mix(fleet_mix)
    heavy = mix.get("2", 0.0) + mix.get("3", 0.0)
    km = e["length_m"].to_numpy(float) / 1000.0
    vbe = _clean_speed(vb_raw, 10.0)
    vae = _clean_speed(va_raw, 10.0)
    pols = ("CO2", "NOx", "PM2.5")

    def emis(q, v):
        light = _em.street_emissions(
            q * (1 - heavy), e["length_m"].to_numpy(float), v, fleet=emission_fleet, pollutants=pols
        )
        if heavy > 0:
            light = light + _em.street_emissions(
                q * heavy, e["length_m"].to_numpy(float), v, fleet=heavy_emission_fleet, pollutants=pols
            )
        return light

    eb, ea = emis(qb, vbe), emis(qa, vae)
    # street space and residents, per street segment (first row of each)
    widths = _space.carriageway_width(_way_tag_frame(e, way_tags))
    internal = labels >= 0
    freed = np.where(
        internal & first, e["length_m"].to_numpy(float) * np.clip(widths["width_m"] - access_lane_m, 0, None), 0.0
    )
    node_res = _node_residents(net, population)
    residents = np.full(len(e), np.nan)
    if node_res is not None:
        residents = np.zeros(len(e))
        residents[seg.rows] = _residents_per_segment(net, seg, node_res)
    dep = np.full(len(e), np.nan)
    if deprivation is not None:
        dep[seg.rows] = _deprivation_per_segment(seg, net.crs, deprivation, deprivation_column)
        dep = dep[seg.rows][street]
    out = gpd.GeoDataFrame(
        {
            **_street_columns(e, fl, role, qb, qa, sqb, sqa),
            "d_noise_db": d_noise["d_l_den_db"].to_numpy(),
            "l_day_before_db": nb["l_day_db"].to_numpy(),
            "l_evening_before_db": nb["l_evening_db"].to_numpy(),
            "l_night_before_db": nb["l_night_db"].to_numpy(),
            "lden_before_db": nb["l_den_db"].to_numpy(),
            "l_day_after_db": na["l_day_db"].to_numpy(),
            "l_evening_after_db": na["l_evening_db"].to_numpy(),
            "l_night_after_db": na["l_night_db"].to_numpy(),
            "lden_after_db": na["l_den_db"].to_numpy(),
            "d_l_day_db": d_noise["d_l_day_db"].to_numpy(),
            "d_l_evening_db": d_noise["d_l_evening_db"].to_numpy(),
            "d_l_night_db": d_noise["d_l_night_db"].to_numpy(),
            "d_lden_db": d_noise["d_l_den_db"].to_numpy(),
            "emission_speed_before_kmh": vbe,
            "emission_speed_after_kmh": vae,
            "vkm_before": qb * km,
            "vkm_after": qa * km,
            "co2_kg_day_before": eb["co2_kg_day"].to_numpy(),
            "co2_kg_day_after": ea["co2_kg_day"].to_numpy(),
            "nox_kg_day_before": eb["nox_g_day"].to_numpy() / 1000.0,
            "nox_kg_day_after": ea["nox_g_day"].to_numpy() / 1000.0,
            "pm25_g_day_before": eb["pm25_g_day"].to_numpy(),
            "pm25_g_day_after": ea["pm25_g_day"].to_numpy(),
            "pm25_exhaust_g_day_before": eb["pm25_exhaust_g_day"].to_numpy(),
            "pm25_exhaust_g_day_after": ea["pm25_exhaust_g_day"].to_numpy(),
            "pm25_non_exhaust_g_day_before": eb["pm25_non_exhaust_g_day"].to_numpy(),
            "pm25_non_exhaust_g_day_after": ea["pm25_non_exhaust_g_day"].to_numpy(),
            "width_m": widths["width_m"].to_numpy(),
            "width_source": widths["width_source"].to_numpy(),
            "area_freed_m2": freed,
            "residents": residents,
            "deprivation": dep,
            **_no2_columns(e, street, eb["nox_g_day"].to_numpy(), ea["nox_g_day"].to_numpy(), no2_options),
        },
        geometry=e.geometry.to_numpy(),
        index=e.index,
        crs=net.crs,
    )
    summary = assignment.summary()
    per = role == "perimeter"

    def on_streets(mask):
        m = mask & first
        return m

    def mean_noise(mask):
        m = on_streets(mask)
        return float(np.average(out["d_noise_db"].to_numpy()[m], weights=km[m])) if km[m].sum() > 0 else float("nan")

    def median_noise(mask, column="d_lden_db"):
        m = on_streets(mask)
        if km[m].sum() <= 0:
            return float("nan")
        return float(weighted_quantile(out[column].to_numpy()[m], km[m], 0.5, nan="omit")[0])

    counted = first & internal
    sources = widths["width_source"].to_numpy()[counted]
    width_sources = ", ".join(f"{k}: {v}" for k, v in pd.Series(sources).value_counts().sort_index().items())
    extra = {
        "vkm_internal_before": float(out["vkm_before"].to_numpy()[internal].sum()),
        "vkm_internal_after": float(out["vkm_after"].to_numpy()[internal].sum()),
        "vkm_perimeter_before": float(out["vkm_before"].to_numpy()[per].sum()),
        "vkm_perimeter_after": float(out["vkm_after"].to_numpy()[per].sum()),
        "co2_kg_day_before": float(out["co2_kg_day_before"].sum()),
        "co2_kg_day_after": float(out["co2_kg_day_after"].sum()),
        "nox_kg_day_before": float(out["nox_kg_day_before"].sum()),
        "nox_kg_day_after": float(out["nox_kg_day_after"].sum()),
        "pm25_kg_day_before": float(out["pm25_g_day_before"].sum() / 1000.0),
        "pm25_kg_day_after": float(out["pm25_g_day_after"].sum() / 1000.0),
        "n_superblocks": 0 if sb is None else len(sb),
        "street_area_freed_m2": float(sb["internal_street_area_m2"].sum())
        if sb is not None and "internal_street_area_m2" in sb
        else float("nan"),
        "carriageway_area_freed_m2": float(freed.sum()),
        "width_sources": width_sources,
        "residents_inside": float(sb["residents"].sum(min_count=1))
        if sb is not None and "residents" in sb
        else float("nan"),
        "internal_length_km": float(km[internal & first].sum()),
        "mean_d_noise_internal_db": mean_noise(internal),
        "mean_d_noise_perimeter_db": mean_noise(per),
        "median_d_lden_internal_db": median_noise(internal),
        "median_d_lden_perimeter_db": median_noise(per),
        **{f"median_d_l_{p}_internal_db": median_noise(internal, f"d_l_{p}_db") for p in ("day", "evening", "night")},
        "speed_source": speed_source,
        **_no2_background(no2_options),
        "noise_model": "cnossos",
        "noise_caveat": CNOSSOS_CAVEAT,
    }
    table = exposure_table(out)
    if len(table):
        ch = table[table["kind"] == "change"].set_index("group")
        for g in ("all", "inside", "perimeter", "elsewhere"):
            suffix = "" if g == "all" else f"_{g}"
            extra[f"residents_louder_1db{suffix}"] = float(ch.loc[g, "louder"]) if g in ch.index else 0.0
            extra[f"residents_quieter_1db{suffix}"] = float(ch.loc[g, "quieter"]) if g in ch.index else 0.0
        bands = table[(table["kind"] == "lden_band") & (table["group"] == "all")]
        for _, row in bands.iterrows():
            name = _band_name(row["band_db"])
            extra[f"residents_lden_{name}_before"] = float(row["residents_before"])
            extra[f"residents_lden_{name}_after"] = float(row["residents_after"])
    for k, v in extra.items():
        summary[k] = [v]
    summary.insert(
        summary.columns.get_loc("vkm_perimeter_after") + 1,
        "flow_moved_to_perimeter_vkm",
        summary["vkm_perimeter_after"] - summary["vkm_perimeter_before"],
    )
    logger.info(
        "effects (cnossos): median Lden change %.1f dB inside, %.1f dB on the perimeter",
        extra["median_d_lden_internal_db"],
        extra["median_d_lden_perimeter_db"],
    )
    return out, summary


def exposure_table(edges: pd.DataFrame, *, threshold_db: float = WINNER_LOSER_THRESHOLD_DB) -> pd.DataFrame:
    """Who is exposed, who gains and who loses, from the edges of :func:`effects` (``"cnossos"`` model).

    Residents are those of each street segment (``residents``, on its first edge row) at its
    roadside Lden (see :data:`CNOSSOS_CAVEAT`).

    Parameters
    ----------
    edges : DataFrame
        With ``residents``, ``lden_before_db``, ``lden_after_db``, ``d_lden_db``, ``role`` and
        optionally ``deprivation``.
    threshold_db : float, default 1.0
        A street at least this much louder (quieter) counts its residents as louder (quieter).

    Returns
    -------
    pandas.DataFrame
        Long table, one row per (``kind``, ``group``, ``band_db``): ``kind="lden_band"`` rows give
        ``residents_before`` and ``residents_after`` per 5-dB Lden band (``band_db``) for ``group``
        ``all``, ``inside`` (internal streets), ``perimeter`` and ``elsewhere``; ``kind="change"`` rows
        give ``louder``, ``quieter``, ``unchanged``, ``residents`` and ``mean_change_db`` for the same
        groups and, with a ``deprivation`` value, the quintiles ``q1`` (lowest value) .. ``q5`` and
        ``unknown``. Empty when the edges carry no residents.

    Raises
    ------
    InvalidOptionError
        Missing columns.
    """
    need = {"residents", "lden_before_db", "lden_after_db", "d_lden_db", "role"}
    if not need <= set(edges.columns):
        raise InvalidOptionError(f"edges lack {sorted(need - set(edges.columns))}; use effects(model='cnossos').")
    res = edges["residents"].to_numpy(float)
    if np.isnan(res).all():
        return pd.DataFrame(
            columns=["kind", "group", "band_db", "residents_before", "residents_after", "louder", "quieter"]
        )
    res = np.nan_to_num(res)
    lb, la = edges["lden_before_db"].to_numpy(float), edges["lden_after_db"].to_numpy(float)
    change = edges["d_lden_db"].to_numpy(float)
    role = edges["role"].to_numpy()
    groups = {"all": np.ones(len(res), bool)}
    groups.update({_ROLE_GROUP[r]: role == r for r in _ROLES})
    rows = []
    for g, m in groups.items():
        bands = _ex.exposure_bands(lb[m], la[m], res[m])
        for band, r in bands.iterrows():
            rows.append(
                {
                    "kind": "lden_band",
                    "group": g,
                    "band_db": band,
                    "residents_before": r["residents_before"],
                    "residents_after": r["residents_after"],
                }
            )
    for g, m in groups.items():
        wl = _ex.winners_losers(change[m], res[m], threshold_db=threshold_db).loc["all"]
        rows.append({"kind": "change", "group": g, **wl.to_dict()})
    if "deprivation" in edges.columns and edges["deprivation"].notna().any():
        wl = _ex.winners_losers(
            change, res, threshold_db=threshold_db, deprivation=edges["deprivation"].to_numpy(float)
        )
        for g, r in wl.drop(index="all").iterrows():
            rows.append({"kind": "change", "group": g, **r.to_dict()})
    return pd.DataFrame(rows)


def _simple_effects(
    assignment: Assignment,
    sb,
    *,
    noise_floor_veh_day: float,
    co2_kg_per_vkm: float,
    nox_g_per_vkm: float,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The flow-only noise term and constant emission factors (``model="simple"``, see :func:`effects`)."""
    floor = _number("noise_floor_veh_day", noise_floor_veh_day, low=0.0, strict_low=True)
    _number("co2_kg_per_vkm", co2_kg_per_vkm, low=0.0)
    _number("nox_g_per_vkm", nox_g_per_vkm, low=0.0)
    net = assignment.network
    e = net.edges
    fl = assignment.flows
    labels = fl["superblock_id"].fillna(-1).to_numpy(np.int64)
    perimeter = _perimeter_of(net, sb, labels)
    street = _street_ids(e)
    qb = fl["flow_before"].to_numpy(float)
    qa = fl["flow_after"].to_numpy(float)
    sqb = np.bincount(street, weights=qb)[street]
    sqa = np.bincount(street, weights=qa)[street]
    d_flow = 10.0 * np.log10(np.maximum(sqa, floor) / np.maximum(sqb, floor))
    vb, va = fl["speed_before_kmh"].to_numpy(float), fl["speed_after_kmh"].to_numpy(float)
    d_speed = np.where(va != vb, noise_speed_term_db(vb, va), 0.0)
    km = e["length_m"].to_numpy(float) / 1000.0
    out = gpd.GeoDataFrame(
        {
            **_street_columns(e, fl, np.where(labels >= 0, "internal", np.where(perimeter, "perimeter", "other")),
                              qb, qa, sqb, sqa),
            "d_noise_flow_db": d_flow,
            "d_noise_speed_db": d_speed,
            "d_noise_db": d_flow + d_speed,
            "vkm_before": qb * km,
            "vkm_after": qa * km,
            "co2_kg_day_before": qb * km * co2_kg_per_vkm,
            "co2_kg_day_after": qa * km * co2_kg_per_vkm,
            "nox_kg_day_before": qb * km * nox_g_per_vkm / 1000.0,
            "nox_kg_day_after": qa * km * nox_g_per_vkm / 1000.0,
        },
        geometry=e.geometry.to_numpy(),
        index=e.index,
        crs=net.crs,
    )
    summary = assignment.summary()
    internal, per = labels >= 0, perimeter
    first = np.zeros(len(e), bool)
    first[_first_rows(street)] = True

    def mean_noise(mask):
        m = mask & first
        return (
            float(np.average(out["d_noise_db"].to_numpy()[m], weights=km[m]))
            if m.any() and km[m].sum() > 0
            else float("nan")
        )

    extra = {
        "vkm_internal_before": float(out["vkm_before"].to_numpy()[internal].sum()),
        "vkm_internal_after": float(out["vkm_after"].to_numpy()[internal].sum()),
        "vkm_perimeter_before": float(out["vkm_before"].to_numpy()[per].sum()),
        "vkm_perimeter_after": float(out["vkm_after"].to_numpy()[per].sum()),
        "co2_kg_day_before": float(out["co2_kg_day_before"].sum()),
        "co2_kg_day_after": float(out["co2_kg_day_after"].sum()),
        "nox_kg_day_before": float(out["nox_kg_day_before"].sum()),
        "nox_kg_day_after": float(out["nox_kg_day_after"].sum()),
        "n_superblocks": 0 if sb is None else len(sb),
        "street_area_freed_m2": float(sb["internal_street_area_m2"].sum())
        if sb is not None and "internal_street_area_m2" in sb
        else float("nan"),
        "residents_inside": float(sb["residents"].sum(min_count=1))
        if sb is not None and "residents" in sb
        else float("nan"),
        "internal_length_km": float(km[internal & first].sum()),
        "mean_d_noise_internal_db": mean_noise(internal),
        "mean_d_noise_perimeter_db": mean_noise(per),
        "noise_caveat": NOISE_CAVEAT,
    }
    for k, v in extra.items():
        summary[k] = [v]
    summary.insert(
        summary.columns.get_loc("vkm_perimeter_after") + 1,
        "flow_moved_to_perimeter_vkm",
        summary["vkm_perimeter_after"] - summary["vkm_perimeter_before"],
    )
    return out, summary


def _street_columns(e, fl, role, qb, qa, sqb, sqa) -> dict:
    """The leading columns of both models' per-edge effects: the street, its cell and role, speeds and
    flows before and after (per direction and, ``street_``, both directions of the street)."""
    return {
        "u": e["u"].to_numpy(),
        "v": e["v"].to_numpy(),
        "way_id": e["way_id"].to_numpy(),
        "highway": e["highway"].to_numpy(),
        "name": e["name"].to_numpy() if "name" in e.columns else None,
        "length_m": e["length_m"].to_numpy(float),
        "superblock_id": fl["superblock_id"].array,
        "role": role,
        "closed": fl["closed"].to_numpy(bool),
        "speed_before_kmh": fl["speed_before_kmh"].to_numpy(float),
        "speed_after_kmh": fl["speed_after_kmh"].to_numpy(float),
        "flow_before": qb,
        "flow_after": qa,
        "flow_change": qa - qb,
        "street_flow_before": sqb,
        "street_flow_after": sqa,
    }
