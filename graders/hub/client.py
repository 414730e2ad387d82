"""A small client of JupyterHub's REST API, for scripts: users, tokens, servers, services."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests


class HubError(RuntimeError):
    pass


@dataclass
class HubClient:
    url: str                  # the public URL, e.g. http://127.0.0.1:8000
    token: str
    timeout: float = 30.0

    def __post_init__(self):
        self.url = self.url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {self.token}"

    def request(self, method: str, path: str, *, ok=(200, 201, 202, 204), **kwargs) -> requests.Response:
        """A request to ``path`` under the hub's public URL (``/hub/api/...``, ``/user/...``, ``/services/...``)."""
        response = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        if ok and response.status_code not in ok:
            raise HubError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response

    def api(self, method: str, path: str, **kwargs):
        response = self.request(method, "/hub/api" + path, **kwargs)
        return response.json() if response.content else None

    def as_user(self, name: str, note: str = "graders") -> "HubClient":
        """A client holding a new token of user ``name`` (needs the ``tokens`` scope)."""
        token = self.api("POST", f"/users/{name}/tokens", json={"note": note})["token"]
        return HubClient(self.url, token, self.timeout)

    def ensure_users(self, names: list[str]) -> None:
        existing = {u["name"] for u in self.api("GET", "/users", params={"limit": 10000})}
        missing = [n for n in names if n not in existing]
        if missing:
            self.api("POST", "/users", json={"usernames": missing})

    def start_server(self, name: str, options: dict | None = None) -> None:
        self.api("POST", f"/users/{name}/server", json=options or {}, ok=(201, 202, 400))

    def server_ready(self, name: str) -> bool:
        server = self.api("GET", f"/users/{name}")["servers"].get("", {})
        return bool(server.get("ready"))

    def wait_ready(self, name: str, timeout: float = 120.0, poll: float = 0.1) -> float:
        """Seconds until ``name``'s default server is ready."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.server_ready(name):
                return time.monotonic() - start
            time.sleep(poll)
        raise HubError(f"{name}'s server was not ready after {timeout:.0f} s: see the hub's log")

    def stop_server(self, name: str, wait_s: float = 60.0) -> None:
        """Stop ``name``'s default server and wait until the hub has it stopped."""
        self.api("DELETE", f"/users/{name}/server", ok=(202, 204, 400))
        deadline = time.monotonic() + wait_s
        while self.api("GET", f"/users/{name}")["servers"]:
            if time.monotonic() > deadline:
                raise HubError(f"{name}'s server did not stop within {wait_s:.0f} s")
            time.sleep(0.2)
