"""A determined student against the grader: every attack category of ../shared/THREAT-MODEL.md.

Each submission below solves nothing honestly (or only part) and tries one route to a better
grade or to hidden material; they are graded in one batch, with feedback, beside a good student
who keeps full marks.  For every cheat: it earns at most what the same honest answers earn
(``points``), or it is flagged with the reason; and nothing hidden (hidden test source, the
grading secret, course files) appears in anything the student can read.

The mini course's smoke notebook: ``double`` (answer cell) checked by test-double (2 points: one
visible check, one hidden on secret inputs), ``quality()`` (answer cell ``score``) checked by
test-score (3 points, partial credit from 0.5 to 0.9).
"""

from __future__ import annotations

import copy
import os
import shutil
import socket
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from graders.grading.autograde import autograde, grading_secret
from graders.grading.gradebook import cell_scores
from graders.grading.release import generate_release
from graders.grading.secrets import assignment_secret
from graders.grading.variants import read, reference_submission, with_answer

GOOD = "def double(x):\n    return 2 * x\n"
WRONG = "def double(x):\n    return 3 * x\n"
FULL = {"test-double": 2.0, "test-score": 3.0}
LOST_DOUBLE = {"test-double": 0.0, "test-score": 3.0}
COURSE_SECRET = "attack-course-secret"  # its derived secret puts the hidden input at 66, not 55 ("known")
#: a line of the hidden test (its source must never reach the student)
HIDDEN_LINE = 'secret_value = secret_seed("smoke") % 100'
BUDGETS = """
c.SandboxedExecute.sandbox = "local"
c.SandboxedExecute.cell_timeout = 30
c.SandboxedExecute.check_timeout = 30
c.SandboxedExecute.submission_timeout = 150
c.LocalSandbox.memory_mb = 3072
c.LocalSandbox.workdir_mb = 256
c.LocalSandbox.tmp_mb = 64
"""


from conftest import needs_local_sandbox  # noqa: E402

pytestmark = needs_local_sandbox


@dataclass
class Attack:
    name: str
    category: str
    double: str = GOOD                      # the `double` answer cell
    score: str | None = None                # the `score` answer cell (None: the reference)
    files: dict = field(default_factory=dict)  # extra files submitted beside the notebook
    drop: tuple = ()                        # grade_ids of cells removed from the submission
    points: dict = field(default_factory=lambda: dict(LOST_DOUBLE))
    flagged: bool = False                   # must the submission be flagged?
    says: tuple = ()                        # fragments of the grading record


# what later cells print is in the student's feedback: the leak attacks print what they found
PRINT_LOOT = "\nprint('LOOT:', repr(loot)[:20000])\n"
SCORE_PRINTS_LOOT = "def quality():\n    return 1.0\nimport builtins\nloot = getattr(builtins, 'loot', [])" + PRINT_LOOT

