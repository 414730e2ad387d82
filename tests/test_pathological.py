"""The pathological corpus: submissions that misbehave, graded in one batch beside a good one.

Each case states the points each tests cell must get and what the grading record must say.
The batch must complete, and the well-behaved student beside them must keep full marks.
The mini course's smoke notebook has two autograded cells: test-double (2 points, checks the
answer cell `double`) and test-score (3 points, checks the answer cell `score`).
"""

from __future__ import annotations

import copy
import os
import shutil
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from graders.grading.autograde import autograde
from graders.grading.gradebook import cell_scores, submission_rows
from graders.grading.release import generate_release
from graders.grading.variants import read, reference_submission, with_answer

DOUBLE = "def double(x):\n    return 2 * x\n"
BUDGETS = """
# pathological corpus: small budgets so runaway cells are stopped quickly
c.SandboxedExecute.sandbox = "local"
c.SandboxedExecute.cell_timeout = 8
c.SandboxedExecute.check_timeout = 8
c.SandboxedExecute.submission_timeout = 90
c.LocalSandbox.memory_mb = 2048
"""


from conftest import needs_local_sandbox  # noqa: E402

pytestmark = needs_local_sandbox


@dataclass
class Case:
    name: str
    double_cell: str | None = None          # new source of the `double` answer cell
    edit: str | None = None                 # another kind of change (see make_submission)
    points: dict = field(default_factory=lambda: {"test-double": 2.0, "test-score": 3.0})
    status: str = "graded"
    says: tuple = ()                        # fragments of the grading record's message
    output_says: dict = field(default_factory=dict)  # grade_id -> fragment of the cell's output


LOST_DOUBLE = {"test-double": 0.0, "test-score": 3.0}

CASES = [
    Case("good-student"),
    Case("infinite-loop", "while True:\n    pass\n" + DOUBLE, points=LOST_DOUBLE,
         says=("timed out after 8 s",), output_says={"test-double": "NameError"}),
    Case("ignores-interrupt", "import time\nwhile True:\n    try:\n        time.sleep(0.2)\n"
         "    except KeyboardInterrupt:\n        pass\n" + DOUBLE, points=LOST_DOUBLE,
         says=("timed out", "kernel restarted")),
    Case("memory-bomb", "blobs = []\nwhile True:\n    blobs.append(bytearray(2**27))\n" + DOUBLE,
         points=LOST_DOUBLE),
    Case("fork-bomb", "import os\nwhile True:\n    os.fork()\n" + DOUBLE, points=LOST_DOUBLE),
    Case("os-exit", "import os\nos._exit(1)\n" + DOUBLE, points=LOST_DOUBLE, says=("kernel died",)),
    Case("killed-kernel", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n" + DOUBLE,
         points=LOST_DOUBLE, says=("kernel died",)),
    Case("exit-inside-a-check", "def double(x):\n    import os\n    os._exit(3)\n", points=LOST_DOUBLE,
         says=("test-double: kernel died",)),
    Case("hangs-inside-a-check", "def double(x):\n    while True:\n        pass\n", points=LOST_DOUBLE,
         says=("test-double: timed out",)),
    Case("huge-output", DOUBLE + "print('x' * 20_000_000)\nfor i in range(100_000):\n    print(i)\n",
         output_says={}),
    Case("corrupt-json", edit="corrupt", points={}, status="failed", says=("NotJSONError", "resubmit")),
    Case("missing-notebook", edit="missing", points={}, status="failed",
         says=("no notebook submitted (expected smoke.ipynb)", "nothing to grade")),
    Case("renamed-notebook", edit="rename", says=("graded smoke-Copy1.ipynb as smoke.ipynb",)),
    Case("deleted-test-cell", edit="delete-test", points={"test-score": 3.0}, status="flagged",
         says=("deleted cell test-double",)),
    Case("edited-test-cell", edit="edit-test", status="flagged", says=("edited locked cell test-double (restored)",)),
    Case("changed-points", edit="points", status="flagged", says=("changed the points of test-double (restored)",)),
    Case("symlink-to-gradebook", edit="symlink", status="flagged", says=("removed symbolic link",)),
    # forged cell metadata: undone before grading, the offending cell named, the honest score kept
    Case("bonus-cell", edit="bonus", status="flagged",
         says=("cell 8 claims to be graded cell 'bonus' worth 100 points, which the assignment does not have",)),
    Case("duplicate-tests-cell", edit="duplicate", status="flagged", says=("repeats cell 'test-double'",)),
    Case("flipped-flags", edit="flags", status="flagged", says=("changed the grade/solution flag of cell test-double",)),
    Case("dotdot-file-names", edit="dotdot", says=()),
    Case("network-call", "import socket\ntry:\n    socket.create_connection(('127.0.0.1', PORT), timeout=3)\n"
         "    print('CONNECTED')\nexcept OSError as e:\n    print('network:', e)\n" + DOUBLE),
    Case("writes-outside", "for path in ['COURSE/gradebook.db', 'COURSE/escape.txt', '/tmp/escape-graders.txt']:\n"
         "    try:\n        open(path, 'w').write('pwned')\n    except OSError as e:\n        print(e)\n" + DOUBLE),
    Case("reads-hidden-files", "import os\nfor path in ['COURSE/source/smoke/smoke.ipynb', 'COURSE/gradebook.db', "
         "'COURSE/submitted', 'COURSE/.graders_secret']:\n    print(path, os.path.exists(path))\n" + DOUBLE),
    # patching the student's own process changes nothing of the checks (they run in the checker):
    # the wrong answer loses its points, the right one keeps them, and the attempt is flagged
    Case("patches-numpy", "import numpy as np\nnp.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)\n"
         "def double(x):\n    return 3 * x\n", points=LOST_DOUBLE, status="flagged",
         says=("tampering (numpy.isclose)",), output_says={"test-double": "expected 6, got 9"}),
    Case("patches-torch", "import torch\ntorch.allclose = lambda *a, **k: True\n"
         "def double(x):\n    return 3 * x\n", points=LOST_DOUBLE, status="flagged",
         says=("tampering (torch.allclose)",)),
    Case("patches-graders", "import graders.checks.tensors as t\nt.expect_equal = lambda *a, **k: None\n"
         "def double(x):\n    return 3 * x\n", points=LOST_DOUBLE, status="flagged",
         says=("graders.checks.tensors.expect_equal",)),
    Case("shadows-run-tests", "def run_tests(points):\n    return float(points)\ndef double(x):\n    return 3 * x\n",
         points=LOST_DOUBLE, status="flagged", says=("__main__.run_tests",)),
    # the notebook's own `graders` metadata is the grader's alone: a forged record of no incidents,
    # a thread count or a sandbox changes nothing (the tampering is still flagged, the wrong answer loses)
    Case("forged-notebook-metadata", "import numpy as np\nnp.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)\n"
         "def double(x):\n    return 3 * x\n", edit="notebook-metadata", points=LOST_DOUBLE, status="flagged",
         says=("tampering (numpy.isclose)",)),
]

