"""How much urbankit adds over the library calls it makes, measured by sampling native stacks.

A profiler that only sees Python frames (cProfile) cannot tell the two apart: numpy's ufuncs and
array functions (``np.bincount``, ``np.exp``, ``a <= b``, ``a[mask]``) and Cython functions (scipy's
``dijkstra``) are invisible to it, so their time lands on the urbankit line that called them. Here
`py-spy <https://github.com/benfred/py-spy>`_ samples the whole native stack instead (``--native``)
while the analysis runs in a loop, and each sample taken inside that loop is classified:

* **library**: below the innermost urbankit frame there is code of another package: a Python
  frame of a third-party module, or a native frame of a compiled extension (numpy, scipy, pandas,
  shapely, pyproj, ...). Time inside scipy's Dijkstra, numpy's kernels (including their argument
  parsing and memory allocation) and pandas' frame building is here;
* **urbankit**: the innermost code is urbankit's own: its Python bytecode running in the
  interpreter, or interpreter / C-library / standard-library code called directly from it (loops,
  dicts, ``logging``, ``copy``);
* samples in the loop outside any urbankit frame (freeing the previous result) count as urbankit
  too, so the figure errs on the high side.

"urbankit adds" is then urbankit samples / library samples. Sampling pauses the process on every
sample (native unwinding), which slows the loop about threefold but does not bias where the samples
fall.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

#: name of the function whose samples are classified; the benchmark child runs the analysis in it
MARKER = "_measured_loop"

_MODULE = re.compile(r"\(([^()]*)\)$")
_INTERPRETER = re.compile(r"^(python3[\d.]*|libpython3[\d.]*\.so[\d.]*)$")
_SYSTEM = re.compile(r"^(libc\.so|libm\.so|ld-linux|libgcc_s|libpthread|libstdc\+\+|linux-vdso)")


def py_spy() -> str | None:
    """Path of the py-spy executable next to this Python, or on PATH."""
    here = Path(sys.executable).with_name("py-spy")
    return str(here) if here.exists() else shutil.which("py-spy")


def record(argv: list[str], raw: Path, *, rate: int = 200, timeout: float = 600) -> str | None:
    """Run ``argv`` under ``py-spy record --native``; None when it worked, else why not."""
    exe = py_spy()
    if exe is None:
        return "py-spy not installed (pip install py-spy)"
    cmd = [exe, "record", "--native", "--rate", str(rate), "--format", "raw", "--output", str(raw), "--", *argv]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"py-spy ran past {timeout:.0f} s"
    if proc.returncode != 0 or not raw.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-2:]
        return "py-spy failed: " + " | ".join(tail)
    return None


def _kind(frame: str) -> str:
    """'urbankit', 'interpreter' (interpreter, C library or standard library) or 'library'."""
    m = _MODULE.search(frame)
    where = m.group(1) if m else ""
    if re.search(r"(^|/)urbankit/[^/]+\.py:", where):
        return "urbankit"
    if not where or frame.startswith("0x") or _INTERPRETER.match(where) or _SYSTEM.match(where):
        return "interpreter"
    if ".so" in where:
        return "library"  # a compiled extension or a library bundled with one
    top = re.split(r"[/:.]", where, maxsplit=1)[0]
    if where.startswith("<") or top in sys.stdlib_module_names:
        return "interpreter"
    return "library"


def classify(raw: Path, *, marker: str = MARKER) -> dict:
    """Samples inside ``marker``: urbankit's own, library, and the urbankit lines seen most."""
    own = lib = 0
    lines: Counter = Counter()
    for text in raw.read_text().splitlines():
        stack, _, count = text.rpartition(" ")
        frames = stack.split(";")
        at = [i for i, f in enumerate(frames) if f.startswith(marker + " ")]
        if not at or not count.isdigit():
            continue
        inner = frames[at[-1] + 1 :]
        n = int(count)
        kinds = [_kind(f) for f in inner]
        last_own = max((i for i, k in enumerate(kinds) if k == "urbankit"), default=-1)
        if last_own >= 0 and "library" in kinds[last_own + 1 :]:
            lib += n
        else:
            own += n
            where = _MODULE.search(inner[last_own]).group(1) if last_own >= 0 else "(outside urbankit)"
            lines[where] += n
    return {"own": own, "library": lib, "top": lines.most_common(5)}
