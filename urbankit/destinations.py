"""Destinations: which OSM objects are the services of an x-minute city.

A :class:`Taxonomy` groups *services* (grocery, pharmacy, primary school...) into *functions* (the
six social functions of the 15-minute city: living, working, commerce, healthcare, education,
entertainment) and says, with tag rules, which OpenStreetMap objects provide each service.
:func:`load_taxonomy` reads one from TOML (the packaged default, a user file, or a user file
extending the default); :func:`destinations` applies it to an :class:`~urbankit.OSMExtract`
and returns one point per (object, service).

The TOML schema is documented at the top of the packaged ``urbankit/data/taxonomy.toml``::

    [meta]
    name = "fifteen-minute"
    version = 1

    [functions.commerce]
    label = "Commerce"

    [services.grocery]
    function = "commerce"
    label = "Grocery"
    tags = { shop = ["supermarket", "convenience"], amenity = ["marketplace"] }  # any key matches
    require = { ... }      # optional: all these keys must match
    if_present = { ... }   # optional: these keys must match when the object has them
    exclude = { ... }      # optional: dropped if any of these keys matches

Values are a list of strings or ``"*"`` (any value except ``"no"``). A tag value with several
``;``-separated parts matches if any part matches.
"""

from __future__ import annotations

import copy
import hashlib
import html
import json
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Union

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import CRSError, InputFileError, InvalidOptionError, TaxonomyError
from .osm import DEFAULT_POI_KEYS, OSMExtract

logger = logging.getLogger(__name__)


#: Value of a tag rule that matches any value of the key except ``"no"``.
WILDCARD = "*"

#: Columns of the table returned by :func:`destinations` (plus ``geometry``).
DESTINATION_COLUMNS = ("service", "function", "osm_type", "osm_id", "name")

_TOP_KEYS = ("meta", "functions", "services")
_META_KEYS = ("name", "version", "description")
_FUNCTION_KEYS = ("label", "description")
_RULE_KEYS = ("tags", "require", "if_present", "exclude")
_SERVICE_KEYS = ("function", "label", "description") + _RULE_KEYS
_DEFAULT_SOURCE = "urbankit/data/taxonomy.toml (packaged default)"
# dtype pandas infers for text columns ("str" in pandas 3, object before), so empty and non-empty
# results have the same dtypes
_STRING_DTYPE = pd.Series(["a"]).dtype

Rule = Mapping[str, tuple[str, ...] | str]
TaxonomyLike = Union["Taxonomy", str, Path, Mapping, None]


# --------------------------------------------------------------------------------------- taxonomy


@dataclass(frozen=True)
class Service:
    """One service of a taxonomy and the tag rules of the OSM objects that provide it.

    The constructor's parameters are the dataclass fields, kept as attributes of the same names.

    Parameters
    ----------
    name : str
        Identifier, e.g. ``"grocery"``.
    function : str
        The function the service belongs to, e.g. ``"commerce"``.
    label : str
        Human-readable name.
    tags : Mapping[str, tuple of str or "*"]
        The object matches if *any* of these keys has one of the values.
    require : Mapping[str, tuple of str or "*"], optional
        *All* of these keys must be present with one of the values. Empty by default.
    if_present : Mapping[str, tuple of str or "*"], optional
        For each of these keys the object has, the value must be one of the values. Empty by default.
    exclude : Mapping[str, tuple of str or "*"], optional
        The object is dropped if *any* of these keys has one of the values. Empty by default.
    description : str, default ""
        Free text describing the service.
    """

    name: str
    function: str
    label: str
    tags: Rule
    require: Rule = field(default_factory=lambda: MappingProxyType({}))
    if_present: Rule = field(default_factory=lambda: MappingProxyType({}))
    exclude: Rule = field(default_factory=lambda: MappingProxyType({}))
    description: str = ""

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def to_dict(self) -> dict:
        """The service as a TOML-ready dict (without its name).

        Returns
        -------
        dict
            ``function``, ``label``, and ``description`` and the non-empty rule tables (``tags``,
            ``require``, ``if_present``, ``exclude``; value lists or ``"*"``) when set.
        """
        out: dict = {"function": self.function, "label": self.label}
        if self.description:
            out["description"] = self.description
        for part in _RULE_KEYS:
            rule = getattr(self, part)
            if rule:
                out[part] = {k: (v if v == WILDCARD else list(v)) for k, v in rule.items()}
        return out

    def describe_rules(self) -> str:
        """The rules in one line, e.g. ``shop=supermarket|convenience OR amenity=marketplace``.

        Returns
        -------
        str
            The ``tags`` alternatives joined by ``OR``, followed by ``AND`` (require), ``IF PRESENT``
            (if_present) and ``EXCEPT`` (exclude) clauses when those rules are set.
        """
        text = " OR ".join(_format_rule_item(k, v) for k, v in self.tags.items())
        extras = [
            ("AND", self.require, " AND "),
            ("IF PRESENT", self.if_present, " AND "),
            ("EXCEPT", self.exclude, " OR "),
        ]
        for word, rule, joiner in extras:
            if rule:
                text += f" {word} " + joiner.join(_format_rule_item(k, v) for k, v in rule.items())
        return text


