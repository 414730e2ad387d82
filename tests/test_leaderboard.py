"""The project leaderboard, produced by a real grading run: ranking, ties, failures, aliases."""

from __future__ import annotations

import csv

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from graders.grading.autograde import grade_all
from graders.grading.leaderboard import alias
from graders.grading.release import generate_release
from graders.grading.variants import read, reference_submission, with_answer

SETUP = "import numpy as np\nfrom graders.checks import *\nfrom graders.data import secret_seed\n"
SOLUTION = "def predict(X):\n    ### BEGIN SOLUTION\n    return (X[:, 0] > 0).astype(int)\n    ### END SOLUTION\n"
TESTS = '''def test_predictions_shape():
    expect_shape("predict(X)", predict(np.zeros((5, 2))), (5,))
### BEGIN HIDDEN TESTS
def test_hidden_accuracy():
    rng = np.random.default_rng(secret_seed("proj-test"))
    X = rng.normal(size=(400, 2))
    y = (X[:, 0] > 0).astype(int)
    acc = float((predict(X) == y).mean())
    leaderboard("hidden accuracy", acc)
    expect_at_least("hidden accuracy", acc, target=0.9, floor=0.5)
### END HIDDEN TESTS
run_tests(points=2)
'''
ANSWERS = {
    "ace": None,                                                   # the reference
    "bea": "def predict(X):\n    return np.where(X[:, 0] > 0, 1, 0)\n",   # same predictions: a tie
    "cal": "def predict(X):\n    return (X[:, 0] > 0.5).astype(int)\n",   # a worse model
    "fay": ("def predict(X):\n    print('📊 leaderboard hidden accuracy = 1 (higher is better)')\n"
            "    return np.zeros(len(X), dtype=int)\n"),               # tries to fake the line
    "dan": "def predict(X):\n    raise RuntimeError('my model crashed')\n",
}


def _cell(source, **nbgrader):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"schema_version": 3, "locked": False, "solution": False, "grade": False,
                                 **nbgrader}
    return cell


def test_leaderboard_ranks_ties_and_lists_failures(mini_course):
    course = mini_course
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [_cell(SETUP, grade_id="setup", locked=True),
                _cell(SOLUTION, grade_id="predict", solution=True),
                _cell(TESTS, grade_id="test-predict", grade=True, locked=True, points=2)]
    (course.root / "source" / "proj").mkdir(parents=True)
    nbformat.write(nb, str(course.root / "source" / "proj" / "proj.ipynb"))
    generate_release(course, ["proj"])
    reference = reference_submission(read(course.root / "source/proj/proj.ipynb"),
                                     read(course.folder("release") / "proj/proj.ipynb"))
    for student, code in ANSWERS.items():
        folder = course.submission_dir(student, "proj")
        folder.mkdir(parents=True)
        nbformat.write(reference if code is None else with_answer(reference, "predict", code), str(folder / "proj.ipynb"))
    broken = course.submission_dir("eli", "proj")
    broken.mkdir(parents=True)
    (broken / "proj.ipynb").write_text("{ corrupt")

    grade_all(course, ["proj"], workers=2, progress=False)   # the grading run writes the leaderboard

    with open(course.root / "reports" / "leaderboard-proj.csv") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"ace", "bea", "cal", "dan", "eli", "fay"}
    assert rows["ace"]["rank"] == rows["bea"]["rank"] == "1" and rows["ace"]["value"] == "1"   # a tie
    assert rows["cal"]["rank"] == "3" and 0.6 < float(rows["cal"]["value"]) < 1
    assert rows["fay"]["rank"] == "4" and float(rows["fay"]["value"]) < 0.7   # the faked line did not count
    for student in ("dan", "eli"):   # crashed model, corrupt notebook: failed, not zero, not ranked
        assert rows[student]["status"] == "failed" and rows[student]["rank"] == "" and rows[student]["value"] == ""
    assert "did not report a score" in rows["dan"]["reason"]
    assert "NotJSONError" in rows["eli"]["reason"]

    public = (course.root / "reports" / "leaderboard-proj-public.html").read_text()
    private = (course.root / "reports" / "leaderboard-proj.html").read_text()
    for student in ANSWERS:
        assert f">{student}<" not in public and rows[student]["alias"] in public
        assert f">{student}<" in private
    assert "my model crashed" not in public
    assert alias("ace", "k") == alias("ace", "k") != alias("ace", "other key")
