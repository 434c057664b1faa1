"""The accessibility result: per-node figures with their provenance, summaries, maps and files."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import CRSError, InvalidOptionError
from .._validate import minutes_label as _label
from .._validate import within
from ..network.street import StreetNetwork
from .inequality import gini, palma, weighted_quantile
from .metrics import node_metrics
from .reach import reach_table, snap_destinations
from .whatif import WhatIf

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- result


class Deferred:
    """A value computed on first use: assign ``Deferred(function, *args)`` to a lazy field of
    :class:`Accessibility` (``completeness``) and the function runs when the field is first read."""

    def __init__(self, function, *args, **kwargs) -> None:
        self.function, self.args, self.kwargs = function, args, kwargs

    def __repr__(self) -> str:
        return f"Deferred({getattr(self.function, '__name__', self.function)!r})"


class _LazyField:
    """A dataclass field whose value may be a :class:`Deferred`, resolved (once) on first read."""

    def __set_name__(self, owner, name) -> None:
        self.slot = "_lazy_" + name

    def __get__(self, obj, objtype=None):
        if obj is None:  # the dataclass default
            return None
        value = obj.__dict__.get(self.slot)
        if isinstance(value, Deferred):
            value = value.function(*value.args, **value.kwargs)
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj, value) -> None:
        obj.__dict__[self.slot] = value


@dataclass(repr=False)
class Accessibility:
    """Result of :func:`accessibility`: per-node minutes, counts and scores, with population.

    Built by :func:`accessibility` and :func:`x_minute_city`; the constructor's parameters are the
    dataclass fields, kept as attributes of the same names.

    Parameters
    ----------
    network : StreetNetwork
        The network the minutes were computed on.
    nodes : geopandas.GeoDataFrame
        Index ``node_id``; ``population`` and, per service ``S`` and threshold ``M``:
        ``time_S_min``, ``n_S_<M>min``, ``gravity_S``; per threshold ``score_<M>min`` and
        ``functions_<M>min``. Geometry in the network's CRS.
    pois : geopandas.GeoDataFrame
        The snapped destinations: ``service``, ``function``, ``node_id``, ``snap_m``, ``snap_min``.
    minutes : tuple
        Thresholds.
    services : list of str
        Services of the taxonomy, in order.
    functions : dict
        Service -> function.
    reach : pandas.DataFrame
        The exact reach table every figure derives from.
    params : dict, optional
        The options of the analysis (engine, half-life, ...).
    population_source : str, default "none"
        Where the residents come from (``PopulationEstimate.source``, ``"user"`` or ``"none"``).
    population_description : str, default ""
        The same in one sentence (``PopulationEstimate.description``).
    completeness : geopandas.GeoDataFrame, optional
        :func:`data_completeness` of the area (set by :func:`x_minute_city`, which defers it: it is
        computed when first read).
    input_files : dict, optional
        Input files the result was computed from (what -> path); the writers refuse to overwrite them.
    opportunities_info : dict, optional
        ``attrs`` of :func:`urbankit.opportunities.opportunities` when opportunities were given
        (columns, totals, E2SFCA zones, notes); their per-node columns are in ``nodes``.
    """

    network: StreetNetwork
    nodes: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    minutes: tuple
    services: list[str]
    functions: dict[str, str]
    reach: pd.DataFrame
    params: dict = field(default_factory=dict)
    population_source: str = "none"
    #: where the residents come from, in one sentence (PopulationEstimate.description)
    population_description: str = ""
    #: computed when first read when x_minute_city set it (a command-line run that never shows it
    #: never pays for it)
    completeness: gpd.GeoDataFrame | None = _LazyField()  # type: ignore[assignment]
    #: input files the result was computed from (what -> path); writers refuse to overwrite them
    input_files: dict = field(default_factory=dict)
    #: ``attrs`` of :func:`urbankit.opportunities.opportunities` when opportunities were given (columns,
    #: totals, E2SFCA zones, notes); their per-node columns are in :attr:`nodes`
    opportunities_info: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        pop = f", {self.population_description}" if self.population_description else ""
        return (
            f"Accessibility(mode={self.network.mode!r}, nodes={len(self.nodes):,}, pois={len(self.pois):,}, "
            f"services={len(self.services)}, minutes={list(self.minutes)}{pop})"
        )

    @property
    def function_names(self) -> list[str]:
        """The functions of the analysed services, sorted by name."""
        return sorted(set(self.functions.values()))

    @property
    def missing_services(self) -> list[str]:
        """Services of the analysis without any destination in the area (their minutes are NaN)."""
        present = set(self.pois["service"]) if len(self.pois) else set()
        return [s for s in self.services if s not in present]

    @property
    def missing_functions(self) -> list[str]:
        """Functions none of whose services has a destination in the area: nobody can reach every
        function, and the share of residents who do is not computable (NaN, not 0 %)."""
        missing = set(self.missing_services)
        return [f for f in self.function_names if all(s in missing for s, g in self.functions.items() if g == f)]

    def _not_computable(self) -> str:
        """Why the all-functions share is not computable ('' when it is)."""
        funcs = self.missing_functions
        if not funcs:
            return ""
        return f"not computable: no destination of {', '.join(funcs)} in the area"

    def _populated(self) -> tuple[pd.DataFrame, np.ndarray]:
        pop = self.nodes["population"].to_numpy(float)
        mask = pop > 0
        return self.nodes[mask], pop[mask]

    def summary(self) -> pd.DataFrame:
        """Share of residents reaching each service, and all functions, within each threshold.

        Counted over populated nodes only. Rows: services, then ``all functions``; columns: one per
        threshold, plus the population-weighted median minutes, and ``note``.

        A service without any destination in the area has NaN shares (not 0 %) and the note
        ``"no destination in the area"``; when a whole function has none, the ``all functions``
        shares are NaN too (nobody can reach every function: not computable), noted as such.
        ``attrs["missing_services"]`` and ``attrs["missing_functions"]`` list them.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``service``: ``function``, ``within_<M>min`` (shares 0..1) per threshold,
            ``median_min`` and ``note``.
        """
        nodes, w = self._populated()
        W = w.sum()
        missing = set(self.missing_services)
        rows = {}
        for s in self.services:
            t = nodes[f"time_{s}_min"].to_numpy()
            absent = s in missing
            row = {
                f"within_{_label(m)}min": float((w * within(t, m)).sum() / W) if W and not absent else np.nan
                for m in self.minutes
            }
            # median over all residents; those beyond the largest threshold count as farther
            med = weighted_quantile(np.nan_to_num(t, nan=np.inf), w, 0.5)[0] if W else np.nan
            row["median_min"] = float(med) if np.isfinite(med) else np.nan
            row["function"] = self.functions[s]
            row["note"] = "no destination in the area" if absent else ""
            rows[s] = row
        all_row = {f"within_{_label(m)}min": self.residents_within(m) for m in self.minutes}
        all_row.update(median_min=np.nan, function="all", note=self._not_computable())
        rows["all functions"] = all_row
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "service"
        out.attrs["missing_services"] = self.missing_services
        out.attrs["missing_functions"] = self.missing_functions
        return out[["function"] + [c for c in out.columns if c not in ("function", "note")] + ["note"]]

    def opportunity_summary(self, *, at_least=None) -> pd.DataFrame:
        """Population-weighted opportunities reached, per opportunity column and threshold.

        "The median resident reaches N jobs within 30 minutes", the share of residents reaching at
        least ``at_least`` (default 10 % of the column's total), the Gini of opportunities reached over
        residents and the median 2SFCA ratio: see :func:`urbankit.opportunities.opportunity_summary`.
        Empty when the analysis had no ``opportunities=``.

        Parameters
        ----------
        at_least : float or dict of str to float, optional
            Opportunities a resident must reach to count (per column when a dict); default 10 % of
            each column's total.

        Returns
        -------
        pandas.DataFrame
            One row per opportunity column and threshold.
        """
        from .opportunities import opportunity_summary

        info = self.opportunities_info
        return opportunity_summary(
            self.nodes, info.get("columns", []), self.minutes, totals=info.get("opportunities"), at_least=at_least
        )

    def residents_within(self, minutes: float) -> float:
        """Share of residents (populated nodes) reaching all functions within ``minutes`` (a threshold).

        NaN when no resident is counted, or when some function has no destination at all in the
        area (see :attr:`missing_functions`): the share is then not computable, rather than 0 %.

        Parameters
        ----------
        minutes : float
            One of the thresholds of the analysis (:attr:`minutes`).

        Returns
        -------
        float
            The population-weighted share, 0..1 (or NaN as above).

        Raises
        ------
        InvalidOptionError
            ``minutes`` is not a threshold of the analysis.
        """
        if minutes not in self.minutes:
            raise InvalidOptionError(f"minutes={minutes!r} is not one of the thresholds {list(self.minutes)}.")
        if self.missing_functions:
            return float("nan")
        nodes, w = self._populated()
        ok = nodes[f"functions_{_label(minutes)}min"].to_numpy() == len(self.function_names)
        return float((w * ok).sum() / w.sum()) if w.sum() else float("nan")

    def inequality(self) -> pd.DataFrame:
        """Inequality of the minutes to each service over the residents.

        Per service: Gini and Palma ratio of minutes over residents (those within the largest
        threshold), the minutes of the worst-off decile of all residents (NaN when that decile is
        beyond the largest threshold), and the share of residents beyond the largest threshold.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``service``: ``gini``, ``palma``, ``worst_decile_min``, ``beyond_max_share``.
        """
        nodes, w = self._populated()
        rows = {}
        for s in self.services:
            t = nodes[f"time_{s}_min"].to_numpy()
            fin = np.isfinite(t)
            if w.sum() == 0:
                rows[s] = dict(gini=np.nan, palma=np.nan, worst_decile_min=np.nan, beyond_max_share=np.nan)
                continue
            beyond = float(w[~fin].sum() / w.sum())
            # the worst-off decile over all residents: NaN when it lies beyond the largest threshold
            worst = weighted_quantile(np.nan_to_num(t, nan=np.inf), w, 0.9)[0]
            if fin.sum() == 0 or w[fin].sum() == 0:
                rows[s] = dict(gini=np.nan, palma=np.nan, worst_decile_min=np.nan, beyond_max_share=beyond)
                continue
            rows[s] = dict(
                gini=gini(t[fin], w[fin]),
                palma=palma(t[fin], w[fin]),
                worst_decile_min=float(worst) if np.isfinite(worst) else np.nan,
                beyond_max_share=beyond,
            )
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "service"
        return out

    def minutes_distribution(self, service: str | None = None, *, step: float = 1.0) -> pd.DataFrame:
        """Cumulative share of residents reaching a service within t minutes, t = 0, step, ... largest threshold.

        Parameters
        ----------
        service : str, optional
            A service of the analysis; default every function (the slowest function's nearest service,
            :meth:`all_functions_minutes`).
        step : float, default 1.0
            Minutes between two rows.

        Returns
        -------
        pandas.DataFrame
            Columns ``minutes`` and ``share_of_residents`` (0..1; NaN without residents).
        """
        nodes, w = self._populated()
        if service is None:
            t = self.all_functions_minutes().reindex(nodes.index).to_numpy()
        else:
            t = nodes[f"time_{service}_min"].to_numpy()
        grid = np.arange(0, max(self.minutes) + step / 2, step)
        share = [(w * within(np.nan_to_num(t, nan=np.inf), g)).sum() / w.sum() if w.sum() else np.nan for g in grid]
        return pd.DataFrame({"minutes": grid, "share_of_residents": share})

    def all_functions_minutes(self) -> pd.Series:
        """Per node: minutes until every function is reached (the slowest function's nearest service).

        Returns
        -------
        pandas.Series
            Named ``all_functions_min``, indexed like :attr:`nodes`; NaN where some function is beyond
            the largest threshold.
        """
        per_f = []
        for f in self.function_names:
            cols = [f"time_{s}_min" for s in self.services if self.functions[s] == f]
            per_f.append(self.nodes[cols].min(axis=1, skipna=True).to_numpy())
        if not per_f:
            return pd.Series(np.nan, index=self.nodes.index)
        stacked = np.column_stack(per_f)
        worst = np.where(np.isnan(stacked).any(axis=1), np.nan, np.nanmax(np.nan_to_num(stacked, nan=-1), axis=1))
        return pd.Series(worst, index=self.nodes.index, name="all_functions_min")

    def within_own_threshold(self, service_minutes: dict[str, float]) -> pd.DataFrame:
        """Per-service thresholds (e.g. grocery 10, hospital 30 minutes): per node, whether each
        service is within its own threshold, and the share of those services reached.

        Thresholds must not exceed the largest threshold of the analysis (nothing beyond it was
        computed).

        Parameters
        ----------
        service_minutes : dict of str to float
            Service -> its own threshold in minutes (positive, at most the largest threshold).

        Returns
        -------
        pandas.DataFrame
            Indexed like :attr:`nodes`: ``ok_<S>`` (bool) per service and ``share_ok``.

        Raises
        ------
        InvalidOptionError
            An unknown service, or a threshold that is not a positive number or exceeds the largest one.
        """
        problems = []
        for s, m in service_minutes.items():
            if s not in self.services:
                problems.append(f"unknown service {s!r}")
            elif isinstance(m, bool) or not isinstance(m, (int, float)) or not m > 0:
                problems.append(f"{s}: {m!r} is not a positive number of minutes")
            elif m > max(self.minutes):
                problems.append(f"{s}: {m} min exceeds the largest threshold {max(self.minutes)} of this analysis")
        if problems:
            raise InvalidOptionError(
                "service_minutes: "
                + "; ".join(problems)
                + f". Services: {self.services}; rerun with larger minutes if needed."
            )
        out = pd.DataFrame(index=self.nodes.index)
        for s, m in service_minutes.items():
            out[f"ok_{s}"] = within(self.nodes[f"time_{s}_min"].to_numpy(), m)
        out["share_ok"] = out.mean(axis=1) if len(service_minutes) else np.nan
        return out

    def what_if(self, *, add: gpd.GeoDataFrame | None = None, remove=None, close_edges=None) -> WhatIf:
        """Before/after of adding or removing destinations, or closing streets.

        Only what changes is recomputed: searches of added destinations; for closed streets, the
        searches of the destinations whose search reached a closed edge (any other search cannot
        have used it, so its result is unchanged).

        Parameters
        ----------
        add : GeoDataFrame, optional
            New destinations (``service`` of this analysis, ``function``, one point per row with a
            CRS; a polygon's ``.representative_point()`` is a point).
        remove : array-like of int or boolean mask, optional
            Positions (rows ``0..len(pois) - 1`` of :attr:`pois`) of destinations to remove.
        close_edges : array-like of int or boolean mask, optional
            Positions (rows ``0..len(network.edges) - 1``) of ``network.edges`` to close (for
            walk/bike both directions of the street).

        Returns
        -------
        WhatIf
            The analysis before (this one) and after the change.

        Raises
        ------
        InvalidOptionError
            A position out of range (negative positions are not counted from the end), not a
            whole number, a mask of the wrong length, or added destinations without a usable
            point, with an unknown service or another function than this analysis gives it. All
            arguments are checked before anything is computed.
        """
        net = self.network
        pois, reach = self.pois, self.reach
        max_m = max(self.minutes)
        keep = np.ones(len(pois), bool)
        if remove is not None:
            keep &= ~_row_mask(remove, len(pois), "remove", "rows of acc.pois")
        closed = None
        if close_edges is not None:
            closed = _row_mask(close_edges, len(net.edges), "close_edges", "rows of network.edges")
        if add is not None:
            add = self._check_additions(add)
        if closed is not None and closed.any():
            new_edges = net.edges[~closed].reset_index(drop=True)
            new_net = StreetNetwork(
                mode=net.mode,
                nodes=net.nodes,
                edges=new_edges,
                crs=net.crs,
                directed=net.directed,
                meta={**net.meta, "key": net.meta.get("key", "") + f"-closed{int(closed.sum())}"},
            )
            # a search (against the edge direction) uses edge u->v only if it reached v
            # (either end for undirected networks)
            e = net.edges[closed]
            ends = e["v"].to_numpy() if net.directed else np.r_[e["u"].to_numpy(), e["v"].to_numpy()]
            touched_nodes = net.nodes.index.get_indexer(ends)
            affected = np.unique(reach["dest"].to_numpy()[np.isin(reach["node"].to_numpy(), touched_nodes)])
            redo = reach_table(new_net, pois.iloc[affected], max_m)
            redo["dest"] = affected[redo["dest"].to_numpy()]
            reach = pd.concat([reach[~np.isin(reach["dest"].to_numpy(), affected)], redo], ignore_index=True)
            net = new_net
            logger.info(
                "closing %d edges: recomputed %d of %d destination searches", closed.sum(), len(affected), len(pois)
            )
        if add is not None and len(add):
            new = snap_destinations(net, add).reset_index(drop=True)
            extra = reach_table(net, new, max_m)
            extra["dest"] += len(pois)
            pois = pd.concat([pois, new], ignore_index=True)
            reach = pd.concat([reach, extra], ignore_index=True)
            keep = np.r_[keep, np.ones(len(new), bool)]
        if not keep.all():
            # renumber the kept destinations
            new_pos = np.cumsum(keep) - 1
            reach = reach[keep[reach["dest"].to_numpy()]].copy()
            reach["dest"] = new_pos[reach["dest"].to_numpy()]
            pois = pois[keep].reset_index(drop=True)
        after = _assemble(
            net,
            gpd.GeoDataFrame(pois, geometry="geometry", crs=self.pois.crs),
            reach.reset_index(drop=True),
            population=self.nodes["population"].to_numpy(),
            population_source=self.population_source,
            minutes=self.minutes,
            functions=self.functions,
            params=self.params,
        )
        after.input_files = dict(self.input_files)
        after.population_description = self.population_description
        return WhatIf(before=self, after=after)

    def _check_additions(self, add) -> gpd.GeoDataFrame:
        """``add`` of :meth:`what_if` checked: a GeoDataFrame of points with a CRS, services of this
        analysis with their functions; geometry column named ``geometry``."""
        if not isinstance(add, gpd.GeoDataFrame):
            raise InvalidOptionError(
                f"add must be a GeoDataFrame of destinations (service, function, point geometry), not "
                f"{type(add).__name__}; e.g. geopandas.GeoDataFrame({{'service': [...], 'function': [...]}}, "
                "geometry=geopandas.points_from_xy(lon, lat), crs='EPSG:4326')."
            )
        if len(add) == 0:
            return add
        for col in ("service", "function"):
            if col not in add.columns:
                raise InvalidOptionError(
                    f"added destinations lack the column {col!r}; give service and function per row."
                )
        if add.crs is None:
            raise CRSError("added destinations have no CRS; set it with .set_crs('EPSG:4326') (lon/lat in degrees).")
        problems = []
        geom = add.geometry.values
        missing = geom.isna() | shapely.is_empty(geom)
        if missing.any():
            problems.append(f"row positions {_positions_text(missing)} have no geometry or an empty one")
        not_point = ~missing & (shapely.get_type_id(geom) != 0)
        if not_point.any():
            names = ", ".join(sorted({g.geom_type for g in geom[not_point]}))
            problems.append(
                f"row positions {_positions_text(not_point)} are {names}, not points: give one point per "
                "destination, e.g. add.geometry.representative_point()"
            )
        point = ~missing & ~not_point
        xy = shapely.get_coordinates(geom[point]) if point.any() else np.empty((0, 2))
        bad_xy = np.zeros(len(add), bool)
        bad_xy[np.flatnonzero(point)] = ~np.isfinite(xy).all(axis=1)
        if bad_xy.any():
            problems.append(f"row positions {_positions_text(bad_xy)} have NaN or infinite coordinates")
        service = add["service"]
        no_service = service.isna().to_numpy()
        if no_service.any():
            problems.append(f"row positions {_positions_text(no_service)} have no service")
        unknown = sorted({str(v) for v in service[~no_service] if v not in self.functions})
        if unknown:
            problems.append(f"services {unknown} are not in this analysis (services: {self.services})")
        wrong = sorted(
            {(s, f) for s, f in zip(service, add["function"]) if s in self.functions and f != self.functions[s]},
            key=str,
        )
        if wrong:
            problems.append(
                "; ".join(
                    f"service {s!r} has function {f!r}, which is {self.functions[s]!r} in this analysis"
                    for s, f in wrong
                )
            )
        if problems:
            raise InvalidOptionError("add: " + "; ".join(problems) + ". Fix these destinations and call what_if again.")
        if add.geometry.name != "geometry":
            add = add.drop(columns="geometry", errors="ignore").rename_geometry("geometry")
        return add

    def save(self, folder=".", *, hex_resolution: int | None = 9, crs=None):
        """Write ``accessibility.gpkg`` (see :meth:`to_gpkg`) and ``summary.csv`` into ``folder``.

        Parameters
        ----------
        folder : str or pathlib.Path, default "."
            Created when missing; refused when a file written there would overwrite an input file.
        hex_resolution : int or None, default 9
            H3 resolution of the ``hex`` layer; None writes no ``hex`` layer.
        crs : str, int or pyproj.CRS, optional
            CRS of the layers; default the analysis CRS (see :meth:`to_gpkg`).

        Returns
        -------
        pathlib.Path
            The GeoPackage path.
        """
        from pathlib import Path

        from ..io import input_files, refuse_overwriting_inputs

        folder = Path(folder)
        refuse_overwriting_inputs(folder / "summary.csv", input_files(self), option="folder")
        refuse_overwriting_inputs(folder / "accessibility.gpkg", input_files(self), option="folder")
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / "accessibility.gpkg"
        self.to_gpkg(out, hex_resolution=hex_resolution, crs=crs)
        self.summary().to_csv(folder / "summary.csv")
        return out

    def to_gpkg(self, path, *, hex_resolution: int | None = 9, crs=None):
        """Write layers ``nodes``, ``edges``, ``pois`` (and ``hex``) to a GeoPackage, atomically.

        With a ``metadata`` table (provenance and a column dictionary), a ``status_<S>`` column per
        service telling why minutes are NULL, and QGIS styles (see
        :func:`urbankit.io.write_accessibility_gpkg`).

        Parameters
        ----------
        path : str or pathlib.Path
            The GeoPackage to write (replaced when it exists, unless it is an input file).
        hex_resolution : int or None, default 9
            H3 resolution of the ``hex`` layer; None writes no ``hex`` layer.
        crs : str, int or pyproj.CRS, optional
            CRS of the layers; default the analysis CRS (the network's), ``"EPSG:4326"`` for
            longitude/latitude.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        from ..io import write_accessibility_gpkg

        return write_accessibility_gpkg(self, path, hex_resolution=hex_resolution, crs=crs)

    def hex(self, resolution: int = 9) -> gpd.GeoDataFrame:
        """Aggregate to H3 cells: population and population-weighted minutes per service.

        Parameters
        ----------
        resolution : int, default 9
            H3 resolution.

        Returns
        -------
        geopandas.GeoDataFrame
            One row per H3 cell holding nodes (see :func:`urbankit.zones.to_hex`), EPSG:4326.
        """
        from ..zones import to_hex

        return to_hex(self, resolution)

    def zones(self, zones: gpd.GeoDataFrame, *, name: str | None = None) -> gpd.GeoDataFrame:
        """Aggregate to user zones (polygons): population and population-weighted minutes per service.

        Parameters
        ----------
        zones : geopandas.GeoDataFrame
            Polygons with a CRS.
        name : str, optional
            Column of ``zones`` naming them (see :func:`urbankit.zones.to_zones`).

        Returns
        -------
        geopandas.GeoDataFrame
            One row per zone (see :func:`urbankit.zones.to_zones`).
        """
        from ..zones import to_zones

        return to_zones(self, zones, name=name)

    def explore(self, column: str | None = None, **kwargs):
        """Folium map of a node column (default: the score at the middle threshold, 15 of 10, 15, 30).

        Parameters
        ----------
        column : str, optional
            A column of :attr:`nodes`; default the score of the middle threshold.
        **kwargs
            Options of :func:`urbankit.viz.maps.accessibility_map`: ``tiles`` (None for no base map),
            ``hex_resolution`` (aggregate to H3 cells), ``show_pois``, ``radius``, ``service_layers``
            (selectable minutes to each service), ``cluster_pois``, ``show_completeness``.

        Returns
        -------
        folium.Map
            The map; its ``save(path)`` writes a page that works offline (assets embedded).
        """
        from ..viz.maps import accessibility_map

        return accessibility_map(self, column=column, **kwargs)

    def citizen_page(self, path, *, title: str | None = None, taxonomy=None, texts: dict | None = None,
                     tiles="OpenStreetMap"):
        """Write a page residents can use: a click on the map (or typed coordinates) lists the minutes
        from there to each service in plain language; one self-contained HTML file that works offline.

        Parameters
        ----------
        path : str or pathlib.Path
            The HTML file to write.
        title : str, optional
            Page title (default "How far is everyday life from your door?").
        taxonomy : Taxonomy, str or dict, optional
            Service labels from this taxonomy (a translated one) instead of the analysis's.
        texts : dict, optional
            Words of the page (a translation); keys of :data:`urbankit.viz.citizen.DEFAULT_TEXTS`.
        tiles : str or None, default "OpenStreetMap"
            Base map (hidden offline; the streets are always drawn); None for none.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        InvalidOptionError
            An unknown text key or tile provider, or Leaflet not available offline.
        """
        from ..viz.citizen import citizen_page

        return citizen_page(self, path, title=title, taxonomy=taxonomy, texts=texts, tiles=tiles)

def _assemble(network, pois, reach, *, population, population_source, minutes, functions, params) -> Accessibility:
    services = list(functions)
    table = node_metrics(
        reach,
        n_nodes=len(network.nodes),
        dest_service=pois["service"].to_numpy(),
        services=services,
        functions=functions,
        minutes=minutes,
        k=params["k"],
        half_life_min=params["half_life_min"],
    )
    table.index = network.nodes.index
    nodes = gpd.GeoDataFrame(
        pd.concat([pd.DataFrame({"population": population}, index=network.nodes.index), table], axis=1),
        geometry=network.nodes.geometry,
        crs=network.crs,
    )
    return Accessibility(
        network=network,
        nodes=nodes,
        pois=pois,
        minutes=minutes,
        services=services,
        functions=dict(functions),
        reach=reach,
        params=dict(params),
        population_source=population_source,
    )


def _positions_text(mask: np.ndarray, n: int = 5) -> str:
    pos = np.flatnonzero(mask)
    return ", ".join(map(str, pos[:n].tolist())) + (", ..." if len(pos) > n else "")


def _row_mask(value, n: int, name: str, what: str) -> np.ndarray:
    """A boolean mask of ``n`` rows from a mask or from row positions ``0..n-1`` (the ``remove`` and
    ``close_edges`` arguments of :meth:`Accessibility.what_if`); one clear error otherwise."""
    if isinstance(value, (str, bytes)) or np.isscalar(value) and not isinstance(value, (int, np.integer)):
        raise InvalidOptionError(
            f"{name}={value!r} must be a list of {what} (whole numbers 0..{n - 1}) or a boolean mask."
        )
    arr = np.atleast_1d(np.asarray(value, dtype=object if isinstance(value, (list, tuple)) else None))
    if arr.ndim != 1:
        raise InvalidOptionError(f"{name} must be one-dimensional: a list of {what} or a boolean mask of {n} entries.")
    if len(arr) == 0:
        return np.zeros(n, bool)
    if arr.dtype == object:
        # a Python list: every item a bool, or every item a whole number (not a float id such as 3.0)
        if all(isinstance(v, (bool, np.bool_)) for v in arr):
            arr = arr.astype(bool)
        elif all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in arr):
            arr = arr.astype(np.int64)
    if arr.dtype == bool:
        if len(arr) != n:
            raise InvalidOptionError(
                f"{name} is a boolean mask of {len(arr)} entries, but there are {n} {what}; give one entry per row."
            )
        return arr.copy()
    if not np.issubdtype(arr.dtype, np.integer):
        odd = [v for v in arr.tolist() if isinstance(v, bool) or not isinstance(v, (int, np.integer))][:5]
        raise InvalidOptionError(
            f"{name} holds {odd!r}, which are not positions: give whole-number {what} (0..{n - 1}), e.g. "
            "numpy.flatnonzero(condition), or a boolean mask; float ids, NaN and labels are not accepted."
        )
    bad = arr[(arr < 0) | (arr >= n)]
    if len(bad):
        raise InvalidOptionError(
            f"{name} names {what} {bad[:5].tolist()} that do not exist: positions run from 0 to {n - 1} "
            "(negative positions are not counted from the end)."
        )
    mask = np.zeros(n, bool)
    mask[arr] = True
    return mask