def _format_rule_item(key: str, values) -> str:
    return f"{key}={values if values == WILDCARD else '|'.join(values)}"


@dataclass(frozen=True)
class Taxonomy:
    """A destination taxonomy: services grouped into functions, with the tag rules of each service.

    Build one with :func:`load_taxonomy`. The constructor's parameters are the dataclass fields, kept
    as attributes of the same names.

    Parameters
    ----------
    name : str
        Name of the taxonomy (``[meta] name``).
    functions : Mapping[str, str]
        Function name -> label, in file order.
    services : Mapping[str, Service]
        Service name -> :class:`Service`, grouped by function in the order of ``functions``.
    version : int or str or None, default None
        ``[meta] version``.
    description : str, default ""
        ``[meta] description``.
    source : str, default "<dict>"
        Where the taxonomy was read from (a path, ``"<dict>"`` or the packaged default). Not part
        of equality or of :attr:`fingerprint`.
    function_descriptions : Mapping[str, str], optional
        Function name -> description (``[functions.NAME] description``), for the functions that have one.
    """

    name: str
    functions: Mapping[str, str]
    services: Mapping[str, Service]
    version: int | str | None = None
    description: str = ""
    source: str = field(default="<dict>", compare=False)
    function_descriptions: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return (
            f"Taxonomy(name={self.name!r}, functions={len(self.functions)}, "
            f"services={len(self.services)}, source={self.source!r})"
        )

    def service_names(self) -> list[str]:
        """Service names, grouped by function in taxonomy order.

        Returns
        -------
        list of str
            The keys of :attr:`services`, in order.
        """
        return list(self.services)

    def function_of(self, service: str) -> str:
        """The function a service belongs to.

        Parameters
        ----------
        service : str
            A service name of the taxonomy.

        Returns
        -------
        str
            The name of the service's function.

        Raises
        ------
        InvalidOptionError
            ``service`` is not in the taxonomy.
        """
        try:
            return self.services[service].function
        except KeyError:
            raise InvalidOptionError(
                f"service {service!r} is not in taxonomy {self.name!r}; its services are: "
                f"{', '.join(self.services)}."
            ) from None

    def services_of(self, function: str) -> list[str]:
        """The services of one function, in taxonomy order.

        Parameters
        ----------
        function : str
            A function name of the taxonomy.

        Returns
        -------
        list of str
            The names of the function's services.

        Raises
        ------
        InvalidOptionError
            ``function`` is not in the taxonomy.
        """
        if function not in self.functions:
            raise InvalidOptionError(
                f"function {function!r} is not in taxonomy {self.name!r}; its functions are: "
                f"{', '.join(self.functions)}."
            )
        return [s.name for s in self.services.values() if s.function == function]

    def keys(self, *, include_filters: bool = False) -> set[str]:
        """OSM tag keys the taxonomy uses.

        Parameters
        ----------
        include_filters : bool, default False
            Also return the keys of ``require``, ``if_present`` and ``exclude`` rules. By default
            only the keys of ``tags`` rules: the keys whose presence can make an object a
            destination, i.e. what :func:`urbankit.read_osm` needs as ``poi_keys``.

        Returns
        -------
        set of str
            The OSM keys.
        """
        parts = _RULE_KEYS if include_filters else ("tags",)
        return {k for s in self.services.values() for p in parts for k in getattr(s, p)}

    def to_dict(self) -> dict:
        """The taxonomy as a TOML-ready dict; ``load_taxonomy(tax.to_dict())`` rebuilds it.

        Returns
        -------
        dict
            ``{"meta": ..., "functions": ..., "services": ...}`` as in the taxonomy TOML file.
        """
        meta: dict = {"name": self.name}
        if self.version is not None:
            meta["version"] = self.version
        if self.description:
            meta["description"] = self.description
        functions = {}
        for f, label in self.functions.items():
            functions[f] = {"label": label}
            if self.function_descriptions.get(f):
                functions[f]["description"] = self.function_descriptions[f]
        return {
            "meta": meta,
            "functions": functions,
            "services": {name: s.to_dict() for name, s in self.services.items()},
        }

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the taxonomy content (not its source), a stable cache key."""
        payload = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def to_frame(self) -> pd.DataFrame:
        """The taxonomy as a table, one row per service.

        Returns
        -------
        pandas.DataFrame
            Columns ``function``, ``function_label``, ``service``, ``label`` and ``rules``
            (:meth:`Service.describe_rules`), in taxonomy order.
        """
        rows = [
            (s.function, self.functions[s.function], s.name, s.label, s.describe_rules())
            for s in self.services.values()
        ]
        return pd.DataFrame(rows, columns=["function", "function_label", "service", "label", "rules"])

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>Taxonomy {html.escape(self.name)}</b>: {len(self.functions)} functions, "
            f"{len(self.services)} services <small>({html.escape(self.source)})</small></p>"
        )
        rows = []
        for f, label in self.functions.items():
            names = self.services_of(f)
            for i, name in enumerate(names):
                s = self.services[name]
                fcell = f'<td rowspan="{len(names)}"><b>{html.escape(label)}</b></td>' if i == 0 else ""
                rows.append(
                    f"<tr>{fcell}<td><code>{html.escape(name)}</code></td><td>{html.escape(s.label)}</td>"
                    f"<td style='text-align:left'><small>{html.escape(s.describe_rules())}</small></td></tr>"
                )
        return (
            head + "<table><thead><tr><th>Function</th><th>Service</th><th>Label</th><th>OSM tags</th>"
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        )


def load_taxonomy(path: str | Path | Mapping | Taxonomy | None = None, *, extend: bool = False) -> Taxonomy:
    """Load a destination taxonomy.

    Parameters
    ----------
    path : str, pathlib.Path, dict, Taxonomy or None, default None
        A TOML file, or a dict with the same structure (as parsed from TOML), or a preset name:
        ``"fifteen-minute"`` (the six social functions, the default) or ``"nine-categories"``
        (Bruno et al. 2024). ``None`` loads the packaged 15-minute-city default. A :class:`Taxonomy` is
        returned unchanged (or extended).
    extend : bool, default False
        Merge ``path`` into the default taxonomy: its services are added, and replace the
        default ones of the same name; its functions and ``[meta]`` entries are added or
        relabelled. Services may then use the default functions without declaring them.

    Returns
    -------
    Taxonomy

    Raises
    ------
    InputFileError
        The file does not exist or cannot be read.
    TaxonomyError
        The TOML is invalid or does not follow the schema. All problems found are listed in one
        error, which names the file.

    Examples
    --------
    >>> from urbankit.destinations import load_taxonomy
    >>> tax = load_taxonomy()
    >>> tax.function_of("grocery")
    'commerce'
    >>> load_taxonomy("nine-categories").function_of("grocery")
    'supplies'
    >>> tax = load_taxonomy({"services": {"bakery": {"function": "commerce",
    ...     "tags": {"shop": ["bakery", "pastry", "confectionery"]}}}}, extend=True)
    >>> tax.services["bakery"].tags["shop"]
    ('bakery', 'pastry', 'confectionery')
    """
    if isinstance(path, str) and path in PRESETS and not Path(path).exists():
        raw, source = PRESETS[path](), f"preset {path!r}"
        if extend:
            raise InvalidOptionError(f"preset {path!r} cannot be extended; extend it by loading it and passing a dict.")
        return _build(raw, source)
    if isinstance(path, Taxonomy):
        if not extend:
            return path
        raw, source = path.to_dict(), path.source
    elif path is None:
        if extend:
            raise InvalidOptionError(
                "load_taxonomy(None, extend=True) has nothing to extend the default with; give the "
                "path of a TOML file or a dict."
            )
        return _default_taxonomy()
    else:
        raw, source = _read_raw(path)
    if extend:
        raw = _merge(_default_raw(), raw)
    return _build(raw, source)


#: The nine categories of Bruno et al. (2024), "A universal framework for inclusive 15-minute
#: cities", Nature Cities 1: 633-641, mapped onto the default services (workplaces are not among them).
NINE_CATEGORIES = {
    "outdoor_activities": ("park", "playground"),
    "learning": ("kindergarten", "primary_school", "secondary_school", "university"),
    "supplies": ("grocery", "bakery", "retail"),
    "eating": ("restaurant_cafe",),
    "moving": ("transit_stop",),
    "cultural_activities": ("culture",),
    "physical_exercise": ("sport",),
    "services": ("bank_post",),
    "health_care": ("pharmacy", "doctor", "dentist", "hospital"),
}


def _nine_categories_raw() -> dict:
    raw = _default_raw()
    services = {}
    for function, names in NINE_CATEGORIES.items():
        for name in names:
            services[name] = {**raw["services"][name], "function": function}
    return {
        "meta": {
            "name": "nine-categories",
            "version": 1,
            "description": "The nine categories of Bruno et al. (2024), Nature Cities, over urbankit's services",
        },
        "functions": {f: {"label": f.replace("_", " ").capitalize()} for f in NINE_CATEGORIES},
        "services": services,
    }


#: Taxonomies selectable by name in :func:`load_taxonomy`.
PRESETS = {"fifteen-minute": lambda: _default_raw(), "nine-categories": _nine_categories_raw}


@lru_cache(maxsize=1)
def _default_raw_cached() -> str:
    return (files("urbankit") / "data" / "taxonomy.toml").read_text(encoding="utf-8")


def _default_raw() -> dict:
    return tomllib.loads(_default_raw_cached())


@lru_cache(maxsize=1)
def _default_taxonomy() -> Taxonomy:
    return _build(_default_raw(), _DEFAULT_SOURCE)


def _read_raw(path) -> tuple[dict, str]:
    """Parse a TOML file (or copy a dict) into plain Python objects."""
    if isinstance(path, Mapping):
        return copy.deepcopy(dict(path)), "<dict>"
    if not isinstance(path, (str, Path)):
        raise InvalidOptionError(f"taxonomy must be a path to a TOML file, a dict or None, not {type(path).__name__}.")
    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            f"taxonomy file {str(path)!r} does not exist; check the path, or pass None for the packaged default."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read taxonomy file {str(path)!r}: {exc}") from exc
    try:
        return tomllib.loads(text), str(path)
    except tomllib.TOMLDecodeError as exc:
        raise TaxonomyError(
            f"taxonomy {str(path)!r} is not valid TOML: {exc}. Fix the syntax at that line "
            "(strings need double quotes, keys with ':' need quotes, e.g. \"isced:level\")."
        ) from exc


def _merge(base: dict, user: dict) -> dict:
    """Merge a user taxonomy into the default: services replaced whole, other tables per key."""
    out = copy.deepcopy(base)
    for key, value in user.items():
        if key in out and isinstance(out[key], dict) and isinstance(value, dict):
            out[key].update(copy.deepcopy(value))
        else:
            out[key] = copy.deepcopy(value)
    return out


def _build(raw: dict, source: str) -> Taxonomy:
    """Validate a parsed taxonomy, collecting every problem, and build a :class:`Taxonomy`."""
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise TaxonomyError(f"taxonomy {source!r} must be a table (dict), not {type(raw).__name__}.")
    for key in raw:
        if key not in _TOP_KEYS:
            problems.append(f"unknown top-level key {key!r} (allowed: {', '.join(_TOP_KEYS)})")

    meta = _table(raw.get("meta", {}), "[meta]", problems)
    _check_keys(meta, _META_KEYS, "[meta]", problems)
    name = meta.get("name", Path(source).stem if source != "<dict>" else "custom")
    if not isinstance(name, str):
        problems.append(f"[meta] name must be a string, got {name!r}")
        name = str(name)
    version = meta.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (int, str))):
        problems.append(f"[meta] version must be an integer or a string, got {version!r}")
    description = _string(meta, "description", "[meta]", "", problems)

    functions: dict[str, str] = {}
    function_descriptions: dict[str, str] = {}
    for fname, fspec in _table(raw.get("functions", {}), "[functions]", problems).items():
        where = f"function {fname!r}"
        _check_name(fname, where, problems)
        fspec = _table(fspec, where, problems)
        _check_keys(fspec, _FUNCTION_KEYS, where, problems)
        functions[fname] = _string(fspec, "label", where, fname.replace("_", " ").capitalize(), problems)
        function_descriptions[fname] = _string(fspec, "description", where, "", problems)
    if not functions:
        problems.append('no function declared; add e.g. [functions.commerce] with label = "Commerce"')

    services: dict[str, Service] = {}
    raw_services = _table(raw.get("services", {}), "[services]", problems)
    if not raw_services:
        problems.append("no service declared; add e.g. [services.grocery] with function and tags")
    for sname, sspec in raw_services.items():
        where = f"service {sname!r}"
        _check_name(sname, where, problems)
        if not isinstance(sspec, Mapping):
            problems.append(f"{where} must be a table ([services.{sname}]), got {sspec!r}")
            continue
        _check_keys(sspec, _SERVICE_KEYS, where, problems)
        function = sspec.get("function")
        if function is None:
            declared = ", ".join(functions) or "(none declared)"
            problems.append(f"{where} has no 'function'; set one of: {declared}")
        elif not isinstance(function, str) or function not in functions:
            problems.append(
                f"{where}: function {function!r} is not declared under [functions] "
                f"(declared: {', '.join(functions) or 'none'}); declare it or fix the name"
            )
        rules = {}
        for part in _RULE_KEYS:
            rules[part] = _rule(sspec.get(part, {}), f"{where} {part}", problems)
        if "tags" not in sspec:
            problems.append(f"{where} has no 'tags'; add e.g. tags = {{ amenity = [\"pharmacy\"] }}")
        elif not rules["tags"] and isinstance(sspec["tags"], Mapping) and not sspec["tags"]:
            problems.append(f"{where} has empty 'tags'; list at least one key and its values")
        services[sname] = Service(
            name=sname,
            function=function if isinstance(function, str) else "",
            label=_string(sspec, "label", where, sname.replace("_", " ").capitalize(), problems),
            description=_string(sspec, "description", where, "", problems),
            **rules,
        )
    used = {s.function for s in services.values()}
    for fname in functions:
        if fname not in used:
            problems.append(f"function {fname!r} has no service; add one or remove the function")

    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise TaxonomyError(
            f"taxonomy {source!r} has {len(problems)} problem{'s' if len(problems) > 1 else ''}:\n"
            f"{listing}\nSee the schema at the top of the packaged urbankit/data/taxonomy.toml."
        )
    order = {f: i for i, f in enumerate(functions)}
    ordered = sorted(services.values(), key=lambda s: order[s.function])  # stable: file order within
    return Taxonomy(
        name=name,
        functions=MappingProxyType(functions),
        services=MappingProxyType({s.name: s for s in ordered}),
        version=version,
        description=description,
        source=source,
        function_descriptions=MappingProxyType(function_descriptions),
    )


def _table(value, where: str, problems: list[str]) -> dict:
    if isinstance(value, Mapping):
        return dict(value)
    problems.append(f"{where} must be a table, got {value!r}")
    return {}


def _check_keys(spec: Mapping, allowed: tuple[str, ...], where: str, problems: list[str]) -> None:
    for key in spec:
        if key not in allowed:
            problems.append(f"{where}: unknown key {key!r} (allowed: {', '.join(allowed)})")


def _check_name(name: str, where: str, problems: list[str]) -> None:
    if not name.isidentifier():
        problems.append(f"{where}: name must be an identifier (letters, digits, '_'), e.g. 'fresh_food'")


def _string(spec: Mapping, key: str, where: str, default: str, problems: list[str]) -> str:
    value = spec.get(key, default)
    if not isinstance(value, str):
        problems.append(f"{where}: {key} must be a string, got {value!r}")
        return default
    return value


def _rule(value, where: str, problems: list[str]) -> Rule:
    """Validate one rule table ``{key: [values] | "*"}`` into ``{key: tuple | "*"}``."""
    if not isinstance(value, Mapping):
        problems.append(f"{where} must be a table of key = [values], got {value!r}")
        return MappingProxyType({})
    out: dict = {}
    for key, values in value.items():
        item = f"{where}: {key}"
        if isinstance(values, str):
            if values == WILDCARD:
                out[key] = WILDCARD
            else:
                problems.append(
                    f'{item} must be a list of strings or "*", got {values!r}; write {json.dumps([values])}'
                )
            continue
        if not isinstance(values, list) or not values:
            problems.append(f'{item} must be a non-empty list of strings or "*", got {values!r}')
            continue
        bad = [v for v in values if not isinstance(v, str) or not v.strip()]
        if bad:
            problems.append(f"{item} has values that are not non-empty strings: {bad!r}")
            continue
        out[key] = WILDCARD if WILDCARD in values else tuple(dict.fromkeys(v.strip() for v in values))
    return MappingProxyType(out)


def _as_taxonomy(taxonomy: TaxonomyLike) -> Taxonomy:
    return taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)


# ------------------------------------------------------------------------------------ matching


class _TagTable:
    """Tag values of the features for the keys a taxonomy needs, built once and matched by rule.

    Values are stripped strings (``None`` where the key is absent); values with ``;`` are also
    split into parts, so ``shop=bakery;deli`` matches a rule listing ``deli``.
    """

    def __init__(self, columns: Mapping[str, pd.Series], n: int):
        self.n = n
        self._values: dict[str, pd.Series] = {}
        self._parts: dict[str, pd.Series] = {}
        for key, col in columns.items():
            col = col[col.notna()]
            values = col.astype(str).str.strip()
            self._values[key] = values
            multi = values[values.str.contains(";", regex=False)]
            self._parts[key] = multi.str.split(";").explode().str.strip()

    def present(self, key: str) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        if key in self._values:
            out[self._values[key].index.to_numpy()] = True
        return out

    def match(self, key: str, values) -> np.ndarray:
        """Boolean array: the object has ``key`` with one of ``values`` (or any but "no" for "*")."""
        out = np.zeros(self.n, dtype=bool)
        if key not in self._values:
            return out
        col = self._values[key]
        if values == WILDCARD:
            hit = col.ne("no") & col.ne("")
            out[col.index[hit.to_numpy()].to_numpy()] = True
            return out
        out[col.index[col.isin(values).to_numpy()].to_numpy()] = True
        parts = self._parts[key]
        if len(parts):
            out[np.unique(parts.index[parts.isin(values).to_numpy()].to_numpy())] = True
        return out

    def service_mask(self, service: Service) -> np.ndarray:
        mask = np.zeros(self.n, dtype=bool)
        for key, values in service.tags.items():
            mask |= self.match(key, values)
        for key, values in service.require.items():
            mask &= self.match(key, values)
        for key, values in service.if_present.items():
            mask &= ~self.present(key) | self.match(key, values)
        for key, values in service.exclude.items():
            mask &= ~self.match(key, values)
        return mask


def _features_of(source) -> tuple[gpd.GeoDataFrame, tuple[str, ...] | None]:
    """The features table of ``source`` and the POI keys it was read with (None if unknown)."""
    if isinstance(source, OSMExtract):
        keys = source.meta.get("poi_keys", DEFAULT_POI_KEYS)
        return source.features, tuple(keys) if keys is not None else None
    if isinstance(source, gpd.GeoDataFrame):
        return source, DEFAULT_POI_KEYS if "tags" in source.columns else None
    raise InvalidOptionError(
        f"find_destinations() takes an OSMExtract (from urbankit.read_osm) or its .features "
        f"GeoDataFrame, not {type(source).__name__}."
    )


def _tag_columns(features: gpd.GeoDataFrame, keys: set[str]) -> dict[str, pd.Series]:
    """One Series per key (positional index), from the ``tags`` dicts or from tag columns.

    Tag columns are how osmnx's ``features_from_*`` return tags, so its output works too.
    """
    n = len(features)
    if "tags" in features.columns:
        tags = [t if isinstance(t, dict) else {} for t in features["tags"].tolist()]
        return {k: pd.Series([t.get(k) for t in tags], index=pd.RangeIndex(n), dtype=object) for k in sorted(keys)}
    return {
        k: pd.Series(features[k].to_numpy(dtype=object), index=pd.RangeIndex(n), dtype=object)
        for k in sorted(keys)
        if k in features.columns
    }


def _id_columns(features: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``osm_type``, ``osm_id``, ``name`` arrays, from columns or an osmnx ``(element, id)`` index."""
    n = len(features)
    if {"osm_type", "osm_id"} <= set(features.columns):
        types, ids = features["osm_type"].to_numpy(dtype=object), features["osm_id"].to_numpy()
    elif isinstance(features.index, pd.MultiIndex) and {"element", "id"} <= set(features.index.names):
        types = features.index.get_level_values("element").to_numpy(dtype=object)
        ids = features.index.get_level_values("id").to_numpy()
    else:
        raise InvalidOptionError(
            "the features GeoDataFrame needs columns 'osm_type' and 'osm_id' (as read by "
            "urbankit.read_osm) or an osmnx ('element', 'id') index; it has columns "
            f"{list(features.columns)}."
        )
    if "name" in features.columns:
        names = features["name"].to_numpy(dtype=object)
    else:
        names = np.full(n, None, dtype=object)
    return types, ids, names


