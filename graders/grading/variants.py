"""Submissions made from the source notebook: the reference, the released stub, wrong answers.

They are what the tests, ``graders verify`` and the demo loop grade: the reference must earn
every automatic point, the stub none, and each typical wrong answer must lose exactly the
points it names, with a message that says expected vs got.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Mapping

import nbformat
from nbformat import NotebookNode

_SOLUTION_MARKERS = re.compile(r"^[ \t]*(### BEGIN SOLUTION|### END SOLUTION)[ \t]*\n?", re.M)
_HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.M | re.S)


@dataclass(frozen=True)
class WrongAnswer:
    """A typical mistake: replace solution cell ``cell`` by ``code``.

    ``loses`` maps each test cell's grade_id to the points this mistake must cost there
    (every other test cell keeps all its points); ``says`` are fragments the failing
    cells' output must contain (by default: "expected" and "got").
    """

    name: str
    cell: str
    code: str
    loses: Mapping[str, float]
    says: tuple = ("expected", "got")
    note: str = field(default="", compare=False)


def grade_id(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_solution(cell: NotebookNode) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def is_autograder_tests(cell: NotebookNode) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def strip_solution_markers(source: str) -> str:
    return _SOLUTION_MARKERS.sub("", source)


def strip_hidden_tests(source: str) -> str:
    return _HIDDEN_TESTS.sub("", source)


def reference_submission(source_nb: NotebookNode, release_nb: NotebookNode) -> NotebookNode:
    """The released notebook with every answer cell filled in as the source's solution."""
    solutions = {grade_id(c): strip_solution_markers(c.source) for c in source_nb.cells if is_solution(c)}
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        if is_solution(cell) and grade_id(cell) in solutions:
            cell.source = solutions[grade_id(cell)]
    return nb


def with_answer(nb: NotebookNode, cell_id: str, code: str) -> NotebookNode:
    """A copy of ``nb`` where solution cell ``cell_id`` holds ``code``."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if grade_id(cell) == cell_id:
            if not is_solution(cell):
                raise ValueError(f"cell {cell_id!r} is not an answer cell")
            cell.source = code
            return nb
    raise KeyError(f"no answer cell with grade_id {cell_id!r}")


def autograder_points(nb: NotebookNode) -> dict[str, float]:
    """grade_id -> points of every autograder test cell."""
    return {grade_id(c): float(c.metadata["nbgrader"]["points"]) for c in nb.cells if is_autograder_tests(c)}


def read(path) -> NotebookNode:
    return nbformat.read(str(path), as_version=4)
