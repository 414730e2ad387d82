"""The embedded hub's trust boundary, attacked from a student's side for real (root only: CI).

alice attacks from code in a kernel started through her own server's API, and with her own
token and credential over HTTP. Every probe is paired with a control that shows it can succeed
where it should (the test process reads the course; alice reads her own home; the instructor
collects), so a probe that fails only because it is broken does not pass as a defence. The same
run shows bob's submission intact and the instructor collecting both with the exchange's times.
"""

from __future__ import annotations

import json
import os
import pwd
import textwrap
import uuid
from pathlib import Path

import pytest
import requests

from hub_fixtures import ASSIGNMENT, COURSE, FORMGRADER_API

SECRET = "course-secret-for-the-isolation-probes"
HUB_SECRET = "hub-tests"                # $GRADERS_SECRET of the hub and its formgrader (tests/hub_fixtures.py)
FORGED = "2000-01-01 00:00:00.000000 UTC"


@pytest.fixture(scope="module")
def isolated(embedded_hub):
    from graders.hub.config import isolates_users

    if not isolates_users("local"):
        pytest.skip("the embedded hub isolates students only as root with bubblewrap (CI runs as root)")
    return embedded_hub


def run_in_kernel(client, user: str, kernel_id: str, code: str, timeout: float = 120) -> str:
    """Execute ``code`` in ``user``'s kernel through their server's websocket; its stdout."""
    import websocket

    url = client.url.replace("http", "ws", 1) + f"/user/{user}/api/kernels/{kernel_id}/channels"
    ws = websocket.create_connection(url, header=[f"Authorization: token {client.token}"], timeout=timeout)
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({"header": {"msg_id": msg_id, "username": user, "session": uuid.uuid4().hex,
                                   "msg_type": "execute_request", "version": "5.3"},
                        "parent_header": {}, "metadata": {}, "channel": "shell",
                        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                                    "allow_stdin": False, "stop_on_error": True}}))
    out, error = [], None
    try:
        while True:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                error = f"{msg['content']['ename']}: {msg['content']['evalue']}"
            elif msg["msg_type"] == "execute_reply":
                break
    finally:
        ws.close()
    assert error is None, error
    return "".join(out)


PROBES = textwrap.dedent('''
    import json, os, pathlib, socket, subprocess, urllib.request
    paths = json.loads({paths!r})
    results = {{}}

    def attempt(name, action):
        try:
            value = action()
            results[name] = "OK " + str(value)[:200]
        except Exception as exc:
            results[name] = "DENIED " + type(exc).__name__ + ": " + str(exc)[:120]

    attempt("whoami", lambda: (os.getuid(), os.getgid(), os.getgroups()))
    attempt("own home (control)", lambda: pathlib.Path(os.environ["HOME"], "probe.txt").write_text("mine"))
    attempt("system file (control)", lambda: len(open("/etc/passwd").read()))
    attempt("course folder", lambda: os.listdir(paths["course"]))
    attempt("source notebook", lambda: open(paths["source"]).read())
    attempt("gradebook", lambda: open(paths["gradebook"], "rb").read(16))
    attempt("secret file", lambda: open(paths["secret"]).read())
    attempt("secret in environment", lambda: [k for k in os.environ if "SECRET" in k] or (_ for _ in ()).throw(KeyError("none")))
    attempt("other processes' environments", lambda: [p for p in os.listdir("/proc") if p.isdigit() and
            paths["secret_value"] in open(f"/proc/{{p}}/environ", errors="replace").read()] or
            (_ for _ in ()).throw(LookupError("no readable environment holds the secret")))
    attempt("processes visible", lambda: sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
    attempt("bob's home", lambda: os.listdir(paths["bob_home"]))
    # the state folder's path exists in her sandbox only as the scaffold down to her own home
    attempt("hub state", lambda: [n for n in os.listdir(paths["state"]) if n != "home"] or
            (_ for _ in ()).throw(LookupError("only the way to her own home: " + str(os.listdir(paths["state"])))))
    attempt("other homes", lambda: [n for n in os.listdir(paths["state"] + "/home") if n != "alice"] or
            (_ for _ in ()).throw(LookupError("only her own: " + str(os.listdir(paths["state"] + "/home")))))
    attempt("hub database", lambda: open(paths["hub_db"], "rb").read(16))
    attempt("exchange database", lambda: open(paths["exchange_db"], "rb").read(16))
    attempt("credentials", lambda: open(paths["credentials"]).read())
    import sys
    attempt("root's home", lambda: [n for n in os.listdir("/root") if not sys.base_prefix.startswith("/root/" + n)]
            or (_ for _ in ()).throw(LookupError("only the way to Python: " + str(os.listdir("/root")))))
    attempt("become root", lambda: os.setuid(0))
    attempt("su", lambda: subprocess.run(["su", "-c", "id", "root"], capture_output=True, timeout=10,
            stdin=subprocess.DEVNULL).returncode == 0 or (_ for _ in ()).throw(PermissionError("su failed")))
    attempt("capabilities", lambda: open("/proc/self/status").read().split("CapEff:")[1].split()[0])
    attempt("no new privileges", lambda: open("/proc/self/status").read().split("NoNewPrivs:")[1].split()[0])
    attempt("proxy API", lambda: urllib.request.urlopen(paths["proxy_api"] + "/api/routes", timeout=10).status)
    print(json.dumps(results))
''')


