"""After grading: extensions, overrides, exports, the analytics report and the similarity report."""

from __future__ import annotations

import csv
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from graders.cli import main
from graders.grading.adjustments import grant_extension, penalty
from graders.grading.autograde import autograde
from graders.grading.course import Course
from graders.grading.demo import run_demo
from graders.grading.gradebook import RosterError, export_canvas, submission_rows
from graders.grading.similarity import normalise, rank_pairs, load_solutions, write_report


def test_late_penalty_policy():
    day = 86400
    assert penalty(10, 0) == 0 and penalty(10, 10 * 60) == 0           # on time, within the grace
    assert penalty(10, 30 * 3600) == 2.0                               # 2 started days, 10 % each
    assert penalty(10, 30 * 3600, extension_hours=48) == 0             # the extension covers it
    assert penalty(10, 30 * day) == 5.0                                # capped at 50 %
    assert penalty(0, 3 * day) == 0                                    # nothing to take


def test_overrides_and_extensions_survive_a_regrade(mini_course, capsys):
    run_demo(mini_course, workers=2, progress=False, say=lambda *_: None)
    before = {r.student: r for r in submission_rows(mini_course)}
    assert before["carol"].score == 0 and before["bob"].late_penalty > 0
    root = str(mini_course.root)
    # an accepted appeal: carol's test-double cell is worth 2 after all
    assert main(["--course", root, "override", "carol", "smoke", "smoke", "test-double", "2",
                 "--reason", "appeal accepted: the check was too strict"]) == 0
    assert {r.student: r for r in submission_rows(mini_course)}["carol"].score == 2
    grant_extension(mini_course.db_url, "smoke", "bob", 36, "sick note")

    outcomes = autograde(mini_course, "smoke", workers=2, force=True, progress=False)
    assert {o.student for o in outcomes} == {"alice", "bob", "carol", "dave", "erin"}
    after = {r.student: r for r in submission_rows(mini_course)}
    assert after["carol"].score == 2 and after["carol"].status == "graded"   # the override stayed
    assert after["bob"].late_penalty == 0 and after["bob"].score == 3.0       # the extension applied
    assert after["alice"].score == before["alice"].score                     # nobody else moved

    assert mini_course.api.generate_feedback("smoke", "carol", force=True)["success"]
    html = (mini_course.folder("feedback") / "carol" / "smoke" / "smoke.html").read_text()
    assert "score set by an instructor: appeal accepted" in html

    capsys.readouterr()
    assert main(["--course", root, "override", "carol", "smoke", "smoke", "test-double", "2", "--reason", " "]) == 2
    assert "needs a reason" in capsys.readouterr().err


def test_canvas_export_maps_lms_ids_and_refuses_to_drop_students(mini_course, tmp_path):
    run_demo(mini_course, workers=2, progress=False, say=lambda *_: None)
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,canvas_id,sis_user_id,sis_login_id,section\n"
                      "alice,\"Liddell, Alice\",101,S1,alice@u,A\ncarol,\"Ng, Carol\",103,S3,carol@u,A\n")
    with pytest.raises(RosterError, match="bob, dave"):
        export_canvas(mini_course, roster, tmp_path / "canvas.csv")
    with open(roster, "a") as fh:
        fh.write("bob,\"Ross, Bob\",102,S2,bob@u,B\ndave,\"Doe, Dave\",104,S4,dave@u,B\n"
                 "erin,\"Eyre, Erin\",105,S5,erin@u,B\n")
    path = export_canvas(mini_course, roster, tmp_path / "canvas.csv", canvas_assignment_ids={"smoke": "777"})
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "smoke (777)"]
    by_id = {r[1]: r for r in rows[2:]}
    assert by_id["101"][5] == "5" and by_id["102"][5] == "2.4" and by_id["103"][5] == "0"
    assert by_id["105"][5] == ""   # erin's notebook could not be graded: blank, never 0
    bad = tmp_path / "bad.csv"
    bad.write_text("login,score\n")
    with pytest.raises(RosterError, match="missing column"):
        export_canvas(mini_course, bad, tmp_path / "x.csv")


def test_analytics_report_shows_distributions_failures_and_problems(mini_course):
    run_demo(mini_course, workers=2, progress=False, say=lambda *_: None)
    html = (mini_course.root / "reports" / "analytics.html").read_text()
    assert html.count("data:image/png;base64") >= 3            # distribution, failure rate, timings
    assert "4 graded, 1 failed to grade" in html
    # the most failed check and the most common message (bob's 3 * x), numbers folded
    assert "test_double_" in html and "expected 6, got 9" in html
    # erin's corrupt notebook is listed with why
    assert re.search(r"erin</td><td>FAILED</td><td>[^<]*NotJSONError", html)


# --- similarity ---------------------------------------------------------------------------------

