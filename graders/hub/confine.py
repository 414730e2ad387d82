"""Each person's server, and each course's formgrader, as an unprivileged account in a mount
namespace of its own (the embedded hub, run as root).

- **Accounts**: one Unix account per hub user, made by the hub (``useradd``, marked
  ``graders-hub`` in the comment field, password locked: nobody logs in to the machine with it).
  A name that belongs to an account the hub did not make is refused, so a roster entry such as
  ``root`` can never become a server running as root.
- **Confinement**: bubblewrap, run by the hub as root, builds a file system of only the system's
  programs, Python, the ``graders`` package and the account's own folders (read-write), then
  ``setpriv`` drops to the account (no capabilities, no new privileges) and ``prlimit`` caps its
  processes. Nothing else is mounted: not the course folder, not the hub's state, not the other
  homes, not ``/root``, ``/run`` or ``/var``. A new PID namespace shows the server its own
  processes only. The network is shared: the proxy must reach the server, and every service on
  127.0.0.1 (hub, proxy, other servers, formgrader, exchange) asks for a token.

The grading sandbox (graders.grading.sandbox.local) confines kernels during grading the same way,
with no network; this one is for servers that live for a session.
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from graders.grading.sandbox.root import Root

ACCOUNT_MARK = "graders-hub"
ACCOUNT_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
TOOLS = ("bwrap", "setpriv", "prlimit", "useradd")


def isolation_missing() -> list[str]:
    """What this machine lacks to give each person an account and a confined server."""
    missing = [] if os.geteuid() == 0 else ["root (the hub starts each server as its own account)"]
    for tool in TOOLS:
        if not any(Path(folder, tool).exists() for folder in ("/usr/bin", "/usr/sbin", "/bin", "/sbin")):
            missing.append(f"{tool} ({'apt-get install bubblewrap' if tool == 'bwrap' else 'util-linux/passwd'})")
    return missing


class AccountError(PermissionError):
    pass


def ensure_account(name: str) -> pwd.struct_passwd:
    """The hub's Unix account for hub user ``name``, made if missing."""
    if not ACCOUNT_NAME.fullmatch(name):
        raise AccountError(f"{name!r} cannot be a Unix account name (lower-case letters, digits, '-', '_'; "
                           "at most 32): rename them in the roster")
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        for attempt in range(20):      # useradd fails while another one holds /etc/passwd's lock
            made = subprocess.run(["useradd", "--comment", ACCOUNT_MARK, "--no-create-home", "--home-dir",
                                   "/nonexistent", "--shell", "/bin/bash", "--user-group", name],
                                  capture_output=True, text=True)
            if made.returncode in (0, 9):  # 9: made meanwhile by someone else
                break
            time.sleep(0.1 * (attempt + 1))
        else:
            raise AccountError(f"useradd {name} failed: {made.stderr.strip()}")
        account = pwd.getpwnam(name)
    if account.pw_gecos != ACCOUNT_MARK or account.pw_uid == 0:
        raise AccountError(f"an account {name!r} (uid {account.pw_uid}) exists on this machine that the hub did not "
                           "make: the hub never runs a server as somebody else's account; rename them in the roster")
    return account


@dataclass
class Confinement:
    """The command prefix that runs a program as ``uid`` in a file system of only what it needs."""

    uid: int
    gid: int
    writable: list[Path] = field(default_factory=list)
    readable: list[Path] = field(default_factory=list)
    workdir: Path | None = None
    own_pids: bool = True               # a PID namespace of its own (students); the formgrader keeps the
                                        # machine's, so that the grading sandbox can make one per kernel
    max_processes: int = 1024
    tmp_mb: int = 2048                  # /tmp and /dev/shm: memory-backed (DataLoader workers share tensors)

    def command(self) -> list[str]:
        root = Root("bwrap", made=("/tmp", "/dev"))
        args, made, parents = root.args, root.made, root.parents
        # a procfs of its own PID namespace, or the machine's unmasked one: the kernel lets the grading
        # sandbox mount a new procfs only where the current one hides nothing
        args += ["--dev", "/dev", *(["--proc", "/proc"] if self.own_pids else ["--bind", "/proc", "/proc"]),
                 "--ro-bind", "/sys", "/sys"]   # torch and the grading sandbox read /sys
        for device in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind", str(device), str(device)]
        args += ["--perms", "1777", "--size", str(self.tmp_mb * 2**20), "--tmpfs", "/tmp",
                 "--perms", "1777", "--size", str(self.tmp_mb * 2**20), "--tmpfs", "/dev/shm"]
        # /var/tmp as on any system: the formgrader's grading sandbox keeps its warm kernels' sockets there
        args += parents(Path("/var/tmp")) + ["--perms", "1777", "--size", str(self.tmp_mb * 2**20),
                                             "--tmpfs", "/var/tmp"]
        made.add(Path("/var/tmp"))
        root.read_only(self.readable)  # after the tmpfs mounts: a Python installed under /tmp stays visible
        for path in sorted(map(Path, self.writable), key=lambda p: len(p.parts)):
            args += parents(path) + ["--bind", str(path), str(path)]
            made.add(path)
        args += [*(["--unshare-pid"] if self.own_pids else []), "--unshare-ipc", "--unshare-uts",
                 "--unshare-cgroup-try", "--die-with-parent",
                 "--new-session", "--chdir", str(self.workdir or (self.writable[0] if self.writable else "/tmp"))]
        limits = ["prlimit", f"--nproc={self.max_processes}", "--"]
        drop = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--inh-caps=-all",
                "--no-new-privs", "--"]
        return args + ["--"] + limits + drop


def prepare_home(home: Path, account: pwd.struct_passwd) -> Path:
    """The account's own folder: made, its owner's, nobody else's."""
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, account.pw_uid, account.pw_gid)
    home.chmod(0o700)
    return home
