"""Report parameters as data: reading a notebook's parameters cell, checking values, writing the injected cell."""

from __future__ import annotations

import ast
import contextlib
import logging
import math
import os
import tempfile
from importlib import resources
from pathlib import Path

from .._errors import ReportError, ReportParameterError

logger = logging.getLogger(__name__)



NOTEBOOK_DIR = Path(str(resources.files("urbankit") / "notebooks")).resolve()

# --------------------------------------------------------------------------- runner


def resolve_notebook(notebook: str | Path) -> Path:
    """A notebook path, or the name of one in ``notebooks/`` (with or without ``.ipynb``)."""
    path = Path(notebook)
    candidates = [path, NOTEBOOK_DIR / path.name, NOTEBOOK_DIR / f"{path.name}.ipynb"]
    for c in candidates:
        if c.suffix == ".ipynb" and c.is_file():
            return c.resolve()
    known = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    raise ReportError(f"notebook {str(notebook)!r} not found; give a path or one of {known}.")


def notebook_parameters(notebook: str | Path) -> dict[str, object]:
    """The names and default values of a notebook's ``parameters`` cell."""
    import nbformat

    nb = nbformat.read(resolve_notebook(notebook), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise ReportError(f"{str(notebook)!r} has no code cell tagged 'parameters'; tag one for papermill.")
    out: dict[str, object] = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name):
                try:
                    out[target.id] = ast.literal_eval(node.value)
                except ValueError as exc:
                    raise ReportError(
                        f"parameter {target.id!r} of {str(notebook)!r} is not a plain literal; "
                        "a parameters cell must hold literals only."
                    ) from exc
    return out


_ANNOTATION_TYPES = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list, tuple),
    "tuple": (list, tuple),
    "dict": (dict,),
    "None": (type(None),),
}


def notebook_parameter_types(notebook: str | Path) -> dict[str, tuple[type, ...]]:
    """Types of the annotated parameters of a notebook's ``parameters`` cell (``x: str | None = None``)."""
    import nbformat

    nb = nbformat.read(resolve_notebook(notebook), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    out: dict[str, tuple[type, ...]] = {}
    for node in ast.parse(cells[0].source).body if cells else []:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [n.strip() for n in ast.unparse(node.annotation).split("|")]
            names = [n.split("[")[0] for n in names]
            if all(n in _ANNOTATION_TYPES for n in names):
                out[node.target.id] = tuple(t for n in names for t in _ANNOTATION_TYPES[n])
    return out


def _type_ok(default, value, allowed: tuple[type, ...] | None = None) -> bool:
    if allowed is not None:
        if isinstance(value, bool) and bool not in allowed:
            return False
        return isinstance(value, allowed)
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


# --------------------------------------------------------------------------- parameters as data

#: deepest nesting of lists and dicts a report parameter value may have
MAX_PARAMETER_DEPTH = 32

#: report parameter integers are signed 64-bit (what every JSON reader and numpy take exactly)
_INT_BOUND = 2**63

_PLAIN_DATA = "str, int, float (finite), bool, None, and lists and dicts with string keys of them"

#: tag of the cell holding the parameters of a run (papermill's name, so tools that know it keep working)
INJECTED_TAG = "injected-parameters"


def _short_repr(value) -> str:
    import reprlib

    short = reprlib.Repr()
    short.maxstring, short.maxother, short.maxlist, short.maxdict = 60, 60, 4, 4
    return short.repr(value)


def _plain(value, name: str, at: str, depth: int, where: str):
    """``value`` as exact JSON-like Python data; :class:`ReportParameterError` naming ``name`` and ``at`` else."""
    import numbers
    from collections.abc import Mapping

    import numpy as np

    def refuse(what: str, fix: str = ""):
        subject = f"parameter {name!r}" if at == name else f"parameter {name!r}: {at}"
        raise ReportParameterError(
            f"{where}{subject} {what}; report parameters must be plain data ({_PLAIN_DATA})"
            + (f"; {fix}" if fix else ".")
        )

    if depth > MAX_PARAMETER_DEPTH:
        refuse(f"is nested deeper than {MAX_PARAMETER_DEPTH} levels of lists and dicts", "flatten it")
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str):
        text = str.__str__(value)  # an exact str, whatever a subclass overrides
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            refuse(
                f"holds a lone surrogate {text[exc.start]!r} at character {exc.start}, not text", "give valid Unicode"
            )
        return text
    if isinstance(value, numbers.Integral):
        try:
            number = int(value)
        except (TypeError, ValueError, OverflowError):
            number = None
        if type(number) is not int:
            refuse(f"is a {type(value).__name__} that does not convert to an int")
        if not -_INT_BOUND <= number < _INT_BOUND:
            refuse(f"is an integer outside the signed 64-bit range ({_short_repr(number)})", "give a smaller number")
        return number
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            refuse(f"is {number!r}, not a finite number", "give a finite number, or None")
        return number
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        if not isinstance(path, str):
            refuse(f"is a path of bytes {_short_repr(path)}", "give it as text")
        return _plain(path, name, at, depth, where)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(item, name, f"{at}[{i}]", depth + 1, where) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                refuse(
                    f"has the key {_short_repr(key)} of type {type(key).__name__}",
                    "dict keys must be strings (JSON objects have text keys)",
                )
            key = _plain(key, name, f"{at} key", depth + 1, where)
            out[key] = _plain(item, name, f"{at}[{key!r}]", depth + 1, where)
        return out
    refuse(f"is a {type(value).__name__} ({_short_repr(value)})", "convert it (a set to a list, a date to text)")


