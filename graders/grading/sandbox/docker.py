"""A container per submission, from the course's notebook image, through the Docker SDK.

Over the local sandbox it adds: the student's own software stack (the notebook image the
hub serves), a kernel-enforced memory/CPU/PID budget (cgroups), ``--network none``, a
read-only root file system with a small tmpfs, all capabilities dropped, no new privileges,
a non-root user, and a GPU when grading on one (a DeviceRequest for the given cards).

The kernel still talks to the grader over IPC sockets: the connection file's folder and
the submission's scratch folder are bind-mounted at the same paths.  jupyter_client starts
``python -m graders.grading.sandbox.docker SPEC``, a small launcher that runs the container
with the SDK, waits for it, and removes it when it exits or when the launcher is killed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from traitlets import Bool, Float, Int, List, Unicode

from .base import Sandbox, SandboxUnavailable
from .kernel import kernel_environment


class DockerSandbox(Sandbox):
    name = "docker"

    image = Unicode("dl-pytorch-notebook:2026.11-cpu", help="The course's notebook image (pinned tag)").tag(config=True)
    user = Unicode("1000:100", help="uid:gid inside the container (jovyan in docker-stacks images)").tag(config=True)
    memory_mb = Int(6144).tag(config=True)
    cpus = Float(1.0, help="CPU share of one kernel").tag(config=True)
    pids_limit = Int(256).tag(config=True)
    tmpfs_mb = Int(512, help="Size of the writable /tmp").tag(config=True)
    workdir_mb = Int(1024, help="Size of the kernel's working folder (a tmpfs)").tag(config=True)
    gpu = Bool(False, help="Grade on a GPU (needs the NVIDIA container toolkit)").tag(config=True)
    gpu_ids = List(Unicode(), help="Cards to use; empty with gpu=True: any one card").tag(config=True)
    python = Unicode("python", help="The image's Python that runs ipykernel").tag(config=True)

    def check(self) -> None:
        try:
            import docker
        except ImportError:
            raise SandboxUnavailable("the docker sandbox needs the Docker SDK: pip install docker") from None
        try:
            docker.from_env().ping()
        except Exception as exc:  # noqa: BLE001 - any failure means: no engine to talk to
            raise SandboxUnavailable(f"no Docker engine answers ({exc}); start dockerd, or set "
                                     "c.SandboxedExecute.sandbox = 'local'") from None

    def container_spec(self, cmd: list[str], workdir: Path, runtime_dir: Path) -> dict:
        """Keyword arguments for ``docker.client.containers.run`` (JSON-serialisable)."""
        kernel_cmd = [self.python] + cmd[1:]  # the image's Python, same flags (-I: isolated)
        spec = {
            "image": self.image,
            "command": kernel_cmd,
            "user": self.user,
            "network_mode": "none",
            "read_only": True,
            # /tmp and the working folder are tmpfs with a size: quotas, and nothing left behind
            "tmpfs": {"/tmp": f"size={self.tmpfs_mb}m,mode=1777",
                      str(workdir): f"size={self.workdir_mb}m,mode=1777"},
            "mem_limit": f"{self.memory_mb}m",
            "memswap_limit": f"{self.memory_mb}m",
            "nano_cpus": int(self.cpus * 1e9),
            "pids_limit": self.pids_limit,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "working_dir": str(workdir),
            "environment": {**kernel_environment(), "HOME": "/tmp", "MPLCONFIGDIR": "/tmp/matplotlib"},
            "volumes": {str(runtime_dir): {"bind": str(runtime_dir), "mode": "rw"}},  # the sockets only
            "detach": True,
            "labels": {"org.dl-pytorch.role": "grading-kernel", "org.dl-pytorch.runtime": str(runtime_dir)},
        }
        if self.gpu:
            spec["device_requests"] = [{"Driver": "nvidia", "Capabilities": [["gpu"]],
                                        **({"DeviceIDs": list(self.gpu_ids)} if self.gpu_ids else {"Count": 1})}]
            spec["environment"]["NVIDIA_DRIVER_CAPABILITIES"] = "compute,utility"
        return spec

    def prepare(self, workdir: Path, connection_file: Path) -> None:
        uid, gid = (int(x) for x in self.user.split(":"))
        if os.geteuid() == 0:
            for path in (workdir, connection_file.parent):
                for root, _, files in os.walk(path):
                    os.chown(root, uid, gid)
                    for name in files:
                        os.chown(os.path.join(root, name), uid, gid)

    def wrap(self, cmd: list[str], workdir: Path) -> list[str]:
        runtime_dir = Path(cmd[cmd.index("-f") + 1]).parent
        spec_path = runtime_dir / "container.json"
        spec_path.write_text(json.dumps(self.container_spec(cmd, workdir, runtime_dir)))
        return [sys.executable, "-m", "graders.grading.sandbox.docker", str(spec_path)]

    def cleanup(self, runtime_dir: Path) -> None:
        """A SIGKILLed launcher (kernel restart) cannot remove its container: do it here."""
        try:
            import docker

            client = docker.from_env()
            for container in client.containers.list(all=True, filters={"label": f"org.dl-pytorch.runtime={runtime_dir}"}):
                _remove(container)
        except Exception:  # noqa: BLE001 - no engine: nothing to clean
            pass

    def describe(self) -> dict[str, object]:
        return {"backend": self.name, "image": self.image, "user": self.user, "network": "none",
                "memory_mb": self.memory_mb, "cpus": self.cpus, "pids_limit": self.pids_limit,
                "gpu": list(self.gpu_ids) or self.gpu}


def run_container(spec: dict, client=None) -> int:
    """Run the kernel's container until it exits; remove it however the launcher ends."""
    if client is None:
        import docker

        client = docker.from_env()
    spec = dict(spec)
    requests = spec.pop("device_requests", None)
    if requests:
        from docker.types import DeviceRequest

        spec["device_requests"] = [DeviceRequest(driver=r.get("Driver", ""), count=r.get("Count", 0),
                                                 device_ids=r.get("DeviceIDs"), capabilities=r["Capabilities"])
                                   for r in requests]
    container = client.containers.run(**spec)

    def stop(signum, frame):
        _remove(container)
        sys.exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        return int(container.wait().get("StatusCode", 1))
    finally:
        _remove(container)


def _remove(container) -> None:
    try:
        container.remove(force=True)
    except Exception:  # noqa: BLE001 - already gone
        pass


if __name__ == "__main__":
    sys.exit(run_container(json.loads(Path(sys.argv[1]).read_text())))
