"""Population from rasters, H3 hexagon tables, GeoParquet and GraphML edge population.

Every file is written by the test in ``tmp_path`` (rasters with rasterio, tables with pandas), and the
expected residents come from an independent computation here: cell polygons built from the raster's
transform with shapely, intersected with the network's area (the convex hull of the nodes).
"""

from __future__ import annotations

import collections

import geopandas as gpd
import h3
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from conftest import ADLISWIL, SHARED

import urbankit as uk
from urbankit._errors import CorruptFileError, CRSError, InputFileError, PopulationError
from urbankit.population import population_per_node, read_population_grid
from urbankit.population import sources as population_sources

SAO_PAULO = SHARED / "transit" / "sao_paulo"


@pytest.fixture(scope="module")
def city():
    """Street nodes of a 10 x 8 block mock grid city (Barcelona, UTM 31N)."""
    uk.settings.progress = False
    extract = uk.mock.grid_extract(10, 8)
    return uk.build_network(extract, "walk", cache=False).nodes


def write_raster(path, values, transform, crs, nodata=None):
    values = np.asarray(values, dtype="float32")
    profile = {
        "driver": "GTiff", "height": values.shape[0], "width": values.shape[1], "count": 1,
        "dtype": "float32", "transform": transform,
    }
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    return path


def raster_over(nodes, crs, res, *, margin_cells=3, seed=0):
    """Values and transform of a north-up raster in ``crs`` covering the nodes with a margin; random residents,
    a block of nodata (-9999) and a block of negatives inside the network's area."""
    b = gpd.GeoSeries(shapely.points(shapely.get_coordinates(nodes.geometry.values)), crs=nodes.crs).to_crs(crs)
    minx, miny, maxx, maxy = b.total_bounds
    x0 = np.floor(minx / res) * res - margin_cells * res + res / 3  # cells not aligned to the nodes
    y1 = np.ceil(maxy / res) * res + margin_cells * res + res / 7
    width = int(np.ceil((maxx - x0) / res)) + margin_cells
    height = int(np.ceil((y1 - miny) / res)) + margin_cells
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 50, size=(height, width)).round(2).astype("float32").astype(float)  # as stored
    values[rng.random((height, width)) < 0.2] = 0.0
    mid_r, mid_c = height // 2, width // 2
    values[mid_r, mid_c:mid_c + 2] = -9999.0  # nodata
    values[mid_r + 1, mid_c] = -7.5  # negative, not nodata
    values[mid_r - 1, mid_c] = np.nan  # NaN
    return values, Affine(res, 0, x0, 0, -res, y1)


def expected_in_area(values, transform, raster_crs, nodes, buffer_m=0.0):
    """Residents of the positive cells inside the convex hull of the nodes (grown by ``buffer_m``), each cell
    counted by the share of its area inside (measured in the nodes' CRS): shapely boxes from the transform,
    independent of urbankit."""
    hull = shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(nodes.geometry.values)))
    if buffer_m:
        hull = hull.buffer(buffer_m)
    total, boxes, pops = 0.0, [], []
    res_x, res_y = transform.a, -transform.e
    for r, c in zip(*np.nonzero(np.nan_to_num(values, nan=0.0) > 0)):
        x = transform.c + c * res_x
        y = transform.f - r * res_y
        boxes.append(shapely.box(x, y - res_y, x + res_x, y))
        pops.append(values[r, c])
    cells = gpd.GeoSeries(boxes, crs=raster_crs).to_crs(nodes.crs).values
    share = shapely.area(shapely.intersection(cells, hull)) / shapely.area(cells)
    total = float(np.sum(np.asarray(pops) * share))
    return total, int((share > 0).sum()), int(((share > 0) & (share < 1 - 1e-9)).sum())