def normalise_parameters(parameters: dict | None, *, where: str = "") -> dict:
    """Report parameters as plain JSON data, ready to be written into a notebook as literals.

    Parameters
    ----------
    parameters : dict or None
        Parameter names (Python identifiers) and values.
    where : str, optional
        Prefix of error messages saying where the values come from (a batch file's table).

    Returns
    -------
    dict
        A new dict of exact ``str``, ``int``, ``float`` (finite), ``bool``, ``None``, ``list`` and
        ``dict`` (string keys) values. Tuples (and numpy arrays) become lists, numpy scalars and
        ``str``/``int``/``float`` subclasses their plain type, path objects their text.

    Raises
    ------
    ReportParameterError
        A name is not an identifier, or a value is anything else (a set, bytes, complex, a date,
        NaN or infinity, a dict with a non-string key, an integer beyond 64 bits, nesting deeper
        than :data:`MAX_PARAMETER_DEPTH`); the message names the parameter and the offending item.
    """
    import keyword
    from collections.abc import Mapping

    if parameters is None:
        return {}
    if not isinstance(parameters, Mapping):
        raise ReportParameterError(
            f"{where}parameters must be a dict of name -> value, got {type(parameters).__name__}."
        )
    out = {}
    for name, value in parameters.items():
        if not isinstance(name, str) or not str.__str__(name).isidentifier() or keyword.iskeyword(name):
            raise ReportParameterError(
                f"{where}parameter name {_short_repr(name)} is not a Python identifier; use a name of the notebook's "
                "parameters cell."
            )
        name = str.__str__(name)
        out[name] = _plain(value, name, name, 0, where)
    return out


