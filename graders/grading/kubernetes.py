"""Grading on Kubernetes: one Job per submission.

``graders autograde ASSIGNMENT --engine kubernetes`` applies the Jobs with ``kubectl`` and follows
them (``KubernetesEngine``, the same contract as the local and Slurm engines:
``graders.grading.engine``); ``graders k8s-jobs ASSIGNMENT | kubectl apply -f -`` prints them.
Each Job's grader runs ``graders grade-task``, the unit of work of every engine.

Each Job's pod runs the grader and the student's kernel in two containers (see
``graders.grading.sandbox.pod``): the grader holds the course volume and the gradebook's
credentials; the kernel container holds neither, runs as a non-root user on a read-only
root file system with no service-account token, within CPU/memory (and GPU) limits, and
reaches the grader only through unix sockets on the pod's shared ``emptyDir``.  A
NetworkPolicy gives grading pods no egress but DNS and the gradebook's PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from traitlets import Int, Unicode
from traitlets.config import Configurable

from .course import Course
from .engine import RUNS_FOLDER, BatchEngine, Task, TaskState, resources_for

LABELS = {"app.kubernetes.io/part-of": "dl-pytorch", "app.kubernetes.io/component": "grading"}
RUN_LABEL = "dl-pytorch/run"


class KubernetesGrading(Configurable):
    """``c.KubernetesGrading`` in nbgrader_config.py: where the grading Jobs run. What each
    submission needs (cores, memory, a GPU, time) is ``c.GradingResources``."""

    namespace = Unicode("dl-pytorch").tag(config=True)
    grader_image = Unicode("dl-pytorch-grader:2026.11", help="Image of the grader container").tag(config=True)
    kernel_image = Unicode("dl-pytorch-notebook:2026.11-cpu", help="Image the kernels run in").tag(config=True)
    course_claim = Unicode("course", help="ReadWriteMany claim holding the course folder").tag(config=True)
    course_path = Unicode("/course", help="Where the grader container mounts it").tag(config=True)
    db_secret = Unicode("gradebook-db", help='Secret with key "url": postgresql://...').tag(config=True)
    grader_secret = Unicode("grading-secret", help='Secret with key "secret": $GRADERS_SECRET').tag(config=True)
    kernel_uid = Int(1000).tag(config=True)
    kubectl = Unicode("kubectl", help="The client, with the cluster's context").tag(config=True)


def _default(name: str):
    return KubernetesGrading.class_traits()[name].default_value


@dataclass
class GradingTier:
    namespace: str = _default("namespace")
    grader_image: str = _default("grader_image")
    kernel_image: str = _default("kernel_image")
    course_claim: str = _default("course_claim")       # ReadWriteMany volume holding the course folder
    course_path: str = _default("course_path")
    db_secret: str = _default("db_secret")             # Secret with key "url": postgresql://...
    grader_secret: str = _default("grader_secret")     # Secret with key "secret": $GRADERS_SECRET
    kernel_cpu: str = "1"
    kernel_memory: str = "6Gi"
    gpu: bool = False
    deadline_s: int = 1800
    kernel_uid: int = _default("kernel_uid")
    extra_labels: dict = field(default_factory=dict)
    outcomes: str = ""                                 # the engine's run folder for this assignment (pod path)


def tier_for(course: Course, assignment: str, gpu: bool = False, **changes) -> GradingTier:
    """The Jobs of ``assignment``: the course's c.KubernetesGrading and c.GradingResources."""
    settings = KubernetesGrading(config=course.config)
    res = resources_for(course, assignment)
    return GradingTier(**{name: getattr(settings, name) for name in (
        "namespace", "grader_image", "kernel_image", "course_claim", "course_path", "db_secret", "grader_secret",
        "kernel_uid")}, kernel_cpu=str(res.cpus), kernel_memory=f"{res.memory_gb:g}Gi", gpu=gpu or res.gpus > 0,
        deadline_s=res.minutes * 60, **changes)