STUB = {
    "mse": 'def mse(pred, target):\n    """Mean squared error."""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n',
    "softmax": 'def softmax(z):\n    """Row-wise softmax."""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n',
    "train": 'def train(model, X, y, epochs):\n    """Full-batch training; returns the losses."""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n',
}
STUDENTS = {
    "ana": {
        "mse": "def mse(pred, target):\n    diff = pred - target\n    return (diff ** 2).mean()\n",
        "softmax": "def softmax(z):\n    z = z - z.max(dim=1, keepdim=True).values\n    e = z.exp()\n    return e / e.sum(dim=1, keepdim=True)\n",
        "train": "def train(model, X, y, epochs):\n    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n    losses = []\n"
                 "    for _ in range(epochs):\n        opt.zero_grad()\n        loss = F.mse_loss(model(X), y)\n"
                 "        loss.backward()\n        opt.step()\n        losses.append(loss.item())\n    return losses\n",
    },
    "ben": {
        "mse": "def mse(pred, target):\n    return torch.mean(torch.square(target - pred))\n",
        "softmax": "def softmax(z):\n    return torch.softmax(z, dim=-1)\n",
        "train": "def train(model, X, y, epochs):\n    optimizer = torch.optim.Adam(model.parameters(), 1e-2)\n    history = []\n"
                 "    epoch = 0\n    while epoch < epochs:\n        pred = model(X)\n        err = ((pred - y) ** 2).sum() / len(y)\n"
                 "        optimizer.zero_grad(); err.backward(); optimizer.step()\n        history += [float(err)]\n"
                 "        epoch += 1\n    return history\n",
    },
    "chen": {
        "mse": "def mse(pred, target):\n    n = pred.numel()\n    total = 0.0\n    for a, b in zip(pred.flatten(), target.flatten()):\n"
               "        total += (a - b) ** 2\n    return total / n\n",
        "softmax": "def softmax(z):\n    m, _ = torch.max(z, 1, keepdim=True)\n    num = torch.exp(z - m)\n    den = num.sum(1, keepdim=True)\n    return num / den\n",
        "train": "def train(model, X, y, epochs):\n    sgd = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)\n    out = []\n"
                 "    for i in range(epochs):\n        l = nn.MSELoss()(model(X), y)\n        sgd.zero_grad()\n        l.backward()\n"
                 "        sgd.step()\n        out.append(l.detach().item())\n    return out\n",
    },
    "dina": {
        "mse": "def mse(pred, target):\n    return F.mse_loss(pred, target)\n",
        "softmax": "def softmax(z):\n    shifted = z - torch.logsumexp(z, dim=1, keepdim=True)\n    return torch.exp(shifted)\n",
        "train": "def train(model, X, y, epochs):\n    params = list(model.parameters())\n    losses = []\n    for step in range(epochs):\n"
                 "        loss = mse(model(X), y)\n        grads = torch.autograd.grad(loss, params)\n        with torch.no_grad():\n"
                 "            for p, g in zip(params, grads):\n                p -= 0.1 * g\n        losses.append(loss.item())\n    return losses\n",
    },
}
# eve copies chen: renamed variables, other comments, spacing, one line moved around
STUDENTS["eve"] = {
    "mse": "def mse(pred, target):\n    # average of squared differences\n    count = pred.numel()\n    acc = 0.0\n"
           "    for p, t in zip(pred.flatten(),   target.flatten()):\n        acc += (p - t) ** 2\n    return acc / count\n",
    "softmax": "def softmax(z):\n    mx, _ = torch.max(z, 1, keepdim=True)  # stability\n    top = torch.exp(z - mx)\n"
               "    bottom = top.sum(1, keepdim=True)\n    return top / bottom\n",
    "train": "def train(model, X, y, epochs):\n    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)\n    hist = []\n"
             "    for e in range(epochs):\n        err = nn.MSELoss()(model(X), y)\n        opt.zero_grad()\n        err.backward()\n"
             "        opt.step()\n        hist.append(err.detach().item())\n    return hist\n",
}
STUDENTS["finn"] = dict(STUB)   # the untouched stub
STUDENTS["gus"] = dict(STUB)


def _notebook(cells: dict[str, str]):
    nb = new_notebook()
    for gid, code in cells.items():
        cell = new_code_cell(code)
        cell.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": gid,
                                     "schema_version": 3}
        nb.cells.append(cell)
    return nb


@pytest.fixture
def copied_class(mini_course) -> Course:
    course = mini_course
    (course.folder("release") / "hw").mkdir(parents=True)
    nbformat.write(_notebook(STUB), str(course.folder("release") / "hw" / "hw.ipynb"))
    for student, cells in STUDENTS.items():
        folder = course.submission_dir(student, "hw")
        folder.mkdir(parents=True)
        nbformat.write(_notebook(cells), str(folder / "hw.ipynb"))
    broken = course.submission_dir("hal", "hw")
    broken.mkdir(parents=True)
    (broken / "hw.ipynb").write_text("{ not a notebook")
    return course


def test_normalisation_ignores_names_comments_and_layout():
    a = normalise("def f(x):\n    total = x + 1  # add one\n    return total\n")
    b = normalise("def f(y):\n\n    s   =  y + 2\n    return s\n")
    assert a == b
    assert normalise("x.backward()") != normalise("x.forward()")   # methods carry meaning


def test_similarity_ranks_the_planted_copy_first(copied_class):
    solutions, skipped = load_solutions(copied_class, "hw")
    assert skipped == ["hal: NotJSONError"]
    pairs = rank_pairs(solutions)
    first = pairs[0]
    assert {first.a, first.b} == {"chen", "eve"}, [(p.a, p.b, round(p.similarity, 2)) for p in pairs[:4]]
    assert first.similarity > 0.6 and pairs[1].similarity < 0.35
    # the stub is ignored: two untouched stubs share nothing
    stubs = next(p for p in pairs if {p.a, p.b} == {"finn", "gus"})
    assert stubs.similarity == 0 and stubs.shared == 0
    path, _ = write_report(copied_class, "hw")
    html = path.read_text()
    assert html.index("chen — eve") < html.index("ana — ")
    assert "acc += (p - t) ** 2" in html.replace("&nbsp;", " ")   # the code, side by side
