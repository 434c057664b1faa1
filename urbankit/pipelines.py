"""The one path from a source to an analysis-ready area (:func:`prepare_area`: load -> networks ->
destinations -> residents), and the area overview built on it (the analysis behind the overview report)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from ._deprecation import renamed_kwargs
from .network import MODES, StreetNetwork, build_network
from .osm import OSMExtract, area_name, load

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- prepared area


@dataclass(repr=False)
class PreparedArea:
    """An area ready for analysis: the extract, one network per mode, destinations and residents.

    Built by :func:`prepare_area`; the constructor's parameters are the dataclass fields.

    Parameters
    ----------
    extract : OSMExtract
        The area as read by :func:`urbankit.load`.
    networks : dict of str to StreetNetwork
        One network per mode, in the order asked for.
    destinations : geopandas.GeoDataFrame
        :func:`urbankit.find_destinations` of the extract (empty for a file without features, such as
        a GraphML graph).
    population : PopulationEstimate
        Residents per node of the first mode's network.
    taxonomy : Taxonomy
        The taxonomy the destinations were classified with.
    """

    extract: OSMExtract
    networks: dict[str, StreetNetwork]
    destinations: gpd.GeoDataFrame
    population: object
    taxonomy: object

    @property
    def network(self) -> StreetNetwork:
        """The first mode's network (the one ``population`` is per node of)."""
        return self.networks[next(iter(self.networks))]

    def __repr__(self) -> str:
        return (
            f"PreparedArea({area_name(self.extract)!r}, modes={list(self.networks)}, "
            f"destinations={len(self.destinations):,}, residents={float(self.population.total):,.0f})"
        )


def prepare_area(
    source,
    *,
    modes: tuple[str, ...] | list[str] = ("walk",),
    population_source=None,
    population_column: str | None = None,
    population_total: float | None = None,
    taxonomy=None,
    speed_kmh: float | None = None,
    on_network: Callable[[str, StreetNetwork], object] | None = None,
) -> PreparedArea:
    """Load ``source`` and prepare it for analysis: the one load -> network -> destinations ->
    residents path of :func:`urbankit.x_minute_city`, :func:`area_overview` and
    :func:`urbankit.superblocks_scenario`.

    Parameters
    ----------
    source
        Anything :func:`urbankit.load` accepts (embedded data set name, OSM/GraphML file, place...).
    modes : sequence of {"walk", "bike", "drive"}, default ("walk",)
        Networks to build; residents are estimated per node of the first.
    population_source : str, pathlib.Path or geopandas.GeoDataFrame, optional
        Population grid, polygons, raster or H3 table (``grid`` of :func:`urbankit.population_per_node`);
        default OSM buildings (or a GraphML file's node populations), else uniform.
    population_column : str, optional
        Column of ``population_source`` holding residents (detected when omitted).
    population_total : float, optional
        Known number of residents the estimate is scaled to.
    taxonomy : str, pathlib.Path, dict or Taxonomy, optional
        Destination taxonomy (the packaged one by default).
    speed_kmh : float, optional
        Travel speed of every network instead of the modes' defaults.
    on_network : callable, optional
        Called as ``on_network(mode, network)`` as soon as each network is built, before the
        destinations and residents (the CLI starts writing the network's ``edges`` layer there,
        in a second process: :func:`urbankit.io.start_edges_layer`).

    Returns
    -------
    PreparedArea

    Raises
    ------
    InvalidOptionError
        ``modes`` is empty or names an unknown mode.
    """
    from ._errors import InvalidOptionError
    from .destinations import find_destinations, load_taxonomy
    from .population import population_per_node

    modes = list(modes)
    if not modes:
        raise InvalidOptionError("modes=[] names no network; give at least one of 'walk', 'bike', 'drive'.")
    extract = load(source)
    tax = load_taxonomy(taxonomy) if not hasattr(taxonomy, "services") else taxonomy
    networks = {}
    for mode in dict.fromkeys(modes):
        networks[mode] = build_network(extract, mode, speed_kmh=speed_kmh)
        if on_network is not None:
            on_network(mode, networks[mode])
    destinations = find_destinations(extract, taxonomy=tax)
    first = networks[modes[0]]
    given = population_source is not None
    buildings = getattr(extract, "buildings", None)
    population = population_per_node(
        first.nodes,
        grid=population_source,
        column=population_column,
        buildings=buildings if not given and buildings is not None and len(buildings) else None,
        node_population=None if given else extract.meta.get("node_population"),
        context=extract,
        total=population_total,
    )
    return PreparedArea(extract=extract, networks=networks, destinations=destinations, population=population,
                        taxonomy=tax)



# --------------------------------------------------------------------------- area overview


