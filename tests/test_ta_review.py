"""A TA's review in nbgrader's real formgrader: rubric in view, score and comment, into feedback;
and a submission full of active content (tests/active_content.py) that reaches neither the
formgrader's page nor the feedback as anything that can run.

The formgrader runs as a Jupyter server extension in a real ``jupyter server`` on 127.0.0.1 with
the hub's Content-Security-Policy extension, over a course graded by the demo loop; the TA uses
the formgrader's HTTP API as its pages do. (A real browser opens the same kind of submission in
tests/test_hub_browser.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from active_content import ANSWER, FREE_RESPONSE, MARKER, active_content
from graders.grading.course import CONFIG_FILE, Course
from graders.grading.demo import run_demo
from graders.grading.gradebook import submission_rows

REPO = Path(__file__).resolve().parents[1]
MINI_COURSE = REPO / "tests" / "fixtures" / "mini_course"

TOKEN = "ta-review-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(base: str, path: str, method: str = "GET", body: dict | None = None):
    request = urllib.request.Request(base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read().decode(), response.headers


def _call(base: str, path: str, method: str = "GET", body: dict | None = None):
    text, _ = _request(base, path, method, body)
    return json.loads(text) if text.lstrip().startswith(("{", "[")) else text


@pytest.fixture(scope="module")
def formgrader(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("formgrader")
    shutil.copytree(MINI_COURSE, tmp_path / "course")
    shutil.copy(REPO / CONFIG_FILE, tmp_path / "course" / CONFIG_FILE)
    course = Course(tmp_path / "course")
    run_demo(course, workers=2, progress=False, say=lambda *_: None)
    config_dir = tmp_path / "jupyter-config"
    config_dir.mkdir()
    (config_dir / "jupyter_server_config.py").write_text(
        'c.ServerApp.jpserver_extensions = {"graders.hub.formgrader_csp": True}\n')
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config_dir),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"), "HOME": str(tmp_path)}
    env.pop("GRADERS_DB_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={course.root}"],
        cwd=course.root, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"))
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
    yield course, base
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


@pytest.fixture(scope="module")
def mallory(formgrader):
    """A submission whose answer prints active content and whose free response is made of it."""
    from graders.grading.autograde import autograde
    from graders.grading.variants import read, reference_submission, with_answer

    course, base = formgrader
    notebook = with_answer(reference_submission(read(course.root / "source/smoke/smoke.ipynb"),
                                                read(course.folder("release") / "smoke/smoke.ipynb")), "double", ANSWER)
    for cell in notebook.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "why":
            cell.source = FREE_RESPONSE
    folder = course.submission_dir("mallory", "smoke")
    folder.mkdir(parents=True)
    nbformat.write(notebook, str(folder / "smoke.ipynb"))
    [outcome] = autograde(course, "smoke", ["mallory"], workers=1, progress=False)
    graded = nbformat.read(str(course.folder("autograded") / "mallory/smoke/smoke.ipynb"), as_version=4)
    outputs = [o for c in graded.cells for o in c.get("outputs", [])]
    # the payloads reached the graded notebook: what follows is the renderers' doing, not grading's
    assert any("onerror" in str(o.get("data", {}).get("text/html", "")) for o in outputs), outcome
    assert any("application/javascript" in o.get("data", {}) for o in outputs)
    return course, base


def test_formgrader_page_of_active_content_runs_nothing_of_the_students(mallory):
    from graders.hub.formgrader_csp import NOTEBOOK_MARKER, sha256_source, template_event_handlers

    course, base = mallory
    [sub] = [n for n in _call(base, "/formgrader/api/submitted_notebooks/smoke/smoke") if n["student"] == "mallory"]
    page, headers = _request(base, f"/formgrader/submissions/{sub['id']}/")
    assert MARKER in page                                  # the student's work is shown, as text
    assert active_content(page, template_event_handlers()) == [], active_content(page, template_event_handlers())
    notebook_part = page.split(NOTEBOOK_MARKER.decode(), 1)[1]
    assert "<script" not in notebook_part.lower()          # nbconvert dropped script outputs, bleach the rest
    policy = dict(d.strip().split(" ", 1) for d in headers["Content-Security-Policy"].split(";"))
    scripts = policy["script-src"]
    assert scripts.startswith("'self' 'sha256-") and "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    template_scripts = page.split(NOTEBOOK_MARKER.decode(), 1)[0].count("<script type=\"text/javascript\">")
    assert scripts.count("'sha256-") >= template_scripts >= 2     # nbgrader's own inline scripts still run
    assert sha256_source(b"toggle_name(true);") in scripts      # and its one inline event handler
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'self'"


def test_feedback_of_active_content_carries_none(mallory):
    course, _ = mallory
    assert course.api.generate_feedback("smoke", "mallory", force=True)["success"]
    feedback = (course.folder("feedback") / "mallory" / "smoke" / "smoke.html").read_text()
    assert MARKER in feedback and "Your results" in feedback
    assert active_content(feedback) == [], active_content(feedback)
    assert 'src="data:image/png;base64,' in feedback        # the score chart and figures stay
