"""Notebook regression tests: every notebook of notebooks/ runs under nbval on the embedded data.

The notebooks are committed with their outputs stripped, except cells tagged
``nbval-check-output`` whose stored output (and execution count, which nbval requires) is stable (e.g. the
name of the data file a report writes). ``pytest --nbval-lax`` executes every cell (any error fails the
test) and compares the outputs of the tagged cells after the sanitizers of ``tests/nbval_sanitize.cfg`` (times, paths,
memory addresses, element ids...) have been applied to both sides.

The notebooks run on copies in a temporary folder (their ``output_dir="."`` writes there, not into
the repository), in a child pytest so the cells run in order and in a clean kernel. To run them
by hand::

    .venv/bin/python -m pytest --nbval-lax --nbval-current-env -p no:randomly \\
        --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks/

(the notebooks then write their data outputs into notebooks/; delete them afterwards).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"


def test_notebooks_are_committed_clean():
    """Outputs stripped except tagged stable cells; every notebook has a parameters cell."""
    import nbformat

    assert NOTEBOOKS, "no notebooks found"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        tags = [c.metadata.get("tags", []) for c in nb.cells]
        assert any("parameters" in t for t in tags), f"{path.name} has no parameters cell"
        for cell, t in zip(nb.cells, tags):
            if cell.cell_type != "code":
                continue
            if "nbval-check-output" not in t:  # nbval compares only tagged cells, which need an output and a count
                assert not cell.outputs, (
                    f"{path.name}: outputs of an unchecked cell are committed: {cell.source[:60]!r}"
                )
                assert cell.execution_count is None, f"{path.name}: execution counts are committed"


def test_sanitizers_make_volatile_output_stable():
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns(SANITIZE.read_text())

    def clean(text: str) -> str:
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        return text

    a = (
        "<Foo at 0x7f3a2b1c0d90> wrote /tmp/pytest-of-root/pytest-3/x/summary.csv in 1.23 s at 2026-11-25T16:04:05Z "
        "(512.3 MiB) map_0123456789abcdef0123456789abcdef"
    )
    b = (
        "<Foo at 0x7f11aa22bb33> wrote /tmp/pytest-of-root/pytest-9/y/summary.csv in 0.98 s at 2027-01-02T03:04:05Z "
        "(498 MiB) map_fedcba9876543210fedcba9876543210"
    )
    assert clean(a) == clean(b)
    assert clean("'comparison.csv'") == "'comparison.csv'"  # stable outputs are left alone


@pytest.mark.slow
@pytest.mark.requires_dataset("barcelona")  # the superblocks notebook's default source
def test_notebooks_run_under_nbval(tmp_path):
    copies = []
    for path in NOTEBOOKS:
        shutil.copy(path, tmp_path / path.name)
        copies.append(path.name)
    env = {**os.environ, "URBANKIT_PROGRESS": "0", "URBANKIT_CACHE": str(tmp_path / "cache"), "PYTHONHASHSEED": "0"}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--nbval-lax",
        "--nbval-current-env",
        "--nbval-cell-timeout=600",
        f"--nbval-sanitize-with={SANITIZE}",
        "-o",
        "addopts=",
        "-o",
        "testpaths=",
        "--rootdir",
        str(tmp_path),
        *copies,
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200, check=False)
    tail = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, f"nbval failed:\n{tail}"
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary and "error" not in summary, tail
    # the notebooks wrote their data outputs next to themselves (output_dir=".")
    for name in ("overview.gpkg", "accessibility.gpkg", "comparison.csv"):
        if (ROOT / "notebooks" / name.replace(".gpkg", ".ipynb").replace("comparison.csv", "compare.ipynb")).exists():
            assert (tmp_path / name).exists(), f"{name} not written"
