"""The report runner and the CLI: parameters validated first, atomic report folders, clear errors."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import urbankit
from urbankit import ReportError
from urbankit.cli import main
from urbankit.reporting.inputs import fingerprint
from urbankit.reporting.offline import external_references, find_asset, make_offline
from urbankit.reporting.parameters import notebook_parameters, validate_parameters
from urbankit.reporting.runner import _RunLock, read_run, run_report


def test_overview_parameters_are_plain_literals():
    params = notebook_parameters("overview")
    assert params["source"] == "monaco"
    assert params["modes"] == ["walk", "bike", "drive"]


@pytest.mark.parametrize(
    "bad, fragment",
    [({"sorce": "monaco"}, "unknown parameter 'sorce'"), ({"modes": "walk"}, "parameter 'modes' must be list")],
)
def test_bad_parameters_fail_before_running(bad, fragment, tmp_path):
    with pytest.raises(ReportError, match=fragment):
        run_report("overview", parameters=bad, out_dir=tmp_path)
    assert not any(tmp_path.rglob("*.ipynb"))  # nothing ran


def test_unknown_notebook():
    with pytest.raises(ReportError, match="not found"):
        validate_parameters("no_such_notebook", {})


@pytest.mark.slow
@pytest.mark.requires_dataset("barcelona")
def test_overview_report_on_barcelona(tmp_path):
    out = run_report(
        "overview",
        parameters={"source": "barcelona", "modes": ["walk", "drive"], "tiles": None},
        out_dir=tmp_path,
        run_id="r1",
    )
    assert out == tmp_path.resolve() / "barcelona" / "overview" / "r1"
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "ok" and record["parameters"]["source"] == "barcelona"
    assert record["input_sha256"]["source"] == urbankit.osm.file_sha256(urbankit.datasets.get_path("barcelona"))
    html = (out / "overview.html").read_text()
    assert "leaflet" in html.lower() and "Street networks" in html
    gpkg = out / "overview.gpkg"
    import pyogrio

    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert {"nodes_walk", "edges_walk", "nodes_drive", "edges_drive", "destinations", "metadata"} <= layers
    meta = pyogrio.read_dataframe(gpkg, layer="metadata")
    got = dict(zip(meta["key"], meta["value"]))
    assert got["source"].endswith(urbankit.datasets.get_path("barcelona").name) and got["crs"] == "EPSG:4326"
    assert float(got["population_total"]) > 0 and got["population_description"].startswith("residents: ")
    walk = urbankit.build_network(urbankit.load("barcelona"), "walk")
    assert pyogrio.read_info(gpkg, layer="nodes_walk")["features"] == len(walk.nodes)
    assert (out.parent / "latest").resolve() == out

    # a failing run of the same report keeps the good one and records the failure
    with pytest.raises(ReportError, match="failed in cell .*InvalidOptionError"):
        run_report("overview", parameters={"source": "barcelona", "modes": ["fly"]}, out_dir=tmp_path, run_id="r1")
    assert json.loads((out / "run.json").read_text())["status"] == "ok"
    failed = json.loads((out.parent / "r1.failed" / "run.json").read_text())
    assert failed["status"] == "failed" and "InvalidOptionError" in failed["error"]


def test_cli_report_bad_parameter_exits_2(capsys):
    assert main(["report", "overview", "-p", "nope", "1"]) == 2
    assert "unknown parameter 'nope'" in capsys.readouterr().err


@pytest.mark.requires_dataset("barcelona")
def test_cli_info(capsys):
    assert main(["info", "barcelona"]) == 0
    out = capsys.readouterr().out
    assert "StreetNetwork(mode='walk'" in out and "StreetNetwork(mode='drive'" in out


def test_cli_info_missing_file(capsys, tmp_path):
    assert main(["info", str(tmp_path / "nothing.osm.pbf")]) == 2
    assert "does not exist" in capsys.readouterr().err


# --------------------------------------------------------------------------- runner: run.json, validation, atomicity

#: a small, quick overview run: Monaco's walk network, no tiles
QUICK = {"source": "monaco", "modes": ["walk"], "tiles": None}


@pytest.fixture
def kernel_cache(tmp_path, monkeypatch):
    """Kernels started by the runner inherit this: they cache in the test's folder, not ~/.cache."""
    folder = tmp_path / "kernel-cache"
    monkeypatch.setenv("URBANKIT_CACHE", str(folder))
    return folder


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_fingerprint_tracks_notebook_parameters_and_inputs(tmp_path, helsinki_population):
    a = fingerprint("overview", QUICK)
    assert a == fingerprint("overview", dict(QUICK))  # deterministic
    assert a["input_sha256"]["source"] == urbankit.osm.file_sha256(urbankit.datasets.get_path("monaco"))
    assert fingerprint("overview", {**QUICK, "modes": ["bike"]})["content_sha256"] != a["content_sha256"]
    assert fingerprint("overview", {**QUICK, "source": "helsinki"})["content_sha256"] != a["content_sha256"]
    # output_dir is the runner's business: it does not change the content
    assert fingerprint("overview", {**QUICK, "output_dir": "/elsewhere"})["content_sha256"] == a["content_sha256"]
    # an input file's content, not its name, counts
    grid = helsinki_population
    copy = tmp_path / "grid.gpkg"
    copy.write_bytes(grid.read_bytes())
    b = fingerprint("overview", {**QUICK, "population": str(copy)})
    assert b["input_sha256"]["population"] == urbankit.osm.file_sha256(grid)
    copy.write_bytes(grid.read_bytes() + b"\0")
    assert fingerprint("overview", {**QUICK, "population": str(copy)})["content_sha256"] != b["content_sha256"]
    # list parameters (the comparison's sources) hash every input
    c = fingerprint("compare", {"sources": ["monaco", "helsinki"]})
    assert set(c["input_sha256"]) == {"sources[0]", "sources[1]"}


