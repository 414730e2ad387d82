"""``graders bench-slurm``: the Slurm engine against the local engine, same submissions, same node.

N copies of the reference submission of one assignment are graded three times into the same
PostgreSQL gradebook: by the local engine (P forked workers), and by the Slurm engine with one
submission per array task and with several, P tasks at once (P = the node's cores / the cores a
submission gets). What the cluster costs is the difference in wall time, per submission and per
core; Slurm's accounting says how it splits into waiting in the queue and starting each task.

``--one-node`` brings up a throwaway cluster of this machine and a throwaway PostgreSQL
(``graders.grading.localcluster``); otherwise the configured cluster ($SLURM_CONF) and gradebook
($GRADERS_DB_URL, PostgreSQL) are used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import statistics
import subprocess
import time
from dataclasses import dataclass, field

from .course import Course, scratch_copy

SECRET = "bench-slurm"


@dataclass
class EngineRun:
    engine: str
    per_task: int               # submissions per task (local: all, in forked workers)
    wall_s: float
    grading_s: list[float]      # each submission's own grading time (kernel start to recorded score)
    queue_s: list[float] = field(default_factory=list)     # Slurm: submitted -> started, per task
    task_s: list[float] = field(default_factory=list)      # Slurm: started -> ended, per task
    graded: int = 0


@dataclass
class EngineBench:
    assignment: str
    notebooks: int
    students: int
    parallel: int
    cpus: int
    runs: list[EngineRun]

    def overhead_per_submission(self, run: EngineRun) -> float:
        """Core-seconds the engine adds per submission over the local engine (wall x parallel / N)."""
        local = self.runs[0]
        return (run.wall_s - local.wall_s) * self.parallel / self.students

    def start_up_per_task(self, run: EngineRun) -> float:
        """Seconds a Slurm task spends not grading: its run time less its submissions' grading times."""
        return (sum(run.task_s) - sum(run.grading_s)) / len(run.task_s)

    def format(self) -> str:
        lines = [f"{self.students} submissions of {self.assignment} ({self.notebooks} notebook(s)), "
                 f"{self.parallel} at a time ({self.cpus} core(s) each), one PostgreSQL gradebook:"]
        lines.append(f"  {'engine':<34}{'wall':>9}{'per submission':>16}{'grading':>10}{'overhead':>11}")
        for run in self.runs:
            per = run.wall_s * self.parallel / self.students
            label = "local (forked workers)" if run.engine == "local" else f"slurm ({run.per_task} per array task)"
            extra = "" if run.engine == "local" else f"{self.overhead_per_submission(run):+9.1f} s"
            lines.append(f"  {label:<34}{run.wall_s:8.1f}s{per:14.1f} s{statistics.mean(run.grading_s):8.1f} s"
                         f"{extra:>11}   ({run.graded}/{self.students} graded)")
        for run in self.runs[1:]:
            if run.task_s:
                start_up = self.start_up_per_task(run)
                idle = run.wall_s - sum(run.task_s) / self.parallel
                lines.append(f"  slurm, {run.per_task} per task: {len(run.task_s)} tasks of {statistics.mean(run.task_s):.1f} s "
                             f"on average, {start_up:.1f} s of each not grading (Python, submitit, nbgrader, the "
                             f"gradebook) = {start_up / run.per_task:.1f} s per submission; slots idle between tasks "
                             f"(scheduling, polling): {idle:.1f} s in all")
        lines.append("  'per submission' = wall x parallel / submissions (core-slots x seconds); 'overhead' = that "
                     "minus the local engine's (sensitive to the machine's other load: compare the start-up lines)")
        return "\n".join(lines)


def _sacct_times(arrays: list[str], tasks: int) -> tuple[list[float], list[float]]:
    """(queue wait, run time) of each task; waits a little for the accounting to catch up."""
    for _ in range(60):
        out = subprocess.run(["sacct", "-X", "-n", "-P", "-j", ",".join(arrays), "-o", "Submit,Start,End,State"],
                             capture_output=True, text=True).stdout
        rows = [line.split("|")[:4] for line in out.splitlines() if line]
        done = [row for row in rows if row[3].startswith("COMPLETED")]
        if len(done) >= tasks:
            break
        time.sleep(0.5)
    queue, run = [], []
    for submit, start, end, _ in done:
        t = [dt.datetime.fromisoformat(x) for x in (submit, start, end)]
        queue.append((t[1] - t[0]).total_seconds())
        run.append((t[2] - t[1]).total_seconds())
    return queue, run


