"""The Kubernetes tier: the grading Job's manifests, and its two-container kernel hand-off run
for real on one machine (the kernel container's `serve` loop as a second local process)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import yaml
from conftest import DOUBLE, SMOKE_FULL, SMOKE_LOST_DOUBLE, grade_smoke_variants

from graders.cli import main
from graders.grading.kubernetes import GradingTier, grading_job, network_policy


def _containers(job):
    return {c["name"]: c for c in job["spec"]["template"]["spec"]["containers"]}


def test_kernel_container_is_confined_and_holds_no_credentials():
    job = grading_job(GradingTier(), "class01_neural_networks", "Alice_Smith")
    assert job["metadata"]["name"] == "grade-class01-neural-networks-alice-smith"
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
    kernel, grader = _containers(job)["kernel"], _containers(job)["grader"]
    assert kernel["securityContext"]["readOnlyRootFilesystem"] is True
    assert kernel["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert [e for e in kernel["env"] if "valueFrom" in e or e["name"].startswith("GRADERS")] == []  # no secret
    assert {m["mountPath"] for m in kernel["volumeMounts"]} == {"/shared", "/tmp"}  # nothing of the course
    assert kernel["resources"]["limits"]["nvidia.com/gpu"] == "0"  # explicit: CPU jobs see no GPU
    assert "GRADERS_DB_URL" in {e["name"] for e in grader["env"]}
    assert grader["command"][-3:] == ["grade-task", "class01_neural_networks", "Alice_Smith"]  # every engine's unit
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 1800


def test_gpu_jobs_request_one_card():
    kernel = _containers(grading_job(GradingTier(gpu=True), "a", "s"))["kernel"]
    assert kernel["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "compute,utility"} in kernel["env"]


def test_network_policy_allows_only_the_gradebook_and_dns():
    policy = network_policy(GradingTier())
    assert policy["spec"]["ingress"] == [] and set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ports = sorted(p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"])
    assert ports == [53, 53, 5432]


def test_cli_prints_one_job_per_submission(mini_course, capsys):
    for student in ("ann", "bo"):
        (mini_course.submission_dir(student, "smoke")).mkdir(parents=True)
    assert main(["--course", str(mini_course.root), "k8s-jobs", "smoke", "--gpu"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["NetworkPolicy", "Job", "Job"]
    assert [d["metadata"]["name"] for d in docs[1:]] == ["grade-smoke-ann", "grade-smoke-bo"]


@pytest.fixture
def server(tmp_path):
    """The kernel container's server, as a local process sharing a folder with the grader."""
    shared = tmp_path / "shared"
    (shared / "handoff").mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-m", "graders.grading.sandbox.pod", "serve", str(shared / "handoff")])
    yield shared
    proc.kill()
    proc.wait()


def test_kernels_run_in_the_other_container_and_recover(mini_course, server):
    hangs = ("import time\nwhile True:\n    try:\n        time.sleep(0.2)\n"
             "    except KeyboardInterrupt:\n        pass\n" + DOUBLE)
    cases = {"good": (None, SMOKE_FULL), "wrong": ("def double(x):\n    return 3 * x\n", SMOKE_LOST_DOUBLE),
             "exits": ("import os\nos._exit(1)\n" + DOUBLE, SMOKE_LOST_DOUBLE), "hangs": (hangs, SMOKE_LOST_DOUBLE)}
    results = grade_smoke_variants(
        mini_course, {s: code for s, (code, _) in cases.items()},
        f"c.SandboxedExecute.sandbox = 'pod'\nc.PodSandbox.handoff_dir = {str(server / 'handoff')!r}\n"
        f"c.PodSandbox.python = {sys.executable!r}\nc.SandboxedExecute.cell_timeout = 8")
    for student, (_, expected) in cases.items():
        outcome, got = results[student]
        assert outcome.graded, outcome.message
        assert got == expected, f"{student}: expected {expected}, got {got}"
    assert "kernel restarted" in results["hangs"][0].message
    handoff = server / "handoff"
    assert not list(handoff.glob("*.start")), "every kernel request was served"
    deadline = time.monotonic() + 10  # the server reaps the last kernels on its next polls
    while len(list(handoff.glob("*.exit"))) < len(list(handoff.glob("*.claimed"))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(list(handoff.glob("*.exit"))) == len(list(handoff.glob("*.claimed"))), "every kernel ended"
