"""Where a submission's kernel runs: one interface, backends chosen by configuration.

    c.SandboxedExecute.sandbox = "local"       # embedded default (bubblewrap, limits, no network)
    c.SandboxedExecute.sandbox = "docker"      # a container per submission
    c.SandboxedExecute.sandbox = "pod"         # Kubernetes: the kernel container of a grading Job
    c.SandboxedExecute.sandbox = "none"        # plain nbgrader: the kernel runs as the grader
    c.SandboxedExecute.sandbox = "auto"        # local where bubblewrap is installed, else refused
                                               # (c.SandboxedExecute.allow_unconfined = True: none)

A backend turns the kernel's command line into one that runs inside the sandbox; the
kernel talks to the grader over IPC sockets in the submission's scratch folder, so it
needs no network at all.
"""

from .base import NoSandbox, Sandbox, SandboxUnavailable
from .docker import DockerSandbox
from .local import LocalSandbox
from .pod import PodSandbox

BACKENDS = {"none": NoSandbox, "local": LocalSandbox, "docker": DockerSandbox, "pod": PodSandbox}


def make_sandbox(name: str, allow_unconfined: bool = False, **kwargs) -> Sandbox:
    """The backend ``name``; ``auto`` is the local sandbox where this host can run it.

    Secure by default: when the local sandbox is unavailable, ``auto`` refuses to run student
    code unconfined unless ``allow_unconfined`` says so (the demo, whose students are ours).
    """
    if name == "auto":
        local = LocalSandbox(**kwargs)
        try:
            local.check()
            return local
        except SandboxUnavailable as why:
            if not allow_unconfined:
                raise SandboxUnavailable(
                    f"{why}. Student code is never run unconfined unless you say so: install bubblewrap, or "
                    "choose another sandbox, or set c.SandboxedExecute.sandbox = 'none' (or pass --unconfined) "
                    "to grade code you trust as your own user") from None
            local.log.warning("grading WITHOUT a sandbox (student code runs as you): %s", why)
            return NoSandbox(**{k: v for k, v in kwargs.items() if k in ("parent", "config", "log")})
    try:
        cls = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown sandbox {name!r}: expected one of {', '.join(sorted(BACKENDS))}") from None
    if cls is NoSandbox:
        NoSandbox(**{k: v for k, v in kwargs.items() if k in ("parent", "config", "log")}).log.warning(
            "grading WITHOUT a sandbox, as configured (sandbox = 'none'): student code runs as you")
        return NoSandbox(**{k: v for k, v in kwargs.items() if k in ("parent", "config", "log")})
    return cls(**kwargs)


__all__ = ["BACKENDS", "DockerSandbox", "LocalSandbox", "PodSandbox", "NoSandbox", "Sandbox", "SandboxUnavailable", "make_sandbox"]
