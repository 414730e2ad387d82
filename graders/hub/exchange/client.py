"""nbgrader's exchange classes, backed by the exchange service (``c.ExchangeFactory``).

Each class runs nbgrader's own default logic (which notebooks, which submission to collect,
feedback hashes, the local cache the assignment list reads) against a private temporary exchange
folder. Before, it fills that folder with what the service lets the caller see; after, it sends
back what the logic wrote there. The service, not this code, decides who may see and change what:
a student's server runs these classes and can change them, so nothing here is a defence.
"""

from __future__ import annotations

import base64
import glob
import os
import re
import shutil
import tempfile
from pathlib import Path

import requests
from nbgrader.exchange import ExchangeError
from nbgrader.exchange import default
from nbgrader.utils import notebook_hash
from traitlets import Unicode, default as default_value

from . import URL_ENV
from .store import SERVER_FILES, clean_path

TIMEOUT_S = 300


class ExchangeClient:
    """The service's API, called with this process's hub token."""

    def __init__(self, url: str, token: str | None = None):
        if not url:
            raise ExchangeError(f"${URL_ENV} is not set: this server does not know where the course's exchange is; "
                                "ask the hub's administrator (graders.hub.config sets it for every server)")
        self.url = url.rstrip("/") + "/"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token or os.environ.get('JUPYTERHUB_API_TOKEN', '')}"

    def call(self, method: str, path: str, *, ok404: bool = False, **kwargs) -> dict | None:
        try:
            response = self.session.request(method, self.url + path, timeout=TIMEOUT_S, **kwargs)
        except requests.RequestException as exc:
            raise ExchangeError(f"the exchange at {self.url} did not answer ({exc}); try again, or tell an instructor")
        if response.status_code == 404 and ok404:
            return None
        if not response.ok:
            try:
                why = response.json()["message"]
            except (ValueError, KeyError):
                why = response.text[:300]
            raise ExchangeError(f"the exchange refused {method} {path}: {response.status_code} {why}")
        return response.json()

    def upload(self, method: str, path: str, files: dict[str, bytes], **extra) -> dict:
        body = {"files": [{"path": p, "content": base64.b64encode(c).decode()} for p, c in files.items()], **extra}
        return self.call(method, path, json=body)


def decoded(entries: list[dict]) -> dict[str, bytes]:
    return {e["path"]: base64.b64decode(e["content"]) for e in entries}