def _name(*parts: str) -> str:
    """A DNS-1123 name (lower case, digits, '-'; at most 63 characters)."""
    text = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return text[:63].rstrip("-")


def grading_job(tier: GradingTier, assignment: str, student: str) -> dict:
    shared = {"name": "shared", "mountPath": "/shared"}
    kernel_limits = {"cpu": tier.kernel_cpu, "memory": tier.kernel_memory,
                     "nvidia.com/gpu": "1" if tier.gpu else "0"}
    # the kernel gets no secret and no credential: the checks run in the grader's container
    kernel_env = [{"name": "HOME", "value": "/tmp"}, {"name": "MPLCONFIGDIR", "value": "/tmp/matplotlib"}]
    if tier.gpu:
        kernel_env.append({"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "compute,utility"})
    labels = {**LABELS, **tier.extra_labels, "dl-pytorch/assignment": _name(assignment), "dl-pytorch/student": _name(student)}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": _name("grade", assignment, student), "namespace": tier.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,                       # a failure is reported, not retried blindly
            "activeDeadlineSeconds": tier.deadline_s,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": tier.kernel_uid,
                                        "fsGroup": 100, "seccompProfile": {"type": "RuntimeDefault"}},
                    "volumes": [
                        # sockets and the kernel's working folder (a quota: the kernel writes there)
                        {"name": "shared", "emptyDir": {"sizeLimit": "1Gi"}},
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "512Mi"}},
                        {"name": "course", "persistentVolumeClaim": {"claimName": tier.course_claim}},
                    ],
                    "containers": [
                        {
                            "name": "grader",
                            "image": tier.grader_image,
                            "command": ["graders", "-q", "--course", tier.course_path, "grade-task", assignment,
                                        student, *(["--outcomes", tier.outcomes] if tier.outcomes else [])],
                            "env": [
                                {"name": "GRADERS_DB_URL", "valueFrom": {"secretKeyRef": {"name": tier.db_secret, "key": "url"}}},
                                {"name": "GRADERS_SECRET", "valueFrom": {"secretKeyRef": {"name": tier.grader_secret, "key": "secret"}}},
                                {"name": "GRADERS_SANDBOX", "value": "pod"},
                            ],
                            "volumeMounts": [shared, {"name": "course", "mountPath": tier.course_path}],
                            # the checker (hidden tests, reference computations) runs here
                            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                                          "limits": {"cpu": "1", "memory": "3Gi"}},
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                        },
                        {
                            "name": "kernel",
                            "image": tier.kernel_image,
                            "command": ["python", "-m", "graders.grading.sandbox.pod", "serve", "/shared/handoff", "60"],
                            "workingDir": "/shared",
                            "env": kernel_env,
                            # no course volume: not even the student's own autograded folder, which
                            # holds the restored notebook (hidden tests) while it is graded
                            "volumeMounts": [shared, {"name": "tmp", "mountPath": "/tmp"}],
                            "resources": {"requests": {"cpu": tier.kernel_cpu, "memory": tier.kernel_memory},
                                          "limits": kernel_limits},
                            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
                        },
                    ],
                },
            },
        },
    }


