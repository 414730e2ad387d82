"""Warm kernels: a zygote in the sandbox forks a fresh kernel for each notebook.

Starting Python, importing torch, numpy, matplotlib and ipykernel costs seconds per kernel.
Each grading worker keeps one *zygote*: a process inside its own bubblewrap sandbox (the same
mounts, limits and unprivileged user as any kernel) that has imported all that once and never
runs student code.  For each kernel it is asked for, it

1. kills every other process of the sandbox's user (whatever the previous kernel left behind:
   a fork bomb's children, a daemon thread's process) and empties /tmp, /dev/shm and the
   working folder (tmpfs, with their quotas);
2. forks: the child is the new kernel (``IPKernelApp`` on the given connection file), a fresh
   process that no other submission has touched — its memory is the zygote's, copied on write.

The zygote is not dumpable (``PR_SET_DUMPABLE`` 0): kernels run as the same user but can neither
trace it nor read its memory; killing it only kills one's own kernel (the next one starts a new
zygote).  jupyter_client starts ``python -I -S .../zygote.py launch SOCKET REQUEST`` in place of
the kernel: the launcher asks the zygote for a kernel, waits for it, and when the
launcher is killed (a restart, a shutdown) its connection closes and the zygote kills that kernel.
Interrupts go to the kernel as messages (``interrupt_mode = "message"``).
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import stat
import sys

#: what kernels would import anyway, imported once in the zygote
PRELOAD = ("numpy", "torch", "matplotlib", "matplotlib.pyplot", "matplotlib_inline.backend_inline",
           "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "IPython",
           "IPython.core.magics.execution", "IPython.core.magics.pylab", "sqlite3", "PIL.PngImagePlugin",
           "graders.checks", "graders.data", "graders.remote.server")
#: costly modules, imported only when the graded notebooks use them (``graders.grading.warmups``)
WARM_UPS = ("sklearn",)
#: emptied before each kernel (the sandbox's tmpfs mounts)
SCRATCH = ("/tmp", "/dev/shm", "/graders-kernel")  # local.WARM_WORKDIR


def warm_torch() -> None:
    """What torch imports lazily on first use and every training notebook pays: the first
    optimizer pulls in torch._dynamo (a second of CPU).  Nothing is left behind: no thread, no
    CUDA context (a forked child could not use one)."""
    try:
        import torch

        torch.optim.Adam([torch.zeros(1, requires_grad=True)]).step()
    except Exception:  # noqa: BLE001 - warming is an optimisation, never a requirement
        pass


def warm_matplotlib() -> None:
    """A first figure loads fonts and builds the mathtext parser (about 0.3 s): drawn once here,
    off-screen and without pyplot, so the kernel's inline backend is still its own choice."""
    try:
        import io

        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(2, 2))
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.plot([0, 1], [0, 1], label="$x^2$")
        axes.set_title(r"$\alpha$ warm")
        axes.legend()
        figure.tight_layout()
        figure.savefig(io.BytesIO(), format="png")
    except Exception:  # noqa: BLE001 - warming is an optimisation, never a requirement
        pass


def warm_ups_from(text: str | None) -> tuple[str, ...]:
    """The warm-ups named in ``text`` (comma-separated: ``GRADERS_WARM_UPS``, the servers'
    argument); None: all of them."""
    return WARM_UPS if text is None else tuple(w for w in WARM_UPS if w in text.split(","))


def _set_dumpable(flag: bool) -> None:
    import ctypes

    PR_SET_DUMPABLE = 4
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, int(flag), 0, 0, 0)


