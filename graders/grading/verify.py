"""Prove an assignment's checks before release: reference = full marks, stub = 0, and each
typical wrong answer loses exactly the points it should, with an expected-vs-got message.

Works in a temporary copy of the course, through the real nbgrader pipeline
(generate_assignment -> submissions -> autograde), so what it proves is what students get.

``bundle=True`` (what the test suite uses) grades independent wrong answers together: mistakes
in different solution cells whose lost cells do not overlap go into one submission, which must
score exactly the sum of their losses, each failing cell with its own mistake's message. A
bundle that scores anything else is graded again one mistake per submission, so a failure is
always reported against the wrong answer that caused it. Authoring (``graders verify``) grades
each wrong answer alone.
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
from .variants import WrongAnswer, autograder_points, grade_id, read, reference_submission, with_answer

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
    name: str = ""                       # <notebook stem>--<variant>; differs from student in bundles
    says_in: frozenset = frozenset()     # bundles: check ``says`` only in these cells (empty: all)
    solo_expected: dict = field(default_factory=dict)  # bundles: what this mistake alone should score
    solo_nb: object = None               # bundles: the submission with this mistake alone
    evidence_only: list = field(default_factory=list)  # tests cells whose every check is in-process evidence

    def __post_init__(self):
        self.name = self.name or self.student

    def problems(self) -> list[str]:
        if self.status != "graded":
            return [f"{self.name}: {self.status or 'not graded'}: {self.message}"]
        got = {c.grade_id: c for c in self.cells if c.notebook == Path(self.notebook).stem and not c.manual}
        out = [f"{self.name}: {gid}: every check relies on evidence from inside the student's process "
               "(probes the student's code could fake): add a check of values computed there" for gid in self.evidence_only]
        for gid, want in self.expected.items():
            cell = got.get(gid)
            if cell is None:
                out.append(f"{self.name}: {gid}: expected a score of {want:g}, got no score")
                continue
            if abs((cell.score or 0.0) - want) > 1e-4:  # nbgrader keeps 4 decimals
                out.append(f"{self.name}: {gid}: expected {want:g}/{cell.max_score:g}, got {cell.score:g}"
                           f"\n    output: {cell.output.strip()[:600]}")
            elif want < cell.max_score and (not self.says_in or gid in self.says_in):
                missing = [s for s in self.says if s not in cell.output]
                if missing:
                    out.append(f"{self.name}: {gid}: output should contain {missing}, got: {cell.output.strip()[:600]}")
        return out


def verify_assignment(course: Course, assignment: str, notebooks: list[str] | None = None,
                      workers: int | None = None, progress: bool = True,
                      secret: str = "verify", feedback: bool = False, bundle: bool = False) -> list[Variant]:
    """Grade the reference, the stub and every wrong answer of ``assignment``; return the variants
    (with each one's feedback HTML when ``feedback``: what students would read)."""
    with scratch_copy(course, secret, [assignment], notebooks) as work:
        generate_release(work, [assignment])
        variants = _write_variants(course.root, work, assignment, bundle)
        _grade(work, assignment, variants, workers, progress)
        retry = [v for v in variants if v.student != v.name and v.problems()]
        if retry:  # a bundle did not add up: grade its mistakes one by one
            for v in retry:
                v.student, v.expected, v.says_in, v.cells = v.name, v.solo_expected, frozenset(), []
                _write_submission(work, assignment, v.student, v.notebook, v.solo_nb)
            _grade(work, assignment, retry, workers, progress)
        if feedback:
            work.api.generate_feedback(assignment, force=True)
            for v in variants:
                html = work.folder("feedback") / v.student / assignment / f"{Path(v.notebook).stem}.html"
                v.feedback = html.read_text() if html.is_file() else ""
    return variants


def _grade(work: Course, assignment: str, variants: list[Variant], workers, progress) -> None:
    students = sorted({v.student for v in variants})
    statuses = {o.student: o for o in autograde(work, assignment, students, workers=workers, progress=progress)}
    cells = {}
    for v in variants:
        v.status, v.message = statuses[v.student].status, statuses[v.student].message
        if v.status == "graded":
            if v.student not in cells:
                cells[v.student] = cell_scores(work, assignment, v.student)
            v.cells = cells[v.student]
            if v.name.endswith(f"--{REFERENCE}"):
                v.evidence_only = _evidence_only(work.folder("autograded") / v.student / assignment / v.notebook)


def _evidence_only(notebook: Path) -> list[str]:
    """Tests cells whose weighted checks all used an evidence probe (``graders.remote.probes``)."""
    if not notebook.is_file():
        return []
    found = []
    for cell in nbformat.read(str(notebook), as_version=4).cells:
        checks = [c for c in cell.get("metadata", {}).get("graders", {}).get("checks") or [] if c.get("weight", 1) > 0]
        if checks and all(c.get("evidence") for c in checks):
            found.append(grade_id(cell))
    return found


def _write_submission(work: Course, assignment: str, student: str, notebook: str, nb) -> None:
    folder = work.submission_dir(student, assignment)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / notebook))


