"""The hub's configuration, one function for every tier; only the spawner differs.

``configure_hub(c, settings, tier)`` fills a JupyterHub config ``c`` with what the course needs:

- groups after nbgrader's conventions, per course: ``formgrade-<course>`` (instructors and TAs:
  the formgrader), ``nbgrader-<course>`` (students and instructors: fetch, submit, feedback),
  plus ``instructors-<course>`` and ``tas-<course>``;
- roles (JupyterHub >= 2 scopes): access to the course's formgrader service for its graders, the
  service list for its students, the admin page for its instructors (their students' servers
  only), and what nbgrader's JupyterHub plugin in a student's server asks of the hub with that
  server's token (the user's groups, the services);
- a formgrader per course as a hub-managed service at ``/services/<course>/``, running as the
  hub's user in the course folder with nbgrader's server extensions, ``frame-ancestors 'self'`` (the lab
  embeds the formgrader in an iframe, blank under JupyterHub's default since 4.1: nbgrader#1870)
  and the TA guard (``graders.hub.ta_guard``: TAs grade, instructors alone change assignments);
- the exchange, the idle culler, and the spawner of the tier:
  ``local`` (embedded hub: processes on this machine), ``docker`` (DockerSpawner, CPU and GPU
  images, one card per GPU user: ``graders.hub.gpu``) or ``kubernetes`` (Zero to JupyterHub's
  KubeSpawner and culler are kept; the profiles live in docker/kubernetes/values.yaml).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

from .settings import EXCHANGE_ENV, CourseTeam, HubSettings
from .ta_guard import INSTRUCTOR_GROUP_ENV

Tier = Literal["local", "docker", "kubernetes"]
TIERS = ("local", "docker", "kubernetes")
JUPYTER_CONFIG = Path(__file__).parent / "jupyter_config"
IDLE_SHUTDOWN_ENV = "GRADERS_IDLE_SHUTDOWN_S"
OPS_TOKEN_ENV = "GRADERS_HUB_OPS_TOKEN"
OPS_SERVICE = "graders-ops"

# What a single-user server's own token may do: nbgrader's JupyterHub plugin reads the user's
# groups (which courses they take) and the course list reads the services.
SERVER_TOKEN_SCOPES = ["access:servers!server", "users:activity!user", "read:users:name!user",
                       "read:users:groups!user", "list:services", "read:services"]


def jupyter_config_path(*names: str) -> str:
    """JUPYTER_CONFIG_PATH for servers configured from the package's jupyter_config/ folders."""
    return os.pathsep.join(str(JUPYTER_CONFIG / name) for name in names)


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


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
         "scopes": [f"access:services!service={cid}", "list:services", f"read:services!service={cid}"]},
        {"name": f"nbgrader-{cid}", "groups": [students],
         "description": f"take {cid}: see its service in the course list",
         "scopes": ["list:services", f"read:services!service={cid}"]},
        {"name": f"instructor-{cid}", "groups": [course.instructor_group],
         "description": f"the admin page for the students of {cid}: see them, start and stop their servers",
         "scopes": ["admin-ui", f"list:users!group={students}", f"read:users!group={students}",
                    f"admin:servers!group={students}"]},
    ]


def formgrader_service(course: CourseTeam, settings: HubSettings, tier: Tier) -> dict:
    """nbgrader's formgrader for one course, as a service of the hub (nbgrader's multi-course setup)."""
    home = settings.state_dir / "services" / course.course_id
    command = [sys.executable, "-m", "jupyterhub.singleuser", f"--ServerApp.root_dir={course.root}"]
    host = "127.0.0.1"
    if tier == "kubernetes":            # the proxy runs in its own pod: listen on the hub pod's address
        command.append("--ServerApp.ip=0.0.0.0")
        host = "hub"
    if _as_root():
        command.append("--allow-root")
    return {
        "name": course.course_id,
        "url": f"http://{host}:{course.service_port}",
        "command": command,
        "cwd": str(course.root),        # nbgrader reads the course's nbgrader_config.py from here
        "oauth_no_confirm": True,
        "display": True,
        "info": {"course": course.course_id, "what": "nbgrader formgrader"},
        "environment": {
            "HOME": str(home),          # Jupyter's runtime and data files stay out of the course folder
            "JUPYTER_CONFIG_PATH": jupyter_config_path("common", "formgrader"),
            EXCHANGE_ENV: str(settings.exchange_root),
            INSTRUCTOR_GROUP_ENV: course.instructor_group,
            "JUPYTERHUB_DEFAULT_URL": "/lab",
        },
    }


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
    services = [formgrader_service(course, settings, tier) for course in settings.courses]
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
    c.Spawner.environment = {**c.Spawner.get("environment", {}), EXCHANGE_ENV: str(settings.exchange_root)}
    if tier == "kubernetes":
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
    else:
        _docker_spawner(c, settings)


def _local_spawner(c, settings: HubSettings) -> None:
    """Every user's server is a process on this machine, with a home under the hub's state folder."""
    c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
    c.SimpleLocalProcessSpawner.home_dir_template = str(settings.state_dir / "home" / "{username}")
    c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
    c.Spawner.args = ["--allow-root"] if _as_root() else []
    c.Spawner.environment[  # the student side of nbgrader: exchange, JupyterHub plugin, no formgrader
        "JUPYTER_CONFIG_PATH"] = jupyter_config_path("common", "student")
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = os.environ.get("GRADERS_HUB_PASSWORD", "")


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
    c.DockerSpawner.volumes = {
        "graders-hub-user-{username}": "/home/jovyan/work",
        os.environ.get("GRADERS_HUB_EXCHANGE_VOLUME", "graders-hub-exchange"): str(settings.exchange_root),
    }
    c.DockerSpawner.extra_create_kwargs = scheduler.create_kwargs
    c.DockerSpawner.extra_host_config = scheduler.host_config
    c.Spawner.post_stop_hook = scheduler.release
    c.Spawner.start_timeout = 300       # a first start may pull a multi-GB image
    c.Spawner.http_timeout = 120
    c.JupyterHub.authenticator_class = "nativeauthenticator.NativeAuthenticator"
    c.Authenticator.admin_users = {name for course in settings.courses for name in course.instructors}