def _empty(folder: str) -> bool:
    """Remove everything in ``folder`` without crossing into another mount; True when empty."""
    try:
        device = os.lstat(folder).st_dev
        stack = [(os.path.join(folder, name), False) for name in os.listdir(folder)]
    except OSError:
        return False
    mounts: set[str] = set()
    while stack:  # iterative: a tree a kernel made as deep as it liked must not overflow the stack
        path, emptied = stack.pop()
        try:
            st = os.lstat(path)
            if st.st_dev != device:
                mounts.add(path)  # a mount point (Python cloned under /tmp): never ours to empty
                continue
            if not stat.S_ISDIR(st.st_mode):
                os.unlink(path)
            elif emptied:
                os.rmdir(path)
            else:
                try:  # a folder the kernel locked: its own, so it can be opened again
                    os.chmod(path, 0o700)
                except OSError:
                    pass  # not the kernel's: the sandbox's own, above a mount point
                stack.append((path, True))
                stack.extend((os.path.join(path, name), False) for name in os.listdir(path))
        except OSError:
            continue
    return _only_mounts_left(folder, mounts)


def _only_mounts_left(folder: str, mounts: set[str]) -> bool:
    """Nothing is left in ``folder`` but the sandbox's own mount points and the folders above them."""
    above: set[str] = set()
    for m in mounts:
        parent = os.path.dirname(m)
        while parent.startswith(folder.rstrip(os.sep) + os.sep):
            above.add(parent)
            parent = os.path.dirname(parent)
    stack = [folder]
    try:
        while stack:
            current = stack.pop()
            for name in os.listdir(current):
                path = os.path.join(current, name)
                if path in mounts:
                    continue
                if path not in above:
                    return False
                stack.append(path)
    except OSError:
        return False
    return True


def _clear_the_sandbox() -> None:
    """Nothing of the previous kernel survives: its processes, its files."""
    if inside_its_sandbox():  # checked at start; checked again before anything irreversible
        raise SystemExit("graders zygote: not inside its sandbox")
    import time

    deadline = time.monotonic() + 10
    while True:  # a fork bomb forks while it is being killed: again until nothing is left
        try:
            os.kill(-1, signal.SIGKILL)  # every process this user may signal but ourselves (and pid 1)
        except ProcessLookupError:
            break
        while True:  # reap our own children among them
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if time.monotonic() > deadline:
            raise SystemExit("graders zygote: the previous kernel's processes would not die")
        time.sleep(0.01)
    for folder in SCRATCH:
        if not _empty(folder):  # what cannot be removed could reach the next kernel: start over
            raise SystemExit(f"graders zygote: could not empty {folder}")


def _fork_kernel(request: dict, keep: set[int]) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:  # the kernel
        os.setsid()
        _set_dumpable(True)
        os.closerange(3, 65536)  # nothing of the zygote's: no listener, no other connection
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        os.chdir(request.get("cwd") or SCRATCH[-1])
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in (request.get("env") or {}).items()})
        sys.argv = ["ipykernel_launcher", *[str(a) for a in request["argv"]]]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        os._exit(0)
    except BaseException:  # noqa: BLE001 - whatever happens, never return into the zygote's loop
        os._exit(1)


def inside_its_sandbox() -> str | None:
    """Why this process is NOT where a zygote may run (None: it is).

    A zygote kills every process its user may signal and empties /tmp before each kernel: only
    ever inside its own sandbox, as an unprivileged user, in a PID namespace of its own, with
    tmpfs scratch folders.  Anywhere else it refuses to start.
    """
    if os.getuid() == 0 or os.geteuid() == 0:
        return "it runs as root"
    try:
        with open("/proc/1/comm") as fh:
            init = fh.read().strip()
    except OSError:
        init = ""
    if init != "bwrap":
        return f"process 1 is {init!r}, not bubblewrap's: this is not a sandbox's PID namespace"
    mounts = {}
    try:
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                fields = line.split()
                separator = fields.index("-")
                mounts[fields[4]] = fields[separator + 1]
    except (OSError, ValueError):
        pass
    for folder in SCRATCH:
        if mounts.get(folder) != "tmpfs":
            return f"{folder} is not a tmpfs of the sandbox"
    return None


