"""The exchange service and nbgrader's exchange classes that use it, in one process, without a hub.

The service runs for real (tornado, on 127.0.0.1) with a stand-in for the hub's token check: a
token names its owner. nbgrader's own apps' objects (CourseDirectory, the exchange classes) drive
it as the formgrader and the students' servers do. The embedded hub runs the same service for real
in tests/test_hub_isolation.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import sys
import threading
from pathlib import Path

import nbformat
import pytest
import requests
from nbformat.v4 import new_code_cell, new_notebook

from graders.hub.exchange.store import ExchangeStore, Limits, Rejected, clean_path
from graders.hub.settings import CourseTeam

COURSE, ASSIGNMENT = "c101", "hw1"
TOKENS = {"t-alice": ("alice", "user"), "t-bob": ("bob", "user"), "t-prof": ("prof", "user"),
          "t-formgrader": (COURSE, "service"), "t-mallory": ("mallory", "user"), "t-other": ("other-course", "service")}


class TokenNamesOwner:
    """Stands in for jupyterhub.services.auth.HubAuth: the hub's answer for each token."""

    access_scopes: set = set()

    def get_user(self, handler):
        token = handler.request.headers.get("Authorization", "").removeprefix("token ")
        if token in TOKENS:
            name, kind = TOKENS[token]
            return {"name": name, "kind": kind}
        return None

    def _persist_url_token_if_set(self, handler):
        pass


@pytest.fixture
def exchange(tmp_path):
    from tornado import ioloop
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    from graders.hub.exchange.service import Access, make_app

    store = ExchangeStore(tmp_path / "exchange", Limits(max_bytes=2**20, max_files=50, max_submissions=3))
    team = CourseTeam(COURSE, tmp_path, instructors=("prof",), students=("alice", "bob"))
    app = make_app(store, Access((team,)), "/services/exchange/", hub_auth=TokenNamesOwner())
    started, holder = threading.Event(), {}

    def serve():
        asyncio.set_event_loop(asyncio.new_event_loop())
        sockets = bind_sockets(0, "127.0.0.1")
        HTTPServer(app).add_sockets(sockets)
        holder["port"] = sockets[0].getsockname()[1]
        holder["loop"] = ioloop.IOLoop.current()
        started.set()
        holder["loop"].start()

    threading.Thread(target=serve, daemon=True).start()
    started.wait(10)
    url = f"http://127.0.0.1:{holder['port']}/services/exchange/"
    yield store, url
    holder["loop"].add_callback(holder["loop"].stop)


def api(url: str, token: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, url + path, headers={"Authorization": f"token {token}"}, timeout=30, **kwargs)


def files_body(files: dict[str, bytes], **extra) -> dict:
    return {"files": [{"path": p, "content": base64.b64encode(c).decode()} for p, c in files.items()], **extra}


# --- the store ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../b", "a\\b", "", "./a", "a/./b", "x\0y"])
def test_paths_that_leave_the_assignment_are_rejected(path):
    with pytest.raises(Rejected):
        clean_path(path)


def test_store_keeps_every_submission_stamps_its_own_time_and_limits_sizes(tmp_path):
    store = ExchangeStore(tmp_path, Limits(max_bytes=1000, max_files=3, max_submissions=2))
    first = store.submit(COURSE, ASSIGNMENT, "alice", {"a.ipynb": b"1", "timestamp.txt": b"2000-01-01 00:00:00 UTC"})
    second = store.submit(COURSE, ASSIGNMENT, "alice", {"a.ipynb": b"2"})
    history = store.submissions(COURSE, ASSIGNMENT, "alice")
    assert [s["id"] for s in history] == [first["id"], second["id"]]            # both kept
    meta, files = store.submission(COURSE, first["id"])
    assert files["timestamp.txt"].decode() == first["timestamp"] != "2000-01-01 00:00:00 UTC"
    assert first["timestamp"].endswith(" UTC") and first["timestamp"] <= second["timestamp"]
    with pytest.raises(Rejected, match="submitted hw1 2 times"):                  # history, not a disk filler
        store.submit(COURSE, ASSIGNMENT, "alice", {"a.ipynb": b"3"})
    with pytest.raises(Rejected, match="at most 0 MiB|MiB in one upload"):
        store.submit(COURSE, ASSIGNMENT, "bob", {"big.bin": b"x" * 1001})
    with pytest.raises(Rejected, match="at most 3"):
        store.submit(COURSE, ASSIGNMENT, "bob", {f"{i}.txt": b"" for i in range(4)})


