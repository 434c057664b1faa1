"""The superblocks CLI contract, its bad input, and the superblocks report on Monaco and Adliswil."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from conftest import ADLISWIL, existing

import urbankit
from urbankit.cli import main
from urbankit.reporting.runner import run_report


@pytest.mark.slow  # the whole Barcelona scenario (equilibrium by default): seconds on 2 shared cores
@pytest.mark.requires_dataset("barcelona")
def test_cli_superblocks_contract_barcelona(tmp_path, capsys):
    out = tmp_path / "eixample.gpkg"
    assert main(["superblocks", "barcelona", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "superblock cells" in printed and "vehicle-km/day" in printed and "CO2 kg/day" in printed
    assert "median detour" in printed and "residents inside" in printed
    layers = dict(pyogrio.list_layers(out))
    assert set(layers) == {"superblocks", "edges", "summary", "metadata"}
    meta = dict(pyogrio.read_dataframe(out, layer="metadata")[["key", "value"]].to_numpy())
    assert meta["source"] == str(urbankit.datasets.get_path("barcelona"))
    assert meta["population_description"].startswith("residents: ")
    sb = gpd.read_file(out, layer="superblocks")
    assert sb.crs.to_epsg() == 4326
    assert {"superblock_id", "area_ha", "residents", "street_area_freed_m2"} <= set(sb.columns)
    assert sb.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    # about 3 x 3 Eixample blocks: 11.5 ha between street axes at 113 m, 16 ha at Cerda's 133 m;
    # the 2012 extract gives 12.3, 12.4 and 19.5 ha (one cell spans 3 x 4 blocks at the edge)
    assert len(sb) >= 3
    assert ((sb["area_ha"] >= 10) & (sb["area_ha"] <= 25)).mean() >= 0.75
    assert (sb["residents"] > 0).all() and (sb["street_area_freed_m2"] > 0).all()
    edges = gpd.read_file(out, layer="edges")
    assert edges.crs.to_epsg() == 4326
    assert {"u", "v", "highway", "superblock_id", "flow_before", "flow_after", "d_noise_db"} <= set(edges.columns)
    drive = urbankit.build_network(urbankit.load("barcelona"), "drive")
    # one row per street (#16): the directed edges grouped by unordered end nodes, way and length
    streets = {(min(u, v), max(u, v), w, round(x, 6)) for u, v, w, x in zip(*(drive.edges[c] for c in (
        "u", "v", "way_id", "length_m")))}
    assert len(edges) == len(streets) < len(drive.edges)
    two_way = edges["both_directions"]
    assert two_way.any() and edges.loc[two_way, "flow_before_backward"].notna().all()
    np.testing.assert_allclose(
        edges["flow_before"], edges["flow_before_forward"] + edges["flow_before_backward"].fillna(0), rtol=1e-9
    )
    inside = edges["superblock_id"].notna()
    assert inside.any() and (~inside).any()
    assert set(edges.loc[inside, "superblock_id"].astype(int)) <= set(sb["superblock_id"])
    # internal streets lose their through traffic; the noise change follows the flows' sign
    assert edges.loc[inside, "flow_after"].sum() < edges.loc[inside, "flow_before"].sum()
    # (CNOSSOS Lden: a street whose flow did not rise gets no louder; a few internal streets gain a
    # handful of access trips, never a perceptible 1 dB)
    internal = edges.loc[inside]
    rose = internal["flow_after"] > internal["flow_before"]
    assert (internal.loc[~rose, "d_noise_db"] <= 1e-9).all()
    assert (internal["d_noise_db"] < 1.0).all()
    summary = pyogrio.read_dataframe(out, layer="summary")
    assert len(summary) == 1
    for c in ("vkm_before", "vkm_after", "trips", "trips_affected", "median_detour", "co2_kg_day_before",
              "co2_kg_day_after", "directness_distance", "global_efficiency_distance"):
        assert c in summary.columns and np.isfinite(summary[c].iloc[0]), c
    s = summary.iloc[0]
    assert 0 < s.trips_affected <= s.trips
    assert s.median_detour >= 1
    assert 0 < s.directness_distance <= 1 and 0 < s.global_efficiency_distance <= 1
    # vehicle-km recomputed from the written edges
    km = edges["length_m"] / 1000
    assert float((edges["flow_before"] * km).sum()) == pytest.approx(s.vkm_before, rel=1e-9)
    assert float((edges["flow_after"] * km).sum()) == pytest.approx(s.vkm_after, rel=1e-9)
    assert f"{s.vkm_before:,.0f}" in printed and f"{s.vkm_after:,.0f}" in printed


@pytest.mark.slow  # several seconds on 2 shared cores
@pytest.mark.requires_dataset("barcelona")
def test_cli_superblocks_evaporation_lowers_vkm(tmp_path, capsys):
    a, b = tmp_path / "a.gpkg", tmp_path / "b.gpkg"
    # the flag reaches the scenario: a flat 30 % of the affected trips evaporating drives less than none
    assert main(["superblocks", "barcelona", "--evaporation", "0", "--out", str(a)]) == 0
    assert main(["superblocks", "barcelona", "--evaporation", "0.3", "--out", str(b)]) == 0
    sa = pyogrio.read_dataframe(a, layer="summary").iloc[0]
    sb = pyogrio.read_dataframe(b, layer="summary").iloc[0]
    assert sb.vkm_after < sa.vkm_after
    assert sb.vkm_before == pytest.approx(sa.vkm_before)


@pytest.mark.requires_dataset("barcelona")
def test_cli_superblocks_bad_input(tmp_path, capsys):
    out = tmp_path / "x.gpkg"
    assert main(["superblocks", "barcelona", "--evaporation", "-0.1", "--out", str(out)]) == 2
    assert "evaporation" in capsys.readouterr().err
    assert not out.exists()
    far = gpd.GeoDataFrame(geometry=[shapely.box(2.0, 48.0, 2.01, 48.01)], crs="EPSG:4326")  # Paris, not Barcelona
    far.to_file(tmp_path / "far.gpkg")
    assert (
        main(["superblocks", "barcelona", "--method", "polygons", str(tmp_path / "far.gpkg"), "--out", str(out)]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("urbankit: error:") and "polygon" in err
    assert not out.exists()
    assert (
        main(["superblocks", "barcelona", "--method", "polygons", str(tmp_path / "none.gpkg"), "--out", str(out)]) == 2
    )
    assert main(["superblocks", "barcelona", "--method", "hexagons", "--out", str(out)]) == 2
    assert main(["superblocks", "barcelona", "--out", str(tmp_path / "x.csv")]) == 2
    assert not out.exists()


@pytest.mark.slow
def test_superblocks_report_monaco(tmp_path):
    folder = run_report("superblocks", parameters={"source": "monaco", "tiles": None}, out_dir=tmp_path)
    assert (folder / "superblocks.gpkg").exists()
    assert next(folder.glob("*.html")).stat().st_size > 10_000


@pytest.mark.slow
def test_superblocks_report_adliswil_beside_superblockify(tmp_path):
    pytest.importorskip("superblockify")
    path = existing(ADLISWIL)
    folder = run_report(
        "superblocks",
        parameters={"source": str(path), "method": "residential", "compare_superblockify": True, "tiles": None},
        out_dir=tmp_path,
    )
    html = next(folder.glob("*.html")).read_text()
    assert "superblockify" in html and "global_efficiency_distance" in html
    sb = gpd.read_file(folder / "superblocks.gpkg", layer="superblocks")
    assert len(sb) >= 3  # residential cells within the default 4..40 ha bounds (Adliswil: 5)
