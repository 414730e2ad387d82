"""Grading a class on a real Slurm cluster (this machine as one node) into a real PostgreSQL.

- the same submissions graded by the Slurm engine and by the local engine get the same scores,
  cell by cell, and the same statuses; the corrupt one is recorded as failed with its reason;
  feedback and exports work afterwards; each task asked for the assignment's cores and memory;
- one task killed and the array cancelled half-way: nothing graded is lost, nothing interrupted
  looks graded, and the re-run grades exactly the rest;
- a GPU assignment's tasks are allocated a card (gres/gpu, in Slurm's accounting) and a task
  past its time limit is recorded per submission with that reason.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time

import pytest

from graders.grading.autograde import autograde
from graders.grading.gradebook import export_csv, submission_rows
from graders.grading.localcluster import fresh_database
from graders.grading.slurm import SlurmEngine
from graders.grading.status import GRADING, load
from slurm_fixtures import ASSIGNMENT, scores, smoke_course

SECRET = "slurm-tests"
ON_SLURM = """
c.GradingResources.cpus = 1
c.GradingResources.memory_gb = 2
c.SlurmGrading.poll_interval_s = 1
"""
KINDS = ["reference", "triples", "mediocre", "stub", "corrupt", "crashes",
         "reference", "triples", "mediocre", "reference", "reference", "triples"]


def sacct_tasks(arrays: list[str], settled: bool = True) -> list[dict]:
    """The tasks of these job arrays, from Slurm's accounting (``settled``: once none is still running;
    the driver is done as soon as every outcome is in, the accounting a moment later)."""
    for _ in range(60):
        out = subprocess.run(["sacct", "-X", "-n", "-P", "-j", ",".join(arrays), "-o", "JobID,JobName,State,AllocTRES"],
                             capture_output=True, text=True, check=True).stdout
        tasks = [dict(zip(("id", "name", "state", "tres"), line.split("|"))) for line in out.splitlines() if line]
        if not settled or not any(t["state"] in ("PENDING", "RUNNING", "COMPLETING") for t in tasks):
            break
        time.sleep(0.5)
    return tasks


def test_slurm_grades_exactly_as_the_local_engine(slurm_cluster, postgres_server, tmp_path, monkeypatch):
    students = {f"s{i:02d}": kind for i, kind in enumerate(KINDS)}
    monkeypatch.setenv("GRADERS_SECRET", SECRET)   # both engines grade under one secret
    local = smoke_course(tmp_path / "local", students)
    local_outcomes = {o.student: o for o in autograde(local, ASSIGNMENT, workers=2, progress=False)}
    assert sum(o.graded for o in local_outcomes.values()) == 11, {s: o.message for s, o in local_outcomes.items()}

    monkeypatch.setenv("GRADERS_DB_URL", fresh_database(postgres_server, "slurm_equal"))
    cluster = smoke_course(tmp_path / "cluster", students, ON_SLURM + "c.SlurmGrading.submissions_per_task = 3\n")
    engine = SlurmEngine()
    outcomes = {o.student: o for o in autograde(cluster, ASSIGNMENT, engine=engine, progress=False)}

    assert cluster.db_url.startswith("postgresql")
    assert scores(cluster, students) == scores(local, students), {s: o.message for s, o in outcomes.items()}
    assert {s: o.status for s, o in outcomes.items()} == {s: o.status for s, o in local_outcomes.items()}
    assert scores(cluster, ["s00"])["s00"] == ("graded", {"test-double": 2.0, "test-score": 3.0})
    broken = outcomes["s04"]
    assert broken.status == "failed" and "NotJSONError" in broken.message, broken
    assert broken.message == local_outcomes["s04"].message.replace(str(local.root), str(cluster.root))

    # one array of 4 tasks (3 submissions each), each with the assignment's core and memory, no card
    tasks = sacct_tasks(engine.arrays)
    assert len(tasks) == 4 and {t["state"] for t in tasks} == {"COMPLETED"}, tasks
    for task in tasks:
        assert "cpu=1" in task["tres"] and "mem=2G" in task["tres"] and "gres/gpu" not in task["tres"], task
    # a clean run leaves nothing behind: the pickled calls (gradebook URL, secret) are gone
    assert not any((cluster.root / ".graders" / "slurm").iterdir())

    # feedback and exports, unchanged, afterwards
    feedback = cluster.api.generate_feedback(ASSIGNMENT, force=True)
    assert feedback["success"], feedback.get("log")
    assert (cluster.root / "feedback" / "s00" / ASSIGNMENT / "smoke.html").is_file()
    assert not (cluster.root / "feedback" / "s04").exists()
    export_csv(cluster, cluster.root / "reports" / "grades.csv")
    rows = {(r.student, r.status, r.score) for r in submission_rows(cluster, [ASSIGNMENT])}
    assert rows == {(r.student, r.status, r.score) for r in submission_rows(local, [ASSIGNMENT])}


def _grading_marks(db_url: str) -> dict[str, int]:
    """student -> pid of the task grading it now (from its "grading" mark)."""
    marks = {}
    for (_, student), status in load(db_url).items():
        found = re.search(r"\(pid (\d+)\)", status.message)
        if status.status == GRADING and found:
            marks[student] = int(found.group(1))
    return marks


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def test_killed_task_and_cancelled_array_lose_nothing_and_grade_nothing_twice(
        slurm_cluster, postgres_server, tmp_path, monkeypatch):
    import psutil
    from nbgrader.api import Gradebook

    students = {f"k{i:02d}": "triples" if i % 3 == 0 else "reference" for i in range(12)}
    db_url = fresh_database(postgres_server, "slurm_interrupted")
    monkeypatch.setenv("GRADERS_DB_URL", db_url)
    course = smoke_course(tmp_path / "course", students,
                          ON_SLURM + "c.SlurmGrading.submissions_per_task = 1\nc.SlurmGrading.max_running = 2\n")
    first: dict = {}
    driver = threading.Thread(target=lambda: first.update(
        {o.student: o for o in autograde(course, ASSIGNMENT, engine="slurm", progress=False)}))
    driver.start()

    # half-way: two graded, a task in the middle of a submission -> kill that task's process
    deadline = time.monotonic() + 300
    victim = None
    while victim is None and time.monotonic() < deadline and driver.is_alive():
        graded = [s for (_, s), o in load(db_url).items() if o.graded]
        marks = {s: pid for s, pid in _grading_marks(db_url).items() if _alive(pid)}
        if len(graded) >= 2 and marks:
            victim = sorted(marks.items())[0]
        time.sleep(0.3)
    assert victim is not None, "the array never got half-way"
    victim_student, pid = victim
    environ = psutil.Process(pid).environ()
    array_id, task_id = environ["SLURM_ARRAY_JOB_ID"], environ["SLURM_ARRAY_TASK_ID"]
    os.kill(pid, signal.SIGKILL)
    # Slurm saw the task fail before the array is cancelled (a deadline of its own: under load the
    # array gets half-way late, and a cancel before the accounting shows FAILED makes it CANCELLED)
    failed_by = time.monotonic() + 120
    state = None
    while state != "FAILED" and time.monotonic() < failed_by:
        state = {t["id"]: t["state"] for t in sacct_tasks([array_id], settled=False)}.get(f"{array_id}_{task_id}")
        time.sleep(0.3)
    assert state == "FAILED", f"the killed task {array_id}_{task_id} is {state} in sacct, not FAILED"
    subprocess.run(["scancel", array_id], check=True)
    driver.join(timeout=300)
    assert not driver.is_alive()

    graded_first = {s for s, o in first.items() if o.graded}
    not_graded = {s: o.message for s, o in first.items() if not o.graded}
    assert set(first) == set(students) and 2 <= len(graded_first) < len(students)
    assert "its Slurm task failed" in not_graded[victim_student]
    assert "while grading this submission" in not_graded[victim_student]
    assert any("cancelled (scancel)" in m for m in not_graded.values()), not_graded
    # nothing interrupted looks graded: no score in the export, no half-written autograded copy
    recorded = load(db_url)
    assert {s for (_, s), o in recorded.items() if o.status == GRADING} == set()
    rows = {r.student: r for r in submission_rows(course, [ASSIGNMENT])}
    for student in not_graded:
        assert rows[student].score is None and rows[student].status == "failed", rows[student]
    assert not (course.folder("autograded") / victim_student / ASSIGNMENT).exists()

    # the re-run grades exactly the rest; what was graded stays as it was
    engine = SlurmEngine()
    second = {o.student: o for o in autograde(course, ASSIGNMENT, engine=engine, force=False, progress=False)}
    assert set(second) == set(not_graded)
    assert all(o.graded for o in second.values()), second
    assert len(sacct_tasks(engine.arrays)) == len(not_graded)           # one task for each, no more
    after = load(db_url)
    for student in graded_first:
        assert after[(ASSIGNMENT, student)].updated_at == recorded[(ASSIGNMENT, student)].updated_at
    expected = {s: ("graded", {"test-double": 0.0 if kind == "triples" else 2.0, "test-score": 3.0})
                for s, kind in students.items()}
    assert scores(course, students) == expected
    with Gradebook(db_url) as gb:
        assert sorted(sub.student.id for sub in gb.assignment_submissions(ASSIGNMENT)) == sorted(students)


def _batch_shell_environments(job_name: str) -> list[dict]:
    """The environment Slurm gave each running batch script of ``job_name``."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any("slurm_script" in part for part in proc.info["cmdline"] or ()):
                env = proc.environ()
                if env.get("SLURM_JOB_NAME") == job_name:
                    found.append(env)
        except psutil.Error:
            pass
    return found


