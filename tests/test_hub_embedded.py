"""The embedded hub for real: JupyterHub, its proxy, the formgrader service and students' servers
on 127.0.0.1, driven through the hub's REST API, nbgrader's formgrader API (the instructor, the
TA) and nbgrader's assignment-list API in the student's own server (fetch, submit, feedback).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub_fixtures import ASSIGNMENT, COURSE, FORMGRADER_API


def student_action(client, student: str, action: str) -> list:
    result = client.request("POST", f"/user/{student}/assignments/{action}",
                            data={"course_id": COURSE, "assignment_id": ASSIGNMENT}).json()
    assert result["success"], (action, result)
    return result["value"]


@pytest.fixture(scope="module")
def graded_cycle(embedded_hub, hub_clients, released_assignment):
    """alice's whole term: fetch, submit; collect, autograde, feedback; fetch the feedback."""
    ops, alice, instructor = hub_clients["ops"], hub_clients["alice"], hub_clients["instructor"]
    ops.start_server("alice")
    ops.wait_ready("alice")
    listed = alice.request("GET", "/user/alice/assignments", params={"course_id": COURSE}).json()
    fetched = student_action(alice, "alice", "fetch")
    submitted = student_action(alice, "alice", "submit")
    steps = {}
    for step, path in [("collect", f"assignment/{ASSIGNMENT}/collect"),
                       ("autograde", f"submission/{ASSIGNMENT}/alice/autograde"),
                       ("generate_feedback", f"assignment/{ASSIGNMENT}/alice/generate_feedback"),
                       ("release_feedback", f"assignment/{ASSIGNMENT}/alice/release_feedback")]:
        steps[step] = instructor.request("POST", f"{FORMGRADER_API}/{path}").json()
    feedback = student_action(alice, "alice", "fetch_feedback")
    return {"listed": listed, "fetched": fetched, "submitted": submitted, "steps": steps, "feedback": feedback}


def test_groups_and_services_follow_nbgrader(hub_clients):
    ops = hub_clients["ops"]
    groups = {g["name"]: set(g["users"]) for g in ops.api("GET", "/groups")}
    assert groups[f"formgrade-{COURSE}"] == {"instructor", "ta"}
    assert groups[f"nbgrader-{COURSE}"] == {"alice", "bob", "carol", "instructor"}
    assert groups[f"instructors-{COURSE}"] == {"instructor"} and groups[f"tas-{COURSE}"] == {"ta"}
    services = ops.api("GET", "/services")
    assert services[COURSE]["command"] and services[COURSE]["display"]
    assert "idle-culler" in services


def test_instructors_see_their_students_and_students_see_nobody(hub_clients):
    visible = {u["name"] for u in hub_clients["instructor"].api("GET", "/users")}
    assert visible == {"alice", "bob", "carol", "instructor"}           # the course's nbgrader group
    assert hub_clients["alice"].request("GET", "/hub/api/users", ok=None).status_code == 403


def test_student_fetches_submits_and_gets_feedback(embedded_hub, graded_cycle):
    [released] = [a for a in graded_cycle["listed"]["value"] if a["assignment_id"] == ASSIGNMENT]
    assert released["status"] == "released"
    assert graded_cycle["fetched"][0]["status"] == "fetched"
    home = embedded_hub.state_dir / "home" / "alice"
    assert (home / COURSE / ASSIGNMENT / "smoke.ipynb").is_file()  # path_includes_course
    [submitted] = [a for a in graded_cycle["submitted"] if a.get("status") == "submitted"]
    assert submitted["student_id"] == "alice"                    # the hub user, not the Unix one
    for step, result in graded_cycle["steps"].items():
        assert result["success"], (step, result.get("error") or result.get("log"))
    assert "alice" in graded_cycle["steps"]["collect"]["log"]
    feedback = list((home / COURSE / ASSIGNMENT / "feedback").glob("*/smoke.html"))
    assert feedback, "no feedback fetched into alice's folder"
    html = feedback[0].read_text()
    assert "test_double_scalar" in html and "BEGIN HIDDEN TESTS" not in html


def test_autograde_scored_the_unanswered_stub_zero(hub_clients, graded_cycle):
    submission = hub_clients["instructor"].request("GET", f"{FORMGRADER_API}/submission/{ASSIGNMENT}/alice").json()
    assert submission["autograded"] and submission["student"] == "alice"
    assert submission["max_code_score"] == 5.0 and submission["code_score"] == 0.0
    assert submission["max_written_score"] == 1.0                  # the free-response cell, for a grader


def _free_response(client, kind: str) -> dict:
    """alice's grade or comment (``kind``: grades, comments) of the free-response cell."""
    notebooks = client.request("GET", f"{FORMGRADER_API}/submitted_notebooks/{ASSIGNMENT}/smoke").json()
    [alice] = [n for n in notebooks if n["student"] == "alice"]
    found = client.request("GET", f"{FORMGRADER_API}/{kind}", params={"submission_id": alice["id"]}).json()
    [why] = [g for g in found if g["name"] == "why"]
    return why


