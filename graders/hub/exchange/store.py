"""What the exchange keeps: releases, every submission, feedback, and who did what.

A SQLite database holds the records; file contents live once each under ``blobs/`` by their
SHA-256 (a student who submits ten times stores ten records, not ten copies of the same files).
Nothing is ever overwritten: a new release supersedes the old one, a new submission joins the
student's history, new feedback joins the old. Paths come from clients and are checked here, in
one place; the store never uses one to name a file on disk. The audit log is append-only JSON
lines beside the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
    id INTEGER PRIMARY KEY, course TEXT NOT NULL, assignment TEXT NOT NULL,
    released_at TEXT NOT NULL, released_by TEXT NOT NULL, active INTEGER NOT NULL, manifest TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY, course TEXT NOT NULL, assignment TEXT NOT NULL, student TEXT NOT NULL,
    timestamp TEXT NOT NULL, size INTEGER NOT NULL, manifest TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY, course TEXT NOT NULL, assignment TEXT NOT NULL, student TEXT NOT NULL,
    timestamp TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL,
    released_at TEXT NOT NULL, released_by TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS submissions_by_student ON submissions (course, assignment, student);
CREATE INDEX IF NOT EXISTS feedback_by_student ON feedback (course, student);
"""
SERVER_FILES = {"timestamp.txt"}          # written by the exchange only, never taken from a client
MAX_PATH_DEPTH = 8


class Rejected(ValueError):
    """A request the exchange refuses; the message says why and what to do."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 50 * 2**20            # one upload (a release, a submission, feedback), decoded
    max_files: int = 1000                  # files in one upload
    max_submissions: int = 200             # kept per student and assignment: a history, not a disk filler

    @classmethod
    def from_env(cls) -> "Limits":
        return cls(max_bytes=int(float(os.environ.get("GRADERS_HUB_EXCHANGE_MAX_MB", 50)) * 2**20),
                   max_files=int(os.environ.get("GRADERS_HUB_EXCHANGE_MAX_FILES", 1000)),
                   max_submissions=int(os.environ.get("GRADERS_HUB_EXCHANGE_MAX_SUBMISSIONS", 200)))


def server_timestamp() -> str:
    """Now, in nbgrader's timestamp format (``Exchange.timestamp_format``), always UTC."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def clean_path(path: str) -> str:
    """A relative POSIX path inside an assignment folder, or Rejected."""
    if not isinstance(path, str) or not path or "\\" in path or "\0" in path or path.startswith("/"):
        raise Rejected(f"bad file path {path!r}: relative POSIX paths only")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts) or len(parts) > MAX_PATH_DEPTH \
            or any(len(part.encode()) > 255 for part in parts):
        raise Rejected(f"bad file path {path!r}: no '..', '.' or '//', at most {MAX_PATH_DEPTH} folders deep")
    return "/".join(parts)


