"""The report runner and the CLI: parameters validated first, atomic report folders, clear errors."""

from __future__ import annotations

import json

import pytest

import urbankit
from urbankit import ReportError
from urbankit.cli import main
from urbankit.reports import notebook_parameters, run_report, validate_parameters


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
def test_overview_report_on_barcelona(tmp_path):
    out = run_report("overview", parameters={"source": "barcelona", "modes": ["walk", "drive"], "tiles": None}, out_dir=tmp_path, run_id="r1")
    assert out == tmp_path.resolve() / "barcelona" / "overview" / "r1"
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "ok" and record["parameters"]["source"] == "barcelona"
    assert record["input_sha256"]["source"] == urbankit.ingest.file_sha256(urbankit.datasets.get_path("barcelona"))
    html = (out / "overview.html").read_text()
    assert "leaflet" in html.lower() and "Street networks" in html
    gpkg = out / "overview.gpkg"
    import pyogrio

    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert {"nodes_walk", "edges_walk", "nodes_drive", "edges_drive", "destinations"} <= layers
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


def test_cli_info(capsys):
    assert main(["info", "barcelona"]) == 0
    out = capsys.readouterr().out
    assert "StreetNetwork(mode='walk'" in out and "StreetNetwork(mode='drive'" in out


def test_cli_info_missing_file(capsys, tmp_path):
    assert main(["info", str(tmp_path / "nothing.osm.pbf")]) == 2
    assert "does not exist" in capsys.readouterr().err
