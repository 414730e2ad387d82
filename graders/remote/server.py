"""The student's side of the checker channel: runs in the student's kernel, answers with data.

During grading, before each tests cell, the grader runs ``serve(path)`` silently in the
student's kernel.  It connects to the checker's socket and answers requests — look up a
name, get an attribute, call a function, run a public probe — until the checker says
``bye``.  Everything it sends back is data (``graders.remote.wire``) or a handle to an
object that stays here; the checks, the expected values, the held-out labels, the secret
and the score never come here.

This code runs in the student's process, so the student can change it: that only changes
the data the checker receives, which the checker treats as the student's answer.
"""

from __future__ import annotations

import builtins
import itertools
import signal
import socket
import sys
import time
import traceback
from typing import Any

from . import wire

#: exceptions whose type the checker may re-raise as itself (a test can expect a ValueError)
PORTABLE_EXCEPTIONS = {
    name for name, obj in vars(builtins).items()
    if isinstance(obj, type) and issubclass(obj, Exception) and obj is not StopIteration
}
MAX_ITERATION = 100_000


class OperationTimeout(Exception):
    """A request ran past the budget the checker gave it."""


class Registry:
    """Objects handed out as handles, kept alive for the rest of the kernel's life."""

    def __init__(self) -> None:
        self.objects: dict[int, Any] = {}
        self.ids: dict[int, int] = {}  # id(obj) -> handle, so one object has one handle
        self.counter = itertools.count(1)

    def handle(self, obj: Any) -> dict:
        key = self.ids.get(id(obj))
        if key is None or self.objects.get(key) is not obj:
            key = next(self.counter)
            self.objects[key] = obj
            self.ids[id(obj)] = key
        t = type(obj)
        return {"$h": key, "type": f"{t.__module__}.{t.__qualname__}"}

    def get(self, key: Any) -> Any:
        if type(key) is not int or key not in self.objects:
            raise LookupError("this object is gone (the kernel was restarted, or it was released)")
        return self.objects[key]


REGISTRY = Registry()


class Session:
    """One connection: decodes the checker's requests and runs them here."""

    def __init__(self, sock: socket.socket, namespace: dict):
        self.sock = sock
        self.namespace = namespace
        self._reset()

    def _reset(self) -> None:
        self.trusted: list[Any] = []        # objects the checker sent (one pickle) for this request
        self.structures: list[Any] = []     # their module structure on arrival
        self.sent_data: list[tuple] = []    # (ref, value, version or checksum) of arrays/tensors sent
        self.module_marks: list[Any] = []   # what would show that one of their modules changed

    # ---------------------------------------------------------------- decoding

    def _remember(self, ref: int, value: Any) -> None:
        self.sent_data.append((ref, value, _fingerprint(value)))

    def _decode(self, tree: Any, buffers: list[bytes]) -> Any:
        tags = {"$h": lambda t: REGISTRY.get(t["$h"]), "$obj": lambda t: self.trusted[int(t["$obj"])]}
        return wire.Decoder(buffers, tags, on_ref=self._remember).decode(tree)

    def _encoder(self) -> wire.Encoder:
        def other(obj):
            for index, sent in enumerate(self.trusted):
                if obj is sent and self.structures[index] in (None, _structure(obj)):
                    return {"$arg": index}  # the checker's own object, updated by the copy-back
            return REGISTRY.handle(obj)

        return wire.Encoder(other)

    # ---------------------------------------------------------------- the loop

    def run(self) -> None:
        while True:
            try:
                header, buffers = wire.recv_message(self.sock)
            except (ConnectionError, OSError, ValueError):
                return
            if header.get("op") == "bye":
                wire.send_message(self.sock, {"id": header.get("id"), "ok": True, "value": None})
                return
            reply, out = self.answer(header, buffers)
            try:
                wire.send_message(self.sock, reply, out)
            except (ConnectionError, OSError):
                return

    def answer(self, header: dict, buffers: list[bytes]) -> tuple[dict, list[bytes]]:
        rid = header.get("id")
        self._reset()
        try:
            with _budget(header.get("budget")), _checker_state(header.get("state"), buffers):
                if header.get("objects") is not None:  # the checker's own objects, in one pickle
                    import pickle

                    self.trusted = list(pickle.loads(buffers[int(header["objects"])]))
                    _restore_grads(self.trusted, self._decode(header.get("grads"), buffers))
                    self.structures = [_structure(o) if wire.is_module(o) else None for o in self.trusted]
                    self.module_marks = [_module_mark(o) if wire.is_module(o) else None for o in self.trusted]
                value = self.dispatch(header, buffers)
                encoder = self._encoder()
                tree = encoder.encode(value)
                copyback = self._copy_back()
                cb_tree = encoder.encode(copyback) if copyback else None
            return {"id": rid, "ok": True, "value": tree, "copyback": cb_tree}, encoder.buffers
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - student code may raise anything
            return {"id": rid, "ok": False, "error": _describe_error(exc)}, []
        finally:
            self._reset()

    def _copy_back(self) -> list:
        """What changed in what the checker sent: its modules' state, arrays/tensors changed in place."""
        out: list = []
        for index, obj in enumerate(self.trusted):
            if wire.is_module(obj) and _module_mark(obj) != self.module_marks[index]:
                out.append(["module", index, _module_state(obj), self.structures[index] == _structure(obj)])
            elif _is_optimizer(obj):  # its state (momentum, Adam's moments, step counts) moves on with each step
                out.append(["optimizer", index, obj.state_dict()])
        for ref, value, before in self.sent_data:
            if _fingerprint(value) != before:
                out.append(["data", ref, value])
        return out

    def dispatch(self, header: dict, buffers: list[bytes]) -> Any:
        op = header.get("op")
        arg = lambda key: self._decode(header.get(key), buffers)  # noqa: E731
        if op == "lookup":
            found = {}
            for name in header.get("names", []):
                if type(name) is str and name in self.namespace and not name.startswith("__"):
                    found[name] = self.namespace[name]
            return found
        target = REGISTRY.get(header.get("h")) if "h" in header else None
        if op == "getattr":
            return getattr(target, str(header["name"]))
        if op == "setattr":
            setattr(target, str(header["name"]), arg("value"))
            return None
        if op == "call":
            return target(*arg("args"), **arg("kwargs"))
        if op == "getitem":
            return target[arg("key")]
        if op == "setitem":
            target[arg("key")] = arg("value")
            return None
        if op == "len":
            return int(len(target))
        if op == "iter":
            return list(itertools.islice(iter(target), MAX_ITERATION))
        if op == "next":
            return next(target)
        if op == "contains":
            return bool(arg("value") in target)
        if op == "convert":  # float(x), int(x), np.asarray(x), ...
            return _convert(target, str(header["to"]))
        if op == "copy":
            import copy

            return copy.deepcopy(target) if header.get("deep") else copy.copy(target)
        if op == "describe":
            return _describe(target)
        if op == "probe":
            from . import probes

            function = probes.PROBES.get(str(header["name"]))
            if function is None:
                raise LookupError(f"unknown probe {header['name']!r}")
            return function(*arg("args"), **arg("kwargs"))
        raise ValueError(f"unknown operation {op!r}")


