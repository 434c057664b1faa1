"""Reports: parameterised notebooks run with papermill, turned into offline HTML, in batches.

``parameters``
    a notebook's parameters cell read and written as data (never as code);
``inputs``
    versions, file hashes and the fingerprint of a run; ``runner``: :func:`run_report`;
``offline``
    HTML with its assets embedded; ``batch``: many reports from one TOML file and an index;
``compare``
    two or more areas side by side; ``text``: the summary sentence, provenance box, number
    formatting and tables for people every report opens with and shows (``overview``,
    ``superblocks`` and ``transit``: the same for those reports). ``offline`` re-exports :mod:`urbankit.viz.offline`.

The analyses the reports show live in the engines (:mod:`urbankit.pipelines` for the overview).
"""

from .inputs import check_inputs, fingerprint, report_area
from .parameters import NOTEBOOK_DIR, normalise_parameters, notebook_parameters, resolve_notebook, validate_parameters
from .runner import export_html, read_run, run_report

__all__ = [
    "NOTEBOOK_DIR",
    "check_inputs",
    "export_html",
    "fingerprint",
    "normalise_parameters",
    "notebook_parameters",
    "read_run",
    "report_area",
    "resolve_notebook",
    "run_report",
    "validate_parameters",
]