@pytest.mark.parametrize(
    ("crs", "res"),
    [("EPSG:4326", 1 / 1200), ("ESRI:54009", 100.0), ("EPSG:3035", 100.0)],
    ids=["worldpop_4326_3arcsec", "ghsl_mollweide_100m", "laea_3035_100m"],
)
def test_raster_conserves_residents_in_area(tmp_path, city, crs, res):
    values, transform = raster_over(city, crs, res)
    path = write_raster(tmp_path / "pop.tif", values, transform, crs, nodata=-9999.0)
    expected, n_cells, n_cut = expected_in_area(values, transform, crs, city)
    assert n_cut > 0  # the hull cuts cells: the area split is exercised

    est = population_per_node(city, grid=path)
    d = est.details
    assert d["label"] == "raster 'pop.tif'"
    assert d["raster_residents_in_area"] == pytest.approx(expected, rel=5e-3)
    assert d["raster_residents_in_area"] == pytest.approx(expected, rel=1e-6)  # in fact exact
    assert d["raster_cells_in_area"] == n_cells
    assert d["raster_cells_cut"] == n_cut
    # conservation, stated: residents in the raster within the area = assigned + unreached
    assert d["raster_residents_in_area"] == pytest.approx(d["residents_assigned"] + d["residents_unreached"], rel=1e-9)
    assert est.total == pytest.approx(est.per_node.sum())
    assert d["residents_unreached"] == 0  # every cell of the mock city has a node near
    assert est.total == pytest.approx(expected, rel=5e-3)
    # nodata, NaN and negative cells inside the area are ignored and counted
    assert d["raster_cells_nodata"] >= 3 and d["raster_cells_negative"] == 1
    assert d["raster_residents_negative_ignored"] == pytest.approx(7.5)


def test_raster_area_grown_by_extent_buffer(tmp_path, city):
    values, transform = raster_over(city, "ESRI:54009", 100.0, margin_cells=6, seed=11)
    path = write_raster(tmp_path / "ghsl.tif", values, transform, "ESRI:54009", nodata=-9999.0)
    expected, _, _ = expected_in_area(values, transform, "ESRI:54009", city, buffer_m=250.0)
    est = population_per_node(city, grid=path, extent_buffer_m=250.0)
    assert est.details["raster_residents_in_area"] == pytest.approx(expected, rel=1e-6)
    assert expected > expected_in_area(values, transform, "ESRI:54009", city)[0] * 1.2
    d = est.details
    assert d["residents_assigned"] + d["residents_unreached"] == pytest.approx(expected, rel=1e-9)


def test_raster_assigns_like_a_grid_of_its_cut_cells(tmp_path, city):
    """Per node, a raster gives what a grid of the same cells cut by the area gives (built here, in the test)."""
    crs, res = "EPSG:4326", 1 / 1200
    values, transform = raster_over(city, crs, res, seed=3)
    path = write_raster(tmp_path / "pop.tif", values, transform, crs, nodata=-9999.0)
    hull = shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(city.geometry.values)))
    rows, cols = np.nonzero(np.nan_to_num(values, nan=0.0) > 0)
    boxes = [
        shapely.box(
            transform.c + c * res, transform.f - (r + 1) * res, transform.c + (c + 1) * res, transform.f - r * res
        )
        for r, c in zip(rows, cols)
    ]
    cells = gpd.GeoSeries(boxes, crs=crs).to_crs(city.crs)
    pieces = shapely.intersection(cells.values, hull)
    share = shapely.area(pieces) / shapely.area(cells.values)
    keep = share > 0
    grid = gpd.GeoDataFrame({"population": values[rows, cols][keep] * share[keep]}, geometry=pieces[keep], crs=city.crs)
    want = population_per_node(city, grid=grid)
    got = population_per_node(city, grid=path)
    np.testing.assert_allclose(got.per_node.to_numpy(), want.per_node.to_numpy(), rtol=1e-6, atol=1e-6)


def test_raster_whole_file_reading(tmp_path):
    values = np.array([[1.0, -1.0, 2.0], [np.nan, 0.0, 3.5], [-9999.0, 4.0, 0.0]])
    t = Affine(100, 0, 3_600_000, 0, -100, 2_000_300)
    path = write_raster(tmp_path / "p.tif", values, t, "EPSG:3035", nodata=-9999.0)
    g = read_population_grid(path)
    assert g.crs.to_epsg() == 3035
    assert sorted(g["population"]) == [1.0, 2.0, 3.5, 4.0]
    assert g.attrs["source"] == "p.tif"
    d = g.attrs["source_details"]
    assert d["raster_cells_nodata"] == 2 and d["raster_cells_negative"] == 1
    assert d["raster_residents_total"] == pytest.approx(10.5)
    # the cell of 3.5 residents (row 1, col 2) is the square from the transform
    cell = g.geometry[g["population"] == 3.5].iloc[0]
    assert cell.normalize().equals_exact(shapely.box(3_600_200, 2_000_100, 3_600_300, 2_000_200).normalize(), 1e-6)


