"""Shared fixtures: the course, and each assignment graded once per variant for all tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from graders.grading.course import CONFIG_FILE, Course
from graders.grading.verify import Variant, verify_assignment

REPO = Path(__file__).resolve().parents[1]
MINI_COURSE = REPO / "tests" / "fixtures" / "mini_course"


@pytest.fixture(scope="session")
def course() -> Course:
    return Course(REPO)


class Verified:
    """Grades an assignment's variants (reference, stub, wrong answers) once, on first use."""

    def __init__(self, course: Course):
        self.course = course
        self._cache: dict[str, dict[str, Variant]] = {}

    def __call__(self, assignment: str) -> dict[str, Variant]:
        if assignment not in self._cache:
            variants = verify_assignment(self.course, assignment, progress=False, feedback=True, bundle=True)
            self._cache[assignment] = {v.name: v for v in variants}
        return self._cache[assignment]


@pytest.fixture(scope="session")
def verified(course) -> Verified:
    return Verified(course)


@pytest.fixture
def mini_course(tmp_path) -> Course:
    """A throwaway course with one small assignment, for pipeline tests."""
    root = tmp_path / "course"
    shutil.copytree(MINI_COURSE, root)
    shutil.copy(REPO / CONFIG_FILE, root / CONFIG_FILE)
    return Course(root)


@pytest.fixture(autouse=True)
def _own_database(monkeypatch):
    # every course in the tests uses its own SQLite gradebook
    monkeypatch.delenv("GRADERS_DB_URL", raising=False)


def local_sandbox_missing() -> str | None:
    """Why the local (bubblewrap) sandbox cannot run here; None when it can."""
    import shutil

    from graders.grading.sandbox import LocalSandbox, SandboxUnavailable

    if not shutil.which("bwrap"):
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    try:
        LocalSandbox().check()
    except SandboxUnavailable as why:
        return str(why)
    return None


#: for the tests that grade in the local sandbox (the pathological corpus, the attacks, warm kernels)
needs_local_sandbox = pytest.mark.skipif(local_sandbox_missing() is not None,
                                         reason=f"local sandbox unavailable: {local_sandbox_missing()}")


SMOKE_FULL = {"test-double": 2.0, "test-score": 3.0}
SMOKE_LOST_DOUBLE = {"test-double": 0.0, "test-score": 3.0}
DOUBLE = "def double(x):\n    return 2 * x\n"


def grade_smoke_variants(course: Course, answers: dict[str, str | None], config: str = "", workers: int = 2) -> dict:
    """Grade the mini course's smoke notebook with the `double` answer cell replaced per student.

    ``answers`` maps a student to the new source of that cell (None: the reference);
    ``config`` is appended to the course's nbgrader_config.py (the backend under test).
    Returns student -> (GradingStatus, {test cell: score}).
    """
    import nbformat

    from graders.grading.autograde import autograde
    from graders.grading.gradebook import cell_scores
    from graders.grading.release import generate_release
    from graders.grading.variants import read, reference_submission, with_answer

    with open(course.root / CONFIG_FILE, "a") as fh:
        fh.write("\n" + config + "\n")
    generate_release(course)
    ref = reference_submission(read(course.root / "source/smoke/smoke.ipynb"),
                               read(course.folder("release") / "smoke/smoke.ipynb"))
    for student, code in answers.items():
        folder = course.submission_dir(student, "smoke")
        folder.mkdir(parents=True)
        nbformat.write(ref if code is None else with_answer(ref, "double", code), str(folder / "smoke.ipynb"))
    outcomes = {o.student: o for o in autograde(course, "smoke", workers=workers, progress=False)}
    return {s: (outcomes[s], {c.grade_id: c.score for c in cell_scores(course, "smoke", s) if not c.manual})
            for s in answers}


# The hub tests share one embedded JupyterHub per session (tests/hub_fixtures.py).
from hub_fixtures import embedded_hub, hub_clients, released_assignment  # noqa: E402,F401
# The Slurm tests share one one-node cluster and one PostgreSQL server (tests/slurm_fixtures.py).
from slurm_fixtures import postgres_server, slurm_cluster  # noqa: E402,F401
