"""Whether each submission was graded, beside nbgrader's gradebook (same database).

nbgrader records scores but not failures: a submission whose notebook could not be read or
whose grading crashed leaves no score, and an export then shows it as 0.  This table keeps
what happened so exports and reports can say "not graded: <why>" instead of a silent zero.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, Float, MetaData, String, Table, Text, create_engine, delete, select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

GRADED, FLAGGED, FAILED = "graded", "flagged", "failed"  # flagged: graded, but look at it
# written when a grader starts a submission and replaced by its outcome: a grader killed or
# cancelled half-way leaves this, never a grade that looks final (exports show it as not graded)
GRADING = "grading"

metadata = MetaData()
grading_status = Table(
    "graders_grading_status", metadata,
    Column("assignment", String(128), primary_key=True),
    Column("student", String(128), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("message", Text, default=""),
    Column("seconds", Float, default=0.0),
    Column("updated_at", DateTime, nullable=False),
)


@dataclass(frozen=True)
class GradingStatus:
    assignment: str
    student: str
    status: str
    message: str = ""
    seconds: float = 0.0
    updated_at: dt.datetime | None = None  # UTC, as recorded

    @property
    def graded(self) -> bool:
        return self.status in (GRADED, FLAGGED)


_ready: set[tuple[str, int]] = set()


def engine_with_tables(db_url: str, tables: MetaData):
    """An engine on ``db_url`` whose ``tables`` exist. Parallel graders may race to create them:
    the loser's "already exists" error is harmless, so it checks again instead of failing."""
    # SQLite: parallel graders wait for each other's writes instead of failing ("database is locked")
    engine = create_engine(db_url, **({"connect_args": {"timeout": 60}} if db_url.startswith("sqlite") else {}))
    key = (db_url, id(tables))
    if key not in _ready:
        for attempt in range(5):
            try:
                tables.create_all(engine)
                break
            except (OperationalError, ProgrammingError, IntegrityError):
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
        _ready.add(key)
    return engine


def _engine(db_url: str):
    return engine_with_tables(db_url, metadata)


def record(db_url: str, outcome: GradingStatus) -> GradingStatus:
    """Replace the submission's record by ``outcome``; returns it as recorded (with ``updated_at``)."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    engine = _engine(db_url)
    with engine.begin() as conn:
        conn.execute(delete(grading_status).where(
            (grading_status.c.assignment == outcome.assignment) & (grading_status.c.student == outcome.student)))
        conn.execute(grading_status.insert().values(
            assignment=outcome.assignment, student=outcome.student, status=outcome.status,
            message=outcome.message[:4000], seconds=outcome.seconds, updated_at=now))
    engine.dispose()
    return dataclasses.replace(outcome, message=outcome.message[:4000], updated_at=now.replace(tzinfo=dt.timezone.utc))


def load(db_url: str) -> dict[tuple[str, str], GradingStatus]:
    """(assignment, student) -> status."""
    engine = _engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(grading_status)).all()
    engine.dispose()
    return {(r.assignment, r.student): GradingStatus(r.assignment, r.student, r.status, r.message or "",
                                                     r.seconds or 0.0, r.updated_at.replace(tzinfo=dt.timezone.utc))
            for r in rows}