def test_gpu_assignment_gets_a_card_and_a_task_past_its_time_limit_is_recorded(
        slurm_cluster, postgres_server, tmp_path, monkeypatch):
    db_url = fresh_database(postgres_server, "slurm_gpu")
    monkeypatch.setenv("GRADERS_DB_URL", db_url)
    monkeypatch.setenv("GRADERS_SECRET", SECRET)
    config = ON_SLURM + ("c.SlurmGrading.submissions_per_task = 1\n"
                         f"c.GradingResources.per_assignment = {{'{ASSIGNMENT}': {{'gpus': 1, 'minutes': 1}}}}\n")
    course = smoke_course(tmp_path / "course", {"g0": "reference", "g1": "sleeps"}, config)
    engine = SlurmEngine()
    started = time.monotonic()
    outcomes: dict = {}
    driver = threading.Thread(target=lambda: outcomes.update(
        {o.student: o for o in autograde(course, ASSIGNMENT, engine=engine, progress=False)}))
    driver.start()
    shells = []
    while driver.is_alive() and not shells:      # the tasks' environment as Slurm set it up
        shells = _batch_shell_environments(f"grade-{ASSIGNMENT}")
        time.sleep(0.5)
    driver.join(timeout=300)
    assert time.monotonic() - started < 240
    assert shells and all("GRADERS_SECRET" not in env and "GRADERS_DB_URL" not in env for env in shells)

    assert outcomes["g0"].graded, outcomes["g0"]
    assert outcomes["g1"].status == "failed"
    assert "reached its time limit of 1 min while grading this submission" in outcomes["g1"].message
    tasks = sacct_tasks(engine.arrays)
    assert sorted(t["state"] for t in tasks) == ["COMPLETED", "TIMEOUT"], tasks
    assert all("gres/gpu=1" in t["tres"] for t in tasks), tasks
    # the timed-out task's log stays for the instructor (its path is in the reason), the pickled calls do not
    runs = course.root / ".graders" / "slurm"
    assert "log " in outcomes["g1"].message and any(runs.rglob("*.err")) and not any(runs.rglob("*.pkl"))
    for path in runs.rglob("*"):   # nor the secret and the gradebook's URL, in any file left behind
        assert path.is_dir() or (SECRET not in path.read_text(errors="replace")
                                 and db_url not in path.read_text(errors="replace")), path


@pytest.mark.parametrize("setting, why", [
    ("c.GradingResources.per_assignment = {'smoke': {'gpu': 1}}", "unknown keys ['gpu']"),
])
def test_resources_say_what_is_wrong(tmp_path, setting, why):
    from graders.grading.engine import resources_for

    course = smoke_course(tmp_path / "course", {}, setting)
    with pytest.raises(ValueError, match=re.escape(why) + ".*use cpus, memory_gb, gpus, minutes"):
        resources_for(course, ASSIGNMENT)
