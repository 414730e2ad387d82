"""The checker: where the tests cells run while grading, in a process with no student code.

Each graded notebook gets a fresh checker process.  It receives the notebook's trusted cells
from the grader — the locked cells (imports, data) and the tests cells, visible and hidden, as
the gradebook holds them — and runs them in its own IPython shell, with the grading secret of
this assignment.  Names those cells take from the student's notebook (``predict``, ``model``)
are fetched from the student's kernel over the data-only channel (``graders.remote``): values
as data, everything else as handles whose calls run over there.  The score of each tests cell
is computed here and handed to the grader through a connection the student's code cannot
reach; nbgrader reads it from the output the grader writes.

    grader (SandboxedExecute)  --pipe-->  checker  --unix socket-->  student's kernel (sandbox)
         writes the score                 runs the tests             answers with data

Checkers start warm: a small server process (``python -m graders.grading.checker_server``)
imports torch, numpy, matplotlib and the check library once, then forks one checker per
notebook on request, so a checker costs milliseconds, not an interpreter start.  The server
lives as long as the grading process that started it; forked grading workers share it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Optional

SERVER_ENV = "GRADERS_CHECKER_SERVER"
#: the grader's variables the checkers must not inherit (they get the assignment's own secret)
PRIVATE_ENV = ("GRADERS_SECRET", "GRADERS_DB_URL")


@dataclass
class CellOutcome:
    """What the checker says about one tests cell."""

    score: Optional[float]                   # None: the cell could not be checked (error says why)
    points: float
    text: str = ""                           # the report printed for the student
    checks: list[dict] = field(default_factory=list)
    error: Optional[str] = None
    kernel_busy: bool = False                # the student's kernel is still running a call
    seconds: float = 0.0


_server: Optional[subprocess.Popen] = None
_server_owner = 0  # the pid that started it (forked workers see the path, not the process)
_server_path = ""
_server_warm_ups: set[str] = set()


def ensure_server(timeout: float = 120.0) -> str:
    """The path of a running checker server's socket, starting one if this process has none
    (or has one without the warm-ups this process chose since: ``graders.grading.warmups``)."""
    global _server, _server_owner, _server_path, _server_warm_ups
    from .warmups import chosen

    warm_ups = chosen()
    ours = _server is not None and _server_owner == os.getpid() and _server.poll() is None
    if ours and not set(warm_ups) <= _server_warm_ups:  # warmed for other notebooks: a new one
        _server.stdin.close()
        os.environ.pop(SERVER_ENV, None)
        ours, _server = False, None
    if ours and Path(_server_path).exists():  # ours, even if the environment lost its path
        os.environ[SERVER_ENV] = _server_path
        return _server_path
    path = os.environ.get(SERVER_ENV)
    alive = _server is None or _server_owner != os.getpid() or _server.poll() is None
    if path and Path(path).exists() and alive:
        return path
    folder = tempfile.mkdtemp(prefix="graders-checkers-")  # 0700: the grader's user only
    path = os.path.join(folder, "server.sock")
    env = {k: v for k, v in os.environ.items() if k not in PRIVATE_ENV}
    _server = subprocess.Popen([sys.executable, "-m", "graders.grading.checker_server", path, ",".join(warm_ups)],
                               stdin=subprocess.PIPE, env=env, start_new_session=True)
    _server_owner, _server_warm_ups = os.getpid(), set(warm_ups)
    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        if _server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the checker server did not start (exit code {_server.poll()})")
        time.sleep(0.05)
    os.environ[SERVER_ENV] = _server_path = path  # workers forked from here use the same server
    return path


class Checker:
    """The grader's handle on one checker process."""

    def __init__(self, secret: str, connect_timeout: float = 30.0):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(ensure_server())
        self.conn = Connection(sock.detach())
        self.conn.send({"secret": secret, "connect_timeout": connect_timeout})
        hello = self.receive(60)
        if not isinstance(hello, dict) or "pid" not in hello:
            raise RuntimeError("the checker server did not start a checker")
        self.pid = int(hello["pid"])

    def send(self, message: dict) -> None:
        self.conn.send(message)

    def receive(self, timeout: float) -> Optional[Any]:
        """The next message, or None when the checker did not answer in time (or died)."""
        try:
            if self.conn.poll(timeout):
                return self.conn.recv()
        except (EOFError, OSError):
            pass
        return None

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.send({"op": "exit"})
            if self.conn.poll(2):  # it closes its end as it exits
                with contextlib.suppress(EOFError, OSError):
                    self.conn.recv()
        with contextlib.suppress(Exception):
            os.kill(self.pid, signal.SIGKILL)  # a hung checker (its server reaps it)
        with contextlib.suppress(Exception):
            self.conn.close()
