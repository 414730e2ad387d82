"""The embedded default: a kernel in its own namespaces, with limits, as an unprivileged user.

    bwrap   new mount, network, PID, IPC and UTS namespaces and a new session.  The kernel's
            file system is built from an allow-list: the system's programs and libraries
            (/usr, /etc, ...) and Python read-only, the ``graders`` package read-only, its own
            IPC sockets, and size-limited tmpfs for /tmp, /dev/shm and its working folder.
            Nothing else of the host exists in there: not the course folder (gradebook,
            source notebooks, submissions, the grading secret), not the homes, not /var or
            /run (so no host unix socket), and the only network is an unconfigured loopback.
    prlimit memory (address space), CPU seconds, processes, file size.
    setpriv an unprivileged uid/gid, one per grading worker (root only; without root bwrap
            maps the user into a user namespace instead).

Without bubblewrap (``apt-get install bubblewrap``) there is no local sandbox: grading refuses
to run student code unless told explicitly to grade unconfined (``sandbox = "none"``).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from traitlets import Bool, Int, List, Unicode

from . import zygote as zygote_module
from .base import Sandbox, SandboxUnavailable
from .root import Root, is_within


class LocalSandbox(Sandbox):
    name = "local"

    memory_mb = Int(6144, help="Address-space limit of the kernel (MiB)").tag(config=True)
    cpu_seconds = Int(900, help="CPU time limit of the kernel (s); past it the kernel is killed").tag(config=True)
    max_processes = Int(256, help="Processes and threads the sandbox user may run").tag(config=True)
    max_file_mb = Int(256, help="Largest file the kernel may write (MiB)").tag(config=True)
    base_uid = Int(61000, help="Kernels run as uids/gids from base_uid up (when root): a fresh one per kernel "
                               "start, so what one kernel left running never counts against the next"
                   ).tag(config=True)
    allow_network = Bool(False, help="Keep the host's network (for debugging only)").tag(config=True)
    tmp_mb = Int(256, help="Size of the kernel's /tmp and /dev/shm (tmpfs, MiB each)").tag(config=True)
    workdir_mb = Int(1024, help="Size of the kernel's working folder (tmpfs, MiB)").tag(config=True)
    extra_visible = List(Unicode(), help="Extra host folders the kernel may read (an offline dataset)").tag(config=True)
    course_root = Unicode("", help="The course folder (never mounted; kept for reports)").tag(config=True)
    warm = Bool(True, help="Fork each kernel from a warm zygote in the sandbox (graders.grading.sandbox.zygote) "
                           "instead of starting Python and importing torch for every notebook").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._starts = 0
        self.uid = self._next_uid()
        self.bwrap = shutil.which("bwrap")
        self.is_root = os.geteuid() == 0

    # ------------------------------------------------------------------ interface

    def check(self) -> None:
        missing = [tool for tool in ("prlimit",) if not shutil.which(tool)]
        if not self.bwrap:
            missing.append("bwrap (apt-get install bubblewrap)")
        if self.is_root and not shutil.which("setpriv"):
            missing.append("setpriv (util-linux)")
        if missing:
            raise SandboxUnavailable(
                "the local sandbox needs " + ", ".join(missing)
                + "; install them, or set c.SandboxedExecute.sandbox = 'none' to grade unconfined")

    def _next_uid(self) -> int:
        # 500 worker slots (by pid) x 20 successive kernels each: no two live kernels share a uid,
        # so the process limit of one (a fork bomb's leftovers) never starves another
        self._starts += 1
        return self.base_uid + (os.getpid() % 500) * 20 + self._starts % 20

    def prepare(self, workdir: Path, connection_file: Path) -> None:
        if self.warm:
            self.uid = self._zygote().uid  # its kernels run as the zygote's user
        else:
            self.uid = self._next_uid()
        if not self.is_root:
            return
        # the sandbox user writes in its own scratch folder and reads its connection file
        for path in (workdir, connection_file.parent):
            for root, dirs, files in os.walk(path):
                os.chown(root, self.uid, self.uid)
                for name in files:
                    os.chown(os.path.join(root, name), self.uid, self.uid)

    def wrap(self, cmd: list[str], workdir: Path) -> list[str]:
        self.check()
        if self.warm and "ipykernel_launcher" in cmd:
            argv = cmd[cmd.index("ipykernel_launcher") + 1:]
            return [sys.executable, "-I", "-S", zygote_module.__file__, "launch", self._zygote().socket,
                    json.dumps({"argv": argv, "cwd": str(WARM_WORKDIR)})]
        return self._sandboxed(cmd, workdir, self._runtime_of(cmd))

    def _runtime_of(self, cmd: list[str]) -> Path | None:
        runtime_dir = None
        for i, arg in enumerate(cmd):  # the connection file's folder holds the IPC sockets
            if arg.endswith(".json") and i > 0 and cmd[i - 1] == "-f":
                runtime_dir = Path(arg).parent
        return runtime_dir

    def _sandboxed(self, cmd: list[str], workdir: Path, runtime_dir: Path | None) -> list[str]:
        limits = ["prlimit", f"--as={self.memory_mb * 2**20}", f"--cpu={self.cpu_seconds}",
                  f"--nproc={self.max_processes}", f"--fsize={self.max_file_mb * 2**20}", "--"]
        user = (["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--"]
                if self.is_root else [])
        return self._bwrap(workdir, runtime_dir) + limits + user + cmd

    # ------------------------------------------------------------------ warm kernels

    def runtime_root(self) -> Path | None:
        """With warm kernels, each kernel's sockets live in the zygote's folder (mounted in its sandbox)."""
        return self._zygote().folder if self.warm else None

    def _zygote(self) -> "Zygote":
        key = (os.getpid(), self.memory_mb, self.cpu_seconds, self.max_processes, self.max_file_mb, self.tmp_mb,
               self.workdir_mb, self.allow_network, tuple(self.extra_visible))
        zygote = _ZYGOTES.get(key)
        if zygote is None or not zygote.alive():
            if zygote is not None:
                zygote.stop()
            self.uid = self._next_uid()
            zygote = _ZYGOTES[key] = Zygote(self)
        return zygote

    def processes(self, launcher_pid: int | None) -> list:
        """The kernel's processes on this host: with warm kernels, every process of the zygote's
        sandbox but the zygote (and bwrap's own); else the launcher's descendants."""
        if not self.warm:
            return super().processes(launcher_pid)
        zygote = _ZYGOTES.get(next((k for k in _ZYGOTES if k[0] == os.getpid()), None))
        return zygote.kernel_processes() if zygote is not None else []

    def seal(self, runtime_dir: Path) -> None:
        """Once the kernel has made its sockets, it may create nothing more in their folder."""
        if self.is_root:
            os.chown(runtime_dir, 0, self.uid)
            os.chmod(runtime_dir, 0o750)

    def environment(self) -> dict[str, str]:
        return {"HOME": "/tmp", "MPLCONFIGDIR": "/tmp/matplotlib", "JPY_PARENT_PID": ""}

    def describe(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "filesystem": f"system and Python read-only; tmpfs /tmp ({self.tmp_mb} MiB) and working folder "
                          f"({self.workdir_mb} MiB); no course, homes, /var or /run",
            "network": "host network" if self.allow_network else "none",
            "user": f"uid {self.uid}" if self.is_root else "user namespace",
            "memory_mb": self.memory_mb, "cpu_seconds": self.cpu_seconds,
            "max_processes": self.max_processes, "max_file_mb": self.max_file_mb,
        }

    # ------------------------------------------------------------------ bubblewrap

    def _bwrap(self, workdir: Path, runtime_dir: Path | None) -> list[str]:
        """Only what the kernel needs is mounted: the system's programs and libraries, Python,
        the ``graders`` package, its own sockets, and size-limited scratch space."""
        root = Root(self.bwrap)
        args, made, parents = root.args, root.made, root.parents
        args += ["--dev", "/dev", "--proc", "/proc", "--ro-bind", "/sys", "/sys"]
        for device in sorted(Path("/dev").glob("nvidia*")):  # the grading GPU, when there is one
            args += ["--dev-bind", str(device), str(device)]
        args += ["--perms", "1777", "--size", str(self.tmp_mb * 2**20), "--tmpfs", "/tmp",
                 "--perms", "1777", "--size", str(self.tmp_mb * 2**20), "--tmpfs", "/dev/shm"]
        made.update({Path("/tmp"), Path("/dev"), Path("/dev/shm")})
        # after the scratch tmpfs mounts: a Python or a course cloned under /tmp stays visible
        root.read_only(self.extra_visible)
        if runtime_dir is not None:
            args += parents(runtime_dir) + ["--bind", str(runtime_dir.resolve()), str(runtime_dir.resolve())]
        work = workdir.resolve()
        if runtime_dir is None or not is_within(work, runtime_dir.resolve()):
            args += parents(work)
        # the working folder is a tmpfs of its own: a quota, and nothing the grader reads later
        args += ["--perms", "0777", "--size", str(self.workdir_mb * 2**20), "--tmpfs", str(work)]
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                 "--die-with-parent", "--new-session", "--chdir", str(work),
                 # jupyter_client sets the grader's pid, which means nothing in a new PID namespace
                 "--unsetenv", "JPY_PARENT_PID"]
        if not self.allow_network:
            args += ["--unshare-net"]
        if not self.is_root:
            args += ["--unshare-user"]
        return args + ["--"]


WARM_PARENT = "/var/tmp"  # where the zygotes' socket folders are made on the host
WARM_WORKDIR = Path("/graders-kernel")  # inside a zygote's sandbox: the kernels' working folder (a tmpfs)
_ZYGOTES: dict[tuple, "Zygote"] = {}


class Zygote:
    """One warm-kernel zygote of this grading process, in its own sandbox."""

    def __init__(self, sandbox: LocalSandbox):
        self.uid = sandbox.uid
        # its kernels' socket folders: not under /tmp, which is the sandbox's own (emptied per kernel)
        self.folder = Path(tempfile.mkdtemp(prefix="graders-warm-", dir=WARM_PARENT))
        if sandbox.is_root:  # the sandbox's user makes its kernels' sockets here
            os.chown(self.folder, 0, self.uid)
            os.chmod(self.folder, 0o770)
        # the zygote's own socket: in a folder of the grader's that is not mounted in the sandbox
        # (no kernel can reach it); the zygote gets the listening socket as a descriptor
        self.control = Path(tempfile.mkdtemp(prefix="graders-zygote-"))
        self.socket = str(self.control / "zygote.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.socket)
        listener.listen(8)
        ready_read, ready_write = os.pipe()
        from ..warmups import chosen

        cmd = [sys.executable, "-I", "-m", "graders.grading.sandbox.zygote", "serve", str(listener.fileno()),
               str(ready_write), ",".join(chosen())]
        from .kernel import kernel_environment

        env = {**kernel_environment(), **sandbox.environment(), "JPY_PARENT_PID": ""}
        self.process = subprocess.Popen(sandbox._sandboxed(cmd, WARM_WORKDIR, self.folder), stdin=subprocess.PIPE,
                                        env={k: v for k, v in env.items() if v}, start_new_session=True,
                                        pass_fds=(listener.fileno(), ready_write))
        listener.close()
        os.close(ready_write)
        self.owner = os.getpid()
        ready = select.select([ready_read], [], [], 120)[0] and os.read(ready_read, 64)
        os.close(ready_read)
        if not ready:
            self.process.kill()
            raise SandboxUnavailable(f"the warm-kernel zygote did not start (exit code {self.process.poll()})")
        self._own_processes()  # before any kernel exists

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.process.poll() is None

    def _own_processes(self) -> set[int]:
        """bwrap, its init and the zygote (recorded once, by pid: a kernel can rename itself)."""
        import psutil

        if not hasattr(self, "_own"):
            inside = psutil.Process(self.process.pid).children(recursive=True)
            zygote = [p.pid for p in inside if "graders.grading.sandbox.zygote" in " ".join(p.cmdline())]
            init = [p.pid for p in inside if p.ppid() == self.process.pid]
            self._own = {self.process.pid, *zygote, *init}
        return self._own

    def kernel_processes(self) -> list:
        """Every process in the zygote's sandbox but its own: the kernel and what it started."""
        import psutil

        try:
            own = self._own_processes()
            return [p for p in psutil.Process(self.process.pid).children(recursive=True) if p.pid not in own]
        except psutil.Error:
            return []

    def stop(self) -> None:
        import shutil as _shutil

        try:
            if self.process.stdin:
                self.process.stdin.close()
            self.process.wait(5)
        except (subprocess.TimeoutExpired, OSError):
            self.process.kill()
        _shutil.rmtree(self.folder, ignore_errors=True)
        _shutil.rmtree(self.control, ignore_errors=True)
