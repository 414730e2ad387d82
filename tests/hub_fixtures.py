"""One embedded JupyterHub for the whole test session (tests/conftest.py imports these fixtures).

It serves a copy of the mini course (assignment ``smoke``: two autograded cells and a
free-response cell) with ``instructor``, ``ta`` and students ``alice``, ``bob``, ``carol``, each
with their own credential; it listens on free ports of 127.0.0.1 and keeps its state in a
temporary folder. As root (CI), it is the classroom set-up: every person's server runs as their
own Unix account, confined, and the formgrader as the course folder's owner (``COURSE_OWNER``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COURSE = "dl-pytorch"
ASSIGNMENT = "smoke"
TEAM = {"instructors": ["instructor"], "tas": ["ta"], "students": ["alice", "bob", "carol"]}
FORMGRADER_API = f"/services/{COURSE}/formgrader/api"
COURSE_OWNER = "dlpytorch-owner"       # stands for the instructor's own login, which owns the course folder


@pytest.fixture(scope="session")
def embedded_hub(tmp_path_factory):
    from graders.hub.config import isolates_users
    from graders.hub.confine import ensure_account
    from graders.hub.embedded import EmbeddedHub, find_proxy, free_port

    try:
        find_proxy()
    except (FileNotFoundError, OSError) as exc:
        pytest.skip(f"no JupyterHub proxy: {exc}")
    root = tmp_path_factory.mktemp("hub")
    course = root / "course"
    shutil.copytree(REPO / "tests" / "fixtures" / "mini_course", course)
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    if isolates_users("local"):
        owner = ensure_account(COURSE_OWNER)
        for path in [course, *course.rglob("*")]:
            os.chown(path, owner.pw_uid, owner.pw_gid)
    hub = EmbeddedHub(course, root / "state", port=free_port(), team=TEAM,
                      extra_env={"GRADERS_SECRET": "hub-tests", "GRADERS_DB_URL": None})
    hub.start(timeout=180)
    print(f"\nembedded hub up in {hub.started_in_s:.1f} s at {hub.url}")
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="session")
def hub_clients(embedded_hub):
    """REST clients holding a token of each demo account (and the hub's operations token)."""
    ops = embedded_hub.ops()
    names = [name for names in TEAM.values() for name in names]
    return {"ops": ops, **{name: ops.as_user(name) for name in names}}


@pytest.fixture(scope="session")
def released_assignment(hub_clients) -> str:
    """The instructor generates and releases ``smoke`` through the formgrader service."""
    instructor = hub_clients["instructor"]
    for step in ("assign", "release"):
        result = instructor.request("POST", f"{FORMGRADER_API}/assignment/{ASSIGNMENT}/{step}").json()
        assert result["success"], result
    return ASSIGNMENT