@dataclass(repr=False)
class AreaOverview:
    """What an area holds: networks per mode, destinations by service, residents.

    Build it with :func:`area_overview`; show :meth:`table`, :meth:`services` and :meth:`map`. The
    constructor's parameters are the dataclass fields, kept as attributes of the same names.

    Parameters
    ----------
    extract : OSMExtract
        The area as read by :func:`urbankit.load`.
    networks : dict of str to StreetNetwork
        One network per mode, in the order the modes were asked for.
    destinations : geopandas.GeoDataFrame
        The destinations of the area (:func:`urbankit.destinations`).
    population : PopulationEstimate
        Residents per node of the first mode's network.
    taxonomy : Taxonomy, optional
        The taxonomy the destinations were classified with (lists services with no destination too).
    meta : dict, optional
        Free-form notes; empty by default.
    """

    extract: OSMExtract
    networks: dict[str, StreetNetwork]
    destinations: gpd.GeoDataFrame
    population: object
    taxonomy: object = None
    meta: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"AreaOverview({area_name(self.extract)!r}, modes={list(self.networks)}, "
            f"destinations={len(self.destinations):,})"
        )

    def table(self) -> pd.DataFrame:
        """One row per mode: nodes, edges, street km, share dropped outside the largest component.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``mode``; columns ``nodes``, ``edges``, ``street_km`` (1 decimal), ``speed``
            (how speeds were set) and ``dropped_node_share`` (3 decimals).
        """
        rows = []
        for mode, net in self.networks.items():
            rows.append(
                {
                    "mode": mode,
                    "nodes": len(net.nodes),
                    "edges": len(net.edges),
                    "street_km": round(net.edges.length_m.sum() / 1000, 1),
                    "speed": net.meta.get("speed_desc", ""),
                    "dropped_node_share": round(net.meta.get("dropped_node_share", 0.0), 3),
                }
            )
        return pd.DataFrame(rows).set_index("mode")

    def services(self) -> pd.DataFrame:
        """Destinations per function and service (every taxonomy service listed, zeros included).

        Returns
        -------
        pandas.DataFrame
            The table of :func:`urbankit.destinations_summary` for this area's destinations.
        """
        from .destinations import destinations_summary

        return destinations_summary(self.destinations, taxonomy=self.taxonomy)

    def residents(self) -> pd.DataFrame:
        """Residents: total, source and how many nodes carry them.

        Returns
        -------
        pandas.DataFrame
            One row: ``source``, ``residents`` (rounded total), ``populated_nodes`` (nodes with
            residents) and ``nodes``.
        """
        pop = self.population
        return pd.DataFrame(
            {
                "source": [pop.source],
                "residents": [round(pop.total)],
                "populated_nodes": [int((pop.per_node > 0).sum())],
                "nodes": [len(pop.per_node)],
            }
        )

    def map(self, *, tiles: str | None = "OpenStreetMap"):
        """Folium map: networks by mode, destinations by function, residents per node.

        Parameters
        ----------
        tiles : str or None, default "OpenStreetMap"
            Base map (any folium tiles name); ``None`` draws no tiles (offline reports).

        Returns
        -------
        folium.Map
            The map, one layer per network, function and the residents.
        """
        from .viz.maps import overview_map

        return overview_map(self.networks, self.destinations, self.population, tiles=tiles)

    def _repr_html_(self) -> str:
        return self.table()._repr_html_() + self.residents().to_html(index=False)

    def save(self, folder: str | Path = ".") -> Path:
        """Write ``overview.gpkg`` (edges and nodes per mode, destinations, a ``metadata`` table of
        provenance: source and OSM data date, residents and their source) and ``summary.csv``.

        The GeoPackage is written to a temporary name and renamed, so a failure leaves no
        half-written file.

        Parameters
        ----------
        folder : str or pathlib.Path, default "."
            Where to write; created when missing. Existing files of the same names are replaced.

        Returns
        -------
        pathlib.Path
            The path of ``overview.gpkg``.
        """
        from .io import atomic_path, metadata_table, provenance, write_metadata

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / "overview.gpkg"
        source = getattr(self.extract, "source", None)
        metadata = metadata_table(
            provenance(
                source,
                {
                    "modes": list(self.networks),
                    "population_source": self.population.source,
                    "population_total": float(self.population.total),
                    "population_description": self.population.description,
                    "destinations": len(self.destinations),
                },
            )
        )
        # a unique temporary beside the target (concurrent savers never collide), renamed when complete
        with atomic_path(out, suffix=".gpkg") as tmp:
            for mode, net in self.networks.items():
                nodes = net.nodes.to_crs("EPSG:4326")
                if mode == next(iter(self.networks)):
                    nodes = nodes.assign(population=self.population.per_node.reindex(nodes.index).to_numpy())
                nodes.reset_index().to_file(tmp, layer=f"nodes_{mode}", driver="GPKG")
                net.edges.to_crs("EPSG:4326").to_file(tmp, layer=f"edges_{mode}", driver="GPKG")
            if len(self.destinations):
                self.destinations.to_file(tmp, layer="destinations", driver="GPKG")
            write_metadata(metadata, tmp)
        table = self.table().reset_index()
        table["residents"] = round(self.population.total)
        table["population_source"] = self.population.source
        table["destinations"] = len(self.destinations)
        table.to_csv(folder / "summary.csv", index=False)
        return out


@renamed_kwargs(population="population_source")
def area_overview(
    source,
    *,
    modes: tuple[str, ...] | list[str] = MODES,
    population_source: str | Path | gpd.GeoDataFrame | None = None,
    population_column: str | None = None,
    taxonomy=None,
) -> AreaOverview:
    """Load an area and prepare its overview (:func:`prepare_area`).

    Parameters
    ----------
    source
        Anything :func:`urbankit.load` accepts (embedded data set name, OSM/GraphML file, place...).
    modes : sequence of {"walk", "bike", "drive"}
        Networks to build.
    population_source : path or GeoDataFrame, optional
        Population grid or polygons; without it residents are estimated from buildings, else
        spread uniformly (the result says which). (Formerly ``population=``, which still works with
        a DeprecationWarning.)
    population_column : str, optional
        Column of ``population_source`` holding residents (detected when omitted).
    taxonomy : path, dict or Taxonomy, optional
        Destination taxonomy (the packaged one by default).

    Returns
    -------
    AreaOverview
        The extract, one network per mode, the destinations and the residents per node of the
        first mode's network.
    """
    area = prepare_area(
        source, modes=modes, population_source=population_source, population_column=population_column,
        taxonomy=taxonomy,
    )
    return AreaOverview(extract=area.extract, networks=area.networks, destinations=area.destinations,
                        population=area.population, taxonomy=area.taxonomy)
