"""Reading grades back: per cell (with the checks' messages), per submission, as CSV."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import nbformat

from .course import Course
from .status import load as load_status
from .variants import grade_id


@dataclass
class CellScore:
    notebook: str
    grade_id: str
    score: Optional[float]  # None: waits for a TA
    max_score: float
    manual: bool
    output: str = ""


@dataclass
class SubmissionRow:
    student: str
    assignment: str
    status: str  # graded | needs manual grading | flagged | failed | not submitted
    score: Optional[float]  # after the late penalty
    max_score: float
    message: str = ""
    late_penalty: float = 0.0
    hours_late: float = 0.0


def cell_scores(course: Course, assignment: str, student: str) -> list[CellScore]:
    """Every graded cell of a graded submission, with what its checks printed."""
    from nbgrader.api import Gradebook, MissingEntry

    cells = []
    with Gradebook(course.db_url) as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return []
        for nb in submission.notebooks:
            outputs = _cell_outputs(course.folder("autograded") / student / assignment / f"{nb.name}.ipynb")
            for grade in nb.grades:
                manual = grade.cell.cell_type == "markdown"
                score = None if grade.needs_manual_grade else grade.score
                cells.append(CellScore(nb.name, grade.name, score, grade.max_score, manual,
                                       outputs.get(grade.name, "")))
    return cells


def _cell_outputs(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from .feedback import cell_text

    nb = nbformat.read(str(path), as_version=4)
    return {grade_id(cell): cell_text(cell) for cell in nb.cells if cell.cell_type == "code" and grade_id(cell)}


def submission_rows(course: Course, assignments: list[str] | None = None) -> list[SubmissionRow]:
    """One row per (student, assignment): graded score, or why there is none."""
    from nbgrader.api import Gradebook

    statuses = load_status(course.db_url)
    rows = []
    with Gradebook(course.db_url) as gb:
        names = assignments or [a.name for a in gb.assignments]
        # a submission that failed before nbgrader created its student is only in our table
        students = sorted({s.id for s in gb.students} | {student for (_, student) in statuses})
        for assignment in names:
            max_score = gb.find_assignment(assignment).max_score
            graded = {s.student.id: s for s in gb.assignment_submissions(assignment)}
            for student in students:
                status = statuses.get((assignment, student))
                sub = graded.get(student)
                if status is not None and not status.graded:
                    rows.append(SubmissionRow(student, assignment, "failed", None, max_score, status.message))
                elif sub is None:
                    rows.append(SubmissionRow(student, assignment, "not submitted", None, max_score))
                else:
                    state = "needs manual grading" if sub.needs_manual_grade else "graded"
                    message = status.message if status is not None else ""
                    if status is not None and status.status == "flagged":
                        state = "flagged"
                    penalty = sub.late_submission_penalty or 0.0
                    hours_late = (sub.total_seconds_late or 0.0) / 3600
                    rows.append(SubmissionRow(student, assignment, state, sub.score - penalty, max_score, message,
                                              penalty, round(hours_late, 2)))
    return rows


def export_csv(course: Course, path: Path, assignments: list[str] | None = None) -> Path:
    """The gradebook as CSV: an ungraded submission has an empty score and says why."""
    rows = submission_rows(course, assignments)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(SubmissionRow.__dataclass_fields__))
        writer.writeheader()
        for row in rows:
            data = asdict(row)
            data["score"] = "" if row.score is None else f"{row.score:g}"
            data["max_score"] = f"{row.max_score:g}"
            data["late_penalty"] = f"{row.late_penalty:g}"
            writer.writerow(data)
    return path


def format_table(rows: list[SubmissionRow]) -> str:
    """A plain-text score table: students down, assignments across."""
    assignments = sorted({r.assignment for r in rows})
    students = sorted({r.student for r in rows})
    cell = {(r.student, r.assignment): r for r in rows}

    def show(r: SubmissionRow | None) -> str:
        if r is None or r.status == "not submitted":
            return "—"
        if r.status == "failed":
            return "NOT GRADED"
        text = f"{r.score:g}/{r.max_score:g}" + (" late" if r.late_penalty else "")
        return text + {"needs manual grading": " +TA", "flagged": " FLAGGED"}.get(r.status, "")

    width = max([len("student")] + [len(s) for s in students]) + 2
    cols = [max(len(a), 14) + 2 for a in assignments]
    lines = ["student".ljust(width) + "".join(a.ljust(w) for a, w in zip(assignments, cols))]
    for s in students:
        lines.append(s.ljust(width) + "".join(show(cell.get((s, a))).ljust(w) for a, w in zip(assignments, cols)))
    for status, heading in (("failed", "Not graded (no score recorded; fix the cause and run again):"),
                            ("flagged", "Flagged for a person to look at (graded; see the message):")):
        listed = [r for r in rows if r.status == status]
        if listed:
            lines += ["", heading]
            lines += [f"  {r.student} / {r.assignment}: {(r.message or 'unknown')[:300]}" for r in listed]
    if any(r.status == "needs manual grading" for r in rows):
        lines.append("+TA: free-response answers wait for a TA in the formgrader; the score so far is shown.")
    return "\n".join(lines)


# --- LMS export ---------------------------------------------------------------------------------

ROSTER_COLUMNS = ("student_id", "name", "canvas_id", "sis_user_id", "sis_login_id", "section")


class RosterError(ValueError):
    pass


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """nbgrader student id -> the LMS identities (a CSV with ``ROSTER_COLUMNS``)."""
    if not path.is_file():
        raise RosterError(f"no roster at {path}: write a CSV with columns {', '.join(ROSTER_COLUMNS)} "
                          "(Canvas: People > export, or the gradebook's own CSV export has ID and SIS columns)")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("student_id", "name", "canvas_id") if c not in (reader.fieldnames or [])]
        if missing:
            raise RosterError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(ROSTER_COLUMNS)}")
        return {row["student_id"].strip(): row for row in reader if row.get("student_id", "").strip()}


def export_canvas(course: Course, roster_path: Path, path: Path, assignments: list[str] | None = None,
                  canvas_assignment_ids: dict[str, str] | None = None) -> Path:
    """A CSV Canvas's gradebook imports (Grades > Import): one row per student of the roster.

    Columns: Student, ID (Canvas user id), SIS User ID, SIS Login ID, Section, then one column per
    assignment, titled ``name (canvas assignment id)`` when the id is known (Canvas then updates that
    assignment; without it Canvas creates a new one). A "Points Possible" row follows the header.
    Scores include the late penalty; a submission that was not graded, or not submitted, is left
    blank (Canvas keeps what it had) - never a silent zero. Students graded here but missing from the
    roster are an error: their grades would be dropped.
    """
    roster = read_roster(roster_path)
    rows = submission_rows(course, assignments)
    names = sorted({r.assignment for r in rows})
    unknown = sorted({r.student for r in rows if r.score is not None} - set(roster))
    if unknown:
        raise RosterError(f"graded students missing from {roster_path}: {', '.join(unknown)} "
                          "(add them with their canvas_id, or remove their submissions)")
    ids = canvas_assignment_ids or {}
    max_scores = {r.assignment: r.max_score for r in rows}
    scores = {(r.student, r.assignment): r.score for r in rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
                        + [f"{a} ({ids[a]})" if a in ids else a for a in names])
        writer.writerow(["    Points Possible", "", "", "", ""] + [f"{max_scores[a]:g}" for a in names])
        for student_id, person in sorted(roster.items(), key=lambda kv: kv[1].get("name", "")):
            cells = []
            for a in names:
                score = scores.get((student_id, a))
                cells.append("" if score is None else f"{score:g}")
            writer.writerow([person.get("name", ""), person.get("canvas_id", ""), person.get("sis_user_id", ""),
                             person.get("sis_login_id", ""), person.get("section", "")] + cells)
    return path
