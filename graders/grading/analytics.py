"""The instructor's report after a grading run: one HTML page with plots (``graders report``).

Per assignment: the score distribution, the failure rate of each graded cell and of each check,
the most common failure messages (numbers folded, so "expected 3, got 4" and "expected 3, got 5"
count together), grading time per notebook, and every submission that failed to grade or was
flagged for a person. Everything comes from the gradebook, our status table and the autograded
notebooks; nothing is re-run.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .course import Course
from .feedback import cell_text, check_lines
from .gradebook import SubmissionRow, submission_rows
from .variants import grade_id

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


@dataclass
class AssignmentStats:
    name: str
    rows: list[SubmissionRow]
    cell_attempts: Counter = field(default_factory=Counter)   # (notebook, cell) -> graded submissions
    cell_failures: Counter = field(default_factory=Counter)   # ... that lost points there
    check_attempts: Counter = field(default_factory=Counter)  # (notebook, check) -> times run
    check_failures: Counter = field(default_factory=Counter)
    messages: Counter = field(default_factory=Counter)        # folded message -> count
    examples: dict = field(default_factory=dict)              # folded message -> one real message
    seconds: dict = field(default_factory=lambda: defaultdict(list))  # notebook -> grading times


def fold(message: str) -> str:
    return NUMBER.sub("#", message)


def collect(course: Course, assignment: str) -> AssignmentStats:
    stats = AssignmentStats(assignment, submission_rows(course, [assignment]))
    for row in stats.rows:
        if row.score is None:
            continue
        for path in sorted((course.folder("autograded") / row.student / assignment).glob("*.ipynb")):
            nb = nbformat.read(str(path), as_version=4)
            seconds = nb.metadata.get("graders", {}).get("seconds")
            if seconds is not None:
                stats.seconds[path.stem].append(float(seconds))
            for cell in nb.cells:
                meta = cell.get("metadata", {}).get("nbgrader", {})
                if cell.cell_type != "code" or not meta.get("grade"):
                    continue
                key = (path.stem, grade_id(cell))
                stats.cell_attempts[key] += 1
                lines = check_lines(cell_text(cell))
                if not lines or any(mark != "✔" for mark, _, _ in lines):
                    stats.cell_failures[key] += 1
                for mark, check, message in lines:
                    stats.check_attempts[(path.stem, check)] += 1
                    if mark != "✔":
                        stats.check_failures[(path.stem, check)] += 1
                        text = f"{check}: {message}" if message else check
                        stats.messages[fold(text)] += 1
                        stats.examples.setdefault(fold(text), text)
                if not lines:  # the checks never printed: an error, a timeout
                    error = cell_text(cell).strip().splitlines()
                    text = error[-1] if error else "no output (the cell did not run)"
                    stats.messages[fold(text)] += 1
                    stats.examples.setdefault(fold(text), text)
    return stats


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}"/>'


def _plots(stats: AssignmentStats) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    graded = [r for r in stats.rows if r.score is not None]
    if graded:
        fig, ax = plt.subplots(figsize=(6, 2.8))
        max_score = graded[0].max_score or 1
        ax.hist([100 * r.score / max_score for r in graded], bins=10, range=(0, 100), color="#1565c0")
        ax.set_xlabel("score (% of max)")
        ax.set_ylabel("submissions")
        ax.set_title("score distribution")
        out.append(_png(fig))
    if stats.cell_attempts:
        keys = sorted(stats.cell_attempts)
        rates = [100 * stats.cell_failures[k] / stats.cell_attempts[k] for k in keys]
        fig, ax = plt.subplots(figsize=(7, 0.3 * len(keys) + 1))
        ax.barh([f"{nb}/{cell}" for nb, cell in keys][::-1], rates[::-1], color="#c62828")
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of graded submissions losing points")
        ax.set_title("failure rate per graded cell")
        ax.tick_params(axis="y", labelsize=7)
        out.append(_png(fig))
    times = {nb: t for nb, t in stats.seconds.items() if t}
    if times:
        fig, ax = plt.subplots(figsize=(6, 0.45 * len(times) + 1))
        names = sorted(times)
        ax.boxplot([times[n] for n in names], orientation="horizontal", tick_labels=names)
        ax.set_xlabel("seconds to grade (kernel start to last check)")
        ax.set_title("grading time per notebook")
        out.append(_png(fig))
    return out


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def assignment_section(stats: AssignmentStats) -> str:
    rows = stats.rows
    graded = [r for r in rows if r.score is not None]
    parts = [f"<h2>{html.escape(stats.name)}</h2>"]
    if graded:
        scores = sorted(r.score for r in graded)
        mean = sum(scores) / len(scores)
        parts.append(f"<p>{len(graded)} graded, {sum(r.status == 'failed' for r in rows)} failed to grade, "
                     f"{sum(r.status == 'flagged' for r in rows)} flagged, "
                     f"{sum(r.status == 'not submitted' for r in rows)} not submitted. "
                     f"Mean {mean:.1f} / {graded[0].max_score:g}, median {scores[len(scores) // 2]:g}.</p>")
    parts += _plots(stats)
    checks = sorted(stats.check_attempts, key=lambda k: -stats.check_failures[k] / stats.check_attempts[k])
    if checks:
        parts.append("<h3>Checks, most failed first</h3>")
        parts.append(_table(["notebook", "check", "failed", "rate"], [
            [html.escape(nb), f"<code>{html.escape(c)}</code>", f"{stats.check_failures[(nb, c)]} / "
             f"{stats.check_attempts[(nb, c)]}", f"{100 * stats.check_failures[(nb, c)] / stats.check_attempts[(nb, c)]:.0f}%"]
            for nb, c in checks[:25]]))
    if stats.messages:
        parts.append("<h3>Most common failure messages</h3>")
        parts.append(_table(["times", "message (one example)"], [
            [str(n), html.escape(stats.examples[m][:300])] for m, n in stats.messages.most_common(15)]))
    problems = [r for r in rows if r.status in ("failed", "flagged")]
    if problems:
        parts.append("<h3>Failed to grade, or flagged for a person</h3>")
        parts.append(_table(["student", "status", "why"], [
            [html.escape(r.student), r.status.upper(), html.escape(r.message[:500])] for r in problems]))
    return "\n".join(parts)


STYLE = """<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;
text-align:left;vertical-align:top}h2{border-bottom:2px solid #1565c0;margin-top:2em}img{display:block}</style>"""


def write_report(course: Course, assignments: list[str] | None = None, path: Path | None = None) -> Path:
    """reports/analytics.html for ``assignments`` (default: all graded ones)."""
    from nbgrader.api import Gradebook

    if assignments is None:
        with Gradebook(course.db_url) as gb:
            assignments = sorted(a.name for a in gb.assignments)
    path = path or course.root / "reports" / "analytics.html"
    sections = [assignment_section(collect(course, a)) for a in assignments]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>Grading report</title>{STYLE}"
                    f"</head><body><h1>Grading report</h1>{''.join(sections) or '<p>Nothing graded yet.</p>'}"
                    "</body></html>")
    return path
