"""The grading secret: one per course, never in a student's process, derived per use.

The course's secret (``$GRADERS_SECRET``, else ``.graders_secret`` in the course folder, made
once and readable by the grader only) never leaves the grader.  What the checker of an
assignment gets is derived from it for that assignment alone, so a leak costs one assignment,
not the course; the leaderboard's public pseudonyms are keyed by another derivation.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SECRET_FILE = ".graders_secret"


def course_secret(root: str | os.PathLike | None) -> str:
    """$GRADERS_SECRET, else the course's own secret file (made once, mode 0600, kept out of git)."""
    if os.environ.get("GRADERS_SECRET"):
        return os.environ["GRADERS_SECRET"]
    if not root:
        raise RuntimeError("no grading secret: set $GRADERS_SECRET or grade inside a course folder")
    path = Path(root) / SECRET_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(16))
    return path.read_text().strip()


def derive(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def assignment_secret(secret: str, assignment: str) -> str:
    """What ``secret_seed`` uses while an assignment is graded (its held-out data)."""
    return derive(secret, f"assignment:{assignment}")


def pseudonym_key(secret: str) -> str:
    """The key of the leaderboard's public pseudonyms."""
    return derive(secret, "leaderboard-pseudonyms")
