"""_common part of :mod:`urbankit.superblocks`."""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from .._errors import InvalidOptionError, NoStreetsError
from ..environment.street_space import CLASS_WIDTH_M, DEFAULT_CLASS_WIDTH_M
from ..network import StreetNetwork

# --------------------------------------------------------------------------------------------------
# defaults

#: streets forming the through network of the ``arterial`` method
DEFAULT_THROUGH_HIGHWAYS = (
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
)
#: streets that stay through streets in the ``grid`` method wherever they are
ALWAYS_THROUGH_HIGHWAYS = ("motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link")
#: streets that never belong to the through network of the ``residential`` method (superblockify)
RESIDENTIAL_HIGHWAYS = ("residential", "living_street")
METHODS = ("auto", "arterial", "grid", "residential", "polygons")

#: default carriageway width by highway class, in metres, for the street area freed inside
#: superblocks (network edges carry no width): typical European urban values, lanes of about 3 m
#: plus parking where usual. Override with ``street_width_m={...}``.
STREET_WIDTH_M = CLASS_WIDTH_M
#: width of classes missing from :data:`STREET_WIDTH_M`
DEFAULT_STREET_WIDTH_M = DEFAULT_CLASS_WIDTH_M

DEFAULT_MIN_AREA_HA = 4.0
DEFAULT_MAX_AREA_HA = 40.0
DEFAULT_INTERNAL_SPEED_KMH = 10.0
#: evidence-based traffic evaporation, the default of :func:`superblocks_scenario`: Cairns, S.,
#: Atkins, S. & Goodwin, P. (2002), "Disappearing traffic? The story so far", *Proceedings of the
#: ICE - Municipal Engineer* 151(1), 13-22: over about 70 cases of road-space reallocation in 11
#: countries, the median reduction of the traffic that had used the treated roads, not found on
#: the surrounding roads afterwards, was about 11 % (a wide spread, some cases far more, a few
#: increases). Applied as the share of the affected trips (their time increased) that no longer
#: drive; ``evaporation=0`` gives the no-evaporation sensitivity case.
EVAPORATION_EVIDENCE = 0.11
EVAPORATION_SOURCE = "Cairns, Atkins & Goodwin (2002), median 11 % of traffic on treated roads"
#: elasticity of car traffic with respect to travel time, the default of :func:`superblocks_scenario`
#: (``evaporation="elastic"``): Goodwin, P. B. (1996), "Empirical evidence on induced traffic: a
#: review and synthesis", *Transportation* 23(1), 35-54 (the evidence behind SACTRA 1994): "an
#: appropriate average value is given by an elasticity of traffic volume with respect to travel
#: time of about -0.5 in the short term, and up to -1.0 in the long term". Each routable trip whose
#: time rises from ``t0`` to ``t1`` keeps ``(t1 / t0) ** TIME_ELASTICITY`` of its trips (constant
#: elasticity); the time is the trip's time inside the study area (external trips: from or to their
#: gate), as the corridor studies behind the value measured it.
TIME_ELASTICITY = -0.5
#: the long-run value of the same review (Goodwin 1996): a sensitivity case, ``time_elasticity=-1``
TIME_ELASTICITY_LONG_RUN = -1.0
TIME_ELASTICITY_SOURCE = "Goodwin (1996), elasticity of traffic volume with respect to travel time -0.5 (short term)"
#: the values ``evaporation`` takes: a share of the affected trips (a number) or ``"elastic"``
EVAPORATION_ELASTIC = "elastic"