class ExchangeStore:
    def __init__(self, root: Path, limits: Limits | None = None):
        self.root = Path(root)
        self.limits = limits or Limits()
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        # one process serves the exchange; tests create the store in one thread and serve it from another
        self.db = sqlite3.connect(str(self.root / "exchange.sqlite"), check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)
        self.audit_path = self.root / "audit.log"

    # ------------------------------------------------------------------ contents

    def _blob(self, digest: str) -> Path:
        return self.root / "blobs" / digest[:2] / digest

    def _put(self, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        path = self._blob(digest)
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(content)
            partial.replace(path)
        return digest

    def _manifest(self, files: dict[str, bytes]) -> list[dict]:
        return [{"path": path, "sha256": self._put(content), "size": len(content)}
                for path, content in sorted(files.items())]

    def contents(self, manifest: str | list) -> dict[str, bytes]:
        entries = json.loads(manifest) if isinstance(manifest, str) else manifest
        return {e["path"]: self._blob(e["sha256"]).read_bytes() for e in entries}

    def check_upload(self, files: dict[str, bytes]) -> dict[str, bytes]:
        """Paths cleaned, within the limits; files only the exchange writes are dropped."""
        if len(files) > self.limits.max_files:
            raise Rejected(f"{len(files)} files: the exchange takes at most {self.limits.max_files} in one upload",
                           413)
        size = sum(len(c) for c in files.values())
        if size > self.limits.max_bytes:
            raise Rejected(f"{size / 2**20:.1f} MiB: the exchange takes at most "
                           f"{self.limits.max_bytes / 2**20:.0f} MiB in one upload; remove data files, "
                           "checkpoints and outputs you do not need", 413)
        cleaned = {clean_path(p): c for p, c in files.items()}
        return {p: c for p, c in cleaned.items() if p not in SERVER_FILES}

    # ------------------------------------------------------------------ releases

    def release(self, course: str, assignment: str, files: dict[str, bytes], by: str) -> str:
        files = self.check_upload(files)
        now, manifest = server_timestamp(), json.dumps(self._manifest(files))
        with self.db:                       # one transaction: never two active releases
            self.db.execute("UPDATE releases SET active = 0 WHERE course = ? AND assignment = ?", (course, assignment))
            self.db.execute("INSERT INTO releases (course, assignment, released_at, released_by, active, manifest) "
                            "VALUES (?, ?, ?, ?, 1, ?)", (course, assignment, now, by, manifest))
        return now

    def unrelease(self, course: str, assignment: str) -> bool:
        with self.db:
            cursor = self.db.execute("UPDATE releases SET active = 0 WHERE course = ? AND assignment = ? AND active = 1",
                                     (course, assignment))
        return cursor.rowcount > 0

    def released(self, course: str) -> list[dict]:
        rows = self.db.execute("SELECT assignment, released_at, manifest FROM releases WHERE course = ? AND active = 1 "
                               "ORDER BY assignment", (course,))
        return [{"assignment_id": r["assignment"], "released_at": r["released_at"],
                 "files": [e["path"] for e in json.loads(r["manifest"])]} for r in rows]

    def release_files(self, course: str, assignment: str) -> dict[str, bytes] | None:
        row = self.db.execute("SELECT manifest FROM releases WHERE course = ? AND assignment = ? AND active = 1",
                              (course, assignment)).fetchone()
        return None if row is None else self.contents(row["manifest"])

    # ------------------------------------------------------------------ submissions

    def submit(self, course: str, assignment: str, student: str, files: dict[str, bytes]) -> dict:
        """Keep a new submission, stamped with the exchange's own clock."""
        files = self.check_upload(files)
        count = self.db.execute("SELECT COUNT(*) FROM submissions WHERE course = ? AND assignment = ? AND student = ?",
                                (course, assignment, student)).fetchone()[0]
        if count >= self.limits.max_submissions:
            raise Rejected(f"{student} has submitted {assignment} {count} times, the most the exchange keeps; "
                           "ask an instructor", 429)
        timestamp = server_timestamp()
        files["timestamp.txt"] = timestamp.encode()
        manifest = json.dumps(self._manifest(files))
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO submissions (course, assignment, student, timestamp, size, manifest) VALUES (?, ?, ?, ?, ?, ?)",
                (course, assignment, student, timestamp, sum(len(c) for c in files.values()), manifest))
        return {"id": cursor.lastrowid, "timestamp": timestamp}

    def submissions(self, course: str, assignment: str | None = None, student: str | None = None) -> list[dict]:
        query, args = "SELECT id, assignment, student, timestamp, size, manifest FROM submissions WHERE course = ?", [course]
        if assignment:
            query, args = query + " AND assignment = ?", args + [assignment]
        if student:
            query, args = query + " AND student = ?", args + [student]
        rows = self.db.execute(query + " ORDER BY id", args)
        return [{"id": r["id"], "assignment_id": r["assignment"], "student_id": r["student"],
                 "timestamp": r["timestamp"], "size": r["size"],
                 "files": [e["path"] for e in json.loads(r["manifest"])]} for r in rows]

    def submission(self, course: str, submission_id: int) -> tuple[dict, dict[str, bytes]] | None:
        row = self.db.execute("SELECT * FROM submissions WHERE course = ? AND id = ?", (course, submission_id)).fetchone()
        if row is None:
            return None
        meta = {"id": row["id"], "assignment_id": row["assignment"], "student_id": row["student"],
                "timestamp": row["timestamp"]}
        return meta, self.contents(row["manifest"])

    # ------------------------------------------------------------------ feedback

    def put_feedback(self, course: str, assignment: str, student: str, timestamp: str,
                     files: dict[str, bytes], by: str) -> int:
        files = self.check_upload(files)
        now = server_timestamp()
        with self.db:
            for path, content in files.items():
                self.db.execute("INSERT INTO feedback (course, assignment, student, timestamp, path, sha256, released_at, "
                                "released_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                (course, assignment, student, timestamp, path, self._put(content), now, by))
        return len(files)

    def feedback(self, course: str, student: str, assignment: str | None = None) -> list[dict]:
        """The latest feedback file of each (assignment, submission, path) of one student."""
        query, args = ("SELECT assignment, timestamp, path, sha256 FROM feedback WHERE course = ? AND student = ?",
                       [course, student])
        if assignment:
            query, args = query + " AND assignment = ?", args + [assignment]
        latest: dict[tuple, dict] = {}
        for r in self.db.execute(query + " ORDER BY id", args):
            latest[(r["assignment"], r["timestamp"], r["path"])] = {
                "assignment_id": r["assignment"], "timestamp": r["timestamp"], "path": r["path"],
                "content": self._blob(r["sha256"]).read_bytes()}
        return list(latest.values())

    # ------------------------------------------------------------------ audit

    def audit(self, **event) -> None:
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **event}
        with open(self.audit_path, "a") as log:
            log.write(json.dumps(record, sort_keys=True) + "\n")
