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
from ._common import DEFAULT_INTERNAL_SPEED_KMH, METHODS, _check_network, _jobs, _number
from .assign import Assignment, _assign, _check_od, _shares
from .demand import _gravity_pass
from .detect import find_superblocks
from .effects import effects, exposure_table
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
        emissions, widths, residents, ..., geometry), ``summary`` (a table without geometry: the one
        row of :meth:`summary`) and, with ``exposure_layer=True``, ``exposure`` (a table without
        geometry: :attr:`exposure`, from the default effects model with residents).

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
    evaporation: float = 0.0,
    mode_shift: float = 0.0,
    n_jobs: int | None = 1,
    find_kwargs: dict | None = None,
    effects_kwargs: dict | None = None,
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

    Returns
    -------
    Scenario
        ``superblocks``, ``od`` (the assignment's per-trip table), ``assignment``, ``edges`` and
        ``summary`` (:func:`effects`), ``timings`` (seconds per phase: ``detect_s``,
        ``demand_and_before_s`` with the gravity model (demand and the before assignment share one
        search per origin) or ``assign_before_s``, ``assign_after_s``, ``effects_s``, ``total_s``).
    """
    _check_network(network)
    _shares(evaporation, mode_shift)
    _number("internal_speed_kmh", internal_speed_kmh, low=0.0, strict_low=True)
    _number("n_trips", n_trips, low=0.0, allow_none=True)
    if od is not None:
        od = _check_od(od, network)
    jobs = _jobs(n_jobs)
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
        od, flows_b, steps_b, metres_b, trips = _gravity_pass(
            network,
            population=population,
            destinations=destinations,
            trips_per_resident=trips_per_resident,
            beta_per_min=beta_per_min,
            h3_resolution=h3_resolution,
            n_trips=n_trips,
            jobs=jobs,
            trees=True,
        )
        ok = np.isfinite(steps_b) & (trips > 0)
        before = (flows_b * od.attrs["gravity"]["scale"], steps_b[ok], metres_b[ok])
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
    )
    a.od.attrs = dict(od.attrs)
    if before is None:
        timings["assign_before_s"] = a.timings["assign_before_s"]
    timings["assign_after_s"] = a.timings["assign_after_s"]
    t0 = time.perf_counter()
    edges, summary = effects(a, superblocks, **{"population": population, **(effects_kwargs or {})})
    exposure = exposure_table(edges) if "lden_before_db" in edges.columns else None
    health = health_table(edges) if exposure is not None and len(exposure) else None
    timings["effects_s"] = time.perf_counter() - t0
    logger.info("effects in %.2f s", timings["effects_s"])
    timings["total_s"] = sum(timings.values())
    return Scenario(
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


def _edges_layer(scenario: Scenario) -> gpd.GeoDataFrame:
    e = scenario.edges
    cols = [c for c in GPKG_EDGE_COLUMNS if c in e.columns]
    out = gpd.GeoDataFrame(e[cols].reset_index(drop=True), geometry=e.geometry.to_numpy(), crs=e.crs)
    out["superblock_id"] = out["superblock_id"].astype("Int64")
    return out.to_crs("EPSG:4326")


def _summary_layer(scenario: Scenario) -> pd.DataFrame:
    return _table_layer(scenario.summary_table)


def _table_layer(table: pd.DataFrame) -> pd.DataFrame:
    s = table.copy()
    for c in s.columns:
        if s[c].dtype == object:
            s[c] = s[c].astype(str)
    return s.reset_index(drop=True)


def scenario_to_gpkg(scenario: Scenario, path) -> os.PathLike:
    """Write a scenario to a GeoPackage; the same as :meth:`Scenario.to_gpkg`."""
    return scenario.to_gpkg(path)


@renamed_kwargs(zones_resolution="h3_resolution")
def superblocks_scenario(
    source,
    *,
    method: str = "auto",
    polygons=None,
    population=None,
    population_column: str | None = None,
    evaporation: float = 0.0,
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
) -> Scenario:
    """The whole superblock scenario of an area in one call (what the report and CLI run).

    Loads ``source`` (:func:`urbankit.load`: an embedded data set name, an OSM or GraphML file, a
    place...), builds the drive network, estimates residents per node (from the ``population`` grid or
    polygons when given, else from OSM buildings, else uniformly), finds destinations
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
    population : str, pathlib.Path or geopandas.GeoDataFrame, optional
        Population grid or polygons (as :func:`urbankit.population_per_node` ``grid``); without it
        residents are estimated from OSM buildings, else spread uniformly.
    population_column : str, optional
        Column of ``population`` holding residents (detected when omitted).
    evaporation, mode_shift : float, default 0.0
        Shares of the affected trips (time increased) that no longer happen or move to walking,
        cycling or transit (:func:`assign`).
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
        Processes for the Dijkstra searches of the assignment (default 1; -1: all available cores;
        :func:`assign`).
    find_kwargs : dict, optional
        More options of :func:`find_superblocks`.
    population_total : float, optional
        Known number of residents the estimate is scaled to (``total`` of
        :func:`urbankit.population_per_node`).
    effects_kwargs : dict, optional
        Options of :func:`effects` (``model``, ``fleet_mix``, ``deprivation``, ...); the extract's
        way tags (``width``, ``lanes``) are passed as ``way_tags``.

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
    from ..destinations import find_destinations
    from ..network import build_network
    from ..osm import load
    from ..population import population_per_node

    _shares(evaporation, mode_shift)
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
    extract = load(source)
    network = build_network(extract, "drive")
    buildings = getattr(extract, "buildings", None)
    pop = population_per_node(
        network.nodes,
        grid=population,
        column=population_column,
        buildings=buildings if population is None and buildings is not None and len(buildings) else None,
        node_population=extract.meta.get("node_population") if population is None else None,
        context=extract,
        total=population_total,
    )
    try:
        dest = find_destinations(extract)
    except Exception as exc:  # noqa: BLE001 - a GraphML file holds no features
        logger.info("no destinations (%s): residents attract trips", exc)
        dest = None
    if dest is not None and len(dest) == 0:
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
    )
    if metrics:
        t0 = time.perf_counter()
        m = distance_metrics(network, superblocks)
        scenario.timings["metrics_s"] = time.perf_counter() - t0
        for k, v in m.items():
            scenario.summary_table[k] = [v]
    scenario.summary_table["population_source"] = [getattr(pop, "source", "user")]
    scenario.summary_table["source"] = [str(getattr(extract, "source", source))]
    scenario.network = network
    scenario.population = pop
    # absolute, so to_gpkg refuses to overwrite them whatever the working folder is then
    scenario.input_files = {
        what: str(Path(v).expanduser().resolve()) if Path(v).expanduser().exists() else v
        for what, v in (("source", source), ("population", population), ("polygons", polygons_path))
        if isinstance(v, (str, os.PathLike))
    }
    return scenario
