"""The Kubernetes engine, the third implementation of the grading contract, against a stand-in for
kubectl (tests/fixtures/fake_kubectl.py: no cluster here). What is real: the Jobs the engine
applies, their grader's command (``graders grade-task``, every engine's unit of work) run with
the container's environment and Secret references, grading into a real PostgreSQL, the engine
following the Jobs through kubectl's JSON, and a Job that fails recorded per submission.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from graders.grading.autograde import autograde
from graders.grading.localcluster import fresh_database
from graders.grading.status import GRADING, load
from slurm_fixtures import ASSIGNMENT, scores, smoke_course

FAKE_KUBECTL = Path(__file__).parent / "fixtures" / "fake_kubectl.py"
SECRET = "k8s-tests"


def test_kubernetes_engine_grades_through_jobs_and_records_a_failed_one(postgres_server, tmp_path, monkeypatch):
    db_url = fresh_database(postgres_server, "kubernetes_engine")
    state = tmp_path / "kubectl"
    state.mkdir()
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"gradebook-db": {"url": db_url}, "grading-secret": {"secret": SECRET}}))
    for name, value in {"FAKE_KUBECTL_STATE": str(state), "FAKE_KUBECTL_SECRETS": str(secrets),
                        "GRADERS_DB_URL": db_url, "GRADERS_SECRET": SECRET}.items():
        monkeypatch.setenv(name, value)
    kubectl = tmp_path / "kubectl-bin"
    kubectl.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE_KUBECTL} \"$@\"\n")
    kubectl.chmod(0o755)
    root = tmp_path / "course"
    students = {"ok": "reference", "wrong": "triples", "broken": "corrupt", "killed": "sleeps"}
    course = smoke_course(root, students, f"c.KubernetesGrading.kubectl = {str(kubectl)!r}\n"
                                          f"c.KubernetesGrading.course_path = {str(root)!r}\n"
                                          "c.GradingResources.cpus = 1\nc.GradingResources.memory_gb = 2\n")
    outcomes: dict = {}
    driver = threading.Thread(target=lambda: outcomes.update(
        {o.student: o for o in autograde(course, ASSIGNMENT, engine="kubernetes", progress=False)}))
    driver.start()
    deadline = time.monotonic() + 240
    while driver.is_alive() and time.monotonic() < deadline:     # kill the pod grading "killed"
        mark = load(db_url).get((ASSIGNMENT, "killed"))
        if mark is not None and mark.status == GRADING:
            os.kill(int(mark.message.split("(pid ")[1].split(")")[0]), signal.SIGKILL)
            break
        time.sleep(0.3)
    driver.join(timeout=300)
    assert not driver.is_alive()

    assert outcomes["ok"].graded and outcomes["wrong"].graded
    assert scores(course, ["ok", "wrong"]) == {
        "ok": ("graded", {"test-double": 2.0, "test-score": 3.0}),
        "wrong": ("graded", {"test-double": 0.0, "test-score": 3.0})}
    assert outcomes["broken"].status == "failed" and "NotJSONError" in outcomes["broken"].message
    assert outcomes["killed"].status == "failed"
    assert "its Kubernetes Job failed (Job has reached the specified backoff limit) while grading this " \
           "submission" in outcomes["killed"].message
    assert "kubectl -n dl-pytorch logs job/grade-smoke-killed -c grader" in outcomes["killed"].message

    applied = {p.name.split(".")[0]: json.loads(p.read_text())["manifest"] for p in state.glob("*.job.json")}
    assert sorted(applied) == ["grade-smoke-broken", "grade-smoke-killed", "grade-smoke-ok", "grade-smoke-wrong"]
    job = applied["grade-smoke-ok"]
    grader, kernel = job["spec"]["template"]["spec"]["containers"]
    assert grader["command"][4:7] == ["grade-task", ASSIGNMENT, "ok"] and "--outcomes" in grader["command"]
    assert kernel["resources"]["limits"] == {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "0"}
    assert job["spec"]["activeDeadlineSeconds"] == 60 * (24 + 2)   # one notebook's 1200 s, a fifth more, 2 min
