"""The transit report in words: its summary sentence, provenance box and tables for people.

Used by ``notebooks/transit.ipynb`` on two :class:`urbankit.accessibility.Accessibility` results of the
same area, one by public transport and walking (``x_minute_city(mode="transit")``) and one on foot
alone, with the jobs the residents reach (a table by threshold). The formatting is
:mod:`urbankit.reporting.text`'s.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path

import pandas as pd

from .._errors import InvalidOptionError
from ..viz.labels import lower_label
from .text import (
    NONE_IN_AREA,
    PeopleTable,
    ReportHeader,
    _residents_of,
    area_name,
    format_count,
    format_share,
    format_table,
    function_labels,
    middle_threshold,
    provenance_table,
    round_residents,
    service_labels,
)

logger = logging.getLogger(__name__)

__all__ = [
    "JOB_COLUMNS",
    "transit_header",
    "transit_jobs_table",
    "transit_provenance",
    "transit_sentence",
    "transit_service_table",
]

#: the columns of the jobs table (index: minutes): resident-weighted mean share of all jobs reached
JOB_COLUMNS = ("transit_walk_share_of_jobs", "walk_share_of_jobs")

#: the limits of the transit model every transit report states
TRANSIT_CAVEATS = (
    "Public transport follows the scheduled timetables: no delays, crowding, fares or missed connections.",
    "Walks to, from and between stops take the street network at a constant walking speed.",
)


def _check_transit(by_transit) -> None:
    if by_transit.params.get("mode") != "transit" or not by_transit.params.get("transit"):
        raise InvalidOptionError(
            "by_transit must be a transit result (urbankit.x_minute_city(..., mode='transit')); "
            f"its mode is {by_transit.params.get('mode')!r}."
        )


def _check_pair(by_transit, on_foot, minutes) -> float:
    _check_transit(by_transit)
    m = middle_threshold(by_transit.minutes) if minutes is None else minutes
    for what, acc in (("by_transit", by_transit), ("on_foot", on_foot)):
        if m not in acc.minutes:
            raise InvalidOptionError(
                f"minutes={m!r} is not one of the thresholds of {what} {list(acc.minutes)}; choose one of them."
            )
    return m


def _check_jobs(jobs: pd.DataFrame | None, m: float) -> None:
    if jobs is None:
        return
    absent = [c for c in JOB_COLUMNS if c not in jobs.columns]
    if absent or m not in jobs.index:
        raise InvalidOptionError(
            f"jobs must have the columns {list(JOB_COLUMNS)} and a row per threshold including {m:g}; "
            f"it has columns {list(jobs.columns)} and rows {list(jobs.index)}."
        )


def _largest_gain(by_transit, on_foot, m: float, labels: dict) -> str | None:
    """The mapped service whose share of residents within ``m`` minutes grows most by transit."""
    column = f"within_{m:g}min"
    t, w = by_transit.summary()[column], on_foot.summary()[column]
    mapped = [s for s in by_transit.services if s not in set(by_transit.missing_services)]
    gains = [(float(t[s]) - float(w[s]), s) for s in mapped if math.isfinite(float(t[s]) + float(w[s]))]
    if not gains:
        return None
    gain, s = max(gains)
    if gain <= 0:
        return f"no service is reached by more residents within {m:g} minutes than on foot"
    return (
        f"the largest gain is for {lower_label(labels[s])}: {format_share(t[s])} of residents within {m:g} minutes, "
        f"against {format_share(w[s])} on foot"
    )


def transit_sentence(
    by_transit,
    on_foot,
    *,
    minutes: float | None = None,
    jobs: pd.DataFrame | None = None,
    jobs_total: float | None = None,
    name: str | None = None,
    taxonomy=None,
) -> str:
    """The headline of the transit report, generated from the results.

    E.g. "By public transport and on foot, 71 % of São Paulo's 518,000 residents reach every everyday
    function within 30 minutes, against 40 % on foot alone; ...". When a function has no destination
    mapped (the share reaching every function cannot be computed), the headline is the jobs reached
    (``jobs``) and the sentence says which functions are missing. The tail names the mapped service
    whose share of residents within ``minutes`` grows most by public transport.

    Parameters
    ----------
    by_transit : Accessibility
        ``urbankit.x_minute_city(..., mode="transit")``.
    on_foot : Accessibility
        The same area on foot.
    minutes : float, optional
        A threshold of both results (default the middle one, 30 of 15, 30, 45, 60).
    jobs : pandas.DataFrame, optional
        Index: thresholds; columns :data:`JOB_COLUMNS` (resident-weighted mean share of all jobs reached
        by transit + walking and on foot).
    jobs_total : float, optional
        All jobs of the area, for the sentence (rounded to three significant figures there).
    name : str, optional
        The area's name (default from the source file).
    taxonomy : Taxonomy, str or dict, optional
        Labels from this taxonomy (default the one the destinations were found with).

    Returns
    -------
    str
        One or two sentences.

    Raises
    ------
    InvalidOptionError
        ``by_transit`` is not a transit result, ``minutes`` is not a threshold of both results, or
        ``jobs`` lacks its columns or the threshold's row.
    """
    m = _check_pair(by_transit, on_foot, minutes)
    _check_jobs(jobs, m)
    name = area_name(by_transit) if name is None else name
    who = _residents_of(by_transit, name)
    job_words = None
    if jobs is not None:
        total = round_residents(jobs_total) if jobs_total else 0  # three significant figures, as the residents
        of_jobs = f"the area's {total:,} jobs" if total > 0 else "the area's jobs"
        t_share, w_share = jobs.loc[m, JOB_COLUMNS[0]], jobs.loc[m, JOB_COLUMNS[1]]
        job_words = (f"{format_share(t_share)} of {of_jobs}", f"{format_share(w_share)}")
    sentences = []
    if not by_transit.missing_functions:
        head = (
            f"By public transport and on foot, {format_share(by_transit.residents_within(m))} of {who} reach every "
            f"everyday function within {m:g} minutes, against {format_share(on_foot.residents_within(m))} on foot alone"
        )
        if job_words:
            head += f", and on average {job_words[0]} (on foot: {job_words[1]})"
    elif job_words:
        head = (
            f"By public transport and on foot, {who} reach on average {job_words[0]} within {m:g} minutes, "
            f"against {job_words[1]} on foot alone"
        )
    else:
        head = f"By public transport and on foot, {who} were routed within {m:g} minutes"
    gain = _largest_gain(by_transit, on_foot, m, service_labels(by_transit, taxonomy=taxonomy))
    sentences.append(f"{head}; {gain}." if gain else f"{head}.")
    if by_transit.missing_functions:
        funcs = function_labels(by_transit, taxonomy=taxonomy)
        lacking = [lower_label(funcs[f]) for f in by_transit.missing_functions]
        listed = lacking[0] if len(lacking) == 1 else ", ".join(lacking[:-1]) + " and " + lacking[-1]
        sentences.append(
            f"No destination of {listed} is mapped in the area, so the share reaching every everyday function "
            "cannot be given."
        )
    return " ".join(sentences)


def _date_words(value) -> str:
    d = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return d.isoformat()


def transit_provenance(
    by_transit,
    *,
    timetable=None,
    jobs_total: float | None = None,
    jobs_source: str | Path | None = None,
    hex_resolution: int | None = None,
) -> pd.DataFrame:
    """The provenance box of the transit report.

    Parameters
    ----------
    by_transit : Accessibility
        ``urbankit.x_minute_city(..., mode="transit")``.
    timetable : urbankit.transit.Timetable, optional
        The timetables read for the service date (:func:`urbankit.transit.read_gtfs`): each feed's
        validity (first and last service date) and time zone. Without it, only the feed names.
    jobs_total : float, optional
        All jobs of the area.
    jobs_source : str or pathlib.Path, optional
        Where the jobs come from (file name shown).
    hex_resolution : int, optional
        H3 resolution of the report's map.

    Returns
    -------
    pandas.DataFrame
        Columns ``item`` and ``value`` (text): the accessibility report's rows (data source, OSM data
        date, residents, population source, urbankit version...) with the timetables, service date,
        departure window, percentile and trip limits, the jobs, and the transit model's caveats.

    Raises
    ------
    InvalidOptionError
        ``by_transit`` is not a transit result.
    """
    _check_transit(by_transit)
    params = by_transit.params["transit"]
    base = provenance_table(by_transit, hex_resolution=hex_resolution)
    departure = dt.datetime.fromisoformat(str(params["departure"]))
    window = int(params["window_min"])
    end = departure + dt.timedelta(minutes=window)
    if timetable is not None:
        feeds = "; ".join(
            f"{Path(str(row.path)).name} (service {_date_words(row.service_start)} to {_date_words(row.service_end)}, "
            f"{row.timezone})"
            for row in timetable.feeds.itertuples()
        )
    else:
        feeds = ", ".join(params.get("gtfs") or []) or "unknown"
    rows = [
        ("Timetables", f"GTFS: {feeds}"),
        ("Service date", departure.strftime("%A %d %B %Y").replace(" 0", " ")),
        (
            "Departure window",
            f"{departure:%H:%M} to {end:%H:%M} ({window} minutes); each trip takes the travel time at the "
            f"{int(params['percentile'])}th percentile of the window's departures",
        ),
        (
            "Trips",
            f"at most {int(params['max_rides'])} vehicles; walks to, from and between stops of at most "
            f"{float(params['max_walk_min']):g} minutes at {float(params['walk_speed_kmh']):g} km/h; "
            "walking the whole way is always an option",
        ),
    ]
    if jobs_total is not None:
        where = f", from {Path(str(jobs_source)).name}" if jobs_source is not None else ""
        rows.append(("Jobs", f"{format_count(jobs_total)} jobs{where}"))
    items = list(base.itertuples(index=False, name=None))
    at = next((i for i, (item, _) in enumerate(items) if item == "Travel"), len(items))
    travel = (
        "Travel",
        "by public transport and on foot, compared with on foot alone, within "
        + ", ".join(f"{m:g}" for m in by_transit.minutes)
        + " minutes",
    )
    items = items[:at] + [travel] + rows + items[at + 1 :]
    items += [("Caveat", c) for c in TRANSIT_CAVEATS]
    return pd.DataFrame(items, columns=["item", "value"])


def transit_header(
    by_transit,
    on_foot,
    *,
    timetable=None,
    jobs: pd.DataFrame | None = None,
    jobs_total: float | None = None,
    jobs_source: str | Path | None = None,
    minutes: float | None = None,
    name: str | None = None,
    hex_resolution: int | None = None,
) -> ReportHeader:
    """The opening of the transit report: :func:`transit_sentence` and :func:`transit_provenance`.

    Parameters
    ----------
    by_transit, on_foot : Accessibility
        The area by public transport + walking and on foot.
    timetable : urbankit.transit.Timetable, optional
        The timetables read for the service date.
    jobs : pandas.DataFrame, optional
        The jobs reached by threshold (:data:`JOB_COLUMNS`).
    jobs_total : float, optional
        All jobs of the area.
    jobs_source : str or pathlib.Path, optional
        Where the jobs come from.
    minutes : float, optional
        Threshold of the summary (default the middle one).
    name : str, optional
        The area's name.
    hex_resolution : int, optional
        H3 resolution shown in the provenance box.

    Returns
    -------
    ReportHeader
        Displays as HTML in a notebook.

    Raises
    ------
    InvalidOptionError
        As :func:`transit_sentence`.
    """
    summary = transit_sentence(by_transit, on_foot, minutes=minutes, jobs=jobs, jobs_total=jobs_total, name=name)
    provenance = transit_provenance(
        by_transit, timetable=timetable, jobs_total=jobs_total, jobs_source=jobs_source, hex_resolution=hex_resolution
    )
    return ReportHeader(summary, provenance)


def transit_service_table(by_transit, on_foot, *, taxonomy=None) -> PeopleTable:
    """Share of residents within each threshold of each mapped service, by transit and on foot.

    Parameters
    ----------
    by_transit, on_foot : Accessibility
        The area by public transport + walking and on foot (the same thresholds).
    taxonomy : Taxonomy, str or dict, optional
        Labels from this taxonomy.

    Returns
    -------
    PeopleTable
        One row per service with at least one destination (by its label, raw name on hover); for each
        threshold a column by transit + walking and one on foot, in %. Services with none in the area
        are named in the caption.

    Raises
    ------
    InvalidOptionError
        The two results have different thresholds.
    """
    if list(by_transit.minutes) != list(on_foot.minutes):
        raise InvalidOptionError(
            f"by_transit and on_foot must have the same thresholds; they have {list(by_transit.minutes)} "
            f"and {list(on_foot.minutes)}."
        )
    labels = service_labels(by_transit, taxonomy=taxonomy)
    missing = set(by_transit.missing_services)
    mapped = [s for s in by_transit.services if s not in missing]
    t, w = by_transit.summary(), on_foot.summary()
    frame = pd.DataFrame(index=pd.Index(mapped, name="service"))
    kinds, col_labels = {}, {}
    for m in by_transit.minutes:
        for how, acc_summary, words in (("transit", t, "by transit"), ("walk", w, "on foot")):
            column = f"within_{m:g}min_{how}"
            frame[column] = acc_summary.loc[mapped, f"within_{m:g}min"].to_numpy(float)
            kinds[column] = "share"
            col_labels[column] = f"{m:g} min {words}"
    caption = "Share of residents within each threshold of the nearest service, by public transport and on foot."
    if missing:
        caption += " Left out, with no destination in the area: " + ", ".join(
            labels[s] for s in by_transit.services if s in missing
        ) + "."
    return format_table(
        frame,
        kinds=kinds,
        labels={**labels, **col_labels, "service": "Service"},
        missing={c: NONE_IN_AREA for c in kinds},
        caption=caption,
    )


def transit_jobs_table(jobs: pd.DataFrame) -> PeopleTable:
    """The jobs reached within each threshold, by transit and on foot, in % of all jobs.

    Parameters
    ----------
    jobs : pandas.DataFrame
        Index: thresholds (minutes); columns :data:`JOB_COLUMNS`.

    Returns
    -------
    PeopleTable
        One row per threshold ("within 30 min").

    Raises
    ------
    InvalidOptionError
        A column of :data:`JOB_COLUMNS` is missing.
    """
    absent = [c for c in JOB_COLUMNS if c not in jobs.columns]
    if absent:
        raise InvalidOptionError(f"jobs lacks the columns {absent}; it has {list(jobs.columns)}.")
    frame = jobs[list(JOB_COLUMNS)].copy()
    frame.index = pd.Index([f"within {m:g} min" for m in jobs.index], name="minutes")
    return format_table(
        frame,
        kinds={JOB_COLUMNS[0]: "share", JOB_COLUMNS[1]: "share"},
        labels={JOB_COLUMNS[0]: "by transit + walking", JOB_COLUMNS[1]: "on foot", "minutes": "Jobs reached"},
        caption="Mean share of all the area's jobs a resident reaches (weighted by residents).",
    )