FORGED_METADATA = {"threads": 64, "incidents": [], "seconds": 0.01, "sandbox": {"backend": "forged"}, "timing": {}}


class Listener:
    """A TCP server on the host's loopback: a sandboxed kernel must not reach it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


def make_submission(course, case: Case, reference, port: int) -> None:
    folder = course.submission_dir(case.name, "smoke")
    folder.mkdir(parents=True)
    nb = copy.deepcopy(reference)
    if case.double_cell:
        code = case.double_cell.replace("PORT", str(port)).replace("COURSE", str(course.root))
        nb = with_answer(reference, "double", code)
    target = folder / "smoke.ipynb"
    if case.edit == "corrupt":
        target.write_text('{"cells": [ not json')
        return
    if case.edit == "missing":
        (folder / "notes.txt").write_text("I forgot the notebook")
        return
    if case.edit == "rename":
        target = folder / "smoke-Copy1.ipynb"
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid == "test-double" and case.edit == "edit-test":
            cell.source = "run_tests(points=2)"
        if gid == "test-double" and case.edit == "points":
            cell.metadata.nbgrader.points = 100
    if case.edit == "bonus":
        nb.cells.insert(7, nbformat.v4.new_code_cell("100.0", metadata={"nbgrader": {
            "grade": True, "grade_id": "bonus", "locked": False, "points": 100, "schema_version": 3, "solution": False}}))
    if case.edit == "duplicate":
        test = next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "test-double")
        nb.cells.append(copy.deepcopy(test))
    if case.edit == "flags":
        for cell in nb.cells:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "test-double":
                cell.metadata.nbgrader.update(grade=False, solution=True)
    if case.edit == "notebook-metadata":
        nb.metadata["graders"] = copy.deepcopy(FORGED_METADATA)
    if case.edit == "delete-test":
        nb.cells = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != "test-double"]
    if case.edit == "symlink":
        os.symlink(course.root / "gradebook.db", folder / "data.db")
    if case.edit == "dotdot":  # names made of dots stay names: nothing lands outside the folder
        (folder / "..data..csv").write_text("1,2\n")
        (folder / "...").mkdir()
        (folder / "..." / "..notes").write_text("x")
    nbformat.write(nb, str(target))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    from conftest import MINI_COURSE, REPO
    from graders.grading.course import CONFIG_FILE, Course

    root = tmp_path_factory.mktemp("pathological") / "course"
    shutil.copytree(MINI_COURSE, root)
    shutil.copy(REPO / CONFIG_FILE, root / CONFIG_FILE)
    with open(root / CONFIG_FILE, "a") as fh:
        fh.write(BUDGETS)
    os.environ.pop("GRADERS_DB_URL", None)
    course = Course(root)
    generate_release(course)
    reference = reference_submission(read(root / "source/smoke/smoke.ipynb"), read(root / "release/smoke/smoke.ipynb"))
    listener = Listener()
    try:
        for case in CASES:
            make_submission(course, case, reference, listener.port)
        outcomes = {o.student: o for o in autograde(course, "smoke", workers=2, progress=False)}
    finally:
        listener.close()
    rows = {r.student: r for r in submission_rows(course)}
    return course, outcomes, rows, listener, None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_scores_and_is_reported(graded, case):
    course, outcomes, rows, _, _ = graded
    outcome = outcomes[case.name]
    assert outcome.status == case.status, f"expected status {case.status}, got {outcome.status}: {outcome.message}"
    for fragment in case.says:
        assert fragment in outcome.message, f"expected {fragment!r} in the grading record, got {outcome.message!r}"
    if case.status == "failed":
        assert rows[case.name].score is None, "a submission that could not be graded must not get a score"
        return
    cells = {c.grade_id: c for c in cell_scores(course, "smoke", case.name) if not c.manual}
    got = {gid: cells[gid].score for gid in case.points if gid in cells}
    assert got == case.points, f"expected {case.points}, got {got}"
    for gid, fragment in case.output_says.items():
        assert fragment in cells[gid].output, f"{gid}: expected {fragment!r} in {cells[gid].output[:300]!r}"


def test_the_good_student_beside_them_keeps_full_marks(graded):
    _, outcomes, rows, _, _ = graded
    assert outcomes["good-student"].status == "graded" and outcomes["good-student"].message == ""
    assert rows["good-student"].score == 5.0


def test_the_graders_record_in_the_notebook_is_the_graders_own(graded):
    course, _, _, _, _ = graded
    meta = nbformat.read(str(course.folder("autograded") / "forged-notebook-metadata/smoke/smoke.ipynb"),
                         as_version=4).metadata["graders"]
    assert "threads" not in meta and meta["sandbox"]["backend"] != "forged", meta
    assert any(i["kind"] == "tampering" for i in meta["incidents"]), meta["incidents"]


def test_network_is_unreachable_from_the_kernel(graded):
    course, _, _, listener, _ = graded
    nb = nbformat.read(str(course.folder("autograded") / "network-call/smoke/smoke.ipynb"), as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "network:" in text and "CONNECTED" not in text
    assert listener.connections == 0


def test_files_outside_the_scratch_folder_are_out_of_reach(graded):
    course, _, _, _, _ = graded
    assert b"pwned" not in (course.root / "gradebook.db").read_bytes()
    assert not (course.root / "escape.txt").exists()
    assert not Path("/tmp/escape-graders.txt").exists()
    nb = nbformat.read(str(course.folder("autograded") / "reads-hidden-files/smoke/smoke.ipynb"), as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "True" not in text and text.count("False") == 4, text


def test_symlink_target_was_not_copied(graded):
    course, _, _, _, _ = graded
    assert not (course.folder("autograded") / "symlink-to-gradebook/smoke/data.db").exists()


def test_dot_dot_names_stay_inside_the_submission(graded):
    course, _, _, _, _ = graded
    graded_dir = course.folder("autograded") / "dotdot-file-names" / "smoke"
    assert (graded_dir / "smoke.ipynb").is_file()
    assert not (graded_dir / "..data..csv").exists()  # dot-files are not copied (CourseDirectory.ignore)
    assert not (course.folder("autograded") / "..data..csv").exists()
    assert not (course.root / "..data..csv").exists() and not (course.root / "..notes").exists()


def test_huge_output_is_capped(graded):
    course, _, _, _, _ = graded
    path = course.folder("autograded") / "huge-output/smoke/smoke.ipynb"
    assert path.stat().st_size < 3_000_000
    assert "output truncated" in path.read_text()
