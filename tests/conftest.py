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
            variants = verify_assignment(self.course, assignment, progress=False)
            self._cache[assignment] = {v.student: v for v in variants}
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
