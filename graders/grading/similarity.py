"""Which submissions of an assignment look copied from each other (``graders similarity``).

For a person to judge, not a verdict. Each student's solution cells are tokenised with Python's
own tokenizer and normalised the way copies get disguised: comments and blank lines dropped,
local names replaced by one placeholder (renaming variables changes nothing), numbers and strings
folded; attribute and library names (``torch``, ``.backward``, ``F.relu``) are kept, as they carry
the method. The normalised token stream is cut into n-grams (per cell, never across cells); the
n-grams of the released stub (the signature and docstring everyone starts from) are removed, and
so are those that most of the class shares (``loss.backward(); optimizer.step()`` is not a sign of
copying). Pairs are ranked by the Jaccard similarity of what is left, and the report shows the top
pairs with their code side by side, cell by cell.
"""

from __future__ import annotations

import builtins
import difflib
import hashlib
import html
import io
import itertools
import keyword
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .course import Course
from .variants import grade_id, is_solution

KEEP_NAMES = set(keyword.kwlist) | set(dir(builtins)) | {
    "torch", "nn", "F", "np", "numpy", "optim", "plt", "self", "super", "math"}
NGRAM = 5


@dataclass
class Solution:
    student: str
    cells: dict[str, str]          # "notebook/grade_id" -> the student's code
    grams: set[int]


@dataclass
class Pair:
    a: str
    b: str
    similarity: float              # Jaccard of the distinctive n-grams
    shared: int


def normalise(code: str) -> list[str]:
    """Tokens with local names, numbers and strings folded; comments and layout dropped."""
    tokens: list[str] = []
    previous = ""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENCODING,
                            tokenize.ENDMARKER):
                continue
            if tok.type == tokenize.NAME:
                text = tok.string if (tok.string in KEEP_NAMES or previous == ".") else "_"
            elif tok.type == tokenize.NUMBER:
                text = "0"
            elif tok.type == tokenize.STRING:
                text = "''"
            elif tok.type in (tokenize.INDENT, tokenize.DEDENT):
                text = tok.type == tokenize.INDENT and ">" or "<"
            else:
                text = tok.string
            tokens.append(text)
            previous = tok.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # code that does not tokenize (unfinished work): fall back to words and symbols
        tokens = re.findall(r"[A-Za-z_]\w*|\S", re.sub(r"#.*", "", code))
    return tokens


def ngrams(tokens: list[str], where: str, n: int = NGRAM) -> set[int]:
    return {int.from_bytes(hashlib.blake2b(f"{where}|{' '.join(tokens[i:i + n])}".encode(),
                                           digest_size=8).digest(), "little")
            for i in range(max(0, len(tokens) - n + 1))}


def _solution_cells(path: Path) -> dict[str, str]:
    nb = nbformat.read(str(path), as_version=4)
    return {f"{path.stem}/{grade_id(c)}": c.source for c in nb.cells
            if c.cell_type == "code" and is_solution(c) and grade_id(c)}


def load_solutions(course: Course, assignment: str) -> tuple[list[Solution], list[str]]:
    """Every readable submission's solution cells, minus the released stub's n-grams."""
    stub_grams: set[int] = set()
    for path in sorted((course.folder("release") / assignment).glob("*.ipynb")):
        for where, code in _solution_cells(path).items():
            stub_grams |= ngrams(normalise(code), where)
    solutions, skipped = [], []
    submitted = course.folder("submitted")
    for folder in sorted(p for p in submitted.glob(f"*/{assignment}") if p.is_dir()):
        student, cells = folder.parent.name, {}
        try:
            for path in sorted(folder.glob("*.ipynb")):
                cells.update(_solution_cells(path))
        except Exception as exc:  # a corrupt notebook: listed, never fatal
            skipped.append(f"{student}: {type(exc).__name__}")
            continue
        grams = set().union(*(ngrams(normalise(code), where) for where, code in cells.items())) if cells else set()
        solutions.append(Solution(student, cells, grams - stub_grams))
    return solutions, skipped


def rank_pairs(solutions: list[Solution], common_fraction: float = 0.5) -> list[Pair]:
    """All pairs, most similar first; n-grams shared by more than ``common_fraction`` of the
    class (and by at least 3 students) are idioms, not evidence, and are ignored."""
    counts: dict[int, int] = {}
    for s in solutions:
        for g in s.grams:
            counts[g] = counts.get(g, 0) + 1
    limit = max(3, int(common_fraction * len(solutions)))
    common = {g for g, n in counts.items() if n > limit}
    pairs = []
    for a, b in itertools.combinations(solutions, 2):
        ga, gb = a.grams - common, b.grams - common
        union = ga | gb
        shared = len(ga & gb)
        pairs.append(Pair(a.student, b.student, shared / len(union) if union else 0.0, shared))
    return sorted(pairs, key=lambda p: (-p.similarity, -p.shared, p.a, p.b))


def write_report(course: Course, assignment: str, top: int = 10, path: Path | None = None) -> tuple[Path, list[Pair]]:
    solutions, skipped = load_solutions(course, assignment)
    pairs = rank_pairs(solutions)
    by_student = {s.student: s for s in solutions}
    differ = difflib.HtmlDiff(tabsize=4, wrapcolumn=70)
    parts = [f"<h1>Similar submissions: {html.escape(assignment)}</h1>",
             f"<p>{len(solutions)} submissions compared on their solution cells (released stub and code "
             "most of the class shares ignored; names, numbers, strings and comments normalised). "
             "High similarity is a reason to look, not a verdict: identical reference-like solutions to "
             "short exercises are expected.</p>"]
    if skipped:
        parts.append(f"<p>Not compared (unreadable): {html.escape(', '.join(skipped))}</p>")
    parts.append("<table><tr><th>#</th><th>pair</th><th>similarity</th><th>shared n-grams</th></tr>" + "".join(
        f"<tr><td>{i + 1}</td><td><a href='#pair{i + 1}'>{html.escape(p.a)} — {html.escape(p.b)}</a></td>"
        f"<td>{p.similarity:.2f}</td><td>{p.shared}</td></tr>" for i, p in enumerate(pairs[:top])) + "</table>")
    for i, p in enumerate(pairs[:top]):
        a, b = by_student[p.a], by_student[p.b]
        parts.append(f"<h2 id='pair{i + 1}'>{i + 1}. {html.escape(p.a)} — {html.escape(p.b)}: {p.similarity:.2f}</h2>")
        for where in sorted(set(a.cells) | set(b.cells)):
            left, right = a.cells.get(where, ""), b.cells.get(where, "")
            if not left.strip() and not right.strip():
                continue
            parts.append(f"<h3><code>{html.escape(where)}</code></h3>")
            parts.append(differ.make_table(left.splitlines(), right.splitlines(), p.a, p.b))
    style = ("<style>body{font-family:sans-serif;margin:2em}table.diff{font-family:monospace;font-size:12px;"
             "border:1px solid #ccc}.diff_add{background:#aaffaa}.diff_chg{background:#ffff77}"
             ".diff_sub{background:#ffaaaa}td,th{padding:2px 6px}</style>")
    path = path or course.root / "reports" / f"similarity-{assignment}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'>{style}</head><body>{''.join(parts)}</body></html>")
    return path, pairs
