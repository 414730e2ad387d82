"""TAs grade; instructors alone change assignments, points and releases (nbgrader#331).

A Jupyter server extension for the formgrader service of a course. nbgrader gives everyone who
can open the formgrader all of its powers; here only members of the course's instructors group
($GRADERS_HUB_INSTRUCTOR_GROUP, read from the JupyterHub identity of the request) keep them.
Anyone else who reaches the service (the course's TAs) may:

- read everything the formgrader shows (GET), and
- grade: set a manual score, write a comment, flag a submission, generate feedback to review it;

and gets 403 on the rest: creating, editing, generating, releasing, unreleasing, collecting and
autograding assignments, releasing feedback, editing students, writing files (source notebooks
hold the points), and starting or talking to kernels and terminals (they run code as the
course's owner).

Every request passes through the guard: it wraps the handler class that tornado routes it to.
"""

from __future__ import annotations

import inspect
import json
import os
import re

from tornado import web

INSTRUCTOR_GROUP_ENV = "GRADERS_HUB_INSTRUCTOR_GROUP"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

# Changes a TA may make (paths relative to the server's base URL).
TA_MAY_CHANGE = [re.compile(p) for p in (
    r"formgrader/api/grade/[^/]+",                              # manual score of a cell
    r"formgrader/api/comment/[^/]+",                            # comment on a cell
    r"formgrader/api/submitted_notebook/[^/]+/flag",            # flag for an instructor's look
    r"formgrader/api/assignment/[^/]+(/[^/]+)?/generate_feedback",  # feedback, to review it
    r"lab/api/(workspaces|settings)(/.*)?",                     # the lab's own layout and settings
)]
# Never for a TA, not even with GET: a kernel's or a terminal's websocket runs code as the
# service's user. (Starting one is a POST; listing them stays allowed, so JupyterLab works.)
TA_NEVER = re.compile(r"api/kernels/[^/]+/channels|terminals/websocket/")


def ta_may(method: str, path: str) -> bool:
    """May a grader outside the instructors group make this request?"""
    if TA_NEVER.match(path):
        return False
    return method in SAFE_METHODS or any(p.fullmatch(path) for p in TA_MAY_CHANGE)


def _groups_of(user) -> set[str]:
    hub_user = getattr(user, "hub_user", None) or {}
    return set(hub_user.get("groups") or ())


def _guarded(handler_class: type, instructor_group: str, base_url: str) -> type:
    original_prepare = handler_class.prepare

    async def prepare(self, *args, **kwargs):
        result = original_prepare(self, *args, **kwargs)
        if inspect.isawaitable(result):
            await result
        if self._finished:
            return
        user = self.current_user
        path = self.request.path[len(base_url):] if self.request.path.startswith(base_url) else self.request.path
        if user is not None and instructor_group not in _groups_of(user) and not ta_may(self.request.method, path):
            # answered here, not raised: nbgrader's error pages would replace the reason with their own
            self.set_status(403)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": (
                f"{getattr(user, 'username', user)} grades this course but is not one of its instructors "
                f"(group {instructor_group}): graders may read, grade, comment and generate feedback; ask an "
                "instructor to change assignments, points or releases")}))

    return type(f"TAGuarded{handler_class.__name__}", (handler_class,), {"prepare": prepare})


def _load_jupyter_server_extension(serverapp) -> None:
    instructor_group = os.environ.get(INSTRUCTOR_GROUP_ENV)
    if not instructor_group:
        raise RuntimeError(f"graders.hub.ta_guard: ${INSTRUCTOR_GROUP_ENV} is not set; the hub's formgrader "
                           "service sets it (graders.hub.config.formgrader_service)")
    web_app = serverapp.web_app
    base_url = serverapp.base_url
    original = web_app.get_handler_delegate
    cache: dict[type, type] = {}

    def get_handler_delegate(request, target_class, *args, **kwargs):
        if isinstance(target_class, type) and issubclass(target_class, web.RequestHandler):
            if target_class not in cache:
                cache[target_class] = _guarded(target_class, instructor_group, base_url)
            target_class = cache[target_class]
        return original(request, target_class, *args, **kwargs)

    web_app.get_handler_delegate = get_handler_delegate
    serverapp.log.info("graders.hub.ta_guard: only group %s may change assignments, points and releases",
                       instructor_group)


def _jupyter_server_extension_points():
    return [{"module": "graders.hub.ta_guard"}]
