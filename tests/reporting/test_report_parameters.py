"""Report parameters reach the notebook as data, never as code (issue 10, item 1; tiles of item 8).

papermill writes a parameter value it does not know (a tuple, say) into the injected cell as its
unescaped text, so ``-p modes "('walk\\"+str(__import__(\\"os\\").system(\\"id > PWNED.txt\\"))+\\"',)"``
ran a shell command in the kernel. urbankit now accepts plain JSON data only, normalises it, and
writes the injected cell itself as checked literals. These tests drive every entry point (CLI,
``run_report``, batch TOML) with hostile values and check that the notebook receives exactly the
values given and that nothing else happens.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import math
import textwrap
import warnings
from fractions import Fraction
from pathlib import Path

import folium
import nbformat
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from urbankit._errors import ReportError, ReportParameterError
from urbankit.cli import main
from urbankit.reporting.batch import load_config, run_batch
from urbankit.reporting.parameters import (
    INJECTED_TAG,
    MAX_PARAMETER_DEPTH,
    normalise_parameters,
    parameterize_notebook,
    parameters_cell_source,
    validate_parameters,
)
from urbankit.reporting.runner import read_run, run_report

#: the exploit of the issue, verbatim: a tuple whose one string closes papermill's quotes
EXPLOIT = "('walk\"+str(__import__(\"os\").system(\"id > PWNED.txt\"))+\"',)"
#: the string inside that tuple, as Python reads it (what the notebook must receive, as text)
EXPLOIT_TEXT = ast.literal_eval(EXPLOIT)[0]

#: names of the tiny notebook's parameters, with their defaults
TINY_PARAMETERS = textwrap.dedent(
    """\
    modes = ["walk", "bike", "drive"]
    text = "default"
    count = 1
    ratio = 0.5
    flag = False
    options = {}
    anything = None
    tiles: str | None = "OpenStreetMap"
    output_dir = "."
    """
)
TINY_NAMES = ["modes", "text", "count", "ratio", "flag", "options", "anything", "tiles", "output_dir"]

#: the kernel's side: every parameter with the exact type of every item, dumped to received.json
DUMP_CELL = textwrap.dedent(
    """\
    import json, os

    def _tag(v):
        if isinstance(v, dict):
            return ["dict", [[k, _tag(x)] for k, x in v.items()]]
        if isinstance(v, (list, tuple)):
            return [type(v).__name__, [_tag(x) for x in v]]
        if isinstance(v, float):
            return ["float", repr(v)]
        return [type(v).__name__, v]

    with open(os.path.join(output_dir, "received.json"), "w", encoding="utf-8") as f:
        json.dump({n: _tag(globals()[n]) for n in NAMES}, f)
    """
).replace("NAMES", repr([n for n in TINY_NAMES if n != "output_dir"]))


def _tag(value):
    """The test's own model of what the kernel must receive: tuples read as lists, the rest exactly."""
    if isinstance(value, dict):
        return ["dict", [[k, _tag(x)] for k, x in value.items()]]
    if isinstance(value, (list, tuple)):
        return ["list", [_tag(x) for x in value]]
    if isinstance(value, float):
        return ["float", repr(value)]
    return [type(value).__name__, value]


