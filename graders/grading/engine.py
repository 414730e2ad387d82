"""Where grading runs: one contract, three engines.

An engine grades a list of submissions somewhere: ``local`` (forked worker processes on this
machine, ``graders.grading.autograde``), ``slurm`` (the tasks of a Slurm job array,
``graders.grading.slurm``) or ``kubernetes`` (one Job per submission,
``graders.grading.kubernetes``).  Wherever it runs, each submission goes through the same unit
of work, ``autograde.grade_task``: mark the submission as being graded, grade it in the sandbox
(``autograde._grade_one``), record the outcome in the gradebook.  The driver,
``autograde.grade_submissions``, is the same for every engine: it skips what is already graded
(so a re-run resumes), orders the work, shows progress, records the outcome an engine reports for
a submission whose task died before it could record one itself, and updates the leaderboards.

Engines that hand the work to a scheduler share ``BatchEngine``: tasks write each outcome to a
file in the run's folder on the course's shared storage as soon as it is recorded, so the driver
sees progress per submission and, when a task ends, knows exactly which of its submissions were
graded, which one it was grading when it died, and which it never reached.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import shutil
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Iterator

from traitlets import Dict, Float, Int
from traitlets.config import Configurable

from .course import Course
from .status import FAILED, GRADING, GradingStatus, load

Submission = tuple[str, str]          # (assignment, student)
ENGINES = ("local", "slurm", "kubernetes")
RUNS_FOLDER = ".graders"              # in the course folder: hidden from nbgrader (".*") and from kernels


class GradingEngine(ABC):
    """Grades submissions somewhere; the driver (``autograde.grade_submissions``) does the rest."""

    name: ClassVar[str]

    @abstractmethod
    def grade(self, course: Course, todo: list[Submission], note: Callable[[str], None]) -> Iterator[GradingStatus]:
        """Grade each submission of ``todo`` with ``autograde.grade_task`` and yield one outcome per
        submission, in any order, as soon as it is known.  An outcome the task recorded itself has
        ``updated_at`` set; one the engine makes up for a task that died (``updated_at`` None) is
        recorded by the driver.  ``note`` shows what the engine is doing beside the progress bar.
        If the consumer stops early (Ctrl-C), the engine stops or cancels what it started."""


def engine_named(name: str, workers: int | None = None) -> GradingEngine:
    if name == "local":
        from .autograde import LocalEngine

        return LocalEngine(workers)
    if name == "slurm":
        from .slurm import SlurmEngine

        return SlurmEngine()
    if name == "kubernetes":
        from .kubernetes import KubernetesEngine

        return KubernetesEngine()
    raise ValueError(f"unknown grading engine {name!r}: use one of {', '.join(ENGINES)}")


# --- what one submission's grading needs, per assignment (the Slurm and Kubernetes engines) -------

@dataclass(frozen=True)
class TaskResources:
    cpus: int
    memory_gb: float
    gpus: int
    minutes: int          # wall-clock limit of grading one submission, kernel start to recorded outcome


class GradingResources(Configurable):
    """``c.GradingResources`` in nbgrader_config.py: what grading one submission may use on a cluster.

    The defaults hold for every assignment; ``per_assignment`` changes them for some, e.g.
    ``{"class09_project": {"gpus": 1, "cpus": 4, "memory_gb": 16}}``. A task that grades several
    submissions in a row (a Slurm shard) asks for the same cores, memory and cards and for the sum
    of their minutes.
    """

    cpus = Int(2, help="Cores per submission: the kernel and the grader beside it").tag(config=True)
    memory_gb = Float(8.0, help="Memory per submission (the local sandbox caps a kernel's address space "
                                "at 6 GiB; the grader needs the rest)").tag(config=True)
    gpus = Int(0, help="GPUs per submission").tag(config=True)
    minutes = Int(0, help="Time limit per submission; 0: each notebook's budget "
                          "(c.SandboxedExecute.submission_timeout) plus a margin").tag(config=True)
    per_assignment = Dict(help="assignment -> {cpus, memory_gb, gpus, minutes}: overrides for that "
                               "assignment").tag(config=True)

    def for_assignment(self, course: Course, assignment: str) -> TaskResources:
        override = dict(self.per_assignment.get(assignment, {}))
        unknown = set(override) - {"cpus", "memory_gb", "gpus", "minutes"}
        if unknown:
            raise ValueError(f"c.GradingResources.per_assignment[{assignment!r}] has unknown keys {sorted(unknown)}: "
                             "use cpus, memory_gb, gpus, minutes")
        minutes = int(override.get("minutes", self.minutes)) or self._budget_minutes(course, assignment)
        return TaskResources(cpus=int(override.get("cpus", self.cpus)),
                             memory_gb=float(override.get("memory_gb", self.memory_gb)),
                             gpus=int(override.get("gpus", self.gpus)), minutes=minutes)

    @staticmethod
    def _budget_minutes(course: Course, assignment: str) -> int:
        """Each notebook's wall-clock budget, a fifth more for kernel restarts, two minutes to start."""
        per_notebook = course.config.SandboxedExecute.get("submission_timeout", 1200)
        notebooks = max(1, len(course.notebooks(assignment, "release")) or len(course.notebooks(assignment)))
        return math.ceil(notebooks * per_notebook * 1.2 / 60) + 2


