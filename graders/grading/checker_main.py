"""Inside the checker process: an IPython shell that runs the trusted cells of one notebook.

Imported once by the checker server (``graders.grading.checker_server``): torch, numpy,
matplotlib and the check library are loaded before any checker is forked from it.

Messages from the grader (a pipe):

    {"op": "trusted", "source": ...}            a locked cell (imports, data): run it here too
    {"op": "tests", "source", "points", "budget", "distrust"}
                                                a tests cell: bind the student's names, run
                                                the checks, answer with a CellOutcome
    {"op": "restarted"}                         the student's kernel was restarted
    {"op": "exit"}

For each cell the checker first answers ``{"need_student": bool}``: whether the grader must
ask the student's kernel to serve the channel for it.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from typing import Any

import matplotlib

matplotlib.use("Agg")  # noqa: E402 - figures drawn by checks are never shown

import numpy  # noqa: E402,F401 - preloaded for the checkers forked from this server
import torch  # noqa: E402,F401
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

import graders.checks  # noqa: E402,F401
from graders.checks import runner  # noqa: E402
from graders.remote.proxy import Channel, ChannelError, Remote, free_names  # noqa: E402

from .checker import CellOutcome  # noqa: E402


def warm(warm_ups: tuple[str, ...]) -> None:
    """What every checker would import in its first cells, imported once in the server: pyplot
    (locked cells import it), the parts of pytest that its first run loads, and the costly
    warm-ups the graded notebooks use (``graders.grading.warmups``)."""
    import matplotlib.pyplot  # noqa: F401

    from graders.grading.sandbox.zygote import warm_torch

    warm_torch()  # torch._dynamo: the first autograd check or optimizer step of every checker would import it
    for module in warm_ups:  # locked cells that load data with them run in every checker
        importlib.import_module(module)

    def test_warm() -> None:
        pass

    runner.collect_and_run([test_warm])


class CheckerShell:
    def __init__(self, connect_timeout: float):
        self.shell = InteractiveShell.instance()
        self.shell.display_pub.publish = lambda *a, **k: None  # displays of the checks go nowhere
        self.shell.enable_matplotlib = lambda *a, **k: (None, "agg")   # `%matplotlib inline` in locked cells (the magic unpacks (gui, backend))
        self.channel = Channel(connect_timeout=connect_timeout, budget=runner.time_left)
        runner.set_channel(self.channel)
        self.student_names: dict[str, Any] = {}  # names bound from the student's kernel, as bound
        self.allowed: set[str] | None = None       # the only names ever taken from there (None: any)

    @property
    def ns(self) -> dict:
        return self.shell.user_ns

    def needed_names(self, source: str) -> set[str]:
        """The names this cell takes from the student: not defined here, or taken from there before."""
        code = self.shell.transform_cell(source)
        wanted = free_names(code)
        mine = {n for n in self.ns if n not in self.student_names}
        return {n for n in wanted if n not in mine and (self.allowed is None or n in self.allowed)}

    def forget_overridden(self) -> None:
        """A name a trusted cell assigned is the checker's from now on."""
        for name, value in list(self.student_names.items()):
            if self.ns.get(name, _MISSING) is not value:
                del self.student_names[name]

    def run(self, source: str) -> tuple[str, BaseException | None]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            result = self.shell.run_cell(source, store_history=False, silent=True)
        error = result.error_before_exec or result.error_in_exec
        return out.getvalue(), error


_MISSING = object()


def _handle(shell: CheckerShell, message: dict, conn) -> None:
    """One cell; whatever goes wrong is reported to the grader, the checker lives on."""
    acknowledged: list[bool] = []
    try:
        _handle_cell(shell, message, conn, acknowledged)
    except Exception as exc:  # noqa: BLE001 - a checker bug must cost one cell, not the notebook
        error = f"the checker failed: {type(exc).__name__}: {exc}"
        if not acknowledged:
            conn.send({"need_student": False})
        conn.send({"outcome": CellOutcome(None, float(message.get("points", 0)), error=error)}
                  if message.get("op") == "tests" else {"ok": False, "error": error})


