"""Escaping of data-derived text before it reaches HTML (maps, tables, the batch index).

OpenStreetMap tags, population files, taxonomy files and report parameters are written by others:
a street ``name`` of ``<img src=x onerror=...>`` must show as that text, never run. Folium and
Leaflet put text into pages as HTML, unescaped: GeoJSON properties shown by
:class:`folium.GeoJsonTooltip`/``GeoJsonPopup`` and layer names in the layer control go through
``innerHTML``; :class:`folium.Tooltip`/``Popup`` text is written into a JavaScript template literal.
Every map of :mod:`urbankit.maps` therefore passes its frames through :func:`escape_frame` and its
labels through :func:`escape` exactly once (folium escapes none of them, so nothing is escaped
twice: a name ``Fish & Chips`` is stored as ``Fish &amp; Chips`` and displays as ``Fish & Chips``).

>>> escape('<img src=x onerror="alert(1)"> & `${x}`')
'&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &#96;&#36;{x}&#96;'
"""

from __future__ import annotations

import html
import numbers

import pandas as pd

__all__ = ["escape", "escape_frame", "escape_value"]

#: characters beyond html.escape's: the delimiters and escape of JavaScript template literals, in
#: which folium.Tooltip and folium.Popup place their text (as entities they display unchanged)
_TEMPLATE_LITERAL = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;"})


def escape(text) -> str:
    """``text`` (any object, as ``str``) safe inside HTML text, a quoted attribute or a JavaScript
    template literal: ``& < > " '`` and `` ` $ \\`` become character references."""
    return html.escape(str(text), quote=True).translate(_TEMPLATE_LITERAL)


def escape_value(value):
    """One cell for an HTML table or a GeoJSON property shown as HTML: text escaped; numbers,
    booleans and missing values unchanged; any other object (list, dict, bytes...) as escaped text."""
    if value is None or isinstance(value, (bool, numbers.Number)):
        return value
    if isinstance(value, str):
        return escape(value)
    if pd.api.types.is_scalar(value) and pd.isna(value):  # NaN, NA, NaT
        return value
    return escape(value)


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (object, string and categorical columns, the geometry
    column excepted) are escaped with :func:`escape_value`; numeric columns are kept as they are.

    Use it on every frame whose values a map or a table shows as HTML, right before it is drawn.
    """
    out = frame.copy()
    geometry = getattr(frame, "_geometry_column_name", None)
    for column in out.columns:
        if column == geometry:
            continue
        series = out[column]
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            out[column] = series.cat.rename_categories([escape_value(c) for c in dtype.categories])
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            out[column] = pd.Series([escape_value(v) for v in series.to_numpy()], index=series.index, dtype=object)
    return out
