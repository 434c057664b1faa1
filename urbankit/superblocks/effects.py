"""effects part of :mod:`urbankit.superblocks`."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import InvalidOptionError
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
    noise_floor_veh_day: float = NOISE_FLOOR_VEH_DAY,
    co2_kg_per_vkm: float = CO2_KG_PER_VKM,
    nox_g_per_vkm: float = NOX_G_PER_VKM,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Effects of the scenario per street and in total.

    Noise: ``d_noise_flow_db = 10 log10(max(Q_after, floor) / max(Q_before, floor))`` on the total
    flow Q of both directions of each street segment (the CNOSSOS-EU flow term at equal speed), plus
    ``d_noise_speed_db`` (:func:`noise_speed_term_db`) where the speed changes (internal streets).
    Emissions: vehicle-km times per-vehicle-km fleet factors (:data:`CO2_KG_PER_VKM`,
    :data:`NOX_G_PER_VKM`). Caveat: the flow-only noise estimate overstates measured drops (Sant
    Antoni, Barcelona: -82% vehicles on Comte Borrell predicts -7.4 dB, -4.1 dB was measured by day);
    see :data:`NOISE_CAVEAT`.

    Parameters
    ----------
    assignment : Assignment
        From :func:`assign`.
    superblocks : GeoDataFrame, optional
        Default ``assignment.superblocks``.
    noise_floor_veh_day : float, default 100
        Flows below count as this in the noise term.
    co2_kg_per_vkm, nox_g_per_vkm : float
        Emission factors.

    Returns
    -------
    edges : geopandas.GeoDataFrame
        Per edge row: ``u``, ``v``, ``way_id``, ``highway``, ``name``, ``length_m``, ``superblock_id``,
        ``role`` (``internal``, ``perimeter`` or ``other``), ``closed``, ``speed_before_kmh``,
        ``speed_after_kmh``, ``flow_before``, ``flow_after``, ``flow_change``, ``street_flow_before``,
        ``street_flow_after`` (both directions), ``d_noise_flow_db``, ``d_noise_speed_db``,
        ``d_noise_db``, ``vkm_before``, ``vkm_after``, ``co2_kg_day_before``, ``co2_kg_day_after``,
        ``nox_kg_day_before``, ``nox_kg_day_after``, geometry.
    summary : pandas.DataFrame
        One row: the :meth:`Assignment.summary` columns, ``vkm_internal_before/after``,
        ``vkm_perimeter_before/after``, ``flow_moved_to_perimeter_vkm`` (perimeter vkm after minus
        before), ``co2_kg_day_before/after``, ``nox_kg_day_before/after``, ``n_superblocks``,
        ``street_area_freed_m2``, ``residents_inside``, ``internal_length_km``,
        ``mean_d_noise_internal_db`` and ``mean_d_noise_perimeter_db`` (length-weighted),
        ``noise_caveat``.
    """
    if not isinstance(assignment, Assignment):
        raise InvalidOptionError("assignment must be an Assignment (from urbankit.superblocks.assign).")
    floor = _number("noise_floor_veh_day", noise_floor_veh_day, low=0.0, strict_low=True)
    _number("co2_kg_per_vkm", co2_kg_per_vkm, low=0.0)
    _number("nox_g_per_vkm", nox_g_per_vkm, low=0.0)
    sb = assignment.superblocks if superblocks is None else superblocks
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
            "u": e["u"].to_numpy(),
            "v": e["v"].to_numpy(),
            "way_id": e["way_id"].to_numpy(),
            "highway": e["highway"].to_numpy(),
            "name": e["name"].to_numpy() if "name" in e.columns else None,
            "length_m": e["length_m"].to_numpy(float),
            "superblock_id": fl["superblock_id"].array,
            "role": np.where(labels >= 0, "internal", np.where(perimeter, "perimeter", "other")),
            "closed": fl["closed"].to_numpy(bool),
            "speed_before_kmh": vb,
            "speed_after_kmh": va,
            "flow_before": qb,
            "flow_after": qa,
            "flow_change": qa - qb,
            "street_flow_before": sqb,
            "street_flow_after": sqa,
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


# --------------------------------------------------------------------------------------------------
# whole scenario