ATTACKS = [
    Attack("good-student", "none", points=FULL),
    # 1 — forge the score through the display system
    Attack("float-formatter", "forge the score", WRONG + (
        "ip = get_ipython()\nip.display_formatter.formatters['text/plain'].for_type(float, lambda v, p, c: p.text('2.0'))\n"),
        flagged=True, says=("display formatter",)),
    Attack("displayhook", "forge the score", WRONG + (
        "get_ipython().displayhook.compute_format_data = lambda result: ({'text/plain': '2.0'}, {})\n"),
        flagged=True, says=("shell.displayhook.compute_format_data",)),
    Attack("no-results", "forge the score", WRONG + "get_ipython().ast_node_interactivity = 'none'\n",
           flagged=True, says=("ast_node_interactivity",)),
    # (rewriting later cells rewrites the student's own `quality` cell too: that one is lost honestly)
    Attack("ast-transformer", "forge the score", WRONG + (
        "import ast\nclass Pass(ast.NodeTransformer):\n    def visit_Module(self, node):\n"
        "        return ast.parse('2.0')\nget_ipython().ast_transformers.append(Pass())\n"),
        points={"test-double": 0.0, "test-score": 0.0}, flagged=True, says=("shell transformer",)),
    Attack("input-transformer", "forge the score", WRONG + (
        "get_ipython().input_transformers_post.append(lambda lines: ['2.0\\n'])\n"),
        points={"test-double": 0.0, "test-score": 0.0}, flagged=True, says=("shell transformer",)),
    # 2 — bend the checks in the same process
    Attack("replace-code-object", "bend the checks", WRONG + (
        "import numpy.testing, graders.checks.tensors as t\ndef _yes(*args, **kw):\n    return None\n"
        "numpy.testing.assert_allclose.__code__ = _yes.__code__\nt.expect_close.__code__ = _yes.__code__\n"),
        flagged=True, says=("graders.checks.tensors.expect_close (its code)",)),
    Attack("wrapped-callable", "bend the checks", WRONG + (
        "import numpy\nclass Yes:\n    __wrapped__ = numpy.isclose\n    def __call__(self, a, b, **k):\n"
        "        return numpy.ones(numpy.shape(a), bool)\nnumpy.isclose = Yes()\n"),
        flagged=True, says=("numpy.isclose",)),
    Attack("swap-module-in-checks", "bend the checks", WRONG + (
        "import graders.checks.runner as r, types\nfake = types.ModuleType('pytest')\nr.pytest = fake\n"),
        flagged=False),
    Attack("trace-while-testing", "bend the checks", WRONG + (
        "import sys\ndef tracer(frame, event, arg):\n    return tracer\nsys.settrace(tracer)\nsys.setprofile(tracer)\n"),
        flagged=True, says=("sys.settrace",)),
    Attack("thread-watching-frames", "bend the checks", WRONG + (
        "import sys, threading, time\ndef watch():\n    while True:\n        for f in list(sys._current_frames().values()):\n"
        "            f.f_globals.get('expected')\n        time.sleep(0.01)\n"
        "threading.Thread(target=watch, daemon=True).start()\n"),
        flagged=True, says=("thread",)),
    Attack("import-finder-named-as-torch", "bend the checks", WRONG + (
        "import sys\nclass Finder:\n    def find_spec(self, name, path=None, target=None):\n        return None\n"
        "Finder.__module__ = 'torch.fake'\nsys.meta_path.insert(0, Finder())\n"),
        flagged=True, says=("sys.meta_path (__main__)",)),
    Attack("post-run-callback", "bend the checks", WRONG + (
        "import numpy\ndef patch(*a):\n    numpy.isclose = lambda a, b, **k: numpy.ones(numpy.shape(a), bool)\n"
        "get_ipython().events.register('post_run_cell', patch)\n"),
        flagged=True, says=("shell event post_run_cell",)),
    Attack("patch-when-called", "bend the checks",
           "def double(x):\n    import numpy, torch, math\n"
           "    numpy.isclose = lambda a, b, **k: numpy.ones(numpy.shape(a), bool)\n"
           "    torch.Tensor.__eq__ = lambda a, b: torch.ones_like(a, dtype=torch.bool)\n"
           "    math.isclose = lambda *a, **k: True\n    return 3 * x\n", flagged=True, says=("numpy.isclose",)),
    Attack("patch-internals", "bend the checks", WRONG + (
        "import numpy, math, torch, graders.data\nimport numpy._core.numeric as nc\n"
        "nc.isclose = lambda a, b, **k: numpy.ones(numpy.shape(a), bool)\nmath.isclose = lambda *a, **k: True\n"
        "torch._C.TensorBase.eq = lambda a, b: torch.ones_like(a, dtype=torch.bool)\n"
        "graders.data.secret_seed = lambda tag: 0\n"),
        flagged=True, says=("tampering",)),
    Attack("break-the-fingerprint", "bend the checks", WRONG + (
        "import builtins, sys\nbuiltins.repr = lambda o: 'nothing to see'\n"),
        flagged=True, says=("introspection",)),
    Attack("fake-check-library", "bend the checks",
           "import numpy as np\nfrom graders.data import secret_seed\n"
           "def expect_equal(*a, **k):\n    pass\ndef expect_close(*a, **k):\n    pass\n"
           "def expect_at_least(*a, **k):\n    pass\ndef run_tests(points):\n    return float(points)\n" + WRONG,
           drop=("imports",), flagged=True, says=("deleted cell imports",)),
    # 3 — lie with objects
    Attack("lying-objects", "lie with objects",
           "import inspect, numpy as np\nclass Liar:\n    shape = ()\n    dtype = np.float64\n"
           "    def __init__(self, x):\n        self.x = x\n    def __eq__(self, other):\n        return True\n"
           "    def __array__(self, *a, **k):\n        f = inspect.currentframe().f_back\n"
           "        while f is not None:\n            if 'expected' in f.f_locals:\n"
           "                return np.asarray(f.f_locals['expected'])\n            f = f.f_back\n"
           "        return np.zeros(np.shape(self.x))\n"
           "    def __torch_function__(self, func, types, args=(), kwargs=None):\n        return True\n"
           "def double(x):\n    return Liar(x)\n"),
    # 4 — shadow modules
    Attack("shadow-modules", "shadow modules", WRONG, files={
        "numpy.py": "raise SystemExit('shadowed numpy')\n",
        "pytest.py": "def main(*a, **k):\n    return 0\n",
        "graders/__init__.py": "",
        "graders/checks/__init__.py": "def run_tests(points):\n    return float(points)\n"
                                      "def expect_equal(*a, **k):\n    pass\nexpect_close = expect_equal\n",
    }),
    # 5 — read what is hidden
    Attack("read-hidden", "read what is hidden", WRONG + (
        "import builtins, os, sys, linecache, glob, gc\nbuiltins.loot = loot = []\n"
        "def grab(info=None):\n    loot.append(getattr(info, 'raw_cell', None))\n"
        "get_ipython().events.register('pre_run_cell', grab)\n"
        "loot.append(dict(os.environ))\nloot.append(glob.glob('**/*.ipynb', recursive=True))\n"
        "for p in ['../', '/', os.path.expanduser('~')]:\n    loot.append(os.listdir(p))\n"),
        score=("def quality():\n    import builtins, sys, linecache, gc, inspect\n    loot = builtins.loot\n"
               "    loot.append(list(get_ipython().user_ns.get('In', [])))\n    loot.append(list(linecache.cache))\n"
               "    loot.append([o for o in gc.get_objects() if isinstance(o, str) and 'secret_value' in o][:5])\n"
               "    return 1.0\nimport builtins\nloot = builtins.loot\nquality()" + PRINT_LOOT),
        flagged=True, says=("shell event pre_run_cell",)),
    Attack("frames-of-the-caller", "read what is hidden",
           "import inspect, builtins\nbuiltins.loot = []\ndef double(x):\n"
           "    for f in inspect.stack():\n        builtins.loot.append((f.filename, f.function, f.code_context))\n"
           "        try:\n            builtins.loot.append(inspect.getsource(f.frame))\n        except Exception:\n            pass\n"
           "    return 3 * x\n", score=SCORE_PRINTS_LOOT),
    Attack("saved-stdout", "read what is hidden",
           "import sys, io, builtins\nbuiltins.loot = []\nclass Tee(io.StringIO):\n    def write(self, s):\n"
           "        builtins.loot.append(s)\n        return len(s)\nsys.stdout = Tee()\n" + WRONG,
           score="import sys\nsys.stdout = sys.__stdout__\n" + SCORE_PRINTS_LOOT),
    Attack("predict-the-secret", "read what is hidden",
           "import os, numpy as np, graders.data\nos.environ['GRADERS_SECRET'] = 'known'\n"
           "predicted = graders.data.secret_seed('smoke') % 100\n"
           "def double(x):\n    x = np.asarray(x, dtype=float)\n"
           "    if x.ndim == 0 or x[0] == predicted:\n        return 2 * x\n    return 3 * x\n",
           points={"test-double": 1.0, "test-score": 3.0}),
    # 6 — plant links for the grader to follow
    Attack("plant-links", "plant links", WRONG + (
        "import os, glob\nfor where in ['.', os.path.expanduser('~'), '/tmp', '..']:\n    for i, target in enumerate("
        "['COURSE/.graders_secret', 'COURSE/gradebook.db', 'COURSE/source/smoke/smoke.ipynb', 'COURSE/nbgrader_config.py']):\n"
        "        try:\n            os.symlink(target, os.path.join(where, f'link{i}.txt'))\n        except OSError as e:\n"
        "            print('link:', type(e).__name__)\n")),
    # 7 — exhaust or escape
    Attack("fill-the-disk", "exhaust or escape", GOOD + (
        "import os\nfor folder in ['.', '/tmp', '/dev/shm']:\n    try:\n        for i in range(40):\n"
        "            with open(os.path.join(folder, f'blob{i}'), 'wb') as fh:\n"
        "                fh.write(b'x' * 100 * 2**20)\n    except OSError as e:\n        print(folder, type(e).__name__)\n"),
        points=FULL),
    Attack("host-sockets", "exhaust or escape", GOOD + (
        "import os, socket, stat\nreached = []\nfor root, dirs, files in os.walk('/', onerror=lambda e: None):\n"
        "    if root.startswith(('/proc', '/sys', '/usr')):\n        dirs[:] = []\n        continue\n"
        "    for name in files:\n        path = os.path.join(root, name)\n        try:\n"
        "            if stat.S_ISSOCK(os.lstat(path).st_mode) and not name.startswith(('ipc-', 'checker')):\n"
        "                s = socket.socket(socket.AF_UNIX)\n                s.settimeout(1)\n"
        "                s.connect(path)\n                reached.append(path)\n        except OSError:\n            pass\n"
        "print('REACHED', reached)\n"), points=FULL),
]


