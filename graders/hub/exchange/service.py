"""The exchange service: ``python -m graders.hub.exchange.service``, started by the hub.

Who calls is the hub's word: every request carries a hub token (a student's server's, or the
course's formgrader service's), checked with the hub (``HubAuthenticated``; tokens only, no
cookies, so a page cannot make a browser call it). What they may do comes from the roster:

| caller | may |
|---|---|
| a course's students, TAs and instructors | list and fetch its released assignments; submit (as themselves: the name comes from the token, the time from the exchange's clock); list their own submissions; fetch their own feedback |
| a course's instructors, and the course's formgrader service | also release and unrelease, list and download every submission (collect), release feedback |

Every request is written to the audit log with who, what, and the answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from jupyterhub.services.auth import HubAuth, HubAuthenticated
from tornado import ioloop, web
from tornado.httpserver import HTTPServer

from ..settings import CourseTeam, settings_from_env
from .store import ExchangeStore, Limits, Rejected

STATE_ENV = "GRADERS_HUB_EXCHANGE_STATE"
NAME = r"[^/+*]+"                # nbgrader joins ids with '+' and globs with '*'


@dataclass(frozen=True)
class Caller:
    name: str
    kind: str                    # "user" or "service"

    def __str__(self) -> str:
        return self.name if self.kind == "user" else f"service:{self.name}"


class Access:
    """Roles per course, from the roster."""

    def __init__(self, courses: tuple[CourseTeam, ...]):
        self.courses = {course.course_id: course for course in courses}

    def is_instructor(self, caller: Caller, course_id: str) -> bool:
        course = self.courses.get(course_id)
        if course is None:
            return False
        if caller.kind == "service":
            return caller.name == course_id          # the course's own formgrader
        return caller.name in course.instructors

    def is_member(self, caller: Caller, course_id: str) -> bool:
        course = self.courses.get(course_id)
        return course is not None and (self.is_instructor(caller, course_id)
                                       or (caller.kind == "user" and caller.name in course.people))

    def courses_of(self, caller: Caller) -> list[str]:
        return sorted(c for c in self.courses if self.is_member(caller, c))


def decode_files(body: dict) -> dict[str, bytes]:
    try:
        return {entry["path"]: base64.b64decode(entry["content"], validate=True) for entry in body["files"]}
    except (KeyError, TypeError, binascii.Error) as exc:
        raise Rejected(f"expected {{'files': [{{'path': ..., 'content': base64}}]}}: {exc}") from exc


def encode_files(files: dict[str, bytes]) -> list[dict]:
    return [{"path": path, "content": base64.b64encode(content).decode()} for path, content in sorted(files.items())]


class ExchangeHandler(HubAuthenticated, web.RequestHandler):
    def initialize(self, store: ExchangeStore, access: Access) -> None:
        self.store, self.access = store, access
        self.event: dict = {}

    def prepare(self) -> None:
        model = self.get_current_user()
        if not model:
            self.fail(403, "the exchange needs a hub token with access to it: use it from your server on the hub")
            return
        self.caller = Caller(model["name"], model.get("kind", "user"))

    def fail(self, status: int, message: str) -> None:
        self.event["why"] = message
        self.set_status(status)
        self.finish({"message": message})

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None))[1]
        self.finish({"message": str(exc) if isinstance(exc, Rejected) else self._reason})

    def _handle_request_exception(self, exc: BaseException) -> None:
        if isinstance(exc, Rejected):
            self.fail(exc.status, str(exc))
        else:
            super()._handle_request_exception(exc)

    def json_body(self) -> dict:
        try:
            return json.loads(self.request.body or b"{}")
        except json.JSONDecodeError as exc:
            raise Rejected(f"the body is not JSON: {exc}") from exc

    def require(self, allowed: bool, course_id: str, role: str) -> None:
        if not allowed:
            raise Rejected(f"{getattr(self, 'caller', '?')} is not {role} of course {course_id!r}", 403)

    def member(self, course_id: str) -> None:
        self.require(self.access.is_member(self.caller, course_id), course_id, "a member")

    def instructor(self, course_id: str) -> None:
        self.require(self.access.is_instructor(self.caller, course_id), course_id, "an instructor")

    def on_finish(self) -> None:
        caller = getattr(self, "caller", None)
        self.store.audit(who=str(caller) if caller else None, method=self.request.method,
                         path=self.request.path, status=self.get_status(), bytes_in=len(self.request.body or b""),
                         remote=self.request.remote_ip, **self.event)


class CoursesHandler(ExchangeHandler):
    def get(self) -> None:
        self.finish({"courses": [{"course_id": c, "instructor": self.access.is_instructor(self.caller, c)}
                                 for c in self.access.courses_of(self.caller)]})


class AssignmentsHandler(ExchangeHandler):
    def get(self, course_id: str) -> None:
        self.member(course_id)
        self.finish({"assignments": self.store.released(course_id)})


class ReleaseHandler(ExchangeHandler):
    def get(self, course_id: str, assignment_id: str) -> None:
        self.member(course_id)
        files = self.store.release_files(course_id, assignment_id)
        if files is None:
            raise Rejected(f"{assignment_id} is not released in {course_id}", 404)
        self.event.update(action="fetch", course=course_id, assignment=assignment_id)
        self.finish({"files": encode_files(files)})

    def post(self, course_id: str, assignment_id: str) -> None:
        self.instructor(course_id)
        self.event.update(action="release", course=course_id, assignment=assignment_id)
        released_at = self.store.release(course_id, assignment_id, decode_files(self.json_body()), str(self.caller))
        self.finish({"released_at": released_at})

    def delete(self, course_id: str, assignment_id: str) -> None:
        self.instructor(course_id)
        self.event.update(action="unrelease", course=course_id, assignment=assignment_id)
        self.finish({"removed": self.store.unrelease(course_id, assignment_id)})


class SubmitHandler(ExchangeHandler):
    def post(self, course_id: str, assignment_id: str) -> None:
        self.member(course_id)
        if self.caller.kind != "user":
            raise Rejected("only people submit", 403)
        if self.store.release_files(course_id, assignment_id) is None:
            raise Rejected(f"{assignment_id} is not released in {course_id}: nothing to submit to", 404)
        self.event.update(action="submit", course=course_id, assignment=assignment_id, student=self.caller.name)
        # the student is who the token says; the time is the exchange's; whatever the body says of either is ignored
        receipt = self.store.submit(course_id, assignment_id, self.caller.name, decode_files(self.json_body()))
        self.event.update(timestamp=receipt["timestamp"], submission=receipt["id"])
        self.finish({**receipt, "student_id": self.caller.name})


class SubmissionsHandler(ExchangeHandler):
    def get(self, course_id: str) -> None:
        self.member(course_id)
        student = self.get_query_argument("student", None)
        if not self.access.is_instructor(self.caller, course_id):
            if student not in (None, self.caller.name):
                raise Rejected(f"{self.caller} may list only their own submissions", 403)
            student = self.caller.name
        found = self.store.submissions(course_id, self.get_query_argument("assignment", None), student)
        self.finish({"submissions": found})


class SubmissionHandler(ExchangeHandler):
    def get(self, course_id: str, submission_id: str) -> None:
        self.member(course_id)
        found = self.store.submission(course_id, int(submission_id))
        if found is None or not (self.access.is_instructor(self.caller, course_id)
                                 or found[0]["student_id"] == self.caller.name):
            raise Rejected(f"no submission {submission_id} of yours in {course_id}", 404)
        meta, files = found
        self.event.update(action="download", course=course_id, submission=meta["id"], student=meta["student_id"])
        self.finish({**meta, "files": encode_files(files)})


class FeedbackHandler(ExchangeHandler):
    def get(self, course_id: str) -> None:
        self.member(course_id)
        student = self.get_query_argument("student", self.caller.name)
        if student != self.caller.name:
            self.instructor(course_id)
        found = self.store.feedback(course_id, student, self.get_query_argument("assignment", None))
        self.finish({"feedback": [{**f, "content": base64.b64encode(f["content"]).decode()} for f in found]})

    def post(self, course_id: str, assignment_id: str, student_id: str) -> None:
        self.instructor(course_id)
        body = self.json_body()
        self.event.update(action="release_feedback", course=course_id, assignment=assignment_id, student=student_id,
                          timestamp=body.get("timestamp"))
        if not any(s["timestamp"] == body.get("timestamp")
                   for s in self.store.submissions(course_id, assignment_id, student_id)):
            raise Rejected(f"{student_id} has no submission of {assignment_id} at {body.get('timestamp')!r}", 404)
        count = self.store.put_feedback(course_id, assignment_id, student_id, body["timestamp"],
                                        decode_files(body), str(self.caller))
        self.finish({"released": count})


class HealthHandler(web.RequestHandler):
    def get(self) -> None:
        self.finish({"ok": True})


def make_app(store: ExchangeStore, access: Access, prefix: str, hub_auth: HubAuth | None = None) -> web.Application:
    args = {"store": store, "access": access}
    routes = [
        (r"api/courses", CoursesHandler),
        (rf"api/assignments/({NAME})", AssignmentsHandler),
        (rf"api/release/({NAME})/({NAME})", ReleaseHandler),
        (rf"api/submit/({NAME})/({NAME})", SubmitHandler),
        (rf"api/submissions/({NAME})", SubmissionsHandler),
        (rf"api/submission/({NAME})/([0-9]+)", SubmissionHandler),
        (rf"api/feedback/({NAME})", FeedbackHandler),
        (rf"api/feedback/({NAME})/({NAME})/({NAME})", FeedbackHandler),
    ]
    handlers = [(prefix + pattern, handler, args) for pattern, handler in routes]
    handlers.append((prefix + "api/health", HealthHandler))
    app = web.Application(handlers)
    if hub_auth is not None:
        for handler in {h for _, h, _ in handlers[:-1]}:
            handler.hub_auth = hub_auth
    return app


def main() -> None:
    settings = settings_from_env()
    state = Path(os.environ.get(STATE_ENV) or settings.state_dir / "exchange")
    limits = Limits.from_env()
    store = ExchangeStore(state, limits)
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/exchange/")
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    app = make_app(store, Access(settings.courses), prefix)
    # base64 makes bodies a third larger than the files they carry
    server = HTTPServer(app, max_body_size=limits.max_bytes * 4 // 3 + 2**20)
    listen_ip = os.environ.get("GRADERS_HUB_EXCHANGE_LISTEN_IP", "127.0.0.1")
    server.listen(url.port, listen_ip)
    print(f"graders exchange on {listen_ip}:{url.port}{prefix}, state {state}", file=sys.stderr, flush=True)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
