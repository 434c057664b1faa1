"""Scheduled batches: the TOML layout, dask.distributed runs, skipping unchanged reports, index.html."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

import urbankit
from urbankit import ReportError
from urbankit.cli import main
from urbankit.reporting.batch import load_config, run_batch
from urbankit.reporting.inputs import fingerprint
from urbankit.reporting.runner import read_run

BATCH = """
workers = 2
out = "reports"

[defaults]
tiles = "None"                       # TOML has no null: the string "None" stands for None

[areas.monaco]
[areas.helsinki]
population = "grid.gpkg"             # relative to this file

[notebooks.overview.sets.walk]
modes = ["walk"]

[notebooks.accessibility.sets.walk]
minutes = [10, 15]

[[report]]                           # deliberately broken: fails in the notebook
notebook = "overview"
area = "monaco"
name = "broken"
parameters = { modes = ["fly"] }

[[report]]                           # invalid: fails validation, never runs
notebook = "overview"
area = "monaco"
name = "invalid"
parameters = { colour = "red" }
"""


@pytest.fixture
def batch_file(tmp_path, monkeypatch, helsinki_population):
    monkeypatch.setenv("URBANKIT_CACHE", str(tmp_path / "kernel-cache"))  # the kernels' cache, inherited by workers
    shutil.copy(helsinki_population, tmp_path / "grid.gpkg")
    path = tmp_path / "monthly.toml"
    path.write_text(BATCH)
    return path


def _files(folder: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith("index.")
    }


def test_load_config_expands_areas_notebooks_and_sets(batch_file, tmp_path):
    options, entries = load_config(batch_file)
    assert options == {"workers": 2, "out": str((tmp_path / "reports").resolve())}
    keys = [e.key for e in entries]
    assert keys == [
        "monaco/overview/walk", "helsinki/overview/walk", "monaco/accessibility/walk", "helsinki/accessibility/walk",
        "monaco/overview/broken", "monaco/overview/invalid",
    ]
    by = {e.key: e for e in entries}
    assert by["helsinki/accessibility/walk"].parameters == {
        "tiles": None, "source": "helsinki", "population": str((tmp_path / "grid.gpkg").resolve()), "minutes": [10, 15],
    }
    assert by["monaco/overview/walk"].parameters == {"tiles": None, "source": "monaco", "modes": ["walk"]}
    assert by["monaco/overview/broken"].parameters == {"tiles": None, "modes": ["fly"]}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("outt = 'x'\n[[report]]\nnotebook='overview'", "unknown top-level key"),
        ("[areas.monaco]\npopulaton = 'x.gpkg'\n[notebooks.overview]", r"parameter\(s\) \['populaton'\]"),
        ("[areas.monaco]\n[notebooks.overview]\nareas = ['paris']", "unknown area"),
        ("[[report]]\nnotebook='overview'\n[[report]]\nnotebook='overview'", "same folder"),
        ("[[report]]\nnotebook='nope'", "not found"),
        ("[areas.monaco]\n", "no reports"),
        ("[areas\n", "not valid TOML"),
        ("[areas.'a b']\n[notebooks.overview]", "plain folder name"),
    ],
)
def test_config_errors_name_the_problem(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ReportError, match=fragment):
        load_config(path)


@pytest.mark.slow
def test_batch_on_a_local_cluster(batch_file, tmp_path, capsys):
    out = tmp_path / "reports"

    # 1. the whole batch on a LocalCluster: the broken report fails alone, the invalid one never runs
    first = run_batch(batch_file, dashboard=None, progress=True)
    status = {e.key: e.status for e in first.entries}
    assert status == {
        "monaco/overview/walk": "ok",
        "helsinki/overview/walk": "ok",
        "monaco/accessibility/walk": "ok",
        "helsinki/accessibility/walk": "ok",
        "monaco/overview/broken": "failed",
        "monaco/overview/invalid": "invalid",
    }, first.summary()
    assert not first.ok and len(first.computed) == 5
    assert "reports:" in capsys.readouterr().err  # the tqdm progress bar
    by = first.by_key()
    assert "InvalidOptionError" in by["monaco/overview/broken"].error and by["monaco/overview/broken"].failed_cell
    assert "unknown parameter 'colour'" in by["monaco/overview/invalid"].error
    for key in ("monaco/overview/walk", "helsinki/accessibility/walk"):
        folder = out / key
        record = read_run(folder)
        assert record["status"] == "ok" and record["batch"]["key"] == key
        expected = fingerprint(record["notebook_path"], record["parameters_given"])["content_sha256"]
        assert record["content_sha256"] == expected
    assert read_run(out / "helsinki" / "accessibility" / "walk")["input_sha256"][
        "population"
    ] == urbankit.osm.file_sha256(tmp_path / "grid.gpkg")
    assert read_run(out / "monaco" / "overview" / "broken.failed")["status"] == "failed"

    # index.html: every report with its status, parameters, links and failure; self-contained
    index = first.index.read_text()
    assert first.index == out / "index.html"
    rows = re.findall(r"<tr id='([^']+)'>(.*?)</tr>", index, re.DOTALL)
    assert [k for k, _ in rows] == list(status)
    for key, row in rows:
        assert f"class='s {status[key]}'" in row
        for href in re.findall(r"href='([^']+)'", row):
            assert (out / href).is_file(), href
    broken = dict(rows)["monaco/overview/broken"]
    assert "InvalidOptionError" in broken and "failed run" in broken and "modes = [&quot;fly&quot;]" in broken
    assert "overview.gpkg" in dict(rows)["monaco/overview/walk"]
    assert not re.search(r"<(script|link)\b", index)
    data = json.loads((out / "index.json").read_text())
    assert {r["key"]: r["status"] for r in data["reports"]} == status

    # 2. the same batch again, through the CLI: nothing is recomputed, not a byte changes
    before = _files(out)
    assert main(["batch", str(batch_file), "--no-progress", "--dashboard", ""]) == 1  # the broken report still fails
    assert (
        "0 ran ok, 4 unchanged (skipped), 0 failed, 1 failed before with the same inputs (skipped), 1 invalid"
        in capsys.readouterr().out
    )
    assert _files(out) == before
    data = json.loads((out / "index.json").read_text())
    assert {r["key"]: r["status"] for r in data["reports"]} == {
        **status,
        **{k: "unchanged" for k, v in status.items() if v == "ok"},
        "monaco/overview/broken": "failed-unchanged",
    }

    # 3. fix the broken report, on an existing cluster (--scheduler): only it runs
    from distributed import LocalCluster

    batch_file.write_text(BATCH.replace('modes = ["fly"]', 'modes = ["walk"]'))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        third = run_batch(batch_file, scheduler=cluster.scheduler_address, progress=False)
    assert [e.key for e in third.computed] == ["monaco/overview/broken"]
    assert third.by_key()["monaco/overview/broken"].status == "ok"
    after = _files(out)
    changed = {k for k in after if after.get(k) != before.get(k)}
    assert changed and all(k.startswith("monaco/overview/broken/") for k in changed), changed
