"""Human labels of services and functions, from the taxonomy a result was computed with.

Maps, plots and report tables show "Primary school", not ``primary_school``; a city can translate
the labels in its taxonomy file.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

__all__ = ["function_labels", "lower_label", "service_labels"]


def _taxonomy_of(acc, taxonomy=None):
    from ..destinations import load_taxonomy

    if taxonomy is not None:
        return load_taxonomy(taxonomy)
    raw = getattr(getattr(acc, "pois", None), "attrs", {}).get("taxonomy")
    given = (getattr(acc, "input_files", None) or {}).get("taxonomy")
    for candidate in (raw, given, None):
        try:
            return load_taxonomy(candidate)
        except Exception as exc:  # noqa: BLE001 - labels fall back to the names
            logger.debug("taxonomy %r not loadable for labels: %s", candidate, exc)
    return None  # pragma: no cover - the packaged taxonomy always loads


def service_labels(acc, *, taxonomy=None) -> dict[str, str]:
    """Service name -> its human label from the taxonomy (``"primary_school"`` -> ``"Primary school"``).

    Parameters
    ----------
    acc : Accessibility
        The result; its destinations carry the taxonomy they were found with.
    taxonomy : Taxonomy, str or dict, optional
        Labels from this taxonomy instead (e.g. a translated one).

    Returns
    -------
    dict of str to str
        One label per service of ``acc``; a service the taxonomy lacks gets its name, capitalised.
    """
    tax = _taxonomy_of(acc, taxonomy)
    known = {n: s.label for n, s in dict(getattr(tax, "services", {}) or {}).items()}
    return {s: known.get(s) or s.replace("_", " ").capitalize() for s in acc.services}


def function_labels(acc, *, taxonomy=None) -> dict[str, str]:
    """Function name -> its label from the taxonomy (``"healthcare"`` -> ``"Healthcare"``).

    Parameters
    ----------
    acc : Accessibility
        The result.
    taxonomy : Taxonomy, str or dict, optional
        Labels from this taxonomy instead.

    Returns
    -------
    dict of str to str
        One label per function of ``acc``.
    """
    tax = _taxonomy_of(acc, taxonomy)
    known = dict(getattr(tax, "functions", {}) or {})
    return {f: known.get(f) or f.replace("_", " ").capitalize() for f in acc.function_names}


def lower_label(label: str) -> str:
    """A label inside a sentence: "Primary school" -> "primary school" (acronyms such as "ATM" kept).

    Parameters
    ----------
    label : str
        The label.

    Returns
    -------
    str
        The label with a lower-case first letter unless it starts an acronym.
    """
    if len(label) > 1 and label[0].isupper() and not label[1].isupper():
        return label[0].lower() + label[1:]
    return label
