"""scenario part of :mod:`urbankit.superblocks`."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from .._deprecation import renamed_kwargs
from .._errors import CRSError, InvalidOptionError
from ..environment.health import health_table
from ..network import StreetNetwork
from ._common import (
    DEFAULT_INTERNAL_SPEED_KMH,
    EVAPORATION_ELASTIC,
    EVAPORATION_EVIDENCE,
    EVAPORATION_SOURCE,
    METHODS,
    TIME_ELASTICITY,
    TIME_ELASTICITY_SOURCE,
    _check_network,
    _jobs,
    _number,
)
from .assign import Assignment, _assign, _check_od, _od_positions, _scenario, _shares
from .congestion import ASSIGNMENTS, equilibrium_flows, ratrun_vkm
from .demand import _gravity_pass
from .detect import find_superblocks, label_edges
from .effects import effects, exposure_table
from .external import DEFAULT_THROUGH_SHARE, TRIP_TYPES, open_demand
from .graph import _inside_nodes
from .metrics import distance_metrics

logger = logging.getLogger(__name__)


@dataclass(repr=False)
class Scenario:
    """Everything :func:`run_scenario` computed: candidates, demand, assignment and effects.

    ``summary_table`` is the one-row table of totals; :meth:`summary` returns a copy of it.
    ``input_files`` names the input files (absolute paths) that :meth:`to_gpkg` refuses to overwrite.
    """

    superblocks: gpd.GeoDataFrame
    od: pd.DataFrame
    assignment: Assignment
    edges: gpd.GeoDataFrame
    summary_table: pd.DataFrame
    timings: dict
    population_description: str | None = None
    input_files: dict = field(default_factory=dict)
    #: residents per Lden band and winners/losers (:func:`exposure_table`); None with model="simple"
    exposure: pd.DataFrame | None = None
    #: ESTIMATE of premature deaths avoided per year (:func:`urbankit.environment.health.health_table`,
    #: labelled and with its caveat); None without residents or with model="simple"; not in the summary
    health: pd.DataFrame | None = None

    def summary(self) -> pd.DataFrame:
        """One row of scenario totals (trips, vkm before/after, detours, noise, emissions, ...).

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`summary_table`.
        """
        return self.summary_table.copy()

    def __repr__(self) -> str:
        s = self.summary_table.iloc[0]
        pop = f"; {self.population_description}" if self.population_description else ""
        return (
            f"Scenario({int(s.n_superblocks)} superblocks, {s.trips:,.0f} trips/day, vkm {s.vkm_before:,.0f} -> "
            f"{s.vkm_after:,.0f}, median detour {s.median_detour:.3f}; "
            + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
            + pop
            + ")"
        )

    def to_gpkg(self, path, *, exposure_layer: bool = False) -> os.PathLike:
        """Write the scenario to a GeoPackage, atomically; returns its path.

        Layers (EPSG:4326): ``superblocks`` (polygons: ``superblock_id``, ``area_ha``, ``residents``,
        ``street_area_freed_m2``, ...), ``edges`` (``u``, ``v``, ``highway``, ``superblock_id`` (null
        outside superblocks), ``flow_before``, ``flow_after``, ``d_noise_db``, Lden before/after,
        emissions, widths, residents, ..., ``both_directions``, geometry; one row per street: the two
        directions of a two-way street with the same per-street values are one row whose
        ``flow_before``/``flow_after``/``flow_change`` are the totals of both directions, with the
        flows per direction in ``<flow>_forward`` (``u -> v``, the row's digitised direction) and
        ``<flow>_backward`` (``v -> u``; null on a row of one direction only) and the emissions
        summed; see :func:`urbankit.network.street_rows.one_row_per_street`), ``summary`` (a table
        without geometry: the one row of :meth:`summary`) and, with ``exposure_layer=True``,
        ``exposure`` (a table without geometry: :attr:`exposure`, from the default effects model
        with residents).

        Parameters
        ----------
        path : str or Path
            The file to write, ending in ``.gpkg``.
        exposure_layer : bool, default False
            Also write the :attr:`exposure` table (residents per Lden band, louder/quieter).

        Returns
        -------
        pathlib.Path
            ``path``.

        Raises
        ------
        InvalidOptionError
            If ``path`` does not end in ``.gpkg`` or is a folder.
        InputFileError
            If ``path`` is one of the scenario's input files.
        """
        from pathlib import Path

        import pyogrio

        from ..io import (
            _unsynchronised_sqlite,
            atomic_path,
            metadata_table,
            provenance,
            refuse_overwriting_inputs,
            write_metadata,
        )

        path = Path(path)
        if path.suffix.lower() != ".gpkg":
            raise InvalidOptionError(f"path={str(path)!r} must end in .gpkg (a GeoPackage), e.g. 'superblocks.gpkg'.")
        if path.is_dir():
            raise InvalidOptionError(f"path={str(path)!r} is a folder; give a file name ending in .gpkg.")
        inputs = dict(self.input_files or {})
        if "source" in self.summary_table.columns and len(self.summary_table):
            inputs.setdefault("source", self.summary_table["source"].iloc[0])
        refuse_overwriting_inputs(path, inputs)
        layers = {"superblocks": _superblocks_layer(self), "edges": _edges_layer(self)}
        summary = _summary_layer(self)
        source = inputs.get("source")
        if isinstance(source, str):
            from ..datasets import resolve

            source = resolve(source)  # a data set name: its file (and so its OSM data date)
        metadata = metadata_table(
            provenance(
                source,
                {
                    "candidates": int(len(self.superblocks)),
                    "population_description": self.population_description,
                    **_edge_column_notes(layers["edges"]),
                },
            )
        )
        with atomic_path(path, suffix=".tmp.gpkg") as tmp, _unsynchronised_sqlite():
            for name, gdf in layers.items():
                gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", index=False)
            pyogrio.write_dataframe(summary, tmp, layer="summary", driver="GPKG")
            if exposure_layer and self.exposure is not None and len(self.exposure):
                pyogrio.write_dataframe(_table_layer(self.exposure), tmp, layer="exposure", driver="GPKG")
            write_metadata(metadata, tmp)
        return path


@renamed_kwargs(zones_resolution="h3_resolution")
def run_scenario(
    network: StreetNetwork,
    *,
    superblocks: gpd.GeoDataFrame | None = None,
    method: str = "auto",
    population=None,
    destinations=None,
    od: pd.DataFrame | None = None,
    n_trips: float | None = None,
    trips_per_resident: float = 0.5,
    beta_per_min: float = 0.1,
    h3_resolution: int | None = 8,
    internal_speed_kmh: float = DEFAULT_INTERNAL_SPEED_KMH,
    closed_edges=None,
    modal_filters=None,
    evaporation: float | str = 0.0,
    mode_shift: float = 0.0,
    n_jobs: int | None = 1,
    find_kwargs: dict | None = None,
    effects_kwargs: dict | None = None,
    demand: str = "closed",
    through_share: float = DEFAULT_THROUGH_SHARE,
    assignment: str = "aon",
    rel_gap: float = 1e-4,
    max_iter: int = 500,
    time_elasticity: float = TIME_ELASTICITY,
) -> Scenario:
    """Detection, demand, assignment before and after, and effects in one call (times logged per phase).

    Parameters
    ----------
    network : StreetNetwork
        The drive network.
    superblocks : GeoDataFrame, optional
        Candidates to use; default :func:`find_superblocks` with ``method``, ``population`` and
        ``find_kwargs``.
    method : str, default "auto"
        Detection method (:func:`find_superblocks`).
    population, destinations : optional
        As for :func:`gravity_demand` (population also gives the residents of the candidates).
    od : DataFrame, optional
        A user OD table instead of the gravity model.
    n_trips : float, optional
        Total car trips per day of the gravity model (overrides ``trips_per_resident``).
    trips_per_resident, beta_per_min, h3_resolution
        Gravity model (:func:`gravity_demand`).
    internal_speed_kmh, closed_edges, modal_filters, evaporation, mode_shift, n_jobs
        As for :func:`assign`.
    find_kwargs : dict, optional
        More options of :func:`find_superblocks`.
    effects_kwargs : dict, optional
        Passed to :func:`effects`.
    demand : {"closed", "open"}, default "closed"
        ``"open"``: :func:`~urbankit.superblocks.external.open_demand`, the gravity trips plus
        inbound, outbound and through trips at external zones where major roads cross the area's
        boundary (``trip_type`` in ``od``; ``trips_<type>`` in ``summary``). Ignored with ``od``.
    through_share : float, default 0.3
        Of open demand (:data:`~urbankit.superblocks.external.DEFAULT_THROUGH_SHARE`).
    assignment : {"aon", "equilibrium"}, default "aon"
        All-or-nothing at free-flow times, or static user equilibrium with BPR delays
        (:mod:`urbankit.superblocks.congestion`): the edge flows before and after are then the
        equilibrium's, the effects use its congested speeds (``speed_source``), and with
        ``evaporation="elastic"`` the trips after respond to the equilibrium times (a fixed point);
        ``summary`` reports ``rel_gap_before``/``rel_gap_after``, iterations, ``demand_iterations``
        and ``demand_gap``, and ``trips_slower_congested`` (the trips whose time rose at
        equilibrium: the base of the elastic ``evaporation`` share there, while ``trips_affected``
        stays the trips slower at free-flow times).
    rel_gap, max_iter
        Convergence target and iteration limit of the equilibrium assignment.
    time_elasticity : float, default -0.5
        With ``evaporation="elastic"`` (:func:`assign`).

    Returns
    -------
    Scenario
        ``superblocks``, ``od`` (the assignment's per-trip table), ``assignment``, ``edges`` and
        ``summary`` (:func:`effects`), ``timings`` (seconds per phase: ``detect_s``,
        ``demand_and_before_s`` with the gravity model (demand and the before assignment share one
        search per origin) or ``assign_before_s``, ``assign_after_s``, ``effects_s``, ``total_s``).
    """
    _check_network(network)
    _shares(evaporation, mode_shift, time_elasticity)
    _number("internal_speed_kmh", internal_speed_kmh, low=0.0, strict_low=True)
    _number("n_trips", n_trips, low=0.0, allow_none=True)
    if demand not in ("closed", "open"):
        raise InvalidOptionError(f"demand={demand!r} must be 'closed' (gravity inside the area) or 'open'.")
    if assignment not in ASSIGNMENTS:
        raise InvalidOptionError(f"assignment={assignment!r} must be one of {ASSIGNMENTS}.")
    _number("rel_gap", rel_gap, low=0.0, high=1.0, strict_low=True)
    jobs = _jobs(n_jobs)
    trip_type = None
    if od is not None:
        od = _check_od(od, network)
    elif demand == "open":
        od_open = open_demand(
            network,
            population,
            destinations,
            trips_per_resident=trips_per_resident,
            beta_per_min=beta_per_min,
            h3_resolution=h3_resolution,
            n_trips=n_trips,
            through_share=through_share,
            n_jobs=n_jobs,
        )
        trip_type = od_open["trip_type"].to_numpy()
        od = od_open
    timings: dict = {}
    t0 = time.perf_counter()
    if superblocks is None:
        superblocks = find_superblocks(network, method=method, population=population, **(find_kwargs or {}))
    timings["detect_s"] = time.perf_counter() - t0
    logger.info("detection: %d candidates in %.2f s", len(superblocks), timings["detect_s"])
    before = None
    if od is None:
        # demand and the before assignment share one pass: each origin's tree gives its costs and routes
        t0 = time.perf_counter()
        node_sb = _inside_nodes(network, label_edges(network, superblocks).fillna(-1).to_numpy(np.int64))[0]
        od, flows_b, steps_b, metres_b, trips, through_b = _gravity_pass(
            network,
            population=population,
            destinations=destinations,
            trips_per_resident=trips_per_resident,
            beta_per_min=beta_per_min,
            h3_resolution=h3_resolution,
            n_trips=n_trips,
            jobs=jobs,
            trees=True,
            node_sb=node_sb,
        )
        ok = np.isfinite(steps_b) & (trips > 0)
        scale = od.attrs["gravity"]["scale"]
        before = (flows_b * scale, steps_b[ok], metres_b[ok], through_b * scale)
        timings["demand_and_before_s"] = time.perf_counter() - t0
        logger.info("demand and before assignment: %d OD pairs in %.2f s", len(od), timings["demand_and_before_s"])
    a = _assign(
        network,
        od[["origin", "destination", "trips"]],
        superblocks=superblocks,
        internal_speed_kmh=internal_speed_kmh,
        closed_edges=closed_edges,
        modal_filters=modal_filters,
        evaporation=evaporation,
        mode_shift=mode_shift,
        jobs=jobs,
        before=before,
        time_elasticity=time_elasticity,
        through=True,
    )
    a.od.attrs = dict(od.attrs)
    if trip_type is not None:
        a.od["trip_type"] = trip_type
        for c in ("origin_zone", "destination_zone"):
            a.od[c] = od[c].to_numpy()
    if before is None:
        timings["assign_before_s"] = a.timings["assign_before_s"]
    timings["assign_after_s"] = a.timings["assign_after_s"]
    extra = _congestion_and_ratruns(
        network,
        a,
        superblocks,
        internal_speed_kmh=internal_speed_kmh,
        closed_edges=closed_edges,
        modal_filters=modal_filters,
        assignment=assignment,
        rel_gap=rel_gap,
        max_iter=max_iter,
        jobs=jobs,
        timings=timings,
        evaporation=evaporation,
        mode_shift=mode_shift,
        time_elasticity=time_elasticity,
    )
    t0 = time.perf_counter()
    edges, summary = effects(a, superblocks, **{"population": population, **(effects_kwargs or {})})
    exposure = exposure_table(edges) if "lden_before_db" in edges.columns else None
    ratrun_by_sb = extra.pop("_ratrun_by_superblock")
    for k, v in extra.items():
        summary[k] = [v]
    if trip_type is not None:
        for k in TRIP_TYPES:
            summary[f"trips_{k}"] = [float(a.od.loc[a.od["trip_type"] == k, "trips"].sum())]
    health = health_table(edges) if exposure is not None and len(exposure) else None
    timings["effects_s"] = time.perf_counter() - t0
    logger.info("effects in %.2f s", timings["effects_s"])
    timings["total_s"] = sum(timings.values())
    scenario = Scenario(
        superblocks=superblocks,
        od=a.od,
        assignment=a,
        edges=edges,
        summary_table=summary,
        timings=timings,
        population_description=getattr(population, "description", None),
        exposure=exposure,
        health=health,
    )
    scenario.ratrun_by_superblock = ratrun_by_sb
    return scenario


def _congestion_and_ratruns(
    network,
    a,
    superblocks,
    *,
    internal_speed_kmh,
    closed_edges,
    modal_filters,
    assignment,
    rel_gap,
    max_iter,
    jobs,
    timings,
    evaporation=0.0,
    mode_shift=0.0,
    time_elasticity=TIME_ELASTICITY,
) -> dict:
    """Equilibrium flows (replacing ``a.flows``' when asked), rat-running vehicle-km and the
    no-evaporation vehicle-km after; returns the extra summary columns."""
    sc = _scenario(
        network,
        superblocks,
        internal_speed_kmh=internal_speed_kmh,
        closed_edges=closed_edges,
        modal_filters=modal_filters,
    )
    o, d = _od_positions(network, a.od)
    trips = a.od["trips"].to_numpy(float)
    response = _shares(evaporation, mode_shift, time_elasticity)
    t0 = time.perf_counter()
    a_sb = a.od["origin_superblock"].fillna(-1).to_numpy(np.int64)
    b_sb = a.od["destination_superblock"].fillna(-1).to_numpy(np.int64)
    by_sb = ratrun_vkm(
        network, sc, o, d, trips, a_sb, b_sb, jobs, through_flows=getattr(a, "_through_flows_before", None)
    )
    out = {"assignment": assignment, "vkm_ratrun_before": float(by_sb.sum())}
    timings["ratrun_s"] = time.perf_counter() - t0
    # vehicle-km after had no affected trip evaporated or shifted (the 0 % sensitivity case), exact
    # for all-or-nothing: every row's trips follow its one path
    gone = np.where(a.od["affected"].to_numpy(bool) & ~a.od["unroutable_after"].to_numpy(bool), trips, 0.0)
    gone = gone - np.where(gone > 0, a.od["trips_after"].to_numpy(float), 0.0)
    km = network.edges["length_m"].to_numpy(float) / 1000.0
    vkm_gone = float(np.nansum(gone * a.od["distance_after_m"].to_numpy(float)) / 1000.0)
    if assignment == "equilibrium":
        t0 = time.perf_counter()
        # the all-or-nothing flows just computed (free-flow times, same trips and routing graphs)
        # are the first Frank-Wolfe iterate of each phase
        aon = {"before": a.flows["flow_before"].to_numpy(float), "after": a.flows["flow_after"].to_numpy(float)}
        fb, fa, conv = equilibrium_flows(
            network,
            sc,
            o,
            d,
            trips,
            a.od["trips_after"].to_numpy(float),
            rel_gap=rel_gap,
            max_iter=max_iter,
            initial=aon,
            response=response,
            jobs=jobs,
        )
        a.flows["flow_before"] = fb
        a.flows["flow_after"] = fa
        a.equilibrium = {k[len("_result_") :]: v for k, v in conv.items() if k.startswith("_result_")}
        _congested_speeds(network, a)
        if "_trips_after" in conv:
            _elastic_columns(a, conv, response)
        else:  # fixed trips after: one equilibrium
            conv.update(demand_iterations=1, demand_gap=0.0, demand_converged=True)
        a.params["equilibrium"] = {k: v for k, v in conv.items() if not k.startswith("_")}
        for k in ("demand_iterations", "demand_gap"):
            a.params[k] = conv[k]
        timings["equilibrium_s"] = time.perf_counter() - t0
        for k in ("rel_gap_before", "rel_gap_after", "iterations_before", "iterations_after"):
            out[k] = conv[k]
        out["demand_iterations"] = int(conv["demand_iterations"])
        out["demand_gap"] = float(conv["demand_gap"])
        out["vkm_after_no_evaporation"] = np.nan  # not additive under congestion
        if "trips_slower_congested" in a.params:  # the base of the elastic share at equilibrium
            out["trips_slower_congested"] = float(a.params["trips_slower_congested"])
    else:
        out["vkm_after_no_evaporation"] = float(a.flows["flow_after"].to_numpy() @ km) + vkm_gone
    out["evaporation"] = float(a.params["evaporation"])
    out["evaporation_method"] = a.params["evaporation_method"]
    eps = a.params["time_elasticity"]
    out["time_elasticity"] = np.nan if eps is None else float(eps)
    out["_ratrun_by_superblock"] = by_sb
    return out


def _congested_speeds(network, a) -> None:
    """Congested speeds of the equilibrium into ``a.flows`` (``congested_speed_before_kmh``/``_after_kmh``:
    length / BPR time at the peak-hour flows the equilibrium loads), which :func:`effects` then uses."""
    length_km = network.edges["length_m"].to_numpy(float) / 1000.0
    for phase in ("before", "after"):
        t_min = np.asarray(a.equilibrium[phase].congested_time, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            a.flows[f"congested_speed_{phase}_kmh"] = np.where(t_min > 0, length_km / (t_min / 60.0), np.nan)


def _elastic_columns(a, conv, response) -> None:
    """Trips after, evaporated and shifted of the elastic demand at equilibrium into ``a.od``, the OD
    times at the equilibrium link times (``time_before_congested_min``/``time_after_congested_min``)
    and the evaporated share into ``a.params``."""
    od = a.od
    trips = od["trips"].to_numpy(float)
    tb, ta = conv["_time_before_min"], conv["_time_after_min"]
    _, ev, ms = response.shares(tb, ta)
    od["time_before_congested_min"] = np.where(np.isfinite(tb), tb, np.nan)
    od["time_after_congested_min"] = np.where(np.isfinite(ta), ta, np.nan)
    q = np.asarray(conv["_trips_after"], float)
    # the trips that no longer drive, split as the rule splits them at the final times (the trips after
    # are the fixed point to within demand_gap), so trips = after + evaporated + shifted on routable rows
    gone = np.where(np.isfinite(ta), np.maximum(trips - q, 0.0), 0.0)
    total = ev + ms
    od["trips_after"] = q
    od["trips_evaporated"] = np.where(total > 0, gone * ev / np.where(total > 0, total, 1.0), gone)
    od["trips_mode_shift"] = np.where(total > 0, gone * ms / np.where(total > 0, total, 1.0), 0.0)
    # the share of the trips whose time rose (at equilibrium) that evaporated
    rose = np.isfinite(tb) & np.isfinite(ta) & (np.where(np.isfinite(ta), ta, 0) > np.where(np.isfinite(tb), tb, 0))
    t_rose = float(trips[rose].sum())
    a.params["evaporation"] = float(od["trips_evaporated"].sum()) / t_rose if t_rose > 0 else 0.0
    a.params["trips_slower_congested"] = t_rose


# --------------------------------------------------------------------------------------------------
# restricted-distance metrics (superblockify's directness and global efficiency, unit distance)

#: above this many nodes :func:`distance_metrics` samples origins (all destinations are kept)
GPKG_EDGE_COLUMNS = (
    "u",
    "v",
    "highway",
    "name",
    "length_m",
    "superblock_id",
    "role",
    "flow_before",
    "flow_after",
    "flow_change",
    "d_noise_db",
    "d_noise_flow_db",
    "d_noise_speed_db",
    "speed_before_kmh",
    "speed_after_kmh",
    # effects model "cnossos" (urbankit.superblocks.effects)
    "lden_before_db",
    "lden_after_db",
    "d_lden_db",
    "l_day_before_db",
    "l_day_after_db",
    "l_evening_before_db",
    "l_evening_after_db",
    "l_night_before_db",
    "l_night_after_db",
    "co2_kg_day_before",
    "co2_kg_day_after",
    "nox_kg_day_before",
    "nox_kg_day_after",
    "pm25_g_day_before",
    "pm25_g_day_after",
    "width_m",
    "width_source",
    "area_freed_m2",
    "residents",
    # roadside NO2 ESTIMATE (urbankit.environment.air)
    "no2_before_ugm3",
    "no2_after_ugm3",
    "d_no2_ugm3",
)
#: above this many drive nodes :func:`superblocks_scenario` groups residents into H3 zones (resolution 8)
AUTO_ZONES_NODES = 3_000


def _superblocks_layer(scenario: Scenario) -> gpd.GeoDataFrame:
    sb = scenario.superblocks
    out = gpd.GeoDataFrame(
        {
            "superblock_id": sb["superblock_id"].to_numpy(np.int64),
            "area_ha": sb["area_ha"].to_numpy(float),
            "residents": sb["residents"].to_numpy(float),
            "street_area_freed_m2": sb["internal_street_area_m2"].to_numpy(float),
            "internal_length_m": sb["internal_length_m"].to_numpy(float),
            "n_internal_edges": sb["n_internal_edges"].to_numpy(np.int64),
            "perimeter_streets": sb["perimeter_streets"].astype(str).to_numpy(),
            "method": sb["method"].astype(str).to_numpy(),
            **{
                c: sb[c].to_numpy(np.int64)
                for c in ("n_unreachable_nodes", "rank")
                if c in sb.columns  # user frames may lack them
            },
        },
        geometry=sb.geometry.to_numpy(),
        crs=sb.crs,
    )
    e = scenario.edges
    if "area_freed_m2" in e.columns:  # effects model "cnossos": OSM widths minus the access lane
        ids = e["superblock_id"].astype("Int64")
        inside = ids.notna().to_numpy()
        freed = e.loc[inside, "area_freed_m2"].groupby(ids[inside].to_numpy()).sum()
        out["carriageway_area_freed_m2"] = freed.reindex(out["superblock_id"].to_numpy()).fillna(0.0).to_numpy()
        counted = inside & (e["area_freed_m2"].to_numpy() > 0)
        src = e.loc[counted].groupby(ids[counted].to_numpy())["width_source"]
        text = src.agg(lambda x: ", ".join(f"{k}: {v}" for k, v in x.value_counts().sort_index().items()))
        out["width_sources"] = text.reindex(out["superblock_id"].to_numpy()).fillna("").to_numpy()
    return out.to_crs("EPSG:4326")


#: per-direction values of the edges layer: flows kept per direction (and totalled); summed over the
#: directions: emissions, and the street's residents and freed carriageway area (the effects model
#: puts them on the street's first edge row and 0 on the other)
GPKG_FLOW_COLUMNS = ("flow_before", "flow_after", "flow_change")
GPKG_ADDITIVE_COLUMNS = (
    *(c for c in GPKG_EDGE_COLUMNS if c.startswith(("co2_", "nox_", "pm25_"))),
    "area_freed_m2",
    "residents",
)


def _edge_column_notes(edges: gpd.GeoDataFrame) -> dict:
    """Column dictionary entries of the edges layer's one-row-per-street columns, for the metadata table."""
    from ..network.street_rows import BOTH_DIRECTIONS_MEANING

    notes = {
        "both_directions": ("", BOTH_DIRECTIONS_MEANING),
        "residents": ("residents", "residents of the street segment (both directions)"),
        "area_freed_m2": ("m2", "carriageway area freed on the street (both directions)"),
    }
    for c in GPKG_FLOW_COLUMNS:
        when = c.removeprefix("flow_")
        notes[c] = ("vehicles/day", f"traffic flow {when}, total of both directions on a two-way street row")
        notes[f"{c}_forward"] = ("vehicles/day", f"traffic flow {when} in the direction u->v")
        notes[f"{c}_backward"] = (
            "vehicles/day",
            f"traffic flow {when} in the direction v->u; NULL on a row of one direction only",
        )
    for c in GPKG_ADDITIVE_COLUMNS:
        if c.startswith(("co2_", "nox_", "pm25_")):
            unit = "kg/day" if "_kg_" in c else "g/day"
            notes[c] = (unit, f"{c.replace('_', ' ')}: emissions of the street, both directions summed")
    return {
        f"column:edges.{c}": {"unit": unit, "meaning": meaning}
        for c, (unit, meaning) in notes.items()
        if c in edges.columns
    }


def _edges_layer(scenario: Scenario) -> gpd.GeoDataFrame:
    """The ``edges`` layer, one row per street (see :meth:`Scenario.to_gpkg`)."""
    from ..network.street_rows import one_row_per_street

    e = scenario.edges
    cols = [c for c in GPKG_EDGE_COLUMNS if c in e.columns]
    way = ["way_id"] if "way_id" in e.columns and "way_id" not in cols else []  # pairs the directions only
    out = gpd.GeoDataFrame(e[cols + way].reset_index(drop=True), geometry=e.geometry.to_numpy(), crs=e.crs)
    out["superblock_id"] = out["superblock_id"].astype("Int64")
    out = one_row_per_street(
        out,
        directed=True,
        flow_columns=[c for c in GPKG_FLOW_COLUMNS if c in out.columns],
        additive_columns=[c for c in GPKG_ADDITIVE_COLUMNS if c in out.columns],
    ).drop(columns=way)
    return out.to_crs("EPSG:4326")


def _summary_layer(scenario: Scenario) -> pd.DataFrame:
    return _table_layer(scenario.summary_table)


def _table_layer(table: pd.DataFrame) -> pd.DataFrame:
    s = table.copy()
    for c in s.columns:
        if s[c].dtype == object:
            s[c] = s[c].astype(str)
    return s.reset_index(drop=True)


def _add_accessibility(scenario, extract, network, superblocks, dest, pop, internal_speed_kmh) -> None:
    """Walking and driving minutes to services before and after, into ``scenario`` and its summary."""
    from ..network import build_network
    from .access import accessibility_change

    if dest is None:
        logger.warning("accessibility before/after skipped: the source has no destinations")
        return
    t0 = time.perf_counter()
    walk = build_network(extract, "walk")
    # the drive estimate's residents, each moved to the nearest walk node
    per = getattr(pop, "per_node", pop).reindex(network.nodes.index).fillna(0.0).to_numpy(float)
    _, near = walk.nearest_nodes(network.nodes[["x", "y"]].to_numpy(float))
    walk_pop = pd.Series(np.bincount(near, weights=per, minlength=len(walk.nodes)), index=walk.nodes.index)
    results = {
        "drive": accessibility_change(
            network, dest, superblocks=superblocks, population=pop, internal_speed_kmh=internal_speed_kmh
        ),
        "walk": accessibility_change(walk, dest, superblocks=superblocks, population=walk_pop),
    }
    scenario.accessibility = results
    for mode, res in results.items():
        row = res.summary().iloc[-1]
        for c, v in row.items():
            if c.startswith("share_within") or c == "mean_change_min":
                scenario.summary_table[f"{mode}_{c}"] = [v]
    scenario.timings["accessibility_s"] = time.perf_counter() - t0


def scenario_to_gpkg(scenario: Scenario, path) -> os.PathLike:
    """Write a scenario to a GeoPackage; the same as :meth:`Scenario.to_gpkg`."""
    return scenario.to_gpkg(path)


@renamed_kwargs(zones_resolution="h3_resolution", population="population_source")
def superblocks_scenario(
    source,
    *,
    method: str = "auto",
    polygons=None,
    population_source=None,
    population_column: str | None = None,
    evaporation: float | str = EVAPORATION_ELASTIC,
    mode_shift: float = 0.0,
    internal_speed_kmh: float = DEFAULT_INTERNAL_SPEED_KMH,
    n_trips: float | None = None,
    trips_per_resident: float = 0.5,
    beta_per_min: float = 0.1,
    h3_resolution="auto",
    metrics: bool = True,
    n_jobs: int | None = 1,
    find_kwargs: dict | None = None,
    population_total: float | None = None,
    effects_kwargs: dict | None = None,
    demand: str = "open",
    through_share: float = DEFAULT_THROUGH_SHARE,
    assignment: str = "equilibrium",
    rel_gap: float = 1e-4,
    accessibility: bool = False,
    time_elasticity: float = TIME_ELASTICITY,
) -> Scenario:
    """The whole superblock scenario of an area in one call (what the report and CLI run).

    Loads ``source`` (:func:`urbankit.load`: an embedded data set name, an OSM or GraphML file, a
    place...), builds the drive network, estimates residents per node (from the ``population_source``
    grid or polygons when given, else from OSM buildings, else uniformly; :func:`urbankit.prepare_area`),
    finds destinations
    (:func:`urbankit.destinations`; none in a GraphML file: residents attract trips then), finds
    candidate superblocks (``method``, or the user's ``polygons``: a file or a GeoDataFrame) and runs
    :func:`run_scenario`. ``summary`` also gets ``directness_distance`` and
    ``global_efficiency_distance`` (:func:`distance_metrics`), ``population_source`` and ``source``.

    ``h3_resolution="auto"`` groups trips by node up to :data:`AUTO_ZONES_NODES` drive nodes and
    by H3 cells of resolution 8 above.

    Parameters
    ----------
    source
        Anything :func:`urbankit.load` accepts (embedded data set name, OSM/GraphML file, place...).
    method : {"auto", "arterial", "grid", "residential", "polygons"}, default "auto"
        Detection method of :func:`find_superblocks`; ``"polygons"`` needs ``polygons``.
    polygons : str, pathlib.Path or geopandas.GeoDataFrame, optional
        The user's superblock polygons (a vector file with a CRS, or a GeoDataFrame); given, they
        are used instead of detection (``method`` becomes ``"polygons"``).
    population_source : str, pathlib.Path or geopandas.GeoDataFrame, optional
        Population grid or polygons (as :func:`urbankit.population_per_node` ``grid``); without it
        residents are estimated from OSM buildings, else spread uniformly. (Formerly ``population=``,
        which still works with a DeprecationWarning.)
    population_column : str, optional
        Column of ``population_source`` holding residents (detected when omitted).
    evaporation : float or "elastic", default "elastic"
        How the affected trips (time increased) respond. ``"elastic"`` (default): a trip whose
        time rises from ``t0`` to ``t1`` keeps ``(t1 / t0) ** time_elasticity`` of its trips, with
        the evidence-based :data:`~urbankit.superblocks.TIME_ELASTICITY` = -0.5 (Goodwin 1996,
        short term), so long detours lose more trips than small ones. A number: that flat share of
        the affected trips no longer happens, e.g. :data:`~urbankit.superblocks.EVAPORATION_EVIDENCE`
        = 0.11 (Cairns, Atkins & Goodwin 2002: median 11 % of the traffic on treated roads
        disappeared); 0 gives the no-evaporation sensitivity case, also reported as
        ``vkm_after_no_evaporation`` (with all-or-nothing assignment). ``summary`` states the
        share that evaporated (``evaporation``), ``evaporation_method``, ``time_elasticity`` and
        the source (``evaporation_source``); compare the elastic share with Cairns's 11 %.
    mode_shift : float, default 0.0
        Share of the affected trips that move to walking, cycling or transit (:func:`assign`).
    internal_speed_kmh : float, default 10.0
        Speed of cars inside a superblock (:data:`DEFAULT_INTERNAL_SPEED_KMH`).
    n_trips : float, optional
        Total car trips per day of the gravity model (overrides ``trips_per_resident``).
    trips_per_resident : float, default 0.5
        Car trips per day and resident of the gravity model (:func:`gravity_demand`).
    beta_per_min : float, default 0.1
        Decay of the gravity model, per minute of travel time.
    h3_resolution : int, None or "auto", default "auto"
        Zones of the gravity model: H3 resolution, None for one zone per node, ``"auto"`` as above.
    metrics : bool, default True
        Add :func:`distance_metrics` (``directness_distance``, ``global_efficiency_distance``) to
        ``summary`` and their time to ``timings["metrics_s"]``.
    n_jobs : int, optional
        Threads for the Dijkstra searches of the assignment (default 1; -1: all available cores;
        :func:`assign`).
    find_kwargs : dict, optional
        More options of :func:`find_superblocks`.
    population_total : float, optional
        Known number of residents the estimate is scaled to (``total`` of
        :func:`urbankit.population_per_node`).
    effects_kwargs : dict, optional
        Options of :func:`effects` (``model``, ``fleet_mix``, ``deprivation``, ...); the extract's
        way tags (``width``, ``lanes``) are passed as ``way_tags``.
    demand : {"closed", "open"}, default "open"
        ``"open"`` adds trips to, from and through the area at external zones where major roads
        cross its boundary (:func:`run_scenario`).
    through_share : float, default 0.3
        Of open demand.
    assignment : {"equilibrium", "aon"}, default "equilibrium"
        As for :func:`run_scenario`. The default is the user equilibrium with BPR delays: traffic
        spreads over parallel streets as the busy ones fill (all-or-nothing at free-flow times
        leaves streets next to a faster one empty, which no street count shows), the emissions
        use its congested speeds and, with ``evaporation="elastic"``, the trips after respond to
        the equilibrium's travel times. ``"aon"`` is faster and gives exactly additive per-trip
        figures (``vkm_after_no_evaporation``).
    rel_gap : float, default 1e-4
        Target relative gap of the equilibrium assignment.
    accessibility : bool, default False
        Also compute minutes to services before and after, by car (the scenario's routing rule)
        and on foot (unchanged), with :func:`~urbankit.superblocks.access.accessibility_change`:
        ``scenario.accessibility`` maps ``"drive"``/``"walk"`` to the results, and ``summary`` gets
        ``<mode>_share_within_<m>min_before/after`` (residents within 10 and 15 minutes, mean over
        services) and ``<mode>_mean_change_min``. Needs destinations (none in a GraphML file).
    time_elasticity : float, default -0.5
        Elasticity of car traffic with respect to travel time of ``evaporation="elastic"``
        (Goodwin 1996: -0.5 short term, :data:`~urbankit.superblocks.TIME_ELASTICITY_LONG_RUN` = -1
        long term).

    Returns
    -------
    Scenario
        As :func:`run_scenario`, with ``network``, ``population`` (the estimate used), and
        ``input_files`` (absolute paths of the input files, which ``to_gpkg`` refuses to overwrite).

    Raises
    ------
    InvalidOptionError
        Bad options (a negative ``evaporation``, polygons outside the area, ...).
    InputFileError, NoStreetsError, ...
        As :func:`urbankit.load` and :func:`find_superblocks`.
    """
    from pathlib import Path

    from .._errors import InputFileError

    response = _shares(evaporation, mode_shift, time_elasticity)
    _number("internal_speed_kmh", internal_speed_kmh, low=0.0, strict_low=True)
    _number("n_trips", n_trips, low=0.0, allow_none=True)
    if method not in METHODS:
        raise InvalidOptionError(f"method={method!r} is not one of {METHODS}.")
    if method == "polygons" and polygons is None:
        raise InvalidOptionError("method='polygons' needs polygons=... (a file or a GeoDataFrame).")
    polygons_path = polygons if isinstance(polygons, (str, Path)) else None
    if isinstance(polygons, (str, Path)):
        p = Path(polygons)
        if not p.is_file():
            raise InputFileError(f"polygons file {str(p)!r} does not exist.")
        try:
            polygons = gpd.read_file(p)
        except Exception as exc:  # pyogrio raises its own types on unreadable files
            raise InputFileError(f"cannot read polygons from {str(p)!r}: {exc}") from exc
        if polygons.crs is None:
            raise CRSError(f"polygons file {str(p)!r} has no CRS; save it with one (e.g. EPSG:4326).")
    from ..pipelines import prepare_area

    area = prepare_area(
        source,
        modes=["drive"],
        population_source=population_source,
        population_column=population_column,
        population_total=population_total,
    )
    extract, network, pop, dest = area.extract, area.network, area.population, area.destinations
    if len(dest) == 0:  # e.g. a GraphML file holds no features: residents attract trips then
        logger.info("no destinations in %s: residents attract trips", source)
        dest = None
    if h3_resolution == "auto":
        h3_resolution = None if len(network.nodes) <= AUTO_ZONES_NODES else 8
    kw = dict(find_kwargs or {})
    if polygons is not None:
        kw["polygons"] = polygons
        method = "polygons"
    superblocks = find_superblocks(network, method=method, population=pop, **kw)
    scenario = run_scenario(
        network,
        superblocks=superblocks,
        population=pop,
        destinations=dest,
        n_trips=n_trips,
        trips_per_resident=trips_per_resident,
        beta_per_min=beta_per_min,
        h3_resolution=h3_resolution,
        internal_speed_kmh=internal_speed_kmh,
        evaporation=evaporation,
        mode_shift=mode_shift,
        n_jobs=n_jobs,
        effects_kwargs={"way_tags": getattr(extract, "ways", None), **(effects_kwargs or {})},
        demand=demand,
        through_share=through_share,
        assignment=assignment,
        rel_gap=rel_gap,
        time_elasticity=time_elasticity,
    )
    if response.elasticity is not None:
        ev_source = TIME_ELASTICITY_SOURCE if response.elasticity == TIME_ELASTICITY else "user elasticity"
    else:
        ev_source = EVAPORATION_SOURCE if response.evaporation == EVAPORATION_EVIDENCE else "user"
    scenario.summary_table["evaporation_source"] = [ev_source]
    if metrics:
        t0 = time.perf_counter()
        m = distance_metrics(network, superblocks)
        scenario.timings["metrics_s"] = time.perf_counter() - t0
        for k, v in m.items():
            scenario.summary_table[k] = [v]
    if accessibility:
        _add_accessibility(scenario, extract, network, superblocks, dest, pop, internal_speed_kmh)
    scenario.summary_table["population_source"] = [getattr(pop, "source", "user")]
    scenario.summary_table["source"] = [str(getattr(extract, "source", source))]
    scenario.network = network
    scenario.population = pop
    # absolute, so to_gpkg refuses to overwrite them whatever the working folder is then
    scenario.input_files = {
        what: str(Path(v).expanduser().resolve()) if Path(v).expanduser().exists() else v
        for what, v in (("source", source), ("population", population_source), ("polygons", polygons_path))
        if isinstance(v, (str, os.PathLike))
    }
    return scenario