#: CO2 per passenger-car vehicle-km (kg): fleet average of about 0.17 kg CO2e/km, the "average car,
#: unknown fuel" factor of the UK Government GHG conversion factors (DESNZ, 2023; real-world
#: consumption of the registered fleet, not type-approval values). A fleet average: replace it with
#: a local COPERT/HBEFA value where known.
CO2_KG_PER_VKM = 0.17
#: NOx per passenger-car vehicle-km (g): about 0.35 g/km, the order of urban fleet averages of
#: European inventories built with COPERT/HBEFA (EMEP/EEA air pollutant emission inventory guidebook,
#: 1.A.3.b; UK NAEI road transport factors) for fleets with a large diesel share, as in Spain. A fleet
#: average: replace it with a local value where known.
NOX_G_PER_VKM = 0.35
#: measured at the Sant Antoni superblock, Barcelona (Barcelona city council's 2019 evaluation): the
#: traffic change on its internal street (Comte Borrell) and the change of the noise level there by
#: period, dB(A); reports place the model beside these
SANT_ANTONI_MEASURED = {
    "source": "Sant Antoni superblock, Barcelona (Barcelona city council, 2019 evaluation)",
    "internal_traffic_pct": -82.0,
    "d_l_day_db": -4.1,
    "d_l_evening_db": -5.3,
    "d_l_night_db": -5.4,
}
#: floor of the flow term of the noise change (veh/day; see the module docstring)
NOISE_FLOOR_VEH_DAY = 100.0
#: limitation of the flow-only noise estimate, repeated in reports
NOISE_CAVEAT = (
    "The flow-only noise estimate (dL = 10 log10(Q_after / Q_before), CNOSSOS-EU at equal speed) "
    "overstates measured drops: at Sant Antoni, Barcelona, -82% vehicles on Comte Borrell predicts "
    "-7.4 dB, while -4.1 dB was measured by day (other sources, such as neighbouring streets, people "
    "and deliveries, keep the level up)."
)

# CNOSSOS-EU road source, vehicle category 1 (light vehicles), octave bands 63 Hz .. 8 kHz
# (Commission Directive (EU) 2015/996, Annex II; the CNOSSOS-EU JRC reference report EUR 25379 EN,
# 2012): rolling noise A_R + B_R log10(v / 70), propulsion A_P + B_P (v - 70) / 70.
_CNOSSOS_AR = np.array([79.7, 85.7, 84.5, 90.2, 97.3, 93.9, 84.1, 74.3])
_CNOSSOS_BR = np.array([30.0, 41.5, 38.9, 25.7, 32.5, 37.2, 39.0, 40.0])
_CNOSSOS_AP = np.array([94.5, 89.2, 88.0, 85.9, 84.2, 86.9, 83.3, 76.1])
_CNOSSOS_BP = np.array([-1.3, 7.2, 7.7, 8.0, 8.0, 8.0, 8.0, 8.0])
_A_WEIGHTING = np.array([-26.2, -16.1, -8.6, -3.2, 0.0, 1.2, 1.0, -1.1])
_CNOSSOS_V_MIN, _CNOSSOS_V_MAX = 20.0, 130.0

#: every arc of a routing graph costs its time steps plus this (see the module docstring)
_HOP = 2.0**-20
#: float cells one Dijkstra batch may allocate (distances; predecessors add half again)
_BATCH_CELLS = 3_000_000
_RECORD = "urbankit_superblocks"


# --------------------------------------------------------------------------------------------------
# small helpers


def _check_network(network) -> None:
    if not isinstance(network, StreetNetwork):
        raise InvalidOptionError(
            f"network must be a StreetNetwork (from urbankit.build_network), not {type(network).__name__}."
        )
    if len(network.edges) == 0:
        raise NoStreetsError("the network has no edges.")


def _number(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    strict_low: bool = False,
    allow_none: bool = False,
) -> float | None:
    if value is None and allow_none:
        return None
    ok = (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )
    if ok and low is not None:
        ok = value > low if strict_low else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        rng = []
        if low is not None:
            rng.append(f"{'>' if strict_low else '>='} {low:g}")
        if high is not None:
            rng.append(f"<= {high:g}")
        raise InvalidOptionError(f"{name}={value!r} must be a finite number {' and '.join(rng)}.".replace("  ", " "))
    return float(value)


def _examples(values, n: int = 5) -> str:
    items = list(values[:n])
    return ", ".join(map(str, items)) + (", ..." if len(values) > n else "")