@pytest.fixture(scope="module")
def attack(isolated, hub_clients, released_assignment):
    """bob submits; alice attacks from her own server's kernel and with her credential; the instructor collects."""
    hub, ops, alice, bob = isolated, hub_clients["ops"], hub_clients["alice"], hub_clients["bob"]
    course, state = Path(hub.course_root), Path(hub.state_dir)
    owner = pwd.getpwuid(course.stat().st_uid)
    secret_file = course / ".graders_secret"
    if not secret_file.exists():
        secret_file.write_text(SECRET)
        secret_file.chmod(0o600)
        os.chown(secret_file, owner.pw_uid, owner.pw_gid)
    for name, client in (("alice", alice), ("bob", bob)):
        ops.start_server(name)
        ops.wait_ready(name, timeout=180)
    for action in ("fetch", "submit"):
        result = bob.request("POST", f"/user/bob/assignments/{action}",
                             data={"course_id": COURSE, "assignment_id": ASSIGNMENT}).json()
        assert result["success"] or "already have a copy" in str(result), result   # the browser test may have fetched
    exchange = f"{hub.url}/services/exchange/api"
    bob_subs = requests.get(f"{exchange}/submissions/{COURSE}", headers={"Authorization": f"token {bob.token}"},
                            timeout=30).json()["submissions"]
    bob_latest = bob_subs[-1]

    services = ops.api("GET", "/services")
    paths = {"course": str(course), "source": str(course / "source" / ASSIGNMENT / "smoke.ipynb"),
             "gradebook": str(course / "gradebook.db"), "secret": str(secret_file), "secret_value": HUB_SECRET,
             "bob_home": str(state / "home" / "bob"), "state": str(state),
             "hub_db": str(state / "jupyterhub.sqlite"), "exchange_db": str(state / "exchange" / "exchange.sqlite"),
             "credentials": str(state / "credentials.json"),
             "formgrader_url": services[COURSE]["url"].rstrip("/") + f"/services/{COURSE}/",
             "proxy_api": hub.env["GRADERS_HUB_PROXY_API_URL"]}
    kernel = alice.request("POST", "/user/alice/api/kernels", json={"name": "python3"}).json()
    try:
        probes = json.loads(run_in_kernel(alice, "alice", kernel["id"], PROBES.format(paths=json.dumps(paths)))
                            .strip().splitlines()[-1])
        # with her server's own token, from inside: the exchange and the hub
        token_probe = run_in_kernel(alice, "alice", kernel["id"], textwrap.dedent(f'''
            import base64, json, os, urllib.request, urllib.error
            token = os.environ.get("JUPYTERHUB_API_TOKEN") or {alice.token!r}
            def call(method, url, body=None):
                request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                                 headers={{"Authorization": "token " + token, "Content-Type": "application/json"}})
                try:
                    with urllib.request.urlopen(request, timeout=30) as r:
                        return r.status, json.loads(r.read() or b"null")
                except urllib.error.HTTPError as e:
                    return e.code, None
            ex = os.environ["GRADERS_HUB_EXCHANGE_URL"] + "api"
            forged = {{"files": [{{"path": "smoke.ipynb", "content": base64.b64encode(b"{{}}").decode()}},
                                 {{"path": "timestamp.txt", "content": base64.b64encode({FORGED!r}.encode()).decode()}}],
                      "student_id": "bob", "timestamp": {FORGED!r}}}
            print(json.dumps({{
                "submit as bob, forged time": call("POST", f"{{ex}}/submit/{COURSE}/{ASSIGNMENT}", forged),
                "list bob's submissions": call("GET", f"{{ex}}/submissions/{COURSE}?student=bob")[0],
                "download bob's submission": call("GET", f"{{ex}}/submission/{COURSE}/{bob_latest['id']}")[0],
                "delete bob's submission": call("DELETE", f"{{ex}}/submission/{COURSE}/{bob_latest['id']}")[0],
                "overwrite bob's feedback": call("POST", f"{{ex}}/feedback/{COURSE}/{ASSIGNMENT}/bob",
                                                 {{"timestamp": {bob_latest['timestamp']!r}, "files": []}})[0],
                "release an assignment": call("POST", f"{{ex}}/release/{COURSE}/{ASSIGNMENT}", {{"files": []}})[0],
                "hub: bob's record": call("GET", "{hub.url}/hub/api/users/bob")[0],
                "hub: a token for bob": call("POST", "{hub.url}/hub/api/users/bob/tokens", {{}})[0],
                "bob's server": call("GET", "{hub.url}/user/bob/api/contents")[0],
                "formgrader through the proxy": call("GET", "{hub.url}{FORMGRADER_API}/assignments")[0],
                "formgrader's port directly": call("GET", {paths["formgrader_url"] + "formgrader/api/assignments"!r})[0],
            }}))
        ''')).strip().splitlines()[-1]
    finally:
        alice.request("DELETE", f"/user/alice/api/kernels/{kernel['id']}", ok=None)
    collected = hub_clients["instructor"].request("POST", f"{FORMGRADER_API}/assignment/{ASSIGNMENT}/collect",
                                                  json={}).json()
    receipts = {s["student_id"]: s for s in requests.get(
        f"{exchange}/submissions/{COURSE}", headers={"Authorization": f"token {ops.as_user('instructor').token}"},
        timeout=30).json()["submissions"]}
    print("\nalice's probes:\n" + "\n".join(f"  {k}: {v}" for k, v in {**probes, **json.loads(token_probe)}.items()))
    return {"probes": probes, "token_probes": json.loads(token_probe), "collected": collected,
            "bob_latest": bob_latest, "receipts": receipts, "course": course, "state": state, "owner": owner}