def _handle_cell(shell: CheckerShell, message: dict, conn, acknowledged: list) -> None:
    op = message.get("op")
    source = message.get("source", "")
    names = shell.needed_names(source)
    if op == "tests" and message.get("replay"):
        names = set()  # replayed to define its functions again, not to run them: no student needed
    need_student = op == "tests" and not message.get("replay") or bool(names)
    if need_student:
        shell.channel.listen(message["socket"])  # before the grader tells the kernel to connect
    conn.send({"need_student": need_student})
    acknowledged.append(True)
    started = time.monotonic()
    outcome: CellOutcome | None = None
    try:
        if need_student:
            shell.channel.open()
            found = shell.channel.lookup(names)
            for name in names:
                if name in found:
                    shell.ns[name] = found[name]
                    shell.student_names[name] = found[name]
                elif name in shell.student_names:  # the student's notebook no longer defines it
                    shell.ns.pop(name, None)
                    del shell.student_names[name]
        if op == "trusted":
            text, error = shell.run(source)
            shell.forget_overridden()
            conn_result: dict = {"ok": error is None, "error": _short(error)}
        else:
            outcome = _run_tests(shell, source, float(message.get("points", 0)), message.get("budget"),
                                 message.get("distrust"), bool(message.get("replay")))
            shell.forget_overridden()
            conn_result = {"outcome": outcome}
    except ChannelError as exc:
        conn_result = {"outcome": CellOutcome(None, float(message.get("points", 0)), error=str(exc),
                                              kernel_busy=True)} if op == "tests" else {"ok": False, "error": str(exc)}
    finally:
        answered = shell.channel.close() if need_student else True
    if outcome is not None:
        outcome.kernel_busy = outcome.kernel_busy or not answered
        outcome.seconds = round(time.monotonic() - started, 3)
    elif "outcome" in conn_result:
        conn_result["outcome"].kernel_busy = True
    conn.send(conn_result)


def _run_tests(shell: CheckerShell, source: str, points: float, budget: Any, distrust: Any,
               replay: bool) -> CellOutcome:
    runner.begin_cell(budget=float(budget) if budget else None,
                      distrust=str(distrust) if distrust else None, replay=replay)
    try:
        text, error = shell.run(source)
    finally:
        report = runner.end_cell()
    if replay:
        return CellOutcome(None, points)
    if report is None:
        # nbgrader's rule for a tests cell without a score: an error is 0, silence full marks
        if error is not None:
            return CellOutcome(0.0, points, text=text, error=_short(error))
        return CellOutcome(points, points, text=text)
    checks = [{"name": r.name, "weight": r.weight, "credit": r.credit, "message": r.message,
               "notes": list(r.notes), "seconds": round(r.seconds, 3), "evidence": r.evidence,
               "metrics": [list(m) for m in r.metrics]} for r in report.results]
    fraction = float(report.score) / float(report.points) if report.points else 0.0
    score = round(max(0.0, min(1.0, fraction)) * points, 4)  # the gradebook's points, not the cell's claim
    return CellOutcome(score, points, text=report.text, checks=checks,
                       kernel_busy=shell.channel.stuck is not None)


def _short(error: BaseException | None) -> str | None:
    if error is None:
        return None
    return "".join(traceback.format_exception_only(type(error), error)).strip()[:2000]


def main(conn, secret: str, connect_timeout: float = 30.0) -> None:
    """The checker process: answer the grader's messages until it says exit."""
    os.environ["GRADERS_SECRET"] = secret
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader stops us with a message or a kill
    # the locked cells run here too, and some write files (a checkpoint folder): in a folder of
    # our own, removed at the end (os._exit below skips their atexit clean-up), never the grader's
    workdir = tempfile.mkdtemp(prefix="graders-checker-")
    os.chdir(workdir)
    shell = CheckerShell(connect_timeout)
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            op = message.get("op")
            if op == "exit":
                break
            if op == "restarted":
                shell.channel.restarted()
                continue
            if op == "allow":
                names = message.get("names")
                shell.allowed = None if names is None else set(names)
                continue
            _handle(shell, message, conn)
    finally:
        with contextlib.suppress(Exception):
            shell.channel.shutdown()
        sys.stdout.flush()
        os.chdir("/")
        shutil.rmtree(workdir, ignore_errors=True)
        os._exit(0)  # nothing of the grader's state was ours to clean up