def _same_data(a, b) -> bool:
    """Exactly the same plain data: same types all the way down (``1``, ``1.0`` and ``True`` differ)."""

    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_data(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_data(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


def parameters_cell_source(parameters: dict | None) -> str:
    """Python source of a run's injected parameters cell: one ``name = <literal>`` line per parameter.

    The values are normalised with :func:`normalise_parameters` and written with ``repr``, which
    for plain data is a Python literal; the source is then parsed back and each right-hand side
    evaluated with :func:`ast.literal_eval` and compared with its value, so the cell can only assign
    data, whatever the text of the values (quotes, backslashes, newlines, code).
    """
    params = normalise_parameters(parameters)
    lines = ["# Parameters (injected by urbankit: plain literals, checked)"]
    lines += [f"{name} = {value!r}" for name, value in params.items()]
    source = "\n".join(lines) + "\n"
    try:
        body = ast.parse(source).body
        assigned = []
        for node in body:
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
                raise ValueError(f"statement {ast.dump(node)[:80]} is not a plain assignment")
            name = node.targets[0].id
            if name not in params or not _same_data(ast.literal_eval(node.value), params[name]):
                raise ValueError(f"the literal of {name!r} does not give back its value")
            assigned.append(name)
        if assigned != list(params):
            raise ValueError(f"assigns {assigned}, not {list(params)}")
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError) as exc:  # never with plain data
        raise ReportParameterError(
            f"parameters {list(params)} cannot be written as plain literals ({exc}); not run."
        ) from exc
    return source


def parameterize_notebook(notebook: str | Path, parameters: dict | None):
    """The notebook with a cell assigning ``parameters`` after its ``parameters`` cell, as data.

    Does what papermill's injection does (a code cell tagged ``injected-parameters`` after the
    cell tagged ``parameters``, replacing an earlier injected cell), but writes the values with
    :func:`parameters_cell_source` instead of papermill's translator, which writes the text of a
    tuple or any unknown type unescaped into the code. Returns an ``nbformat`` notebook.
    """
    import nbformat

    params = normalise_parameters(parameters)
    nb = nbformat.read(resolve_notebook(notebook), as_version=4)
    cell = nbformat.v4.new_code_cell(source=parameters_cell_source(params))
    cell.metadata["tags"] = [INJECTED_TAG]
    tagged = [i for i, c in enumerate(nb.cells) if INJECTED_TAG in c.metadata.get("tags", [])]
    if tagged:
        nb.cells[tagged[0]] = cell
    else:
        marked = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
        if not marked:
            raise ReportError(f"{str(notebook)!r} has no code cell tagged 'parameters'; tag one for papermill.")
        nb.cells.insert(marked[0] + 1, cell)
    try:
        from papermill import __version__ as pm_version
    except ImportError:  # pragma: no cover - papermill is a dependency
        pm_version = "absent"
    record = {"default_parameters": {}, "environment_variables": {}, "version": pm_version}
    nb.metadata["papermill"] = {**record, **dict(nb.metadata.get("papermill", {})), "parameters": params}
    return nb


@contextlib.contextmanager
def _parameterized_input(notebook: Path, parameters: dict):
    """A private temporary copy of ``notebook`` with ``parameters`` injected (:func:`parameterize_notebook`)."""
    import nbformat

    nb = parameterize_notebook(notebook, parameters)
    with tempfile.TemporaryDirectory(prefix="urbankit-nb-") as tmp:
        path = Path(tmp) / notebook.name
        nbformat.write(nb, str(path))
        yield path


def _literal_path(path: Path) -> str:
    """``path`` for papermill, which formats paths with ``str.format``: braces doubled to stay literal."""
    return str(path).replace("{", "{{").replace("}", "}}")


def _tiles_problem(value) -> str | None:
    """Why a ``tiles`` report parameter cannot be drawn (see :func:`urbankit._tiles.tiles_problem`), or None.

    A custom URL needs an attribution, which reports have no parameter for.
    """
    from ..viz.tiles import tiles_problem

    what = tiles_problem(value)
    if what is None:
        return None
    return (
        f"parameter 'tiles' = {_short_repr(value)} {what}; a custom URL needs an attribution, which reports cannot "
        "take: give a named provider (e.g. 'OpenStreetMap', 'OpenTopoMap', see xyzservices.providers) or None for "
        "no base map"
    )


def validate_parameters(notebook: str | Path, parameters: dict | None) -> dict:
    """Check ``parameters`` against the notebook's ``parameters`` cell; raise once for all problems.

    The values are first made plain data with :func:`normalise_parameters` (anything else is
    refused, naming the parameter); the returned dict holds the notebook's defaults updated with
    the normalised values. A ``tiles`` value must be None or a tile provider name (see
    :func:`_tiles_problem`). Raises :class:`ReportParameterError`.
    """
    parameters = normalise_parameters(parameters)
    declared = notebook_parameters(notebook)
    types = notebook_parameter_types(notebook)
    problems = []
    for name, value in parameters.items():
        if name not in declared:
            problems.append(f"unknown parameter {name!r} (the notebook declares {sorted(declared)})")
        elif name in types and not _type_ok(declared[name], value, types[name]):
            wanted = " or ".join(dict.fromkeys("None" if t is type(None) else t.__name__ for t in types[name]))
            problems.append(f"parameter {name!r} must be {wanted}, got {type(value).__name__} {_short_repr(value)}")
        elif name not in types and not _type_ok(declared[name], value):
            problems.append(
                f"parameter {name!r} must be {type(declared[name]).__name__} like its default "
                f"{declared[name]!r}, got {type(value).__name__} {_short_repr(value)}"
            )
        elif name == "tiles" and _tiles_problem(value):
            problems.append(_tiles_problem(value))
    if problems:
        raise ReportParameterError(f"invalid parameters for {Path(str(notebook)).name}: " + "; ".join(problems))
    return {**declared, **parameters}


#: version of the layout of ``run.json``
