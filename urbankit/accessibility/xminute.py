"""The x-minute city in one call: load, network, destinations, population and accessibility."""

from __future__ import annotations

import os
from pathlib import Path

from .._deprecation import renamed_kwargs
from .._errors import InvalidOptionError
from .._validate import validate_minutes
from ..network.engines import check_engine
from .completeness import data_completeness
from .compute import compute_accessibility
from .reach import DEFAULT_MINUTES
from .result import Accessibility, Deferred


@renamed_kwargs(population="population_source")
def x_minute_city(
    source,
    *,
    mode: str = "walk",
    minutes=DEFAULT_MINUTES,
    population_source=None,
    population_column: str | None = None,
    taxonomy=None,
    services: list[str] | None = None,
    speed_kmh: float | None = None,
    k: int = 1,
    engine: str | None = None,
    population_total: float | None = None,
    opportunities=None,
    opportunity_columns: list[str] | None = None,
    gtfs=None,
    departure=None,
    window_min: int = 60,
    percentile: int = 50,
    max_rides: int = 8,
    on_network=None,
) -> Accessibility:
    """The whole x-minute-city analysis of an area in one call (what the report and CLI run).

    Loads ``source`` (see :func:`urbankit.load`), builds the ``mode`` network, finds destinations
    with ``taxonomy``, estimates residents per node (from the ``population_source`` grid or polygons when
    given, else from OSM buildings, else uniformly; the result's ``population_source`` says which)
    and computes :func:`accessibility` with ``engine`` (``"scipy"`` or ``"pandana"``, see
    :mod:`urbankit.engines`; default the faster one). ``population_total`` (residents) calibrates
    the estimate to a known total (it replaces a boundary's ``population`` tag); the result's
    ``population_description`` says in one sentence where the residents come from.

    With ``opportunities`` (weighted points, polygons, hexagons or a raster: a GeoDataFrame or file,
    see :func:`urbankit.opportunities.opportunities`) the nodes also carry, per opportunity column
    (``opportunity_columns``, default every numeric one), the cumulative opportunities within each
    threshold, the gravity-weighted opportunities and the 2SFCA/E2SFCA ratios with these residents as
    demand; :meth:`Accessibility.opportunity_summary` gives the population-weighted figures.

    With ``mode="transit"`` the network is the walk network and every node's minutes are the fastest of walking
    and public transport + walking (the ``percentile`` of the travel times over the ``window_min`` departure
    minutes from ``departure``, routed exactly on the ``gtfs`` timetables with at most ``max_rides`` vehicles):
    see :func:`urbankit.transit.access.compute_transit_accessibility`. The result has the walking columns, and
    transit is never slower than walking; opportunities are counted within reach by transit or on foot
    (:func:`urbankit.transit.access.transit_opportunities`).

    Parameters
    ----------
    source
        Anything :func:`urbankit.load` accepts (embedded data set name, OSM/GraphML file, place...).
    mode : {"walk", "bike", "drive", "transit"}, default "walk"
        The network's mode; ``"transit"``: public transport + walking (needs ``gtfs`` and ``departure``).
    minutes : sequence of float, default (10, 15, 30)
        Thresholds in minutes; the largest bounds every search.
    population_source : str, pathlib.Path or geopandas.GeoDataFrame, optional
        Population grid, polygons, raster or H3 table (``grid`` of
        :func:`urbankit.population_per_node`); default OSM buildings, else uniform. (Formerly
        ``population=``, which still works with a DeprecationWarning.)
    population_column : str, optional
        Column of ``population_source`` holding residents (detected when omitted).
    taxonomy : str, pathlib.Path, dict or Taxonomy, optional
        Destination taxonomy (:func:`urbankit.load_taxonomy`; the packaged one by default).
    services : list of str, optional
        Services to analyse (default every service of the taxonomy).
    speed_kmh : float, optional
        Travel speed in km/h instead of the mode's default (``settings``).
    k : int, default 1
        Also give the minutes to the 2nd..k-th nearest destination of each service.
    engine : {"scipy", "pandana"}, optional
        What computes the minutes (see :func:`accessibility`).
    population_total : float, optional
        Known number of residents the estimate is scaled to.
    opportunities : str, pathlib.Path or geopandas.GeoDataFrame, optional
        Weighted opportunities (jobs, floor area, ...), as described above.
    opportunity_columns : list of str, optional
        Columns of ``opportunities`` to use (default every numeric one); needs ``opportunities``.
    gtfs : str, pathlib.Path, list of them or Timetable, optional
        GTFS feeds (``mode="transit"`` only), read together for the departure's date.
    departure : datetime.datetime or str, optional
        First departure minute, ``"2019-05-13T07:00"`` (``mode="transit"`` only; naive: the feeds' time zone).
    window_min : int, default 60
        Departure minutes in the window (``mode="transit"``).
    percentile : int, default 50
        Percentile of the travel times over the window (``mode="transit"``).
    max_rides : int, default 8
        Most vehicles per trip (``mode="transit"``).
    on_network : callable, optional
        Called as ``on_network(mode, network)`` once the network is built, before destinations,
        residents and minutes (see :func:`urbankit.pipelines.prepare_area`); the CLI starts writing
        the ``edges`` layer there.

    Returns
    -------
    Accessibility
        With ``completeness`` (:func:`data_completeness`), ``population_source``,
        ``population_description`` and ``input_files`` set.

    Raises
    ------
    InvalidOptionError
        ``mode="transit"`` without ``gtfs`` or ``departure``, or these with another mode.

    Examples
    --------
    >>> import urbankit as uk
    >>> uk.settings.progress = False
    >>> acc = uk.x_minute_city("monaco", minutes=[15])
    >>> 0 <= acc.residents_within(15) <= 1
    True
    """
    from ..pipelines import prepare_area

    mins = validate_minutes(minutes)
    engine = check_engine(engine)
    transit = mode == "transit"
    if transit and (gtfs is None or departure is None):
        raise InvalidOptionError(
            "mode='transit' needs the timetables and the departure: gtfs=[feed.zip, ...] and "
            "departure='YYYY-MM-DDTHH:MM' (first minute of the departure window)."
        )
    if not transit and (gtfs is not None or departure is not None):
        raise InvalidOptionError(
            f"gtfs= and departure= are for mode='transit' only; drop them for mode={mode!r} or use mode='transit'."
        )
    area = prepare_area(
        source, modes=["walk" if transit else mode], population_source=population_source,
        population_column=population_column, population_total=population_total, taxonomy=taxonomy,
        speed_kmh=speed_kmh, on_network=on_network,
    )
    extract, network, dest, pop, tax = area.extract, area.network, area.destinations, area.population, area.taxonomy
    opp = None
    if opportunities is not None:  # before the minutes: a bad opportunities input fails fast
        if transit:
            from ..transit.access import transit_opportunities

            opp = transit_opportunities(
                network,
                opportunities,
                gtfs=gtfs,
                departure=departure,
                minutes=mins,
                window_min=window_min,
                percentile=percentile,
                max_rides=max_rides,
                population=pop,
                columns=opportunity_columns,
                engine=engine,
            )
        else:
            from .opportunities import compute_opportunities as opportunities_per_node

            opp = opportunities_per_node(
                network, opportunities, minutes=mins, population=pop, columns=opportunity_columns, engine=engine
            )
    elif opportunity_columns is not None:
        raise InvalidOptionError("opportunity_columns needs opportunities=... (the file or GeoDataFrame they are in).")
    if transit:
        from ..transit.access import compute_transit_accessibility

        acc = compute_transit_accessibility(
            network,
            dest,
            gtfs=gtfs,
            departure=departure,
            window_min=window_min,
            percentile=percentile,
            minutes=mins,
            population=pop,
            max_rides=max_rides,
            taxonomy=tax,
            services=services,
            k=k,
            engine=engine,
        )
    else:
        acc = compute_accessibility(
            network, dest, minutes=mins, population=pop, taxonomy=tax, services=services, k=k, engine=engine
        )
    if opp is not None:
        acc.nodes = acc.nodes.join(opp.drop(columns=opp.geometry.name))
        acc.opportunities_info = dict(opp.attrs)
    acc.completeness = Deferred(data_completeness, network, dest, extract.buildings if len(extract.buildings) else None)
    # absolute now, so a later change of the working folder does not hide them from the writers
    acc.input_files = {
        what: str(Path(v).expanduser().resolve()) if Path(v).expanduser().exists() else v
        for what, v in (
            ("source", source),
            ("population", population_source),
            ("taxonomy", taxonomy),
            ("opportunities", opportunities),
        )
        if isinstance(v, (str, os.PathLike))
    }
    if transit:
        feeds = [gtfs] if isinstance(gtfs, (str, os.PathLike)) else gtfs if isinstance(gtfs, (list, tuple)) else []
        for i, g in enumerate(f for f in feeds if isinstance(f, (str, os.PathLike))):
            acc.input_files[f"gtfs_{i + 1}"] = str(Path(g).expanduser().resolve())
    return acc
