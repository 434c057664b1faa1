"""Maps and plots of urbankit results (folium, matplotlib), loaded only when used.

``maps``
    interactive folium maps of accessibility, isochrones, the overview and superblocks, with offline
    assets; ``plots``: matplotlib figures; ``tiles``: checks of a tile-server option.

Nothing computed depends on this package: results draw themselves through their ``explore()`` and
``plot()`` methods, which import it lazily.
"""

from . import maps, plots

__all__ = ["maps", "plots"]
