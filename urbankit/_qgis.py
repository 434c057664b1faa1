"""QGIS styles of urbankit's GeoPackage layers (the ``layer_styles`` table QGIS reads on opening).

Part of the output layer (:mod:`urbankit.io` writes them): QML documents built from plain strings,
colours as ``#rrggbb`` (no matplotlib in the command line's import path), every attribute value
escaped with :func:`xml.sax.saxutils.quoteattr`.
"""

from __future__ import annotations

_QML_HEAD = (
    "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
    '<qgis version="3.28.0" styleCategories="Symbology">'
)


def _rgba(colour: str, alpha: int = 255) -> str:
    # "#rrggbb" only: matplotlib stays out of the CLI's import path
    r, g, b = (int(colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{alpha}"


def _symbol(name: str, kind: str, colour: str, *, alpha: int = 255, outline: str = "#555555") -> str:
    from xml.sax.saxutils import quoteattr

    if kind == "marker":
        props = {"name": "circle", "color": _rgba(colour, alpha), "size": "1.8", "outline_style": "no"}
        layer = "SimpleMarker"
    elif kind == "fill":
        props = {"color": _rgba(colour, alpha), "outline_color": _rgba(outline), "outline_width": "0.2"}
        layer = "SimpleFill"
    else:
        props = {"line_color": _rgba(colour, alpha), "line_width": "0.4"}
        layer = "SimpleLine"
    text = "".join(f"<prop k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in props.items())
    return (
        f'<symbol type="{kind}" name={quoteattr(name)} alpha="1" clip_to_extent="1" force_rhr="0">'
        f'<layer class="{layer}" enabled="1" locked="0" pass="0">{text}</layer></symbol>'
    )


def graduated_qml(column: str, kind: str, breaks: list[float], colours: list[str], labels: list[str]) -> str:
    """A QGIS style (QML) colouring ``column`` by classes ``breaks[i]..breaks[i + 1]``.

    Parameters
    ----------
    column : str
        The attribute.
    kind : {"marker", "fill", "line"}
        Geometry kind of the layer.
    breaks : list of float
        Class bounds, ascending (one more than ``colours``).
    colours : list of str
        One colour per class.
    labels : list of str
        One legend label per class.

    Returns
    -------
    str
        The QML document; NULL values are drawn in grey (class "no value").
    """
    from xml.sax.saxutils import quoteattr

    ranges = "".join(
        f'<range lower="{lo!r}" upper="{hi!r}" symbol="{i}" label={quoteattr(lab)} render="true"/>'
        for i, (lo, hi, lab) in enumerate(zip(breaks[:-1], breaks[1:], labels))
    )
    symbols = "".join(_symbol(str(i), kind, c, alpha=230) for i, c in enumerate(colours))
    return (
        f"{_QML_HEAD}<renderer-v2 type=\"graduatedSymbol\" attr={quoteattr(column)} graduatedMethod=\"GraduatedColor\" "
        f'symbollevels="0" enableorderby="0" forceraster="0"><ranges>{ranges}</ranges><symbols>{symbols}</symbols>'
        f"</renderer-v2><layerGeometryType>{ {'marker': 0, 'line': 1, 'fill': 2}[kind]}</layerGeometryType></qgis>"
    )


def categorized_qml(column: str, kind: str, categories: dict[str, str]) -> str:
    """A QGIS style (QML) colouring ``column`` by category (value -> colour).

    Parameters
    ----------
    column : str
        The attribute.
    kind : {"marker", "fill", "line"}
        Geometry kind of the layer.
    categories : dict of str to str
        Value -> colour.

    Returns
    -------
    str
        The QML document.
    """
    from xml.sax.saxutils import quoteattr

    cats = "".join(
        f"<category value={quoteattr(v)} symbol=\"{i}\" label={quoteattr(v)} render=\"true\"/>"
        for i, v in enumerate(categories)
    )
    symbols = "".join(_symbol(str(i), kind, c) for i, c in enumerate(categories.values()))
    return (
        f"{_QML_HEAD}<renderer-v2 type=\"categorizedSymbol\" attr={quoteattr(column)} symbollevels=\"0\" "
        f'enableorderby="0" forceraster="0"><categories>{cats}</categories><symbols>{symbols}</symbols>'
        f"</renderer-v2><layerGeometryType>{ {'marker': 0, 'line': 1, 'fill': 2}[kind]}</layerGeometryType></qgis>"
    )


#: colour-blind-safe colours of the six social functions (Okabe-Ito), shared with urbankit.viz
FUNCTION_COLOURS_CB = {
    "living": "#009E73",
    "working": "#0072B2",
    "commerce": "#E69F00",
    "healthcare": "#CC79A7",
    "education": "#56B4E9",
    "entertainment": "#D55E00",
}


#: viridis at 0, 0.25, 0.5, 0.75 and 1 (matplotlib's values, written out: no matplotlib import here)
_VIRIDIS_5 = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")


def _score_classes() -> tuple[list[float], list[str], list[str]]:
    breaks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    colours = list(_VIRIDIS_5)
    labels = [f"{100 * lo:.0f}-{100 * hi:.0f} %" for lo, hi in zip(breaks[:-1], breaks[1:])]
    return breaks, colours, labels


def layer_styles(acc, layers: dict) -> dict[str, str]:
    """The QGIS style (QML) of each main layer of the accessibility GeoPackage.

    ``nodes`` and ``hex`` are coloured by the score at the middle threshold (viridis, 20 % classes),
    ``pois`` by function (colour-blind-safe Okabe-Ito colours).

    Parameters
    ----------
    acc : Accessibility
        The result.
    layers : dict of str to GeoDataFrame
        The layers written.

    Returns
    -------
    dict of str to str
        Layer name -> QML.
    """
    ordered = sorted(acc.minutes)
    middle = ordered[(len(ordered) - 1) // 2]
    column = f"score_{f'{middle:g}'.replace('.', '_')}min"
    breaks, colours, labels = _score_classes()
    out = {}
    if "nodes" in layers and column in layers["nodes"]:
        out["nodes"] = graduated_qml(column, "marker", breaks, colours, labels)
    if "hex" in layers and column in layers["hex"]:
        out["hex"] = graduated_qml(column, "fill", breaks, colours, labels)
    if "pois" in layers and len(layers["pois"]):
        functions = sorted(set(layers["pois"]["function"]))
        out["pois"] = categorized_qml(
            "function", "marker", {f: FUNCTION_COLOURS_CB.get(f, "#777777") for f in functions}
        )
    return out


def write_layer_styles(path, acc, layers: dict) -> None:
    """Store :func:`layer_styles` in the GeoPackage's ``layer_styles`` table (as QGIS does), each the
    default style of its layer, so QGIS opens the layers styled.

    Parameters
    ----------
    path : str or Path
        The GeoPackage (its layers already written).
    acc : Accessibility
        The result.
    layers : dict of str to GeoDataFrame
        The layers written.
    """
    import sqlite3

    styles = layer_styles(acc, layers)
    con = sqlite3.connect(path)
    try:
        con.execute(
            "CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), "
            "f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), "
            "styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
            "update_time DATETIME DEFAULT CURRENT_TIMESTAMP)"
        )
        for layer, qml in styles.items():
            con.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                "styleName, styleQML, styleSLD, useAsDefault, description, owner) VALUES (?,?,?,?,?,?,?,?,?,?)",
                ("", "", layer, "geom", f"urbankit {layer}", qml, "", 1, "urbankit default style", ""),
            )
        con.commit()
    finally:
        con.close()
