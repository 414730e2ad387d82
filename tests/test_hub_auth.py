"""One identity per person on every tier, without a running hub: the embedded hub's roster
credentials, the Docker/Kubernetes tiers' sign-up-and-approval (NativeAuthenticator, for real on
an SQLite hub database), the campus login's (LTI 1.3) configuration, and no classroom without
isolation. The embedded hub logs people in for real in tests/test_hub_isolation.py."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import yaml
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[1]


def test_roster_credentials_are_one_per_person_hashed_and_kept(tmp_path):
    from graders.hub.auth import RosterAuthenticator, issue_credentials, read_hashes

    store = tmp_path / "credentials.json"
    issued = issue_credentials(store, ["alice", "bob", "instructor"])
    assert sorted(issued) == ["alice", "bob", "instructor"] and len(set(issued.values())) == 3
    assert store.stat().st_mode & 0o077 == 0
    assert not any(password in store.read_text() for password in issued.values())
    assert issue_credentials(store, ["alice", "bob", "instructor", "carol"]).keys() == {"carol"}   # others kept
    again = issue_credentials(store, ["alice"], reset=["alice"])
    assert again.keys() == {"alice"} and again["alice"] != issued["alice"]
    assert len(read_hashes(store)) == 4

    auth = RosterAuthenticator(credentials_file=str(store))

    def log_in(name, password):
        return asyncio.run(auth.authenticate(None, {"username": name, "password": password}))

    assert log_in("bob", issued["bob"]) == "bob"
    assert log_in("instructor", issued["bob"]) is None            # bob's credential is bob's only
    assert log_in("alice", issued["alice"]) is None               # replaced
    assert log_in("alice", again["alice"]) == "alice"
    assert log_in("mallory", issued["bob"]) is None and log_in("bob", "") is None


@pytest.fixture
def hub_db(tmp_path):
    from jupyterhub import orm

    url = f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}"
    return url, orm.new_session_factory(url)()


def test_signups_wait_for_approval_even_for_instructors_and_only_roster_names_sign_up(hub_db):
    from graders.hub.auth import ApprovedSignupAuthenticator, authorize_signup

    url, db = hub_db
    config = Config()
    config.Authenticator.allowed_users = {"instructor", "alice"}
    config.Authenticator.admin_users = {"instructor"}
    auth = ApprovedSignupAuthenticator(config=config, _deprecated_db_session=db)

    def log_in(name, password):
        return asyncio.run(auth.authenticate(None, {"username": name, "password": password}))

    password = "a-long-passphrase-of-mine"
    # NativeAuthenticator itself would pre-approve "instructor" (an admin) and "alice" (allowed)
    assert auth.create_user("instructor", password) is not None
    assert auth.create_user("alice", password) is not None
    assert auth.create_user("mallory", password) is None          # not on the roster: no sign-up at all
    assert log_in("instructor", password) is None and log_in("alice", password) is None
    assert authorize_signup(url, "instructor")                     # from the machine: graders hub-authorize
    db.expire_all()
    assert log_in("instructor", password) == "instructor"
    assert log_in("alice", password) is None                       # still waiting for the instructor
    assert not authorize_signup(url, "nobody")


def test_plain_nativeauthenticator_would_let_anyone_sign_up_as_the_instructor(hub_db):
    """The control for the test above: what ApprovedSignupAuthenticator changes."""
    from nativeauthenticator import NativeAuthenticator

    _, db = hub_db
    config = Config()
    config.Authenticator.allowed_users = {"instructor", "alice"}
    config.Authenticator.admin_users = {"instructor"}
    plain = NativeAuthenticator(config=config, _deprecated_db_session=db)
    plain.create_user("instructor", "whoever-came-first-1")
    assert asyncio.run(plain.authenticate(None, {"username": "instructor",
                                                 "password": "whoever-came-first-1"})) == "instructor"


def test_lti13_campus_login_configuration():
    from ltiauthenticator.lti13.auth import LTI13Authenticator

    from graders.hub.auth import configure_lti13

    env = {"GRADERS_HUB_LTI_ISSUER": "https://canvas.example.edu",
           "GRADERS_HUB_LTI_CLIENT_ID": "125900000000000001",
           "GRADERS_HUB_LTI_AUTHORIZE_URL": "https://canvas.example.edu/api/lti/authorize_redirect",
           "GRADERS_HUB_LTI_JWKS_URL": "https://canvas.example.edu/api/lti/security/jwks",
           "GRADERS_HUB_LTI_USERNAME_KEY": "custom_login"}
    c = Config()
    configure_lti13(c, env)
    assert c.JupyterHub.authenticator_class == "ltiauthenticator.lti13.auth.LTI13Authenticator"
    auth = LTI13Authenticator(config=c)
    assert auth.issuer == env["GRADERS_HUB_LTI_ISSUER"] and auth.client_id == {env["GRADERS_HUB_LTI_CLIENT_ID"]}
    assert auth.jwks_endpoint.endswith("/jwks") and auth.username_key == "custom_login"
    assert auth.login_url("/hub/") == "/hub/lti13/oauth_login"     # the LMS's login initiation URL
    with pytest.raises(KeyError, match="GRADERS_HUB_LTI_JWKS_URL"):
        configure_lti13(Config(), {k: v for k, v in env.items() if k != "GRADERS_HUB_LTI_JWKS_URL"})


def test_no_classroom_without_isolation(tmp_path, monkeypatch):
    from graders.hub import config
    from graders.hub.settings import settings_from_env

    course = tmp_path / "course"
    shutil.copytree(REPO / "tests" / "fixtures" / "mini_course", course)
    shutil.copy(REPO / "nbgrader_config.py", course)
    roster = tmp_path / "roster.yaml"
    roster.write_text(yaml.safe_dump({"courses": [{"root": str(course), "students": ["alice"]}]}))
    monkeypatch.setenv("GRADERS_HUB_ROSTER", str(roster))
    monkeypatch.setenv("GRADERS_HUB_STATE", str(tmp_path / "state"))
    monkeypatch.setattr(config, "isolation_missing", lambda: ["root (the hub starts each server as its own account)"])
    for bind in ("http://0.0.0.0:8000", "http://:8000", "http://10.1.2.3:8000"):
        monkeypatch.setenv("GRADERS_HUB_BIND_URL", bind)
        with pytest.raises(PermissionError, match="Run it as root with bubblewrap"):
            config.configure_hub(Config(), settings_from_env(), "local")
    monkeypatch.setenv("GRADERS_HUB_BIND_URL", "http://127.0.0.1:8000")
    c = Config()
    config.configure_hub(c, settings_from_env(), "local")               # loopback: a developer's hub
    assert c.JupyterHub.authenticator_class == "graders.hub.auth.RosterAuthenticator"
    assert c.JupyterHub.spawner_class.endswith("SimpleLocalProcessSpawner")


def test_accounts_are_never_someone_elses():
    import os

    from graders.hub.confine import AccountError, ensure_account

    if os.geteuid() != 0:
        pytest.skip("making accounts needs root")
    for taken in ("root", "daemon", "nobody"):
        with pytest.raises(AccountError, match="did not make"):
            ensure_account(taken)
    with pytest.raises(AccountError, match="cannot be a Unix account name"):
        ensure_account("Alice Smith")
    made = ensure_account("graders-probe-acct")
    assert made.pw_uid >= 1000 and made.pw_gecos == "graders-hub" and ensure_account("graders-probe-acct") == made


def test_lti13_replaces_each_tiers_login(tmp_path, monkeypatch):
    from graders.hub import config
    from graders.hub.settings import settings_from_env

    course = tmp_path / "course"
    shutil.copytree(REPO / "tests" / "fixtures" / "mini_course", course)
    shutil.copy(REPO / "nbgrader_config.py", course)
    roster = tmp_path / "roster.yaml"
    roster.write_text(yaml.safe_dump({"courses": [{"root": str(course), "students": ["alice"]}]}))
    for key, value in {"GRADERS_HUB_ROSTER": str(roster), "GRADERS_HUB_STATE": str(tmp_path / "state"),
                       "GRADERS_HUB_AUTH": "lti13", "GRADERS_HUB_LTI_ISSUER": "https://lms.example.edu",
                       "GRADERS_HUB_LTI_CLIENT_ID": "7", "GRADERS_HUB_LTI_AUTHORIZE_URL": "https://lms.example.edu/auth",
                       "GRADERS_HUB_LTI_JWKS_URL": "https://lms.example.edu/jwks"}.items():
        monkeypatch.setenv(key, value)
    for tier in ("docker", "kubernetes"):
        c = Config()
        config.configure_hub(c, settings_from_env(), tier)
        assert c.JupyterHub.authenticator_class == "ltiauthenticator.lti13.auth.LTI13Authenticator", tier
    monkeypatch.setenv("GRADERS_HUB_AUTH", "shared-password")
    with pytest.raises(ValueError, match="lti13"):
        config.configure_hub(Config(), settings_from_env(), "docker")