def _plain_model(value):
    """Independent normalisation model: tuples become lists, everything else stays as it is."""
    if isinstance(value, dict):
        return {k: _plain_model(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_model(v) for v in value]
    return value


@pytest.fixture
def tiny(tmp_path) -> Path:
    """A notebook with a parameters cell and a cell dumping what it received (cheap to run)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(TINY_PARAMETERS, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(DUMP_CELL),
    ]
    path = tmp_path / "nb" / "tiny.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, path)
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Run from tmp_path (where a relative PWNED.txt would land), kernels caching inside it too."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("URBANKIT_CACHE", str(tmp_path / "kernel-cache"))
    return tmp_path


def _no_side_effect(root: Path) -> None:
    assert not [p for p in root.rglob("*") if "PWNED" in p.name], "the parameter ran code in the kernel"
    assert not list(Path.cwd().glob("PWNED*"))


def _received(run: Path) -> dict:
    return json.loads((run / "received.json").read_text(encoding="utf-8"))


def _injected_source(executed: Path) -> str:
    nb = nbformat.read(executed, as_version=4)
    cells = [c for c in nb.cells if INJECTED_TAG in c.metadata.get("tags", [])]
    assert len(cells) == 1
    return cells[0].source


def _assert_pure_literals(source: str, expected: dict) -> None:
    """The test's own check: only ``name = literal`` statements, each giving back its value (an
    ``output_dir`` the runner sets is checked to be a string literal)."""
    allowed = (ast.Constant, ast.List, ast.Dict, ast.UnaryOp, ast.USub, ast.Load)
    body = ast.parse(source).body
    assert [stmt.targets[0].id for stmt in body if stmt.targets[0].id != "output_dir"] == list(expected)
    for stmt in body:
        assert isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
        nodes = list(ast.walk(stmt.value))
        assert all(isinstance(n, allowed) for n in nodes), {type(n).__name__ for n in nodes}
        value = ast.literal_eval(stmt.value)
        if stmt.targets[0].id == "output_dir":
            assert isinstance(value, str)
        else:
            assert _tag(value) == _tag(expected[stmt.targets[0].id])


# --------------------------------------------------------------------------- the exploit, every entry point


def test_exploit_through_the_cli_reaches_the_notebook_as_text(tiny, isolated, capsys):
    out = isolated / "reports"
    code = main(["report", str(tiny), "-p", "modes", EXPLOIT, "--out", str(out), "--run-id", "r", "--online-assets"])
    assert code == 0, capsys.readouterr().err
    run = next(out.rglob("r"))
    assert _received(run)["modes"] == ["list", [["str", EXPLOIT_TEXT]]]
    _assert_pure_literals(_injected_source(run / "tiny.ipynb"), {"modes": [EXPLOIT_TEXT]})
    _no_side_effect(isolated)


def test_exploit_through_run_report_nested_in_lists_and_dicts(tiny, isolated):
    hostile = ('a"+str(__import__("os").system("id > PWNED.txt"))+"',)
    parameters = {
        "modes": [hostile, [hostile]],
        "options": {"k": hostile, '"+__import__("os").system("id > PWNED2.txt")+"': [1, (2.5, None)]},
        "anything": hostile,
    }
    run = run_report(tiny, parameters=parameters, out_dir=isolated / "reports", run_id="r", offline=False)
    received = _received(run)
    for name, value in parameters.items():
        assert received[name] == _tag(value), name
    assert read_run(run)["parameters_given"]["options"] == _plain_model(parameters["options"])
    _no_side_effect(isolated)


@pytest.mark.slow  # a dask LocalCluster: about 30 s
def test_exploit_through_a_batch_toml(tiny, isolated):
    text = EXPLOIT_TEXT.replace("\\", "\\\\").replace('"', '\\"')
    config = isolated / "batch.toml"
    config.write_text(
        textwrap.dedent(
            f"""\
            workers = 1
            out = "reports"

            [[report]]
            notebook = "{tiny}"
            area = "somewhere"
            parameters = {{ modes = ["{text}"], options = {{ "{text}" = ["{text}"] }}, text = "{text}" }}
            """
        )
    )
    result = run_batch(config, dashboard=None, progress=False)
    assert result.ok, result.summary()
    run = isolated / "reports" / "somewhere" / "tiny" / "default"
    received = _received(run)
    assert received["modes"] == ["list", [["str", EXPLOIT_TEXT]]]
    assert received["options"] == ["dict", [[EXPLOIT_TEXT, ["list", [["str", EXPLOIT_TEXT]]]]]]
    assert received["text"] == ["str", EXPLOIT_TEXT]
    _no_side_effect(isolated)


@pytest.mark.slow
def test_exploit_on_the_overview_notebook_fails_as_an_unknown_mode(isolated, capsys):
    out = isolated / "reports"
    code = main(
        ["report", "overview", "-p", "modes", EXPLOIT, "-p", "tiles", "None", "--out", str(out), "--run-id", "r"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "failed in cell" in err and "InvalidOptionError" in err and "PWNED" in err  # the mode's text, quoted back
    failed = next(out.rglob("r.failed"))
    assert read_run(failed)["parameters_given"]["modes"] == [EXPLOIT_TEXT]
    assert f"modes = {[EXPLOIT_TEXT]!r}" in _injected_source(failed / "overview.ipynb")
    _no_side_effect(isolated)


# --------------------------------------------------------------------------- refused up front


def _nested(depth: int) -> list:
    value: list = [0]
    for _ in range(depth):
        value = [value]
    return value


NOT_DATA = [
    ("a set", {"walk"}, "parameter 'anything' is a set"),
    ("bytes", b"walk", "parameter 'anything' is a bytes"),
    ("complex", 1j, "parameter 'anything' is a complex"),
    ("NaN", float("nan"), "parameter 'anything' is nan, not a finite number"),
    ("infinity", -math.inf, "parameter 'anything' is -inf, not a finite number"),
    ("numpy NaN", np.float32("nan"), "parameter 'anything' is nan"),
    ("a date", dt.date(2024, 1, 1), "parameter 'anything' is a date"),
    ("an object", object(), "parameter 'anything' is a object"),
    ("a fraction", Fraction(1, 3), "parameter 'anything' is a Fraction"),
    ("a huge int", 10**30, "outside the signed 64-bit range"),
    ("a function", print, "parameter 'anything' is a builtin_function_or_method"),
    ("a nested set", [1, [2, {3}]], r"parameter 'anything': anything\[1\]\[1\] is a set"),
    ("a non-string key", {1: "a"}, "parameter 'anything' has the key 1 of type int; .*dict keys must be strings"),
    ("a tuple key", {"a": {("x",): 1}}, r"anything\['a'\] has the key \('x',\) of type tuple"),
    ("a lone surrogate", "a\ud800", "lone surrogate"),
    ("deep nesting", _nested(MAX_PARAMETER_DEPTH + 1), "nested deeper than"),
]


@pytest.mark.parametrize("what, value, fragment", NOT_DATA, ids=[w for w, _, _ in NOT_DATA])
def test_values_that_are_not_data_are_refused_before_running(tiny, isolated, what, value, fragment):
    out = isolated / "reports"
    with pytest.raises(ReportParameterError, match=fragment) as info:
        run_report(tiny, parameters={"anything": value}, out_dir=out)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ReportError)
    assert "report parameters must be plain data" in str(info.value)
    assert not out.exists()  # nothing ran, nothing written


def test_a_self_containing_list_is_refused_not_a_recursion_error():
    loop: list = []
    loop.append(loop)
    with pytest.raises(ReportParameterError, match=f"nested deeper than {MAX_PARAMETER_DEPTH} levels"):
        normalise_parameters({"modes": loop})


def test_a_dict_with_a_non_string_key_through_the_cli_is_a_clear_error(tiny, isolated, capsys):
    out = isolated / "reports"
    assert main(["report", str(tiny), "-p", "options", "{1: 'a'}", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("urbankit: error: parameter 'options' has the key 1 of type int")
    assert "Traceback" not in err and "json" not in err.lower().replace("json objects", "")
    assert not out.exists()


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("{'walk', 'bike'}", "parameter 'modes' is a set"),
        ("b'walk'", "parameter 'modes' is a bytes"),
        ("1e999", "parameter 'modes' is inf"),
    ],
)
def test_cli_literals_that_are_not_data_exit_2(tiny, isolated, capsys, value, fragment):
    out = isolated / "reports"
    assert main(["report", str(tiny), "-p", "modes", value, "--out", str(out)]) == 2
    assert fragment in capsys.readouterr().err
    assert not out.exists()


def test_cli_refuses_a_parameter_given_twice(tiny, isolated, capsys):
    assert main(["report", str(tiny), "-p", "count", "1", "-p", "count", "2", "--out", str(isolated / "r")]) == 2
    assert "-p count given more than once" in capsys.readouterr().err
    assert not (isolated / "r").exists()


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("text = 2024-01-01", r"\[areas.a\]: parameter 'text' is a date"),
        ("when = 2024-01-01T10:00:00Z", r"\[areas.a\]: parameter 'when' is a datetime"),
        ("ratio = nan", r"\[areas.a\]: parameter 'ratio' is nan, not a finite number"),
        ("options = { deep = [1, inf] }", r"\[areas.a\]: parameter 'options': options\['deep'\]\[1\] is inf"),
        ('"not-a-name" = 1', r"\[areas.a\]: parameter name 'not-a-name' is not a Python identifier"),
    ],
)
def test_batch_toml_values_that_are_not_data_are_refused(tiny, isolated, capsys, line, fragment):
    config = isolated / "batch.toml"
    config.write_text(f'[areas.a]\n{line}\n\n[notebooks.t]\nnotebook = "{tiny}"\n')
    with pytest.raises(ReportParameterError, match=r"^batch.toml: " + fragment):
        load_config(config)
    assert main(["batch", str(config), "--no-progress", "--dashboard", ""]) == 2
    assert "batch.toml: [areas.a]: parameter" in capsys.readouterr().err
    assert not (isolated / "reports").exists()


def test_normalisation_makes_plain_types():
    class Name(str):
        def __repr__(self):  # a subclass's own repr is never used
            return "__import__('os').system('id > PWNED.txt')"

    given_ = {
        "modes": ("walk", np.str_("bike")),
        "count": np.int64(3),
        "ratio": np.float32(0.5),
        "flag": np.bool_(True),
        "text": Name("x"),
        "options": {"p": Path("/tmp/a.gpkg"), "arr": np.array([1, 2])},
    }
    got = normalise_parameters(given_)
    assert got == {
        "modes": ["walk", "bike"],
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "text": "x",
        "options": {"p": "/tmp/a.gpkg", "arr": [1, 2]},
    }
    assert [type(v) for v in got.values()] == [list, int, float, bool, str, dict]
    assert type(got["modes"][1]) is str and type(got["options"]["arr"][0]) is int
    assert "text = 'x'" in parameters_cell_source(given_)


def test_parameterize_notebook_replaces_an_old_injected_cell(tiny):
    nb = parameterize_notebook(tiny, {"count": 2})
    path = tiny.with_name("again.ipynb")
    nbformat.write(nb, path)
    again = parameterize_notebook(path, {"count": 3})
    tags = [c.metadata.get("tags", []) for c in again.cells]
    assert tags == [["parameters"], [INJECTED_TAG], []]
    assert again.cells[1].source.splitlines()[1:] == ["count = 3"]
    assert again.metadata["papermill"]["parameters"] == {"count": 3}


# --------------------------------------------------------------------------- property tests

_PIECES = st.sampled_from(
    [
        "'",
        '"',
        "'''",
        '"""',
        "\\",
        "\\'",
        '\\"',
        "\n",
        "\r",
        "\r\n",
        "\t",
        "\x00",
        "\u2028",
        "\x1b[31m",
        "#",
        "__import__('os').system('id > PWNED.txt')",
        EXPLOIT_TEXT,
        '"+str(1)+"',
        "{x}",
        "%s",
        "${HOME}",
        "é",
        "😀",
    ]
)
_TEXT = st.lists(_PIECES | st.text(max_size=8), max_size=6).map("".join)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_VALUES, long=st.sampled_from([0, 0, 0, 1, 2]))
def test_injected_cell_is_pure_literals_of_exactly_the_values(value, long):
    if long:  # very long values too: a string of up to 160 KB, a list of hundreds
        value = [value, "\"'\\\n" * (20_000 * long), list(range(300 * long))]
    params = {"anything": value, "text": EXPLOIT_TEXT}
    source = parameters_cell_source(params)
    expected = {k: _plain_model(v) for k, v in params.items()}
    _assert_pure_literals(source, expected)
    namespace: dict = {}
    exec(compile(source, "<injected>", "exec"), {"__builtins__": {}}, namespace)  # noqa: S102 - no builtins
    assert _tag(namespace) == _tag(expected)


