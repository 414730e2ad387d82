"""The grading loop on a small course: demo, failures that must not look like zeros, exports."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

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
    # bob: the first wrong answer (3 * x) costs the 2 points of its cell only; then 30 hours
    # late = 2 started days at 10 % a day: 3 - 0.6
    assert rows["bob"].late_penalty == pytest.approx(0.6) and rows["bob"].score == pytest.approx(2.4)
    assert rows["carol"].score == 0.0 and rows["carol"].status == "graded"
    # dave's first answer raises: that cell's tests fail, the threshold cell keeps its 3 points;
    # he is as late as bob but has a 48-hour extension: no penalty
    assert rows["dave"].score == 3.0 and rows["dave"].late_penalty == 0
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
    # the hidden test ran (its failure is reported) but its source is not in the feedback
    assert "test_double_array" in html and "secret_value" not in html and "HIDDEN TESTS" not in html
    # the summary at the top: per-cell table and chart, the late penalty
    assert "Your results" in html and "Late submission penalty" in html and "data:image/png;base64" in html
    # the other outputs of the loop
    names = sorted(p.name for p in result.reports)
    assert names == ["analytics.html", "canvas.csv", "similarity-smoke.html"]
    with open(mini_course.root / "reports" / "canvas.csv") as fh:
        canvas = list(csv.reader(fh))
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[1][0].strip() == "Points Possible" and canvas[1][5] == "6"
    by_name = {row[0]: row for row in canvas[2:]}
    assert by_name["Bob, Demo"][5] == "2.4" and by_name["Erin, Demo"][5] == ""  # not graded: blank, not 0


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


def test_killed_batch_resumes_without_redoing_work(mini_course):
    """Kill `graders autograde` mid-batch; re-running grades the rest and leaves the done ones."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import nbformat as nbf

    from graders.grading.release import generate_release
    from graders.grading.variants import read, reference_submission

    generate_release(mini_course)
    reference = reference_submission(read(mini_course.root / "source/smoke/smoke.ipynb"),
                                     read(mini_course.folder("release") / "smoke/smoke.ipynb"))
    students = [f"s{i}" for i in range(6)]
    for s in students:
        folder = mini_course.submission_dir(s, "smoke")
        folder.mkdir(parents=True)
        nbf.write(reference, str(folder / "smoke.ipynb"))
    cmd = [sys.executable, "-m", "graders", "-q", "--course", str(mini_course.root), "autograde", "smoke", "-j", "1"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and sum(v.graded for v in load(mini_course.db_url).values()) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the grader and its workers, mid-batch
    proc.wait()
    recorded = {k[1]: v for k, v in load(mini_course.db_url).items()}
    before = {s: v for s, v in recorded.items() if v.graded}
    assert 2 <= len(before) < len(students), f"expected a partial batch, got {sorted(before)}"
    # the submission being graded when the grader died is marked so: not graded, never half a grade
    assert all(v.status == "grading" for s, v in recorded.items() if s not in before), recorded
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    regraded = {line.split()[0] for line in rerun.stdout.splitlines() if line.strip()}
    assert regraded == set(students) - set(before), f"expected only the rest regraded, got {sorted(regraded)}"
    after = {k[1]: v for k, v in load(mini_course.db_url).items()}
    assert all(after[s].updated_at == before[s].updated_at for s in before)
    rows = {r.student: r for r in submission_rows(mini_course)}
    assert all(rows[s].score == 5.0 for s in students), {s: rows[s].score for s in students}


def test_calibrate_reports_the_metrics_of_the_reference(mini_course):
    from graders.grading.calibrate import calibrate, format_calibration

    metrics = calibrate(mini_course.root / "source/smoke/smoke.ipynb", seeds=2, workers=2, progress=False)
    assert metrics == {"quality()": [1.0, 1.0]}
    report = format_calibration(metrics, margin=0.05)
    assert "quality()" in report and "0.9500" in report


def test_bundled_wrong_answers_that_interact_are_regraded_one_by_one(mini_course):
    from graders.grading.verify import bundles, load_wrong_answers, verify_assignment

    wrong_file = mini_course.root / "tests" / "wrong_answers" / "smoke" / "smoke.py"
    wrong_file.write_text('''from graders.grading.variants import WrongAnswer

WRONG_ANSWERS = [
    WrongAnswer(name="triples", cell="double", code="def double(x):\\n    return 3 * x\\n",
                loses={"test-double": 2.0}),
    # alone: quality() = 0.7, half the ramp; beside "triples" it would be 0.5: the two interact
    WrongAnswer(name="leans-on-double", cell="score", code="def quality():\\n    return 1.1 - 0.2 * double(1)\\n",
                loses={"test-score": 1.5}, says=("got 0.7",)),
]
''')
    wrong = load_wrong_answers(mini_course.root, "smoke", "smoke.ipynb")
    assert [[w.name for w in g] for g in bundles(wrong)] == [["triples", "leans-on-double"]]
    variants = {v.name: v for v in verify_assignment(mini_course, "smoke", workers=2, progress=False, bundle=True)}
    for name in ("smoke--triples", "smoke--leans-on-double"):
        v = variants[name]
        assert v.student == name, "the bundle did not add up, so each mistake must be graded alone"
        assert not v.problems(), v.problems()


def test_student_code_is_never_run_unconfined_unless_told(mini_course, monkeypatch):
    """Secure by default: without a sandbox (no bubblewrap on PATH), grading refuses, and says how
    to proceed; --unconfined (the instructor's explicit choice) grades as the grader's user."""
    import sys
    from pathlib import Path

    from conftest import grade_smoke_variants

    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # python, no bwrap, no prlimit
    monkeypatch.setenv("GRADERS_SANDBOX", "auto")
    monkeypatch.delenv("GRADERS_ALLOW_UNCONFINED", raising=False)
    refused = grade_smoke_variants(mini_course, {"ann": None})
    outcome, cells = refused["ann"]
    assert outcome.status == "failed" and all(score is None for score in cells.values())
    assert "never run unconfined" in outcome.message and "--unconfined" in outcome.message, outcome.message
    monkeypatch.setenv("GRADERS_ALLOW_UNCONFINED", "1")  # what `graders autograde --unconfined` sets
    assert main(["-q", "--course", str(mini_course.root), "autograde", "smoke", "ann", "--force",
                 "--unconfined"]) == 0
    assert {c.grade_id: c.score for c in cell_scores(mini_course, "smoke", "ann") if not c.manual} == {
        "test-double": 2.0, "test-score": 3.0}


def test_workers_forked_after_the_parent_used_its_event_loop_do_not_hang(mini_course):
    """A grader that already waited on a thread in-process (the event loop's default executor now
    holds an idle thread) then forks its workers: they must not queue work on that executor, whose
    thread does not exist in a forked child (they would wait for the checker forever)."""
    script = (
        "import asyncio, sys\n"
        "from graders.grading.course import Course\n"
        "from graders.grading.demo import run_demo\n"
        "from jupyter_core.utils import run_sync\n"
        "async def wait_on_a_thread():\n"
        "    await asyncio.get_running_loop().run_in_executor(None, lambda: None)\n"
        "run_sync(wait_on_a_thread)()  # as SandboxedExecute does when grading in-process\n"
        "from pathlib import Path\n"
        "result = run_demo(Course(Path(sys.argv[1])), workers=2, progress=False, say=lambda *_: None)\n"
        "print('GRADED')\n")
    proc = subprocess.run([sys.executable, "-c", script, str(mini_course.root)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "GRADED" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
