"""Throwaway services on this machine, for the tests and ``graders bench --engine slurm``.

- ``throwaway_postgres()``: a PostgreSQL cluster in a temporary folder (Debian's postgresql);
- ``OneNodeSlurm``: a Slurm cluster of one node, this machine, with its cores and memory:
  ``munged`` with its own key, ``slurmctld``, ``slurmd`` and, for ``sacct``, ``slurmdbd`` on a
  MariaDB of its own (Debian's slurm-wlm, slurmdbd, munge, mariadb-server). It needs root, as
  ``slurmd`` does. Clients find it through ``$SLURM_CONF``, which ``start()`` sets.

Nothing listens beyond 127.0.0.1; everything lives in one temporary folder, removed on stop.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

SLURM_PACKAGES = "slurm-wlm slurmdbd munge mariadb-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(check, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if check():
                return
        time.sleep(0.1)
    tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
    raise TimeoutError(f"{what} did not come up within {timeout:.0f} s{': ' + tail if tail else ''}")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def pg_binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1 for the duration; yields its URL (trust authentication)."""
    initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
    if not (initdb and pg_ctl):
        raise FileNotFoundError("PostgreSQL server binaries not installed (apt-get install postgresql)")
    home = Path(tempfile.mkdtemp(prefix="graders-pg-"))
    as_postgres = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: its folder belongs to the postgres user
        user = pwd.getpwnam("postgres")
        os.chown(home, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = home / "data", free_port()
    try:
        subprocess.run(as_postgres + [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True)
        subprocess.run(as_postgres + [pg_ctl, "-D", str(data), "-w", "-l", str(home / "pg.log"), "-o",
                                      f"-p {port} -h 127.0.0.1 -k {home} -c max_connections=200", "start"],
                       check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_postgres + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def fresh_database(server_url: str, name: str) -> str:
    """A new, empty database ``name`` on the PostgreSQL server at ``server_url``; its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def missing_slurm() -> str | None:
    """Why a one-node cluster cannot start here, or None."""
    if os.geteuid() != 0:
        return "a one-node Slurm cluster needs root (slurmd runs jobs as their users)"
    needed = ["munged", "slurmctld", "slurmd", "slurmdbd", "sbatch", "sacct", "sacctmgr", "mariadbd",
              "mariadb-install-db", "mariadb"]
    missing = [name for name in needed if shutil.which(name) is None and not Path("/usr/sbin", name).exists()]
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install {SLURM_PACKAGES})"
    return None


def _sbin(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


@dataclass
class OneNodeSlurm:
    """``with OneNodeSlurm() as cluster:`` a cluster named ``graders`` whose one node, ``localhost``,
    has this machine's cores, its memory less 1 GB, and ``gpus`` pretend GPUs (gres/gpu backed by
    /dev/null: Slurm schedules and accounts them; nothing computes on them)."""

    gpus: int = 1
    folder: Path | None = None
    env: dict = field(default_factory=dict)
    _pids: dict = field(default_factory=dict)
    _mariadbd: subprocess.Popen | None = None
    _saved_conf: str | None = None

    node = "localhost"
    cluster = "graders"

    @property
    def cpus(self) -> int:
        return os.cpu_count() or 1

    def start(self, timeout: float = 60.0) -> "OneNodeSlurm":
        why = missing_slurm()
        if why:
            raise RuntimeError(why)
        self.folder = Path(tempfile.mkdtemp(prefix="graders-slurm-"))
        os.chmod(self.folder, 0o755)   # job users (the hub test's student) read slurm.conf here
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        f = self.folder
        ports = {name: free_port() for name in ("ctld", "slurmd", "dbd", "mysql")}
        # munge: its own key and socket, so it touches nothing of a system munged
        subprocess.run([_sbin("mungekey"), "--create", f"--keyfile={f}/munge.key"], check=True, capture_output=True)
        munge = f / "munge.sock"
        subprocess.run([_sbin("munged"), "--force", f"--socket={munge}", f"--key-file={f}/munge.key",
                        f"--log-file={f}/munged.log", f"--pid-file={f}/munged.pid", f"--seed-file={f}/munged.seed"],
                       check=True, capture_output=True)
        self._pids["munged"] = f / "munged.pid"
        # MariaDB for slurmdbd: runs as mysql, in folders of its own
        mysql = pwd.getpwnam("mysql")
        db = f / "mysql"
        db.mkdir()
        os.chown(db, mysql.pw_uid, mysql.pw_gid)
        subprocess.run(["mariadb-install-db", "--user=mysql", f"--datadir={db}/data", "--skip-test-db",
                        "--auth-root-authentication-method=socket"], check=True, capture_output=True)
        password = secrets.token_hex(12)
        with open(f / "mysql.log", "ab") as log:
            self._mariadbd = subprocess.Popen([_sbin("mariadbd"), "--no-defaults", "--user=mysql", f"--datadir={db}/data",
                              f"--socket={db}/mysql.sock", f"--port={ports['mysql']}", "--bind-address=127.0.0.1",
                              f"--pid-file={db}/mysql.pid", "--innodb-buffer-pool-size=32M",
                              "--innodb-lock-wait-timeout=900"],
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for(lambda: (db / "mysql.sock").exists() and _listening(ports["mysql"]), timeout, "MariaDB",
                  f / "mysql.log")
        subprocess.run(["mariadb", f"--socket={db}/mysql.sock", "-u", "root", "-e",
                        f"CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{password}'; "
                        "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"], check=True, capture_output=True)
        common = [f"AuthType=auth/munge", f"AuthInfo=socket={munge}", "SlurmUser=root"]
        dbd_conf = f / "slurmdbd.conf"
        dbd_conf.write_text("\n".join(common + [
            "DbdHost=localhost", "DbdAddr=127.0.0.1", f"DbdPort={ports['dbd']}",
            "StorageType=accounting_storage/mysql", "StorageHost=127.0.0.1", f"StoragePort={ports['mysql']}",
            "StorageUser=slurm", f"StoragePass={password}", "StorageLoc=slurm_acct_db",
            f"PidFile={f}/slurmdbd.pid", f"LogFile={f}/slurmdbd.log"]) + "\n")
        dbd_conf.chmod(0o600)   # slurmdbd refuses a readable one: it holds the database password
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 - 1024
        conf = f / "slurm.conf"
        conf.write_text("\n".join(common + [
            f"ClusterName={self.cluster}", "SlurmctldHost=localhost(127.0.0.1)",
            f"SlurmctldPort={ports['ctld']}", f"SlurmdPort={ports['slurmd']}", "CredType=cred/munge",
            "SlurmdUser=root", f"StateSaveLocation={f}/state", f"SlurmdSpoolDir={f}/spool",
            f"SlurmctldPidFile={f}/slurmctld.pid", f"SlurmdPidFile={f}/slurmd.pid",
            f"SlurmctldLogFile={f}/slurmctld.log", f"SlurmdLogFile={f}/slurmd.log",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory", "ReturnToService=2",
            "JobAcctGatherType=jobacct_gather/linux", "AccountingStorageType=accounting_storage/slurmdbd",
            f"AccountingStorageHost=127.0.0.1", f"AccountingStoragePort={ports['dbd']}",
            f"AccountingStoragePass={munge}",       # the munge socket for slurmdbd (sacct, sacctmgr)
            "AccountingStorageTRES=gres/gpu", "GresTypes=gpu", "KillWait=5", "MinJobAge=300",
            "DefMemPerCPU=1024",                    # a job that names no memory does not take the node's
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={memory_mb}"
            + (f" Gres=gpu:{self.gpus}" if self.gpus else "") + " State=UNKNOWN",
            f"PartitionName=grading Nodes={self.node} Default=YES MaxTime=INFINITE State=UP"]) + "\n")
        conf.chmod(0o644)
        fake_cards = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"][:self.gpus]
        (f / "gres.conf").write_text("".join(f"NodeName={self.node} Name=gpu File={card}\n" for card in fake_cards))
        for sub in ("state", "spool"):
            (f / sub).mkdir()
        self.env = {"SLURM_CONF": str(conf)}
        env = {**os.environ, **self.env}
        subprocess.run([_sbin("slurmdbd")], env=env, check=True, capture_output=True)
        self._pids["slurmdbd"] = f / "slurmdbd.pid"
        _wait_for(lambda: _listening(ports["dbd"]), timeout, "slurmdbd", f / "slurmdbd.log")
        subprocess.run(["sacctmgr", "-i", "add", "cluster", self.cluster], env=env, check=True, capture_output=True)
        subprocess.run([_sbin("slurmctld"), "-i"], env=env, check=True, capture_output=True)
        self._pids["slurmctld"] = f / "slurmctld.pid"
        subprocess.run([_sbin("slurmd"), "-N", self.node], env=env, check=True, capture_output=True)
        self._pids["slurmd"] = f / "slurmd.pid"
        self._saved_conf = os.environ.get("SLURM_CONF")
        os.environ.update(self.env)
        _wait_for(lambda: subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
                  .stdout.strip() == "idle", timeout, "the Slurm node", f / "slurmd.log")

    def stop(self) -> None:
        if self.folder is None:
            return
        env = {**os.environ, **self.env}
        if self.env:   # every job of every user: their processes are gone before the daemons go
            subprocess.run(["scancel", "--full", "--quiet"], env=env, capture_output=True)
        pids = []
        for name in ("slurmd", "slurmctld", "slurmdbd", "munged"):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                pid = int(self._pids[name].read_text().split()[0])
                os.kill(pid, signal.SIGTERM)
                pids.append(pid)
        if self._mariadbd is not None:
            self._mariadbd.terminate()
        deadline = time.monotonic() + 10
        for pid in pids:
            with contextlib.suppress(OSError):
                while time.monotonic() < deadline:
                    os.kill(pid, 0)
                    time.sleep(0.05)
                os.kill(pid, signal.SIGKILL)
        if self._mariadbd is not None:
            try:
                self._mariadbd.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._mariadbd.kill()
                self._mariadbd.wait()
            self._mariadbd = None
        if self._saved_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = self._saved_conf
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> "OneNodeSlurm":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