def test_missing_input_file_fails_before_running(tmp_path):
    with pytest.raises(ReportError, match=r"input file\(s\) not found: population="):
        run_report("overview", parameters={**QUICK, "population": str(tmp_path / "nope.gpkg")}, out_dir=tmp_path)
    # a tile server URL or a place name is not a file
    urbankit.reporting.check_inputs(
        {"tiles": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "source": "Kamppi, Helsinki"}
    )
    with pytest.raises(ReportError, match="output_dir' is set by the runner"):
        run_report("overview", parameters={**QUICK, "output_dir": str(tmp_path)}, out_dir=tmp_path)
    assert not any(tmp_path.rglob("*.ipynb"))


def test_a_second_run_of_the_same_report_is_refused_while_one_runs(tmp_path):
    parent = tmp_path / "monaco" / "overview"
    parent.mkdir(parents=True)
    with _RunLock(parent, "r"), pytest.raises(ReportError, match="in progress"):
        run_report("overview", parameters=QUICK, out_dir=tmp_path, run_id="r")
    assert not any(p.name.endswith(".tmp") for p in parent.iterdir())


def test_make_offline_inlines_assets_in_srcdoc_and_drops_the_rest():
    import html as html_lib

    inner = (
        "<!DOCTYPE html><html><head>"
        '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"></script>'
        '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"/>'
        '<script src="https://example.org/no-such-plugin.js"></script>'
        "</head><body><div id=map></div><script>L.map('map')</script></body></html>"
    )
    page = (
        '<html><head><script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js"></script></head>'
        f'<body><iframe srcdoc="{html_lib.escape(inner)}"></iframe></body></html>'
    )
    assert len(external_references(page)) == 4
    out = make_offline(page)
    assert external_references(out.html) == []
    assert out.maps == 1
    assert set(out.embedded) == {
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js",
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css",
    }
    assert all(v.startswith("folium-offline") for v in out.embedded.values())
    assert sorted(out.dropped) == [
        "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js",
        "https://example.org/no-such-plugin.js",
    ]
    doc = html_lib.unescape(out.html.split('srcdoc="')[1].split('"></iframe>')[0])
    assert "Leaflet 1.9.3" in doc and "urbankit-no-tiles" in doc  # Leaflet inside, and the tile fallback
    # a newer Leaflet URL than folium-offline ships is matched by file name
    content, source = find_asset("https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js")
    assert "Leaflet 1.9.3" in content and "as https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js" in source


