"""nbgrader's Execute step, made safe for student code.

``SandboxedExecute`` replaces nbgrader's ``Execute`` in the autograde pipeline
(``c.Autograde.autograde_preprocessors``).  Student cells run in the student's kernel, started
inside a sandbox (``graders.grading.sandbox``); **tests cells never run there**: each one runs
in the checker (``graders.grading.checker``), a separate process with the grading secret and
no student code, which reaches the student's functions and models as data-only proxies.  The
checker's score is written into the cell's output here, where student code has no say:

* which cells are tests (and their source, and their points) comes from the gradebook, never
  from the submitted notebook's metadata;
* the student's kernel gets no secret, no credential, an empty working folder of its own,
  and Python in isolated mode (``graders.grading.sandbox.kernel``);
* a time budget per cell, larger for code and training cells than for tests cells (nbclient's
  ``timeout_func``), within a wall-clock budget for the whole notebook;
* a timed-out or crashed cell scores 0 on its own: when the kernel dies or ignores the
  interrupt, it is restarted, the cells that ran before are replayed silently, and grading
  goes on with the next cell, so the other cells keep their scores; a checker that hangs is
  replaced the same way;
* a cap on each cell's output, and on the processes a cell leaves behind (a fork bomb);
* tamper evidence (``graders.grading.integrity``), a second line: it flags the submission
  and voids the in-process evidence of the tests cell, never decides a score by itself;
* every incident is written into the cell's output (what the student sees in the feedback)
  and listed in the notebook's ``metadata.graders.incidents`` for the grading report.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Int, Unicode

from . import integrity
from .sandbox import make_sandbox
from .sandbox.kernel import SandboxedKernelManager
from .variants import grade_id, is_autograder_tests

TIMEOUT_ENAME = "CellTimeoutError"
#: what the grader asks the student's kernel to run while the checker works on a tests cell
SERVE = "__import__('graders.remote.server', fromlist=['serve']).serve({path!r})"
#: seconds the checker may take beyond a tests cell's budget before it is replaced
CHECKER_GRACE = 20


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


@dataclass(frozen=True)
class TrustedCell:
    """A cell as the gradebook holds it: ``tests`` (graded by the checker) or ``locked``."""

    kind: str
    source: str
    points: float = 0.0


def student_names(course_root: str, resources: dict) -> list[str] | None:
    """The names a tests cell may take from the student's kernel: those the source notebook's own
    answer and free cells define at top level (``predict``, ``model``, ``SmallCNN``).  Nothing
    else is ever looked up there, so a student's ``expect_close`` or ``np`` can never stand in for
    the checker's (a notebook whose locked imports were deleted included).  None: no source."""
    import symtable

    import nbformat

    info = (resources or {}).get("nbgrader", {})
    path = Path(course_root or ".") / "source" / str(info.get("assignment", "")) / f"{info.get('notebook', '')}.ipynb"
    if not course_root or not path.is_file():
        return None
    names: set[str] = set()
    for cell in nbformat.read(str(path), as_version=4).cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("locked") or (meta.get("grade") and not meta.get("solution")):
            continue
        try:
            from IPython.core.inputtransformer2 import TransformerManager

            table = symtable.symtable(TransformerManager().transform_cell(cell.source), "<cell>", "exec")
        except SyntaxError:
            continue
        names.update(s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported())
    return sorted(names)


def trusted_cells(resources: dict) -> dict[str, TrustedCell]:
    """The notebook's tests and locked code cells, from nbgrader's gradebook."""
    info = (resources or {}).get("nbgrader", {})
    db_url, assignment, notebook = info.get("db_url"), info.get("assignment"), info.get("notebook")
    if not (db_url and assignment and notebook):
        return {}
    from nbgrader.api import Gradebook, MissingEntry

    cells: dict[str, TrustedCell] = {}
    with Gradebook(db_url) as gb:
        try:
            record = gb.find_notebook(notebook, assignment)
        except MissingEntry:
            return {}
        points = {c.name: float(c.max_score) for c in record.grade_cells}
        solutions = {c.name for c in record.solution_cells}
        for cell in record.source_cells:
            if cell.cell_type != "code" or cell.name in solutions:
                continue
            if cell.name in points:
                cells[cell.name] = TrustedCell("tests", cell.source, points[cell.name])
            elif cell.locked:
                cells[cell.name] = TrustedCell("locked", cell.source)
    return cells