def serve(listen_fd: int, ready_fd: int, warm_ups: tuple[str, ...] = WARM_UPS) -> None:
    """The zygote: fork a kernel per request accepted on ``listen_fd``, until stdin closes.
    ``warm_ups``: the costly ones the graded notebooks use (``graders.grading.warmups``).

    The listening socket is the grader's, passed in as a descriptor: its path lies in a folder
    of the grader's that is not mounted in the sandbox, so no kernel can reach the zygote.
    """
    import importlib

    refused = inside_its_sandbox()
    if refused:
        raise SystemExit(f"graders zygote: refusing to run: {refused}")

    for module in PRELOAD + warm_ups:
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    warm_torch()
    warm_matplotlib()
    gc.freeze()  # the preloaded modules are never collected in a kernel: no scan, no copy-on-write
    _set_dumpable(False)
    listener = socket.socket(fileno=listen_fd)
    os.write(ready_fd, b"ready\n")  # imports done: the grader may send kernels now
    os.close(ready_fd)
    kernels: dict[socket.socket, int] = {}  # launcher connection -> its kernel's pid
    while True:
        watched = [listener, sys.stdin, *kernels]
        ready, _, _ = select.select(watched, [], [], 0.2)
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 4096):
            break  # the grader is gone: so are we (and bwrap takes the sandbox down)
        for conn, pid in list(kernels.items()):  # kernels that exited: tell their launcher
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                code = os.waitstatus_to_exitcode(status) if done == pid and status else 0
                _say(conn, {"exit": code})
                conn.close()
                del kernels[conn]
        for conn in [c for c in ready if c in kernels]:  # a launcher hung up: its kernel goes too
            if not conn.recv(4096):
                pid = kernels.pop(conn)
                _kill_group(pid)
                conn.close()
        if listener in ready:
            conn, _ = listener.accept()
            request = _read(conn)
            if not request or request.get("op") != "start":
                conn.close()
                continue
            for other_conn, other in list(kernels.items()):  # one kernel at a time per worker
                _kill_group(other)
                _say(other_conn, {"exit": -9})
                other_conn.close()
                del kernels[other_conn]
            _clear_the_sandbox()
            pid = _fork_kernel(request, set())
            kernels[conn] = pid
            _say(conn, {"pid": pid})
    listener.close()


def _kill_group(pid: int) -> None:
    for target in (-pid, pid):
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _say(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass


def _read(conn: socket.socket) -> dict | None:
    data = b""
    conn.settimeout(10)
    try:
        while not data.endswith(b"\n") and len(data) < 1 << 20:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        conn.settimeout(None)
        value = json.loads(data or b"null")
        return value if isinstance(value, dict) else None
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- the launcher (grader's side)


def launch(path: str, request: dict) -> int:
    """Stand in for the kernel: ask the zygote for one, exit with its exit code.

    Run as a script (``python -I -S .../zygote.py``): standard library only, so that it starts
    in milliseconds, once per kernel."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError as exc:
        raise SystemExit(f"graders: the warm-kernel zygote at {path} does not answer ({exc})") from None
    env = {k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"}
    conn.sendall(json.dumps({"op": "start", **request, "env": env}).encode() + b"\n")

    def stop(signum, frame):  # closing the connection is how the kernel is stopped
        conn.close()
        os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    buffer = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return 1  # the zygote died (killed by a student's code, say): the kernel is gone too
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            message = json.loads(line)
            if "exit" in message:
                return int(message["exit"])


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        serve(int(argv[1]), int(argv[2]), warm_ups_from(argv[3] if len(argv) > 3 else None))
        return 0
    if argv[:1] == ["launch"]:
        return launch(argv[1], json.loads(argv[2]))
    print("usage: python -m graders.grading.sandbox.zygote "
          "(serve LISTEN_FD READY_FD [WARM_UPS] | launch SOCKET REQUEST)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
