"""numpydoc validation of the public API (``make lint`` runs this module with ruff).

Every name in ``urbankit.__all__`` is checked with ``numpydoc.validate.validate``: functions, classes and
their public methods and properties. Modules are skipped (their docstrings are narrative pages) and so are
exception classes (their docstring says when they are raised; their constructor is ``Exception``'s).

The checks that fail the test, and why these:

- GL08: the object has no docstring at all.
- SS01: no one-line summary at the top (what ``help()`` and the notebook tooltips show first).
- PR01, PR02, PR03: a parameter not documented, a documented parameter that does not exist, or the
  documented order differs from the signature -- the three ways the Parameters section drifts from the code.
  For dataclasses the constructor's parameters are the fields, so their docstring documents the fields
  in a Parameters section.
- PR10: a parameter name followed by a colon without the space numpydoc needs (``x: int``).
- RT01: a function or method that returns a value has no Returns section.
- GL03: two blank lines in a row (breaks the rendered sections).

Layout checks (GL02 closing quotes, SS05 summary verb form, ...) are left to review: they do not make a
docstring wrong.
"""

from __future__ import annotations

import inspect
import warnings

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate", reason="numpydoc is in the test extra")

import urbankit as uk  # noqa: E402

CHECKS = {"GL08", "SS01", "PR01", "PR02", "PR03", "PR10", "RT01", "GL03"}


def _public_targets() -> list[str]:
    """The dotted names to validate: public functions, classes and their own public methods and properties."""
    targets = []
    for name in uk.__all__:
        obj = getattr(uk, name)
        if inspect.ismodule(obj):
            continue
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            continue
        if not (inspect.isclass(obj) or callable(obj)):
            # constants (e.g. MODES) are documented in the module that defines them
            continue
        targets.append(f"urbankit.{name}")
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if inspect.isfunction(value) or isinstance(value, property | classmethod | staticmethod):
                    targets.append(f"urbankit.{name}.{attr}")
    return targets


TARGETS = _public_targets()


def test_the_public_api_is_found():
    # the walk above must see the API, or the test below would pass on nothing
    assert "urbankit.x_minute_city" in TARGETS
    assert "urbankit.StreetNetwork" in TARGETS
    assert "urbankit.StreetNetwork.nearest_nodes" in TARGETS
    assert not any(t.endswith("Error") for t in TARGETS)


@pytest.mark.parametrize("target", TARGETS)
def test_numpydoc(target):
    with warnings.catch_warnings():
        # numpydoc warns about the narrative sections of module docstrings it does not know
        warnings.simplefilter("ignore", UserWarning)
        result = numpydoc_validate.validate(target)
    errors = [f"{code} {message}" for code, message in result["errors"] if code in CHECKS]
    assert not errors, f"{target} ({result['file']}:{result['file_line']}):\n" + "\n".join(errors)
