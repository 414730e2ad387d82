"""The ``slurm`` hub tier, for real: a student's server is a batch job submitted with ``sbatch``
on the one-node test cluster, runs as the student's own account, and the student reaches it
through the hub. A CPU profile asks for no GPU, a GPU profile for ``--gres=gpu:1`` (and shuts
itself down sooner when idle); the idle culler runs as on every tier. What a student could send
(server options, the batchspawner port report) cannot change the job or the hub.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
STUDENT = "slurmalice"     # an account of its own: Slurm runs the server as the student
TEAM = {"instructors": ["slurmteacher"], "tas": [], "students": [STUDENT]}
PROFILES = [
    {"name": "cpu", "display": "CPU", "nprocs": "1", "memory": "1G", "runtime": "0:30:00"},
    {"name": "gpu", "display": "GPU", "nprocs": "1", "memory": "1G", "runtime": "0:30:00", "gres": "gpu:1"},
]


def _run_as(user: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", user, "--", *command], capture_output=True, text=True)


@pytest.fixture(scope="module")
def student_account():
    """The student's account, with a home of its own; removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("the Slurm hub test makes an account for its student: it needs root")
    base = Path(tempfile.mkdtemp(prefix="graders-slurm-homes-"))
    base.chmod(0o755)
    made = False
    try:
        pwd.getpwnam(STUDENT)
    except KeyError:
        subprocess.run(["useradd", "--comment", "graders slurm hub test", "--create-home", "--home-dir",
                        str(base / STUDENT), "--shell", "/bin/bash", "--user-group", STUDENT],
                       check=True, capture_output=True)
        made = True
    try:
        yield pwd.getpwnam(STUDENT)
    finally:
        if made:
            subprocess.run(["userdel", STUDENT], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def node_bin(student_account, tmp_path_factory) -> str:
    """A folder with jupyterhub-singleuser and batchspawner-singleuser that the student can run: the
    tests' own environment, or, where its interpreter is out of the student's reach (a Python under
    /root), the system's interpreter of the same version over the same packages."""
    here = os.path.dirname(sys.executable)
    if _run_as(STUDENT, sys.executable, "-c", "import jupyterhub, batchspawner").returncode == 0:
        return here
    system_python = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if not os.path.exists(system_python):
        pytest.skip(f"{sys.executable} is out of {STUDENT}'s reach and there is no {system_python}")
    env = Path(tempfile.mkdtemp(prefix="graders-node-env-"))
    env.chmod(0o755)
    subprocess.run([system_python, "-m", "venv", "--without-pip", str(env)], check=True)
    site_packages = next(Path(sys.prefix, "lib").glob("python3*/site-packages"))
    target = next(env.glob("lib/python3*/site-packages"))
    (target / "graders-tests.pth").write_text(f"import site; site.addsitedir({str(site_packages)!r})\n")
    for script, module in (("jupyterhub-singleuser", "jupyterhub.singleuser"),
                           ("batchspawner-singleuser", "batchspawner.singleuser")):
        path = env / "bin" / script
        path.write_text(f"#!{env}/bin/python\nimport sys\nfrom {module} import main\nsys.exit(main())\n")
        path.chmod(0o755)
    reach = _run_as(STUDENT, f"{env}/bin/python", "-c", "import jupyterhub, batchspawner")
    if reach.returncode != 0:
        shutil.rmtree(env, ignore_errors=True)
        pytest.skip(f"{STUDENT} cannot read this checkout's Python packages ({site_packages}): on a cluster "
                    f"they live on storage every account reads; {reach.stderr.strip()[-200:]}")
    yield str(env / "bin")
    shutil.rmtree(env, ignore_errors=True)


@pytest.fixture(scope="module")
def slurm_hub(slurm_cluster, student_account, node_bin, tmp_path_factory):
    from graders.hub.embedded import EmbeddedHub, find_proxy, free_port

    try:
        find_proxy()
    except (FileNotFoundError, OSError) as exc:
        pytest.skip(f"no JupyterHub proxy: {exc}")
    root = tmp_path_factory.mktemp("slurm-hub")
    course = root / "course"
    shutil.copytree(REPO / "tests" / "fixtures" / "mini_course", course)
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    nobody = pwd.getpwnam("nobody")       # not root, not the student: the course is the instructor side's
    for path in [course, *course.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    course.chmod(0o700)
    config = root / "jupyterhub_config.py"
    config.write_text(
        f"load_subconfig({str(REPO / 'graders' / 'hub' / 'jupyterhub_config_slurm.py')!r})\n"
        f"c.CourseSlurmSpawner.node_bin = {node_bin!r}\n"
        f"c.CourseSlurmSpawner.profiles = {PROFILES!r}\n"
        "c.CourseSlurmSpawner.startup_poll_interval = 0.5\n"
        "c.CourseSlurmSpawner.gpu_idle_timeout_s = 900\n")
    hub = EmbeddedHub(course, root / "state", port=free_port(), team=TEAM, config_file=config,
                      extra_env={"GRADERS_SECRET": "slurm-hub-tests", "GRADERS_DB_URL": None,
                                 "GRADERS_HUB_CONNECT_IP": "127.0.0.1", **slurm_cluster.env})
    hub.start(timeout=180)
    try:
        yield hub
    finally:
        hub.stop()


def _job_of(user: str) -> dict | None:
    out = subprocess.run(["squeue", "-h", "-u", user, "-o", "%i|%T|%u|%b|%C|%m"], capture_output=True,
                         text=True, check=True).stdout.split()
    return dict(zip(("id", "state", "user", "gres", "cpus", "memory"), out[0].split("|"))) if out else None


def _server_process(user: str) -> psutil.Process:
    for proc in psutil.process_iter(["username", "cmdline"]):
        if proc.info["username"] == user and any("jupyterhub-singleuser" in part for part in proc.info["cmdline"] or ()):
            return proc
    raise AssertionError(f"no jupyterhub-singleuser process of {user}")


def _start_and_reach(hub, ops, profile: str) -> dict:
    ops.start_server(STUDENT, {"profile": profile})
    ops.wait_ready(STUDENT, timeout=240, poll=0.5)
    student = ops.as_user(STUDENT)
    status = student.request("GET", f"/user/{STUDENT}/api/status")
    assert status.status_code == 200 and "started" in status.json()
    job = _job_of(STUDENT)
    assert job is not None and job["state"] == "RUNNING" and job["user"] == STUDENT, job
    return job


def test_slurm_tier_spawns_the_students_server_as_a_job_of_their_own(slurm_hub):
    ops = slurm_hub.ops()
    job = _start_and_reach(slurm_hub, ops, "cpu")
    assert job["gres"] == "N/A" and job["cpus"] == "1", job          # a CPU profile asks for no card
    server = _server_process(STUDENT)
    assert server.uids().real == pwd.getpwnam(STUDENT).pw_uid      # the student's own uid, not the hub's
    assert "GRADERS_SECRET" not in server.environ() and "GRADERS_IDLE_SHUTDOWN_S" not in server.environ()

    # the server's token is in the student's hands: it reports a port, and may set nothing else
    token = server.environ()["JUPYTERHUB_API_TOKEN"]
    api = server.environ()["JUPYTERHUB_API_URL"]
    attack = requests.post(f"{api}/batchspawner", headers={"Authorization": f"token {token}"},
                           json={"exec_prefix": "touch /tmp/graders-owned #", "port": 2000}, timeout=10)
    assert attack.status_code == 400, attack.text
    assert not os.path.exists("/tmp/graders-owned")

    ops.stop_server(STUDENT, wait_s=60)
    deadline = time.monotonic() + 60
    while _job_of(STUDENT) is not None and time.monotonic() < deadline:   # the hub cancelled the job
        time.sleep(0.5)
    assert _job_of(STUDENT) is None


def test_gpu_profile_asks_for_a_card_and_student_options_cannot_change_the_job(slurm_hub):
    ops = slurm_hub.ops()
    job = _start_and_reach(slurm_hub, ops, "gpu")
    assert "gpu:1" in job["gres"], job
    assert _server_process(STUDENT).environ()["GRADERS_IDLE_SHUTDOWN_S"] == "900"   # GPU servers go sooner
    ops.stop_server(STUDENT, wait_s=60)

    # options beyond a profile's name (batchspawner would paste them into the batch script) are refused
    refused = ops.request("POST", f"/hub/api/users/{STUDENT}/server", ok=(400,),
                          json={"profile": "cpu", "gres": "gpu:2", "options": "--nodelist=elsewhere"})
    assert "unknown server options ['gres', 'options']" in refused.json()["message"]
    refused = ops.request("POST", f"/hub/api/users/{STUDENT}/server", ok=(400,), json={"profile": "a100x8"})
    assert "no server profile 'a100x8': choose one of cpu, gpu" in refused.json()["message"]
    assert not ops.api("GET", f"/users/{STUDENT}")["servers"] and _job_of(STUDENT) is None

    # idle servers are culled as on every tier
    assert "idle-culler" in ops.api("GET", "/services")