@pytest.mark.slow
def test_report_run_record_offline_html_and_timeout(tmp_path, kernel_cache):
    out = run_report("overview", parameters=QUICK, out_dir=tmp_path, run_id="good")
    record = read_run(out)
    assert record["status"] == "ok" and record["urbankit_run"] == 2
    assert record["parameters"]["modes"] == ["walk"] and record["parameters_given"] == QUICK
    assert record["content_sha256"] == fingerprint("overview", QUICK)["content_sha256"]
    assert record["start"] < record["end"] and record["seconds"] > 0
    assert record["versions"]["folium"] != "absent" and record["versions"]["python"]
    assert {"overview.gpkg", "summary.csv", "overview.html", "overview.ipynb"} <= set(record["outputs"])
    assert record["outputs"]["summary.csv"]["sha256"] == hashlib.sha256((out / "summary.csv").read_bytes()).hexdigest()
    # the HTML is self-contained: Leaflet from folium-offline, no external file left
    html = (out / "overview.html").read_text()
    assert external_references(html) == []
    embedded = record["offline_assets"]["embedded"]
    assert embedded["https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"].startswith("folium-offline")
    assert record["offline_assets"]["maps"] == 1
    # a cell slower than the timeout fails the run, names the cell, and keeps the good report
    before = _snapshot(out)
    with pytest.raises(ReportError, match="timeout"):
        run_report("overview", parameters=QUICK, out_dir=tmp_path, run_id="good", timeout=1)
    failed = read_run(out.parent / "good.failed")
    assert failed["status"] == "failed" and failed["error"].startswith("timeout")
    import nbformat

    sources = [c.source for c in nbformat.read(urbankit.reporting.resolve_notebook("overview"), as_version=4).cells]
    assert failed["failed_cell"]["source"] in sources and failed["failed_cell"]["index"] >= 2
    assert _snapshot(out) == before
    assert (out.parent / "latest").resolve() == out


def _start_cli(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "urbankit.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for_run_folder(parent: Path, run_id: str, timeout: float = 120) -> Path:
    """The temporary folder of a starting run, once the notebook has started executing in it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for tmp in parent.glob(f".{run_id}.*.tmp"):
            if (tmp / "overview.ipynb").exists():
                return tmp
        time.sleep(0.05)
    raise AssertionError(f"no run started in {parent} within {timeout} s")


@pytest.mark.slow
def test_killed_or_interrupted_run_leaves_the_previous_report_intact(tmp_path, kernel_cache):
    out = run_report("overview", parameters=QUICK, out_dir=tmp_path, run_id="good")
    before = _snapshot(out)
    parent = out.parent
    env = {**os.environ, "URBANKIT_CACHE": str(kernel_cache)}
    args = [
        "report",
        "overview",
        "-p",
        "source",
        "monaco",
        "-p",
        "modes",
        "['walk']",
        "-p",
        "tiles",
        "None",
        "--out",
        str(tmp_path),
        "--run-id",
        "good",
    ]

    # SIGTERM midway: the run records itself as interrupted and exits with 130
    proc = _start_cli(args, env)
    _wait_for_run_folder(parent, "good")
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert read_run(parent / "good.failed")["status"] == "interrupted"
    assert _snapshot(out) == before

    # SIGKILL of the runner and its kernel midway: nothing can clean up
    proc = _start_cli(args, env)
    tmp = _wait_for_run_folder(parent, "good")
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert _snapshot(out) == before, "the killed run changed the previous good report"
    assert (parent / "latest").resolve() == out
    assert tmp.exists()  # the half-written run stayed hidden in its temporary folder
    assert sorted(p.name for p in parent.iterdir() if not p.name.startswith(".")) == ["good", "good.failed", "latest"]

    # the next run removes the leftover and replaces the report atomically
    again = run_report("overview", parameters=QUICK, out_dir=tmp_path, run_id="good")
    assert again == out and read_run(out)["status"] == "ok"
    assert not tmp.exists() and not list(parent.glob(".*.tmp")) and not list(parent.glob(".*.old"))
    assert _snapshot(out).keys() == before.keys()
