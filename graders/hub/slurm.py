"""The ``slurm`` hub tier: every student's server is a batch job on the cluster (batchspawner).

``configure_hub(c, settings, "slurm")`` (graders.hub.config) gives the hub the same courses,
groups, roles, formgraders, exchange and idle culler as every tier, and ``CourseSlurmSpawner``:
batchspawner's ``SlurmSpawner`` with the course's profiles and three guards.

- **Profiles** (``c.CourseSlurmSpawner.profiles``): a CPU profile asks for cores, memory and time
  and no ``--gres``; a GPU profile asks ``--gres=gpu:1`` too, and its server shuts itself down
  after ``gpu_idle_timeout_s`` without activity (``$GRADERS_IDLE_SHUTDOWN_S``), so a forgotten
  server gives its card back. The hub's idle culler stops any server idle for ``idle_timeout_s``,
  which cancels its job.
- **The student's own uid**: ``sbatch``, ``squeue`` and ``scancel`` run as the student
  (``sudo -E -u`` from a hub that is not root, ``runuser -u`` from one that is), so Slurm runs
  the server, and charges the job, as that person. It needs an account of the same name on the
  cluster (the campus login, through PAM).
- **Guards**: batchspawner lets a server set any attribute of its spawner through the hub's
  ``/api/batchspawner`` (a student's code holds that server's token: it could set the command
  prefix the hub runs as root); here the server may report its port and nothing else. Options
  a student sends with a start request are a profile's name and nothing else (batchspawner would
  paste any of them into the batch script). A username that is not a plain account name is
  refused before it reaches a shell.
"""

from __future__ import annotations

import html
import json
import os
import re
import sys

from batchspawner import SlurmSpawner
from jupyterhub.apihandlers import APIHandler, default_handlers
from tornado import web
from traitlets import Dict, Int, List, Unicode, default

IDLE_SHUTDOWN_ENV = "GRADERS_IDLE_SHUTDOWN_S"      # read by the student's server (jupyter_config/student)
ACCOUNT_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
PROFILE_KEYS = {"name", "display", "nprocs", "memory", "runtime", "gres", "partition"}
DEFAULT_PROFILES = [
    {"name": "cpu", "display": "CPU: 2 cores, 8 GB, up to 8 hours", "nprocs": "2", "memory": "8G",
     "runtime": "8:00:00"},
    {"name": "gpu", "display": "GPU: 1 card, 4 cores, 24 GB, up to 4 hours", "nprocs": "4", "memory": "24G",
     "runtime": "4:00:00", "gres": "gpu:1"},
]


class CourseSlurmSpawner(SlurmSpawner):
    profiles = List(Dict(), default_value=DEFAULT_PROFILES,
                    help="What a student may start: name, display, nprocs, memory, runtime, gres "
                         "(a GPU profile: e.g. gpu:1), partition; the first is the default").tag(config=True)
    gpu_idle_timeout_s = Int(1200, help="A GPU server shuts itself down after this long without "
                                        "activity").tag(config=True)
    node_bin = Unicode(help="Folder of the Python environment with jupyterhub and batchspawner on the "
                            "nodes (shared storage; default: the hub's own)").tag(config=True)

    @default("node_bin")
    def _node_bin_default(self):
        return os.path.dirname(sys.executable)

    @default("exec_prefix")
    def _exec_prefix_default(self):
        return "runuser -u {username} --" if os.geteuid() == 0 else "sudo -E -u {username}"

    @default("options_form")
    def _options_form_default(self):
        choices = "".join(
            f'<label><input type="radio" name="profile" value="{html.escape(p["name"])}"'
            f'{" checked" if i == 0 else ""}> {html.escape(p.get("display", p["name"]))}</label><br>'
            for i, p in enumerate(self.profiles))
        return f"<p>Where should your server run?</p>{choices}"

    def options_from_form(self, formdata):
        return {"profile": (formdata.get("profile") or [self.profiles[0]["name"]])[0]}

    def chosen_profile(self) -> dict:
        """The profile the start request names (default: the first); any other option is refused."""
        options = dict(self.user_options or {})
        extra = sorted(set(options) - {"profile"})
        if extra:
            raise ValueError(f"unknown server options {extra}: choose a profile "
                             f"({', '.join(p['name'] for p in self.profiles)})")
        name = options.get("profile") or self.profiles[0]["name"]
        for profile in self.profiles:
            if profile["name"] == name:
                unknown = set(profile) - PROFILE_KEYS
                if unknown:
                    raise ValueError(f"profile {name!r} has unknown keys {sorted(unknown)}: use {sorted(PROFILE_KEYS)}")
                return profile
        raise ValueError(f"no server profile {name!r}: choose one of {', '.join(p['name'] for p in self.profiles)}")

    async def start(self):
        if not ACCOUNT_NAME.match(self.user.name):
            raise web.HTTPError(400, f"user name {self.user.name!r} is not a plain account name: a Slurm server "
                                     "runs as the cluster account of the same name")
        try:
            profile = self.chosen_profile()
        except ValueError as exc:             # the request's fault: a 400 that says what to send
            raise web.HTTPError(400, str(exc)) from None
        self.req_nprocs = profile.get("nprocs", "")
        self.req_memory = profile.get("memory", "")
        self.req_runtime = profile.get("runtime", "")
        self.req_gres = profile.get("gres", "")            # only GPU profiles ask for --gres
        self.req_partition = profile.get("partition", self.req_partition)
        self.batchspawner_singleuser_cmd = os.path.join(self.node_bin, "batchspawner-singleuser")
        self.cmd = [os.path.join(self.node_bin, "jupyterhub-singleuser")]
        self._gpu = bool(self.req_gres)
        self.req_keepvars = ",".join(self.get_env())     # this start's variables (a GPU server's idle limit)
        return await super().start()

    def get_env(self):
        env = super().get_env()
        if getattr(self, "_gpu", False):
            env[IDLE_SHUTDOWN_ENV] = str(self.gpu_idle_timeout_s)
        return env


