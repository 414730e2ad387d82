"""Autograde submissions with nbgrader, several at a time, recording what happened to each.

``grade_submissions`` is the driver every grading engine shares (``graders.grading.engine``):
the local engine here (forked workers), Slurm job arrays and Kubernetes Jobs all run the same
unit of work, ``grade_task``, on the machine that grades.  A local worker is a forked process
that keeps one nbgrader API for all the submissions it grades, so Python start-up and nbgrader's
imports are paid once per worker, not per student.  A submission whose grading fails is recorded
as failed (with nbgrader's reason), never as 0.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .adjustments import apply_overrides
from .course import Course
from .engine import GradingEngine, Submission, engine_named
from .inspect import inspect_submission
from .status import FAILED, FLAGGED, GRADED, GRADING, GradingStatus, load, record

def grading_secret(course: Course) -> str:
    """The course's grading secret (``graders.grading.secrets``); student kernels never get it."""
    from .secrets import course_secret

    return course_secret(course.root)


def submitted_students(course: Course, assignment: str) -> list[str]:
    folder = course.folder("submitted")
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir())


def prepare_grader(course: Course, threads: int, assignments: Iterable[str]) -> None:
    """What a grading process sets up before it grades ``assignments``: the local driver before
    forking its workers, a Slurm or Kubernetes task on its node (``threads``: its share of the cores)."""
    from . import warmups

    # the graders read it here; the kernels' environment is an allow-list without it
    os.environ["GRADERS_SECRET"] = grading_secret(course)
    # the zygotes and the checker server warm up only what these notebooks use
    os.environ[warmups.ENV] = ",".join(warmups.warm_ups(course, assignments))
    # one BLAS/OpenMP thread pool per core, not per kernel: oversubscribed small matmuls stall
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(max(1, threads)))
    from .checker import ensure_server

    ensure_server()  # one warm checker server for all the workers forked from here


def grade_task(root: str, assignment: str, student: str) -> GradingStatus:
    """The unit of work of every engine, on the machine that grades: mark the submission as being
    graded, grade it, record the outcome; returns it as recorded.  A grader killed half-way leaves
    the mark ("grading"), which exports show as not graded, never a half-written grade."""
    global _worker_course
    if _worker_course is None or str(_worker_course.root) != root:
        _worker_course = Course(Path(root))
    db_url = _worker_course.db_url
    record(db_url, GradingStatus(assignment, student, GRADING,
                                 f"grading started on {os.uname().nodename} (pid {os.getpid()}) and did not "
                                 "finish: the grader was stopped; run graders autograde again"))
    return record(db_url, _grade_one(root, assignment, student))


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
    # an event loop of its own: the one inherited from the parent (jupyter_core keeps one per
    # thread) shares its epoll instance and its thread pool's bookkeeping with the parent
    import asyncio

    from jupyter_core import utils as jupyter_utils

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if hasattr(jupyter_utils, "_loop"):
        jupyter_utils._loop.set(loop)


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


_EXCEPTION_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Unavailable)): (.*)$")
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
              workers: int | None = None, force: bool = True, progress: bool = True,
              engine: str | GradingEngine = "local") -> list[GradingStatus]:
    """Grade ``students`` (all who submitted) for ``assignment``; returns one status each.
    ``engine``: where (``local``, ``slurm``, ``kubernetes``; see ``graders.grading.engine``)."""
    todo = [(assignment, s) for s in (students if students is not None else submitted_students(course, assignment))]
    return grade_submissions(course, todo, workers=workers, force=force, progress=progress,
                             label=f"grading {assignment}", engine=engine)


def main(course: Course, assignment: str, students: list[str] | None = None, workers: int | None = None,
         force: bool = False, progress: bool = True, engine: str = "local") -> int:
    """``graders autograde``: grade, print one line per submission; 1 if any is not graded."""
    outcomes = autograde(course, assignment, students, workers=workers, force=force, progress=progress, engine=engine)
    for o in outcomes:
        print(f"{o.student:<24} {o.status:<8} {o.seconds:6.1f}s  {o.message.splitlines()[-1] if o.message else ''}")
    return 1 if any(not o.graded for o in outcomes) else 0


def grade_all(course: Course, assignments: list[str], workers: int | None = None, force: bool = True,
              progress: bool = True, engine: str | GradingEngine = "local") -> list[GradingStatus]:
    """Every submission of several assignments in one pool (no idle cores between assignments)."""
    todo = [(a, s) for a in assignments for s in submitted_students(course, a)]
    return grade_submissions(course, todo, workers=workers, force=force, progress=progress, engine=engine)


def grade_submissions(course: Course, todo: list[tuple[str, str]], workers: int | None = None,
                      force: bool = True, progress: bool = True, label: str = "grading",
                      engine: str | GradingEngine = "local") -> list[GradingStatus]:
    """Grade (assignment, student) pairs on ``engine`` (local: ``workers`` processes); one status each.

    Without ``force``, a submission already graded since it was last submitted is skipped, so
    re-running after an interruption finishes the rest without redoing what was done.
    """
    if isinstance(engine, str):
        engine = engine_named(engine, workers)
    grading_secret(course)  # made here once, before any grader could race to make its own
    if not force:
        done = load(course.db_url)
        todo = [(a, s) for a, s in todo if not _up_to_date(course, done.get((a, s)), a, s)]
    # longest first (by notebook bytes): the last task to finish is a short one
    todo.sort(key=lambda pair: -_submission_bytes(course, *pair))
    outcomes: list[GradingStatus] = []
    bar = _progress(len(todo), label, progress)
    note = (lambda text: bar.set_description_str(f"{label} [{text}]")) if progress else (lambda text: None)
    for outcome in engine.grade(course, todo, note):
        if outcome.updated_at is None:   # the engine's word for a task that died before recording it
            outcome = record(course.db_url, outcome)
        outcomes.append(outcome)
        bar.set_postfix_str(f"{outcome.assignment}/{outcome.student}: {outcome.status}")
        bar.update(1)
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


class LocalEngine(GradingEngine):
    """Forked worker processes on this machine (default: one per core)."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers

    def grade(self, course: Course, todo: list[Submission], note: Callable[[str], None]) -> Iterator[GradingStatus]:
        workers = max(1, min(self.workers or os.cpu_count() or 1, len(todo) or 1))
        prepare_grader(course, threads=(os.cpu_count() or 1) // workers, assignments={a for a, _ in todo})
        note(f"{workers} local worker(s)")
        log_path = course.root / "reports" / "logs" / "autograde.log"
        # fork: workers inherit the imported nbgrader instead of paying Python start-up again
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(str(log_path),)) as pool:
            futures = {pool.submit(grade_task, str(course.root), a, s): (a, s) for a, s in todo}
            for future in as_completed(futures):
                try:
                    yield future.result()
                except Exception as exc:   # the worker itself died (killed, out of memory)
                    assignment, student = futures[future]
                    yield GradingStatus(assignment, student, FAILED,
                                        f"not graded: the grading worker died ({type(exc).__name__}: {exc}); "
                                        "run graders autograde again to grade it")


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="submission", disable=not enabled, leave=True)
