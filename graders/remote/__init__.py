"""The channel between the checker and the student's kernel (data only, both ways).

    wire      the format: JSON plus raw array bytes; nothing on the student's side is pickled
    server    the student's side: answers the checker's requests inside the student's kernel
    proxy     the checker's side: ``Remote`` handles, the ``Channel``, which names are the student's
    probes    public helpers that run inside the student's process on request
"""

from __future__ import annotations

from typing import Any


def call_probe(name: str, *args: Any, **kwargs: Any) -> Any:
    """Run probe ``name`` where the objects live: in the student's kernel when any argument is a
    student object (``Remote``) seen from the checker, else right here."""
    from . import probes
    from .proxy import Remote

    function = probes.PROBES[name]
    if function.evidence:
        from graders.checks.runner import note_evidence

        note_evidence()
    remote = next((a for a in _walk((args, kwargs)) if isinstance(a, Remote)), None)
    if remote is None:
        return function(*args, **kwargs)
    return remote._channel.request("probe", {"args": list(args), "kwargs": kwargs}, name=name)


def _walk(value: Any, depth: int = 0):
    if depth > 8:
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _walk(v, depth + 1)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _walk(v, depth + 1)
    else:
        yield value