def _highway(edges: pd.DataFrame) -> pd.Series:
    return edges["highway"].astype(object).where(edges["highway"].notna(), "").astype(str).str.strip().str.lower()


def _street_ids(edges: pd.DataFrame) -> np.ndarray:
    """Id of the street segment of every edge row: the two directions of a two-way street share it."""
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    key = pd.DataFrame(
        {
            "a": np.minimum(u, v),
            "b": np.maximum(u, v),
            "w": edges["way_id"].astype(str).to_numpy(),
            "l": np.round(edges["length_m"].to_numpy(float), 1),
        }
    )
    return key.groupby(["a", "b", "w", "l"], sort=False).ngroup().to_numpy()


def _first_rows(ids: np.ndarray) -> np.ndarray:
    """Positions of the first row of each id (ascending positions)."""
    _, first = np.unique(ids, return_index=True)
    return np.sort(first)


def _midpoints(geoms) -> np.ndarray:
    return shapely.line_interpolate_point(np.asarray(geoms, dtype=object), 0.5, normalized=True)


def _fingerprint(network: StreetNetwork) -> str:
    h = hashlib.sha1()
    h.update(str(len(network.edges)).encode())
    for col in ("u", "v"):
        h.update(np.ascontiguousarray(network.edges[col].to_numpy()).tobytes())
    return h.hexdigest()


def _geom_hash(geom) -> str:
    return hashlib.sha1(shapely.to_wkb(geom, hex=False)).hexdigest()


def _per_node(values, network: StreetNetwork, name: str) -> np.ndarray | None:
    """A per-node quantity (Series indexed by node_id, or a PopulationEstimate) as an array over nodes."""
    if values is None:
        return None
    per_node = getattr(values, "per_node", values)
    if not isinstance(per_node, pd.Series):
        raise InvalidOptionError(
            f"{name} must be a PopulationEstimate or a pandas Series indexed by node_id, not {type(values).__name__}."
        )
    aligned = per_node.reindex(network.nodes.index)
    if len(per_node) and aligned.isna().all():
        raise InvalidOptionError(
            f"{name} shares no node_id with the network (e.g. {_examples(per_node.index)}); compute it on "
            "this network's nodes."
        )
    out = pd.to_numeric(aligned, errors="coerce").fillna(0.0).to_numpy(float)
    if (out < 0).any() or not np.isfinite(out).all():
        raise InvalidOptionError(f"{name} has negative or infinite values; give counts >= 0.")
    return out


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _jobs(n_jobs) -> int:
    if n_jobs is None:  # joblib's convention: None is one process
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise InvalidOptionError(f"n_jobs={n_jobs!r} must be a whole number >= 1, or -1 (all available cores).")
    return _available_cores() if n_jobs < 0 else int(n_jobs)


# --------------------------------------------------------------------------------------------------
# candidates


@dataclass
class _Segments:
    """One row per street segment (both directions of a two-way street are one segment)."""

    street: np.ndarray  # street id of every edge row
    rows: np.ndarray  # first edge row of each street id (index = street id order of first rows)
    highway: np.ndarray  # per segment
    length: np.ndarray
    geoms: np.ndarray
    mid: np.ndarray
    names: np.ndarray

    @classmethod
    def of(cls, network: StreetNetwork) -> _Segments:
        e = network.edges
        street = _street_ids(e)
        rows = _first_rows(street)
        # renumber streets so that street id i is the segment of rows[i]
        remap = np.empty(street.max() + 1, dtype=np.int64)
        remap[street[rows]] = np.arange(len(rows))
        street = remap[street]
        geoms = e.geometry.to_numpy()[rows]
        return cls(
            street=street,
            rows=rows,
            highway=_highway(e).to_numpy()[rows],
            length=e["length_m"].to_numpy(float)[rows],
            geoms=geoms,
            mid=_midpoints(geoms),
            names=e["name"].astype(object).to_numpy()[rows] if "name" in e.columns else np.full(len(rows), None),
        )
