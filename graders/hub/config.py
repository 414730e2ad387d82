"""The hub's configuration, one function for every tier; only the spawner differs.

``configure_hub(c, settings, tier)`` fills a JupyterHub config ``c`` with what the course needs:

- groups after nbgrader's conventions, per course: ``formgrade-<course>`` (instructors and TAs:
  the formgrader), ``nbgrader-<course>`` (students and instructors: fetch, submit, feedback),
  plus ``instructors-<course>`` and ``tas-<course>``;
- roles (JupyterHub >= 2 scopes): access to the course's formgrader service for its graders, the
  service list for its students, the admin page for its instructors (their students' servers
  only), and what nbgrader's JupyterHub plugin in a student's server asks of the hub with that
  server's token (the user's groups, the services);
- a formgrader per course as a hub-managed service at ``/services/<course>/``, in the course folder
  with nbgrader's server extensions, a strict Content-Security-Policy (``graders.hub.formgrader_csp``;
  ``frame-ancestors 'self'``: the lab embeds the formgrader in an iframe, blank under JupyterHub's
  default since 4.1: nbgrader#1870) and the TA guard (``graders.hub.ta_guard``: TAs grade,
  instructors alone change assignments). On the embedded hub run as root it runs as the account
  that owns the course folder, never as root;
- the exchange, a service every tier shares (``graders.hub.exchange``): no exchange folder is
  shared with students' servers;
- one identity per person (``graders.hub.auth``), the idle culler, and the spawner of the tier:
  ``local`` (embedded hub: as root, each user's server as their own account in a confined file
  system, ``graders.hub.confine``; otherwise processes of the hub's user, for loopback only),
  ``docker`` (DockerSpawner, CPU and GPU images, one card per GPU user: ``graders.hub.gpu``) or
  ``kubernetes`` (Zero to JupyterHub's KubeSpawner and culler are kept; the profiles live in
  docker/kubernetes/values.yaml) or ``slurm`` (batchspawner's SlurmSpawner: each server a batch job
  on the cluster, as the student's own account, CPU and GPU profiles: ``graders.hub.slurm``).
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import sys
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from .auth import CREDENTIALS_FILE, configure_lti13
from .confine import Confinement, isolation_missing
from .exchange import SERVICE_NAME as EXCHANGE_SERVICE, URL_ENV as EXCHANGE_URL_ENV
from .settings import ROSTER_ENV, CourseTeam, HubSettings
from .ta_guard import INSTRUCTOR_GROUP_ENV

Tier = Literal["local", "docker", "kubernetes", "slurm"]
TIERS = ("local", "docker", "kubernetes", "slurm")
JUPYTER_CONFIG = Path(__file__).parent / "jupyter_config"
IDLE_SHUTDOWN_ENV = "GRADERS_IDLE_SHUTDOWN_S"
OPS_TOKEN_ENV = "GRADERS_HUB_OPS_TOKEN"
OPS_SERVICE = "graders-ops"
AUTH_ENV = "GRADERS_HUB_AUTH"           # "lti13": log in through the campus LMS instead

EXCHANGE_ACCESS = f"access:services!service={EXCHANGE_SERVICE}"
# What a single-user server's own token may do: nbgrader's JupyterHub plugin reads the user's
# groups (which courses they take), the course list reads the services, nbgrader's exchange
# classes call the exchange service.
SERVER_TOKEN_SCOPES = ["access:servers!server", "users:activity!user", "read:users:name!user",
                       "read:users:groups!user", "list:services", "read:services", EXCHANGE_ACCESS]


def jupyter_config_path(*names: str) -> str:
    """JUPYTER_CONFIG_PATH for servers configured from the package's jupyter_config/ folders."""
    return os.pathsep.join(str(JUPYTER_CONFIG / name) for name in names)


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def isolates_users(tier: Tier) -> bool:
    """Does this tier give each person a server that cannot reach anyone else's files? Containers
    and pods do; the embedded hub does when it runs as root with bubblewrap (graders.hub.confine)."""
    return tier != "local" or not isolation_missing()


def check_classroom(bind_url: str) -> None:
    """The embedded hub serves beyond this machine only when each person's server is isolated."""
    if not is_loopback(bind_url) and not isolates_users("local"):
        raise PermissionError(
            f"the embedded hub will not serve {bind_url} (beyond this machine) while every server would run as one "
            f"account, able to read the course and each other's work; missing: {', '.join(isolation_missing())}. "
            "Run it as root with bubblewrap installed (each person then gets an account of their own), use the "
            "Docker tier, or listen on 127.0.0.1 only")


