"""Grading on a Slurm cluster: ``graders autograde ASSIGNMENT --engine slurm``.

One job array per assignment; each array task grades a shard of submissions in a row
(``c.SlurmGrading.submissions_per_task``) with the same unit of work as the local engine
(``autograde.grade_task``: the sandboxed grading on its node, into the shared gradebook).
Each task asks for what ``c.GradingResources`` gives the assignment: cores and memory, and
``--gres=gpu:N`` for a GPU assignment.

The client is submitit (https://github.com/facebookincubator/submitit, maintained by Meta):
it writes the sbatch script, submits the array, pickles the call each task runs into the run's
private folder, and follows the tasks' states with ``sacct`` (so the cluster needs job
accounting, slurmdbd, as clusters that share their nodes have).  pyslurm was the other
candidate; it binds one Slurm release's C API (PyPI has pyslurm 25.11 and 18.08, none for the
22.05 of Debian 12 that the tests run), so a course's pin would have to follow its cluster's
Slurm version.

The tasks run with the node's own login environment (``--export=NONE``): nothing of the
instructor's shell reaches Slurm's job records; the gradebook's URL and, when it is set in the
environment, the grading secret travel in the pickled call, in a folder only the instructor can
read.  Otherwise each task reads the course's secret file itself, on the grader's side.

Stopping: ``scancel`` (or Ctrl-C of the driver, which cancels the arrays) stops a task at once;
the submission it was grading keeps its "grading" mark and is not graded, the next run grades
it.  So does the time limit, which is the sum of the shard's submissions' own limits.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from traitlets import Dict, Float, Int, Unicode
from traitlets.config import Configurable

from .course import Course
from .engine import BatchEngine, Task, TaskState, grade_shard, resources_for
from .status import GradingStatus

# states after which a task runs no more (sacct's first word; "CANCELLED by 0")
UNFINISHED = {"READY", "PENDING", "RUNNING", "UNKNOWN", "REQUEUED", "COMPLETING", "PREEMPTED",
              "CONFIGURING", "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED"}
WHY = {   # state -> (what happened, what to do)
    "CANCELLED": ("its Slurm task was cancelled (scancel)", ""),
    "TIMEOUT": ("its Slurm task reached its time limit of {minutes} min",
                "give the assignment more time (c.GradingResources minutes, or fewer "
                "c.SlurmGrading.submissions_per_task) and run graders autograde again"),
    "OUT_OF_MEMORY": ("its Slurm task ran out of its {memory_gb:g} GB of memory",
                      "give the assignment more (c.GradingResources memory_gb) and run graders autograde again"),
    "NODE_FAIL": ("the node running its Slurm task failed", ""),
    "BOOT_FAIL": ("the node for its Slurm task failed to boot", ""),
    "DEADLINE": ("its Slurm task reached its deadline", ""),
    "FAILED": ("its Slurm task failed", ""),
    "COMPLETED": ("its Slurm task ended", ""),
}
GRADER_ENV = ("GRADERS_SECRET", "GRADERS_SANDBOX", "GRADERS_PLAIN_NBGRADER")   # what a task needs of ours


class SlurmGrading(Configurable):
    """``c.SlurmGrading`` in nbgrader_config.py: how the course's grading uses its cluster.
    What each submission needs (cores, memory, GPUs, time) is ``c.GradingResources``."""

    partition = Unicode("", help="Partition (default: the cluster's)").tag(config=True)
    account = Unicode("", help="Account to charge").tag(config=True)
    qos = Unicode("", help="Quality of service").tag(config=True)
    submissions_per_task = Int(4, help="Submissions graded in a row by one array task: Python and nbgrader "
                                       "start once per task, not per submission").tag(config=True)
    max_running = Int(64, help="Array tasks running at once (the %%N of --array)").tag(config=True)
    gpu_gres = Unicode("gpu:{gpus}", help="--gres for a GPU assignment, e.g. gpu:a100:{gpus}").tag(config=True)
    python = Unicode("", help="The Python on the nodes that has graders installed, on storage the nodes "
                              "share (default: this one)").tag(config=True)
    extra_options = Dict(help="More sbatch options, e.g. {'constraint': 'avx2', 'reservation': 'exam'}"
                         ).tag(config=True)
    poll_interval_s = Float(2.0, help="Seconds between looks at the tasks' states").tag(config=True)


def check_cluster() -> None:
    """The Slurm client commands are here and the cluster keeps job accounting (sacct)."""
    missing = [cmd for cmd in ("sbatch", "srun", "sacct", "scancel") if shutil.which(cmd) is None]
    if missing:
        raise FileNotFoundError(f"no Slurm client here ({', '.join(missing)} not on PATH): run graders autograde "
                                "--engine slurm on a login node of the cluster")
    probe = subprocess.run(["sacct", "-n", "-X", "-j", "1", "-o", "JobID"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise ValueError(f"sacct does not answer ({probe.stderr.strip() or probe.returncode}): the Slurm engine "
                         "follows its tasks through the cluster's job accounting; ask the cluster's admins to "
                         "run slurmdbd (AccountingStorageType=accounting_storage/slurmdbd), or grade with "
                         "--engine local inside one allocation (srun -c 16 graders autograde ASSIGNMENT)")


class SlurmEngine(BatchEngine):
    name = "slurm"

    def __init__(self, settings: SlurmGrading | None = None):
        self.settings = settings
        self.resources: dict = {}                 # assignment -> TaskResources of its tasks
        self.minutes: dict = {}                   # assignment -> the time limit of its tasks
        self.arrays: list[str] = []               # the job arrays submitted (sacct -j)

    def grade(self, course, todo, note):
        self.settings = self.settings or SlurmGrading(config=course.config)
        self.submissions_per_task = self.settings.submissions_per_task
        self.poll_interval_s = self.settings.poll_interval_s
        if todo:
            check_cluster()
            if course.db_url.startswith("sqlite"):
                raise ValueError("the Slurm engine grades on many nodes at once into one gradebook, and SQLite on a "
                                 "shared file system loses writes: set GRADERS_DB_URL=postgresql://user@host/db "
                                 "(the password in ~/.pgpass)")
        yield from super().grade(course, todo, note)

    def submit(self, course: Course, run: Path, assignment: str, shards: list[list[str]]) -> list[Task]:
        import submitit

        res = resources_for(course, assignment)
        minutes = res.minutes * max(len(shard) for shard in shards)
        executor = submitit.SlurmExecutor(folder=run / "logs" / "%j", max_num_timeout=0,
                                          python=self.settings.python or None)
        options = {k: v for k, v in (("partition", self.settings.partition), ("account", self.settings.account),
                                     ("qos", self.settings.qos)) if v}
        executor.update_parameters(
            job_name=f"grade-{assignment}", time=minutes, cpus_per_task=res.cpus,
            mem=f"{round(res.memory_gb * 1024)}M", gres=self.settings.gpu_gres.format(gpus=res.gpus) if res.gpus else None,
            array_parallelism=self.settings.max_running,
            additional_parameters={
                # the node's login environment, not the instructor's shell; srun passes it to the task
                "export": "NONE",
                # submitit always asks for a warning before the time limit, for a requeue logic we do not
                # use; SIGUSR2 to the step would kill the student's kernel, so the batch shell alone gets
                # SIGURG, which every process ignores
                "signal": "B:URG@60",
                **self.settings.extra_options},
            srun_args=["--export=ALL"], **options)
        env = {k: os.environ[k] for k in GRADER_ENV if os.environ.get(k)}
        env["GRADERS_DB_URL"] = course.db_url     # a host the nodes reach; its password in ~/.pgpass
        outcomes = self.outcome_folder(run, assignment)
        jobs = executor.map_array(run_shard, [str(course.root)] * len(shards), [assignment] * len(shards),
                                  shards, [env] * len(shards), [str(outcomes)] * len(shards))
        self.resources[assignment], self.minutes[assignment] = res, minutes
        self.arrays.append(str(jobs[0].job_id).split("_")[0])
        return [Task(assignment, shard, job) for shard, job in zip(shards, jobs)]

    def states(self, tasks: list[Task]) -> dict[int, TaskState]:
        if not tasks:
            return {}
        watcher = tasks[0].handle.watcher
        for task in tasks:
            watcher.register_job(task.handle.job_id)
        watcher.update()      # one sacct call for every array
        found = {}
        for index, task in enumerate(tasks):
            state = watcher.get_state(task.handle.job_id, mode="cache").split()[0].upper()
            if len(task.done) == len(task.students):
                found[index] = TaskState(finished=True)          # every outcome is in; sacct may lag
            elif state in UNFINISHED:
                found[index] = TaskState(finished=False, running=state in ("RUNNING", "COMPLETING"))
            else:
                found[index] = self._ended(task, state)
        return found

    def _ended(self, task: Task, state: str) -> TaskState:
        res = self.resources[task.assignment]
        why, advice = WHY.get(state, (f"its Slurm task ended in state {state}", ""))
        why = why.format(minutes=self.minutes[task.assignment], memory_gb=res.memory_gb)
        job = task.handle
        if state == "FAILED":
            tail = [line.strip()[:200] for line in (job.stderr() or "").splitlines() if line.strip()][-2:]
            why += f" ({' / '.join(tail)})" if tail else ""
        advice = advice or "run graders autograde again to grade it"
        return TaskState(finished=True, why=why, advice=f"{advice} (job {job.job_id}, log {job.paths.stderr})")

    def cancel(self, tasks: list[Task]) -> None:
        arrays = sorted({str(t.handle.job_id).split("_")[0] for t in tasks if t.handle is not None})
        if arrays:
            subprocess.run(["scancel", *arrays], capture_output=True)


# --- the task, on its node -----------------------------------------------------------------------

def run_shard(root: str, assignment: str, students: list[str], env: dict, outcomes: str) -> list[GradingStatus]:
    """One array task, on its node: the gradebook's URL (and the secret, when the driver had it in its
    environment) from the pickled call, then ``engine.grade_shard``."""

    def stop_now(signum, frame):
        # scancel, the time limit, preemption: stop at once. Not an exception: nbgrader would catch it
        # and report a failed grading. The submission at hand keeps its mark (not graded); its kernel
        # dies with us (the sandbox's --die-with-parent) and Slurm reaps the rest of the step.
        os.write(2, f"graders: {signal.Signals(signum).name}: stopping, the submission at hand stays "
                    "not graded\n".encode())
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop_now)   # submitit would ignore it and grade on until SIGKILL
    os.environ.update(env)
    return grade_shard(root, assignment, students, outcomes, threads=int(os.environ.get("SLURM_CPUS_PER_TASK", "1")))