def _restore_grads(objects: list, grads: Any) -> None:
    """Put back the .grad of the checker's modules (pickling drops them)."""
    for index, named in grads or []:
        module = objects[index] if isinstance(index, int) and 0 <= index < len(objects) else None
        if module is None or not isinstance(named, dict):
            continue
        params = dict(module.named_parameters(remove_duplicate=False))
        for name, grad in named.items():
            if name in params and grad is not None and tuple(grad.shape) == tuple(params[name].shape):
                params[name].grad = grad.detach().to(params[name].device, params[name].dtype)


def _fingerprint(value: Any) -> Any:
    """Changes when an array or tensor is modified in place."""
    if type(value).__module__.startswith("torch"):
        grad = value.grad if value.is_leaf else None
        return (value._version, id(grad), grad._version if grad is not None else None)
    import zlib

    return zlib.crc32(memoryview(value).cast("B")) if value.flags.c_contiguous else zlib.crc32(value.tobytes())


def _convert(target: Any, to: str) -> Any:
    if to == "float":
        return float(target)
    if to == "int":
        return int(target)
    if to == "index":
        return target.__index__()
    if to == "str":
        return str(target)[:100_000]
    if to == "array":
        import numpy as np

        return np.asarray(target)
    if to == "tensor":
        import torch

        return torch.as_tensor(target)
    if to == "list":
        return list(itertools.islice(iter(target), MAX_ITERATION))
    raise ValueError(f"cannot convert to {to!r}")


def _describe(target: Any) -> dict:
    t = type(target)
    mro = [f"{k.__module__}.{k.__qualname__}" for k in t.__mro__]
    return {"type": f"{t.__module__}.{t.__qualname__}", "mro": mro, "callable": callable(target)}


def _describe_error(exc: BaseException) -> dict:
    portable = next((k.__name__ for k in type(exc).__mro__
                     if k.__module__ == "builtins" and k.__name__ in PORTABLE_EXCEPTIONS), None)
    if isinstance(exc, OperationTimeout):
        portable = "OperationTimeout"
    try:
        message = str(exc)[:4000]
    except Exception:  # noqa: BLE001 - a __str__ that raises
        message = ""
    return {"type": type(exc).__name__[:200], "portable": portable, "message": message,
            "where": _student_frame(exc.__traceback__)}