def _empty_destinations() -> gpd.GeoDataFrame:
    text = _STRING_DTYPE
    frame = pd.DataFrame(
        {
            "service": pd.Series([], dtype=text),
            "function": pd.Series([], dtype=text),
            "osm_type": pd.Series([], dtype=text),
            "osm_id": pd.Series([], dtype="int64"),
            "name": pd.Series([], dtype=text),
        }
    )
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")


def find_destinations(source: OSMExtract | gpd.GeoDataFrame, *, taxonomy: TaxonomyLike = None) -> gpd.GeoDataFrame:
    """The destinations of an area: one point per (OSM object, service it provides).

    Parameters
    ----------
    source : OSMExtract or geopandas.GeoDataFrame
        An extract from :func:`urbankit.read_osm`, or its ``features`` table. A GeoDataFrame
        from osmnx's ``features_from_*`` (tags as columns, ``(element, id)`` index) also works.
    taxonomy : Taxonomy, str, pathlib.Path, dict or None, default None
        The taxonomy, or what :func:`load_taxonomy` accepts; ``None`` is the packaged
        15-minute-city default.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, columns ``service``, ``function``, ``osm_type``, ``osm_id``, ``name`` and a
        point geometry: the node itself, or a point inside an area or on a line (shapely
        ``point_on_surface``). An object providing several services gives one row per service.
        Sorted by ``service``, ``osm_type``, ``osm_id``, index ``0..n-1``. Empty (same columns)
        when nothing matches. ``attrs["taxonomy"]`` holds the taxonomy as a dict, which
        :func:`destinations_summary` uses.

    Raises
    ------
    InvalidOptionError
        ``source`` is neither an extract nor a features table.
    CRSError
        The features table has no CRS.
    TaxonomyError, InputFileError
        From :func:`load_taxonomy`.

    Notes
    -----
    A taxonomy key that ``read_osm`` did not read objects for (see its ``poi_keys``) finds only
    the objects that also carry another POI key; a warning names such keys.

    Examples
    --------
    >>> import urbankit as uk
    >>> from urbankit.destinations import destinations_summary, find_destinations
    >>> dest = find_destinations(uk.read_osm(uk.datasets.get_path("monaco")))
    >>> dest[dest.service == "pharmacy"].function.unique().tolist()
    ['healthcare']
    >>> summary = destinations_summary(dest).set_index("service")
    >>> int(summary.loc["pharmacy", "count"]), int(summary.loc["dentist", "count"])
    (12, 0)
    """
    tax = _as_taxonomy(taxonomy)
    features, poi_keys = _features_of(source)
    if poi_keys is not None:
        missing = sorted(tax.keys() - set(poi_keys))
        if missing:
            logger.warning(
                "taxonomy %r selects objects by keys %s that the extract was not read for; objects "
                "with only those keys are missing. Read the file with "
                "read_osm(path, poi_keys=urbankit.osm.DEFAULT_POI_KEYS + %r).",
                tax.name,
                ", ".join(missing),
                tuple(missing),
            )
    if len(features) and features.crs is None:
        raise CRSError("the features GeoDataFrame has no CRS; set it, e.g. features.set_crs('EPSG:4326').")

    n = len(features)
    table = _TagTable(_tag_columns(features, tax.keys(include_filters=True)), n)
    rows, names = [], []
    for service in tax.services.values():
        hit = np.flatnonzero(table.service_mask(service))
        rows.append(hit)
        names.append(np.full(len(hit), service.name, dtype=object))
    rows_idx = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    if len(rows_idx) == 0:
        logger.info("no destinations of taxonomy %r among %d features", tax.name, n)
        out = _empty_destinations()
        out.attrs["taxonomy"] = tax.to_dict()
        return out
    service_col = np.concatenate(names)

    types, ids, obj_names = _id_columns(features)
    geoms = features.geometry.to_numpy()
    used = np.unique(rows_idx)
    points = np.empty(n, dtype=object)
    points[used] = shapely.point_on_surface(geoms[used])
    point_geoms = points[rows_idx]
    bad = shapely.is_missing(point_geoms) | shapely.is_empty(point_geoms)
    if bad.any():
        logger.warning("%d destinations without a geometry were dropped", int(bad.sum()))
        keep = ~bad
        rows_idx, service_col, point_geoms = rows_idx[keep], service_col[keep], point_geoms[keep]

    function_of = {s.name: s.function for s in tax.services.values()}
    text = _STRING_DTYPE
    frame = pd.DataFrame(
        {
            "service": pd.Series(service_col, dtype=text),
            "function": pd.Series(service_col, dtype=object).map(function_of).astype(text),
            "osm_type": pd.Series(types[rows_idx], dtype=text),
            "osm_id": np.asarray(ids[rows_idx], dtype=np.int64),
            "name": pd.Series(obj_names[rows_idx], dtype=text),
        }
    )
    out = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(point_geoms, crs=features.crs), crs=features.crs)
    if not out.crs.equals("EPSG:4326"):
        out = out.to_crs("EPSG:4326")
    out = (
        out.drop_duplicates(subset=["service", "osm_type", "osm_id"])
        .sort_values(["service", "osm_type", "osm_id"], kind="stable")
        .reset_index(drop=True)
    )
    out.attrs["taxonomy"] = tax.to_dict()
    counts = out["service"].value_counts()
    none = [s for s in tax.services if s not in counts.index]
    logger.info(
        "%d destinations of %d services from %d features%s",
        len(out),
        len(counts),
        n,
        f"; none for: {', '.join(none)}" if none else "",
    )
    return out


