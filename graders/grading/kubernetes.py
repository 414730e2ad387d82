"""Grading on Kubernetes: one Job per submission (``graders k8s-jobs ASSIGNMENT | kubectl apply -f -``).

Each Job's pod runs the grader and the student's kernel in two containers (see
``graders.grading.sandbox.pod``): the grader holds the course volume and the gradebook's
credentials; the kernel container holds neither, runs as a non-root user on a read-only
root file system with no service-account token, within CPU/memory (and GPU) limits, and
reaches the grader only through unix sockets on the pod's shared ``emptyDir``.  A
NetworkPolicy gives grading pods no egress but DNS and the gradebook's PostgreSQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LABELS = {"app.kubernetes.io/part-of": "dl-pytorch", "app.kubernetes.io/component": "grading"}


@dataclass
class GradingTier:
    namespace: str = "dl-pytorch"
    grader_image: str = "dl-pytorch-grader:2026.11"
    kernel_image: str = "dl-pytorch-notebook:2026.11-cpu"
    course_claim: str = "course"               # ReadWriteMany volume holding the course folder
    course_path: str = "/course"
    db_secret: str = "gradebook-db"            # Secret with key "url": postgresql://...
    grader_secret: str = "grading-secret"      # Secret with key "secret": $GRADERS_SECRET
    kernel_cpu: str = "1"
    kernel_memory: str = "6Gi"
    gpu: bool = False
    deadline_s: int = 1800
    kernel_uid: int = 1000
    extra_labels: dict = field(default_factory=dict)


def _name(*parts: str) -> str:
    """A DNS-1123 name (lower case, digits, '-'; at most 63 characters)."""
    text = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return text[:63].rstrip("-")


def grading_job(tier: GradingTier, assignment: str, student: str) -> dict:
    workdir = f"{tier.course_path}/autograded/{student}/{assignment}"
    shared = {"name": "shared", "mountPath": "/shared"}
    kernel_limits = {"cpu": tier.kernel_cpu, "memory": tier.kernel_memory,
                     "nvidia.com/gpu": "1" if tier.gpu else "0"}
    kernel_env = [{"name": "GRADERS_SECRET", "valueFrom": {"secretKeyRef": {"name": tier.grader_secret, "key": "secret"}}},
                  {"name": "HOME", "value": "/tmp"}, {"name": "MPLCONFIGDIR", "value": "/tmp/matplotlib"}]
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
                        {"name": "shared", "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "512Mi"}},
                        {"name": "course", "persistentVolumeClaim": {"claimName": tier.course_claim}},
                    ],
                    "containers": [
                        {
                            "name": "grader",
                            "image": tier.grader_image,
                            "command": ["graders", "-q", "--course", tier.course_path, "autograde", assignment,
                                        student, "--force", "-j", "1"],
                            "env": [
                                {"name": "GRADERS_DB_URL", "valueFrom": {"secretKeyRef": {"name": tier.db_secret, "key": "url"}}},
                                {"name": "GRADERS_SECRET", "valueFrom": {"secretKeyRef": {"name": tier.grader_secret, "key": "secret"}}},
                                {"name": "GRADERS_SANDBOX", "value": "pod"},
                            ],
                            "volumeMounts": [shared, {"name": "course", "mountPath": tier.course_path}],
                            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"},
                                          "limits": {"cpu": "1", "memory": "1Gi"}},
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                        },
                        {
                            "name": "kernel",
                            "image": tier.kernel_image,
                            "command": ["python", "-m", "graders.grading.sandbox.pod", "serve", "/shared/handoff", "60"],
                            "workingDir": workdir,
                            "env": kernel_env,
                            "volumeMounts": [shared, {"name": "tmp", "mountPath": "/tmp"},
                                             {"name": "course", "mountPath": workdir,
                                              "subPath": f"autograded/{student}/{assignment}"}],
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