def _student_frame(tb) -> str | None:
    """The innermost function defined in a notebook cell (where the student's code failed)."""
    found = None
    for frame, _ in traceback.walk_tb(tb):
        name = frame.f_code.co_filename
        if "ipykernel_" in name or name.startswith("<ipython-input"):
            found = frame.f_code.co_name
    return None if found in (None, "<module>") else found


# ---------------------------------------------------------------- request context


class _budget:
    """SIGALRM after the checker's budget for this request (the checker has its own, too)."""

    def __init__(self, seconds: Any):
        self.seconds = float(seconds) if isinstance(seconds, (int, float)) and seconds > 0 else None

    def __enter__(self):
        if self.seconds is None:
            return self

        def on_alarm(signum, frame):
            raise OperationTimeout(f"still running after {self.seconds:.0f} s")

        try:
            self.previous = signal.signal(signal.SIGALRM, on_alarm)
        except ValueError:  # not the main thread (only in tests of this module): no alarm
            self.seconds = None
            return self
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.seconds is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


class _checker_state:
    """The checker's grad mode, default dtype and (when it changed them) random generators."""

    def __init__(self, state: Any, buffers: list[bytes]):
        self.state = state if isinstance(state, dict) else {}
        self.buffers = buffers

    def __enter__(self):
        self.errors = None
        errors = self.state.get("numpy_errors")
        if isinstance(errors, dict) and "numpy" in sys.modules:  # np.errstate(over="raise") in a check
            import numpy as np

            allowed = {"ignore", "warn", "raise", "call", "print", "log"}
            self.errors = np.seterr(**{k: v for k, v in errors.items()
                                       if k in ("divide", "over", "under", "invalid") and v in allowed})
        if not self.state or "torch" not in sys.modules:
            self.grad = None
            return self
        import torch

        self.grad = torch.is_grad_enabled()
        self.dtype = torch.get_default_dtype()
        torch.set_grad_enabled(bool(self.state.get("grad", True)))
        if self.state.get("dtype") in ("float32", "float64", "float16", "bfloat16"):
            torch.set_default_dtype(getattr(torch, self.state["dtype"]))
        if self.state.get("rng") is not None:
            _set_rng(wire.Decoder(self.buffers).decode(self.state["rng"]))
        return self

    def __exit__(self, *exc):
        if self.errors is not None:
            import numpy as np

            np.seterr(**self.errors)
        if self.grad is not None:
            import torch

            torch.set_grad_enabled(self.grad)
            torch.set_default_dtype(self.dtype)
        return False


def _set_rng(rng: dict) -> None:
    import random

    import numpy as np
    import torch

    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    if "numpy" in rng:
        np.random.set_state(rng["numpy"])
    if "random" in rng:
        version, state, gauss = rng["random"]
        random.setstate((version, tuple(state), gauss))


# ---------------------------------------------------------------- copy-back of the checker's objects


def _module_state(module: Any) -> dict:
    params = {name: p for name, p in module.named_parameters(remove_duplicate=False)}
    buffers = {name: b for name, b in module.named_buffers(remove_duplicate=False)}
    training = {name: m.training for name, m in module.named_modules(remove_duplicate=False)}
    return {"params": params, "buffers": buffers, "training": training}


def _is_optimizer(obj: Any) -> bool:
    import sys

    optim = sys.modules.get("torch.optim")
    return optim is not None and isinstance(obj, optim.Optimizer)


def _module_mark(module: Any) -> tuple:
    """Changes with any parameter, buffer, gradient, requires_grad flag or train/eval mode."""
    def mark(t):
        grad = getattr(t, "grad", None)
        return (t._version, t.data_ptr(), t.requires_grad, id(grad), grad._version if grad is not None else None)

    return (tuple((n, mark(p)) for n, p in module.named_parameters(remove_duplicate=False)),
            tuple((n, mark(b)) for n, b in module.named_buffers(remove_duplicate=False)),
            tuple(m.training for m in module.modules()), _structure(module))


def _structure(module: Any) -> tuple:
    return tuple((name, type(m).__module__, type(m).__qualname__)
                 for name, m in module.named_modules(remove_duplicate=False))


# ---------------------------------------------------------------- entry point


def serve(path: str) -> None:
    """Answer the checker on the unix socket at ``path`` until it says bye (called by the grader)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        namespace = shell.user_ns if shell is not None else sys.modules["__main__"].__dict__
    except ImportError:
        namespace = sys.modules["__main__"].__dict__
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        for attempt in range(50):  # the checker is listening already; allow for a slow file system
            try:
                sock.connect(wire.socket_address(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if attempt == 49:
                    raise
                time.sleep(0.1)
        Session(sock, namespace).run()
    finally:
        sock.close()
