"""The sandbox interface."""

from __future__ import annotations

from pathlib import Path

from traitlets.config import LoggingConfigurable


class SandboxUnavailable(RuntimeError):
    """The host cannot provide this sandbox; the message says what to install or configure."""


class Sandbox(LoggingConfigurable):
    """Wraps a kernel command so that it runs confined to ``workdir``."""

    name = "none"

    def check(self) -> None:
        """Raise SandboxUnavailable, saying what to do, when this host cannot run the sandbox."""

    def prepare(self, workdir: Path, connection_file: Path) -> None:
        """Make ``workdir`` and the connection file usable by the sandboxed kernel."""

    def wrap(self, cmd: list[str], workdir: Path) -> list[str]:
        return cmd

    def runtime_root(self) -> Path | None:
        """Where connection files and IPC sockets go (None: the system's temporary folder)."""
        return None

    def processes(self, launcher_pid: int | None) -> list:
        """The kernel's processes on this host (psutil), to stop a fork bomb; none known: empty."""
        import psutil

        if not launcher_pid:
            return []
        try:
            return psutil.Process(launcher_pid).children(recursive=True)
        except psutil.Error:
            return []

    def seal(self, runtime_dir: Path) -> None:
        """The kernel is running and its sockets exist: take away what it no longer needs."""

    def cleanup(self, runtime_dir: Path) -> None:
        """After the kernel is gone (or killed with SIGKILL): remove what the backend left."""

    def environment(self) -> dict[str, str]:
        """Extra environment for the kernel (thread counts, HOME, ...)."""
        return {}

    def describe(self) -> dict[str, object]:
        """What this backend enforces, for reports and documentation."""
        return {"backend": self.name}


class NoSandbox(Sandbox):
    """nbgrader's behaviour: the kernel runs as the grader, with the grader's rights."""
