"""One real Slurm cluster and one PostgreSQL server for the whole test session (tests/conftest.py
imports these fixtures), and the mini course's submissions the Slurm tests grade.

The cluster is this machine as one node (``graders.grading.localcluster.OneNodeSlurm``: munged,
slurmdbd on its own MariaDB, slurmctld, slurmd, two pretend GPUs); it needs root and Debian's
slurm-wlm, slurmdbd, munge and mariadb-server, which .ci/run installs. Without them the tests
that use it skip and say why.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "smoke"
# an answer cell's new code per kind of student (None: the reference; "stub": as released;
# "corrupt": a file that is not a notebook)
ANSWERS = {
    "reference": None,
    "triples": ("double", "def double(x):\n    return 3 * x\n"),
    "mediocre": ("score", "def quality():\n    return 0.7\n"),
    "crashes": ("double", "raise RuntimeError('my code crashed')\n"),
    "sleeps": ("double", "import time\ntime.sleep(3600)\n"),
    "stub": "stub",
    "corrupt": "corrupt",
}


@pytest.fixture(scope="session")
def slurm_cluster():
    from graders.grading.localcluster import OneNodeSlurm, missing_slurm

    why = missing_slurm()
    if why:
        pytest.skip(f"no one-node Slurm cluster here: {why}")
    cluster = OneNodeSlurm(gpus=2).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_server():
    from graders.grading.localcluster import pg_binary, throwaway_postgres

    if not (pg_binary("initdb") and pg_binary("pg_ctl")):
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    with throwaway_postgres() as url:
        yield url


def smoke_course(root: Path, students: dict[str, str], config: str = ""):
    """The mini course in ``root`` with ``students`` (name -> a kind of ANSWERS) submitted."""
    from graders.grading.course import CONFIG_FILE, Course
    from graders.grading.release import generate_release
    from graders.grading.variants import read, reference_submission, with_answer

    shutil.copytree(REPO / "tests" / "fixtures" / "mini_course", root)
    shutil.copy(REPO / CONFIG_FILE, root / CONFIG_FILE)
    with open(root / CONFIG_FILE, "a") as fh:
        fh.write("\n" + config + "\n")
    course = Course(root)
    generate_release(course)
    released = read(course.folder("release") / ASSIGNMENT / "smoke.ipynb")
    reference = reference_submission(read(root / "source" / ASSIGNMENT / "smoke.ipynb"), released)
    for student, kind in students.items():
        folder = course.submission_dir(student, ASSIGNMENT)
        folder.mkdir(parents=True)
        answer = ANSWERS[kind]
        if answer == "corrupt":
            (folder / "smoke.ipynb").write_text('{"cells": [ this is not JSON')
            continue
        nb = released if answer == "stub" else reference if answer is None else with_answer(reference, *answer)
        nbformat.write(nb, str(folder / "smoke.ipynb"))
    return course


def scores(course, students) -> dict:
    """student -> (status, {test cell: score}) from the gradebook."""
    from graders.grading.gradebook import cell_scores
    from graders.grading.status import load

    statuses = load(course.db_url)
    return {s: (statuses[(ASSIGNMENT, s)].status,
                {c.grade_id: c.score for c in cell_scores(course, ASSIGNMENT, s) if not c.manual})
            for s in students}
