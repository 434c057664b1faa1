"""The ``urbankit travel-times`` command: :func:`add_parser` registers it, :func:`run` executes it.

``urbankit travel-times SOURCE --mode transit|walk|bike|drive --gtfs FEED [FEED ...] --origins POINTS
--destinations POINTS --departure YYYY-MM-DDTHH:MM [--window MIN] [--percentiles P ...] [--max-rides N]
[--walk-speed KMH] [--max-minutes MIN] --out OUT.csv|OUT.parquet``

POINTS is a CSV with ``id``, ``lon``, ``lat`` columns or a GeoPackage/GeoJSON with an ``id`` column. OUT has
``from_id``, ``to_id`` and ``travel_time_p<P>`` for each percentile (see :func:`urbankit.transit.matrix.
travel_time_matrix`); it is written atomically (a failed run leaves any previous OUT untouched).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .._errors import InputFileError, InvalidOptionError, UrbankitError
from ..io import atomic_path

#: the modes of ``urbankit travel-times`` (those of :func:`urbankit.transit.matrix.travel_time_matrix`)
MODES = ("transit", "walk", "bike", "drive")

log = logging.getLogger(__name__)

_FORMATS = (".csv", ".parquet")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``travel-times`` on an ``argparse`` subparsers object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The ``travel-times`` parser (its ``func`` default is :func:`run`).
    """
    p = subparsers.add_parser("travel-times", help="origin-destination travel times by transit, walk, bike or car",
                              description=__doc__.split("\n\n")[1])
    p.add_argument("source", help="embedded data set name, OSM/GraphML file or place name (the streets)")
    p.add_argument("--mode", choices=MODES, default="transit")
    p.add_argument("--gtfs", nargs="+", metavar="FEED", help="GTFS zip files or folders (mode transit)")
    p.add_argument("--origins", required=True, metavar="POINTS", help="CSV id,lon,lat or GeoPackage/GeoJSON with id")
    p.add_argument("--destinations", required=True, metavar="POINTS")
    p.add_argument("--departure", metavar="YYYY-MM-DDTHH:MM", help="first departure (local time of the feed)")
    p.add_argument("--window", type=int, default=60, metavar="MIN", help="departure minutes (default 60)")
    p.add_argument("--percentiles", type=int, nargs="+", default=[50], metavar="P")
    p.add_argument("--max-rides", type=int, default=8, metavar="N")
    p.add_argument("--walk-speed", type=float, default=None, metavar="KMH")
    p.add_argument("--max-minutes", type=float, default=120, metavar="MIN")
    p.add_argument("--out", required=True, metavar="OUT.csv|OUT.parquet")
    p.set_defaults(func=run)
    return p


def read_points(path, *, what: str) -> gpd.GeoDataFrame:
    """Points with an ``id`` column from a CSV (``id``, ``lon``, ``lat``) or any vector file geopandas reads.

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        Its role, named in error messages (``"--origins"``).

    Returns
    -------
    geopandas.GeoDataFrame

    Raises
    ------
    InputFileError
        Missing or unreadable file, or missing columns.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{what} {path} does not exist; give a CSV with id,lon,lat or a GeoPackage/GeoJSON")
    try:
        if path.suffix.lower() in (".csv", ".txt"):
            df = pd.read_csv(path)
            missing = [c for c in ("id", "lon", "lat") if c not in df.columns]
            if missing:
                raise InputFileError(f"{what} {path} lacks the column(s) {', '.join(missing)}; it needs id, lon, lat")
            if df[["lon", "lat"]].isna().any().any():
                raise InputFileError(f"{what} {path} has rows without lon/lat; remove or fill them")
            return gpd.GeoDataFrame(df[["id"]], geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326")
        gdf = gpd.read_file(path)
    except UrbankitError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
        raise InputFileError(f"{what} {path} could not be read ({exc}); give a CSV with id,lon,lat or a "
                             f"GeoPackage/GeoJSON with an id column") from exc
    if "id" not in gdf.columns:
        raise InputFileError(f"{what} {path} has no 'id' column; add one naming each point")
    if len(gdf) and not (gdf.geometry.geom_type == "Point").all():
        gdf = gdf.set_geometry(gdf.geometry.representative_point())
    return gdf[["id", "geometry"]]


def run(args: argparse.Namespace) -> int:
    """Execute ``travel-times``: 0 on success, 2 with a message on stderr for an urbankit error.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by the parser of :func:`add_parser`.

    Returns
    -------
    int
        The exit code.
    """
    try:
        _run(args)
    except UrbankitError as exc:
        log.debug("travel-times failed", exc_info=True)
        sys.stderr.write(f"urbankit: error: {exc}\n")
        return 2
    return 0


def _run(args) -> None:
    from ..network import build_network
    from ..osm import load

    out = Path(args.out)
    if out.suffix.lower() not in _FORMATS:
        raise InvalidOptionError(f"--out {out} must end in .csv or .parquet")
    departure = None
    if args.mode == "transit":
        if not args.gtfs:
            raise InvalidOptionError("--mode transit needs --gtfs FEED [FEED ...]")
        if not args.departure:
            raise InvalidOptionError("--mode transit needs --departure YYYY-MM-DDTHH:MM")
    if args.departure:
        try:
            departure = dt.datetime.strptime(args.departure, "%Y-%m-%dT%H:%M")
        except ValueError:
            raise InvalidOptionError(f"--departure {args.departure!r} must look like 2019-05-13T07:00") from None
    origins = read_points(args.origins, what="--origins")
    destinations = read_points(args.destinations, what="--destinations")
    network = build_network(load(args.source, buildings=False), "walk" if args.mode == "transit" else args.mode)
    timetables = None
    if args.mode == "transit":
        from .gtfs import read_gtfs

        timetables = read_gtfs([Path(f) for f in args.gtfs], departure.date())
    from .matrix import travel_time_matrix

    table = travel_time_matrix(network, timetables=timetables, origins=origins, destinations=destinations,
                               departure=departure, mode=args.mode, window_min=args.window,
                               percentiles=tuple(args.percentiles), max_rides=args.max_rides,
                               walk_speed_kmh=args.walk_speed, max_minutes=args.max_minutes)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)
    log.info("wrote %s (%d rows)", out, len(table))
