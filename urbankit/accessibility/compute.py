"""Accessibility of a network to destinations: the computation behind :func:`urbankit.compute_accessibility`."""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from .._errors import InvalidOptionError
from .._validate import minutes_label, validate_minutes
from ..network.engines import aggregate_pandana, check_engine, reach_table_pandana
from ..network.street import StreetNetwork
from .inequality import _population_series
from .reach import DEFAULT_MINUTES, _check_node_table_memory, cached_reach_table, snap_destinations
from .result import Accessibility, _assemble


def compute_accessibility(
    network: StreetNetwork,
    destinations: gpd.GeoDataFrame,
    *,
    minutes=DEFAULT_MINUTES,
    population=None,
    k: int = 1,
    half_life_min: float = 10.0,
    services: list[str] | None = None,
    taxonomy=None,
    progress: bool | None = None,
    engine: str | None = None,
) -> Accessibility:
    """Minutes from every node to each service, counts within thresholds, scores and population.

    Parameters
    ----------
    network : StreetNetwork
        From :func:`urbankit.build_network`.
    destinations : GeoDataFrame
        From :func:`urbankit.destinations` (``service``, ``function``, point geometry with a CRS).
    minutes : sequence of float, default (10, 15, 30)
        Thresholds in minutes; the largest bounds every search.
    population : PopulationEstimate or pandas.Series, optional
        Residents per node; default none (population-weighted figures are then NaN).
    k : int, default 1
        Also give the minutes to the 2nd..k-th nearest destination of each service.
    half_life_min : float, default 10
        Decay of the gravity-weighted opportunities.
    services : list of str, optional
        Services to analyse (default: every service of the taxonomy, including those without any
        destination in the area: their minutes are NaN and they count as unreached in scores).
    taxonomy : Taxonomy, optional
        Default: the one stored with ``destinations``, else the packaged default.
    progress : bool, optional
        Show a progress bar (default ``settings.progress``; scipy engine only).
    engine : {"scipy", "pandana"}, optional
        What computes the minutes: scipy's Dijkstra or pandana's contraction hierarchy
        (:mod:`urbankit.engines`); both give the same figures. Default
        :data:`urbankit.engines.DEFAULT_ENGINE`, the faster one in ``make bench``.

    Returns
    -------
    Accessibility
    """
    from ..destinations import load_taxonomy

    mins = validate_minutes(minutes)
    engine = check_engine(engine)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidOptionError(f"k={k!r} must be a whole number >= 1 (nearest destinations to report per service).")
    if isinstance(half_life_min, bool) or not isinstance(half_life_min, (int, float)) or not half_life_min > 0:
        raise InvalidOptionError(f"half_life_min={half_life_min!r} must be a positive number of minutes.")
    for col in ("service", "function"):
        if col not in destinations.columns:
            raise InvalidOptionError(
                f"destinations lack the column {col!r}; build them with urbankit.find_destinations(extract)."
            )
    if taxonomy is None and destinations.attrs.get("taxonomy"):
        taxonomy = load_taxonomy(destinations.attrs["taxonomy"])
    tax = load_taxonomy(taxonomy) if not hasattr(taxonomy, "services") else taxonomy
    all_services = {s: tax.function_of(s) for s in tax.service_names()}
    # destinations of services outside the taxonomy keep their own function
    for s, f in destinations[["service", "function"]].drop_duplicates().itertuples(index=False):
        all_services.setdefault(s, f)
    if services is not None:
        unknown = [s for s in services if s not in all_services]
        if unknown:
            raise InvalidOptionError(f"services {unknown} are not in the taxonomy; choose from {sorted(all_services)}.")
        all_services = {s: all_services[s] for s in services}
    svc_list = list(all_services)
    dest = destinations[destinations["service"].isin(svc_list)]
    snapped = snap_destinations(network, dest).reset_index(drop=True)
    _check_node_table_memory(len(network.nodes), len(svc_list), k=k, n_minutes=len(mins))
    if engine == "pandana":
        reach = reach_table_pandana(network, snapped, max(mins), groups=snapped["service"].to_numpy())
    else:
        reach = cached_reach_table(network, snapped, max(mins), progress=progress)
    pop, pop_source = _population_series(population, network)
    acc = _assemble(
        network,
        snapped,
        reach,
        population=pop,
        population_source=pop_source,
        minutes=mins,
        functions=all_services,
        params={"k": k, "half_life_min": half_life_min, "engine": engine},
    )
    if engine == "pandana":
        _counts_from_pandana(acc, network, snapped, mins)
    acc.population_description = getattr(population, "description", "")
    return acc


def _counts_from_pandana(acc, network, snapped, minutes) -> None:
    """Set the ``n_<S>_<M>min`` counts from pandana's own core: ``set`` a 0/1 indicator of the
    service's destinations and ``aggregate`` it (flat sum) within each threshold.

    pandana's nearest-POI query already gave the minutes (the reach table); the counts come from its
    aggregation, the C++ core the design card names. Gravity (``exp(-ln 2 t / half-life)``) is
    summed from pandana's minutes: pandana's ``exp`` decay is ``exp(-d / radius)``, tied to the
    radius, so it cannot express a half-life of its own.
    """
    node_pos = network.nodes.index.get_indexer(snapped["node_id"].to_numpy())
    offset = snapped["snap_min"].to_numpy(float)
    service = snapped["service"].to_numpy()
    # threshold by threshold: pandana's range cache of one radius serves every service
    for m in minutes:
        for s in acc.services:
            indicator = (service == s).astype(float)
            col = f"n_{s}_{minutes_label(m)}min"
            if not indicator.any():
                counts = np.zeros(len(network.nodes))
            else:
                counts = aggregate_pandana(network, node_pos, offset, indicator, m, agg="sum", decay="flat")
            acc.nodes[col] = np.rint(counts).astype(acc.nodes[col].dtype)
