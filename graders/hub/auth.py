"""One identity per person, on every tier.

- ``RosterAuthenticator`` (embedded hub): a credential per person of the roster, made by the hub
  and shown once to whoever started it (``graders hub`` prints them and writes them to a file in the
  hub's state folder, readable by that account only). The hub keeps scrypt hashes only.
- ``ApprovedSignupAuthenticator`` (Docker and Kubernetes tiers): NativeAuthenticator, where people
  sign up and an instructor approves each sign-up. NativeAuthenticator pre-approves every name it
  is told to allow, admins included; on a course hub that would let the first student to sign up as
  ``instructor`` become one. Here nobody is pre-approved, only roster names may sign up, and the
  first instructor is approved from the machine (``graders hub-authorize NAME``).
- Campus login (LTI 1.3, through jupyterhub-ltiauthenticator): ``configure_lti13``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Iterable, Mapping

from jupyterhub.auth import Authenticator
from traitlets import Unicode

CREDENTIALS_FILE = "credentials.json"            # hashes, in the hub's state folder
SHOWN_CREDENTIALS_FILE = "credentials-new.txt"   # the new ones in clear, for whoever started the hub
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"      # no 0/o, 1/l/i: read aloud, typed by hand
SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def new_password() -> str:
    """Four groups of four: 80 bits."""
    return "-".join("".join(secrets.choice(ALPHABET) for _ in range(4)) for _ in range(4))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **SCRYPT)
    return scheme == "scrypt" and hmac.compare_digest(candidate, bytes.fromhex(digest))


def read_hashes(path: Path) -> dict[str, str]:
    return json.loads(Path(path).read_text()) if Path(path).exists() else {}


def issue_credentials(path: Path, names: Iterable[str], reset: Iterable[str] = ()) -> dict[str, str]:
    """A credential for each name that has none (and for each name in ``reset``); the hashes go to
    ``path`` (mode 0600); the new credentials in clear are returned, never stored here."""
    hashes = read_hashes(path)
    issued = {name: new_password() for name in sorted(set(names)) if name not in hashes or name in set(reset)}
    if issued:
        hashes.update({name: hash_password(password) for name, password in issued.items()})
        partial = Path(path).with_suffix(".partial")
        partial.write_text(json.dumps(hashes, indent=1, sort_keys=True))
        partial.chmod(0o600)
        partial.replace(path)
    return issued


def show_credentials(folder: Path, issued: Mapping[str, str], owner_uid: int | None = None) -> Path:
    """Write the new credentials for the person who started the hub: mode 0600, their file."""
    path = Path(folder) / SHOWN_CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# Hand each person their own line; nobody else's. Delete this file once handed out.\n")
        out.writelines(f"{name}\t{password}\n" for name, password in sorted(issued.items()))
    os.chmod(path, 0o600)
    if owner_uid is not None and os.geteuid() == 0:
        os.chown(path, owner_uid, -1)
    return path


class RosterAuthenticator(Authenticator):
    """Logs in each person of the roster with their own credential (``issue_credentials``)."""

    credentials_file = Unicode(help="JSON: user name -> scrypt hash (graders.hub.auth.issue_credentials)"
                               ).tag(config=True)

    async def authenticate(self, handler, data):
        name = self.normalize_username(data.get("username", ""))
        stored = read_hashes(Path(self.credentials_file)).get(name)   # read each time: new credentials need no restart
        if stored and password_matches(data.get("password", ""), stored):
            return name
        return None


def _native_base():
    try:
        from nativeauthenticator import NativeAuthenticator
    except ImportError as exc:             # the hub images install it; requirements.txt pins it
        raise ImportError("the Docker and Kubernetes tiers log people in with jupyterhub-nativeauthenticator: "
                          "pip install jupyterhub-nativeauthenticator==1.3.0") from exc
    return NativeAuthenticator


class ApprovedSignupAuthenticator(_native_base()):
    """NativeAuthenticator where every sign-up waits for an instructor, and only roster names sign up."""

    def get_authed_users(self) -> set[str]:
        # NativeAuthenticator adds allowed_users and admin_users here, which pre-approves their sign-ups
        return {info.username for info in self._user_infos() if info.is_authorized}

    def _user_infos(self):
        from nativeauthenticator.orm import UserInfo

        return UserInfo.all_users(self.db)

    def validate_username(self, username: str) -> bool:
        return super().validate_username(username) and (not self.allowed_users or username in self.allowed_users)


def authorize_signup(db_url: str, name: str) -> bool:
    """Approve ``name``'s pending sign-up in the hub's database (the first instructor's, from the
    machine: whoever can run this can run the hub). False when nobody signed up with that name."""
    from jupyterhub import orm
    from nativeauthenticator.orm import UserInfo

    db = orm.new_session_factory(db_url)()
    try:
        info = UserInfo.find(db, name)
        if info is None:
            return False
        info.is_authorized = True
        db.commit()
        return True
    finally:
        db.close()


LTI13_ENV = {  # what an LMS administrator gives you when registering the hub as an LTI 1.3 tool
    "GRADERS_HUB_LTI_ISSUER": "issuer",                  # e.g. https://canvas.instructure.com
    "GRADERS_HUB_LTI_CLIENT_ID": "client_id",            # the developer key's client id
    "GRADERS_HUB_LTI_AUTHORIZE_URL": "authorize_url",    # the LMS's OIDC authorization endpoint
    "GRADERS_HUB_LTI_JWKS_URL": "jwks_endpoint",         # the LMS's public keys
}


def configure_lti13(c, env: Mapping[str, str] | None = None) -> None:
    """Log in through the campus LMS (LTI 1.3 launch, jupyterhub-ltiauthenticator). The user name is
    an LMS claim (``$GRADERS_HUB_LTI_USERNAME_KEY``, the package's default: ``email``); the roster
    must name people by the same claim."""
    env = os.environ if env is None else env
    missing = [key for key in LTI13_ENV if not env.get(key)]
    if missing:
        raise KeyError(f"LTI 1.3 login needs {', '.join('$' + k for k in missing)}: the values your LMS shows "
                       "when you register the hub as an LTI 1.3 tool (see the README's hub section)")
    c.JupyterHub.authenticator_class = "ltiauthenticator.lti13.auth.LTI13Authenticator"
    for key, trait in LTI13_ENV.items():
        value = env[key]
        setattr(c.LTI13Authenticator, trait, [value] if trait == "client_id" else value)
    if env.get("GRADERS_HUB_LTI_USERNAME_KEY"):
        c.LTI13Authenticator.username_key = env["GRADERS_HUB_LTI_USERNAME_KEY"]
