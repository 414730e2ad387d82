"""The in-kernel runner, in a real Jupyter kernel: what a grade cell prints and returns."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

CELLS = {
    "setup": "from graders.checks import *\nimport numpy as np, warnings, sys\n"
             "def student_fn(x):\n    raise NotImplementedError()\n"
             "def double(x):\n    return x * 2",
    "mixed": (
        "def test_ok():\n    expect_shape('out', np.zeros((3, 2)), (3, 2))\n\n"
        "def test_shape():\n    secret_line = 'do not show this'\n"
        "    expect_shape('logits', np.zeros((64, 1)), (64, 10))\n\n"
        "def test_plain_assert():\n    assert double(2) == 5\n\n"
        "@weight(2)\ndef test_partial():\n    warnings.warn('noisy')\n    print('to stderr', file=sys.stderr)\n"
        "    expect_at_least('accuracy', 0.85, 0.9, floor=0.8)\n\n"
        "run_tests(points=5)"
    ),
    "errors": (
        "def test_stub():\n    student_fn(1)\n\n"
        "def test_missing():\n    undefined_function(3)\n\n"
        "@time_budget(0.5)\ndef test_slow():\n    import time\n    time.sleep(5)\n\n"
        "run_tests(points=3)"
    ),
    "all_pass": "def test_one():\n    expect_equal('double(2)', double(2), 4)\n\nrun_tests(points=2)",
}


@pytest.fixture(scope="module")
def outputs():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS.values()]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    return {name: cell.outputs for name, cell in zip(CELLS, nb.cells)}


def text(outputs, stream="stdout"):
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == stream)


def score(outputs):
    [result] = [o for o in outputs if o.output_type == "execute_result"]
    return float(result.data["text/plain"])


def test_report_says_expected_vs_got_and_scores_by_weight(outputs):
    out = outputs["mixed"]
    report = text(out)
    assert "✔ test_ok" in report
    assert "✘ test_shape: logits: expected shape (64, 10), got (64, 1)" in report
    assert "assert 4 == 5" in report and "where 4 = double(2)" in report  # pytest's introspection
    assert "◐ test_partial (50% credit): accuracy: expected at least 0.9 for full credit, got 0.85" in report
    # weights 1 + 1 + 1 + 2; earned 1 + 0 + 0 + 2 * 0.5 = 2 of 5 shares -> 2 of 5 points
    assert score(out) == 2.0
    assert "Score: 2 / 5" in report


def test_no_hidden_source_no_error_no_stderr(outputs):
    for name, out in outputs.items():
        assert not [o for o in out if o.output_type == "error"], name
        assert text(out, "stderr") == "", f"{name}: nbgrader scores a cell with stderr output 0"
        assert "secret_line" not in text(out) and "do not show" not in text(out)
        assert "def test_" not in text(out)


def test_errors_are_named_with_their_origin(outputs):
    report = text(outputs["errors"])
    assert "✘ test_stub: NotImplementedError (raised in student_fn)" in report
    assert "✘ test_missing: NameError: name 'undefined_function' is not defined" in report
    assert "✘ test_slow: test_slow: expected to finish within 0.5 s, still running" in report
    assert score(outputs["errors"]) == 0.0


def test_only_the_cells_own_tests_count(outputs):
    report = text(outputs["all_pass"])
    assert "test_ok" not in report and "test_stub" not in report
    assert score(outputs["all_pass"]) == 2.0


def test_nbgrader_reads_the_score_as_partial_credit(outputs):
    from nbgrader.utils import determine_grade

    cell = nbformat.v4.new_code_cell(CELLS["mixed"])
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": 5, "grade_id": "t"}
    cell.outputs = outputs["mixed"]
    assert determine_grade(cell) == (2.0, 5.0)