def network_policy(tier: GradingTier, postgres_labels: dict | None = None) -> dict:
    """Grading pods: no ingress; egress only to DNS and the gradebook's PostgreSQL."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "grading-isolation", "namespace": tier.namespace},
        "spec": {
            "podSelector": {"matchLabels": dict(LABELS)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [
                {"to": [{"podSelector": {"matchLabels": postgres_labels or {"app.kubernetes.io/name": "postgresql"}}}],
                 "ports": [{"protocol": "TCP", "port": 5432}]},
                {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                 "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
            ],
        },
    }


def manifests(tier: GradingTier, assignment: str, students: list[str]) -> list[dict]:
    return [network_policy(tier)] + [grading_job(tier, assignment, s) for s in students]


class KubernetesEngine(BatchEngine):
    """One Job per submission, applied and followed with ``kubectl`` (its JSON output)."""

    name = "kubernetes"

    def grade(self, course, todo, note):
        self.settings = KubernetesGrading(config=course.config)
        if todo and shutil.which(self.settings.kubectl) is None:
            raise FileNotFoundError(f"{self.settings.kubectl} not found: install kubectl with a context for the "
                                    "cluster (c.KubernetesGrading.kubectl names another client)")
        if todo and course.db_url.startswith("sqlite"):
            raise ValueError("the Kubernetes engine grades in many pods at once into one gradebook: set "
                             "GRADERS_DB_URL=postgresql://user@host/db (and the Secret c.KubernetesGrading.db_secret)")
        self.run_id = None
        yield from super().grade(course, todo, note)

    def _kubectl(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([self.settings.kubectl, "-n", self.settings.namespace, *args], input=stdin,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args[:2])} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def grant_run(self, course: Course, run: Path) -> None:
        """The graders in the pods run as c.KubernetesGrading.kernel_uid: the run's folders are theirs too."""
        if os.geteuid() == 0:
            uid = self.settings.kernel_uid
            for folder in [course.root / RUNS_FOLDER, run.parent, *[p for p in run.rglob("*") if p.is_dir()], run]:
                os.chown(folder, uid, -1)

    def submit(self, course: Course, run: Path, assignment: str, shards: list[list[str]]) -> list[Task]:
        import yaml

        self.run_id = run.name
        pod_outcomes = f"{self.settings.course_path}/{self.outcome_folder(run, assignment).relative_to(course.root)}"
        tier = tier_for(course, assignment, extra_labels={RUN_LABEL: run.name}, outcomes=pod_outcomes)
        self.deadline_s = tier.deadline_s
        students = [s for shard in shards for s in shard]
        self._kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(manifests(tier, assignment, students)))
        return [Task(assignment, [s], grading_job(tier, assignment, s)["metadata"]["name"]) for s in students]

    def states(self, tasks: list[Task]) -> dict[int, TaskState]:
        listed = json.loads(self._kubectl("get", "jobs", "-l", f"{RUN_LABEL}={self.run_id}", "-o", "json"))
        jobs = {item["metadata"]["name"]: item for item in listed.get("items", [])}
        found = {}
        for index, task in enumerate(tasks):
            job = jobs.get(task.handle)
            if len(task.done) == len(task.students):
                found[index] = TaskState(finished=True)
            elif job is None:
                found[index] = TaskState(finished=True, why="its Kubernetes Job disappeared (deleted)")
            else:
                status = job.get("status", {})
                ended = {c["type"]: c for c in status.get("conditions", []) if c.get("status") == "True"}
                if "Failed" in ended:
                    found[index] = self._failed(task, ended["Failed"])
                elif "Complete" in ended:
                    found[index] = TaskState(finished=True, why="its Kubernetes Job ended")
                else:
                    found[index] = TaskState(finished=False, running=bool(status.get("active")))
        return found

    def _failed(self, task: Task, condition: dict) -> TaskState:
        if condition.get("reason") == "DeadlineExceeded":
            return TaskState(finished=True, why=f"its Kubernetes Job reached its deadline of {self.deadline_s} s",
                             advice=f"give the assignment more time (c.GradingResources minutes) and run graders "
                                    f"autograde again (Job {task.handle})")
        message = condition.get("message") or condition.get("reason") or "failed"
        return TaskState(finished=True, why=f"its Kubernetes Job failed ({message})",
                         advice=f"run graders autograde again to grade it (kubectl -n {self.settings.namespace} "
                                f"logs job/{task.handle} -c grader)")

    def cancel(self, tasks: list[Task]) -> None:
        if self.run_id:
            subprocess.run([self.settings.kubectl, "-n", self.settings.namespace, "delete", "jobs", "-l",
                            f"{RUN_LABEL}={self.run_id}", "--wait=false"], capture_output=True)

