"""Autograde submissions with nbgrader, several at a time, recording what happened to each.

Each worker is a forked process that keeps one nbgrader API for all the submissions it
grades, so Python start-up and nbgrader's imports are paid once per worker, not per student.
A submission whose grading fails is recorded as failed (with nbgrader's reason), never as 0.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import secrets
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from .adjustments import apply_overrides
from .course import Course
from .inspect import inspect_submission
from .status import FAILED, FLAGGED, GRADED, GradingStatus, load, record

SECRET_FILE = ".graders_secret"


def grading_secret(course: Course) -> str:
    """$GRADERS_SECRET, else the course's own secret (made once, kept out of git)."""
    if os.environ.get("GRADERS_SECRET"):
        return os.environ["GRADERS_SECRET"]
    path = course.root / SECRET_FILE
    if not path.exists():
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip()


def submitted_students(course: Course, assignment: str) -> list[str]:
    folder = course.folder("submitted")
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir())


_worker_course: Course | None = None


def _init_worker(log_path: str) -> None:
    """Send a worker's output (nbgrader's log, kernels' warnings) to a log file, not the console."""
    import warnings

    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)  # kernels inherit both: their banners and warnings go to the log too
    os.dup2(fd, 2)
    os.close(fd)
    warnings.simplefilter("ignore")  # SQLAlchemy's autoflush warnings from nbgrader's gradebook


def _grade_one(root: str, assignment: str, student: str) -> GradingStatus:
    global _worker_course
    if _worker_course is None or str(_worker_course.root) != root:
        _worker_course = Course(Path(root))
    course = _worker_course
    start = time.perf_counter()
    notes: list[str] = []
    flagged = False
    try:
        seen = inspect_submission(course.submission_dir(student, assignment),
                                  course.folder("release") / assignment)
        notes += seen.notes + seen.suspicious
        flagged = bool(seen.suspicious)
        result = course.api.autograde(assignment, student, force=True, create=True)
        ok, why = result["success"], _failure_reason(result.get("log", ""), result.get("error", ""))
        if ok:
            ok, why = _all_notebooks_graded(course, assignment, student)
        if ok:
            incidents = _incidents(course, assignment, student)
            notes += incidents
            if apply_overrides(course.db_url, assignment, student):  # they survive every regrade
                notes.append("instructor overrides applied")
            flagged = flagged or any("tampering" in i for i in incidents)
    except Exception as exc:  # a grader bug must not take the batch down
        ok, why = False, f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    if not ok:
        return GradingStatus(assignment, student, FAILED, "; ".join(notes + [why]), seconds)
    return GradingStatus(assignment, student, FLAGGED if flagged else GRADED, "; ".join(notes), seconds)


def _incidents(course: Course, assignment: str, student: str) -> list[str]:
    """What SandboxedExecute recorded in each graded notebook (timeouts, crashes, tampering)."""
    import nbformat

    out = []
    for path in sorted((course.folder("autograded") / student / assignment).glob("*.ipynb")):
        meta = nbformat.read(str(path), as_version=4).metadata.get("graders", {})
        for incident in meta.get("incidents", []):
            detail = incident["kind"]
            if incident.get("changed"):
                detail += " (" + ", ".join(incident["changed"][:4]) + ")"
            out.append(f"{path.stem}/{incident['cell']}: {detail}")
    return out


def _all_notebooks_graded(course: Course, assignment: str, student: str) -> tuple[bool, str]:
    """nbgrader reports success even when a submitted notebook could not be graded."""
    graded_dir = course.folder("autograded") / student / assignment
    missing = [p.name for p in course.submission_dir(student, assignment).glob("*.ipynb")
               if not (graded_dir / p.name).is_file()]
    if missing:
        return False, f"not graded: {', '.join(missing)}"
    return True, ""


_EXCEPTION_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (.*)$")
_HINTS = {
    "NotJSONError": "the notebook file is not valid JSON: ask the student to resubmit the notebook as saved by Jupyter",
    "ValidationError": "the notebook does not follow the notebook format: ask the student to resubmit",
    "DeadKernelError": "the kernel died (memory or a crash in student code)",
}