# --- the service, by HTTP ----------------------------------------------------------------------

def test_service_roles_server_time_and_audit(exchange):
    store, url = exchange
    release = files_body({"hw1.ipynb": b"{}"})
    assert api(url, "t-alice", "POST", f"api/release/{COURSE}/{ASSIGNMENT}", json=release).status_code == 403
    assert api(url, "t-other", "POST", f"api/release/{COURSE}/{ASSIGNMENT}", json=release).status_code == 403
    assert api(url, "t-formgrader", "POST", f"api/release/{COURSE}/{ASSIGNMENT}", json=release).ok
    assert api(url, "nobody", "GET", f"api/assignments/{COURSE}").status_code == 403
    assert api(url, "t-mallory", "GET", f"api/assignments/{COURSE}").status_code == 403    # not in the roster

    forged = files_body({"hw1.ipynb": b"mine", "timestamp.txt": b"2001-01-01 00:00:00 UTC"},
                        student_id="bob", timestamp="2001-01-01 00:00:00 UTC")
    receipt = api(url, "t-alice", "POST", f"api/submit/{COURSE}/{ASSIGNMENT}", json=forged).json()
    assert receipt["student_id"] == "alice" and not receipt["timestamp"].startswith("2001")
    bob = api(url, "t-bob", "POST", f"api/submit/{COURSE}/{ASSIGNMENT}", json=files_body({"hw1.ipynb": b"bob's"})).json()

    # alice sees her own history only, and cannot download, list or fake bob's
    mine = api(url, "t-alice", "GET", f"api/submissions/{COURSE}").json()["submissions"]
    assert {s["student_id"] for s in mine} == {"alice"}
    assert api(url, "t-alice", "GET", f"api/submissions/{COURSE}", params={"student": "bob"}).status_code == 403
    assert api(url, "t-alice", "GET", f"api/submission/{COURSE}/{bob['id']}").status_code == 404
    assert api(url, "t-alice", "POST", f"api/feedback/{COURSE}/{ASSIGNMENT}/bob",
               json=files_body({"x.html": b"<p>0/10</p>"}, timestamp=bob["timestamp"])).status_code == 403
    assert api(url, "t-alice", "GET", f"api/feedback/{COURSE}", params={"student": "bob"}).status_code == 403
    for method in ("DELETE", "PUT"):                                 # no way to change a submission at all
        assert api(url, "t-alice", method, f"api/submission/{COURSE}/{bob['id']}").status_code in (404, 405)
    assert api(url, "t-alice", "POST", f"api/submit/{COURSE}/../x", json=forged).status_code == 404

    # the instructor (and the course's formgrader) see everything
    every = api(url, "t-prof", "GET", f"api/submissions/{COURSE}").json()["submissions"]
    assert {s["student_id"] for s in every} == {"alice", "bob"}
    downloaded = api(url, "t-formgrader", "GET", f"api/submission/{COURSE}/{bob['id']}").json()
    assert base64.b64decode(next(f["content"] for f in downloaded["files"] if f["path"] == "hw1.ipynb")) == b"bob's"

    audit = [json.loads(line) for line in store.audit_path.read_text().splitlines()]
    submits = [a for a in audit if a.get("action") == "submit"]
    assert [(a["who"], a["status"]) for a in submits] == [("alice", 200), ("bob", 200)]
    assert any(a["who"] == "alice" and a["status"] == 403 and "bob" in a["path"] for a in audit)
    assert any(a["who"] is None and a["status"] == 403 for a in audit)       # no token: logged too


def test_oversized_upload_is_refused_with_a_reason(exchange):
    _, url = exchange
    api(url, "t-prof", "POST", f"api/release/{COURSE}/{ASSIGNMENT}", json=files_body({"hw1.ipynb": b"{}"}))
    response = api(url, "t-alice", "POST", f"api/submit/{COURSE}/{ASSIGNMENT}",
                   json=files_body({"data.bin": b"x" * (2**20 + 1)}))
    assert response.status_code == 413 and "MiB in one upload" in response.json()["message"]


# --- nbgrader's classes over the service -------------------------------------------------------

def notebook(text: str) -> nbformat.NotebookNode:
    return new_notebook(cells=[new_code_cell(text)])