class PortOnlyAPIHandler(APIHandler):
    """``POST /hub/api/batchspawner`` from a server being started: its port, and nothing else."""

    @web.authenticated
    def post(self):
        token = self.get_auth_token()
        spawner = next((s for s in self.current_user.spawners.values() if s.api_token == token), None)
        data = self.get_json_body() or {}
        port = data.get("port")
        if spawner is None or set(data) != {"port"} or not isinstance(port, int) or not 1024 <= port <= 65535:
            raise web.HTTPError(400, "a server may report its port (1024-65535) and nothing else")
        spawner.port = port
        self.set_status(201)
        self.finish(json.dumps({"message": "port recorded"}))


def use_port_only_api() -> None:
    """Put our handler in place of batchspawner's (registered when batchspawner is imported)."""
    for index, (pattern, *rest) in enumerate(default_handlers):
        if pattern == r"/api/batchspawner":
            default_handlers[index] = (pattern, PortOnlyAPIHandler, *rest[1:])
            return
    default_handlers.append((r"/api/batchspawner", PortOnlyAPIHandler))


def configure_slurm_spawner(c, settings, student_config_path: str) -> None:
    """The spawner part of the ``slurm`` tier (the rest is graders.hub.config's, as on every tier)."""
    use_port_only_api()
    c.JupyterHub.spawner_class = CourseSlurmSpawner
    c.CourseSlurmSpawner.gpu_idle_timeout_s = settings.gpu_idle_timeout_s
    # the servers run on other machines: they reach the hub's API at this machine's name
    if not os.environ.get("GRADERS_HUB_API_URL"):
        c.JupyterHub.hub_ip = "0.0.0.0"
        c.JupyterHub.hub_connect_ip = os.environ.get("GRADERS_HUB_CONNECT_IP", os.uname().nodename)
    c.Spawner.environment["JUPYTER_CONFIG_PATH"] = student_config_path   # nbgrader's student side, idle shutdown
    # sbatch, squeue and scancel run with the server's environment: a cluster whose configuration is
    # not /etc/slurm/slurm.conf names it in $SLURM_CONF
    c.Spawner.env_keep = [*c.Spawner.get("env_keep", ["JUPYTERHUB_SINGLEUSER_APP"]), "SLURM_CONF"]
    c.Spawner.start_timeout = 600        # a job may wait in the queue
    c.Spawner.http_timeout = 120
    c.JupyterHub.authenticator_class = "pam"   # the cluster's accounts: a server runs as its owner
    c.Authenticator.admin_users = {name for course in settings.courses for name in course.instructors}
