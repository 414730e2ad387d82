"""The Kubernetes tier: one Job per submission, the kernel in its own container of the pod.

A grading Job's pod has two containers sharing an ``emptyDir`` (``/shared``):

* ``grader`` — runs ``graders autograde ASSIGNMENT STUDENT`` with the course volume and the
  gradebook's credentials (PostgreSQL);
* ``kernel`` — the course's notebook image, non-root, read-only root, no service-account
  token, CPU/memory (and GPU) limits, no credentials, no course volume: it runs
  ``python -m graders.grading.sandbox.pod serve /shared/handoff`` and starts the kernels the
  grader asks for.

``PodSandbox`` is the grader's side: ``wrap`` turns the kernel command into a *launcher* that
hands the command over through a file in ``/shared/handoff``, waits for the kernel to exit,
and asks for a kill when jupyter_client stops it.  Connection files, IPC sockets and the
submission's scratch folder live under ``/shared``, so the two containers talk over unix
sockets, as the local backends do.  The same pair of processes runs on one machine in the
tests (``serve`` as a second local process).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from traitlets import Unicode

from .base import Sandbox

POLL_S = 0.05


class PodSandbox(Sandbox):
    name = "pod"

    handoff_dir = Unicode("/shared/handoff", help="Folder shared with the kernel container").tag(config=True)
    python = Unicode("python", help="The kernel container's Python").tag(config=True)

    def wrap(self, cmd: list[str], workdir: Path) -> list[str]:
        kernel_cmd = [self.python] + cmd[1:]
        return [sys.executable, "-m", "graders.grading.sandbox.pod", "launch", self.handoff_dir,
                json.dumps({"cmd": kernel_cmd, "cwd": str(workdir)})]

    def runtime_root(self) -> Path:
        return Path(self.handoff_dir).parent / "runtime"  # on the shared volume, beside handoff/

    def prepare(self, workdir: Path, connection_file: Path) -> None:
        Path(self.handoff_dir).mkdir(parents=True, exist_ok=True)
        for path in (workdir, connection_file.parent):  # the kernel container runs as another user
            path.chmod(0o777)

    def cleanup(self, runtime_dir: Path) -> None:
        """A launcher killed with SIGKILL (kernel restart) cannot ask for the kill: do it here."""
        for claimed in Path(self.handoff_dir).glob("*.claimed"):
            try:
                if str(runtime_dir) in claimed.read_text():
                    claimed.with_suffix(".kill").touch()
            except FileNotFoundError:
                pass

    def environment(self) -> dict[str, str]:
        return {"JPY_PARENT_PID": ""}

    def describe(self) -> dict[str, object]:
        return {"backend": self.name, "handoff": self.handoff_dir}


# ---------------------------------------------------------------- grader side: the launcher


def launch(handoff: Path, request: dict) -> int:
    """Ask the kernel container to run ``request``; behave like the kernel process itself."""
    job = handoff / uuid.uuid4().hex
    tmp = job.with_suffix(".tmp")
    tmp.write_text(json.dumps(request))
    tmp.rename(job.with_suffix(".start"))  # atomic: the server never sees half a request

    def stop(signum, frame):
        job.with_suffix(".kill").touch()
        deadline = time.monotonic() + 5
        while not job.with_suffix(".exit").exists() and time.monotonic() < deadline:
            time.sleep(POLL_S)
        sys.exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    while not job.with_suffix(".exit").exists():
        time.sleep(POLL_S)
    return int(job.with_suffix(".exit").read_text() or 1)


# ---------------------------------------------------------------- kernel container: the server


def serve(handoff: Path, once: bool = False, idle_exit_s: float | None = None) -> None:
    """Start each requested kernel, kill it on request, report its exit code."""
    running: dict[Path, subprocess.Popen] = {}
    last_activity = time.monotonic()
    while True:
        for start in sorted(handoff.glob("*.start")):
            claimed = start.with_suffix(".claimed")
            try:
                start.rename(claimed)
            except FileNotFoundError:
                continue
            request = json.loads(claimed.read_text())
            env = {k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"}
            running[claimed.with_suffix("")] = subprocess.Popen(
                request["cmd"], cwd=request.get("cwd") or None, env=env, start_new_session=True)
            last_activity = time.monotonic()
        for job, proc in list(running.items()):
            if job.with_suffix(".kill").exists() and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            code = proc.poll()
            if code is not None:
                job.with_suffix(".exit").write_text(str(code))
                del running[job]
                last_activity = time.monotonic()
        if once and not running:
            return
        if idle_exit_s is not None and not running and time.monotonic() - last_activity > idle_exit_s:
            return
        time.sleep(POLL_S)


def main(argv: list[str]) -> int:
    if argv[:1] == ["launch"]:
        return launch(Path(argv[1]), json.loads(argv[2]))
    if argv[:1] == ["serve"]:
        idle = float(argv[2]) if len(argv) > 2 else None
        serve(Path(argv[1]), idle_exit_s=idle)
        return 0
    print("usage: python -m graders.grading.sandbox.pod (launch HANDOFF REQUEST | serve HANDOFF [IDLE_S])",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
