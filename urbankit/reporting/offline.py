"""Self-contained, offline report HTML: :mod:`urbankit.viz.offline`, where maps saved by
``explore()`` get the same embedded assets as reports (this module keeps the reporting name)."""

from __future__ import annotations

from ..viz.offline import (
    DEBIAN_JS,
    NO_TILES_CLASS,
    NO_TILES_NOTE,
    OfflineHTML,
    external_references,
    find_asset,
    make_offline,
)

__all__ = [
    "DEBIAN_JS",
    "NO_TILES_CLASS",
    "NO_TILES_NOTE",
    "OfflineHTML",
    "external_references",
    "find_asset",
    "make_offline",
]