def is_loopback(bind_url: str) -> bool:
    host = urlparse(bind_url).hostname
    if not host:
        return False                    # "http://:8000": every interface
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def groups(settings: HubSettings) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for course in settings.courses:
        found[course.formgrade_group] = {"users": sorted({*course.instructors, *course.tas})}
        found[course.student_group] = {"users": sorted({*course.students, *course.instructors})}
        found[course.instructor_group] = {"users": sorted(course.instructors)}
        found[course.ta_group] = {"users": sorted(course.tas)}
    return found


def course_roles(course: CourseTeam) -> list[dict]:
    cid, students = course.course_id, course.student_group
    return [
        {"name": f"formgrade-{cid}", "groups": [course.formgrade_group],
         "description": f"open the formgrader of {cid} (TAs are narrowed by its TA guard)",
         "scopes": [f"access:services!service={cid}", "list:services", f"read:services!service={cid}",
                    EXCHANGE_ACCESS]},
        {"name": f"nbgrader-{cid}", "groups": [students],
         "description": f"take {cid}: see its service in the course list, fetch and submit through the exchange",
         "scopes": ["list:services", f"read:services!service={cid}", EXCHANGE_ACCESS]},
        {"name": f"formgrader-service-{cid}", "services": [cid],
         "description": f"the formgrader of {cid} releases, collects and returns feedback through the exchange",
         "scopes": [EXCHANGE_ACCESS]},
        {"name": f"instructor-{cid}", "groups": [course.instructor_group],
         "description": f"the admin page for the students of {cid}: see them, start and stop their servers",
         "scopes": ["admin-ui", f"list:users!group={students}", f"read:users!group={students}",
                    f"admin:servers!group={students}"]},
    ]


def course_owner(course: CourseTeam) -> pwd.struct_passwd:
    """The account that owns the course folder: the embedded hub runs the course's formgrader as it."""
    owner = pwd.getpwuid(course.root.stat().st_uid)
    if owner.pw_uid == 0:
        raise PermissionError(f"{course.root} belongs to root, so its formgrader would run as root: give the course "
                              f"folder to the instructor's own account (chown -R LOGIN {course.root}) and start the hub "
                              "again")
    return owner


