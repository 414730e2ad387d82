"""``graders bench``: measured side by side in one run, on a temporary copy of the course.

1. each reference notebook alone (fresh kernel, as a student's run): wall time, budget 30 s;
2. the demo loop, phase by phase;
3. the same submissions graded by serial ``nbgrader autograde`` (one process per assignment,
   as an instructor runs it) and by ``graders autograde`` (N workers); the physical limit is
   the sum of the graded notebooks' own execution times (kernel start included, hidden
   tests included) divided by the cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .course import Course, scratch_copy

BUDGET_S = 30.0


def execute_notebook(path: Path, secret: str = "bench") -> float:
    """Run ``path`` in a fresh kernel, in its own folder; return the wall time (s)."""
    import nbformat
    from nbclient import NotebookClient

    os.environ["GRADERS_SECRET"] = secret
    nb = nbformat.read(str(path), as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


@dataclass
class BenchResult:
    notebooks: dict[str, float]
    loop: dict[str, float]
    serial_nbgrader_s: float
    ours_s: float
    limit_s: float
    workers: int
    differences: dict  # cell scores where stock nbgrader and ours disagree

    def format(self) -> str:
        lines = ["Reference notebooks (fresh kernel each, wall time incl. kernel start):"]
        for name, t in self.notebooks.items():
            lines.append(f"  {name:<58} {t:6.1f} s  {'ok' if t <= BUDGET_S else 'OVER the 30 s budget'}")
        lines.append(f"  {'total':<58} {sum(self.notebooks.values()):6.1f} s")
        lines.append("Demo loop (graders demo):")
        for phase, t in self.loop.items():
            lines.append(f"  {phase:<58} {t:6.1f} s")
        lines.append(f"  {'total':<58} {sum(self.loop.values()):6.1f} s")
        lines.append("Grading the demo submissions again, side by side:")
        lines.append(f"  serial nbgrader autograde (1 process per assignment)     {self.serial_nbgrader_s:6.1f} s")
        lines.append(f"  graders autograde ({self.workers} workers)                         {self.ours_s:6.1f} s")
        lines.append(f"  physical limit (Σ submission run times / {self.workers} cores)        {self.limit_s:6.1f} s")
        lines.append(f"  speed-up vs serial nbgrader: {self.serial_nbgrader_s / self.ours_s:.2f}x; "
                     f"ratio to the physical limit: {self.limit_s / self.ours_s:.2f}")
        if self.differences:
            lines.append(f"  cell scores that differ from stock nbgrader ({len(self.differences)}):")
            for key, (theirs, ours) in sorted(self.differences.items())[:20]:
                lines.append(f"    {'/'.join(key)}: nbgrader {theirs}, ours {ours}")
        else:
            lines.append("  every cell score equals stock nbgrader's")
        return "\n".join(lines)


def run_benchmark(course: Course, assignments: list[str] | None = None, workers: int | None = None,
                  progress: bool = True, say=print) -> BenchResult:
    from .autograde import grade_all
    from .demo import run_demo

    workers = workers or os.cpu_count() or 1
    names = assignments or course.assignments()
    notebooks = {}
    for name in names:
        for path in course.notebooks(name):
            notebooks[f"{name}/{path.name}"] = execute_notebook(path)
            say(f"  {name}/{path.name}: {notebooks[f'{name}/{path.name}']:.1f} s")
    with scratch_copy(course, "bench", names) as work:
        loop = run_demo(work, names, workers=workers, progress=progress, say=lambda *_: None).seconds
        say(f"  demo loop: {sum(loop.values()):.1f} s")

        start = time.perf_counter()
        for name in names:  # what an instructor runs today: stock nbgrader, one process, serial
            subprocess.run([sys.executable, "-m", "nbgrader", "autograde", name, "--force"],
                           cwd=work.root, check=False, capture_output=True,
                           env={**os.environ, "GRADERS_PLAIN_NBGRADER": "1"})
        serial = time.perf_counter() - start
        serial_scores = _scores(work, names)
        say(f"  serial nbgrader: {serial:.1f} s")

        start = time.perf_counter()
        grade_all(work, names, workers=workers, progress=progress)
        ours = time.perf_counter() - start
        our_scores = _scores(work, names)
        say(f"  graders autograde: {ours:.1f} s")
        differences = {k: (serial_scores.get(k), v) for k, v in our_scores.items() if serial_scores.get(k) != v}

        runs = 0.0
        # the graded notebooks hold what grading runs: the student's code and the hidden tests
        for path in sorted(work.folder("autograded").glob("*/*/*.ipynb")):
            runs += execute_notebook(path)
        limit = runs / workers
    return BenchResult(notebooks, loop, serial, ours, limit, workers, differences)


def _scores(course: Course, assignments: list[str]) -> dict:
    """(student, assignment, notebook, cell) -> score, from the gradebook."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(course.db_url) as gb:
        for assignment in assignments:
            for sub in gb.assignment_submissions(assignment):
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        out[(sub.student.id, assignment, nb.name, grade.name)] = grade.score
    return out
