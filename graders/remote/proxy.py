"""The checker's side of the channel: student objects as ``Remote`` handles.

In the checker, a name that the hidden tests take from the student's notebook (``predict``,
``SmallCNN``, ``model``) is bound to what the student's kernel sends for it: data (numbers,
arrays, tensors, containers) arrive as plain values, anything else as a ``Remote``.  Calling a
``Remote``, reading its attributes, indexing or iterating it runs in the student's kernel and
returns data or further handles; nothing here ever asks the student's objects for a truth
value, an equality or a shape, so an answer can only be right by being right.

The checker's own objects (a model it built, a loss module) travel to the student's side as
one pickle per request; after the call, what the student's code did to them comes back as
data and is written into the checker's objects (``model.train()`` on a model the test built,
an optimizer step, a tensor changed in place), so the test sees the same effects as in one
process.  The checker's grad mode and default dtype travel with every call, and so do its
random generators when the test (re)seeded or used them since the last call.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import pickle
import socket
import symtable
import time
from typing import Any, Callable, Iterable, Optional

from . import wire

#: seconds a reply may take beyond the check's own budget before the channel is given up
GRACE_SECONDS = 5.0


class StudentError(Exception):
    """The student's code raised; ``type_name`` and ``where`` say what and in which function."""

    def __init__(self, type_name: str, message: str, where: Optional[str] = None):
        self.type_name, self.where = type_name, where
        text = f"{type_name}: {message}" if message else type_name
        super().__init__(text + (f" (raised in {where})" if where else ""))


class StudentTimeout(StudentError, TimeoutError):
    """The student's code did not answer within the check's budget."""


class ChannelError(RuntimeError):
    """The student's kernel is not answering the checker (it never connected, or hung up)."""


_PORTABLE: dict[str, type] = {}


def _error_class(portable: Optional[str]) -> type:
    """StudentError, also an instance of the builtin exception the student raised (ValueError…)."""
    if portable == "OperationTimeout":
        return StudentTimeout
    base = getattr(builtins, portable, None) if portable else None
    if not (isinstance(base, type) and issubclass(base, Exception)) or base in (StopIteration, StopAsyncIteration):
        return StudentError
    if portable not in _PORTABLE:
        _PORTABLE[portable] = type(f"Student{portable}", (StudentError, base), {})
    return _PORTABLE[portable]


# ---------------------------------------------------------------- the connection


