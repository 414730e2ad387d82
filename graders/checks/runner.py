"""The in-kernel test runner that every autograder cell ends with.

An autograder cell defines plain pytest-style ``test_*`` functions and ends with
``run_tests(points=N)``.  The runner

* collects the ``test_*`` functions defined *in that cell* (by their code's file
  name, which IPython makes unique per cell), so earlier cells' tests never count twice;
* runs them with pytest, asserts rewritten so that plain ``assert a == b`` failures carry
  pytest's introspected values;
* prints one line per check - the assertion's message, never the test's source (pytest's
  own report, and IPython's traceback, would show the hidden test code);
* returns the score as a float, which nbgrader reads as the cell's (partial) grade.

Nothing is written to stderr and nothing is raised: nbgrader scores a grade cell 0 as soon
as it sees an error or any stderr output, and a traceback would quote hidden source.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import signal
import sys
import tempfile
import time
import types
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

import pytest

#: Wall-clock budget of one check unless the test says otherwise (``@time_budget``).
DEFAULT_TIME_BUDGET_S = 60.0


@dataclass
class CheckResult:
    name: str
    weight: float
    credit: float  # fraction of the weight earned, in [0, 1]
    message: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    metrics: list[tuple[str, float, bool]] = field(default_factory=list)  # leaderboard entries
    evidence: bool = False  # relied on a probe inside the student's process (never full trust)

    @property
    def passed(self) -> bool:
        return self.credit >= 1.0


@dataclass
class CellReport:
    """The outcome of one tests cell, as the checker hands it to the grader."""

    results: list[CheckResult]
    points: float
    score: float
    text: str


# ---------------------------------------------------------------- grading mode (the checker)
#
# While grading, tests cells run in the checker process (graders.grading.checker_main), which
# sets these: the cell's time budget, whether probes inside the student's process can be
# trusted in this cell, and whether the cell is only being replayed (define, don't run).

_channel = None
_cell_deadline: Optional[float] = None
_test_deadline: Optional[float] = None
_distrust: Optional[str] = None
_replay = False
_report: Optional[CellReport] = None


def set_channel(channel) -> None:
    global _channel
    _channel = channel


def begin_cell(budget: Optional[float] = None, distrust: Optional[str] = None, replay: bool = False) -> None:
    global _cell_deadline, _distrust, _replay, _report
    _cell_deadline = time.monotonic() + budget if budget else None
    _distrust, _replay, _report = distrust, replay, None


def end_cell() -> Optional[CellReport]:
    global _cell_deadline, _distrust, _replay, _report
    report, _report = _report, None
    _cell_deadline, _distrust, _replay = None, None, False
    return report


def time_left() -> Optional[float]:
    """Seconds left for the running check (its own budget and its cell's), None if unlimited."""
    deadlines = [d for d in (_cell_deadline, _test_deadline) if d is not None]
    return min(deadlines) - time.monotonic() if deadlines else None


def note_evidence() -> None:
    """The running check used a probe inside the student's process: evidence, not proof."""
    if _current is not None:
        _current.evidence = True


# ---------------------------------------------------------------- decorators


def weight(w: float) -> Callable:
    """Give a check ``w`` shares of its cell's points (default 1 share)."""

    def mark(func):
        func.weight = float(w)
        return func

    return mark


def time_budget(seconds: float) -> Callable:
    """Fail a check that runs longer than ``seconds`` (wall clock)."""

    def mark(func):
        func.time_budget = float(seconds)
        return func

    return mark


# ---------------------------------------------------------------- partial credit

_current: Optional[CheckResult] = None


def award(fraction: float, note: str = "") -> None:
    """Record partial credit for the running check (the lowest award wins).

    Called by threshold checks such as :func:`graders.checks.expect_at_least`; a check
    that awards nothing and raises nothing earns its full weight.
    """
    fraction = min(1.0, max(0.0, float(fraction)))
    if _current is None:  # called outside run_tests (a student trying things out)
        if note:
            print(note)
        return
    _current.credit = min(_current.credit, fraction)
    if note:
        _current.notes.append(note)


LEADERBOARD_MARK = "📊 leaderboard"


def leaderboard(metric: str, value: float, higher_is_better: bool = True) -> None:
    """Report a score for the course leaderboard from inside a (hidden) check.

    ``run_tests`` prints it as the last line before the cell's score, after every line student
    code could print, and the leaderboard (``graders.grading.leaderboard``) reads it from there.
    """
    value = float(value)
    if _current is None:  # a student trying things out: just show it
        print(f"{LEADERBOARD_MARK} {metric} = {value:.6g}")
        return
    _current.metrics.append((str(metric), value, bool(higher_is_better)))


# ---------------------------------------------------------------- assertion rewriting


class _RewriteTestAsserts(ast.NodeTransformer):
    """IPython AST transformer: pytest's assertion rewriting for cells that define tests."""

    def visit(self, node):
        if isinstance(node, ast.Module) and any(
            isinstance(n, ast.FunctionDef) and n.name.startswith("test_") for n in node.body
        ):
            from _pytest.assertion.rewrite import rewrite_asserts

            rewrite_asserts(node, b"")
        return node


def install_assert_rewriting() -> None:
    """Register the transformer with the running IPython shell (idempotent, no-op elsewhere)."""
    try:
        shell = get_ipython()  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        return
    if not any(isinstance(t, _RewriteTestAsserts) for t in shell.ast_transformers):
        shell.ast_transformers.append(_RewriteTestAsserts())


# ---------------------------------------------------------------- collection through pytest


class _FunctionsModule(pytest.Module):
    """A pytest collector whose module object is built in memory, not imported from a file."""

    def __init__(self, *args, module: types.ModuleType, **kwargs):
        super().__init__(*args, **kwargs)
        self._in_memory_module = module

    def _getobj(self):
        return self._in_memory_module


class _CellPlugin:
    """Feeds the cell's test functions to pytest and records an outcome per check."""

    def __init__(self, filename: str, module: types.ModuleType):
        self.filename = filename
        self.module = module
        self.results: dict[str, CheckResult] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makemodule(self, module_path, parent):
        if str(module_path) == self.filename:
            return _FunctionsModule.from_parent(parent, path=module_path, module=self.module)
        return None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        global _current, _test_deadline
        func = item.obj
        result = CheckResult(item.name, getattr(func, "weight", 1.0), 1.0)
        self.results[item.nodeid] = result
        budget = getattr(func, "time_budget", DEFAULT_TIME_BUDGET_S)
        if _cell_deadline is not None:  # never past the cell's own budget
            budget = max(0.5, min(budget, _cell_deadline - time.monotonic()))
        _current = result
        start = time.perf_counter()
        _test_deadline = time.monotonic() + budget
        try:
            with _alarm(budget, item.name):
                return (yield)
        finally:
            result.seconds = time.perf_counter() - start
            _current = None
            _test_deadline = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if call.excinfo is not None and report.failed:
            result = self.results.setdefault(
                item.nodeid, CheckResult(item.name, getattr(item.obj, "weight", 1.0), 1.0))
            result.credit = 0.0
            result.message = result.message or _failure_message(call.excinfo, item.obj)
        return report


def _failure_message(excinfo, test_func) -> str:
    """The exception's own message, never pytest's code excerpt.

    Assertion errors carry the expected-vs-got text (ours, or pytest's introspection);
    other errors get their type and, when raised in student code, the function it came from.
    """
    exc = excinfo.value
    text = str(exc).strip()
    if isinstance(exc, AssertionError):
        return text or "assertion failed"
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    origin = _student_frame(excinfo.tb, test_func.__code__.co_filename)
    return f"{message} (raised in {origin})" if origin else message


def _student_frame(tb, test_file: str) -> Optional[str]:
    """Name of the innermost function defined in a notebook cell other than the test cell."""
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename != test_file and _is_cell_file(code.co_filename):
            found = code.co_name
        tb = tb.tb_next
    return None if found in (None, "<module>") else found


def _is_cell_file(filename: str) -> bool:
    # IPython >= 8 compiles cells as /tmp/ipykernel_<pid>/<hash>.py, older as <ipython-input-…>
    return "ipykernel_" in filename or filename.startswith("<ipython-input")


class CheckTimeout(AssertionError):
    """A check ran past its time budget."""


@contextlib.contextmanager
def _alarm(seconds: float, name: str):
    """SIGALRM-based budget: the kernel runs cells in its main thread, so this works there."""
    if seconds is None or seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise CheckTimeout(f"{name}: expected to finish within {seconds:g} s, still running")

    try:
        previous = signal.signal(signal.SIGALRM, on_alarm)
    except ValueError:  # not the main thread: run without a budget
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _pytest_args(filename: str) -> list[str]:
    folder = os.path.dirname(filename)
    ini = os.path.join(folder, "pytest.ini")  # empty, beside the file: no config and no walk around it
    with open(ini, "w") as fh:
        fh.write("[pytest]\n")
    return [
        filename,
        "-c", ini,
        "--rootdir", os.path.dirname(filename),
        "-q", "--capture=sys", "-p", "no:cacheprovider", "-p", "no:randomly",
        "-p", "no:xdist", "-p", "no:warnings", "-p", "no:stepwise", "-p", "no:unraisableexception",
        "-p", "no:threadexception", "-p", "no:faulthandler", "-p", "no:legacypath", "-p", "no:junitxml",
        "-p", "no:pastebin", "-p", "no:nose", "-p", "no:doctest", "-p", "no:setuponly", "-p", "no:setupplan",
    ]


@contextlib.contextmanager
def _no_plugin_autoload():
    """No entry-point plugins (anyio, trio...): they cost about 0.2 s a run and nothing uses them.
    The variable rather than ``--disable-plugin-autoload``, which pytest < 8.4 refuses."""
    before = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = before


def _tests_of_cell(namespace: dict, cell_file: str) -> list[Callable]:
    return [
        obj for name, obj in namespace.items()
        if name.startswith("test_") and isinstance(obj, types.FunctionType)
        and obj.__code__.co_filename == cell_file
    ]


@contextlib.contextmanager
def _working_folder(path: str):
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def collect_and_run(tests: Iterable[Callable]) -> list[CheckResult]:
    """Run ``tests`` through pytest and return one result per test, in definition order."""
    tests = sorted(tests, key=lambda f: f.__code__.co_firstlineno)
    module = types.ModuleType("autograder_cell")
    for func in tests:
        setattr(module, func.__name__, func)
    with tempfile.TemporaryDirectory(prefix="graders-") as tmp, _working_folder(tmp):
        # run from an empty folder: pytest lists every folder between the current one and the file
        filename = os.path.join(tmp, "autograder_cell.py")  # not test_*.py: only our collector takes it
        open(filename, "w").close()
        plugin = _CellPlugin(filename, module)
        sink = io.StringIO()  # pytest's own report would show the test source: never print it
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                warnings.catch_warnings(), _no_plugin_autoload():
            warnings.simplefilter("ignore")
            pytest.main(_pytest_args(filename), plugins=[plugin])
    by_name = {r.name: r for r in plugin.results.values()}
    results = []
    for func in tests:
        results.append(by_name.get(func.__name__) or CheckResult(
            func.__name__, getattr(func, "weight", 1.0), 0.0, "the check could not be run"))
    return results


def format_report(results: list[CheckResult], points: float, score: float) -> str:
    lines = []
    for r in results:
        mark = "✔" if r.passed else ("◐" if r.credit > 0 else "✘")
        line = f"{mark} {r.name}"
        detail = r.message or "; ".join(r.notes)
        if r.credit < 1.0 and r.credit > 0:
            line += f" ({r.credit:.0%} credit)"
        if detail and not r.passed:
            line += f": {detail}"
        lines.append(line)
    for r in results:
        for metric, value, higher in r.metrics:
            lines.append(f"{LEADERBOARD_MARK} {metric} = {value:.6g} ({'higher' if higher else 'lower'} is better)")
    lines.append(f"Score: {score:g} / {points:g}")
    return "\n".join(lines)


def run_tests(points: float, namespace: Optional[dict] = None) -> float:
    """Run the checks defined in the calling cell and return the earned points.

    ``points`` must equal the cell's nbgrader points (a repository test checks that).
    Never raises: an exception here would print a traceback quoting the hidden tests.
    """
    global _report
    if _replay:  # the checker rebuilding its state after a restart: the tests are defined, not run
        return 0.0
    try:
        caller = sys._getframe(1)
        namespace = caller.f_globals if namespace is None else namespace
        tests = _tests_of_cell(namespace, caller.f_code.co_filename)
        if not tests:
            text = "No checks found in this cell (test functions must be named test_*)."
            _report = CellReport([], float(points), 0.0, text)
            print(text)
            return 0.0
        results = collect_and_run(tests)
        if _distrust:
            for r in results:
                if r.evidence and r.credit > 0:
                    r.credit, r.message = 0.0, f"not trusted: {_distrust}"
        total_weight = sum(r.weight for r in results) or 1.0
        earned = sum(r.weight * r.credit for r in results) / total_weight
        score = round(points * earned, 4)
        text = format_report(results, points, score)
        _report = CellReport(results, float(points), float(score), text)
        print(text)
        return float(score)
    except KeyboardInterrupt:
        text = f"✘ the checks were interrupted (time budget exceeded)\nScore: 0 / {points:g}"
    except BaseException as exc:  # noqa: BLE001 - a grader problem must not leak source
        text = f"✘ the checks could not run: {type(exc).__name__}: {exc}\nScore: 0 / {points:g}"
    _report = CellReport([], float(points), 0.0, text)
    print(text)
    return 0.0
