"""The plain script a user would write instead of ``urbankit accessibility`` (the baseline of bench_cli).

Usage: ``python benchmarks/plain_accessibility.py FILE.osm OUT.gpkg [--minutes 30]``.

Parses the OSM file with pyosmium (street ways and tagged destination nodes), builds an undirected
graph of the walkable streets (edge minutes at 4.8 km/h from haversine lengths), snaps every
destination to its nearest street node (scipy KD-tree in a local metric projection), runs scipy's
exact multi-source Dijkstra from each service's destination nodes bounded by the largest threshold,
and writes one GeoPackage layer (``nodes``: node id, nearest minutes per service, point geometry)
with geopandas' defaults. No caching, no checks beyond what the libraries do.
"""

from __future__ import annotations

import argparse

import geopandas as gpd
import numpy as np
import osmium
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

WALK_KMH = 4.8
NOT_WALKABLE = {"motorway", "motorway_link", "trunk", "trunk_link", "construction", "proposed"}
#: the destinations of the benchmark extract by service (key, value) -> service
SERVICES = {
    ("shop", "supermarket"): "grocery", ("shop", "bakery"): "bakery", ("shop", "clothes"): "retail",
    ("amenity", "pharmacy"): "pharmacy", ("amenity", "doctors"): "doctor", ("amenity", "dentist"): "dentist",
    ("amenity", "hospital"): "hospital", ("amenity", "kindergarten"): "kindergarten",
    ("amenity", "school"): "school", ("amenity", "university"): "university",
    ("amenity", "restaurant"): "restaurant_cafe", ("amenity", "cafe"): "restaurant_cafe",
    ("amenity", "library"): "culture", ("amenity", "bank"): "bank_post", ("leisure", "playground"): "playground",
    ("leisure", "park"): "park", ("leisure", "sports_centre"): "sport", ("highway", "bus_stop"): "transit_stop",
    ("office", "company"): "workplace", ("amenity", "townhall"): "workplace",
}


class Reader(osmium.SimpleHandler):
    def __init__(self):
        super().__init__()
        self.u, self.v = [], []
        self.node_lon, self.node_lat = {}, {}
        self.poi = []  # (service, lon, lat)

    def node(self, n):
        for k, v in n.tags:
            service = SERVICES.get((k, v))
            if service:
                self.poi.append((service, n.location.lon, n.location.lat))

    def way(self, w):
        hw = w.tags.get("highway")
        if hw is None or hw in NOT_WALKABLE:
            return
        refs = [(nd.ref, nd.location.lon, nd.location.lat) for nd in w.nodes]
        for ref, lon, lat in refs:
            self.node_lon[ref], self.node_lat[ref] = lon, lat
        for (a, *_), (b, *_) in zip(refs[:-1], refs[1:]):
            self.u.append(a)
            self.v.append(b)


def haversine_m(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * np.arcsin(np.sqrt(a))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("osm")
    ap.add_argument("out")
    ap.add_argument("--minutes", type=float, default=30.0)
    args = ap.parse_args()

    r = Reader()
    r.apply_file(args.osm, locations=True)
    ids = np.fromiter(r.node_lon, dtype=np.int64)
    lon = np.fromiter(r.node_lon.values(), dtype=float)
    lat = np.fromiter(r.node_lat.values(), dtype=float)
    pos = {n: i for i, n in enumerate(ids)}
    u = np.array([pos[a] for a in r.u])
    v = np.array([pos[b] for b in r.v])
    minutes = haversine_m(lon[u], lat[u], lon[v], lat[v]) / (WALK_KMH * 1000 / 60)
    n = len(ids)
    graph = coo_matrix((np.r_[minutes, minutes], (np.r_[u, v], np.r_[v, u])), shape=(n, n)).tocsr()

    # snap destinations to the nearest node in a local equirectangular projection (metres)
    k = np.cos(np.radians(lat.mean())) * 111_320.0
    tree = cKDTree(np.c_[lon * k, lat * 110_540.0])
    out = {"node_id": ids}
    services = sorted({s for s, _, _ in r.poi})
    for service in services:
        pts = np.array([(x, y) for s, x, y in r.poi if s == service])
        _, nearest = tree.query(np.c_[pts[:, 0] * k, pts[:, 1] * 110_540.0])
        dist = dijkstra(graph, directed=False, indices=np.unique(nearest), limit=args.minutes, min_only=True)
        out[f"time_{service}_min"] = np.where(np.isfinite(dist), dist, np.nan)
    gdf = gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    gdf.to_file(args.out, layer="nodes", driver="GPKG")
    print(f"{n:,} nodes, {len(r.poi):,} destinations, {len(services)} services; wrote {args.out}")


if __name__ == "__main__":
    main()