def resources_for(course: Course, assignment: str) -> TaskResources:
    return GradingResources(config=course.config).for_assignment(course, assignment)


# --- engines that hand submissions to a scheduler as tasks -----------------------------------------

def write_outcome(folder: Path, outcome: GradingStatus) -> None:
    """Tell the driver about a recorded outcome: one JSON file per submission, renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    data = dataclasses.asdict(outcome)
    data["updated_at"] = outcome.updated_at.isoformat() if outcome.updated_at else None
    tmp = folder / f".{outcome.student}.json.tmp"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, folder / f"{outcome.student}.json")


def grade_shard(root: str, assignment: str, students: list[str], outcomes: str | None,
                threads: int = 1) -> list[GradingStatus]:
    """What a task runs on its node (a Slurm array task, a Kubernetes Job's grader): grade ``students``
    in a row with ``autograde.grade_task``; each outcome is recorded, then written to ``outcomes``
    for the driver. A task started again (requeued) skips what it already reported."""
    from .autograde import grade_task, prepare_grader

    prepare_grader(Course(Path(root)), threads=threads, assignments=[assignment])
    folder, done = Path(outcomes) if outcomes else None, []
    for student in students:
        if folder is None or not (folder / f"{student}.json").is_file():
            outcome = grade_task(root, assignment, student)
            if folder is not None:
                write_outcome(folder, outcome)
            done.append(outcome)
    return done


def task_main(course: Course, assignment: str, students: list[str], outcomes: str | None = None) -> int:
    """``graders grade-task``: what a Kubernetes Job's grader runs (and a person may, by hand). A
    submission that fails to grade is recorded as failed: the task itself succeeded."""
    for o in grade_shard(str(course.root), assignment, students, outcomes, threads=os.cpu_count() or 1):
        print(f"{o.student:<24} {o.status:<8} {o.seconds:6.1f}s  {o.message.splitlines()[-1] if o.message else ''}")
    return 0


def read_outcome(path: Path) -> GradingStatus:
    data = json.loads(path.read_text())
    if data.get("updated_at"):
        data["updated_at"] = dt.datetime.fromisoformat(data["updated_at"])
    return GradingStatus(**data)


@dataclass
class Task:
    """One scheduled unit: some submissions of one assignment, graded in a row."""

    assignment: str
    students: list[str]
    handle: object = None            # the scheduler's own (a submitit job, a Job name)
    done: set = field(default_factory=set)


@dataclass(frozen=True)
class TaskState:
    finished: bool
    running: bool = False
    why: str = ""                    # a finished task that did not grade all its submissions: why,
    advice: str = ""                 # and what to do


class BatchEngine(GradingEngine):
    """Submit tasks to a scheduler, follow them, read their outcomes; subclasses say how to talk to it."""

    poll_interval_s: float = 2.0
    submissions_per_task: int = 1

    @abstractmethod
    def submit(self, course: Course, run: Path, assignment: str, shards: list[list[str]]) -> list[Task]:
        """Start one task per shard; each writes its outcomes to ``outcome_folder(run, assignment)``."""

    @abstractmethod
    def states(self, tasks: list[Task]) -> dict[int, TaskState]:
        """The state of each task (by index in ``tasks``)."""

    @abstractmethod
    def cancel(self, tasks: list[Task]) -> None:
        """Stop the tasks that have not finished."""

    @staticmethod
    def outcome_folder(run: Path, assignment: str) -> Path:
        return run / "outcomes" / assignment

    def new_run(self, course: Course) -> Path:
        """A private folder on the course's storage for this run (pickled calls, logs, outcomes)."""
        base = course.root / RUNS_FOLDER / self.name
        base.mkdir(parents=True, exist_ok=True)
        os.chmod(course.root / RUNS_FOLDER, 0o700)   # the tasks' calls hold the gradebook's URL
        run = base / f"{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}-{os.urandom(3).hex()}"
        run.mkdir(mode=0o700)
        return run

    def grant_run(self, course: Course, run: Path) -> None:
        """Let the tasks write their outcomes when they run as another account (default: they run as us)."""

    def grade(self, course: Course, todo: list[Submission], note: Callable[[str], None]) -> Iterator[GradingStatus]:
        if not todo:
            return
        run = self.new_run(course)
        by_assignment: dict[str, list[str]] = {}
        for assignment, student in todo:
            by_assignment.setdefault(assignment, []).append(student)
        tasks: list[Task] = []
        try:
            for assignment, students in by_assignment.items():
                size = max(1, self.submissions_per_task)
                shards = [students[i:i + size] for i in range(0, len(students), size)]
                self.outcome_folder(run, assignment).mkdir(parents=True, exist_ok=True)
                self.grant_run(course, run)
                tasks += self.submit(course, run, assignment, shards)
            open_tasks = set(range(len(tasks)))
            failures = 0
            while open_tasks:
                states = self.states([tasks[i] for i in sorted(open_tasks)])
                states = {sorted(open_tasks)[k]: s for k, s in states.items()}
                for index in sorted(open_tasks):
                    task = tasks[index]
                    yield from self._new_outcomes(run, task)
                    state = states.get(index)
                    if state is not None and state.finished:
                        yield from self._new_outcomes(run, task)       # written just before it ended
                        for outcome in self._unfinished(course, task, state):
                            failures += 1
                            yield outcome
                        open_tasks.discard(index)
                running = sum(1 for i in open_tasks if states.get(i) and states[i].running)
                note(f"{self.name}: {running} task(s) running, {len(open_tasks) - running} waiting")
                if open_tasks:
                    time.sleep(self.poll_interval_s)
        except BaseException:
            # Ctrl-C or the consumer stopped: nothing keeps running on the cluster; the submissions
            # being graded keep their "grading" mark (not graded), the next run grades them
            self.cancel(tasks)
            raise
        if not failures:
            shutil.rmtree(run, ignore_errors=True)
        else:   # the tasks' logs stay for the instructor; the calls (the gradebook's URL, a secret) go
            for pickled in run.rglob("*.pkl"):
                pickled.unlink()

    def _new_outcomes(self, run: Path, task: Task) -> Iterator[GradingStatus]:
        folder = self.outcome_folder(run, task.assignment)
        for student in task.students:
            path = folder / f"{student}.json"
            if student not in task.done and path.is_file():
                task.done.add(student)
                yield read_outcome(path)

    def _unfinished(self, course: Course, task: Task, state: TaskState) -> Iterator[GradingStatus]:
        """The submissions a finished task did not report: it died while grading one, or before."""
        missing = [s for s in task.students if s not in task.done]
        if not missing:
            return
        recorded = load(course.db_url)
        for student in missing:
            task.done.add(student)
            mark = recorded.get((task.assignment, student))
            if mark is not None and mark.status == GRADING:
                # nbgrader may have written part of it: nothing half-written may reach feedback
                shutil.rmtree(course.folder("autograded") / student / task.assignment, ignore_errors=True)
                when = "while grading this submission"
            else:
                when = "before grading this submission"
            yield GradingStatus(task.assignment, student, FAILED,
                                f"not graded: {state.why or 'its task ended'} {when}; "
                                f"{state.advice or 'run graders autograde again to grade it'}")