def test_raster_errors(tmp_path, city):
    values, transform = raster_over(city, "EPSG:4326", 1 / 1200)
    no_crs = write_raster(tmp_path / "nocrs.tif", values, transform, None)
    with pytest.raises(CRSError, match=r"nocrs\.tif.*has no CRS.*gdal_edit"):
        population_per_node(city, grid=no_crs)
    far = write_raster(tmp_path / "far.tif", values, Affine(1 / 1200, 0, 100.0, 0, -1 / 1200, -30.0), "EPSG:4326")
    with pytest.raises(PopulationError, match=r"raster 'far\.tif' does not overlap the street network"):
        population_per_node(city, grid=far)
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a tiff at all" * 20)
    with pytest.raises(CorruptFileError, match=r"cannot read population raster .*junk\.tif.*gdalinfo"):
        population_per_node(city, grid=junk)
    with pytest.raises(InputFileError, match="does not exist"):
        population_per_node(city, grid=tmp_path / "missing.tif")


def test_raster_without_residents_in_area_gives_zeros(tmp_path, city):
    values, transform = raster_over(city, "EPSG:4326", 1 / 1200)
    path = write_raster(tmp_path / "zero.tif", np.zeros_like(values), transform, "EPSG:4326")
    est = population_per_node(city, grid=path)
    assert est.total == 0 and (est.per_node == 0).all()


# ------------------------------------------------------------------------------------------------- H3 tables


def hexagons_over(nodes, res=9, seed=1):
    lonlat = gpd.GeoSeries([shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(nodes.geometry.values)))],
                           crs=nodes.crs).to_crs("EPSG:4326").iloc[0].buffer(0.003)
    cells = sorted(h3.geo_to_cells(lonlat, res))
    rng = np.random.default_rng(seed)
    pop, jobs = rng.integers(0, 400, len(cells)), rng.integers(0, 9, len(cells))
    return pd.DataFrame({"id_hex": cells, "P001": pop, "jobs": jobs})


def hex_polygons(table, id_col, pop_col):
    polys = [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in table[id_col]]
    return gpd.GeoDataFrame({"population": table[pop_col].astype(float)}, geometry=polys, crs="EPSG:4326")


def test_hex_csv_and_parquet_equal_polygons(tmp_path, city):
    table = hexagons_over(city)
    assert len(table) > 5
    want = population_per_node(city, grid=hex_polygons(table, "id_hex", "P001"))
    csv = tmp_path / "ipea.csv"
    table.to_csv(csv, index=False)  # IPEA naming: id_hex, P001 (detected)
    got_csv = population_per_node(city, grid=csv)
    parquet = tmp_path / "kontur.parquet"
    kontur = pd.DataFrame({"h3": [h3.str_to_int(c) for c in table["id_hex"]], "population": table["P001"]})
    kontur.to_parquet(parquet)  # Kontur naming, ids as 64-bit integers, no geometry
    got_parquet = population_per_node(city, grid=parquet)
    for got in (got_csv, got_parquet):
        np.testing.assert_allclose(got.per_node.to_numpy(), want.per_node.to_numpy(), rtol=1e-9)
        assert got.details["residents_total"] == table["P001"].sum()
        assert got.details["residents_assigned"] + got.details["residents_unreached"] + got.details[
            "residents_outside_extent"] == pytest.approx(table["P001"].sum())
    assert got_csv.details["label"] == "H3 table 'ipea.csv'" and got_csv.details["h3_column"] == "id_hex"
    assert got_parquet.details["h3_column"] == "h3"
    # read_population_grid gives the hexagons
    g = read_population_grid(csv)
    assert len(g) == len(table) and g.crs.to_epsg() == 4326
    assert g["population"].sum() == table["P001"].sum()


