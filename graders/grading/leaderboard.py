"""The project leaderboard: every submission's model scored on the instructor's hidden test set.

A hidden check in the project notebook evaluates the student's model on held-out data made with
the grading secret and calls ``leaderboard("test accuracy", value)``.  The check runs in the
checker, which hands its results to the grader; the grader writes them beside the cell's score
(``metadata.graders``), where nothing the student's code prints or sets can pose as them.
After each grading run of an assignment whose source calls ``leaderboard(``, this module reads
the autograded notebooks and writes

* ``reports/leaderboard-<assignment>.csv`` and ``.html`` for instructors (real ids), and
* ``reports/leaderboard-<assignment>-public.html`` for students: the same ranking under stable
  pseudonyms (a keyed hash of the id, e.g. ``keen-otter-3f``; the instructor's CSV maps them, and
  nobody can invert them without a key derived from the course's grading secret).

Ties share a rank (1, 2, 2, 4). A submission that could not be graded, or whose model crashed
before the check reported a score, is listed as failed with its reason - never ranked as a zero.
"""

from __future__ import annotations

import csv
import hashlib
import html
import hmac
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .course import Course
from .status import load as load_status

ADJECTIVES = ("amber", "brisk", "calm", "deft", "eager", "fleet", "glad", "hale", "keen", "lucid",
              "merry", "noble", "plucky", "quick", "rapid", "sage", "tidy", "vivid", "witty", "zesty")
ANIMALS = ("otter", "heron", "lynx", "panda", "gecko", "ibis", "koala", "marten", "newt", "orca",
           "puffin", "quokka", "raven", "stoat", "tapir", "viper", "walrus", "yak", "zebu", "bison")


@dataclass
class Entry:
    student: str
    alias: str
    metric: str = ""
    value: float | None = None
    higher_is_better: bool = True
    rank: int | None = None
    status: str = "ranked"      # ranked | failed
    reason: str = ""


def alias(student: str, key: str) -> str:
    digest = hmac.new(key.encode(), student.encode(), hashlib.sha256).digest()
    return f"{ADJECTIVES[digest[0] % len(ADJECTIVES)]}-{ANIMALS[digest[1] % len(ANIMALS)]}-{digest[2]:02x}"


def has_leaderboard(course: Course, assignment: str) -> bool:
    return any("leaderboard(" in p.read_text() for p in course.notebooks(assignment))


def read_metric(notebook: Path) -> tuple[str, float, bool] | None:
    """The leaderboard metric a hidden check reported, from what the grader wrote beside the
    tests cell's score (``metadata.graders``: the checker's results, never the student's output)."""
    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:
        results = cell.get("metadata", {}).get("graders", {}).get("checks") or []
        for check in results:
            for metric in check.get("metrics") or []:
                try:
                    name, value, higher = metric
                    return str(name), float(value), bool(higher)
                except (TypeError, ValueError):
                    return None
    return None


def rank(entries: list[Entry]) -> list[Entry]:
    """Competition ranking of the entries that have a value; failed ones after, unranked."""
    ranked = [e for e in entries if e.status == "ranked"]
    failed = sorted((e for e in entries if e.status != "ranked"), key=lambda e: e.student)
    ranked.sort(key=lambda e: (-e.value if e.higher_is_better else e.value, e.student))
    previous, previous_rank = None, 0
    for i, e in enumerate(ranked, start=1):
        if e.value != previous:
            previous, previous_rank = e.value, i
        e.rank = previous_rank
    return ranked + failed


def build(course: Course, assignment: str, key: str) -> list[Entry]:
    statuses = {s: st for (a, s), st in load_status(course.db_url).items() if a == assignment}
    students = sorted(set(statuses) | {p.parent.name for p in course.folder("submitted").glob(f"*/{assignment}")})
    entries = []
    for student in students:
        entry = Entry(student, alias(student, key))
        status = statuses.get(student)
        if status is None or not status.graded:
            entry.status, entry.reason = "failed", (status.message if status else "not graded yet")
        else:
            found = None
            for path in sorted((course.folder("autograded") / student / assignment).glob("*.ipynb")):
                found = found or read_metric(path)
            if found is None:
                entry.status = "failed"
                entry.reason = "the hidden evaluation did not report a score (the model or the checks crashed)"
            else:
                entry.metric, entry.value, entry.higher_is_better = found
        entries.append(entry)
    return rank(entries)


def _html(title: str, entries: list[Entry], public: bool) -> str:
    metric = next((e.metric for e in entries if e.metric), "score")
    rows = []
    for e in entries:
        who = html.escape(e.alias if public else e.student)
        if e.status == "ranked":
            rows.append(f"<tr><td>{e.rank}</td><td>{who}</td><td>{e.value:.4f}</td><td></td></tr>")
        else:
            reason = "" if public else html.escape(e.reason[:300])
            rows.append(f"<tr class='failed'><td>—</td><td>{who}</td><td>failed</td><td>{reason}</td></tr>")
    style = ("<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px 10px}"
             "table{border-collapse:collapse}tr.failed{color:#999}</style>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{style}</head>"
            f"<body><h1>{html.escape(title)}</h1><p>Scored by the instructor's hidden test set; ties share a rank; "
            f"a submission that could not be scored is listed as failed, not as zero.</p><table><tr><th>rank</th>"
            f"<th>{'team' if public else 'student'}</th><th>{html.escape(metric)}</th><th></th></tr>"
            + "".join(rows) + "</table></body></html>")


def write_leaderboard(course: Course, assignment: str, key: str | None = None) -> list[Path]:
    """Write the instructor's CSV and HTML and the students' anonymised HTML; their paths."""
    from .autograde import grading_secret
    from .secrets import pseudonym_key

    entries = build(course, assignment, key or pseudonym_key(grading_secret(course)))
    out = course.root / "reports"
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / f"leaderboard-{assignment}.csv"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "student", "alias", "metric", "value", "status", "reason"])
        for e in entries:
            writer.writerow(["" if e.rank is None else e.rank, e.student, e.alias, e.metric,
                             "" if e.value is None else f"{e.value:.6g}", e.status, e.reason])
    private = out / f"leaderboard-{assignment}.html"
    private.write_text(_html(f"Leaderboard: {assignment} (instructors)", entries, public=False))
    public = out / f"leaderboard-{assignment}-public.html"
    public.write_text(_html(f"Leaderboard: {assignment}", entries, public=True))
    return [csv_path, private, public]