def nbgrader_objects(tmp_path: Path, who: str, url: str, monkeypatch, **coursedir):
    """What an nbgrader app hands its exchange class: a course directory, an authenticator, config."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    token = {"alice": "t-alice", "bob": "t-bob", "formgrader": "t-formgrader"}[who]
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", token)
    monkeypatch.setenv("GRADERS_HUB_EXCHANGE_URL", url)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # nbgrader runs alembic
    home = tmp_path / who
    home.mkdir(exist_ok=True)
    monkeypatch.chdir(home)
    config = Config()
    config.Exchange.path_includes_course = True
    config.Exchange.assignment_dir = str(home)
    config.Exchange.cache = str(home / ".cache")
    coursedir = CourseDirectory(config=config, root=str(home), course_id=COURSE, assignment_id=ASSIGNMENT, **coursedir)
    return {"coursedir": coursedir, "authenticator": Authenticator(config=config), "config": config}


def test_nbgrader_release_fetch_submit_collect_feedback_through_the_service(exchange, tmp_path, monkeypatch):
    from graders.hub.exchange import client

    store, url = exchange
    course = tmp_path / "formgrader"
    (course / "release" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(notebook("x = 1"), course / "release" / ASSIGNMENT / "hw1.ipynb")
    client.ExchangeReleaseAssignment(**nbgrader_objects(tmp_path, "formgrader", url, monkeypatch)).start()
    with pytest.raises(Exception, match="already exists"):          # nbgrader's own rule: --force to replace
        client.ExchangeReleaseAssignment(**nbgrader_objects(tmp_path, "formgrader", url, monkeypatch)).start()

    listed = client.ExchangeList(**nbgrader_objects(tmp_path, "alice", url, monkeypatch)).start()
    assert [(a["assignment_id"], a["status"]) for a in listed] == [(ASSIGNMENT, "released")]
    receipts = {}
    for student in ("alice", "bob"):
        objects = nbgrader_objects(tmp_path, student, url, monkeypatch)
        client.ExchangeFetchAssignment(**objects).start()
        fetched = tmp_path / student / COURSE / ASSIGNMENT / "hw1.ipynb"
        assert fetched.is_file()
        nbformat.write(notebook(f"x = '{student}'"), fetched)
        submit = client.ExchangeSubmit(**objects)
        submit.start()
        receipts[student] = submit.timestamp
    # the assignment list shows the exchange's time
    cached = client.ExchangeList(cached=True, **nbgrader_objects(tmp_path, "alice", url, monkeypatch)).start()
    [alice_sub] = cached[0]["submissions"]
    assert alice_sub["timestamp"] == receipts["alice"] and alice_sub["student_id"] == "alice"

    # collect as the formgrader: both, with the exchange's timestamps
    objects = nbgrader_objects(tmp_path, "formgrader", url, monkeypatch)
    objects["coursedir"].root = str(course)
    objects["coursedir"].db_url = f"sqlite:///{course / 'gradebook.db'}"
    client.ExchangeCollect(**objects).start()
    for student in ("alice", "bob"):
        collected = course / "submitted" / student / ASSIGNMENT
        assert (collected / "timestamp.txt").read_text() == receipts[student]
        assert f"x = '{student}'" in (collected / "hw1.ipynb").read_text()

    # feedback, released per student, fetched by each: alice gets hers only
    for student in ("alice", "bob"):
        folder = course / "feedback" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / "hw1.html").write_text(f"<p>feedback for {student}</p>")
        shutil.copy(course / "submitted" / student / ASSIGNMENT / "timestamp.txt", folder)
        shutil.copy(course / "submitted" / student / ASSIGNMENT / "submission_secret.txt", folder)
    client.ExchangeReleaseFeedback(**objects).start()
    client.ExchangeFetchFeedback(**nbgrader_objects(tmp_path, "alice", url, monkeypatch)).start()
    [html] = (tmp_path / "alice" / COURSE / ASSIGNMENT / "feedback").glob("*/hw1.html")
    assert html.read_text() == "<p>feedback for alice</p>" and html.parent.name == receipts["alice"]
    assert {f["path"] for f in store.feedback(COURSE, "alice")} == {p["path"] for p in store.feedback(COURSE, "alice")}
    assert len(store.feedback(COURSE, "alice")) == 1

    # unrelease goes through the service too
    client.ExchangeList(remove=True, **nbgrader_objects(tmp_path, "formgrader", url, monkeypatch)).start()
    assert store.released(COURSE) == []