def exchange_url(settings: HubSettings, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{settings.exchange_port}/services/{EXCHANGE_SERVICE}/"


def formgrader_service(course: CourseTeam, settings: HubSettings, tier: Tier) -> dict:
    """nbgrader's formgrader for one course, as a service of the hub (nbgrader's multi-course setup)."""
    home = settings.state_dir / "services" / course.course_id
    command = [sys.executable, "-m", "jupyterhub.singleuser", f"--ServerApp.root_dir={course.root}"]
    host = "127.0.0.1"
    if tier == "kubernetes":            # the proxy runs in its own pod: listen on the hub pod's address
        command.append("--ServerApp.ip=0.0.0.0")
        host = "hub"
    if tier == "local" and isolates_users(tier):
        # the instructor's side: the course folder's owner, in a file system of the course and its home
        owner = course_owner(course)
        home.mkdir(parents=True, exist_ok=True)
        os.chown(home, owner.pw_uid, owner.pw_gid)
        home.chmod(0o700)
        postgres = [Path("/run/postgresql")] if Path("/run/postgresql").is_dir() else []   # a local gradebook server
        command = Confinement(owner.pw_uid, owner.pw_gid, writable=[course.root.resolve(), home, *postgres],
                              workdir=course.root.resolve(), own_pids=False).command() + command
    elif _as_root():
        command.append("--allow-root")  # inside a container: the hub's (Docker, Kubernetes) user
    environment = {
        "HOME": str(home),              # Jupyter's runtime and data files stay out of the course folder
        "JUPYTER_CONFIG_PATH": jupyter_config_path("common", "formgrader"),
        EXCHANGE_URL_ENV: exchange_url(settings),
        INSTRUCTOR_GROUP_ENV: course.instructor_group,
        "JUPYTERHUB_DEFAULT_URL": "/lab",
    }
    for grader_side in ("GRADERS_SECRET", "GRADERS_DB_URL", "GRADERS_SANDBOX"):   # never given to students
        if os.environ.get(grader_side):
            environment[grader_side] = os.environ[grader_side]
    return {
        "name": course.course_id,
        "url": f"http://{host}:{course.service_port}",
        "command": command,
        "cwd": str(course.root),        # nbgrader reads the course's nbgrader_config.py from here
        "oauth_no_confirm": True,
        "display": True,
        "info": {"course": course.course_id, "what": "nbgrader formgrader"},
        "environment": environment,
    }


def exchange_service(settings: HubSettings, tier: Tier) -> dict:
    """The exchange (graders.hub.exchange.service), as the hub's user, its state in the hub's state folder."""
    host = "hub" if tier == "kubernetes" else "127.0.0.1"
    environment = {ROSTER_ENV: os.environ.get(ROSTER_ENV, ""),
                   "GRADERS_HUB_EXCHANGE_STATE": str(settings.state_dir / "exchange"),
                   # containers and pods reach it on the hub's network address, not through the loopback
                   "GRADERS_HUB_EXCHANGE_LISTEN_IP": "127.0.0.1" if tier == "local" else "0.0.0.0"}
    environment.update({k: v for k, v in os.environ.items() if k.startswith("GRADERS_HUB_EXCHANGE_MAX_")})
    return {"name": EXCHANGE_SERVICE, "url": f"http://{host}:{settings.exchange_port}",
            "command": [sys.executable, "-m", "graders.hub.exchange.service"],
            "display": False, "info": {"what": "nbgrader exchange (graders.hub.exchange)"},
            "environment": environment}


def idle_culler(settings: HubSettings) -> tuple[dict, dict]:
    every = max(30, min(300, settings.idle_timeout_s // 4))
    service = {"name": "idle-culler",
               "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                           f"--timeout={settings.idle_timeout_s}", f"--cull-every={every}"]}
    role = {"name": "idle-culler", "services": ["idle-culler"],
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]}
    return service, role


def _extend(section, key: str, items: list | dict) -> None:
    """Add to a list or dict setting without dropping what another config file put there
    (Zero to JupyterHub's culler and roles, an operator's own services)."""
    existing = section[key] if key in section else type(items)()
    section[key] = {**existing, **items} if isinstance(items, dict) else [*existing, *items]


def configure_hub(c, settings: HubSettings, tier: Tier) -> None:
    if tier not in TIERS:
        raise ValueError(f"unknown hub tier {tier!r}: use one of {', '.join(TIERS)}")
    if tier == "local":
        check_classroom(settings.bind_url)
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        settings.state_dir.chmod(0o700)    # the hub's database, credentials and exchange: the hub's alone
    services = [formgrader_service(course, settings, tier) for course in settings.courses]
    services.append(exchange_service(settings, tier))
    roles = [role for course in settings.courses for role in course_roles(course)]
    if tier != "kubernetes":           # Zero to JupyterHub runs its own culler (values: cull.*)
        service, role = idle_culler(settings)
        services.append(service)
        roles.append(role)
    if os.environ.get(OPS_TOKEN_ENV):  # a token for scripts: the embedded hub's tests and load test
        services.append({"name": OPS_SERVICE, "api_token": os.environ[OPS_TOKEN_ENV]})
        roles.append({"name": OPS_SERVICE, "services": [OPS_SERVICE],
                      "scopes": ["admin:users", "admin:servers", "tokens", "admin:groups", "list:services", "read:services"]})

    _extend(c.JupyterHub, "services", services)
    _extend(c.JupyterHub, "load_roles", roles)
    _extend(c.JupyterHub, "load_groups", groups(settings))
    c.Authenticator.allowed_users = set(c.Authenticator.get("allowed_users", set())) | settings.users
    c.Spawner.default_url = "/lab"
    c.Spawner.server_token_scopes = SERVER_TOKEN_SCOPES
    servers_reach_hub_at = {"local": "127.0.0.1", "docker": os.environ.get("GRADERS_HUB_CONNECT_IP", "hub"),
                            "kubernetes": "hub",
                            "slurm": os.environ.get("GRADERS_HUB_CONNECT_IP", os.uname().nodename)}[tier]
    c.Spawner.environment = {**c.Spawner.get("environment", {}),
                             EXCHANGE_URL_ENV: exchange_url(settings, servers_reach_hub_at)}
    if tier == "kubernetes":
        _campus_login(c)
        return                          # the database, proxy and spawner are the chart's

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    c.JupyterHub.bind_url = settings.bind_url
    c.JupyterHub.db_url = f"sqlite:///{settings.state_dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(settings.state_dir / "jupyterhub_cookie_secret")
    c.ConfigurableHTTPProxy.pid_file = str(settings.state_dir / "jupyterhub-proxy.pid")
    if os.environ.get("GRADERS_HUB_API_URL"):        # the hub's and proxy's own ports (defaults 8081, 8001)
        c.JupyterHub.hub_bind_url = os.environ["GRADERS_HUB_API_URL"]
    if os.environ.get("GRADERS_HUB_PROXY_API_URL"):
        c.ConfigurableHTTPProxy.api_url = os.environ["GRADERS_HUB_PROXY_API_URL"]
    if tier == "local":
        _local_spawner(c, settings)
    elif tier == "slurm":
        from .slurm import configure_slurm_spawner

        configure_slurm_spawner(c, settings, jupyter_config_path("common", "student"))
    else:
        _docker_spawner(c, settings)
    _campus_login(c)


def _campus_login(c) -> None:
    """$GRADERS_HUB_AUTH=lti13: the campus LMS logs people in, on any tier (graders.hub.auth.configure_lti13)."""
    if os.environ.get(AUTH_ENV) == "lti13":
        configure_lti13(c)
    elif os.environ.get(AUTH_ENV):
        raise ValueError(f"${AUTH_ENV}={os.environ[AUTH_ENV]!r}: leave it unset (the tier's own login) or set lti13")


def _local_spawner(c, settings: HubSettings) -> None:
    """Every user's server is a process on this machine: as root, as their own account, confined
    (graders.hub.confine); otherwise as the hub's user, which configure_hub allows on loopback only.
    Each person logs in with their own credential, made from the roster (graders.hub.auth)."""
    homes = settings.state_dir / "home"
    if isolates_users("local"):
        c.JupyterHub.spawner_class = "graders.hub.spawner.ConfinedSpawner"
        c.ConfinedSpawner.homes_dir = str(homes)
    else:
        c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
        c.SimpleLocalProcessSpawner.home_dir_template = str(homes / "{username}")
    c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
    c.Spawner.environment[  # the student side of nbgrader: exchange, JupyterHub plugin, no formgrader
        "JUPYTER_CONFIG_PATH"] = jupyter_config_path("common", "student")
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120
    c.JupyterHub.authenticator_class = "graders.hub.auth.RosterAuthenticator"
    c.RosterAuthenticator.credentials_file = str(settings.state_dir / CREDENTIALS_FILE)


def _docker_spawner(c, settings: HubSettings) -> None:
    """DockerSpawner: a container per user from the CPU image, or the GPU image with one card of its own."""
    from .gpu import GpuPool, GpuScheduler, images_from_env

    images = images_from_env()
    pool = GpuPool.from_env()
    scheduler = GpuScheduler(pool, gpu_image=images.gpu, gpu_idle_timeout_s=settings.gpu_idle_timeout_s,
                             shm_size=os.environ.get("GRADERS_HUB_SHM_SIZE", "2g"))
    c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
    c.JupyterHub.hub_ip = "0.0.0.0"
    c.JupyterHub.hub_connect_ip = os.environ.get("GRADERS_HUB_CONNECT_IP", "hub")   # the compose service
    c.DockerSpawner.image = images.cpu
    c.DockerSpawner.allowed_images = images.choices(gpu=bool(pool.device_ids))
    c.DockerSpawner.network_name = os.environ.get("GRADERS_HUB_DOCKER_NETWORK", "graders-hub")
    c.DockerSpawner.use_internal_ip = True
    c.DockerSpawner.remove = True
    c.DockerSpawner.mem_limit = os.environ.get("GRADERS_HUB_MEM_LIMIT", "8G")
    c.DockerSpawner.volumes = {"graders-hub-user-{username}": "/home/jovyan/work"}   # theirs alone: no exchange volume
    c.DockerSpawner.extra_create_kwargs = scheduler.create_kwargs
    c.DockerSpawner.extra_host_config = scheduler.host_config
    c.Spawner.post_stop_hook = scheduler.release
    c.Spawner.start_timeout = 300       # a first start may pull a multi-GB image
    c.Spawner.http_timeout = 120
    c.JupyterHub.authenticator_class = "graders.hub.auth.ApprovedSignupAuthenticator"
    c.Authenticator.admin_users = {name for course in settings.courses for name in course.instructors}