class Channel:
    """The checker's end of the socket: one request at a time, answers decoded as data."""

    def __init__(self, connect_timeout: float = 30.0, budget: Callable[[], Optional[float]] = lambda: None):
        self.connect_timeout = connect_timeout
        self.budget = budget  # seconds left for the running check (None: no limit)
        self.path: Optional[str] = None
        self.listener: Optional[socket.socket] = None
        self.sock: Optional[socket.socket] = None
        self.next_id = 0
        self.stuck: Optional[str] = None  # why the channel can no longer be used in this cell
        self.generation = 0               # bumped by a kernel restart: older handles are dead
        self._rng_after_sync: Optional[bytes] = None
        self.calls = 0

    # -------------------------------------------------------------- per tests cell

    def listen(self, path: str) -> None:
        """Listen at ``path`` (in the kernel's socket folder, new after each kernel restart)."""
        if path == self.path and self.listener is not None:
            return
        self.shutdown()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # never follows a link: a planted one is replaced, not written through
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(wire.socket_address(path))
        os.chmod(path, 0o666)  # the kernel's own (unprivileged) user connects to it
        listener.listen(1)
        self.listener, self.path = listener, path

    def open(self) -> None:
        """Wait for the student's kernel to connect (the grader has just asked it to)."""
        if self.listener is None:
            raise ChannelError("the checker has no socket to listen on")
        self.listener.settimeout(self.connect_timeout)
        try:
            self.sock, _ = self.listener.accept()
        except socket.timeout:
            self.stuck = "the student's kernel did not connect to the checker"
            raise ChannelError(self.stuck) from None
        self.stuck = None

    def shutdown(self) -> None:
        if self.listener is not None:
            self.listener.close()
            with contextlib.suppress(OSError):
                if self.path:
                    os.unlink(self.path)
        self.listener, self.path = None, None

    def close(self) -> bool:
        """Say bye; True when the student's side answered it (it is idle again)."""
        sock, self.sock = self.sock, None
        if sock is None:
            return False
        ok = False
        if self.stuck is None:
            try:
                sock.settimeout(GRACE_SECONDS)
                wire.send_message(sock, {"id": -1, "op": "bye"})
                header, _ = wire.recv_message(sock)
                ok = header.get("id") == -1
            except (OSError, ValueError):
                ok = False
        sock.close()
        return ok

    def restarted(self) -> None:
        """The student's kernel was restarted: every handle from before refers to nothing."""
        self.generation += 1
        self._rng_after_sync = None

    # -------------------------------------------------------------- requests

    def request(self, op: str, trees: Optional[dict] = None, **fields: Any) -> Any:
        """Send one operation; return the decoded answer, or raise what the student's code raised."""
        if self.stuck:
            raise StudentTimeout("Unavailable", self.stuck)
        if self.sock is None:
            raise ChannelError("the student's kernel is not connected")
        left = self.budget()
        if left is not None and left <= 0:
            raise StudentTimeout("Timeout", "the check's time budget is used up")
        refs: list = []
        trusted: list = []

        def other(obj: Any) -> Any:
            if isinstance(obj, Remote):
                if obj._generation != self.generation:
                    raise ChannelError("this object belongs to an earlier run of the student's kernel "
                                       "(it was restarted)")
                return {"$h": obj._id}
            trusted.append(obj)
            return {"$obj": len(trusted) - 1}

        encoder = wire.Encoder(other, refs)
        header: dict[str, Any] = {"op": op, **fields}
        for key, value in (trees or {}).items():
            header[key] = encoder.encode(value)
        if op in ("call", "probe", "setattr", "setitem", "copy"):
            header["state"] = self._state(encoder)
        if trusted:
            try:
                blob = pickle.dumps(trusted, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # a lambda, a closure, a hook: test code cannot cross
                names = ", ".join(sorted({type(t).__name__ for t in trusted}))
                raise TypeError(f"cannot send {names} to the student's code (only data, the student's own "
                                f"objects and picklable objects such as torch modules can be passed): {exc}") from None
            header["objects"] = encoder.buffer(blob)
            # pickling a module drops its parameters' .grad: they travel beside it, as data
            grads = _module_grads(trusted)
            if grads:
                header["grads"] = encoder.encode(grads)
        self.next_id += 1
        header["id"] = self.next_id
        if left is not None:
            header["budget"] = left
        done = False
        try:
            self.sock.settimeout(None if left is None else left + GRACE_SECONDS)
            wire.send_message(self.sock, header, encoder.buffers)
            self.calls += 1
            while True:
                reply, buffers = wire.recv_message(self.sock)
                if reply.get("id") == self.next_id:
                    break
            done = True
        except socket.timeout:
            self.stuck = f"the student's code was still running {left:.0f} s later" if left else "no answer"
            raise StudentTimeout("Timeout", self.stuck) from None
        except (OSError, ValueError) as exc:
            self.stuck = f"the student's kernel stopped answering ({type(exc).__name__}: {exc})"
            raise ChannelError(self.stuck) from None
        finally:
            if not done and self.stuck is None:  # interrupted (the check's own alarm): reply pending
                self.stuck = "an earlier call into the student's code is still running"
        if not reply.get("ok"):
            err = reply.get("error") if isinstance(reply.get("error"), dict) else {}
            cls = _error_class(err.get("portable") if isinstance(err.get("portable"), str) else None)
            raise cls(str(err.get("type", "Error"))[:200], str(err.get("message", ""))[:4000],
                      err.get("where") if isinstance(err.get("where"), str) else None)
        decoder = self._decoder(buffers, trusted)
        value = decoder.decode(reply.get("value"))
        if reply.get("copyback") is not None:
            self._copy_back(decoder.decode(reply["copyback"]), trusted, refs)
        return value

    def _decoder(self, buffers: list[bytes], trusted: list) -> wire.Decoder:
        def handle(tree: dict) -> Remote:
            if type(tree.get("$h")) is not int:
                raise wire.WireError("bad handle")
            return Remote(self, tree["$h"], str(tree.get("type", "object"))[:300])

        def argument(tree: dict) -> Any:
            index = tree.get("$arg")
            if type(index) is not int or not 0 <= index < len(trusted):
                raise wire.WireError("bad argument reference")
            return trusted[index]

        decoder = wire.Decoder(buffers, {"$h": handle, "$arg": argument})
        decoder.on_tensor = _guard_gradient
        return decoder

    def _copy_back(self, changes: Any, trusted: list, refs: list) -> None:
        if not isinstance(changes, list):
            return
        for change in changes:
            if not isinstance(change, list) or len(change) < 3:
                continue
            kind, index = change[0], change[1]
            if kind == "module" and type(index) is int and 0 <= index < len(trusted):
                _load_module_state(trusted[index], change[2])
            elif kind == "optimizer" and type(index) is int and 0 <= index < len(trusted):
                _load_optimizer_state(trusted[index], change[2])
            elif kind == "data" and type(index) is int and 0 <= index < len(refs):
                _load_in_place(refs[index], change[2])

    # -------------------------------------------------------------- the checker's state

    def _state(self, encoder: wire.Encoder) -> dict:
        import torch

        import numpy as np

        state: dict[str, Any] = {"grad": torch.is_grad_enabled(),
                                 "dtype": str(torch.get_default_dtype()).removeprefix("torch."),
                                 "numpy_errors": np.geterr()}
        rng = _rng_state()
        if self._rng_after_sync is None or _digest(rng) != self._rng_after_sync:
            state["rng"] = encoder.encode(rng)
            # the student's code continues from the state just sent; the checker continues from
            # one derived from it (never from a state the student's side chose)
            _reseed(int.from_bytes(hashlib.sha256(_digest(rng) + str(self.calls).encode()).digest()[:4], "little"))
            self._rng_after_sync = _digest(_rng_state())
        return state

    # -------------------------------------------------------------- names

    def lookup(self, names: Iterable[str]) -> dict[str, Any]:
        names = sorted(set(names))
        if not names:
            return {}
        found = self.request("lookup", names=names)
        return found if isinstance(found, dict) else {}


def _guard_gradient(tensor: Any) -> None:
    """A tensor that required grad over there is a leaf here: a backward through it would do
    nothing to the student's model, silently; make it fail, saying why."""
    if getattr(tensor, "requires_grad", False) and tensor.is_leaf:
        tensor.register_hook(_no_way_back)


def _module_grads(objects: list) -> list:
    """``[index, {parameter name: grad}]`` of the modules among the objects sent."""
    out = []
    for index, obj in enumerate(objects):
        if wire.is_module(obj):
            grads = {name: p.grad for name, p in obj.named_parameters(remove_duplicate=False) if p.grad is not None}
            if grads:
                out.append([index, grads])
    return out


def _no_way_back(grad: Any) -> Any:
    raise RuntimeError("this tensor came back from the student's process as data: gradients cannot flow back "
                       "into their code from here (use vjp, parameter_grads or a probe that runs the backward "
                       "over there)")


def _rng_state() -> dict:
    import random

    import numpy as np
    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                             "random": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _digest(state: dict) -> bytes:
    h = hashlib.sha256()
    h.update(state["torch"].numpy().tobytes())
    np_state = state["numpy"]
    h.update(np_state[1].tobytes() + repr(np_state[2:]).encode())
    h.update(repr(state["random"]).encode())
    for t in state.get("cuda", ()):
        h.update(t.numpy().tobytes())
    return h.digest()


def _reseed(seed: int) -> None:
    import random

    import numpy as np
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _load_module_state(module: Any, state: Any) -> None:
    import torch

    if not isinstance(state, dict) or not wire.is_module(module):
        return
    params, buffers, training = state.get("params", {}), state.get("buffers", {}), state.get("training", {})
    with torch.no_grad():
        for name, p in module.named_parameters(remove_duplicate=False):
            new = params.get(name)
            if torch.is_tensor(new) and new.shape == p.shape:
                _assign(p, new)
                p.requires_grad_(bool(new.requires_grad))
                p.grad = None if new.grad is None else new.grad.to(device=p.device, dtype=p.dtype)
        for name, b in module.named_buffers(remove_duplicate=False):
            new = buffers.get(name)
            if torch.is_tensor(new) and new.shape == b.shape:
                _assign(b, new)
    for name, m in module.named_modules(remove_duplicate=False):
        if isinstance(training.get(name), bool):
            m.training = training[name]


def _assign(tensor: Any, new: Any) -> None:
    """``tensor`` takes ``new``'s values, and its dtype when the student's code changed it
    (``model.to(torch.bfloat16)`` changes the parameters' data in place, keeping the objects)."""
    if new.dtype == tensor.dtype:
        tensor.copy_(new.to(device=tensor.device))
    else:
        tensor.data = new.detach().to(device=tensor.device)


def _load_optimizer_state(optimizer: Any, state: Any) -> None:
    """The checker's optimizer continues from where the student's code left its copy (data only)."""
    import torch

    if not isinstance(optimizer, torch.optim.Optimizer) or not isinstance(state, dict):
        return
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise ChannelError(f"the optimizer's state that came back cannot be loaded: {exc}") from None


def _load_in_place(original: Any, new: Any) -> None:
    if type(original).__module__.startswith("torch"):
        import torch

        if torch.is_tensor(new) and new.shape == original.shape:
            with torch.no_grad():
                original.copy_(new.to(device=original.device, dtype=original.dtype))
            if original.is_leaf and (original.dtype.is_floating_point or original.dtype.is_complex):
                # what the student's code did to the caller's tensor: requires_grad_, .grad accumulated
                original.requires_grad_(bool(new.requires_grad))
                original.grad = None if new.grad is None else new.grad.to(device=original.device,
                                                                          dtype=original.dtype)
    else:
        import numpy as np

        if isinstance(new, np.ndarray) and new.shape == original.shape and original.flags.writeable:
            original[...] = new


# ---------------------------------------------------------------- handles

#: what only arrays and tensors have; a handle never answers them (they would be the object's claim)
TENSOR_ATTRIBUTES = frozenset({"shape", "dtype", "ndim", "is_cuda", "layout", "requires_grad", "grad_fn"})


class Remote:
    """An object that lives in the student's kernel.

    Calls, attributes, items, iteration and conversions (``float``, ``int``, ``len``,
    ``np.asarray``) run there and come back as data; comparisons and truth values are refused
    (the student's object would decide them).  Two handles are equal when they are the same
    object over there.
    """

    __slots__ = ("_channel", "_id", "_type", "_generation")

    def __init__(self, channel: Channel, handle: int, type_name: str):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_id", handle)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_generation", channel.generation)

    def _request(self, op: str, trees: Optional[dict] = None, **fields: Any) -> Any:
        if self._generation != self._channel.generation:
            raise ChannelError(f"this {self._short_type()} belongs to an earlier run of the student's kernel "
                               "(it was restarted after a crash or a time-out)")
        return self._channel.request(op, trees, h=self._id, **fields)

    def _short_type(self) -> str:
        return self._type.rsplit(".", 1)[-1]

    # attribute access
    def __getattr__(self, name: str) -> Any:
        # dunders, IPython's display hooks and numpy's protocols are asked of the proxy itself
        if name.startswith(("__", "_repr_", "_ipython_")) or name in ("_fields", "_asdict"):
            raise AttributeError(name)
        if name in TENSOR_ATTRIBUTES:  # real arrays and tensors arrive as data: this is neither
            raise AttributeError(f"a student {self._short_type()} is not an array or a tensor: its {name!r} is "
                                 "not asked of it (convert it with np.asarray to check its values)")
        return self._request("getattr", name=name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._request("setattr", {"value": value}, name=name)

    # calling and containers
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._request("call", {"args": list(args), "kwargs": kwargs})

    def __getitem__(self, key: Any) -> Any:
        return self._request("getitem", {"key": key})

    def __setitem__(self, key: Any, value: Any) -> None:
        self._request("setitem", {"key": key, "value": value})

    def __len__(self) -> int:
        n = self._request("len")
        if type(n) is not int or n < 0:
            raise TypeError("len() of a student object did not return a non-negative int")
        return n

    def __iter__(self):
        items = self._request("iter")
        return iter(items if isinstance(items, list) else [])

    def __next__(self) -> Any:
        try:
            return self._request("next")
        except StudentError as exc:
            if exc.type_name == "StopIteration":
                raise StopIteration from None
            raise

    def __contains__(self, value: Any) -> bool:
        return self._request("contains", {"value": value}) is True

    # conversions: the student's object computes the value, which arrives as data
    def _convert(self, to: str, kinds: tuple) -> Any:
        value = self._request("convert", to=to)
        if type(value) not in kinds:
            raise TypeError(f"converting a student {self._short_type()} to {to} did not give a "
                            + " or ".join(k.__name__ for k in kinds))
        return value

    def __float__(self) -> float:
        return float(self._convert("float", (int, float)))

    def __int__(self) -> int:
        return self._convert("int", (int,))

    def __index__(self) -> int:
        return self._convert("index", (int,))

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        import numpy as np

        value = self._request("convert", to="array")
        if isinstance(value, Remote):
            raise TypeError(f"a student {self._short_type()} could not be turned into an array")
        return np.asarray(value, dtype=dtype)

    def __copy__(self) -> "Remote":
        return self._request("copy", deep=False)

    def __deepcopy__(self, memo: dict) -> "Remote":
        return self._request("copy", deep=True)

    # what is never asked of the student's object
    def __bool__(self) -> bool:
        raise TypeError(f"the truth value of a student {self._short_type()} is not asked of it: "
                        "compare data that it returns instead")

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Remote) and other._channel is self._channel and other._id == self._id

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((id(self._channel), self._id))

    def __repr__(self) -> str:
        return f"<student {self._short_type()}>"

    def __reduce__(self):
        raise TypeError("a student object cannot be pickled by the checker")


