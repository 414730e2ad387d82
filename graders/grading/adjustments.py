"""What instructors decide per student, kept apart from grading so a regrade never loses it.

* **Extensions** (``graders extend STUDENT ASSIGNMENT --hours 48``): extra time before the late
  policy applies. nbgrader computes how late a submission is against the assignment's due date;
  ``LatePenalty`` (nbgrader's late-submission plugin, set in ``nbgrader_config.py``) subtracts the
  student's extension first, at every autograde, so a regrade applies it again.
* **Overrides** (``graders override STUDENT ASSIGNMENT CELL SCORE --reason ...``): a score that
  replaces what the checks gave one cell (a regrade request, an accepted appeal). Stored here and
  written into nbgrader's ``manual_score`` (with the reason as the cell's comment) after each
  grading of that submission, so the gradebook, the formgrader, feedback and exports all agree.

Both live in tables beside nbgrader's gradebook (same database: SQLite or PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, Float, MetaData, String, Table, Text, delete, select
from traitlets import Float as FloatTrait

from nbgrader.plugins import LateSubmissionPlugin

from .status import engine_with_tables

metadata = MetaData()
extensions_table = Table(
    "graders_extensions", metadata,
    Column("assignment", String(128), primary_key=True),
    Column("student", String(128), primary_key=True),
    Column("hours", Float, nullable=False),
    Column("reason", Text, default=""),
    Column("updated_at", DateTime, nullable=False),
)
overrides_table = Table(
    "graders_overrides", metadata,
    Column("assignment", String(128), primary_key=True),
    Column("student", String(128), primary_key=True),
    Column("notebook", String(128), primary_key=True),
    Column("cell", String(128), primary_key=True),
    Column("score", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)


@dataclass(frozen=True)
class Override:
    assignment: str
    student: str
    notebook: str
    cell: str
    score: float
    reason: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _engine(db_url: str):
    return engine_with_tables(db_url, metadata)


def grant_extension(db_url: str, assignment: str, student: str, hours: float, reason: str = "") -> None:
    if not math.isfinite(hours) or hours < 0:
        raise ValueError(f"an extension is a number of hours >= 0, got {hours}")
    engine = _engine(db_url)
    with engine.begin() as conn:
        conn.execute(delete(extensions_table).where(
            (extensions_table.c.assignment == assignment) & (extensions_table.c.student == student)))
        conn.execute(extensions_table.insert().values(assignment=assignment, student=student, hours=hours,
                                                      reason=reason, updated_at=_now()))
    engine.dispose()


def extension_hours(db_url: str, assignment: str, student: str) -> float:
    engine = _engine(db_url)
    with engine.connect() as conn:
        hours = conn.execute(select(extensions_table.c.hours).where(
            (extensions_table.c.assignment == assignment) & (extensions_table.c.student == student))).scalar()
    engine.dispose()
    return float(hours or 0.0)


def set_override(db_url: str, override: Override) -> None:
    """Record an override; applied at once if the submission is graded, and after every regrade."""
    if not override.reason.strip():
        raise ValueError("an override needs a reason (it is shown to the student as the TA's comment)")
    engine = _engine(db_url)
    key = ((overrides_table.c.assignment == override.assignment) & (overrides_table.c.student == override.student)
           & (overrides_table.c.notebook == override.notebook) & (overrides_table.c.cell == override.cell))
    with engine.begin() as conn:
        conn.execute(delete(overrides_table).where(key))
        conn.execute(overrides_table.insert().values(**override.__dict__, updated_at=_now()))
    engine.dispose()
    apply_overrides(db_url, override.assignment, override.student)


def overrides(db_url: str, assignment: str | None = None, student: str | None = None) -> list[Override]:
    engine = _engine(db_url)
    query = select(overrides_table)
    if assignment is not None:
        query = query.where(overrides_table.c.assignment == assignment)
    if student is not None:
        query = query.where(overrides_table.c.student == student)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    engine.dispose()
    return [Override(r.assignment, r.student, r.notebook, r.cell, r.score, r.reason) for r in rows]


def apply_overrides(db_url: str, assignment: str, student: str) -> int:
    """Write the recorded overrides of one submission into nbgrader's gradebook; how many applied."""
    from nbgrader.api import Gradebook, MissingEntry

    todo = overrides(db_url, assignment, student)
    applied = 0
    if not todo:
        return 0
    with Gradebook(db_url) as gb:
        for o in todo:
            try:
                grade = gb.find_grade(o.cell, o.notebook, assignment, student)
            except MissingEntry:
                continue  # not graded yet: applied after grading
            if not 0 <= o.score <= grade.max_score:
                raise ValueError(f"override {o.cell}: score {o.score} outside 0..{grade.max_score}")
            grade.manual_score = o.score
            grade.needs_manual_grade = False  # decided: not waiting for a TA
            try:
                comment = gb.find_comment(o.cell, o.notebook, assignment, student)
                comment.manual_comment = f"Score set to {o.score:g} by an instructor: {o.reason}"
            except MissingEntry:
                pass  # only answer cells carry comments in nbgrader; the reason stays in our table
            applied += 1
        gb.db.commit()
    return applied


class LatePenalty(LateSubmissionPlugin):
    """A percentage of the notebook's score per started day late, after the student's extension.

    Configured in ``nbgrader_config.py``::

        c.AssignLatePenalties.plugin_class = "graders.grading.adjustments.LatePenalty"
        c.LatePenalty.percent_per_day = 10
        c.LatePenalty.max_percent = 50
        c.LatePenalty.grace_minutes = 15
    """

    percent_per_day = FloatTrait(10.0, help="Percent of the score lost per started day late.").tag(config=True)
    max_percent = FloatTrait(50.0, help="The penalty never exceeds this percent of the score.").tag(config=True)
    grace_minutes = FloatTrait(15.0, help="Submissions this late are on time (clock skew, uploads).").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        assignment = getattr(self.parent, "assignment_id", None)
        db_url = getattr(self.parent, "db_url", None)
        extension = extension_hours(db_url, assignment, student_id) if assignment and db_url else 0.0
        return penalty(score, total_seconds_late, extension, self.percent_per_day, self.max_percent,
                       self.grace_minutes)


def penalty(score: float, seconds_late: float, extension_hours: float = 0.0, percent_per_day: float = 10.0,
            max_percent: float = 50.0, grace_minutes: float = 15.0) -> float:
    """The points lost: ``percent_per_day`` of ``score`` per started day after extension and grace."""
    late = seconds_late - extension_hours * 3600
    if late <= grace_minutes * 60 or score <= 0:
        return 0.0
    days = math.ceil(late / 86400)
    return round(score * min(max_percent, days * percent_per_day) / 100.0, 4)