def _not_data():
    return st.sampled_from(
        [
            {"a"},
            frozenset(),
            b"x",
            bytearray(b"x"),
            1j,
            float("nan"),
            float("inf"),
            dt.datetime(2024, 1, 1),
            dt.time(1),
            Fraction(1, 2),
            object(),
            range(3),
            2**64,
            -(2**63) - 1,
            {1: "x"},
            {None: 1},
            {("k",): 1},
            "\udc80",
            Ellipsis,
            type,
        ]
    )


@settings(max_examples=100, deadline=None)
@given(good=_VALUES, bad=_not_data(), where=st.lists(st.sampled_from(["list", "tuple", "dict"]), max_size=5))
def test_any_value_that_is_not_data_is_refused_naming_the_parameter(good, bad, where):
    value = bad
    for kind in where:  # bury it in lists, tuples and dicts beside plain data
        value = [good, value] if kind == "list" else (value, good) if kind == "tuple" else {"k\"'": value, "o": good}
    with pytest.raises(ReportParameterError, match=r"^parameter 'modes'.* report parameters must be plain data"):
        validate_parameters("overview", {"source": "monaco", "modes": value})


@pytest.mark.slow
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(anything=_VALUES, text=_TEXT, options=st.dictionaries(_TEXT, _VALUES, max_size=3))
def test_executed_notebook_receives_exactly_the_random_values(tiny, isolated, anything, text, options):
    from urbankit.reporting.inputs import _looks_like_file, _string_values

    params = {"anything": anything, "text": text, "options": options, "modes": (text, [anything])}
    # a text with a folder separator or a data-file suffix names an input file by design (the runner
    # checks it exists and hashes it: test_runner_safety); the property is about every other value
    assume(not any(_looks_like_file(v) for v in _string_values(params).values()))
    run = run_report(tiny, parameters=params, out_dir=isolated / "reports", run_id="prop", offline=False)
    received = _received(run)
    for name, value in params.items():
        assert received[name] == _tag(value), name
    _no_side_effect(isolated)