def test_the_probes_themselves_work(attack):
    """Controls: what alice may do works, and the test process can read what she cannot."""
    probes, course = attack["probes"], attack["course"]
    assert probes["own home (control)"].startswith("OK")
    assert probes["system file (control)"].startswith("OK")
    assert (course / "source" / ASSIGNMENT / "smoke.ipynb").read_text()
    assert (attack["state"] / "jupyterhub.sqlite").read_bytes()[:6] == b"SQLite"
    holders = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _environ_holds(p, HUB_SECRET)]
    assert holders, "no process holds the grading secret: the environment probe would prove nothing"
    uid = pwd.getpwnam("alice").pw_uid
    assert probes["whoami"] == f"OK ({uid}, {pwd.getpwnam('alice').pw_gid}, [])" and uid != 0


@pytest.mark.parametrize("probe", ["course folder", "source notebook", "gradebook", "secret file",
                                   "secret in environment", "other processes' environments", "bob's home",
                                   "hub state", "other homes", "hub database", "exchange database", "credentials", "root's home",
                                   "become root", "su", "proxy API"])
def test_alice_kernel_cannot(attack, probe):
    assert attack["probes"][probe].startswith("DENIED"), (probe, attack["probes"][probe])


def test_alice_kernel_has_no_privileges_and_sees_only_her_processes(attack):
    assert attack["probes"]["capabilities"] == "OK 0000000000000000"
    assert attack["probes"]["no new privileges"] == "OK 1"          # setuid programs (su, passwd) gain nothing
    visible = json.loads(attack["probes"]["processes visible"].removeprefix("OK "))
    assert len(visible) < 10, visible                # her server and kernel, in a PID namespace of their own


