"""The embedded hub's spawner when it runs as root: each user's server as their own account,
confined (graders.hub.confine). JupyterHub's LocalProcessSpawner does the rest (ports, state,
polling, stopping)."""

from __future__ import annotations

from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Unicode

from .confine import Confinement, ensure_account, prepare_home


class ConfinedSpawner(LocalProcessSpawner):
    homes_dir = Unicode(help="Each user's folder is HOMES_DIR/<name>, theirs alone").tag(config=True)

    @property
    def home(self) -> Path:
        return Path(self.homes_dir) / self.user.name

    def make_preexec_fn(self, name):
        return None                     # bubblewrap needs root to build the mounts; setpriv drops it after

    def user_env(self, env: dict) -> dict:
        env.update(USER=self.user.name, HOME=str(self.home), SHELL="/bin/bash")
        return env

    async def start(self):
        account = ensure_account(self.user.name)
        home = prepare_home(self.home, account)
        unconfined = list(self.cmd)
        self.cmd = Confinement(account.pw_uid, account.pw_gid, writable=[home]).command() + unconfined
        try:
            return await super().start()
        finally:
            self.cmd = unconfined
