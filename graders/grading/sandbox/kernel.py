"""A kernel manager that starts kernels through a sandbox and talks to them over IPC sockets.

Whatever the backend, the student's kernel gets:

* an environment built from an allow-list (``KERNEL_ENVIRONMENT``): no grading secret, no
  database URL, no credential of the grader's;
* a fresh, empty working folder of its own (``<runtime>/work``), never the autograded folder:
  no notebook (the restored one holds the hidden tests) and none of the files submitted
  beside it lie there;
* Python in isolated mode (``-I``): neither the working folder nor ``$PYTHONPATH`` nor the
  user's site-packages is on ``sys.path``, so a submitted ``numpy.py`` shadows nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import Any, DottedObjectName, Type

from .base import NoSandbox

#: variables the kernel inherits from the grader; everything else is dropped
KERNEL_ENVIRONMENT = (
    "PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "TZ",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
    "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "GRADERS_DEVICE",
    "GRADERS_PROJECT_TRACK",  # class09: the project track, the same in the kernel and in the checker
)


def kernel_environment(source: dict[str, str] | None = None) -> dict[str, str]:
    source = os.environ if source is None else source
    return {k: source[k] for k in KERNEL_ENVIRONMENT if source.get(k)}


class PromptKernelClient(AsyncKernelClient):
    """Ready as soon as the kernel answers on shell and IOPub.

    jupyter_client then waits until IOPub has been silent for 0.2 s, which is idle time at every
    kernel start; nbclient matches every message to its request, so a late status message of
    the ``kernel_info`` request is harmless and the wait buys nothing here.
    """

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                msg = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                pass
            else:
                if msg["msg_type"] == "kernel_info_reply":
                    try:  # IOPub connected: the request's status message came through
                        await self.iopub_channel.get_msg(timeout=0.2)
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(msg)
                        return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    wait_for_ready = _async_wait_for_ready  # what nbclient calls (the base class binds its own)


class SandboxedKernelManager(AsyncKernelManager):
    sandbox = Any(help="The Sandbox instance that wraps the kernel command")
    client_class = DottedObjectName(f"{__name__}.PromptKernelClient")
    client_factory = Type(PromptKernelClient, klass=AsyncKernelClient)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.sandbox is None:
            self.sandbox = NoSandbox()
        self._runtime_dir: Path | None = None
        self._workdir: Path | None = None

    @property
    def runtime_dir(self) -> Path | None:
        """The folder of the running kernel's connection file and sockets (new at each start)."""
        return self._runtime_dir

    async def _async_pre_start_kernel(self, **kw):
        # IPC sockets in a private folder: no TCP port, so the kernel needs no network at all
        root = self.sandbox.runtime_root()
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        self._runtime_dir = Path(tempfile.mkdtemp(prefix="graders-kernel-", dir=root))
        self.transport = "ipc"
        self.ip = str(self._runtime_dir / "ipc")
        self.connection_file = str(self._runtime_dir / "kernel.json")
        self._workdir = self._runtime_dir / "work"
        self._workdir.mkdir()
        # SIGINT to a wrapper would not reach the kernel: ask the kernel itself to interrupt
        self.kernel_spec.interrupt_mode = "message"
        env = kernel_environment()
        env.update({"HOME": str(self._workdir), "MPLCONFIGDIR": str(self._workdir / ".matplotlib")})
        env.update(self.sandbox.environment())
        kw["env"] = {k: v for k, v in env.items() if v != ""}
        kw["cwd"] = str(self._workdir)
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if len(cmd) > 2 and cmd[1] == "-m" and "python" in Path(cmd[0]).name:
            cmd = [cmd[0], "-I"] + cmd[1:]  # isolated: nothing of the working folder is importable
        self.sandbox.prepare(self._workdir, Path(self.connection_file))
        return self.sandbox.wrap(cmd, self._workdir)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        # the async manager calls this one directly (cleanup_resources is its sync wrapper)
        await super()._async_cleanup_resources(restart=restart)
        if self._runtime_dir is not None:  # each start makes a new one, restarts included
            self.sandbox.cleanup(self._runtime_dir)
            shutil.rmtree(self._runtime_dir, ignore_errors=True)  # never follows links planted there
            self._runtime_dir = None