def compare_engines(course: Course, assignment: str | None = None, students: int = 12, cpus: int = 1,
                    per_task: tuple[int, ...] = (1, 4), one_node: bool = False, progress: bool = True,
                    say=print) -> EngineBench:
    from .autograde import autograde
    from .demo import demo_submission
    from .localcluster import OneNodeSlurm, fresh_database, throwaway_postgres
    from .release import generate_release
    from .slurm import SlurmEngine

    assignment = assignment or course.assignments()[0]
    parallel = max(1, (os.cpu_count() or 1) // cpus)
    memory_gb = max(1.0, round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 / parallel * 0.8, 1))
    with contextlib.ExitStack() as stack:
        if one_node:
            say("starting a one-node Slurm cluster and a PostgreSQL server on this machine ...")
            stack.enter_context(OneNodeSlurm(gpus=0))
            server = stack.enter_context(throwaway_postgres())
        else:
            server = os.environ.get("GRADERS_DB_URL", "")
            if not server.startswith("postgresql"):
                raise ValueError("graders bench-slurm grades into a PostgreSQL gradebook: set GRADERS_DB_URL="
                                 "postgresql://..., or pass --one-node to start one (and a cluster) here")
        work = stack.enter_context(scratch_copy(course, SECRET, [assignment]))
        with open(work.root / "nbgrader_config.py", "a") as fh:
            fh.write(f"\nc.GradingResources.cpus = {cpus}\nc.GradingResources.memory_gb = {memory_gb}\n")
        generate_release(work, [assignment])               # release/ for the submissions below
        names = [f"bench{i:03d}" for i in range(students)]
        for student in names:
            folder = work.submission_dir(student, assignment)
            folder.mkdir(parents=True)
            for source in work.notebooks(assignment):
                release = work.folder("release") / assignment / source.name
                (folder / source.name).write_text(demo_submission(work, "alice", assignment, source, release))

        runs = []
        for engine, size in [("local", students), *[("slurm", k) for k in per_task]]:
            database = fresh_database(server, f"bench_{engine}_{size}") if one_node else server
            os.environ["GRADERS_DB_URL"] = database
            fresh = Course(work.root)                      # reads the gradebook URL again
            if engine == "slurm":
                with open(work.root / "nbgrader_config.py", "a") as fh:
                    fh.write(f"\nc.SlurmGrading.submissions_per_task = {size}\nc.SlurmGrading.poll_interval_s = 0.5\n")
                fresh = Course(work.root)
            generate_release(fresh, [assignment])          # the assignment's cells, in this gradebook
            say(f"grading {students} submissions with the {engine} engine"
                + ("" if engine == "local" else f", {size} per array task") + " ...")
            runner = SlurmEngine() if engine == "slurm" else engine
            start = time.perf_counter()
            outcomes = autograde(fresh, assignment, names, workers=parallel, force=True, progress=progress,
                                 engine=runner)
            wall = time.perf_counter() - start
            queue, task = _sacct_times(runner.arrays, -(-students // size)) if engine == "slurm" else ([], [])
            runs.append(EngineRun(engine, size, wall, [o.seconds for o in outcomes], queue, task,
                                  sum(o.graded for o in outcomes)))
            for o in [o for o in outcomes if not o.graded][:1]:
                say(f"  not graded: {o.student}: {o.message[-500:]}")
        return EngineBench(assignment, len(work.notebooks(assignment)), students, parallel, cpus, runs)


def main(course: Course, assignment: str | None = None, students: int = 12, cpus: int = 1,
         per_task: tuple[int, ...] = (1, 4), one_node: bool = False, progress: bool = True) -> int:
    bench = compare_engines(course, assignment, students, cpus, per_task, one_node, progress)
    print(bench.format())
    return 0 if all(run.graded == bench.students for run in bench.runs) else 1
