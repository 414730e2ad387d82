"""Where a submission's kernel runs: one interface, backends chosen by configuration.

    c.SandboxedExecute.sandbox = "local"       # embedded default (bubblewrap, limits, no network)
    c.SandboxedExecute.sandbox = "docker"      # a container per submission
    c.SandboxedExecute.sandbox = "pod"         # Kubernetes: the kernel container of a grading Job
    c.SandboxedExecute.sandbox = "none"        # plain nbgrader: the kernel runs as the grader
    c.SandboxedExecute.sandbox = "auto"        # local where bubblewrap is installed, else none (warned)

A backend turns the kernel's command line into one that runs inside the sandbox; the
kernel talks to the grader over IPC sockets in the submission's scratch folder, so it
needs no network at all.
"""

from .base import NoSandbox, Sandbox, SandboxUnavailable
from .docker import DockerSandbox
from .local import LocalSandbox
from .pod import PodSandbox

BACKENDS = {"none": NoSandbox, "local": LocalSandbox, "docker": DockerSandbox, "pod": PodSandbox}


def make_sandbox(name: str, **kwargs) -> Sandbox:
    if name == "auto":
        local = LocalSandbox(**kwargs)
        try:
            local.check()
            if not local.bwrap:  # the unshare fallback needs a checkout the sandbox user can read
                raise SandboxUnavailable("bubblewrap is not installed (apt-get install bubblewrap)")
            return local
        except SandboxUnavailable as why:
            local.log.warning("grading WITHOUT a sandbox: %s", why)
            return NoSandbox(**{k: v for k, v in kwargs.items() if k in ("parent", "config", "log")})
    try:
        cls = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown sandbox {name!r}: expected one of {', '.join(sorted(BACKENDS))}") from None
    return cls(**kwargs)


__all__ = ["BACKENDS", "DockerSandbox", "LocalSandbox", "PodSandbox", "NoSandbox", "Sandbox", "SandboxUnavailable", "make_sandbox"]
