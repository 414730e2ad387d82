"""The grading loop on a small course: demo, failures that must not look like zeros, exports."""

from __future__ import annotations

import csv

import nbformat

from graders.cli import main
from graders.grading.autograde import autograde
from graders.grading.demo import DEMO_STUDENTS, run_demo
from graders.grading.gradebook import cell_scores, submission_rows
from graders.grading.status import load


def test_demo_loop_end_to_end(mini_course, capsys):
    result = run_demo(mini_course, workers=2, progress=False, say=lambda *_: None)
    rows = {r.student: r for r in submission_rows(mini_course)}
    assert set(rows) == set(DEMO_STUDENTS)
    # alice: the reference earns all 5 automatic points; the free answer waits for a TA
    assert (rows["alice"].score, rows["alice"].status) == (5.0, "needs manual grading")
    # bob: the first wrong answer (3 * x) costs the 2 points of its cell only
    assert rows["bob"].score == 3.0
    assert rows["carol"].score == 0.0 and rows["carol"].status == "graded"
    # dave's first answer raises: that cell's tests fail, the threshold cell keeps its 3 points
    assert rows["dave"].score == 3.0
    # erin's notebook is not JSON: no score at all, and the reason, never a silent 0
    assert rows["erin"].status == "failed" and rows["erin"].score is None
    assert "NotJSONError" in rows["erin"].message and "resubmit" in rows["erin"].message
    assert result.failed == 1
    with open(result.csv) as fh:
        exported = {r["student"]: r for r in csv.DictReader(fh)}
    assert exported["erin"]["score"] == "" and exported["erin"]["status"] == "failed"
    assert exported["carol"]["score"] == "0"
    assert "NOT GRADED" in result.table
    for student in ("alice", "bob", "carol", "dave"):
        assert (mini_course.folder("feedback") / student / "smoke" / "smoke.html").is_file()
    assert not (mini_course.folder("feedback") / "erin").exists()
    # the failing check's message reaches the student (expected vs got), in the feedback too
    bob = {c.grade_id: c for c in cell_scores(mini_course, "smoke", "bob")}
    assert "expected 6, got 9" in bob["test-double"].output
    html = (mini_course.folder("feedback") / "bob" / "smoke" / "smoke.html").read_text()
    assert "expected 6, got 9" in html


def test_resume_skips_graded_submissions(mini_course):
    run_demo(mini_course, workers=2, progress=False, say=lambda *_: None)
    again = autograde(mini_course, "smoke", workers=2, force=False, progress=False)
    # only the failed submission (erin) is retried
    assert [o.student for o in again] == ["erin"]
    assert load(mini_course.db_url)[("smoke", "alice")].graded


def test_fixing_a_failed_submission_clears_its_failure(mini_course):
    run_demo(mini_course, workers=2, progress=False, say=lambda *_: None)
    release = mini_course.folder("release") / "smoke" / "smoke.ipynb"
    nbformat.write(nbformat.read(str(release), as_version=4), str(mini_course.submission_dir("erin", "smoke") / "smoke.ipynb"))
    [outcome] = autograde(mini_course, "smoke", ["erin"], workers=1, progress=False)
    assert outcome.graded
    rows = {r.student: r for r in submission_rows(mini_course)}
    assert rows["erin"].status == "graded" and rows["erin"].score == 0.0


def test_cli_verify_and_export(mini_course, capsys):
    assert main(["-q", "--course", str(mini_course.root), "verify"]) == 0
    out = capsys.readouterr().out
    assert "all variants graded as expected" in out and "smoke--mediocre" in out
    assert main(["--course", str(mini_course.root), "export"]) == 0  # empty gradebook exports fine


def test_cli_reports_a_missing_course(tmp_path, capsys):
    assert main(["--course", str(tmp_path), "release"]) == 2
    assert "no course found" in capsys.readouterr().err