def _failure_reason(log: str, error: str) -> str:
    """The root cause from nbgrader's log and traceback, plus what to do about it."""
    causes = [m for m in (_EXCEPTION_LINE.match(line) for line in (log + "\n" + error).splitlines())
              if m and not m.group(1).endswith("NbGraderException")]
    if "No notebooks were matched" in log + error:
        return "nothing to grade: the submission holds none of the assignment's notebooks"
    if not causes:
        return _short(error or log) or "nbgrader reported a failure without a reason"
    name, text = causes[-1].group(1), causes[-1].group(2)
    hint = _HINTS.get(name.rsplit(".", 1)[-1])
    return f"{name.rsplit('.', 1)[-1]}: {text}" + (f" ({hint})" if hint else "")


def _short(text: str, limit: int = 1500) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-12:])[-limit:]


def autograde(course: Course, assignment: str, students: list[str] | None = None,
              workers: int | None = None, force: bool = True, progress: bool = True) -> list[GradingStatus]:
    """Grade ``students`` (all who submitted) for ``assignment``; returns one status each."""
    todo = [(assignment, s) for s in (students if students is not None else submitted_students(course, assignment))]
    return grade_submissions(course, todo, workers=workers, force=force, progress=progress,
                             label=f"grading {assignment}")


def grade_all(course: Course, assignments: list[str], workers: int | None = None, force: bool = True,
              progress: bool = True) -> list[GradingStatus]:
    """Every submission of several assignments in one pool (no idle cores between assignments)."""
    todo = [(a, s) for a in assignments for s in submitted_students(course, a)]
    return grade_submissions(course, todo, workers=workers, force=force, progress=progress)


def grade_submissions(course: Course, todo: list[tuple[str, str]], workers: int | None = None,
                      force: bool = True, progress: bool = True, label: str = "grading") -> list[GradingStatus]:
    """Grade (assignment, student) pairs with ``workers`` processes; one status each.

    Without ``force``, a submission already graded since it was last submitted is skipped, so
    re-running after an interruption finishes the rest without redoing what was done.
    """
    os.environ["GRADERS_SECRET"] = grading_secret(course)  # kernels inherit it
    if not force:
        done = load(course.db_url)
        todo = [(a, s) for a, s in todo if not _up_to_date(course, done.get((a, s)), a, s)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    # one BLAS/OpenMP thread pool per core, not per kernel: oversubscribed small matmuls stall
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, threads)
    # longest first (by notebook bytes): the last task to finish is a short one
    todo.sort(key=lambda pair: -_submission_bytes(course, *pair))
    outcomes: list[GradingStatus] = []
    bar = _progress(len(todo), label, progress)
    log_path = course.root / "reports" / "logs" / "autograde.log"
    # fork: workers inherit the imported nbgrader instead of paying Python start-up again
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(str(log_path),)) as pool:
        futures = [pool.submit(_grade_one, str(course.root), a, s) for a, s in todo]
        for future in as_completed(futures):
            outcomes.append(_finish(course, future.result(), bar))
    bar.close()
    from .leaderboard import has_leaderboard, write_leaderboard

    for assignment in sorted({a for a, _ in todo}):
        if has_leaderboard(course, assignment):  # the project's ranking follows every grading run
            write_leaderboard(course, assignment)
    return sorted(outcomes, key=lambda o: (o.assignment, o.student))


def _submission_bytes(course: Course, assignment: str, student: str) -> int:
    return sum(p.stat().st_size for p in course.submission_dir(student, assignment).glob("*.ipynb"))


def _up_to_date(course: Course, status: GradingStatus | None, assignment: str, student: str) -> bool:
    """Graded after the submission's files last changed (a resubmission is graded again)."""
    if status is None or not status.graded or status.updated_at is None:
        return False
    folder = course.submission_dir(student, assignment)
    newest = max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)
    return status.updated_at.timestamp() >= newest


def _finish(course: Course, outcome: GradingStatus, bar) -> GradingStatus:
    record(course.db_url, outcome)
    bar.set_postfix_str(f"{outcome.assignment}/{outcome.student}: {outcome.status}")
    bar.update(1)
    return outcome


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="submission", disable=not enabled, leave=True)
