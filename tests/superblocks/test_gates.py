"""External zones (gates) on a hand-made extract with a ragged outline: a 1 km grid with a bay cut
out of its north side, cul-de-sacs inside, secondary roads cut where the extract ends and a dual
carriageway. The gates are known by construction (the ends of the roads cut by the extract); their
capacities are read from the crossing edges themselves."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Transformer

import urbankit as uk
from urbankit.assignment import link_performance
from urbankit.osm import STREET_TAGS, OSMExtract, StreetCollector, empty_buildings, empty_features
from urbankit.superblocks._common import DEFAULT_THROUGH_HIGHWAYS
from urbankit.superblocks.external import (
    DAILY_TRIPS_PER_CAPACITY_VPH,
    DEFAULT_CLOSING_M,
    _study_area,
    external_zones,
    open_demand,
)

CRS = "EPSG:32631"
X0, Y0 = 430000.0, 4580000.0  # Barcelona's UTM zone


def _extract(ways) -> OSMExtract:
    """An extract from ``(highway, oneway, [(x, y), ...])`` ways in metres (one node per distinct point)."""
    to_wgs = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    ids: dict = {}
    streets = StreetCollector()
    for k, (highway, oneway, pts) in enumerate(ways, start=1):
        tags = dict.fromkeys(STREET_TAGS)
        tags.update(highway=highway, maxspeed="50", name=f"way {k}", oneway="yes" if oneway else None)
        node = [ids.setdefault(p, len(ids) + 1) for p in pts]
        lon, lat = to_wgs.transform([X0 + x for x, _ in pts], [Y0 + y for _, y in pts])
        streets.add_run(k, tuple(tags[t] for t in STREET_TAGS), node, list(lon), list(lat))
    ways_df, way_nodes = streets.frames()
    return OSMExtract(
        ways=ways_df,
        way_nodes=way_nodes,
        features=empty_features(),
        buildings=empty_buildings(),
        source="mock:ragged",
        sha256=str(abs(hash(str(ways)))),
        meta={"utm_crs": CRS},
    )


def _in_bay(x, y) -> bool:
    return 300 < x < 600 and y >= 600  # the bay: 300 m wide, open to the north


#: the ends of the roads the extract cuts: the gates by construction (x, y in metres)
CUT_ENDS = [(-100, 200), (1100, 200), (800, -100), (800, 1100)]
DUAL = [(90, -150), (110, -150)]  # the two carriageways' ends (one road crossing, 20 m apart)


def ragged_ways():
    ways = []
    xs = range(0, 1001, 100)
    for y in range(0, 1001, 100):  # rows (the secondary row y = 200 below)
        if y == 200:
            continue
        pts = [(x, y) for x in xs if not _in_bay(x, y)]
        if y == 0:
            pts = [(0, 0), (90, 0), (110, 0)] + pts[2:]  # the dual carriageway joins at x = 90 and 110
        if y in (100, 500):
            pts = pts[:5] + [(450, y)] + pts[5:]  # the tertiary spur's and harbour road's junctions
        runs, run = [], []
        for p in pts:  # rows north of the bay's head are cut in two by it
            if run and p[0] - run[-1][0] > 100:
                runs.append(run)
                run = []
            run.append(p)
        runs.append(run)
        ways += [("residential", False, r) for r in runs if len(r) > 1]
    for x in xs:  # columns (the secondary column x = 800 below)
        if x == 800 or 300 < x < 600:
            continue
        ways.append(("residential", False, [(x, y) for y in range(100 if x == 100 else 0, 1001, 100)]))
    for x in (400, 500):  # columns ending at the bay's head
        ways.append(("residential", False, [(x, y) for y in range(0, 501, 100)]))
    # secondary roads through the city, cut where the extract ends
    ways.append(("secondary", False, [(-100, 200)] + [(x, 200) for x in xs] + [(1100, 200)]))
    ways.append(("secondary", False, [(800, -100)] + [(800, y) for y in range(0, 1001, 100)] + [(800, 1100)]))
    # a dual carriageway from the south: two one-way secondary roads 20 m apart, linked where the extract
    # cuts them (cut one-way stubs would fall out of the strongly connected network)
    ways.append(("secondary", True, [(90, -150), (90, 0)]))
    ways.append(("secondary", True, [(110, 0), (110, -150)]))
    ways.append(("residential", False, [(90, -150), (110, -150)]))  # keeps both strongly connected
    # cul-de-sacs inside: a tertiary spur in the city, a tertiary harbour road into the bay, residential jetties
    ways.append(("tertiary", False, [(450, 100), (450, 160)]))
    ways.append(("tertiary", False, [(450, 500), (450, 800)]))
    ways.append(("residential", False, [(300, 700), (350, 700)]))
    ways.append(("residential", False, [(600, 900), (550, 900)]))
    ways.append(("residential", False, [(200, 300), (250, 350)]))
    return ways


@pytest.fixture(scope="module")
def ragged():
    return uk.build_network(_extract(ragged_ways()), "drive", cache=False)


def _at(net, pt):
    xy = net.nodes[["x", "y"]].to_numpy(float) - [X0, Y0]
    d = np.hypot(xy[:, 0] - pt[0], xy[:, 1] - pt[1])
    assert d.min() < 0.5, pt
    return net.nodes.index[int(d.argmin())]


def _cap(net, lp, a, b) -> float:
    """Capacity (veh/h) of the edge a -> b."""
    e = net.edges
    m = ((e["u"] == a) & (e["v"] == b)).to_numpy()
    if not net.directed:
        m |= ((e["u"] == b) & (e["v"] == a)).to_numpy()
    return float(lp["capacity_vph"].to_numpy()[m].sum()) if m.any() else 0.0


def test_study_area_is_one_closed_polygon(ragged):
    area = _study_area(ragged, DEFAULT_CLOSING_M)
    assert shapely.get_num_geometries(area) == 1 and shapely.get_num_interior_rings(area) == 0
    pts = shapely.points(ragged.nodes[["x", "y"]].to_numpy(float))
    assert shapely.within(pts, area).all()
    # the 300 m bay (narrower than twice the closing radius) is filled: its middle is inside
    assert area.contains(shapely.Point(X0 + 450, Y0 + 900))


def test_gates_of_the_ragged_extract_by_construction(ragged):
    gz = external_zones(ragged)
    lp = link_performance(ragged) if ragged.directed else None
    if lp is None:
        pytest.skip("drive networks are directed")
    inner = {(-100, 200): (0, 200), (1100, 200): (1000, 200), (800, -100): (800, 0), (800, 1100): (800, 1000)}
    expected = {}
    for end, nb in inner.items():
        g, n = _at(ragged, end), _at(ragged, nb)
        expected[g] = (_cap(ragged, lp, g, n), _cap(ragged, lp, n, g))
    # the dual carriageway is one gate: in along the northbound one, out along the southbound one
    north_in = _cap(ragged, lp, _at(ragged, DUAL[0]), _at(ragged, (90, 0)))
    south_out = _cap(ragged, lp, _at(ragged, (110, 0)), _at(ragged, DUAL[1]))
    assert north_in > 0 and south_out > 0
    got = {n: (ci, co) for n, ci, co in zip(gz["node_id"], gz["capacity_in_vph"], gz["capacity_out_vph"])}
    dual = {_at(ragged, p) for p in DUAL} & set(got)
    assert len(dual) == 1, "the two carriageways of one road are one gate"
    expected[dual.pop()] = (north_in, south_out)
    assert set(got) == set(expected)
    for n, (ci, co) in expected.items():
        assert got[n] == pytest.approx((ci, co)), n
    assert np.allclose(gz["trips_in"], gz["capacity_in_vph"] * DAILY_TRIPS_PER_CAPACITY_VPH)
    assert np.allclose(gz["trips_out"], gz["capacity_out_vph"] * DAILY_TRIPS_PER_CAPACITY_VPH)
    # the cul-de-sacs inside (the tertiary spur, the harbour road into the bay) are no gates
    for p in [(450, 160), (450, 800)]:
        assert _at(ragged, p) not in set(gz["node_id"])


def test_gates_scale_with_the_crossing_roads_class(ragged):
    # the same layout with the road west of the city a primary: its gate carries the primary's capacity
    ways = [w for w in ragged_ways() if w[2][0] != (-100, 200)]
    ways.append(("primary", False, [(-100, 200)] + [(x, 200) for x in range(0, 501, 100)]))
    ways.append(("secondary", False, [(x, 200) for x in range(500, 1001, 100)] + [(1100, 200)]))
    net = uk.build_network(_extract(ways), "drive", cache=False)
    gz = external_zones(net).set_index("node_id")
    lp = link_performance(net)
    g, n = _at(net, (-100, 200)), _at(net, (0, 200))
    assert gz.loc[g, "highway"] == "primary"
    assert gz.loc[g, "capacity_in_vph"] == pytest.approx(_cap(net, lp, g, n))
    east = _at(net, (1100, 200))
    assert gz.loc[g, "trips_in"] > gz.loc[east, "trips_in"] > 0


def test_merge_m_zero_keeps_both_carriageways(ragged):
    gz = external_zones(ragged, merge_m=0.0)
    assert {_at(ragged, p) for p in DUAL} <= set(gz["node_id"])
    assert len(gz) == len(external_zones(ragged)) + 1


def test_open_demand_on_the_ragged_extract_balances(ragged):
    od = open_demand(ragged, h3_resolution=None, through_share=0.3)
    gz = external_zones(ragged)
    by = od.groupby("trip_type")["trips"].sum()
    vol = 0.5 * (gz["trips_in"] + gz["trips_out"]).sum()
    assert by["inbound"] + by["through"] == pytest.approx(vol)
    assert by["inbound"] == pytest.approx(by["outbound"])


@pytest.mark.parametrize("bad", [{"closing_m": -1.0}, {"merge_m": -5.0}, {"closing_m": "x"}])
def test_bad_options(ragged, bad):
    with pytest.raises(uk.InvalidOptionError):
        external_zones(ragged, **bad)


@pytest.mark.requires_dataset("monaco")
def test_monaco_gates_on_one_outline_one_per_crossing():
    # Monaco's ragged coastline: the study area is still one polygon, every gate lies on its outline,
    # and no two gates are one road crossing (closer than merge_m)
    net = uk.build_network(uk.read_osm(uk.datasets.get_path("monaco", download=False)), "drive", cache=False)
    area = _study_area(net, DEFAULT_CLOSING_M)
    assert shapely.get_num_geometries(area) == 1
    gz = external_zones(net, margin_m=30.0, merge_m=50.0)
    assert len(gz) > 0
    pts = shapely.points(gz[["x", "y"]].to_numpy(float))
    assert (shapely.distance(pts, shapely.boundary(area)) <= 30.0).all()
    xy = gz[["x", "y"]].to_numpy(float)
    apart = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    assert apart[~np.eye(len(xy), dtype=bool)].min() >= 50.0
    assert gz["highway"].isin(DEFAULT_THROUGH_HIGHWAYS).all()