def destinations_summary(dest: gpd.GeoDataFrame, *, taxonomy: TaxonomyLike = None) -> pd.DataFrame:
    """Count destinations per function and service, listing every service of the taxonomy.

    Parameters
    ----------
    dest : geopandas.GeoDataFrame
        The output of :func:`destinations`.
    taxonomy : Taxonomy, str, pathlib.Path, dict or None, default None
        The taxonomy ``dest`` was built with. By default the one recorded in
        ``dest.attrs["taxonomy"]``, else the packaged default.

    Returns
    -------
    pandas.DataFrame
        One row per service in taxonomy order: ``function``, ``function_label``, ``service``,
        ``label``, ``count`` (objects, 0 for services with none). Services in ``dest`` that
        are not in the taxonomy come last, with function ``None``.
    """
    if taxonomy is None and isinstance(dest.attrs.get("taxonomy"), Mapping):
        tax = load_taxonomy(dest.attrs["taxonomy"])
    else:
        tax = _as_taxonomy(taxonomy)
    if "service" not in dest.columns:
        raise InvalidOptionError(
            "destinations_summary() takes the output of find_destinations(), which has a 'service' "
            f"column; got columns {list(dest.columns)}."
        )
    frame = tax.to_frame().drop(columns="rules")
    counts = dest["service"].value_counts()
    extra = [s for s in counts.index if s not in tax.services]
    if extra:
        frame = pd.concat(
            [frame, pd.DataFrame({"function": None, "function_label": None, "service": extra, "label": extra})],
            ignore_index=True,
        )
    frame["count"] = frame["service"].map(counts).fillna(0).astype("int64")
    return frame.reset_index(drop=True)
