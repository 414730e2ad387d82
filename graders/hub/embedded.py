"""The embedded hub: JupyterHub on this machine, local processes for servers, demo accounts.

``graders hub`` starts it on http://127.0.0.1:8000 with the course of the current folder:
``instructor`` (every nbgrader power), ``ta`` (grades), students ``alice``, ``bob``, ``carol``,
each with a credential of their own, printed once and written to a file only the person who
started the hub can read (graders.hub.auth). Run as root, each person's server runs as their own
account in a confined file system and the formgrader as the course folder's owner
(graders.hub.confine); only then does it serve beyond 127.0.0.1. No Docker: the same
configuration as the Docker and Kubernetes tiers (graders.hub.config).

JupyterHub's proxy, configurable-http-proxy, comes from npm: found on PATH, or installed once
(``npm install configurable-http-proxy@5.3.0``) into a cache folder.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from .auth import CREDENTIALS_FILE, issue_credentials, show_credentials
from .client import HubClient
from .config import check_classroom, course_owner, isolates_users
from .settings import ROSTER_ENV, STATE_ENV, CourseTeam, course_id_of, write_roster

PROXY_PACKAGE = "configurable-http-proxy"
PROXY_VERSION = "5.3.0"
HUB_CONFIG = Path(__file__).with_name("jupyterhub_config.py")
DEMO_TEAM = {"instructors": ["instructor"], "tas": ["ta"], "students": ["alice", "bob", "carol"]}


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "graders"


def find_proxy(install: bool = True) -> Path:
    """configurable-http-proxy: on PATH, in the cache, or installed there with npm."""
    on_path = shutil.which(PROXY_PACKAGE)
    if on_path:
        return Path(on_path)
    prefix = cache_dir() / f"{PROXY_PACKAGE}-{PROXY_VERSION}"
    cached = prefix / "node_modules" / ".bin" / PROXY_PACKAGE
    if cached.exists():
        return cached
    if not install:
        raise FileNotFoundError(f"{PROXY_PACKAGE} is not installed (not on PATH, not in {prefix})")
    if not (shutil.which("npm") and shutil.which("node")):
        raise FileNotFoundError(f"JupyterHub's proxy needs Node.js: apt-get install nodejs npm (then it installs "
                                f"{PROXY_PACKAGE}@{PROXY_VERSION} from npm), or npm install -g {PROXY_PACKAGE}")
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(prefix),
                    f"{PROXY_PACKAGE}@{PROXY_VERSION}"], check=True, stdout=subprocess.DEVNULL)
    return cached


def team_from_roster(path: Path, course_root: Path) -> dict:
    """The instructors, TAs and students of the course at ``course_root`` in a roster file."""
    import yaml

    entries = (yaml.safe_load(Path(path).read_text()) or {}).get("courses") or []
    for entry in entries:
        if len(entries) == 1 or Path(entry.get("root", "")).resolve() == Path(course_root).resolve():
            return {role: list(entry.get(role) or ()) for role in ("instructors", "tas", "students")}
    raise ValueError(f"{path}: no course with root {course_root}; expected `courses: [{{root: ..., "
                     "instructors: [...], tas: [...], students: [...]}}]`")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class EmbeddedHub:
    """A JupyterHub process serving ``course_root``; ``start()``/``stop()`` or a ``with`` block."""

    course_root: Path
    state_dir: Path
    port: int = 8000
    ip: str = "127.0.0.1"
    team: dict = field(default_factory=lambda: dict(DEMO_TEAM))
    extra_env: dict = field(default_factory=dict)   # a value of None removes the variable
    ops_token: str = field(default_factory=lambda: secrets.token_hex(32))
    config_file: Path = HUB_CONFIG        # another tier's configuration (the real-engine Docker test)
    process: subprocess.Popen | None = None
    log_path: Path | None = None          # the hub's log (its services' and the local servers' too)
    started_in_s: float | None = None
    credentials: dict = field(default_factory=dict)   # issued by this start, in clear: name -> credential
    credentials_file: Path | None = None  # where they were written for whoever started the hub
    env: dict = field(default_factory=dict)   # the hub's environment, as last started

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    @property
    def people(self) -> list[str]:
        return sorted({name for names in self.team.values() for name in names})

    def ops(self) -> HubClient:
        """A client with the hub's operations token (create users, tokens, start servers)."""
        return HubClient(self.url, self.ops_token)

    def preflight(self) -> None:
        """What would make the hub unsafe or unable to start, said before starting it."""
        check_classroom(self.url)
        if self.config_file == HUB_CONFIG and isolates_users("local"):
            course_owner(CourseTeam("course", Path(self.course_root).resolve()))

    def issue_credentials(self, reset: tuple[str, ...] = ()) -> dict[str, str]:
        """A credential for each person without one; the new ones in clear, once."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o700)
        self.credentials = issue_credentials(self.state_dir / CREDENTIALS_FILE, self.people, reset)
        if self.credentials:
            starter = int(os.environ.get("SUDO_UID", os.getuid()))   # the person at the keyboard, even under sudo
            self.credentials_file = show_credentials(self.state_dir, self.credentials, starter)
        return self.credentials

    def environment(self) -> dict:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        roster = write_roster(self.state_dir / "roster.yaml",
                              [{"root": str(Path(self.course_root).resolve()), **self.team}])
        proxy = find_proxy()
        env = {**os.environ,
               "PATH": os.pathsep.join([str(proxy.parent), str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
               ROSTER_ENV: str(roster), STATE_ENV: str(self.state_dir),
               "GRADERS_HUB_BIND_URL": f"http://{self.ip}:{self.port}",
               "GRADERS_HUB_OPS_TOKEN": self.ops_token,
               **self.extra_env}
        # the hub's API, the proxy's API and the formgraders on free ports (not 8081, 8001, 10101):
        # several hubs on one machine do not collide
        env.update({"GRADERS_HUB_API_URL": f"http://127.0.0.1:{free_port()}",
                    "GRADERS_HUB_PROXY_API_URL": f"http://127.0.0.1:{free_port()}",
                    "GRADERS_HUB_SERVICE_PORT": str(free_port()),
                    "GRADERS_HUB_EXCHANGE_PORT": str(free_port())})
        env.pop("JUPYTERHUB_API_TOKEN", None)   # not inside another hub's server
        return {key: value for key, value in env.items() if value is not None}

    def start(self, timeout: float = 120.0, new_credentials: tuple[str, ...] = ()) -> "EmbeddedHub":
        self.preflight()
        self.issue_credentials(reset=new_credentials)
        env = self.env = self.environment()
        self.log_path = self.state_dir / "jupyterhub.log"
        began = time.monotonic()
        # No terminal for the hub and what it starts: a Jupyter server with a terminal on stdin
        # answers the hub's SIGINT with a "Shutdown this Jupyter server (y/[n])?" prompt, and the
        # hub waits. SIGINT back to its default, in case we were started in the background.
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(self.config_file)], cwd=self.state_dir, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            self.wait_until_up(timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in_s = time.monotonic() - began
        return self

    def wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterHub exited with {self.process.returncode}: see {self.log_path}")
            try:
                if requests.get(f"{self.url}/hub/api", timeout=2).ok and self._services_up():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"JupyterHub did not answer on {self.url} within {timeout:.0f} s: see {self.log_path}")

    def _services_up(self) -> bool:
        """Every web service the hub runs (formgraders, exchange) answers through the proxy (503 until then)."""
        for name, service in self.ops().api("GET", "/services").items():
            if service.get("command") and service.get("url"):
                status = requests.get(f"{self.url}/services/{name}/api/status", timeout=2, allow_redirects=False)
                if status.status_code >= 500:
                    return False
        return True

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the hub; it stops the users' servers, its services and its proxy first (JupyterHub's
        cleanup). A hub that does not stop in time is killed, and its proxy with it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            proxy_pid = self.state_dir / "jupyterhub-proxy.pid"
            if proxy_pid.exists():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(proxy_pid.read_text()), signal.SIGKILL)

    def __enter__(self) -> "EmbeddedHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def banner(self) -> str:
        people = ", ".join(f"{name} ({role[:-1] if role.endswith('s') else role})"
                           for role, names in self.team.items() for name in names)
        if self.credentials:
            logins = "\n".join(f"    {name:<12} {password}" for name, password in sorted(self.credentials.items()))
            logins = (f"  new credentials (shown once; also in {self.credentials_file}, readable by you only):\n"
                      f"{logins}")
        else:
            logins = "  credentials: as issued before (graders hub --new-credentials NAME... to replace some)"
        isolation = ("each person's server runs as their own account, confined; the formgrader as the course "
                     "folder's owner" if isolates_users("local") else
                     "NOT isolated: every server runs as this account (run as root with bubblewrap to isolate); "
                     "serving 127.0.0.1 only")
        return (f"JupyterHub is up at {self.url} (started in {self.started_in_s:.1f} s)\n"
                f"  accounts: {people}\n{logins}\n  isolation: {isolation}\n"
                f"  course:   {Path(self.course_root).resolve()}\n"
                f"  formgrader: {self.url}/services/{course_id_of(Path(self.course_root))}/ (instructor, ta)\n"
                f"  state:    {self.state_dir} (hub database, credentials, exchange, homes, log)\nCtrl-C stops it.")
