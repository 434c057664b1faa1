"""urbankit's residential superblocks beside superblockify's on its test city (Adliswil)."""

from __future__ import annotations

import pytest
from conftest import ADLISWIL, existing

pytest.importorskip("superblockify")


@pytest.fixture(scope="module")
def comparison():
    from urbankit.superblocks.compat import compare_with_superblockify

    return compare_with_superblockify(existing(ADLISWIL))


def test_metrics_agree_within_one_percent(comparison):
    c = comparison
    for metric in ("directness_distance", "global_efficiency_distance"):
        ours, theirs = c.loc[metric, "urbankit"], c.loc[metric, "superblockify"]
        assert 0.9 < theirs <= 1.0 and 0.9 < ours <= 1.0
        assert abs(ours - theirs) / theirs < 0.01, (metric, ours, theirs)


def test_same_graph_and_similar_cells(comparison):
    c = comparison
    # both after superblockify's dead-end removal (largest strongly connected component)
    assert c.loc["graph_nodes", "urbankit"] == c.loc["graph_nodes", "superblockify"]
    assert abs(c.loc["cells", "urbankit"] - c.loc["cells", "superblockify"]) <= 0.2 * c.loc["cells", "superblockify"]
    assert c.loc["cell_nodes_median", "urbankit"] == pytest.approx(c.loc["cell_nodes_median", "superblockify"], abs=1)
    assert c.loc["through_nodes_shared", "urbankit"] > 0.9