def describe(obj: Any) -> dict:
    """Type name and base classes of a student object, as its side reports them (evidence)."""
    if isinstance(obj, Remote):
        info = obj._request("describe")
        return info if isinstance(info, dict) else {}
    t = type(obj)
    return {"type": f"{t.__module__}.{t.__qualname__}",
            "mro": [f"{k.__module__}.{k.__qualname__}" for k in t.__mro__], "callable": callable(obj)}


def is_remote(obj: Any) -> bool:
    return isinstance(obj, Remote)


# ---------------------------------------------------------------- which names come from the student


def free_names(source: str) -> set[str]:
    """Names a cell reads without defining them: candidates for the student's notebook."""
    try:
        table = symtable.symtable(source, "<cell>", "exec")
    except SyntaxError:
        return set()
    names: set[str] = set()
    top_assigned = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}

    def visit(t: symtable.SymbolTable, top: bool) -> None:
        for s in t.get_symbols():
            if not s.is_referenced():
                continue
            if top and not s.is_assigned() and not s.is_imported():
                names.add(s.get_name())
            elif not top and s.is_global() and s.get_name() not in top_assigned:
                names.add(s.get_name())
        for child in t.get_children():
            visit(child, False)

    visit(table, True)
    return {n for n in names if not hasattr(builtins, n)}
