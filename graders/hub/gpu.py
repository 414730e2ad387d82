"""GPU servers under DockerSpawner: one card per GPU user, tracked, and freed when the server stops.

A ``DeviceRequest`` with ``count=1`` lets Docker pick "one GPU", which is the first card every
time: every GPU user lands on the same card (dockerspawner#331). Instead the hub keeps a pool of
the machine's cards ($GRADERS_HUB_GPUS, e.g. ``0,1,2,3``): a GPU server gets a free card by id
(``device_ids``), the card is returned by the spawner's ``post_stop_hook`` (stop, cull, failed
start), and the containers carry their card in a label so a restarted hub takes back the cards
of the servers still running. CPU servers get no device request and ``NVIDIA_VISIBLE_DEVICES=void``
(so even an engine whose default runtime is nvidia shows them no card).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from .config import IDLE_SHUTDOWN_ENV

GPU_LABEL = "org.graders.hub.gpu"
HOLDER_LABEL = "org.graders.hub.server"


class GpuUnavailable(RuntimeError):
    """All cards are taken; JupyterHub shows the message on the spawn page (``jupyterhub_message``)."""

    @property
    def jupyterhub_message(self) -> str:
        return str(self)


@dataclass(frozen=True)
class NotebookImages:
    cpu: str
    gpu: str

    def choices(self, gpu: bool) -> dict[str, str]:
        """DockerSpawner's ``allowed_images``: the spawn page's choice (one entry: no form)."""
        found = {"CPU server: PyTorch": self.cpu}
        if gpu:
            found["GPU server: PyTorch + CUDA, one card of your own"] = self.gpu
        return found


def images_from_env(env: Mapping[str, str] | None = None) -> NotebookImages:
    env = os.environ if env is None else env
    return NotebookImages(cpu=env.get("GRADERS_HUB_CPU_IMAGE", "dl-pytorch-notebook:2026.11-cpu"),
                          gpu=env.get("GRADERS_HUB_GPU_IMAGE", "dl-pytorch-notebook:2026.11-gpu"))


class SharedByConfigCopies:
    """traitlets deep-copies config values into each spawner: the hub's one pool must stay one."""

    def __deepcopy__(self, memo):
        return self


@dataclass
class GpuPool(SharedByConfigCopies):
    """Which card each running GPU server holds (changed only on the hub's event loop)."""

    device_ids: tuple[str, ...]
    holders: dict[str, str] = field(default_factory=dict)      # device id -> server ("user/name")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "GpuPool":
        env = os.environ if env is None else env
        return cls(tuple(d.strip() for d in env.get("GRADERS_HUB_GPUS", "").split(",") if d.strip()))

    def acquire(self, server: str) -> str:
        """The card of ``server``: the one it holds already, else the first free one."""
        for device, holder in self.holders.items():
            if holder == server:
                return device
        for device in self.device_ids:
            if device not in self.holders:
                self.holders[device] = server
                return device
        if not self.device_ids:
            raise GpuUnavailable("this hub has no GPUs (set GRADERS_HUB_GPUS to the cards' ids): start a CPU server")
        raise GpuUnavailable(f"all {len(self.device_ids)} GPUs are in use ({', '.join(sorted(self.holders.values()))}): "
                             "start a CPU server, or try again when a GPU server stops")

    def release(self, server: str) -> str | None:
        for device, holder in list(self.holders.items()):
            if holder == server:
                del self.holders[device]
                return device
        return None

    def adopt(self, device: str, server: str) -> None:
        """Record a card held by a server found running (after a hub restart)."""
        if device in self.device_ids:
            self.holders.setdefault(device, server)


def server_key(spawner) -> str:
    return f"{spawner.user.name}/{spawner.name}"


@dataclass
class GpuScheduler(SharedByConfigCopies):
    """DockerSpawner's callables: ``extra_create_kwargs``, ``extra_host_config``, ``post_stop_hook``."""

    pool: GpuPool
    gpu_image: str
    gpu_idle_timeout_s: int = 1200
    shm_size: str = "2g"                 # /dev/shm for DataLoader workers (Docker's default: 64 MB)
    _adopted: bool = False

    def wants_gpu(self, spawner) -> bool:
        return spawner.image == self.gpu_image

    def device_for(self, spawner) -> str:
        if not self._adopted:
            self._adopt_running(spawner.client)
        return self.pool.acquire(server_key(spawner))

    def create_kwargs(self, spawner) -> dict:
        if not self.wants_gpu(spawner):
            return {"environment": {"NVIDIA_VISIBLE_DEVICES": "void"}}
        device = self.device_for(spawner)
        return {
            "environment": {"NVIDIA_VISIBLE_DEVICES": device, "NVIDIA_DRIVER_CAPABILITIES": "compute,utility",
                            IDLE_SHUTDOWN_ENV: str(self.gpu_idle_timeout_s)},
            "labels": {GPU_LABEL: device, HOLDER_LABEL: server_key(spawner)},
        }

    def host_config(self, spawner) -> dict:
        config = {"shm_size": self.shm_size}
        if self.wants_gpu(spawner):
            from docker.types import DeviceRequest

            config["device_requests"] = [DeviceRequest(driver="nvidia", device_ids=[self.device_for(spawner)],
                                                       capabilities=[["gpu"]])]
        return config

    def release(self, spawner) -> None:
        device = self.pool.release(server_key(spawner))
        if device is not None:
            spawner.log.info("GPU %s freed by %s", device, server_key(spawner))

    def _adopt_running(self, client) -> None:
        """Take back the cards of GPU containers still running from before a hub restart."""
        for container in client.containers(filters={"label": GPU_LABEL}):
            labels = container.get("Labels") or {}
            self.pool.adopt(labels[GPU_LABEL], labels.get(HOLDER_LABEL, container.get("Id", "?")))
        self._adopted = True
