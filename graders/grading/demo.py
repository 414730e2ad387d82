"""The whole loop on one machine: release -> demo submissions -> autograde -> feedback -> gradebook.

Demo students show what graders must handle: a perfect submission, typical mistakes, the
untouched stub, code that raises, and a file that cannot be graded at all.
"""

from __future__ import annotations

import datetime as dt
import shutil
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .autograde import grade_all
from .course import Course
from . import analytics, similarity
from .gradebook import export_canvas, export_csv, format_table, submission_rows
from .release import GradingError, generate_release
from .variants import is_solution, read, reference_submission, with_answer
from .verify import load_wrong_answers

#: what the demo grades by default: one assignment from each part of the course, the quick ones,
#: so that the README's first command answers in minutes (``graders demo --all``: every assignment)
DEMO_SUBSET = ("class01_pytorch_basics", "class05_visualization", "class08_relational_concepts", "extra_causality")

DEMO_STUDENTS = {
    "alice": "the reference solution",
    "bob": "typical mistakes (the first wrong answer of each notebook), 30 hours late",
    "carol": "the released stub, untouched",
    "dave": "code that raises in the first answer of each notebook, 30 hours late with a 48-hour extension",
    "erin": "a corrupt notebook file (cannot be graded: must not look like a zero)",
}


def demo_submission(course: Course, student: str, assignment: str, source: Path, release: Path) -> str | None:
    """The text of ``student``'s version of one notebook (None: leave it as released)."""
    source_nb, release_nb = read(source), read(release)
    reference = reference_submission(source_nb, release_nb)
    if student == "alice":
        nb = reference
    elif student == "bob":
        wrong = load_wrong_answers(course.root, assignment, source.name)
        nb = with_answer(reference, wrong[0].cell, wrong[0].code) if wrong else reference
    elif student == "carol":
        nb = release_nb
    elif student == "dave":
        first = next(c for c in reference.cells if is_solution(c) and c.cell_type == "code")
        first.source = 'raise RuntimeError("dave\'s code crashed here")\n' + first.source
        nb = reference
    elif student == "erin":
        return '{"cells": [ this is not JSON'
    else:
        raise ValueError(f"unknown demo student {student!r}")
    return nbformat.writes(nb)


LATE = {"bob": dt.timedelta(hours=30), "dave": dt.timedelta(hours=30)}
EXTENSIONS = {"dave": 48.0}


def write_demo_submissions(course: Course, assignments: list[str], due: dt.datetime) -> None:
    """Everyone submits a day before ``due`` (naive UTC), except the late ones."""
    for assignment in assignments:
        for student in DEMO_STUDENTS:
            folder = course.submission_dir(student, assignment)
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            for source in course.notebooks(assignment):
                release = course.folder("release") / assignment / source.name
                (folder / source.name).write_text(demo_submission(course, student, assignment, source, release))
            when = due + LATE.get(student, dt.timedelta(days=-1))
            (folder / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))


def set_demo_policy(course: Course, assignments: list[str], due: dt.datetime) -> None:
    """Due dates in the gradebook and the demo's extensions (the late policy is nbgrader_config.py's)."""
    from nbgrader.api import Gradebook

    from .adjustments import grant_extension

    with Gradebook(course.db_url) as gb:
        for name in assignments:
            gb.update_or_create_assignment(name, duedate=due)
    for assignment in assignments:
        for student, hours in EXTENSIONS.items():
            grant_extension(course.db_url, assignment, student, hours, "demo: a documented illness")


def write_demo_roster(path: Path) -> Path:
    """What an LMS export gives: our student ids mapped to Canvas ids (made up for the demo)."""
    import csv

    from .gradebook import ROSTER_COLUMNS

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(ROSTER_COLUMNS)
        for i, student in enumerate(DEMO_STUDENTS):
            writer.writerow([student, f"{student.capitalize()}, Demo", 90001 + i, f"S{1000 + i}",
                             f"{student}@example.edu", "Demo section"])
    return path


@dataclass
class DemoResult:
    table: str
    csv: Path
    feedback: Path
    failed: int
    seconds: dict = field(default_factory=dict)  # phase -> wall time
    reports: list = field(default_factory=list)  # the other files written: Canvas CSV, analytics, similarity


def allow_unconfined_demo(say=print) -> None:
    """The demo's students are our own code: without bubblewrap it may grade them unconfined,
    and says so (real submissions are refused unconfined unless the instructor says so)."""
    from .sandbox import LocalSandbox, SandboxUnavailable

    try:
        LocalSandbox().check()
    except SandboxUnavailable as why:
        say(f"   note: grading the demo's own students WITHOUT a sandbox ({why})")
        os.environ["GRADERS_ALLOW_UNCONFINED"] = "1"


def demo_assignments(course: Course, everything: bool = False) -> list[str]:
    """The demo's subset where the course has it (else every assignment, as in a small course)."""
    available = course.assignments()
    subset = [a for a in DEMO_SUBSET if a in available]
    return available if everything or not subset else subset


def run_demo(course: Course, assignments: list[str] | None = None, workers: int | None = None,
             progress: bool = True, say=print, everything: bool = False) -> DemoResult:
    names = assignments or demo_assignments(course, everything)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[phase] = now - clock
        clock = now

    notebooks = sum(len(course.notebooks(n)) for n in names)
    say(f"1/6 release: generating release/ for {len(names)} assignments ({', '.join(names)}) with nbgrader")
    generate_release(course, names)
    due = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0) + dt.timedelta(days=7)
    set_demo_policy(course, names, due)
    lap("release")
    say(f"2/6 submissions: {', '.join(f'{s} ({d})' for s, d in DEMO_STUDENTS.items())}")
    write_demo_submissions(course, names, due)
    lap("submissions")
    say(f"3/6 autograde: {notebooks * len(DEMO_STUDENTS)} notebooks, in parallel (the bar shows the estimate)")
    allow_unconfined_demo(say)
    failed = sum(not o.graded for o in grade_all(course, names, workers=workers, progress=progress))
    lap("autograde")
    say("4/6 feedback")
    for name in names:
        result = course.api.generate_feedback(name, force=True)
        if not result["success"]:
            raise GradingError(f"nbgrader generate_feedback {name} failed:\n{result.get('log', '')}\n{result.get('error', '')}")
    lap("feedback")
    say("5/6 gradebook: CSV and Canvas exports")
    reports_dir = course.root / "reports"
    csv_path = export_csv(course, reports_dir / "grades.csv", names)
    reports = [export_canvas(course, write_demo_roster(reports_dir / "demo-roster.csv"), reports_dir / "canvas.csv", names)]
    table = format_table(submission_rows(course, names))
    lap("gradebook")
    say("6/6 reports: analytics and similarity")
    reports.append(analytics.write_report(course, names))
    reports += [similarity.write_report(course, name)[0] for name in names]
    lap("reports")
    return DemoResult(table, csv_path, course.folder("feedback"), failed, seconds, reports)
