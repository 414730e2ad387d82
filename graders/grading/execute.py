"""nbgrader's Execute step, made safe for student code.

``SandboxedExecute`` replaces nbgrader's ``Execute`` in the autograde pipeline
(``c.Autograde.autograde_preprocessors``) and keeps its behaviour, adding:

* the kernel starts inside a sandbox (``graders.grading.sandbox``), over IPC sockets;
* a time budget per cell, larger for code and training cells than for check cells
  (nbclient's ``timeout_func``), within a wall-clock budget for the whole notebook;
* a timed-out or crashed cell scores 0 on its own: when the kernel dies or ignores the
  interrupt, it is restarted, the cells that ran before are replayed silently, and grading
  goes on with the next cell, so the other cells keep their scores;
* a cap on each cell's output;
* tamper evidence (``graders.grading.integrity``): before each tests cell the watched
  functions (torch, numpy, builtins, graders.checks, ...) must be the ones recorded before
  the first student cell; if not, that tests cell scores 0 and the submission is flagged;
* tests cells show tracebacks as type and message only (context lines would quote hidden tests);
* every incident is written into the cell's output (what the student sees in the feedback)
  and listed in the notebook's ``metadata.graders.incidents`` for the grading report.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Int, Unicode

from . import integrity
from .sandbox import make_sandbox
from .sandbox.kernel import SandboxedKernelManager
from .variants import is_autograder_tests

TIMEOUT_ENAME = "CellTimeoutError"


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class SandboxedExecute(Execute):
    sandbox = Unicode("auto", help="Sandbox backend: auto, local, none (see graders.grading.sandbox)").tag(config=True)
    check_timeout = Int(120, help="Budget of a check (tests) cell, seconds").tag(config=True)
    cell_timeout = Int(300, help="Budget of any other code cell (student code, training), seconds").tag(config=True)
    submission_timeout = Int(1200, help="Wall-clock budget of one notebook, seconds").tag(config=True)
    max_processes = Int(64, help="More processes than this below the kernel after a cell is a fork bomb: "
                                 "they are killed and the kernel restarted").tag(config=True)
    restart_grace = Int(5, help="Seconds a timed-out kernel has to answer before it is restarted").tag(config=True)
    max_output_bytes = Int(1_000_000, help="Output kept per cell; the rest is dropped with a note").tag(config=True)
    course_root = Unicode("", help="Hidden from the kernel (set by graders)").tag(config=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)
        self.timeout_func = self._timeout_for

    # ------------------------------------------------------------------ set-up

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            options = {"course_root": self.course_root} if self.sandbox in ("local", "auto") else {}
            km.sandbox = make_sandbox(self.sandbox, parent=self, **options)
            self._sandbox_description = km.sandbox.describe()
        return km

    def preprocess(self, nb, resources=None, km=None):
        started = time.monotonic()
        self._deadline = started + self.submission_timeout
        self._replay: list[str] = []
        self._incidents: list[dict] = []
        self._pristine: dict | None = None
        self._sandbox_description: dict = {"backend": "none"}
        self._preload = "import graders.checks, numpy" + (", torch" if any(
            "torch" in c.source for c in nb.cells if c.cell_type == "code") else "")
        try:
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            # kept in the autograded notebook: the grading report and feedback read it there
            nb.metadata["graders"] = {"incidents": list(self._incidents),
                                      "sandbox": self._sandbox_description,
                                      "seconds": round(time.monotonic() - started, 2)}
        return nb, resources

    def _timeout_for(self, cell) -> int:
        budget = self.check_timeout if is_autograder_tests(cell) else self.cell_timeout
        remaining = int(self._deadline - time.monotonic())
        return max(1, min(budget, remaining))

    # ------------------------------------------------------------------ per cell

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", f"cell {index}")
        if time.monotonic() >= self._deadline:
            cell.outputs = [error_output("SubmissionTimeLimit",
                                         f"not run: the notebook used its whole {self.submission_timeout} s budget")]
            self._incidents.append({"cell": grade_id, "kind": "not run (notebook time limit)"})
            return cell, resources
        if self._pristine is None:  # before any student code: what the checks rely on
            self._run_silently(self._preload, timeout=120)
            self._pristine = self._fingerprint() or {}
        if is_autograder_tests(cell) and self._pristine:
            now = self._fingerprint()
            changed = integrity.tampered(self._pristine, now) if now is not None else ["the kernel's introspection (json, sys or id)"]
            if changed:
                shown = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
                cell.outputs = [error_output("TamperDetected",
                                             f"not graded: code in this notebook replaced {shown}, which the checks rely on")]
                self._incidents.append({"cell": grade_id, "kind": "tampering", "changed": changed})
                return cell, resources
        self._output_bytes = 0
        self._output_truncated = False
        budget = self._timeout_for(cell)
        if is_autograder_tests(cell):
            # tracebacks in a tests cell would quote the hidden tests: type and message only
            self._run_silently("get_ipython().InteractiveTB.set_mode(mode='Minimal')")
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.outputs.append(error_output(
                "KernelDied", "the kernel died while running this cell (memory limit, os._exit or a crash); "
                              "the cells after it ran in a fresh kernel"))
            self._incidents.append({"cell": grade_id, "kind": "kernel died"})
            self._restart_and_replay()
            return cell, resources
        except CellTimeoutError:  # interrupted, but the kernel never came back to idle
            cell.outputs.append(error_output(
                TIMEOUT_ENAME, f"this cell ran longer than its {budget} s budget and ignored the interrupt; "
                               "the cells after it ran in a fresh kernel"))
            self._incidents.append({"cell": grade_id, "kind": f"timed out after {budget} s"})
            self._incidents.append({"cell": grade_id, "kind": "kernel restarted (ignored the interrupt)"})
            self._restart_and_replay()
            return cell, resources
        runaway = self._runaway_processes()  # a fork bomb: this cell is the culprit, not replayed
        if len(runaway) > self.max_processes:
            cell.outputs.append(error_output(
                "RunawayProcesses", f"this cell left {len(runaway)} processes running (a fork bomb?); they were "
                                    "stopped and the cells after it ran in a fresh kernel"))
            self._incidents.append({"cell": grade_id, "kind": f"{len(runaway)} runaway processes"})
            for process in runaway:  # forked copies of the kernel share its sockets: stop them first
                with contextlib.suppress(Exception):
                    process.kill()
            self._restart_and_replay()
            return cell, resources
        if any(o.get("output_type") == "error" and o.get("ename") == TIMEOUT_ENAME for o in cell.outputs):
            # keep what it printed, drop any score it displayed: a timed-out cell earns 0
            cell.outputs = [o for o in cell.outputs if o.get("output_type") == "stream"] + [error_output(
                TIMEOUT_ENAME, f"this cell ran longer than its {budget} s budget and was stopped")]
            self._incidents.append({"cell": grade_id, "kind": f"timed out after {budget} s"})
            if not self._kernel_answers():
                self._incidents.append({"cell": grade_id, "kind": "kernel restarted (ignored the interrupt)"})
                self._restart_and_replay()
            return cell, resources
        if not is_autograder_tests(cell):
            self._replay.append(cell.source)
        return cell, resources

    def _runaway_processes(self) -> list:
        """The processes below the kernel's launcher on this host (none known for docker or pods)."""
        import psutil

        pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
        if not pid:
            return []
        try:
            return psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            return []

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

    # ------------------------------------------------------------------ recovery

    def _fingerprint(self) -> dict | None:
        return run_sync(self._async_fingerprint)()

    async def _async_fingerprint(self) -> dict | None:
        msg_id = self.kc.execute("", silent=True, store_history=False, allow_stdin=False,
                                 user_expressions={"fp": integrity.fingerprint_expression()})
        try:
            reply = await asyncio.wait_for(self._async_reply_to(msg_id), timeout=30)
            result = reply["content"]["user_expressions"]["fp"]
            return integrity.parse(result["data"]["text/plain"]) if result.get("status") == "ok" else None
        except (asyncio.TimeoutError, KeyError, ValueError, SyntaxError):
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
        self._pristine = await self._async_fingerprint() or {}
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
