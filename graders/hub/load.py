"""Spawn-latency load test through JupyterHub's REST API.

N users (``load-000`` …) ask for their servers at once; the latency of each is the time from its
``POST /hub/api/users/<name>/server`` until the hub reports the server ready. The servers are
stopped afterwards. Works on any tier; ``graders hub-load`` runs it on a fresh embedded hub.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .client import HubClient


@dataclass
class LoadReport:
    latencies_s: dict[str, float]
    failures: dict[str, str]
    wall_s: float

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the latencies (q in 0..100)."""
        values = sorted(self.latencies_s.values())
        if not values:
            return float("nan")
        return values[max(0, min(len(values) - 1, math.ceil(q / 100 * len(values)) - 1))]

    def format(self) -> str:
        n = len(self.latencies_s)
        lines = [f"{n} servers ready of {n + len(self.failures)} in {self.wall_s:.1f} s",
                 f"spawn latency: p50 {self.percentile(50):.1f} s  p90 {self.percentile(90):.1f} s  "
                 f"max {max(self.latencies_s.values(), default=float('nan')):.1f} s"]
        lines += [f"FAILED {name}: {why}" for name, why in sorted(self.failures.items())]
        return "\n".join(lines)


def spawn_many(client: HubClient, users: int, prefix: str = "load-", timeout_s: float = 300.0,
               stop: bool = True) -> LoadReport:
    """Start ``users`` servers at once through the REST API and time each until ready."""
    names = [f"{prefix}{i:03d}" for i in range(users)]
    client.ensure_users(names)

    def one(name: str) -> tuple[str, float | None, str]:
        start = time.monotonic()
        try:
            client.start_server(name)
            deadline = start + timeout_s
            while time.monotonic() < deadline:
                if client.server_ready(name):
                    return name, time.monotonic() - start, ""
                time.sleep(0.2)
            return name, None, f"not ready after {timeout_s:.0f} s"
        except Exception as exc:  # noqa: BLE001 - a failed spawn is a result of the load test
            return name, None, str(exc)

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=users) as pool:
        results = list(pool.map(one, names))
    wall = time.monotonic() - began
    if stop:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(client.stop_server, names))
    return LoadReport({n: t for n, t, _ in results if t is not None},
                      {n: why for n, t, why in results if t is None}, wall)
