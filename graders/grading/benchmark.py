"""``graders bench``: grading speed measured side by side in one run, on a copy of the course.

A class-sized case — ``students`` submissions of the reference solution per assignment, first on
one assignment, then on the whole set given (by default the demo's subset) — is graded

1. by serial stock ``nbgrader autograde`` (one process, one notebook after the other, hidden tests
   in the student's kernel, no sandbox: what an instructor runs without us), and
2. by ``graders autograde`` (N workers, each notebook's kernel in its sandbox forked from a warm
   zygote, the tests in a separate checker process),

and set against the physical limit: the time spent inside cells (no kernel start, no
bookkeeping) summed over the notebooks and divided by the cores.  Efficiency is that limit over
our wall time.  The cells' time is taken twice:

* in stock nbgrader's kernels: the notebooks' work as a fresh kernel does it, ``import torch``
  and the first figure included (what the issue's "before" measured);
* in ours: the student's code in the kernel and the checks in the checker, in kernels forked
  from a zygote that has imported torch and drawn a figure already, so the same cells take
  less time there, and the limit is stricter.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .course import Course, scratch_copy


@dataclass
class Case:
    label: str
    submissions: int
    notebooks: int
    workers: int
    serial_s: float
    ours_s: float
    in_cell_s: float
    stock_in_cell_s: float = 0.0  # the same cells' time in stock nbgrader's kernels
    overhead: dict = field(default_factory=dict)  # our mean seconds per notebook outside cells, by phase
    differences: dict = field(default_factory=dict)

    def limit_s(self, in_cell_s: float) -> float:
        """The physical limit: that much time inside cells, spread over the cores."""
        return in_cell_s / self.workers

    def efficiency(self, in_cell_s: float) -> float:
        return self.limit_s(in_cell_s) / self.ours_s if self.ours_s else 0.0

    @property
    def speedup(self) -> float:
        return self.serial_s / self.ours_s if self.ours_s else 0.0

    def format(self) -> str:
        lines = [f"{self.label}: {self.submissions} submissions, {self.notebooks} notebooks, {self.workers} cores",
                 f"  serial stock nbgrader autograde              {self.serial_s:8.1f} s",
                 f"  graders autograde ({self.workers} workers)               {self.ours_s:8.1f} s   "
                 f"{self.speedup:.2f}x serial stock nbgrader",
                 *(f"  {title} Σ in-cell time, {kernels} kernels {seconds:7.1f} s / {self.workers} cores = "
                   f"{self.limit_s(seconds):6.1f} s   efficiency {self.efficiency(seconds):.2f}"
                   for title, kernels, seconds in (("physical limit:", "stock", self.stock_in_cell_s),
                                                   ("               ", "our  ", self.in_cell_s)))]
        if self.overhead:
            lines.append("  ours, mean per notebook outside cells: " + ", ".join(
                f"{k.replace('_', ' ')} {v:.2f} s" for k, v in self.overhead.items()))
        if self.differences:
            lines.append(f"  cell scores that differ from stock nbgrader ({len(self.differences)}):")
            for key, (theirs, ours) in sorted(self.differences.items())[:10]:
                lines.append(f"    {'/'.join(map(str, key))}: nbgrader {theirs}, ours {ours}")
        else:
            lines.append("  every cell score equals stock nbgrader's")
        return "\n".join(lines)


@dataclass
class BenchResult:
    cases: list[Case]

    def format(self) -> str:
        return "\n\n".join(c.format() for c in self.cases)


def run_benchmark(course: Course, assignments: list[str] | None = None, students: int = 24,
                  workers: int | None = None, progress: bool = True, say=print) -> BenchResult:
    from .demo import demo_assignments

    workers = workers or os.cpu_count() or 1
    names = assignments or demo_assignments(course)
    plan = [(f"one assignment ({names[0]})", names[:1])]
    if len(names) > 1:
        plan.append((f"the course subset ({', '.join(names)})", names))
    cases = []
    for label, group in plan:
        say(f"bench: {label}, {students} students each")
        cases.append(_measure(course, label, group, students, workers, progress, say))
    return BenchResult(cases)


def class_of(course: Course, assignment: str, students: int) -> None:
    """``students`` submissions of the reference solution (as nbgrader's submit would lay them out)."""
    from .variants import read, reference_submission

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
    for path in course.notebooks(assignment):
        reference = reference_submission(read(path), read(course.folder("release") / assignment / path.name))
        for i in range(students):
            folder = course.submission_dir(f"student{i:03d}", assignment)
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(reference, str(folder / path.name))
            (folder / "timestamp.txt").write_text(stamp)


def _measure(course: Course, label: str, names: list[str], students: int, workers: int, progress: bool,
             say) -> Case:
    from .autograde import grade_all
    from .release import generate_release

    with scratch_copy(course, "bench", names) as work:
        generate_release(work, names)
        for name in names:
            class_of(work, name, students)
        start = time.perf_counter()
        for name in names:  # what an instructor runs without us: stock nbgrader, one process, serial
            subprocess.run([sys.executable, "-m", "nbgrader", "autograde", name, "--force"],
                           cwd=work.root, check=False, capture_output=True,
                           env={**os.environ, "GRADERS_PLAIN_NBGRADER": "1"})
        serial = time.perf_counter() - start
        serial_scores = _scores(work, names)
        stock_in_cell = sum(in_cell_seconds(path) for path in work.folder("autograded").glob("*/*/*.ipynb"))
        say(f"  serial stock nbgrader: {serial:.1f} s")
        start = time.perf_counter()
        grade_all(work, names, workers=workers, progress=progress)
        ours = time.perf_counter() - start
        say(f"  graders autograde: {ours:.1f} s")
        our_scores = _scores(work, names)
        graded = sorted(work.folder("autograded").glob("*/*/*.ipynb"))
        in_cell = sum(in_cell_seconds(path) for path in graded)
        overhead = _overhead(graded)
    differences = {k: (serial_scores.get(k), v) for k, v in our_scores.items() if serial_scores.get(k) != v}
    return Case(label, students * len(names), len(graded), workers, serial, ours, in_cell, stock_in_cell, overhead,
                differences)


def in_cell_seconds(notebook: Path) -> float:
    """Time spent inside the cells of a graded notebook: each student cell as its kernel timed it
    (execute_input to execute_reply), each tests cell as its checks took in the checker."""
    nb = nbformat.read(str(notebook), as_version=4)
    total = 0.0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        checks = cell.get("metadata", {}).get("graders", {}).get("checks")
        if checks is not None:
            total += sum(float(c.get("seconds", 0)) for c in checks)
            continue
        timing = cell.get("metadata", {}).get("execution", {})
        begin, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if begin and end:
            total += (_instant(end) - _instant(begin)).total_seconds()
    return total


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _overhead(notebooks: list[Path]) -> dict:
    """Mean seconds per notebook of each phase outside cells (``metadata.graders.timing``)."""
    sums: dict[str, float] = {}
    for path in notebooks:
        timing = nbformat.read(str(path), as_version=4).metadata.get("graders", {}).get("timing", {})
        for phase in ("kernel_start", "first_contact", "between_cells"):
            sums[phase] = sums.get(phase, 0.0) + float(timing.get(phase, 0.0))
    return {k: v / max(1, len(notebooks)) for k, v in sums.items()}


def _scores(course: Course, assignments: list[str]) -> dict:
    """(student, assignment, notebook, cell) -> score, from the gradebook."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(course.db_url) as gb:
        for assignment in assignments:
            for sub in gb.assignment_submissions(assignment):
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        if grade.auto_score is not None or grade.max_score and not grade.needs_manual_grade:
                            out[(sub.student.id, assignment, nb.name, grade.name)] = grade.score
    return out


def main(course: Course, assignments: list[str] | None = None, students: int = 24, workers: int | None = None,
         progress: bool = True) -> int:
    """``graders bench``: print the side-by-side measurements."""
    result = run_benchmark(course, assignments, students=students, workers=workers, progress=progress)
    print()
    print(result.format())
    return 0
