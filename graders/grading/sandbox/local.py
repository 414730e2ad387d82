"""The embedded default: a kernel in its own namespaces, with limits, as an unprivileged user.

    bwrap   new mount, network, PID and IPC namespaces: the file system is read-only, the
            course folder (gradebook, source notebooks, other submissions, the grading
            secret file), home folders and /tmp are hidden behind empty tmpfs mounts, and
            only the Python installation, the ``graders`` package and the submission's own
            scratch folder are mounted back (the scratch folder writable); no network
            interface but an unconfigured loopback.
    prlimit memory (address space), CPU seconds, processes, file size.
    setpriv an unprivileged uid/gid, one per grading worker (root only; without root bwrap
            maps the user into a user namespace instead).

Without bubblewrap (``apt-get install bubblewrap``) it falls back to ``unshare --net`` plus
the same limits and user, and says that the file system is then not hidden.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from traitlets import Bool, Int, List, Unicode

from .base import Sandbox, SandboxUnavailable


def _graders_package_dir() -> Path:
    import graders

    return Path(graders.__file__).resolve().parent


class LocalSandbox(Sandbox):
    name = "local"

    memory_mb = Int(6144, help="Address-space limit of the kernel (MiB)").tag(config=True)
    cpu_seconds = Int(900, help="CPU time limit of the kernel (s); past it the kernel is killed").tag(config=True)
    max_processes = Int(256, help="Processes and threads the sandbox user may run").tag(config=True)
    max_file_mb = Int(256, help="Largest file the kernel may write (MiB)").tag(config=True)
    base_uid = Int(61000, help="Worker k runs kernels as uid/gid base_uid + k (when root)").tag(config=True)
    allow_network = Bool(False, help="Keep the host's network (for debugging only)").tag(config=True)
    hidden_paths = List(Unicode(), help="Extra folders to hide (the course folder, homes and /tmp always are)").tag(config=True)
    course_root = Unicode("", help="The course folder, hidden from the kernel").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.uid = self.base_uid + (os.getpid() % 1000)
        self.bwrap = shutil.which("bwrap")
        self.is_root = os.geteuid() == 0

    # ------------------------------------------------------------------ interface

    def check(self) -> None:
        missing = [tool for tool in ("prlimit",) if not shutil.which(tool)]
        if not self.bwrap and not (self.is_root and shutil.which("unshare")):
            missing.append("bwrap (apt-get install bubblewrap)")
        if self.is_root and not shutil.which("setpriv"):
            missing.append("setpriv (util-linux)")
        if missing:
            raise SandboxUnavailable(
                "the local sandbox needs " + ", ".join(missing)
                + "; install them, or set c.SandboxedExecute.sandbox = 'none' to grade unconfined")

    def prepare(self, workdir: Path, connection_file: Path) -> None:
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
        runtime_dir = None
        for i, arg in enumerate(cmd):  # the connection file's folder holds the IPC sockets
            if arg.endswith(".json") and i > 0 and cmd[i - 1] == "-f":
                runtime_dir = Path(arg).parent
        limits = ["prlimit", f"--as={self.memory_mb * 2**20}", f"--cpu={self.cpu_seconds}",
                  f"--nproc={self.max_processes}", f"--fsize={self.max_file_mb * 2**20}", "--"]
        user = (["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--"]
                if self.is_root else [])
        if self.bwrap:
            return self._bwrap(workdir, runtime_dir) + limits + user + cmd
        if self.is_root:
            self.log.warning("bubblewrap not found: the kernel runs without network and with limits, "
                             "but sees the file system (apt-get install bubblewrap)")
            net = [] if self.allow_network else ["unshare", "--net", "--"]
            return net + limits + user + cmd
        raise SandboxUnavailable("without root the local sandbox needs bubblewrap (apt-get install bubblewrap)")

    def environment(self) -> dict[str, str]:
        return {"HOME": "/tmp", "MPLCONFIGDIR": "/tmp/matplotlib", "JPY_PARENT_PID": ""}

    def describe(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "filesystem": "course folder, homes and /tmp hidden; read-only elsewhere" if self.bwrap else "visible (no bubblewrap)",
            "network": "host network" if self.allow_network else "none",
            "user": f"uid {self.uid}" if self.is_root else "user namespace" if self.bwrap else "the grader's",
            "memory_mb": self.memory_mb, "cpu_seconds": self.cpu_seconds,
            "max_processes": self.max_processes, "max_file_mb": self.max_file_mb,
        }

    # ------------------------------------------------------------------ bubblewrap

    def _bwrap(self, workdir: Path, runtime_dir: Path | None) -> list[str]:
        hidden = {Path("/tmp"), Path("/var/tmp"), Path("/root"), Path("/home"), Path.home()}
        if self.course_root:
            hidden.add(Path(self.course_root).resolve())
        checkout = _graders_package_dir().parent  # an editable install lives in a course checkout
        if (checkout / "source").is_dir():
            hidden.add(checkout)
        hidden.update(Path(p).resolve() for p in self.hidden_paths)
        visible = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
                   Path(sys.executable).resolve().parent, _graders_package_dir()}
        writable = {workdir.resolve()} | ({runtime_dir.resolve()} if runtime_dir else set())
        args = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        for path in sorted(hidden, key=lambda p: len(p.parts)):
            if path.exists() and path != Path("/"):
                args += ["--perms", "1777", "--tmpfs", str(path)]
        made: set[Path] = set()

        def mount_point(path: Path) -> list[str]:
            # bwrap makes missing mount points 0700: make them traversable for the sandbox user
            out = []
            for folder in reversed(path.parents):
                if any(_is_within(folder, h) and folder != h for h in hidden) and folder not in made:
                    made.add(folder)
                    out += ["--perms", "0755", "--dir", str(folder)]
            return out

        for path in sorted(visible, key=lambda p: len(p.parts)):
            if path.exists() and any(_is_within(path, h) for h in hidden):
                args += mount_point(path) + ["--ro-bind", str(path), str(path)]
        for path in sorted(writable, key=lambda p: len(p.parts)):
            args += mount_point(path) + ["--bind", str(path), str(path)]
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
                 "--chdir", str(workdir.resolve()), "--unsetenv", "JPY_PARENT_PID"]
        if not self.allow_network:
            args += ["--unshare-net"]
        if not self.is_root:
            args += ["--unshare-user"]
        return args + ["--"]


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False
