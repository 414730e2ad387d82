"""Every notebook of the course, through the real nbgrader pipeline.

* the reference solution earns every automatic point;
* the released stub earns 0 (and the batch completes);
* each typical wrong answer (tests/wrong_answers/) loses exactly the points it names, with a
  message that says expected vs got;
* every autograded cell has at least one such wrong answer;
* hidden tests never reach students: not in release/, not in any check's output.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from graders.grading.variants import autograder_points, grade_id, is_autograder_tests, read
from graders.grading.verify import REFERENCE, STUB, load_wrong_answers

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "source").glob("*/*.ipynb"))
NB_IDS = [f"{p.parent.name}/{p.name}" for p in NOTEBOOKS]
WRONG = [(p, w) for p in NOTEBOOKS for w in load_wrong_answers(REPO, p.parent.name, p.name)]
WRONG_IDS = [f"{p.parent.name}/{p.stem}/{w.name}" for p, w in WRONG]


def variant(verified, notebook: Path, name: str):
    return verified(notebook.parent.name)[f"{notebook.stem}--{name}"]


COURSE_PLAN = {  # what each part of the course must hold, at least (the issues' "done when")
    ("class00", "class01"): 5,
    ("class02", "class03", "class04", "class05"): 7,
    ("class06", "class07", "class08"): 5,
    ("class09", "extra_lora", "extra_gnn", "extra_diffusion", "extra_utils", "extra_causality",
     "extra_accelerators"): 7,
}


@pytest.mark.parametrize("classes,minimum", COURSE_PLAN.items(), ids=["-".join(k) for k in COURSE_PLAN])
def test_course_has_enough_notebooks(classes, minimum):
    found = [p for p in NOTEBOOKS if p.parent.name.startswith(classes)]
    assert len(found) >= minimum, f"expected at least {minimum} graded notebooks in {classes}, got {len(found)}"
    missing = [c for c in classes if not any(p.parent.name.startswith(c) for p in found)]
    assert not missing, f"no graded notebook for {missing}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=NB_IDS)
def test_reference_earns_full_marks(verified, notebook):
    v = variant(verified, notebook, REFERENCE)
    assert not v.problems(), "\n".join(v.problems())
    assert sum(v.expected.values()) > 0


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=NB_IDS)
def test_released_stub_scores_zero(verified, notebook):
    v = variant(verified, notebook, STUB)
    assert not v.problems(), "\n".join(v.problems())
    assert all(points == 0 for points in v.expected.values())


@pytest.mark.parametrize("notebook,wrong", WRONG, ids=WRONG_IDS)
def test_wrong_answer_loses_exactly_its_points(verified, notebook, wrong):
    v = variant(verified, notebook, wrong.name)
    assert not v.problems(), "\n".join(v.problems())
    assert sum(wrong.loses.values()) > 0, "a wrong answer must cost something"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=NB_IDS)
def test_every_graded_cell_has_a_wrong_answer(notebook):
    covered = {cell for w in load_wrong_answers(REPO, notebook.parent.name, notebook.name) for cell in w.loses}
    missing = sorted(set(autograder_points(read(notebook))) - covered)
    assert not missing, f"test cells without a typical wrong answer in tests/wrong_answers: {missing}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=NB_IDS)
def test_run_tests_points_match_cell_points(notebook):
    for cell in read(notebook).cells:
        if is_autograder_tests(cell):
            m = re.search(r"run_tests\(points=([0-9.]+)\)\s*$", cell.source)
            assert m, f"{grade_id(cell)}: a tests cell must end with run_tests(points=N)"
            assert float(m.group(1)) == float(cell.metadata.nbgrader.points), (
                f"{grade_id(cell)}: expected run_tests(points={cell.metadata.nbgrader.points:g}), got points={m.group(1)}")


def _hidden_lines(notebook: Path) -> list[str]:
    """Lines that only the hidden tests contain (a line also in visible text proves nothing)."""
    from graders.grading.variants import strip_hidden_tests

    cells = read(notebook).cells
    visible = "\n".join(strip_hidden_tests(c.source) for c in cells)
    lines = []
    for cell in cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, re.S):
            lines += [line.strip() for line in block.splitlines()
                      if len(line.strip()) > 12 and not line.strip().startswith(("def test_", "@", "#"))
                      and line.strip() not in visible]
    return lines


def _hidden_test_names(notebook: Path) -> list[str]:
    names = []
    for cell in read(notebook).cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, re.S):
            names += re.findall(r"def (test_\w+)", block)
    return names


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=NB_IDS)
def test_hidden_tests_not_released(notebook):
    released = (REPO / "release" / notebook.parent.name / notebook.name).read_text()
    assert "BEGIN HIDDEN TESTS" not in released
    leaked = [name for name in _hidden_test_names(notebook) if name in released]
    leaked += [line for line in _hidden_lines(notebook) if line in released]
    assert not leaked, f"hidden test lines in the student version: {leaked[:3]}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=NB_IDS)
def test_check_output_never_shows_hidden_source(verified, notebook):
    hidden = _hidden_lines(notebook)
    assert hidden, "every notebook should have hidden tests"
    for name, v in verified(notebook.parent.name).items():
        if not name.startswith(notebook.stem + "--"):
            continue
        for cell in v.cells:
            leaked = [line for line in hidden if line in cell.output]
            assert not leaked, f"{name}/{cell.grade_id} output shows hidden test source: {leaked[:2]}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=NB_IDS)
def test_feedback_never_shows_hidden_source(verified, notebook):
    """What students read after grading: every check's message, never a hidden test's code
    (nbgrader's own feedback prints it: jupyter/nbgrader#917, #1363)."""
    hidden = _hidden_lines(notebook)
    for name, v in verified(notebook.parent.name).items():
        if not name.startswith(notebook.stem + "--"):
            continue
        assert v.feedback, f"{name}: no feedback file"
        assert "BEGIN HIDDEN TESTS" not in v.feedback
        leaked = [line for line in hidden if html.escape(line, quote=False) in v.feedback or line in v.feedback]
        assert not leaked, f"{name}: feedback shows hidden test source: {leaked[:2]}"
        if v.wrong_answer is not None:  # the summary table names what failed, with its message
            assert "Your results" in v.feedback
            assert all(f in v.feedback or html.escape(f) in v.feedback for f in v.wrong_answer.says), name