def bundles(wrong_answers: list[WrongAnswer]) -> list[list[WrongAnswer]]:
    """Greedy packing: mistakes in distinct solution cells with disjoint lost cells share a bundle."""
    packed: list[list[WrongAnswer]] = []
    for wrong in wrong_answers:
        for group in packed:
            if all(w.cell != wrong.cell and not set(w.loses) & set(wrong.loses)
                   and wrong.cell not in w.loses and w.cell not in wrong.loses for w in group):
                group.append(wrong)
                break
        else:
            packed.append([wrong])
    return packed


def _write_variants(course_root: Path, work: Course, assignment: str, bundle: bool = False) -> list[Variant]:
    variants = []
    for source_path in work.notebooks(assignment):
        name = source_path.name
        source_nb = read(source_path)
        release_nb = read(work.folder("release") / assignment / name)
        points = autograder_points(source_nb)
        reference = reference_submission(source_nb, release_nb)
        stem = source_path.stem
        plan = [(f"{stem}--{REFERENCE}", reference, dict(points)),
                (f"{stem}--{STUB}", release_nb, {g: 0.0 for g in points})]
        for student, nb, expected in plan:
            _write_submission(work, assignment, student, name, nb)
            variants.append(Variant(name, student, expected))
        wrong_answers = load_wrong_answers(course_root, assignment, name)
        for wrong in wrong_answers:
            unknown = set(wrong.loses) - set(points)
            if unknown:
                raise ValueError(f"{assignment}/{name}: wrong answer {wrong.name!r} names unknown test cells {sorted(unknown)}")
        groups = bundles(wrong_answers) if bundle else [[w] for w in wrong_answers]
        for i, group in enumerate(groups):
            nb = reference
            for wrong in group:
                nb = with_answer(nb, wrong.cell, wrong.code)
            student = f"{stem}--{group[0].name}" if len(group) == 1 else f"{stem}--bundle{i}"
            _write_submission(work, assignment, student, name, nb)
            together = {g: p - sum(float(w.loses.get(g, 0.0)) for w in group) for g, p in points.items()}
            for wrong in group:
                v = Variant(name, student, together, tuple(wrong.says), wrong, name=f"{stem}--{wrong.name}",
                            says_in=frozenset(wrong.loses) if len(group) > 1 else frozenset())
                v.solo_expected = {g: p - float(wrong.loses.get(g, 0.0)) for g, p in points.items()}
                v.solo_nb = with_answer(reference, wrong.cell, wrong.code)
                variants.append(v)
    return variants


def format_report(variants: list[Variant]) -> str:
    lines = []
    for v in variants:
        problems = v.problems()
        total = sum(c.score or 0 for c in v.cells if not c.manual and c.notebook == Path(v.notebook).stem)
        want = sum(v.expected.values())
        lines.append(f"{'ok  ' if not problems else 'FAIL'} {v.name:<48} {total:g} points (expected {want:g})")
        lines.extend("     " + p for p in problems)
    return "\n".join(lines)
