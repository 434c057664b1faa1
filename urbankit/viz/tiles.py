"""Which base-map ``tiles`` values folium can draw without more options (no folium import here)."""

from __future__ import annotations


def tiles_problem(value) -> str | None:
    """Why ``value`` cannot be drawn as folium tiles without an attribution, or None when it can.

    folium takes ``None`` or the name of a tile provider :mod:`xyzservices` knows (which carries its
    attribution); any other text is taken as a custom tile URL, which folium refuses without an
    attribution.

    >>> tiles_problem("OpenStreetMap") is None and tiles_problem(None) is None
    True
    >>> tiles_problem("https://tiles.example/{z}/{x}/{y}.png")
    'is a custom tile URL'
    """
    if not isinstance(value, str):
        return None
    if value.strip().lower() == "openstreetmap":
        return None
    import xyzservices

    try:
        xyzservices.providers.query_name(value)
        return None
    except ValueError:
        pass
    if "{" in value or "://" in value or "/" in value:
        return "is a custom tile URL"
    return "is not a tile provider name xyzservices knows"