@pytest.mark.slow  # a kernel and a 1.3 MB notebook cell: about 10 s
def test_a_long_hostile_value_runs_as_data(tiny, isolated):
    long_text = ('"""' + "'''" + "\\" + "\n" + EXPLOIT_TEXT) * 20_000  # about 1.3 MB
    run = run_report(
        tiny,
        parameters={"text": long_text, "count": -(2**63), "ratio": -0.0},
        out_dir=isolated / "r",
        run_id="long",
        offline=False,
    )
    received = _received(run)
    assert received["text"] == ["str", long_text]
    assert received["count"] == ["int", -(2**63)] and received["ratio"] == ["float", "-0.0"]
    _no_side_effect(isolated)


# --------------------------------------------------------------------------- tiles (issue 10, item 8)


@pytest.mark.parametrize(
    "tiles",
    [
        "https://tile.example.org/{z}/{x}/{y}.png",
        "//tiles.example.org/{z}/{x}/{y}.png",
        "OpenStreetMapp",
        "Stamen Toner",
        "javascript:alert(1)",
    ],
)
def test_tiles_folium_cannot_draw_without_attribution_are_refused_before_running(tiny, isolated, tiles, capsys):
    with pytest.raises(ValueError, match="attribution"):  # the independent oracle: folium itself refuses them
        folium.Map(tiles=tiles)
    out = isolated / "reports"
    with pytest.raises(ReportParameterError, match=r"parameter 'tiles' = .*(custom tile URL|not a tile provider)"):
        run_report(tiny, parameters={"tiles": tiles}, out_dir=out)
    assert main(["report", "overview", "-p", "tiles", tiles, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "parameter 'tiles'" in err and "None for no base map" in err
    assert not out.exists()


@pytest.mark.parametrize(
    "tiles", [None, "OpenStreetMap", "openstreetmap", "OpenTopoMap", "Esri.WorldImagery", "CartoDB positron"]
)
def test_tiles_folium_draws_are_accepted(tiny, tiles):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # CartoDB: "now require an API key" (the tiles still load)
        folium.Map(tiles=tiles)  # the oracle: no error
    assert validate_parameters(tiny, {"tiles": tiles})["tiles"] == tiles