def test_ta_grades_free_response_but_cannot_change_the_course(hub_clients, graded_cycle):
    ta = hub_clients["ta"]
    why = _free_response(ta, "grades")                                  # reading: allowed
    graded = ta.request("PUT", f"{FORMGRADER_API}/grade/{why['id']}", json={"manual_score": 1.0})
    assert graded.status_code == 200 and graded.json()["manual_score"] == 1.0
    comment = _free_response(ta, "comments")
    commented = ta.request("PUT", f"{FORMGRADER_API}/comment/{comment['id']}", json={"manual_comment": "good"})
    assert commented.status_code == 200
    forbidden = {
        "release": ("POST", f"{FORMGRADER_API}/assignment/{ASSIGNMENT}/release"),
        "unrelease": ("POST", f"{FORMGRADER_API}/assignment/{ASSIGNMENT}/unrelease"),
        "generate": ("POST", f"{FORMGRADER_API}/assignment/{ASSIGNMENT}/assign"),
        "collect": ("POST", f"{FORMGRADER_API}/assignment/{ASSIGNMENT}/collect"),
        "edit assignment": ("PUT", f"{FORMGRADER_API}/assignment/{ASSIGNMENT}"),
        "autograde": ("POST", f"{FORMGRADER_API}/submission/{ASSIGNMENT}/alice/autograde"),
        "release feedback": ("POST", f"{FORMGRADER_API}/assignment/{ASSIGNMENT}/release_feedback"),
        "edit student": ("PUT", f"{FORMGRADER_API}/student/alice"),
        "edit source (points)": ("PUT", f"/services/{COURSE}/api/contents/source/{ASSIGNMENT}/smoke.ipynb"),
        "kernel": ("POST", f"/services/{COURSE}/api/kernels"),
        "terminal": ("POST", f"/services/{COURSE}/api/terminals"),
        "kernel websocket": ("GET", f"/services/{COURSE}/api/kernels/00000000-0000-0000-0000-000000000000/channels"),
        "terminal websocket": ("GET", f"/services/{COURSE}/terminals/websocket/1"),
    }
    for what, (method, path) in forbidden.items():
        response = ta.request(method, path, ok=None, **({"json": {}} if method != "GET" else {}))
        assert response.status_code == 403, (what, response.status_code)
    assert "not one of its instructors" in ta.request("POST", forbidden["release"][1], ok=None).text
    # the instructor keeps every power on the same service
    instructor = hub_clients["instructor"]
    assert instructor.request("PUT", f"{FORMGRADER_API}/grade/{why['id']}", json={"manual_score": 0.5}).ok
    assert instructor.request("GET", f"/services/{COURSE}/api/kernels").ok


def test_students_never_reach_the_formgrader(hub_clients):
    alice = hub_clients["alice"]
    assert alice.request("GET", f"{FORMGRADER_API}/assignments", ok=None).status_code == 403
    # nor run it in their own server
    assert alice.request("GET", "/user/alice/formgrader/api/assignments", ok=None).status_code == 404


def test_only_the_formgrader_may_be_framed_by_the_hub(hub_clients, graded_cycle):
    """nbgrader#1870: the lab's formgrader iframe is blank under JupyterHub's `frame-ancestors 'none'`."""
    page = hub_clients["instructor"].request("GET", f"/services/{COURSE}/formgrader")
    policy = dict(p.strip().split(" ", 1) for p in page.headers["Content-Security-Policy"].split(";"))
    assert policy["frame-ancestors"] == "'self'"
    # the strict policy (graders.hub.formgrader_csp): the page's own inline scripts by hash, nothing inline else
    assert policy["default-src"] == "'none'" and policy["script-src"].startswith("'self' 'sha256-")
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert hub_clients["instructor"].request("GET", f"/services/{COURSE}/lab").headers[
        "Content-Security-Policy"] == "frame-ancestors 'self'"          # the lab keeps Jupyter's own rules
    student_page = hub_clients["alice"].request("GET", "/user/alice/api/status")
    assert "frame-ancestors 'none'" in student_page.headers["Content-Security-Policy"]


def test_student_servers_file_work_under_their_hub_user(embedded_hub, hub_clients, graded_cycle):
    home = Path(embedded_hub.state_dir) / "home" / "alice"
    assert home.is_dir()
    submitted = hub_clients["instructor"].request("GET", f"{FORMGRADER_API}/submission/{ASSIGNMENT}/alice").json()
    assert submitted["student"] == "alice"          # the exchange filed it under her hub name


@pytest.mark.parametrize("method,path,allowed", [
    ("GET", "formgrader/manage_assignments", True),
    ("GET", "formgrader/api/submissions/smoke", True),
    ("PUT", "formgrader/api/grade/abc", True),
    ("PUT", "formgrader/api/comment/abc", True),
    ("POST", "formgrader/api/submitted_notebook/abc/flag", True),
    ("POST", "formgrader/api/assignment/smoke/generate_feedback", True),
    ("POST", "formgrader/api/assignment/smoke/alice/generate_feedback", True),
    ("PUT", "lab/api/workspaces/default", True),
    ("GET", "api/kernels", True),                      # JupyterLab lists them
    ("POST", "formgrader/api/assignment/smoke/release", False),
    ("POST", "formgrader/api/assignment/smoke/alice/release_feedback", False),
    ("POST", "formgrader/api/submission/smoke/alice/autograde", False),
    ("PUT", "formgrader/api/grade/abc/../../assignment/smoke", False),
    ("PATCH", "api/contents/source/smoke/smoke.ipynb", False),
    ("DELETE", "api/contents/release", False),
    ("GET", "api/kernels/k1/channels", False),
    ("GET", "terminals/websocket/1", False),
])
def test_ta_policy(method, path, allowed):
    from graders.hub.ta_guard import ta_may

    assert ta_may(method, path) is allowed
