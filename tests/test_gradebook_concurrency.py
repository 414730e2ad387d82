"""Several graders writing one gradebook at once: SQLite (embedded) and PostgreSQL (shared).

Every submission must end with exactly one graded record and the right score: no lost or
doubled grade.  PostgreSQL runs for real: a throwaway cluster started by the test
(Debian's postgresql package, which .ci/run installs).
"""

from __future__ import annotations

import nbformat
import pytest

from graders.grading.autograde import autograde
from graders.grading.gradebook import submission_rows
from graders.grading.release import generate_release
from graders.grading.variants import read, reference_submission, with_answer

STUDENTS = 12


@pytest.fixture(scope="module")
def postgres_url(postgres_server):
    """A database of its own on the session's throwaway PostgreSQL (tests/slurm_fixtures.py)."""
    from graders.grading.localcluster import fresh_database

    return fresh_database(postgres_server, "concurrent_graders")


def _grade_many(course, monkeypatch, db_url: str | None):
    if db_url:
        monkeypatch.setenv("GRADERS_DB_URL", db_url)
    course.__dict__.pop("config", None)
    course.__dict__.pop("api", None)
    generate_release(course)
    reference = reference_submission(read(course.root / "source/smoke/smoke.ipynb"),
                                     read(course.folder("release") / "smoke/smoke.ipynb"))
    wrong = with_answer(reference, "double", "def double(x):\n    return 3 * x\n")
    expected = {}
    for i in range(STUDENTS):
        student = f"student{i:02d}"
        folder = course.submission_dir(student, "smoke")
        folder.mkdir(parents=True)
        nbformat.write(wrong if i % 3 == 0 else reference, str(folder / "smoke.ipynb"))
        expected[student] = 3.0 if i % 3 == 0 else 5.0
    outcomes = autograde(course, "smoke", workers=4, progress=False)
    assert all(o.graded for o in outcomes), [o.message for o in outcomes if not o.graded]
    # grade everything again, concurrently: still one record each
    autograde(course, "smoke", workers=4, progress=False)
    return expected


def _assert_consistent(course, expected):
    from nbgrader.api import Gradebook

    rows = {r.student: r for r in submission_rows(course)}
    assert {s: rows[s].score for s in expected} == expected
    with Gradebook(course.db_url) as gb:
        subs = gb.assignment_submissions("smoke")
        assert sorted(s.student.id for s in subs) == sorted(expected), "a lost or doubled submission"
        for sub in subs:
            [nb] = sub.notebooks
            assert len(nb.grades) == 3  # two autograded cells and the free response


def test_sqlite_gradebook_under_concurrent_graders(mini_course, monkeypatch):
    expected = _grade_many(mini_course, monkeypatch, None)
    assert mini_course.db_url.startswith("sqlite")
    _assert_consistent(mini_course, expected)


def test_postgres_gradebook_under_concurrent_graders(mini_course, monkeypatch, postgres_url):
    expected = _grade_many(mini_course, monkeypatch, postgres_url)
    assert mini_course.db_url.startswith("postgresql")
    _assert_consistent(mini_course, expected)
