"""A kernel manager that starts kernels through a sandbox and talks to them over IPC sockets."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Any

from .base import NoSandbox


class SandboxedKernelManager(AsyncKernelManager):
    sandbox = Any(help="The Sandbox instance that wraps the kernel command")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.sandbox is None:
            self.sandbox = NoSandbox()
        self._runtime_dir: Path | None = None
        self._workdir: Path | None = None

    async def _async_pre_start_kernel(self, **kw):
        # IPC sockets in a private folder: no TCP port, so the kernel needs no network at all
        root = self.sandbox.runtime_root()
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        self._runtime_dir = Path(tempfile.mkdtemp(prefix="graders-kernel-", dir=root))
        self.transport = "ipc"
        self.ip = str(self._runtime_dir / "ipc")
        self.connection_file = str(self._runtime_dir / "kernel.json")
        self._workdir = Path(kw.get("cwd") or os.getcwd())
        # SIGINT to a wrapper would not reach the kernel: ask the kernel itself to interrupt
        self.kernel_spec.interrupt_mode = "message"
        env = dict(kw.get("env") or os.environ)
        env.update(self.sandbox.environment())
        env = {k: v for k, v in env.items() if v != ""}
        kw["env"] = env
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        self.sandbox.prepare(self._workdir, Path(self.connection_file))
        return self.sandbox.wrap(cmd, self._workdir)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        # the async manager calls this one directly (cleanup_resources is its sync wrapper)
        await super()._async_cleanup_resources(restart=restart)
        if self._runtime_dir is not None:  # each start makes a new one, restarts included
            self.sandbox.cleanup(self._runtime_dir)
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
            self._runtime_dir = None
