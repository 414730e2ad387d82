"""What a student reads after grading: a summary at the top of each feedback notebook.

``FeedbackSummary`` runs in nbgrader's ``GenerateFeedback`` pipeline right after ``GetGrades``
(which puts each cell's score and the TA's comment into the cell metadata). It adds one cell
at the top of the notebook: the total (and the late penalty, if any), a chart of the score of
each graded cell, and a table with, per cell, the checks that did not pass with their
messages (the checks print "expected ... got ..."), what happened while grading (a time limit,
a kernel crash, tampering) and the TA's comment. It reads only what grading already produced -
the cells' outputs and the incidents ``SandboxedExecute`` recorded - never the hidden tests.
"""

from __future__ import annotations

import base64
import html
import io
import re

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_markdown_cell
from traitlets import Bool

from .variants import grade_id

PAD = "style='padding:2px 12px 2px 0;vertical-align:top;text-align:left'"
CHECK_LINE = re.compile(r"^([✔✘◐]) ([^\s:]+):?(.*)$")


def cell_text(cell) -> str:
    """Everything a code cell printed (streams, and the type and message of an error)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            text = out.get("text", "")
            parts.append("".join(text) if isinstance(text, list) else text)
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename', '')}: {out.get('evalue', '')}\n")
    return "".join(parts)


def check_lines(text: str) -> list[tuple[str, str, str]]:
    """``(mark, check name, message)`` for each line ``run_tests`` printed."""
    found = []
    for line in text.splitlines():
        m = CHECK_LINE.match(line.strip())
        if m:
            found.append((m.group(1), m.group(2), m.group(3).strip()))
    return found


def score_chart(rows: list[tuple[str, float | None, float]]) -> str:
    """A horizontal bar chart of score vs points per graded cell, as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r[0] for r in rows][::-1]
    points = [r[2] for r in rows][::-1]
    scores = [0.0 if r[1] is None else r[1] for r in rows][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.32 * len(rows) + 0.8), dpi=80)
    ax.barh(names, points, color="#e6e6e6", label="points")
    colors = ["#2e7d32" if s >= p else ("#f9a825" if s > 0 else "#c62828") for s, p in zip(scores, points)]
    ax.barh(names, scores, color=colors, label="your score")
    ax.set_xlabel("points")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _waiting_for_ta(info: dict) -> set[str]:
    """grade_ids of this notebook that still need a person (nbgrader shows them as 0 points)."""
    if not info.get("db_url"):
        return set()
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(info["db_url"]) as gb:
        try:
            nb = gb.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
        except MissingEntry:
            return set()
        return {g.name for g in nb.grades if g.needs_manual_grade}


def _failing_checks(cell) -> list[tuple[str, str, str]]:
    """``(mark, check, message)`` of the checks that did not pass: the checker's results, which the
    grader wrote beside the score (``metadata.graders``); a cell graded without them, its text."""
    checks = cell.get("metadata", {}).get("graders", {}).get("checks")
    if checks is None:
        return [(mark, check, msg) for mark, check, msg in check_lines(cell_text(cell)) if mark != "✔"]
    return [("◐" if c.get("credit", 0) > 0 else "✘", str(c.get("name", "")),
             str(c.get("message") or "; ".join(c.get("notes") or [])))
            for c in checks if c.get("credit", 0) < 1]


class FeedbackSummary(Preprocessor):
    """Insert the per-cell summary (after ``GetGrades``, before ``ClearHiddenTests`` is fine)."""

    enabled = Bool(True, help="nbgrader registers its pipeline's preprocessors without enabling them").tag(config=True)

    def preprocess(self, nb, resources):
        graded = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
        if not graded:
            return nb, resources
        info = resources.get("nbgrader", {})
        incidents: dict[str, list[str]] = {}
        for incident in nb.metadata.get("graders", {}).get("incidents", []):
            incidents.setdefault(incident.get("cell", ""), []).append(incident.get("kind", ""))

        overridden = {}
        if info.get("db_url"):
            from .adjustments import overrides

            overridden = {(o.notebook, o.cell): o.reason
                          for o in overrides(info["db_url"], info.get("assignment"), info.get("student"))}
        pending = _waiting_for_ta(info)
        rows, table = [], []
        for cell in graded:
            meta = cell.metadata.nbgrader
            name, score, points = grade_id(cell), meta.get("score"), float(meta.get("points", 0) or 0)
            waiting = cell.cell_type == "markdown" and (score is None or name in pending)
            rows.append((name, score, points))
            notes = []
            if cell.cell_type == "code":
                failing = _failing_checks(cell)
                notes += [f"{mark} {check}: {msg}" if msg else f"{mark} {check}" for mark, check, msg in failing]
                if not failing and (score or 0) < points:
                    error = cell_text(cell).strip().splitlines()
                    notes.append(error[-1] if error else "no output: the cell did not run its checks")
            notes += [f"⚠ grading: {kind}" for kind in incidents.get(name, [])]
            if waiting:
                notes.append("waiting for a TA to grade this answer")
            if (info.get("notebook"), name) in overridden:
                notes.append(f"score set by an instructor: {overridden[info.get('notebook'), name]}")
            elif meta.get("comment"):
                notes.append(f"💬 TA: {meta['comment']}")
            shown = "—" if score is None or waiting else f"{score:g}"
            table.append(f"<tr><td {PAD}><code>{html.escape(name)}</code></td><td {PAD}>{shown} / {points:g}</td>"
                         f"<td {PAD}>{'<br>'.join(html.escape(n) for n in notes) or '✔ all checks passed'}</td></tr>")

        total, max_total = info.get("score"), info.get("max_score")
        penalty = info.get("late_penalty") or 0
        heading = "## Your results"
        if total is not None and max_total:
            heading += f": {total:g} / {max_total:g}"
        lines = [heading]
        if penalty:
            lines.append(f"Late submission penalty: −{penalty:g} point(s), already subtracted.")
        lines.append("Each graded cell below repeats its checks' messages (expected vs got) in its output; "
                     "this table lists what did not pass.")
        lines.append(f'<img alt="score per graded cell" src="data:image/png;base64,{score_chart(rows)}"/>')
        lines.append(f"<table><tr><th {PAD}>graded cell</th><th {PAD}>score</th><th {PAD}>what to look at</th></tr>"
                     + "".join(table) + "</table>")
        summary = new_markdown_cell("\n\n".join(lines))
        summary.metadata["graders"] = {"feedback_summary": True}
        nb.cells.insert(0, summary)
        return nb, resources