def read_tree(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` (links are not followed), by relative POSIX path."""
    files = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and not path.is_symlink() and not any(p.is_symlink() for p in path.parents):
            files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return files


def write_tree(folder: Path, files: dict[str, bytes]) -> None:
    for path, content in files.items():
        target = Path(folder, clean_path(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def placeholders(folder: Path, paths: list[str]) -> None:
    """Empty files with the names the service listed: nbgrader globs names, not contents, here."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    write_tree(folder, {p: b"" for p in paths})


class ServiceExchange(default.Exchange):
    """nbgrader's default exchange over a private folder that mirrors the caller's view of the service."""

    service_url = Unicode(help=f"The exchange service's URL (default: ${URL_ENV})").tag(config=True)

    @default_value("service_url")
    def _service_url_default(self) -> str:
        return os.environ.get(URL_ENV, "")

    def ensure_root(self) -> None:
        """The root is a private temporary folder of ours: nothing to check, nothing to open up."""

    def start(self):
        self.client = ExchangeClient(self.service_url)
        with tempfile.TemporaryDirectory(prefix="nbgrader-exchange-") as root:
            self.root = root
            self.materialize()
            result = super().start()
            self.publish()
            return result

    def materialize(self) -> None:
        """Fill the private root with what this operation reads."""

    def publish(self) -> None:
        """Send the service what this operation wrote into the private root."""

    def here(self, *parts: str) -> Path:
        return Path(self.root, self.coursedir.course_id, *parts)

    def courses(self) -> list[str]:
        if self.coursedir.course_id:
            return [self.coursedir.course_id]
        return [c["course_id"] for c in self.client.call("GET", "api/courses")["courses"]]

    def released(self, course_id: str) -> dict[str, list[str]]:
        found = self.client.call("GET", f"api/assignments/{course_id}")["assignments"]
        return {a["assignment_id"]: a["files"] for a in found}


class ExchangeReleaseAssignment(ServiceExchange, default.ExchangeReleaseAssignment):
    def materialize(self) -> None:
        if self.coursedir.assignment_id in self.released(self.coursedir.course_id):
            self.here("outbound", self.coursedir.assignment_id).mkdir(parents=True)   # --force to replace

    def publish(self) -> None:
        files = read_tree(self.here("outbound", self.coursedir.assignment_id))
        self.client.upload("POST", f"api/release/{self.coursedir.course_id}/{self.coursedir.assignment_id}", files)


class ExchangeFetchAssignment(ServiceExchange, default.ExchangeFetchAssignment):
    def materialize(self) -> None:
        course, assignment = self.coursedir.course_id, self.coursedir.assignment_id
        found = self.client.call("GET", f"api/release/{course}/{assignment}", ok404=True)
        if found is None:
            self.fail(f"{assignment} is not released in {course}")
        write_tree(self.here("outbound", assignment), decoded(found["files"]))


class ExchangeSubmit(ServiceExchange, default.ExchangeSubmit):
    def materialize(self) -> None:
        course, assignment = self.coursedir.course_id, self.coursedir.assignment_id
        released = self.released(course)
        if assignment not in released:
            self.fail(f"{assignment} is not released in {course}: nothing to submit to")
        placeholders(self.here("outbound", assignment), released[assignment])
        self.here("inbound").mkdir(parents=True)

    def copy_files(self) -> None:
        local_cache = Path(self.cache_path, self.assignment_filename.rsplit("+", 1)[0] if self.add_random_string
                           else self.assignment_filename)
        try:
            super().copy_files()            # the submission into the private inbound, and the local cache
            files = {p: c for p, c in read_tree(self.here("inbound", self.assignment_filename)).items()
                     if p not in SERVER_FILES}
            receipt = self.client.upload("POST", f"api/submit/{self.coursedir.course_id}/{self.coursedir.assignment_id}",
                                         files)
        except BaseException:
            shutil.rmtree(local_cache, ignore_errors=True)   # the list must not show a submission that failed
            raise
        # the local cache (what the assignment list shows) takes the exchange's time, not this machine's
        stamped = local_cache.with_name(f"{receipt['student_id']}+{self.coursedir.assignment_id}+{receipt['timestamp']}")
        local_cache.rename(stamped)
        (stamped / "timestamp.txt").write_text(receipt["timestamp"])
        self.timestamp = receipt["timestamp"]
        self.log.info("The exchange received it at %s (its own clock)", receipt["timestamp"])


class ExchangeCollect(ServiceExchange, default.ExchangeCollect):
    def materialize(self) -> None:
        course, assignment = self.coursedir.course_id, self.coursedir.assignment_id
        self.here("inbound").mkdir(parents=True)
        for sub in self.client.call("GET", f"api/submissions/{course}", params={"assignment": assignment})["submissions"]:
            self.here("inbound", f"{sub['student_id']}+{assignment}+{sub['timestamp']}+{sub['id']}").mkdir()

    def init_src(self) -> None:
        super().init_src()                  # nbgrader chooses which submission of each student to collect
        # The service authenticated every submitter; who owns the private copies says nothing.
        self.check_owner = False
        for record in self.src_records:
            submission_id = record["filename"].rsplit("+", 1)[1]
            found = self.client.call("GET", f"api/submission/{self.coursedir.course_id}/{submission_id}")
            write_tree(Path(self.inbound_path, record["filename"]), decoded(found["files"]))


class ExchangeReleaseFeedback(ServiceExchange, default.ExchangeReleaseFeedback):
    def copy_files(self) -> None:
        """nbgrader's release of feedback, sent to the service student by student (each sees only their own)."""
        excluded = set(filter(None, (self.coursedir.student_id_exclude or "").split(",")))
        pattern = re.escape(os.path.sep).join([
            self.coursedir.format_path(self.coursedir.feedback_directory, "(?P<student_id>.*)",
                                       self.coursedir.assignment_id, escape=True),
            "(?P<notebook_id>.*).html"])
        batches: dict[tuple[str, str], dict[str, bytes]] = {}
        for html_file in sorted(glob.glob(os.path.join(self.src_path, "*.html"))):
            match = re.match(pattern, html_file)
            if match is None or match["student_id"] in excluded:
                continue
            folder = Path(html_file).parent
            timestamp = (folder / "timestamp.txt").read_text()
            checksum = notebook_hash(secret=(folder / "submission_secret.txt").read_text(),
                                     notebook_id=match["notebook_id"])
            batches.setdefault((match["student_id"], timestamp), {})[f"{checksum}.html"] = Path(html_file).read_bytes()
        for (student, timestamp), files in batches.items():
            self.log.info("Releasing feedback for %s on %s (%s)", student, self.coursedir.assignment_id, timestamp)
            self.client.upload("POST", f"api/feedback/{self.coursedir.course_id}/{self.coursedir.assignment_id}/{student}",
                               files, timestamp=timestamp)


class ExchangeFetchFeedback(ServiceExchange, default.ExchangeFetchFeedback):
    def materialize(self) -> None:
        found = self.client.call("GET", f"api/feedback/{self.coursedir.course_id}",
                                 params={"assignment": self.coursedir.assignment_id})["feedback"]
        self.here("feedback").mkdir(parents=True)   # none yet is an answer, not an error
        write_tree(self.here("feedback"), {Path(clean_path(f["path"])).name: base64.b64decode(f["content"])
                                           for f in found})


class ExchangeList(ServiceExchange, default.ExchangeList):
    def materialize(self) -> None:
        for course in self.courses():
            root = Path(self.root, course)
            if self.inbound:
                subs = self.client.call("GET", f"api/submissions/{course}")["submissions"]
                for sub in subs:
                    placeholders(root / "inbound" / f"{sub['student_id']}+{sub['assignment_id']}+{sub['timestamp']}"
                                 f"+{sub['id']}", sub["files"])
            elif self.cached:               # the local cache lists submissions; the service says what feedback exists
                found = self.client.call("GET", f"api/feedback/{course}")["feedback"]
                write_tree(root / "feedback", {Path(clean_path(f["path"])).name: base64.b64decode(f["content"])
                                               for f in found})
            else:
                for assignment, files in self.released(course).items():
                    placeholders(root / "outbound" / assignment, files)

    def remove_files(self):
        removed = super().remove_files()
        for info in removed:
            if not (self.inbound or self.cached):
                self.client.call("DELETE", f"api/release/{info['course_id']}/{info['assignment_id']}")
        return removed
