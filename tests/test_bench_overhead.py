"""The sample classifier behind the benchmark's "urbankit adds" figure (benchmarks/_overhead.py).

Stacks are written by hand in py-spy's raw format (outermost frame first, ``;``-separated, then the
sample count); the expected class of each follows the rules stated in the module docstring.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def overhead():
    spec = importlib.util.spec_from_file_location("bench_overhead", ROOT / "benchmarks" / "_overhead.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


LOOP = (
    "0x7f (libc.so.6);<module> (bench_accessibility.py:900);_measured_loop (bench_accessibility.py:400);"
    "analyse (bench_accessibility.py:390)"
)
UK = "accessibility (urbankit/accessibility.py:861);node_metrics (urbankit/accessibility.py:420)"
NUMPY = "arr_bincount (numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so)"


@pytest.mark.parametrize(
    "inner,kind",
    [
        # a numpy kernel called from urbankit (even through the interpreter's call machinery)
        (f"{UK};_PyObject_Call (libpython3.11.so.1.0);{NUMPY};memcpy (libc.so.6)", "library"),
        # scipy's Dijkstra (a Cython extension)
        (f"{UK};__pyx_pw_dijkstra (scipy/sparse/csgraph/_shortest_path.cpython-311-x86_64-linux-gnu.so)", "library"),
        # pandas Python code called from urbankit
        (f"{UK};DataFrame.__init__ (pandas/core/frame.py:466)", "library"),
        # urbankit's own bytecode, and interpreter / C library work it does directly
        (UK, "own"),
        (f"{UK};dict_subscript (libpython3.11.so.1.0);malloc (libc.so.6)", "own"),
        # the standard library called from urbankit counts as urbankit's
        (f"{UK};deepcopy (copy.py:128);_deepcopy_dict (copy.py:227)", "own"),
        # urbankit called back from a library: the innermost urbankit frame decides
        (f"{UK};apply (pandas/core/frame.py:10000);helper (urbankit/zones.py:50)", "own"),
        # inside the loop but outside urbankit (freeing the last result): counted as urbankit
        ("DataFrame.__del__ (pandas/core/frame.py:1)", "own"),
    ],
)
def test_classify_one_stack(overhead, tmp_path, inner, kind):
    raw = tmp_path / "raw.txt"
    raw.write_text(f"{LOOP};{inner} 7\n")
    got = overhead.classify(raw, marker="_measured_loop")
    assert (got["own"], got["library"]) == ((7, 0) if kind == "own" else (0, 7))


def test_classify_ignores_samples_outside_the_loop_and_sums_counts(overhead, tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "\n".join(
            [
                "0x7f (libc.so.6);<module> (bench_accessibility.py:880);prepare (bench_accessibility.py:100);"
                f"{UK};{NUMPY} 50",
                f"{LOOP};{UK};{NUMPY} 3",
                f"{LOOP};{UK};{NUMPY} 4",
                f"{LOOP};{UK} 2",
            ]
        )
        + "\n"
    )
    got = overhead.classify(raw, marker="_measured_loop")
    assert got["library"] == 7 and got["own"] == 2
    assert got["top"] == [("urbankit/accessibility.py:420", 2)]
