"""TA review in nbgrader's formgrader: the rubric next to the answer being graded.

The rubric is written once, in the source notebook, inside the free-response cell's solution
region (``### BEGIN SOLUTION`` … ``### END SOLUTION``): a model answer and, by convention, a
``**Rubric**`` list of what earns each point. nbgrader strips that region from the release, so
students never see it. The formgrader renders each submission with nbconvert's ``HTMLExporter``
(configured from ``nbgrader_config.py``); ``RubricForTAs`` is one of its preprocessors and puts
the source's text in a read-only cell right below each answer a TA grades, with the autograded
checks' outputs already in view above. Outside the formgrader (feedback, exports) it does nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_markdown_cell
from traitlets import Unicode

from .variants import grade_id

SOLUTION_REGION = re.compile(r"### BEGIN SOLUTION\s*\n(.*?)\n?\s*### END SOLUTION", re.S)


def rubrics(source_notebook: Path) -> dict[str, str]:
    """grade_id -> the model answer / rubric text of each free-response cell of a source notebook."""
    nb = nbformat.read(str(source_notebook), as_version=4)
    found = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("grade") and meta.get("solution"):
            m = SOLUTION_REGION.search(cell.source)
            if m and m.group(1).strip():
                found[grade_id(cell)] = m.group(1).strip()
    return found


class RubricForTAs(Preprocessor):
    """In the formgrader only: show the source's model answer and rubric under each answer cell."""

    course_root = Unicode("", help="The course folder (holds source/).").tag(config=True)

    def preprocess(self, nb, resources):
        # the formgrader passes submission_id; nbgrader's own converters (feedback) pass "nbgrader"
        if not self.enabled or "submission_id" not in resources or "nbgrader" in resources:
            return nb, resources
        source = Path(self.course_root) / "source" / str(resources.get("assignment_id")) / \
            f"{resources.get('notebook_id')}.ipynb"
        if not source.is_file():
            return nb, resources
        found = rubrics(source)
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            text = found.get(grade_id(cell)) if cell.cell_type == "markdown" else None
            if text:
                note = new_markdown_cell(
                    "<div style='border-left:4px solid #8e24aa;padding-left:8px;background-color:#f7f0fa'>\n\n"
                    f"**Model answer and rubric (TAs only, from `source/`)**\n\n{text}\n\n</div>")
                note.metadata["graders"] = {"rubric_for": grade_id(cell)}
                cells.append(note)
        nb.cells = cells
        return nb, resources
