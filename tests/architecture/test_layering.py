"""The architecture as a test: data flows one way and no module imports one that imports it back.

Every ``import`` statement in ``urbankit/`` is read with :mod:`ast` (module level and inside functions: a lazy
import is still a dependency). Modules are ranked by layer, following the flow of data

    base -> osm -> network -> destinations / population / zones / pipelines -> accessibility / transit /
    environment / assignment -> superblocks -> io -> viz -> reporting -> cli

and a module may import only modules of its own or a lower layer. Two accessors are the exceptions: a display
method (``explore``, ``plot``, ``_repr_html_``) may lazily import ``urbankit.viz`` (that is how a result draws
itself) and a writing method (``to_gpkg``, ``save``, ``to_file``) may lazily import ``urbankit.io`` (how a result
writes itself); nothing computed depends on either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "urbankit"

#: (layer rank, module-name prefixes); the longest matching prefix wins
LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (0, ("_errors", "_util", "_validate", "_stats", "_deprecation", "_atomic", "_datacache", "settings", "_html")),
    (0, ("_progress",)),
    (0, ("datasets",)),
    (1, ("osm", "ingest", "_online", "_readcache")),
    (2, ("network", "networks", "engines", "_datacache")),
    (3, ("destinations", "population", "population_sources", "zones", "pipelines", "testing", "mock")),
    (4, ("accessibility", "isochrones", "opportunities", "transit", "environment", "assignment")),
    (5, ("superblocks", "superblockify_compat")),
    (6, ("io", "outputs", "_qgis", "_gpkg")),
    (7, ("viz", "maps", "plots", "_tiles")),
    (8, ("reporting", "reports", "batch", "compare", "_offline")),
    (9, ("cli", "transit.cli", "__init__", "__main__")),
]
#: names of methods through which a result may draw itself (lazy import of viz only)
DISPLAY_METHODS = {"explore", "plot", "_repr_html_", "map", "citizen_page"}
#: names of methods through which a result may write itself (lazy import of io only)
WRITE_METHODS = {"to_gpkg", "save", "to_file", "to_csv"}
ENGINE_RANK_MAX = 5  # engines: everything that computes; never import io-writers' callers, viz, reporting or cli


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def rank(name: str) -> int:
    best, best_len = None, -1
    for r, prefixes in LAYERS:
        for p in prefixes:
            if (name == p or name.startswith(p + ".")) and len(p) > best_len:
                best, best_len = r, len(p)
    if best is None:
        raise AssertionError(f"urbankit.{name} is in no layer: add it to LAYERS in {__file__}")
    return best


def _resolve(current: str, is_package: bool, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The urbankit modules (relative names) an import statement refers to."""
    out = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == "urbankit" or alias.name.startswith("urbankit."):
                out.append(alias.name.removeprefix("urbankit").lstrip("."))
        return [o for o in out if o]
    if node.level == 0:
        if not node.module or not (node.module == "urbankit" or node.module.startswith("urbankit.")):
            return []
        base = node.module.removeprefix("urbankit").lstrip(".")
    else:
        pkg = current.split(".") if is_package else current.split(".")[:-1]
        if current == "__init__":
            pkg = []
        up = node.level - 1
        pkg = pkg[: len(pkg) - up] if up else pkg
        base = ".".join([*pkg, *([node.module] if node.module else [])])
    targets = []
    for alias in node.names:
        cand = f"{base}.{alias.name}" if base else alias.name
        targets.append(cand if _exists(cand) else base)
    return [t for t in targets if t]


def _exists(name: str) -> bool:
    p = ROOT.joinpath(*name.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def imports() -> list[tuple[str, str, str | None, int]]:
    """(importer, imported, enclosing function or None, line) for every urbankit-internal import."""
    rows = []
    for path in sorted(ROOT.rglob("*.py")):
        name = module_name(path)
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

        def visit(node, func, name=name, is_package=is_package):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue  # imports for annotations only: not a dependency at run time
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    visit(child, child.name, name, is_package)
                elif isinstance(child, ast.Import | ast.ImportFrom):
                    for target in _resolve(name, is_package, child):
                        if target != name:
                            rows.append((name, target, func, child.lineno))
                else:
                    visit(child, func, name, is_package)

        visit(tree, None)
    return rows


def test_every_module_is_in_a_layer():
    for path in ROOT.rglob("*.py"):
        rank(module_name(path))


def test_data_flows_one_way():
    bad = []
    for src, dst, func, line in imports():
        if rank(dst) <= rank(src):
            continue
        if func in DISPLAY_METHODS and (dst == "viz" or dst.startswith("viz.") or dst in ("maps", "plots")):
            continue
        if func in WRITE_METHODS and dst in ("io", "outputs"):
            continue
        bad.append(f"urbankit.{src} (line {line}{', in ' + func if func else ''}) imports urbankit.{dst}")
    assert not bad, "imports against the flow of data:\n" + "\n".join(sorted(bad))


def test_engines_never_import_viz_reporting_or_cli():
    forbidden = {r for r, _ in LAYERS if r >= 7}
    bad = [
        f"urbankit.{s} imports urbankit.{d} (line {n})"
        for s, d, f, n in imports()
        if rank(s) <= ENGINE_RANK_MAX and rank(d) in forbidden and f not in DISPLAY_METHODS
    ]
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {}
    for src, dst, _, _ in imports():
        if src == "__init__" or dst == "__init__":
            continue
        # a package's __init__ importing its own submodules is how re-exports work, not a cycle
        if dst.startswith(src + "."):
            continue
        graph.setdefault(src, set()).add(dst)
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def dfs(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                cycles.append(" -> ".join(stack[stack.index(m) :] + [m]))
            elif m not in state:
                dfs(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            dfs(n)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n < 1000, f"{path.relative_to(ROOT)} has {n} lines; split it by concern (limit 1,000)"


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """The test can fail: a planted engine module importing viz and a planted cycle are both found."""
    pkg = tmp_path / "urbankit"
    (pkg / "accessibility").mkdir(parents=True)
    (pkg / "viz").mkdir()
    (pkg / "accessibility" / "__init__.py").write_text("")
    (pkg / "accessibility" / "bad.py").write_text("def f():\n    from ..viz import maps\n")
    (pkg / "viz" / "__init__.py").write_text("")
    (pkg / "viz" / "maps.py").write_text("")
    (pkg / "osm.py").write_text("from . import network\n")
    (pkg / "network.py").write_text("from . import osm\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", pkg)
    with pytest.raises(AssertionError, match="accessibility.bad"):
        test_engines_never_import_viz_reporting_or_cli()
    with pytest.raises(AssertionError, match="cycles"):
        test_no_import_cycles()
    with pytest.raises(AssertionError, match="network .line 1. imports urbankit.osm|osm"):
        test_data_flows_one_way()
