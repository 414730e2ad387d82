"""Prove an assignment's checks before release: reference = full marks, stub = 0, and each
typical wrong answer loses exactly the points it should, with an expected-vs-got message.

Works in a temporary copy of the course, through the real nbgrader pipeline
(generate_assignment -> submissions -> autograde), so what it proves is what students get.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .autograde import autograde
from .course import Course, scratch_copy
from .gradebook import CellScore, cell_scores
from .release import generate_release
from .variants import WrongAnswer, autograder_points, read, reference_submission, with_answer

REFERENCE, STUB = "reference", "stub"


def load_wrong_answers(course_root: Path, assignment: str, notebook: str) -> list[WrongAnswer]:
    """tests/wrong_answers/<assignment>/<notebook>.py defines WRONG_ANSWERS."""
    path = course_root / "tests" / "wrong_answers" / assignment / f"{Path(notebook).stem}.py"
    if not path.is_file():
        return []
    spec = importlib.util.spec_from_file_location(f"wrong_answers_{assignment}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.WRONG_ANSWERS)


@dataclass
class Variant:
    """One graded submission of one notebook, and what it should have earned."""

    notebook: str
    student: str
    expected: dict[str, float]           # test cell grade_id -> expected points
    says: tuple = ()
    wrong_answer: WrongAnswer | None = None
    cells: list[CellScore] = field(default_factory=list)
    status: str = ""
    message: str = ""
    feedback: str = ""                   # the feedback HTML, when asked for

    def problems(self) -> list[str]:
        if self.status != "graded":
            return [f"{self.student}: {self.status or 'not graded'}: {self.message}"]
        got = {c.grade_id: c for c in self.cells if c.notebook == Path(self.notebook).stem and not c.manual}
        out = []
        for gid, want in self.expected.items():
            cell = got.get(gid)
            if cell is None:
                out.append(f"{self.student}: {gid}: expected a score of {want:g}, got no score")
                continue
            if abs((cell.score or 0.0) - want) > 1e-6:
                out.append(f"{self.student}: {gid}: expected {want:g}/{cell.max_score:g}, got {cell.score:g}"
                           f"\n    output: {cell.output.strip()[:600]}")
            elif want < cell.max_score:
                missing = [s for s in self.says if s not in cell.output]
                if missing:
                    out.append(f"{self.student}: {gid}: output should contain {missing}, got: {cell.output.strip()[:600]}")
        return out


def verify_assignment(course: Course, assignment: str, notebooks: list[str] | None = None,
                      workers: int | None = None, progress: bool = True,
                      secret: str = "verify", feedback: bool = False) -> list[Variant]:
    """Grade the reference, the stub and every wrong answer of ``assignment``; return the variants
    (with each one's feedback HTML when ``feedback``: what students would read)."""
    with scratch_copy(course, secret, [assignment], notebooks) as work:
        generate_release(work, [assignment])
        variants = _write_variants(course.root, work, assignment)
        statuses = {o.student: o for o in autograde(work, assignment, workers=workers, progress=progress)}
        for v in variants:
            v.status, v.message = statuses[v.student].status, statuses[v.student].message
            if v.status == "graded":
                v.cells = cell_scores(work, assignment, v.student)
        if feedback:
            work.api.generate_feedback(assignment, force=True)
            for v in variants:
                html = work.folder("feedback") / v.student / assignment / f"{Path(v.notebook).stem}.html"
                v.feedback = html.read_text() if html.is_file() else ""
    return variants


def _write_variants(course_root: Path, work: Course, assignment: str) -> list[Variant]:
    variants = []
    for source_path in work.notebooks(assignment):
        name = source_path.name
        source_nb = read(source_path)
        release_nb = read(work.folder("release") / assignment / name)
        points = autograder_points(source_nb)
        reference = reference_submission(source_nb, release_nb)
        stem = source_path.stem
        plan = [(f"{stem}--{REFERENCE}", reference, dict(points), (), None),
                (f"{stem}--{STUB}", release_nb, {g: 0.0 for g in points}, (), None)]
        for wrong in load_wrong_answers(course_root, assignment, name):
            unknown = set(wrong.loses) - set(points)
            if unknown:
                raise ValueError(f"{assignment}/{name}: wrong answer {wrong.name!r} names unknown test cells {sorted(unknown)}")
            expected = {g: p - float(wrong.loses.get(g, 0.0)) for g, p in points.items()}
            plan.append((f"{stem}--{wrong.name}", with_answer(reference, wrong.cell, wrong.code), expected,
                         tuple(wrong.says), wrong))
        for student, nb, expected, says, wrong in plan:
            folder = work.submission_dir(student, assignment)
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(folder / name))
            variants.append(Variant(name, student, expected, says, wrong))
    return variants


def format_report(variants: list[Variant]) -> str:
    lines = []
    for v in variants:
        problems = v.problems()
        total = sum(c.score or 0 for c in v.cells if not c.manual and c.notebook == Path(v.notebook).stem)
        want = sum(v.expected.values())
        lines.append(f"{'ok  ' if not problems else 'FAIL'} {v.student:<48} {total:g} points (expected {want:g})")
        lines.extend("     " + p for p in problems)
    return "\n".join(lines)
