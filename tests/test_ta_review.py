"""A TA's review in nbgrader's real formgrader: rubric in view, score and comment, into feedback.

The formgrader runs as a Jupyter server extension in a real ``jupyter server`` on 127.0.0.1,
over a course graded by the demo loop; the TA uses the formgrader's HTTP API as its pages do.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from graders.grading.demo import run_demo
from graders.grading.gradebook import submission_rows

TOKEN = "ta-review-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(base: str, path: str, method: str = "GET", body: dict | None = None):
    request = urllib.request.Request(base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read().decode()
    return json.loads(text) if text.lstrip().startswith(("{", "[")) else text


@pytest.fixture
def formgrader(mini_course, tmp_path):
    run_demo(mini_course, workers=2, progress=False, say=lambda *_: None)
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"), "HOME": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={mini_course.root}"],
        cwd=mini_course.root, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"))
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            _call(base, "/formgrader/api/status")
            break
        except (urllib.error.URLError, ConnectionError):
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("the formgrader did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.5)
    yield mini_course, base
    server.terminate()
    server.wait(timeout=30)


def test_ta_grades_a_free_response_with_the_rubric_in_view(formgrader):
    course, base = formgrader
    notebooks = _call(base, "/formgrader/api/submitted_notebooks/smoke/smoke")
    alice = next(n for n in notebooks if n["student"] == "alice")
    assert alice["needs_manual_grade"]

    # the page a TA grades on: the answer, the rubric from source/ right below it, the checks' output
    page = _call(base, f"/formgrader/submissions/{alice['id']}/")
    assert "Model answer and rubric (TAs only" in page
    assert "✔" in page  # the autograded checks are in view

    grades = _call(base, f"/formgrader/api/grades?submission_id={alice['id']}")
    answer = next(g for g in grades if g["name"] == "why")
    assert answer["auto_score"] is None and answer["max_score"] == 1
    _call(base, f"/formgrader/api/grade/{answer['id']}", "PUT", {"manual_score": 0.5})
    comments = _call(base, f"/formgrader/api/comments?submission_id={alice['id']}")
    comment = next(c for c in comments if c["name"] == "why")
    _call(base, f"/formgrader/api/comment/{comment['id']}", "PUT",
          {"manual_comment": "Right idea; say why the product is 4."})

    rows = {r.student: r for r in submission_rows(course, ["smoke"])}
    assert rows["alice"].status == "graded" and rows["alice"].score == 5.5

    assert course.api.generate_feedback("smoke", "alice", force=True)["success"]
    feedback = (course.folder("feedback") / "alice" / "smoke" / "smoke.html").read_text()
    assert "Right idea; say why the product is 4." in feedback   # the TA's comment reaches her
    assert "5.5 / 6" in feedback
    assert "Model answer and rubric" not in feedback            # the rubric never does
