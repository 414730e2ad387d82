"""Warm kernels: each notebook's kernel is forked from a zygote that imported everything once.

What one submission leaves behind — files in every writable folder, a module attribute, a
process that outlives its kernel — must be invisible to the next submission graded by the same
worker (so the same zygote), which must see a pristine kernel.  And the zygote refuses to run
anywhere but inside its sandbox (it kills its user's processes and empties /tmp between kernels).
"""

from __future__ import annotations

import os
import subprocess
import sys

GOOD = "def double(x):\n    return 2 * x\n"
# the polluter is padded so that it is graded first (longest submissions go first)
POLLUTER = GOOD + "# " + "padding " * 2000 + """
import os, sys, numpy, time
for folder in ('/tmp', '.', os.path.expanduser('~'), '/dev/shm'):
    with open(os.path.join(folder, 'left-behind.txt'), 'w') as fh:
        fh.write('from the previous submission')
numpy.left_behind = True
sys.modules['left_behind'] = numpy
if os.fork() == 0:          # a daemon that outlives its kernel
    os.setsid()
    if os.fork() == 0:
        while True:
            open('/tmp/daemon-alive', 'w').write(str(time.time()))
            time.sleep(0.1)
    os._exit(0)
"""
OBSERVER = """
import os, sys, numpy, graders
# the sandbox's own read-only mounts (Python, graders) when the checkout lives under /tmp
mounts = [os.path.realpath(sys.prefix), os.path.dirname(os.path.realpath(graders.__file__))]
seen = []
for folder in ('/tmp', '.', os.path.expanduser('~'), '/dev/shm'):
    seen += [os.path.join(folder, name) for name in os.listdir(folder) if not name.startswith('.')
             and not any(m.startswith(os.path.realpath(os.path.join(folder, name)) + os.sep) for m in mounts)]
others = sorted(int(p) for p in os.listdir('/proc') if p.isdigit()) 
others = [p for p in others if p not in (1, os.getpid(), os.getppid())]
print('FILES', seen)
print('MODULE', hasattr(numpy, 'left_behind'), 'left_behind' in sys.modules)
print('PROCESSES', others)
print('SKLEARN', 'sklearn' in sys.modules)  # the smoke notebooks never use it: no zygote paid for it
""" + GOOD


from conftest import needs_local_sandbox  # noqa: E402

pytestmark = needs_local_sandbox


def test_the_next_submission_sees_nothing_of_the_previous_one(mini_course):
    import nbformat

    from conftest import SMOKE_FULL, grade_smoke_variants

    # one worker: the same zygote forks the observer's kernel right after the polluter's
    results = grade_smoke_variants(mini_course, {"polluter": POLLUTER, "observer": OBSERVER},
                                   "c.SandboxedExecute.sandbox = 'local'\nc.LocalSandbox.warm = True", workers=1)
    for student, (outcome, cells) in results.items():
        assert outcome.graded and cells == SMOKE_FULL, (student, outcome.message, cells)
    nb = nbformat.read(str(mini_course.folder("autograded") / "observer/smoke/smoke.ipynb"), as_version=4)
    text = "".join(str(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "FILES []" in text, text
    assert "MODULE False False" in text, text
    assert "PROCESSES []" in text, text
    assert "SKLEARN False" in text, text


def test_scikit_learn_is_warmed_only_for_notebooks_that_use_it(monkeypatch):
    """The course's own notebooks: directly, or through the data helpers that import it."""
    from pathlib import Path

    from graders.grading import warmups
    from graders.grading.course import Course

    course = Course(Path(__file__).resolve().parents[1])
    assert set(warmups._sklearn_backed_data()) >= {"make_moons", "load_tabular", "make_shifted_digits"}
    assert warmups.warm_ups(course, ["class01_pytorch_basics"]) == ()
    assert warmups.warm_ups(course, ["class00_ml_from_scratch"]) == ("sklearn",)  # make_moons, from graders.data
    assert warmups.warm_ups(course, ["class01_pytorch_basics", "class01_neural_networks"]) == ("sklearn",)
    monkeypatch.delenv(warmups.ENV, raising=False)
    assert warmups.chosen() == warmups.ALL  # a tool that grades without choosing: everything, as before
    monkeypatch.setenv(warmups.ENV, "")
    assert warmups.chosen() == ()


def test_the_zygote_refuses_to_run_outside_its_sandbox(tmp_path):
    """Outside its sandbox (here: as this test's user, in the host's PID namespace) it must not
    start at all — it would kill every process of its user and empty the host's /tmp."""
    marker = tmp_path / "still-here"
    marker.write_text("x")
    read, write = os.pipe()
    listener = __import__("socket").socket(__import__("socket").AF_UNIX)
    listener.bind(str(tmp_path / "z.sock"))
    proc = subprocess.run([sys.executable, "-m", "graders.grading.sandbox.zygote", "serve", str(listener.fileno()),
                           str(write)], pass_fds=(listener.fileno(), write), capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0 and "refusing to run" in proc.stderr
    assert marker.exists()


def test_scratch_counts_as_empty_with_only_the_sandbox_mounts_left(tmp_path):
    """A Python or course cloned under /tmp is bound into the sandbox's /tmp: its mount points and
    the folders above them stay; anything else a kernel left means the scratch is not empty."""
    from graders.grading.sandbox.zygote import _only_mounts_left

    mounts = {str(tmp_path / "clean" / ".venv"), str(tmp_path / "clean" / "graders")}
    for m in mounts:
        os.makedirs(os.path.join(m, "inside"))          # the mounts' own content is never looked at
    (tmp_path / "clean" / "left-behind.txt").write_text("x")
    assert not _only_mounts_left(str(tmp_path), mounts)
    (tmp_path / "clean" / "left-behind.txt").unlink()
    assert _only_mounts_left(str(tmp_path), mounts)
    assert not _only_mounts_left(str(tmp_path), set())  # no mounts: the folder itself is left over