def test_hex_columns_by_argument_and_errors(tmp_path, city):
    table = hexagons_over(city)
    parents = [h3.cell_to_parent(c, 7) for c in table["id_hex"]]
    # a second column of H3 ids with an unknown name: the known name 'id_hex' is taken
    table.assign(parent=parents).to_csv(tmp_path / "parent.csv", index=False)
    assert read_population_grid(tmp_path / "parent.csv").attrs["source_details"]["h3_column"] == "id_hex"
    two = table.assign(h3=parents, people=table["P001"] * 2)
    path = tmp_path / "two.csv"
    two.drop(columns="P001").to_csv(path, index=False)
    with pytest.raises(PopulationError, match=r"several columns of H3 cell ids \('id_hex', 'h3'\).*h3_column"):
        read_population_grid(path, column="people")
    g = read_population_grid(path, column="people", h3_column="id_hex")
    assert g["population"].sum() == 2 * table["P001"].sum()
    est = population_per_node(city, grid=path, column="people", h3_column="id_hex")
    assert est.details["residents_total"] == 2 * table["P001"].sum()
    with pytest.raises(PopulationError, match=r"has no column 'nope'.*h3_column"):
        read_population_grid(path, h3_column="nope", column="people")

    bad = table.copy()
    bad.loc[2, "id_hex"] = "89zz"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(PopulationError, match=r"'bad\.csv': 1 of \d+ values of H3 column 'id_hex' are not valid"):
        population_per_node(city, grid=tmp_path / "bad.csv", h3_column="id_hex")
    pd.DataFrame({"name": ["a", "b"], "population": [1, 2]}).to_csv(tmp_path / "noh3.csv", index=False)
    with pytest.raises(PopulationError, match=r"'noh3\.csv' has no column of H3 cell ids"):
        population_per_node(city, grid=tmp_path / "noh3.csv")
    table.rename(columns={"P001": "count"}).to_csv(tmp_path / "nocount.csv", index=False)
    with pytest.raises(PopulationError, match=r"no recognised population column.*column="):
        population_per_node(city, grid=tmp_path / "nocount.csv")


def test_geoparquet_equals_geopackage(tmp_path, city):
    grid = hex_polygons(hexagons_over(city, seed=5), "id_hex", "P001").to_crs(city.crs)
    grid.to_file(tmp_path / "g.gpkg")
    grid.to_parquet(tmp_path / "g.parquet")
    assert population_sources.source_kind(tmp_path / "g.parquet") == "vector"
    a, b = read_population_grid(tmp_path / "g.gpkg"), read_population_grid(tmp_path / "g.parquet")
    np.testing.assert_allclose(a["population"], b["population"])
    assert a.geometry.geom_equals_exact(b.geometry, 1e-9).all()
    ea, eb = population_per_node(city, grid=tmp_path / "g.gpkg"), population_per_node(city, grid=tmp_path / "g.parquet")
    pd.testing.assert_series_equal(ea.per_node, eb.per_node)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 but not really" * 5)
    with pytest.raises(CorruptFileError, match=r"broken\.parquet.*Parquet"):
        population_per_node(city, grid=tmp_path / "broken.parquet")


# ------------------------------------------------------------------------------------------------- GraphML


def expected_graphml_nodes(path):
    """Residents per node read with networkx: each cell_id's population once, half to each end of its street."""
    g = nx.read_graphml(path)
    cells = {}
    for u, v, _, d in g.edges(keys=True, data=True):
        cells.setdefault(d["cell_id"], (u, v, float(d["population"])))
    per = collections.defaultdict(float)
    for u, v, p in cells.values():
        per[int(u)] += p / 2
        per[int(v)] += p / 2
    return pd.Series(per), sum(p for _, _, p in cells.values())


def test_graphml_edge_population_adliswil():
    if not ADLISWIL.is_file():
        pytest.skip(f"{ADLISWIL} absent: needs the shared data folder beside the checkout")
    want, total = expected_graphml_nodes(ADLISWIL)
    extract = uk.load(ADLISWIL)
    pts = extract.meta["node_population"]
    assert pts["population"].sum() == pytest.approx(total, rel=1e-12)
    pd.testing.assert_series_equal(pts["population"].sort_index(), want.sort_index(), check_names=False,
                                   check_index_type=False, rtol=1e-12)
    net = uk.build_network(extract, "drive", cache=False)
    est = population_per_node(net.nodes, node_population=pts)
    assert est.source == "graphml"
    d = est.details
    assert d["residents_total"] == pytest.approx(total, rel=1e-12)
    assert d["residents_assigned"] + d["residents_unreached"] == pytest.approx(total, rel=1e-12)
    same = want.index.intersection(net.nodes.index)
    assert d["nodes_snapped"] == 0 and len(same) == len(want)  # the drive network keeps every graph node
    np.testing.assert_allclose(est.per_node.loc[same].to_numpy(), want.loc[same].to_numpy(), rtol=1e-12)
    assert "edge population of 'Adliswil.graphml'" in est.describe()
    assert est.description.startswith(f"residents: {total:,.0f}, from edge population of 'Adliswil.graphml'")


