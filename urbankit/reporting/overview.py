"""The overview report in words: its summary sentence, provenance box and tables for people.

Used by ``notebooks/overview.ipynb`` on an :class:`urbankit.pipelines.AreaOverview`; the formatting
is :mod:`urbankit.reporting.text`'s.
"""

from __future__ import annotations

import logging

import pandas as pd

from .._errors import InvalidOptionError
from .text import (
    MODE_WORDS,
    NONE_IN_AREA,
    PeopleTable,
    ReportHeader,
    format_count,
    format_table,
    name_from_source,
    round_residents,
)

logger = logging.getLogger(__name__)

__all__ = ["overview_header", "overview_provenance", "overview_sentence", "overview_table"]

#: what each mode's network is, in words
_NETWORK_WORDS = {"walk": "walkable", "bike": "cyclable", "drive": "drivable"}


def _labels(area) -> tuple[dict, dict]:
    from ..destinations import load_taxonomy

    tax = area.taxonomy if area.taxonomy is not None else load_taxonomy(None)
    services = {n: s.label for n, s in dict(tax.services).items()}
    return services, dict(tax.functions)


def overview_sentence(area, *, name: str | None = None) -> str:
    """What the area holds, in one or two sentences a council member can quote.

    E.g. "Monaco: 43,300 residents, 120.9 km of walkable streets and 776 everyday destinations of 6
    functions mapped in OpenStreetMap; no dentist is mapped."

    Parameters
    ----------
    area : AreaOverview
        From :func:`urbankit.area_overview`.
    name : str, optional
        The area's name (default from its source file).

    Returns
    -------
    str
        The sentence.
    """
    name = name_from_source(getattr(area.extract, "source", None)) if name is None else name
    services, functions = _labels(area)
    first, net = next(iter(area.networks.items()))
    km = net.edges["length_m"].sum() / 1000
    total = float(area.population.total)
    residents = f"{round_residents(total):,} residents" if total > 0 else "no residents known"
    counts = area.services()
    n_functions = counts.loc[counts["count"] > 0, "function"].nunique()
    head = (
        f"{name}: {residents}, {km:,.1f} km of {_NETWORK_WORDS.get(first, first)} streets and "
        f"{len(area.destinations):,} everyday destinations of {n_functions} functions mapped in OpenStreetMap"
    )
    none = [services.get(s, s) for s in counts.loc[counts["count"] == 0, "service"]]
    if none:
        listed = ", ".join(none[:4]) + (f" and {len(none) - 4} more" if len(none) > 4 else "")
        lower = listed[:1].lower() + listed[1:] if len(listed) > 1 and not listed[1].isupper() else listed
        return f"{head}; none mapped: {lower}."
    return f"{head}; every service of the taxonomy has at least one destination."


def overview_provenance(area) -> pd.DataFrame:
    """The provenance box of the overview report.

    Parameters
    ----------
    area : AreaOverview
        From :func:`urbankit.area_overview`.

    Returns
    -------
    pandas.DataFrame
        Columns ``item`` and ``value``: data source and OSM data date, residents and their source,
        modes, taxonomy, urbankit version, caveats.
    """
    from ..io import provenance

    meta = provenance(getattr(area.extract, "source", None), {})
    from pathlib import Path

    source = Path(meta["source"]).name if meta.get("source") else "unknown"
    rows = [
        ("Data source", f"OpenStreetMap (© OpenStreetMap contributors, ODbL): {source}"),
        ("OSM data date", meta.get("osm_data_date") or "unknown (the file records no timestamp)"),
        ("Residents", format_count(area.population.total, missing="none given")),
        ("Population source", getattr(area.population, "description", "") or str(area.population.source)),
        ("Networks", ", ".join(f"{m} ({MODE_WORDS.get(m, m)})" for m in area.networks)),
        ("Taxonomy", getattr(area.taxonomy, "name", None) or "the six social functions (default)"),
        ("urbankit version", str(meta.get("urbankit_version"))),
        ("Caveat", "Destinations are what OpenStreetMap maps: a service missing from the map counts as missing."),
        (
            "Caveat",
            "Networks keep the largest connected part; what each mode may use follows OSM access tags.",
        ),
    ]
    return pd.DataFrame(rows, columns=["item", "value"])


def overview_header(area, *, name: str | None = None) -> ReportHeader:
    """The opening of the overview report: :func:`overview_sentence` and :func:`overview_provenance`.

    Parameters
    ----------
    area : AreaOverview
        From :func:`urbankit.area_overview`.
    name : str, optional
        The area's name.

    Returns
    -------
    ReportHeader
        Displays as HTML in a notebook.
    """
    return ReportHeader(overview_sentence(area, name=name), overview_provenance(area))


def overview_table(area, which: str = "networks") -> PeopleTable:
    """A table of the overview report, formatted for people.

    Parameters
    ----------
    area : AreaOverview
        From :func:`urbankit.area_overview`.
    which : {"networks", "services", "residents"}, default "networks"
        :meth:`AreaOverview.table` (one row per mode), :meth:`AreaOverview.services` (destinations
        per service, labels from the taxonomy) or :meth:`AreaOverview.residents`.

    Returns
    -------
    PeopleTable
        Counts with thousands separators, km and % with units, "none in area" for zero counts.

    Raises
    ------
    InvalidOptionError
        An unknown ``which``.
    """
    if which == "networks":
        t = area.table()
        t.index = [f"{m} ({MODE_WORDS.get(m, m)})" for m in t.index]
        t.index.name = "mode"
        return format_table(
            t,
            kinds={
                "nodes": "count",
                "edges": "count",
                "street_km": "km",
                "speed": "text",
                "dropped_node_share": "share",
            },
            labels={
                "mode": "Network",
                "nodes": "street nodes",
                "edges": "street segments",
                "street_km": "length",
                "speed": "speed",
                "dropped_node_share": "left out (disconnected)",
            },
            caption="Street network per travel mode; disconnected parts are left out of the analysis.",
        )
    if which == "services":
        services, _ = _labels(area)
        s = area.services().copy()
        s.index = pd.Index([services.get(v, v) for v in s["service"]], name="service")
        table = format_table(
            s,
            kinds={"function_label": "text", "count": "count"},
            labels={"service": "Service", "function_label": "Function", "count": "destinations"},
            caption="Everyday destinations found in OpenStreetMap per service "
            "(hover for the service name in the data).",
        )
        table.names.update({services.get(v, v): v for v in s["service"]})
        table.frame.loc[(s["count"] == 0).to_numpy(), "destinations"] = NONE_IN_AREA
        return table
    if which == "residents":
        r = area.residents().copy()
        r.index = pd.Index(["residents"], name="")
        r["populated_share"] = r["populated_nodes"] / r["nodes"]
        return format_table(
            r,
            kinds={"residents": "count", "source": "text", "populated_nodes": "count", "populated_share": "share"},
            labels={
                "residents": "residents",
                "source": "source",
                "populated_nodes": "street nodes with residents",
                "populated_share": "of all street nodes",
            },
            caption=getattr(area.population, "description", ""),
        )
    raise InvalidOptionError(f"which={which!r} must be 'networks', 'services' or 'residents'.")
