"""The costly warm-ups, paid only when the notebooks being graded use them.

The zygote (warm kernels, ``sandbox/zygote.py``) and the checker server import once what every
notebook needs: numpy, torch (and ``torch._dynamo``, which autograd checks and optimizers pull
in on first use), matplotlib, IPython, the check library.  scikit-learn costs 0.65 s of CPU to
import and only some assignments load data with it.  Each grading process (the local driver, a
Slurm or Kubernetes task) decides from the instructor's own notebooks (source, hidden tests
included) of the assignments it grades, never from a submission, and passes the choice to the
zygotes and the checker server it starts through ``GRADERS_WARM_UPS``.  A kernel whose code
uses what was not warmed pays for it in its own cell, as a fresh kernel would: slower, never wrong.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
from functools import cache
from typing import Iterable

from .course import Course
from .sandbox.zygote import WARM_UPS as ALL, warm_ups_from

ENV = "GRADERS_WARM_UPS"


def warm_ups(course: Course, assignments: Iterable[str]) -> tuple[str, ...]:
    """The optional warm-ups that the code cells of these assignments' notebooks call for."""
    code = "\n".join(_code_cells(course, assignments))
    wanted = set()
    if "sklearn" in code or any(re.search(rf"\b{name}\b", code) for name in _sklearn_backed_data()):
        wanted.add("sklearn")
    return tuple(w for w in ALL if w in wanted)


def chosen() -> tuple[str, ...]:
    """What this grading process chose (``GRADERS_WARM_UPS``); unset: all of them, as a tool or a
    test that grades without ``prepare_grader`` would want."""
    return warm_ups_from(os.environ.get(ENV))


def _code_cells(course: Course, assignments: Iterable[str]) -> Iterable[str]:
    for assignment in assignments:
        notebooks = course.notebooks(assignment, "source") or course.notebooks(assignment, "release")
        for path in notebooks:
            try:
                cells = json.loads(path.read_text()).get("cells", [])
            except (OSError, ValueError, AttributeError):
                yield " ".join(ALL)  # unreadable here: warm everything, as before
                continue
            for cell in cells:
                if isinstance(cell, dict) and cell.get("cell_type") == "code":
                    source = cell.get("source", "")
                    yield "".join(source) if isinstance(source, list) else str(source)


@cache
def _sklearn_backed_data() -> tuple[str, ...]:
    """The functions of ``graders.data`` that import scikit-learn (read from its source, not imported)."""
    spec = importlib.util.find_spec("graders.data")
    if spec is None or spec.origin is None:
        return ()
    with open(spec.origin) as fh:
        tree = ast.parse(fh.read())
    return tuple(node.name for node in tree.body if isinstance(node, ast.FunctionDef) and any(
        isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "sklearn"
        or isinstance(n, ast.Import) and any(a.name.split(".")[0] == "sklearn" for a in n.names)
        for n in ast.walk(node)))