def _tiny_graph(pop_uv, pop_vu, cell_ids=None):
    g = nx.MultiDiGraph(crs="EPSG:32632")
    for n, (x, y) in {1: (464000.0, 5239000.0), 2: (464100.0, 5239000.0), 3: (464100.0, 5239100.0)}.items():
        g.add_node(n, x=x, y=y, street_count=2)
    edges = [(1, 2, pop_uv), (2, 1, pop_vu), (2, 3, 30.0)]
    for k, (u, v, p) in enumerate(edges):
        attrs = {"osmid": 10 + k, "highway": "residential", "length": 100.0, "population": p}
        if cell_ids is not None:
            attrs["cell_id"] = cell_ids[k]
        g.add_edge(u, v, **attrs)
    return g


def test_graphml_two_way_streets_count_once(tmp_path):
    import osmnx as ox

    path = tmp_path / "tiny.graphml"
    ox.save_graphml(_tiny_graph(10.0, 10.0), path)  # no cell_id: u->v and v->u are one street
    pts = uk.load(path).meta["node_population"]
    assert pts["population"].to_dict() == {1: 5.0, 2: 5.0 + 15.0, 3: 15.0}
    bad = tmp_path / "bad.graphml"
    ox.save_graphml(_tiny_graph(10.0, 12.0, cell_ids=["a", "a", "b"]), bad)
    with pytest.raises(CorruptFileError, match=r"carry different populations .*'a': 10 and 12"):
        uk.load(bad)
    neg = tmp_path / "neg.graphml"
    ox.save_graphml(_tiny_graph(-1.0, -1.0), neg)
    with pytest.raises(CorruptFileError, match=r"unusable 'population' value"):
        uk.load(neg)


# ------------------------------------------------------------------------------------------------- real data


def test_sao_paulo_hexagons_conserved():
    csv, pbf = SAO_PAULO / "spo_hexgrid.csv", SAO_PAULO / "spo_osm.pbf"
    gpkg_zip = SAO_PAULO / "spo_hexgrid_EPSG32723.gpkg.zip"
    if not (csv.is_file() and pbf.is_file()):
        pytest.skip(f"{SAO_PAULO} absent: needs the shared data folder beside the checkout")
    total = pd.read_csv(csv)["population"].sum()
    nodes = uk.build_network(uk.load(pbf), "walk").nodes
    est = population_per_node(nodes, grid=csv)
    d = est.details
    assert d["residents_total"] == total
    assert d["residents_assigned"] + d["residents_unreached"] + d["residents_outside_extent"] == pytest.approx(total)
    assert est.total == pytest.approx(total, rel=5e-3)
    if gpkg_zip.is_file():  # the same hexagons published as polygons give the same residents per node
        poly = gpd.read_file(f"zip://{gpkg_zip}")
        want = population_per_node(nodes, grid=poly, column="population")
        np.testing.assert_allclose(est.per_node.to_numpy(), want.per_node.to_numpy(), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------------------- entry points


def test_x_minute_city_uses_graphml_edge_population():
    if not ADLISWIL.is_file():
        pytest.skip(f"{ADLISWIL} absent: needs the shared data folder beside the checkout")
    _, total = expected_graphml_nodes(ADLISWIL)
    acc = uk.x_minute_city(ADLISWIL, mode="drive", minutes=[15])
    assert acc.population_source == "graphml"
    assert acc.nodes["population"].sum() == pytest.approx(total, rel=1e-9)  # not 1 resident per node


def test_cli_population_raster(tmp_path, capsys):
    if not ADLISWIL.is_file():
        pytest.skip(f"{ADLISWIL} absent: needs the shared data folder beside the checkout")
    from urbankit.cli import main

    nodes = uk.build_network(uk.load(ADLISWIL), "drive").nodes
    values, transform = raster_over(nodes, "EPSG:4326", 1 / 1200, seed=7)
    tif = write_raster(tmp_path / "worldpop.tif", values, transform, "EPSG:4326", nodata=-9999.0)
    expected, _, _ = expected_in_area(values, transform, "EPSG:4326", nodes)
    est = population_per_node(nodes, grid=tif)
    assert est.details["raster_residents_in_area"] == pytest.approx(expected, rel=1e-6)
    out = tmp_path / "acc.gpkg"
    code = main(["accessibility", str(ADLISWIL), "--mode", "drive", "--minutes", "15", "--population", str(tif),
                 "--out", str(out)])
    assert code == 0
    assert f"{est.total:,.0f} residents (grid)" in capsys.readouterr().out
    assert gpd.read_file(out, layer="nodes")["population"].sum() == pytest.approx(est.total, rel=1e-6)