def _answer(reference, cell: str, code: str):
    return with_answer(reference, cell, code)


def make_submission(course, attack: Attack, reference) -> None:
    folder = course.submission_dir(attack.name, "smoke")
    folder.mkdir(parents=True)
    nb = _answer(reference, "double", attack.double.replace("COURSE", str(course.root)))
    if attack.score is not None:
        nb = _answer(nb, "score", attack.score)
    nb.cells = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") not in attack.drop]
    nbformat.write(nb, str(folder / "smoke.ipynb"))
    for name, text in attack.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


class UnixListener:
    """A unix socket on the host outside the hidden folders: no kernel may reach it."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        os.chmod(path, 0o777)
        self.sock.listen()
        self.sock.settimeout(0.5)
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
        self.path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    from conftest import MINI_COURSE, REPO
    from graders.grading.course import CONFIG_FILE, Course

    root = tmp_path_factory.mktemp("attacks") / "course"
    shutil.copytree(MINI_COURSE, root)
    shutil.copy(REPO / CONFIG_FILE, root / CONFIG_FILE)
    with open(root / CONFIG_FILE, "a") as fh:
        fh.write(BUDGETS)
    os.environ.pop("GRADERS_DB_URL", None)
    saved_secret = os.environ.get("GRADERS_SECRET")
    os.environ["GRADERS_SECRET"] = COURSE_SECRET
    course = Course(root)
    generate_release(course)
    reference = reference_submission(read(root / "source/smoke/smoke.ipynb"), read(root / "release/smoke/smoke.ipynb"))
    for attack in ATTACKS:
        make_submission(course, attack, reference)
    Path("/run").mkdir(exist_ok=True)
    listener = UnixListener(Path("/run") / f"graders-attack-{os.getpid()}.sock")
    modes = {p: p.stat().st_mode for p in root.rglob("*") if p.is_file()}
    try:
        outcomes = {o.student: o for o in autograde(course, "smoke", workers=2, progress=False)}
    finally:
        listener.close()
    for attack in ATTACKS:
        if outcomes[attack.name].graded:
            result = course.api.generate_feedback("smoke", attack.name, force=True)
            assert result["success"], result.get("log")
    yield course, outcomes, listener, modes
    if saved_secret is None:
        os.environ.pop("GRADERS_SECRET", None)
    else:
        os.environ["GRADERS_SECRET"] = saved_secret


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_a_cheat_earns_no_more_than_its_honest_answers(graded, attack):
    course, outcomes, _, _ = graded
    outcome = outcomes[attack.name]
    assert outcome.graded, f"{attack.name}: not graded: {outcome.message}"
    cells = {c.grade_id: c.score for c in cell_scores(course, "smoke", attack.name) if not c.manual}
    got = {gid: cells.get(gid) for gid in attack.points}
    assert got == attack.points, f"{attack.name} ({attack.category}): expected {attack.points}, got {got}"
    if attack.flagged:
        assert outcome.status == "flagged", f"{attack.name}: expected to be flagged, got {outcome.status}: {outcome.message}"
    for fragment in attack.says:
        assert fragment in outcome.message, f"{attack.name}: expected {fragment!r} in {outcome.message!r}"


def test_the_good_student_beside_them_keeps_full_marks(graded):
    course, outcomes, _, _ = graded
    assert outcomes["good-student"].status == "graded" and outcomes["good-student"].message == ""
    cells = {c.grade_id: c.score for c in cell_scores(course, "smoke", "good-student") if not c.manual}
    assert cells == FULL


def _student_visible(course, student: str) -> str:
    """Everything this student can read: their feedback files and their graded notebook's outputs."""
    texts = []
    for path in (course.folder("feedback") / student).rglob("*"):
        if path.is_file() and not path.is_symlink():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    nb = nbformat.read(str(course.folder("autograded") / student / "smoke" / "smoke.ipynb"), as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(str(out.get("text", "")) + str(out.get("data", "")) + str(out.get("evalue", "")))
    return "\n".join(texts)


def test_nothing_hidden_reaches_any_student(graded):
    course, _, _, _ = graded
    secret = grading_secret(course)
    forbidden = {"the hidden test": HIDDEN_LINE, "the course secret": secret,
                 "the assignment's secret": assignment_secret(secret, "smoke"),
                 "the gradebook": "SQLite format 3", "the course configuration": "c.CourseDirectory.course_id",
                 "the hidden tests' marker": "BEGIN HIDDEN TESTS"}
    for attack in ATTACKS:
        visible = _student_visible(course, attack.name)
        for what, text in forbidden.items():
            assert text not in visible, f"{attack.name}: {what} reached the student's feedback"


def test_the_loot_was_printed_and_is_empty_of_secrets(graded):
    """The leak attacks ran and printed what they found (so the check above is not vacuous)."""
    course, _, _, _ = graded
    for name in ("read-hidden", "frames-of-the-caller", "saved-stdout"):
        visible = _student_visible(course, name)
        assert "LOOT:" in visible, f"{name}: its later cell did not print its loot"
    loot = _student_visible(course, "read-hidden").split("LOOT:", 1)[1]
    assert "GRADERS_SECRET" not in loot and "GRADERS_DB_URL" not in loot  # the kernel's environment
    assert "smoke.ipynb" not in loot  # no notebook where the kernel works, nor anywhere it can list


def test_planted_links_deliver_nothing(graded):
    course, _, _, modes = graded
    for folder in (course.folder("autograded") / "plant-links", course.folder("feedback") / "plant-links"):
        for path in folder.rglob("*"):
            assert not path.is_symlink(), f"a link survived in {path}"
            assert "link" not in path.name, f"{path} was planted by the kernel"
    for path, mode in modes.items():  # nothing of the course changed mode
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(mode), f"{path} changed mode"


def test_quotas_hold_and_host_sockets_are_out_of_reach(graded):
    course, _, listener, _ = graded
    assert listener.connections == 0
    visible = _student_visible(course, "host-sockets")
    assert "REACHED []" in visible, visible[-2000:]
    filled = _student_visible(course, "fill-the-disk")
    for folder in (". ", "/tmp ", "/dev/shm "):
        assert f"{folder}OSError" in filled, filled[-2000:]  # each quota stopped the writes