def test_alice_token_cannot_reach_bob_or_the_course(attack):
    probes = attack["token_probes"]
    status, receipt = probes["submit as bob, forged time"]
    assert status == 200 and receipt["student_id"] == "alice" and receipt["timestamp"] != FORGED
    assert probes["list bob's submissions"] == 403
    assert probes["download bob's submission"] == 404
    assert probes["delete bob's submission"] == 405
    assert probes["overwrite bob's feedback"] == 403
    assert probes["release an assignment"] == 403
    assert probes["hub: bob's record"] in (403, 404)
    assert probes["hub: a token for bob"] in (403, 404)
    assert probes["bob's server"] in (403, 404)
    assert probes["formgrader through the proxy"] == 403
    assert probes["formgrader's port directly"] == 403


def test_the_formgrader_port_answers_its_graders(attack, hub_clients, isolated):
    """Control for the direct-port probe: the same URL with the instructor's token works."""
    services = hub_clients["ops"].api("GET", "/services")
    url = services[COURSE]["url"].rstrip("/") + f"/services/{COURSE}/formgrader/api/assignments"
    response = requests.get(url, headers={"Authorization": f"token {hub_clients['instructor'].token}"}, timeout=30)
    assert response.status_code == 200 and any(a["name"] == ASSIGNMENT for a in response.json())


def test_bob_is_intact_and_the_instructor_collects_both_with_the_exchanges_times(attack):
    assert attack["collected"]["success"], attack["collected"]
    course, receipts = attack["course"], attack["receipts"]
    bob_dir = course / "submitted" / "bob" / ASSIGNMENT
    assert (bob_dir / "timestamp.txt").read_text() == attack["bob_latest"]["timestamp"] == receipts["bob"]["timestamp"]
    assert "YOUR CODE HERE" in (bob_dir / "smoke.ipynb").read_text()        # bob's own (fetched) notebook
    alice_dir = course / "submitted" / "alice" / ASSIGNMENT
    stamped = (alice_dir / "timestamp.txt").read_text()
    assert stamped == receipts["alice"]["timestamp"] != FORGED
    assert (alice_dir / "smoke.ipynb").read_text() == "{}"                   # her forged upload, under her name


def _environ_holds(process: Path, value: str) -> bool:
    try:
        return value in (process / "environ").read_text(errors="replace")
    except OSError:
        return False


def _log_in(hub, name: str, password: str) -> bool:
    session = requests.Session()
    session.get(f"{hub.url}/hub/login", timeout=30)
    response = session.post(f"{hub.url}/hub/login", data={"username": name, "password": password,
                                                          "_xsrf": session.cookies.get("_xsrf", "")},
                            allow_redirects=False, timeout=30)
    return response.status_code == 302 and "jupyterhub-hub-login" in session.cookies


def test_one_credential_per_person(embedded_hub):
    credentials = embedded_hub.credentials
    assert len(set(credentials.values())) == len(credentials) == len(embedded_hub.people)
    assert _log_in(embedded_hub, "alice", credentials["alice"])                    # control
    for other in ("instructor", "bob", "ta"):
        assert not _log_in(embedded_hub, other, credentials["alice"]), other
    assert not _log_in(embedded_hub, "alice", credentials["alice"].upper())
    stored = (Path(embedded_hub.state_dir) / "credentials.json").read_text()
    assert all(password not in stored for password in credentials.values())         # hashes only
    shown = embedded_hub.credentials_file
    assert shown.stat().st_mode & 0o077 == 0 and credentials["alice"] in shown.read_text()
