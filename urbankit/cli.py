"""The ``urbankit`` command line.

``urbankit report NOTEBOOK [-p NAME VALUE ...] [--out DIR]`` runs a report notebook;
``urbankit batch CONFIG.toml [--scheduler ADDRESS] [--out DIR] [--workers N]`` runs many reports
on dask.distributed; ``urbankit info SOURCE`` prints what an area holds;
``urbankit superblocks SOURCE [--method ...] [--evaporation E] --out OUT.gpkg`` runs a superblock
scenario; ``urbankit citizen-page SOURCE [--mode walk] --out page.html`` writes a page residents can
use. Errors print one line and exit with status 2; a batch with failed reports exits with status 1;
an interrupted run (Ctrl-C, SIGTERM) exits with status 130 and leaves the previous report in place.
"""

from __future__ import annotations

import argparse
import ast
import logging
import signal
import sys

from ._errors import UrbankitError

logger = logging.getLogger(__name__)



def _literal(text: str):
    """A parameter value: a Python literal when it parses as one (``15``, ``[10, 15]``), else the string.

    Only parsed here, never executed; :func:`urbankit.reports.run_report` then takes plain data only
    (a tuple becomes a list; a set, bytes or complex number is refused naming the parameter) and
    writes it into the notebook as a checked literal.
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _number(text: str | None, option: str, kind: type):
    """The value of a numeric option (checked further by the library), or an error naming the option."""
    from ._errors import InvalidOptionError

    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number of seconds"
        raise InvalidOptionError(f"{option} must be {what}, got {text!r}.") from None


def _evaporation(text: str):
    """``--evaporation``: ``elastic`` or a number (checked by the scenario)."""
    if text.strip().lower() == "elastic":
        return "elastic"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'elastic' nor a number between 0 and 1") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="urbankit", description="x-minute city and superblock analysis from OSM data")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("report", help="run a report notebook with papermill")
    r.add_argument("notebook", help="path, or name of a notebook in notebooks/ (e.g. overview)")
    r.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    r.add_argument("--out", default="reports", help="reports folder (default: reports)")
    r.add_argument("--run-id", default=None, help="run folder name (default: UTC timestamp)")
    r.add_argument("--show-code", action="store_true", help="keep code cells in the HTML")
    r.add_argument("--timeout", default=None, metavar="SECONDS", help="fail the run when a cell runs longer")
    r.add_argument(
        "--online-assets",
        action="store_true",
        help="keep the CDN links of the maps' JavaScript/CSS instead of embedding them (smaller HTML, needs network)",
    )

    b = sub.add_parser("batch", help="run many reports (areas x notebooks x parameter sets) on dask.distributed")
    b.add_argument("config", help="batch TOML file (see README, 'Scheduled batches')")
    b.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="existing dask scheduler (default: a LocalCluster)"
    )
    b.add_argument("--out", default=None, help="reports folder (default: the config's 'out', else reports)")
    b.add_argument("--workers", default=None, help="LocalCluster worker processes (default: config, else 2)")
    b.add_argument("--timeout", default=None, metavar="SECONDS", help="per-cell timeout of every report")
    b.add_argument("--force", action="store_true", help="recompute every report, unchanged ones too")
    b.add_argument("--retry-failed", action="store_true", help="run again failed reports whose inputs did not change")
    b.add_argument(
        "--dashboard", default=":8787", metavar="ADDRESS", help="LocalCluster dashboard address ('' for none)"
    )
    b.add_argument("--no-progress", action="store_true", help="no progress bar")

    a = sub.add_parser("accessibility", help="x-minute city: minutes from every node to every service")
    a.add_argument("source", help="embedded data set name, OSM/GraphML file or place name")
    a.add_argument(
        "--mode",
        choices=("walk", "bike", "drive", "transit"),
        default="walk",
        help="walk, bike, drive, or transit: public transport + walking (needs --gtfs and --departure)",
    )
    a.add_argument(
        "--minutes", nargs="+", type=float, default=None, help="thresholds (default 10 15 30; transit 15 30 45 60)"
    )
    a.add_argument("--gtfs", nargs="+", default=None, metavar="FEED", help="GTFS zip files or folders (mode transit)")
    a.add_argument("--departure", default=None, metavar="YYYY-MM-DDTHH:MM", help="first departure (mode transit)")
    a.add_argument("--window", type=int, default=60, metavar="MIN", help="departure minutes (mode transit; default 60)")
    a.add_argument(
        "--percentile", type=int, default=50, metavar="P", help="percentile over the window (mode transit; default 50)"
    )
    a.add_argument("--max-rides", type=int, default=8, metavar="N", help="most vehicles per trip (mode transit)")
    a.add_argument(
        "--population",
        default=None,
        help="population: polygons (GeoPackage, GeoJSON, GeoParquet, ...), a raster (.tif, .vrt, .img: WorldPop, "
        "GHSL) or an H3 table (.csv/.parquet with an H3 id column)",
    )
    a.add_argument("--population-column", default=None, help="resident column of --population")
    a.add_argument(
        "--population-total",
        type=float,
        default=None,
        metavar="RESIDENTS",
        help="known number of residents: calibrates the estimate (replaces an OSM boundary's population tag)",
    )
    a.add_argument("--taxonomy", default=None, help="taxonomy TOML file or preset (fifteen-minute, nine-categories)")
    a.add_argument(
        "--opportunities",
        default=None,
        metavar="FILE",
        help="weighted points, polygons, H3 table (CSV lon/lat or H3 ids) or raster of jobs, school places, ...: "
        "adds cumulative, gravity, 2SFCA and E2SFCA columns to the nodes layer",
    )
    a.add_argument(
        "--opportunity-columns",
        nargs="+",
        default=None,
        metavar="COLUMN",
        help="opportunity columns of --opportunities (default: every numeric column)",
    )
    a.add_argument("--hex-resolution", type=int, default=9, help="H3 resolution of the hex layer (default 9)")
    a.add_argument(
        "--crs",
        default="4326",
        help="CRS of the GeoPackage layers: an EPSG code (default 4326, longitude/latitude) or 'analysis' "
        "for the metric CRS the analysis ran in",
    )
    a.add_argument(
        "--engine",
        choices=("pandana", "scipy"),
        default=None,
        help="what computes the minutes: pandana's contraction hierarchy or scipy's Dijkstra (same figures; "
        "default: the faster in make bench, urbankit.engines.DEFAULT_ENGINE)",
    )
    a.add_argument("--out", required=True, help="output GeoPackage (layers nodes, edges, pois, hex)")

    c = sub.add_parser(
        "citizen-page", help="a page residents can use: click on the map, read the minutes to each service"
    )
    c.add_argument("source", help="embedded data set name, OSM/GraphML file or place name")
    c.add_argument("--mode", choices=("walk", "bike", "drive"), default="walk", help="walk (default), bike or drive")
    c.add_argument("--minutes", nargs="+", type=float, default=None, help="thresholds (default 10 15 30)")
    c.add_argument(
        "--population",
        default=None,
        help="population: polygons, a raster or an H3 table (as for 'urbankit accessibility')",
    )
    c.add_argument("--taxonomy", default=None, help="taxonomy TOML file or preset; its labels name the services")
    c.add_argument("--title", default=None, help="page title")
    c.add_argument("--no-tiles", action="store_true", help="no base map (the streets are drawn from the data)")
    c.add_argument("--out", required=True, help="output HTML page")

    s = sub.add_parser("superblocks", help="superblock scenario: candidate cells, car flows before/after, noise, CO2")
    s.add_argument("source", help="embedded data set name, OSM/GraphML file or place name")
    s.add_argument(
        "--method",
        nargs="+",
        default=["auto"],
        metavar="METHOD",
        help="auto (default), arterial, grid, residential, or 'polygons FILE' (your own cells)",
    )
    s.add_argument(
        "--evaporation",
        type=_evaporation,
        default=None,
        help="'elastic' (default: each affected car trip responds to its own detour with the elasticity of traffic "
        "to travel time -0.5 of Goodwin 1996) or a share of affected car trips that vanish (0..1, e.g. 0.11, the "
        "median of Cairns, Atkins & Goodwin 2002); the 0 %% case is reported beside it",
    )
    s.add_argument(
        "--demand",
        choices=("open", "closed"),
        default="open",
        help="open (default): the residents' trips and trips into, out of and through the area at its boundary "
        "crossings; closed: the residents' own trips only",
    )
    s.add_argument(
        "--assignment",
        choices=("aon", "equilibrium"),
        default=None,
        help="capacity-restrained user equilibrium (BPR, bi-conjugate Frank-Wolfe; the scenario's default), or "
        "all-or-nothing at free-flow times (faster)",
    )
    s.add_argument("--mode-shift", type=float, default=0.0, help="share of affected car trips that change mode (0..1)")
    s.add_argument("--internal-speed", type=float, default=10.0, help="km/h inside superblocks (default 10)")
    s.add_argument(
        "--population",
        default=None,
        help="population: polygons (GeoPackage, GeoJSON, GeoParquet, ...), a raster (.tif, .vrt, .img: WorldPop, "
        "GHSL) or an H3 table (.csv/.parquet with an H3 id column)",
    )
    s.add_argument(
        "--population-total",
        type=float,
        default=None,
        metavar="RESIDENTS",
        help="known number of residents: calibrates the estimate (replaces an OSM boundary's population tag)",
    )
    s.add_argument("--trips", type=float, default=None, help="total car trips per day (default 0.5 per resident)")
    s.add_argument("--out", required=True, help="output GeoPackage (layers superblocks, edges, summary)")

    from .transit import cli as transit_cli

    transit_cli.add_parser(sub)

    i = sub.add_parser("info", help="summarise an area: networks per mode, destinations, buildings")
    i.add_argument("source", help="embedded data set name, OSM/GraphML file or place name")
    return p


def _terminate(signum, frame):  # SIGTERM: unwind like Ctrl-C so the run records itself as interrupted
    raise KeyboardInterrupt(f"signal {signum}")


def _transit_options(args) -> dict:
    """The transit keywords of :func:`urbankit.x_minute_city` from ``accessibility``'s options, checked."""
    import datetime as dt

    from ._errors import InvalidOptionError

    given = [f for f, v in (("--gtfs", args.gtfs), ("--departure", args.departure)) if v]
    if args.mode != "transit":
        if given:
            raise InvalidOptionError(
                f"{' and '.join(given)} are for --mode transit only; drop them or use --mode transit."
            )
        return {}
    missing = [f for f, v in (("--gtfs FEED [FEED ...]", args.gtfs), ("--departure YYYY-MM-DDTHH:MM", args.departure))
               if not v]
    if missing:
        raise InvalidOptionError(f"--mode transit needs {' and '.join(missing)} (the timetables and the first "
                                 "departure minute of the window).")
    try:
        dt.datetime.strptime(args.departure, "%Y-%m-%dT%H:%M")
    except ValueError:
        raise InvalidOptionError(f"--departure {args.departure!r} must look like 2019-05-13T07:00") from None
    return {"gtfs": list(args.gtfs), "departure": args.departure, "window_min": args.window,
            "percentile": args.percentile, "max_rides": args.max_rides}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    previous = None
    if args.command in ("report", "batch"):
        try:
            previous = signal.signal(signal.SIGTERM, _terminate)
        except ValueError:  # not the main thread
            previous = None
    try:
        if args.command == "report":
            from ._errors import InvalidOptionError
            from .reporting.runner import run_report

            names = [name for name, _ in args.parameter]
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise InvalidOptionError(f"-p {', '.join(twice)} given more than once; give each parameter once.")
            params = {name: _literal(value) for name, value in args.parameter}
            out = run_report(
                args.notebook,
                parameters=params,
                out_dir=args.out,
                run_id=args.run_id,
                show_code=args.show_code,
                timeout=_number(args.timeout, "--timeout", float),
                offline=not args.online_assets,
            )
            html = next(out.glob("*.html"), out)
            print(f"report written to {out}\nopen {html}")
        elif args.command == "batch":
            from .reporting.batch import run_batch

            result = run_batch(
                args.config,
                scheduler=args.scheduler or None,
                out_dir=args.out,
                workers=_number(args.workers, "--workers", int),
                timeout=_number(args.timeout, "--timeout", float),
                force=args.force,
                retry_failed=args.retry_failed,
                dashboard=args.dashboard or None,
                progress=not args.no_progress,
            )
            print(result.summary())
            print(f"index: {result.index}")
            return 0 if result.ok else 1
        elif args.command == "travel-times":
            from .transit import cli as transit_cli

            return transit_cli.run(args)
        elif args.command == "accessibility":
            import numpy as np

            from .accessibility import x_minute_city
            from .io import refuse_overwriting_inputs, start_edges_layer, write_accessibility_gpkg

            transit = _transit_options(args)
            refuse_overwriting_inputs(
                args.out,
                {
                    "source": args.source,
                    "--population": args.population,
                    "--taxonomy": args.taxonomy,
                    "--opportunities": args.opportunities,
                    **{f"--gtfs {i + 1}": g for i, g in enumerate(args.gtfs or [])},
                },
                option="--out",
            )
            crs = None if str(args.crs).lower() == "analysis" else args.crs
            if crs is not None:
                from .io import check_crs

                check_crs(crs)  # before minutes of computing
            default_minutes = [15, 30, 45, 60] if args.mode == "transit" else [10, 15, 30]
            minutes = [int(m) if float(m).is_integer() else m for m in (args.minutes or default_minutes)]
            started = []
            # cache entries are written by forked processes while the analysis goes on (waited for below)
            from . import _datacache, settings

            background = settings.background_cache_writes
            settings.background_cache_writes = True

            def on_network(mode, network):
                # the edges layer only needs the network: a second process writes it while this one computes
                started.append(start_edges_layer(network, args.out, crs=crs))

            try:
                acc = x_minute_city(
                    args.source,
                    mode=args.mode,
                    minutes=minutes,
                    population_source=args.population,
                    population_column=args.population_column,
                    taxonomy=args.taxonomy,
                    engine=args.engine,
                    population_total=args.population_total,
                    opportunities=args.opportunities,
                    opportunity_columns=args.opportunity_columns,
                    on_network=on_network,
                    **transit,
                )
                write_accessibility_gpkg(
                    acc, args.out, hex_resolution=args.hex_resolution, crs=crs,
                    started=started[0] if started else None,
                )
            finally:
                for s in started:
                    if s is not None:
                        s.close()
                settings.background_cache_writes = background
                _datacache._wait_writers()
            total = acc.nodes["population"].sum()
            print(
                f"{args.mode}: {len(acc.nodes):,} nodes, {len(acc.pois):,} destinations, "
                f"{total:,.0f} residents ({acc.population_source})"
            )
            if acc.population_description:
                print(f"  {acc.population_description}")
            nf = len(acc.function_names)
            if acc.missing_services:
                print(f"  no destination in the area for services: {', '.join(acc.missing_services)}")
            for m in acc.minutes:
                share = acc.residents_within(m)
                text = f"{share:.1%}" if np.isfinite(share) else "not computable"
                if acc.missing_functions:
                    text += f" (no destination of {', '.join(acc.missing_functions)} in the area)"
                print(f"  residents within {m:g} min of all {nf} functions ({args.mode}): {text}")
            for row in acc.opportunity_summary().itertuples():
                if not np.isfinite(row.median):
                    print(f"  {row.column} within {row.minutes:g} min: not computable ({row.note})")
                    continue
                print(
                    f"  median resident reaches {row.median:,.0f} {row.column} within {row.minutes:g} min "
                    f"({args.mode}; of {row.total:,.0f}); {row.share_at_least:.1%} of residents reach at least "
                    f"{row.at_least:,.0f}; Gini "
                    + (f"{row.gini:.2f}" if np.isfinite(row.gini) else "n/a (nobody reaches any)")
                )
            for note in acc.opportunities_info.get("notes", []):
                print(f"  note: {note}")
            print(f"wrote {args.out}")
        elif args.command == "citizen-page":
            from ._errors import InvalidOptionError
            from .accessibility import x_minute_city
            from .io import refuse_overwriting_inputs, start_edges_layer, write_accessibility_gpkg

            if not str(args.out).lower().endswith((".html", ".htm")):
                raise InvalidOptionError(f"--out {args.out!r} must end in .html")
            refuse_overwriting_inputs(
                args.out,
                {"source": args.source, "--population": args.population, "--taxonomy": args.taxonomy},
                option="--out",
            )
            minutes = [int(m) if float(m).is_integer() else m for m in (args.minutes or [10, 15, 30])]
            acc = x_minute_city(
                args.source,
                mode=args.mode,
                minutes=minutes,
                population_source=args.population,
                taxonomy=args.taxonomy,
            )
            out = acc.citizen_page(args.out, title=args.title, tiles=None if args.no_tiles else "OpenStreetMap")
            print(f"{args.mode}: {len(acc.nodes):,} street points, {len(acc.pois):,} destinations")
            print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
        elif args.command == "superblocks":
            import numpy as np

            from ._errors import InvalidOptionError
            from .superblocks import METHODS, superblocks_scenario

            method, polygons = args.method[0], None
            if method == "polygons":
                if len(args.method) != 2:
                    raise InvalidOptionError(
                        "--method polygons needs one FILE of polygons: --method polygons cells.gpkg"
                    )
                polygons = args.method[1]
            elif len(args.method) != 1 or method not in METHODS:
                raise InvalidOptionError(
                    f"--method {' '.join(args.method)!r} must be one of {METHODS} ('polygons FILE')."
                )
            if not str(args.out).lower().endswith(".gpkg"):
                raise InvalidOptionError(f"--out {args.out!r} must end in .gpkg")
            from .io import refuse_overwriting_inputs

            refuse_overwriting_inputs(
                args.out,
                {"source": args.source, "--population": args.population, "--method polygons": polygons},
                option="--out",
            )
            sc = superblocks_scenario(
                args.source,
                method=method,
                polygons=polygons,
                population_source=args.population,
                **({} if args.evaporation is None else {"evaporation": args.evaporation}),
                demand=args.demand,
                **({} if args.assignment is None else {"assignment": args.assignment}),
                mode_shift=args.mode_shift,
                internal_speed_kmh=args.internal_speed,
                n_trips=args.trips,
                population_total=args.population_total,
            )
            sc.to_gpkg(args.out)
            s = sc.summary().iloc[0]
            sb = sc.superblocks
            print(
                f"{len(sb)} superblock cells ({sb['method'].iloc[0]}): median {sb['area_ha'].median():.1f} ha, "
                f"{s.residents_inside:,.0f} residents inside ({s.population_source})"
            )
            if getattr(sc.population, "description", ""):
                print(f"  {sc.population.description}")
            print(
                f"  car trips/day: {s.trips:,.0f}, affected {s.trips_affected:,.0f}, "
                f"median detour {s.median_detour:.2f}x"
            )
            without = s.get("vkm_after_no_evaporation", np.nan)
            print(
                f"  vehicle-km/day: {s.vkm_before:,.0f} -> {s.vkm_after:,.0f} (evaporation {s.evaporation:.0%}"
                + (
                    f" of affected trips, elasticity {s.time_elasticity:g}"
                    if s.get("evaporation_method") == "elastic"
                    else ""
                )
                + (f"; without it: {without:,.0f})" if np.isfinite(without) else ")")
            )
            if s.trips_unroutable_after > 0:
                print(
                    f"  trips without a route after the change: {s.trips_unroutable_after:,.0f} "
                    f"({s.trips_unroutable_share:.1%}; {s.vkm_unroutable_before:,.0f} vehicle-km/day before), "
                    "not counted as a reduction"
                )
            if "residents_louder_1db" in s.index:
                print(
                    f"  residents whose street gets >= 1 dB quieter: {s.residents_quieter_1db:,.0f}, "
                    f"louder: {s.residents_louder_1db:,.0f} (Lden, CNOSSOS-EU emission index)"
                )
            print(f"  CO2 kg/day: {s.co2_kg_day_before:,.0f} -> {s.co2_kg_day_after:,.0f}")
            print(
                f"  directness {s.directness_distance:.3f}, "
                f"global efficiency {s.global_efficiency_distance:.3f} (distance)"
            )
            print(f"wrote {args.out}")
        elif args.command == "info":
            from .network import MODES, build_network
            from .osm import load

            extract = load(args.source)
            print(extract)
            for mode in MODES:
                try:
                    print(f"  {build_network(extract, mode)}")
                except UrbankitError as exc:
                    print(f"  {mode}: {exc}")
    except UrbankitError as exc:
        print(f"urbankit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("urbankit: interrupted; finished reports and previous good reports are untouched", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