_RECEIVERS: dict = {}  # pid -> ThreadPoolExecutor


def _receiver():
    """A thread pool of this process for waiting on the checker.  Not the event loop's default
    executor: a grading worker forked from a process that had already graded in-process inherits
    that loop and its executor, whose threads do not exist after the fork; work queued there would
    never run and the grader would wait forever."""
    from concurrent.futures import ThreadPoolExecutor

    pool = _RECEIVERS.get(os.getpid())
    if pool is None:
        pool = _RECEIVERS[os.getpid()] = ThreadPoolExecutor(2, thread_name_prefix="checker-receive")
    return pool


class SandboxedExecute(Execute):
    sandbox = Unicode("auto", help="Sandbox backend: auto, local, docker, pod, none (see graders.grading.sandbox)"
                      ).tag(config=True)
    allow_unconfined = Bool(False, help="Let sandbox 'none' (or 'auto' without bubblewrap) run student code as "
                                        "the grader; only for code you trust (the demo's own students)").tag(config=True)
    check_timeout = Int(120, help="Budget of a check (tests) cell, seconds").tag(config=True)
    cell_timeout = Int(300, help="Budget of any other code cell (student code, training), seconds").tag(config=True)
    submission_timeout = Int(1200, help="Wall-clock budget of one notebook, seconds").tag(config=True)
    max_processes = Int(64, help="More processes than this below the kernel after a cell is a fork bomb: "
                                 "they are killed and the kernel restarted").tag(config=True)
    restart_grace = Int(5, help="Seconds a timed-out kernel has to answer before it is restarted").tag(config=True)
    max_output_bytes = Int(1_000_000, help="Output kept per cell; the rest is dropped with a note").tag(config=True)
    max_runtime_mb = Int(64, help="What the kernel may leave in its socket folder (outside its tmpfs "
                                  "working folder) before it is stopped").tag(config=True)
    course_root = Unicode("", help="The course folder (set by graders)").tag(config=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        kwargs.setdefault("shutdown_kernel", "immediate")  # nothing of a graded kernel is worth waiting for
        super().__init__(**kwargs)
        self.timeout_func = self._timeout_for

    # ------------------------------------------------------------------ set-up

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            options = {"course_root": self.course_root} if self.sandbox in ("local", "auto") else {}
            km.sandbox = make_sandbox(self.sandbox, allow_unconfined=self.allow_unconfined, parent=self, **options)
            self._sandbox_description = km.sandbox.describe()
        return km

    def preprocess(self, nb, resources=None, km=None):
        started = time.monotonic()
        self._deadline = started + self.submission_timeout
        self._replay: list[str] = []
        self._incidents: list[dict] = []
        self._pristine: dict | None = None
        self._sandbox_description: dict = {"backend": "none"}
        self._trusted = trusted_cells(resources)
        self._student_names = student_names(self.course_root, resources)
        present = {grade_id(c) for c in nb.cells}
        # locked cells the student deleted still run in the checker (its imports and data)
        self._missing_locked = [(gid, t) for gid, t in self._trusted.items() if t.kind == "locked" and gid not in present]
        self._assignment = (resources or {}).get("nbgrader", {}).get("assignment", "")
        self._checker = None
        self._checker_history: list[dict] = []
        # where the time goes (the benchmark's physical limit is the time inside cells)
        self._timing = {"kernel_start": 0.0, "first_contact": 0.0, "student_cells": 0.0, "tests_cells": 0.0,
                        "between_cells": 0.0}
        self._started = started
        self._preload = "import graders.checks, graders.remote.server, numpy" + (", torch" if any(
            "torch" in c.source for c in nb.cells if c.cell_type == "code") else "")
        for cell in nb.cells:  # what the grader writes there is the grader's alone
            cell.get("metadata", {}).pop("graders", None)
        try:
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            if self._checker is not None:
                self._checker.stop()
            # kept in the autograded notebook: the grading report and feedback read it there
            total = time.monotonic() - started
            accounted = sum(self._timing.values())
            self._timing["between_cells"] += max(0.0, total - accounted)
            nb.metadata["graders"] = {"incidents": list(self._incidents),
                                      "sandbox": self._sandbox_description,
                                      "seconds": round(total, 2),
                                      "timing": {k: round(v, 3) for k, v in self._timing.items()}}
        return nb, resources

    def _timeout_for(self, cell) -> int:
        budget = self.check_timeout if self._is_tests(cell) else self.cell_timeout
        remaining = int(self._deadline - time.monotonic())
        return max(1, min(budget, remaining))

    def _is_tests(self, cell) -> bool:
        trusted = self._trusted.get(grade_id(cell) or "")
        if self._trusted:
            return trusted is not None and trusted.kind == "tests"
        return is_autograder_tests(cell)  # no gradebook (tools, tests of this module): the metadata

    # ------------------------------------------------------------------ per cell

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", f"cell {index}")
        trusted = self._trusted.get(gid)
        if trusted is not None:
            # the gradebook's version, whatever was submitted: source, and what kind of cell it is
            cell.source = trusted.source
            meta = cell.metadata.setdefault("nbgrader", {})
            meta.update(grade=trusted.kind == "tests", solution=False, locked=True)
            if trusted.kind == "tests":
                meta["points"] = trusted.points
        elif self._trusted and is_autograder_tests(cell):
            # claims to be a tests cell, but the gradebook knows no such cell: a forged one
            cell.outputs = [error_output("UnknownTestsCell", f"cell {gid!r} is not a tests cell of this "
                                                             "assignment: not run, no points")]
            self._incidents.append({"cell": gid, "kind": "forged tests cell (not in the gradebook)"})
            return cell, resources
        if not cell.source.strip():
            return cell, resources
        if time.monotonic() >= self._deadline:
            cell.outputs = [error_output("SubmissionTimeLimit",
                                         f"not run: the notebook used its whole {self.submission_timeout} s budget")]
            self._incidents.append({"cell": gid, "kind": "not run (notebook time limit)"})
            return cell, resources
        if self._pristine is None:  # before any student code: what the checks rely on
            self._timing["kernel_start"] = time.monotonic() - self._started
            began = time.monotonic()
            self._first_contact()
            self._timing["first_contact"] = time.monotonic() - began
        began = time.monotonic()
        if self._is_tests(cell):
            cell = self._check(cell, gid, trusted)
            self._timing["tests_cells"] += time.monotonic() - began
            return cell, resources
        cell, resources = self._run_in_kernel(cell, resources, index, gid)
        self._timing["student_cells"] += time.monotonic() - began
        if trusted is not None and trusted.kind == "locked":
            self._checker_cell({"op": "trusted", "cell": gid, "source": trusted.source}, self.cell_timeout)
        return cell, resources

    def _first_contact(self) -> None:
        self._run_silently(self._preload, timeout=120)
        self._seal()
        self._pristine = self._fingerprint()
        if self._pristine is None:
            self._incidents.append({"cell": "start", "kind": "tampering",
                                    "changed": ["the kernel's introspection (exec, repr or IPython)"]})
            self._pristine = {}
        self._start_checker()

    def _run_in_kernel(self, cell, resources, index, gid):
        self._output_bytes = 0
        self._output_truncated = False
        budget = self._timeout_for(cell)
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.outputs.append(error_output(
                "KernelDied", "the kernel died while running this cell (memory limit, os._exit or a crash); "
                              "the cells after it ran in a fresh kernel"))
            self._incidents.append({"cell": gid, "kind": "kernel died"})
            self._restart_and_replay()
            return cell, resources
        except CellTimeoutError:  # interrupted, but the kernel never came back to idle
            cell.outputs.append(error_output(
                TIMEOUT_ENAME, f"this cell ran longer than its {budget} s budget and ignored the interrupt; "
                               "the cells after it ran in a fresh kernel"))
            self._incidents.append({"cell": gid, "kind": f"timed out after {budget} s"})
            self._incidents.append({"cell": gid, "kind": "kernel restarted (ignored the interrupt)"})
            self._restart_and_replay()
            return cell, resources
        if self._contained(cell, gid) is False:
            return cell, resources
        if any(o.get("output_type") == "error" and o.get("ename") == TIMEOUT_ENAME for o in cell.outputs):
            # keep what it printed: a timed-out cell is not replayed
            cell.outputs = [o for o in cell.outputs if o.get("output_type") == "stream"] + [error_output(
                TIMEOUT_ENAME, f"this cell ran longer than its {budget} s budget and was stopped")]
            self._incidents.append({"cell": gid, "kind": f"timed out after {budget} s"})
            if not self._kernel_answers():
                self._incidents.append({"cell": gid, "kind": "kernel restarted (ignored the interrupt)"})
                self._restart_and_replay()
            return cell, resources
        self._replay.append(cell.source)
        return cell, resources

    def _contained(self, cell, gid) -> bool:
        """After a cell: no fork bomb left behind, nothing piled up beside the sockets."""
        runaway = self._runaway_processes()
        if len(runaway) > self.max_processes:
            cell.outputs.append(error_output(
                "RunawayProcesses", f"this cell left {len(runaway)} processes running (a fork bomb?); they were "
                                    "stopped and the cells after it ran in a fresh kernel"))
            self._incidents.append({"cell": gid, "kind": f"{len(runaway)} runaway processes"})
            for process in runaway:  # forked copies of the kernel share its sockets: stop them first
                with contextlib.suppress(Exception):
                    process.kill()
            self._restart_and_replay()
            return False
        used = _folder_bytes(self.km.runtime_dir) if isinstance(self.km, SandboxedKernelManager) else 0
        if used > self.max_runtime_mb * 2**20:
            cell.outputs.append(error_output(
                "DiskQuota", f"this cell wrote {used / 2**20:.0f} MiB outside its working folder; the kernel was "
                             "stopped and the cells after it ran in a fresh kernel"))
            self._incidents.append({"cell": gid, "kind": f"wrote {used / 2**20:.0f} MiB beside its sockets"})
            self._restart_and_replay()
            return False
        return True

    # ------------------------------------------------------------------ tests cells: the checker

    def _check(self, cell, gid: str, trusted: TrustedCell | None) -> NotebookNode:
        budget = self._timeout_for(cell)
        points = trusted.points if trusted is not None else float(cell.metadata.nbgrader.get("points", 0))
        distrust = self._tamper_check(gid)
        message = {"op": "tests", "cell": gid, "source": cell.source, "points": points, "budget": budget,
                   "distrust": distrust}
        result = self._checker_cell(message, budget)
        outcome = (result or {}).get("outcome")
        if outcome is None:
            cell.outputs = [error_output("CheckerTimeout", f"the checks of this cell did not finish within its "
                                                           f"{budget} s budget")]
            self._incidents.append({"cell": gid, "kind": f"checks timed out after {budget} s"})
            return cell
        text = outcome.text
        if distrust:
            text = f"⚠ {distrust}: evidence taken inside your kernel is not trusted in this cell\n" + text
        if outcome.score is None:
            cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=text)] if text else []
            cell.outputs.append(error_output("CheckerError", outcome.error or "the checks could not run"))
            self._incidents.append({"cell": gid, "kind": f"checks could not run ({outcome.error})"})
        else:
            cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=text),
                            NotebookNode(output_type="execute_result", execution_count=None, metadata={},
                                         data={"text/plain": repr(float(outcome.score))})]
        cell.setdefault("metadata", {})["graders"] = {
            "score": outcome.score, "points": outcome.points, "checks": outcome.checks,
            "seconds": outcome.seconds}
        return cell

    def _tamper_check(self, gid: str) -> str | None:
        """Why in-process evidence cannot be trusted in this cell (None: nothing changed)."""
        # digests, with the details of the groups whose digest changed since the first contact
        now = self._fingerprint(detail=(), against=(self._pristine or {}).get("digests"))
        changed = integrity.tampered(self._pristine, now) if now is not None and self._pristine else (
            ["the kernel's introspection (exec, repr or IPython)"] if now is None else [])
        if not changed:
            return None
        shown = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
        self._incidents.append({"cell": gid, "kind": "tampering", "changed": changed})
        return f"code in this notebook replaced {shown}"

    def _start_checker(self) -> None:
        from .checker import Checker
        from .secrets import assignment_secret, course_secret

        self._checker = Checker(assignment_secret(course_secret(self.course_root), self._assignment))
        self._checker.send({"op": "allow", "names": self._student_names})
        if not self._checker_history:
            for gid, trusted in self._missing_locked:
                self._checker_cell({"op": "trusted", "cell": gid, "source": trusted.source}, self.cell_timeout)
        for message in self._checker_history:  # a replacement: rebuild the state of the one before
            replay = dict(message, replay=True) if message["op"] == "tests" else message
            self._checker_cell(replay, self.check_timeout, remember=False)

    def _checker_cell(self, message: dict, budget: float, remember: bool = True) -> dict | None:
        if self._checker is None:
            return None
        result = run_sync(self._async_checker_cell)(message, budget)
        if remember:
            self._checker_history.append(message)
        if result is None:  # hung or dead: a new checker takes over (the student's kernel too, if busy)
            self._checker.stop()
            self._checker = None
            self._start_checker()
        return result

    async def _async_checker_cell(self, message: dict, budget: float) -> dict | None:
        loop = asyncio.get_running_loop()
        socket = str(Path(self.km.runtime_dir) / "checker.sock")
        self._checker.send(dict(message, socket=socket))
        first = await loop.run_in_executor(_receiver(), self._checker.receive, 30)
        if first is None:
            return None
        serving = None
        if first.get("need_student"):
            serving = self.kc.execute(SERVE.format(path=socket), silent=True, store_history=False,
                                      allow_stdin=False)
        result = await loop.run_in_executor(_receiver(), self._checker.receive, budget + CHECKER_GRACE)
        outcome = (result or {}).get("outcome")
        cell = message.get("cell", message.get("op"))
        if serving is None or await self._async_finished(serving, self.restart_grace):
            if outcome is not None and outcome.kernel_busy:
                self._incidents.append({"cell": cell, "kind": "timed out (a call into student code)"})
            return result
        # the student's side is still busy with a call the checker gave up on, or it died
        if not await self.km.is_alive():
            self._incidents.append({"cell": cell, "kind": "kernel died (in a call from the checks)"})
        else:
            await self.km.interrupt_kernel()
            if await self._async_finished(serving, self.restart_grace):
                self._incidents.append({"cell": cell, "kind": "timed out (a call into student code, interrupted)"})
                return result
            self._incidents.append({"cell": cell, "kind": "timed out; kernel restarted (a call into student "
                                                          "code ignored the interrupt)"})
        await self._async_restart_and_replay()
        return result

    async def _async_finished(self, msg_id: str, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._async_reply_to(msg_id), timeout=timeout)
            return True
        except (asyncio.TimeoutError, DeadKernelError):
            return False

    # ------------------------------------------------------------------ helpers

    def _runaway_processes(self) -> list:
        """The kernel's processes on this host, as its sandbox knows them (none for docker or pods)."""
        pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
        sandbox = getattr(self.km, "sandbox", None)
        return sandbox.processes(pid) if sandbox is not None else []

    def output(self, outs, msg, display_id, cell_index):
        size = len(str(msg.get("content", {}).get("text", ""))) + len(str(msg.get("content", {}).get("data", "")))
        self._output_bytes = getattr(self, "_output_bytes", 0) + size
        if self._output_bytes > self.max_output_bytes and msg.get("msg_type") != "error":
            if not self._output_truncated:
                self._output_truncated = True
                outs.append(NotebookNode(output_type="stream", name="stdout",
                                         text=f"\n[graders: output truncated after {self.max_output_bytes} bytes]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _seal(self) -> None:
        if isinstance(self.km, SandboxedKernelManager) and self.km.runtime_dir is not None:
            self.km.sandbox.seal(self.km.runtime_dir)

    def _fingerprint(self, detail: tuple | None = None, against: dict | None = None) -> dict | None:
        return run_sync(self._async_fingerprint)(detail, against)

    async def _async_fingerprint(self, detail: tuple | None = None, against: dict | None = None) -> dict | None:
        msg_id = self.kc.execute("", silent=True, store_history=False, allow_stdin=False,
                                 user_expressions={"fp": integrity.fingerprint_expression(detail, against)})
        try:
            reply = await asyncio.wait_for(self._async_reply_to(msg_id), timeout=30)
            result = reply["content"]["user_expressions"]["fp"]
            return integrity.parse(result["data"]["text/plain"]) if result.get("status") == "ok" else None
        except (asyncio.TimeoutError, KeyError, ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None

    def _run_silently(self, code: str, timeout: float = 10) -> None:
        run_sync(self._async_run_silently)(code, timeout)

    async def _async_run_silently(self, code: str, timeout: float) -> None:
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        try:
            await asyncio.wait_for(self._async_reply_to(msg_id), timeout=timeout)
        except asyncio.TimeoutError:
            pass

    def _kernel_answers(self) -> bool:
        return run_sync(self._async_kernel_answers)()

    async def _async_kernel_answers(self) -> bool:
        """After an interrupt: does the kernel come back to idle within the grace period?"""
        msg_id = self.kc.kernel_info()
        deadline = time.monotonic() + self.restart_grace
        while time.monotonic() < deadline:
            try:
                reply = await self.kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            except Exception:  # queue.Empty: no answer yet
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return True
        return False

    def _restart_and_replay(self) -> None:
        run_sync(self._async_restart_and_replay)()

    async def _async_restart_and_replay(self) -> None:
        """A fresh kernel with the state of the cells that ran before (their outputs kept)."""
        self.kc.stop_channels()
        await self.km.restart_kernel(now=True)
        await self.async_start_new_kernel_client()
        # a new kernel has new objects: record them before replaying any student code
        await self._async_run_silently(self._preload, 120)
        self._seal()
        self._pristine = await self._async_fingerprint() or {}
        if self._checker is not None:
            self._checker.send({"op": "restarted"})
        for source in list(self._replay):
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                return
            msg_id = self.kc.execute(source, silent=True, store_history=False, allow_stdin=False)
            try:
                await asyncio.wait_for(self._async_reply_to(msg_id), timeout=remaining)
            except (asyncio.TimeoutError, DeadKernelError):
                return

    async def _async_reply_to(self, msg_id: str) -> dict:
        while True:
            reply = await self.kc.get_shell_msg(timeout=None)
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return reply


def _folder_bytes(folder: Path | None) -> int:
    """Bytes of the regular files in ``folder`` (links and sockets count nothing, are not followed)."""
    if folder is None:
        return 0
    total = 0
    with contextlib.suppress(OSError):
        for root, dirs, files in os.walk(folder):
            for name in files:
                with contextlib.suppress(OSError):
                    st = os.lstat(os.path.join(root, name))
                    if (st.st_mode & 0o170000) == 0o100000:
                        total += st.st_blocks * 512
    return total

