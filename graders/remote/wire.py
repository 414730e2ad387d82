"""The data-only wire format between the checker and the student's kernel.

A message is a JSON header plus raw byte buffers: arrays and tensors travel as their bytes,
dtype and shape, never as pickles, so decoding what the student's side sent executes
nothing of theirs and yields plain numbers, strings, containers, ``numpy`` arrays and
``torch`` tensors whatever the objects on their side pretended to be (``__array__``,
``.shape``, ``__eq__``, ``__torch_function__`` are never consulted here).

Objects that are not data (functions, classes, models, optimizers, generators) stay where
they live and travel as a handle: ``{"$h": id}``.  In the other direction, the checker may
send its own (trusted) objects such as a ``torch.nn.Module`` it built, as one pickle that the
student's side loads; the student's side never sends a pickle and the checker never loads one.

Frame: ``<u32 header length><u32 buffer count><u64 length of each buffer>…<header><buffers>``.
"""

from __future__ import annotations

import json
import math
import socket
import struct
from typing import Any, Callable, Optional

#: largest message either side accepts (a held-out set of a few thousand images is ~10 MB)
MAX_MESSAGE_BYTES = 1 << 30
MAX_DEPTH = 64
MAX_ITEMS = 1_000_000

_NUMPY_KINDS = set("biufc")  # bool, int, uint, float, complex: no objects, strings or records
_TORCH_DTYPES = (
    "float64", "float32", "float16", "bfloat16", "complex64", "complex128",
    "int64", "int32", "int16", "int8", "uint8", "bool",
)


class WireError(ValueError):
    """A message that does not follow the format (or exceeds its limits)."""


# ---------------------------------------------------------------- framing


def socket_address(path: str) -> str:
    """An address for ``path`` that fits in a unix socket address (108 bytes): long paths go
    through an open descriptor of their folder (``/proc/self/fd/N/name``, kept open)."""
    if len(path.encode()) < 100:
        return path
    import os

    folder, name = os.path.split(path)
    fd = os.open(folder, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return f"/proc/self/fd/{fd}/{name}"



def send_message(sock: socket.socket, header: dict, buffers: list[bytes] = ()) -> None:
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    lengths = b"".join(struct.pack("<Q", len(b)) for b in buffers)
    sock.sendall(struct.pack("<II", len(head), len(buffers)) + lengths + head)
    for buf in buffers:
        sock.sendall(buf)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 22))
        if not chunk:
            raise ConnectionError("the other side closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_message(sock: socket.socket, limit: int = MAX_MESSAGE_BYTES) -> tuple[dict, list[bytes]]:
    head_len, count = struct.unpack("<II", _recv_exactly(sock, 8))
    if count > MAX_ITEMS:
        raise WireError(f"too many buffers ({count})")
    lengths = [struct.unpack("<Q", _recv_exactly(sock, 8))[0] for _ in range(count)]
    if head_len + sum(lengths) > limit:
        raise WireError(f"message of {head_len + sum(lengths)} bytes is over the {limit}-byte limit")
    header = json.loads(_recv_exactly(sock, head_len))
    if not isinstance(header, dict):
        raise WireError("the header is not an object")
    return header, [_recv_exactly(sock, n) for n in lengths]


# ---------------------------------------------------------------- encoding


def is_data(obj: Any) -> bool:
    """Whether ``obj`` travels by value (the check is on exact types: no subclass tricks)."""
    t = type(obj)
    if obj is None or t in (bool, int, float, complex, str, bytes, slice) or obj is Ellipsis:
        return True
    if t in (list, tuple, dict):
        return True
    mod = t.__module__
    if mod == "numpy" and (t.__name__ == "ndarray" or t.__name__ == "dtype" or _is_numpy_scalar(obj)):
        return True
    if mod.startswith("torch") and t.__name__ in ("Tensor", "Parameter", "Size", "dtype", "device"):
        return True
    return False


def _is_numpy_scalar(obj: Any) -> bool:
    import numpy as np

    return isinstance(obj, np.generic) and obj.dtype.kind in _NUMPY_KINDS


class Encoder:
    """Turns a value into a JSON tree plus buffers.

    ``other`` is called for anything that is not data (it returns the tree to send in its
    place: a handle on the student's side, a pickled object's index on the checker's side).
    """

    def __init__(self, other: Callable[[Any], Any], refs: Optional[list] = None):
        self.other = other
        self.buffers: list[bytes] = []
        self.refs = refs  # when a list: arrays and tensors sent get a number, to come back if changed

    def _ref(self, obj: Any, tree: dict) -> dict:
        if self.refs is not None:
            tree["ref"] = len(self.refs)
            self.refs.append(obj)
        return tree

    def buffer(self, data: bytes) -> int:
        self.buffers.append(data)
        return len(self.buffers) - 1

    def encode(self, obj: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        t = type(obj)
        if obj is None or t is bool or t is str:
            return obj
        if t is int:
            return obj if abs(obj) < 2**63 else {"$int": str(obj)}
        if t is float:
            return obj if math.isfinite(obj) else {"$f": repr(obj)}
        if t is complex:
            return {"$c": [self.encode(obj.real), self.encode(obj.imag)]}
        if t is bytes:
            return {"$b": self.buffer(obj)}
        if t is list:
            return [self.encode(v, depth + 1) for v in obj]
        if t is tuple:
            return {"$t": [self.encode(v, depth + 1) for v in obj]}
        if t is dict:
            return {"$d": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in obj.items()]}
        if t is slice:
            return {"$slice": [self.encode(obj.start), self.encode(obj.stop), self.encode(obj.step)]}
        if obj is Ellipsis:
            return {"$ellipsis": 1}
        mod = t.__module__
        if mod == "numpy":
            return self._numpy(obj)
        if mod.startswith("torch"):
            encoded = self._torch(obj, depth)
            if encoded is not None:
                return encoded
        if mod == "collections" and t.__name__ == "OrderedDict":  # state_dict()
            return {"$d": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in obj.items()]}
        return self.other(obj)

    def _numpy(self, obj: Any) -> Any:
        import numpy as np

        if type(obj) is np.ndarray and obj.dtype.kind in _NUMPY_KINDS:
            arr = np.ascontiguousarray(obj)
            return self._ref(obj, {"$nd": self.buffer(arr.tobytes()), "dtype": arr.dtype.str, "shape": list(arr.shape)})
        if type(obj) is np.dtype:
            return {"$npdtype": obj.str} if obj.kind in _NUMPY_KINDS else self.other(obj)
        if _is_numpy_scalar(obj):
            return {"$ns": obj.dtype.str, "v": self.buffer(obj.tobytes())}
        return self.other(obj)

    def _torch(self, obj: Any, depth: int) -> Optional[Any]:
        import torch

        t = type(obj)
        if t is torch.Size:
            return {"$t": [int(d) for d in obj]}
        if t is torch.dtype:
            return {"$dtype": str(obj).removeprefix("torch.")}
        if t is torch.device:
            return {"$device": str(obj)}
        if t in (torch.Tensor, torch.nn.Parameter):
            if obj.layout != torch.strided or obj.is_quantized or obj.is_nested:
                return None
            name = str(obj.dtype).removeprefix("torch.")
            if name not in _TORCH_DTYPES:
                return None
            if obj.is_meta:  # shape and dtype only: there are no values (device-placement exercises)
                return {"$pt": None, "dtype": name, "shape": list(obj.shape), "device": "meta",
                        "requires_grad": bool(obj.requires_grad), "parameter": t is torch.nn.Parameter}
            flat = obj.detach().to("cpu").contiguous().reshape(-1)
            raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
            out = {"$pt": self.buffer(raw), "dtype": name, "shape": list(obj.shape),
                   "device": obj.device.type, "requires_grad": bool(obj.requires_grad),
                   "parameter": t is torch.nn.Parameter}
            grad = obj.grad if obj.is_leaf else None
            if grad is not None and type(grad) is torch.Tensor and depth < MAX_DEPTH:
                refs, self.refs = self.refs, None
                out["grad"] = self._torch(grad, depth + 1)
                self.refs = refs
            return self._ref(obj, out)
        return None


def encode(obj: Any, other: Callable[[Any], Any]) -> tuple[Any, list[bytes]]:
    enc = Encoder(other)
    return enc.encode(obj), enc.buffers


# ---------------------------------------------------------------- decoding


class Decoder:
    """Rebuilds values from a tree and buffers; ``tags`` handles the extra ``$…`` keys of one side."""

    def __init__(self, buffers: list[bytes], tags: dict[str, Callable[[dict], Any]] | None = None,
                 device_ok: Callable[[str], bool] | None = None,
                 on_ref: Callable[[int, Any], None] | None = None):
        self.buffers = buffers
        self.tags = tags or {}
        self.items = 0
        self.device_ok = device_ok or _device_available
        self.on_ref = on_ref  # arrays and tensors the sender wants back if changed in place
        self.on_tensor: Callable[[Any], None] | None = None  # every tensor decoded (not grads)

    def buf(self, index: Any) -> bytes:
        if type(index) is not int or not 0 <= index < len(self.buffers):
            raise WireError("a buffer index is out of range")
        return self.buffers[index]

    def decode(self, tree: Any, depth: int = 0) -> Any:
        self.items += 1
        if depth > MAX_DEPTH or self.items > MAX_ITEMS:
            raise WireError("value too large or nested too deeply")
        t = type(tree)
        if tree is None or t in (bool, int, float, str):
            return tree
        if t is list:
            return [self.decode(v, depth + 1) for v in tree]
        if t is not dict or len(tree) == 0:
            raise WireError(f"unexpected {t.__name__} in a message")
        key = next(iter(tree))
        if key == "$t":
            return tuple(self.decode(v, depth + 1) for v in _list(tree[key]))
        if key == "$d":
            out = {}
            for pair in _list(tree[key]):
                k, v = _list(pair)
                k = self.decode(k, depth + 1)
                if type(k) not in (str, int, float, bool, tuple, type(None)):
                    raise WireError("a dictionary key must be a number, string or tuple")
                out[k] = self.decode(v, depth + 1)
            return out
        if key == "$int":
            return int(_str(tree[key]))
        if key == "$f":
            value = _str(tree[key])
            if value not in ("nan", "inf", "-inf"):
                raise WireError("bad float")
            return float(value)
        if key == "$c":
            re_, im = _list(tree[key])
            return complex(float(self.decode(re_)), float(self.decode(im)))
        if key == "$b":
            return bytes(self.buf(tree[key]))
        if key == "$slice":
            return slice(*(self.decode(v, depth + 1) for v in _list(tree[key])))
        if key == "$ellipsis":
            return Ellipsis
        if key == "$nd":
            return self._referenced(tree, self._ndarray(tree))
        if key == "$ns":
            import numpy as np

            dtype = _numpy_dtype(tree["$ns"])
            raw = self.buf(tree["v"])
            if len(raw) != dtype.itemsize:
                raise WireError("bad numpy scalar")
            return np.frombuffer(raw, dtype=dtype)[0]
        if key == "$npdtype":
            return _numpy_dtype(tree[key])
        if key == "$pt":
            value = self._referenced(tree, self._tensor(tree, depth))
            if self.on_tensor is not None:
                self.on_tensor(value)
            return value
        if key == "$dtype":
            import torch

            name = _str(tree[key])
            if name not in _TORCH_DTYPES:
                raise WireError(f"unsupported dtype {name!r}")
            return getattr(torch, name)
        if key == "$device":
            import torch

            return torch.device(_device_name(tree[key]))
        handler = self.tags.get(key)
        if handler is None:
            raise WireError(f"unknown tag {key!r}")
        return handler(tree)

    def _referenced(self, tree: dict, value: Any) -> Any:
        if self.on_ref is not None and type(tree.get("ref")) is int:
            self.on_ref(tree["ref"], value)
        return value

    def _ndarray(self, tree: dict) -> Any:
        import numpy as np

        dtype = _numpy_dtype(tree["dtype"])
        shape = _shape(tree["shape"])
        raw = self.buf(tree["$nd"])
        if len(raw) != dtype.itemsize * math.prod(shape):
            raise WireError("array bytes do not match its shape")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()

    def _tensor(self, tree: dict, depth: int) -> Any:
        import torch

        name = _str(tree["dtype"])
        if name not in _TORCH_DTYPES:
            raise WireError(f"unsupported dtype {name!r}")
        dtype = getattr(torch, name)
        shape = _shape(tree["shape"])
        if tree["$pt"] is None and tree.get("device") == "meta":
            value = torch.empty(shape, dtype=dtype, device="meta")
            if tree.get("requires_grad") is True and (dtype.is_floating_point or dtype.is_complex):
                value.requires_grad_(True)
            return torch.nn.Parameter(value, requires_grad=value.requires_grad) if tree.get("parameter") is True else value
        raw = self.buf(tree["$pt"])
        itemsize = torch.empty((), dtype=dtype).element_size()
        if len(raw) != itemsize * math.prod(shape):
            raise WireError("tensor bytes do not match its shape")
        if raw:
            value = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape)
        else:
            value = torch.empty(shape, dtype=dtype)
        device = _str(tree.get("device", "cpu"))
        if device != "cpu" and self.device_ok(device):
            value = value.to(device)
        if tree.get("requires_grad") is True and (dtype.is_floating_point or dtype.is_complex):
            value.requires_grad_(True)
        if tree.get("parameter") is True and (dtype.is_floating_point or dtype.is_complex):
            value = torch.nn.Parameter(value, requires_grad=value.requires_grad)
        grad = tree.get("grad")
        if grad is not None and value.requires_grad:
            g = self._tensor(grad, depth + 1) if type(grad) is dict and "$pt" in grad else None
            if g is not None and g.shape == value.shape:
                value.grad = g.detach().to(value.dtype)
        return value


def _list(value: Any) -> list:
    if type(value) is not list:
        raise WireError("expected a list")
    return value


def _str(value: Any) -> str:
    if type(value) is not str:
        raise WireError("expected a string")
    return value


def _shape(value: Any) -> tuple[int, ...]:
    dims = _list(value)
    if len(dims) > 32 or any(type(d) is not int or d < 0 for d in dims):
        raise WireError("bad shape")
    if math.prod(dims) > MAX_MESSAGE_BYTES:
        raise WireError("shape too large")
    return tuple(dims)


def _numpy_dtype(value: Any):
    import numpy as np

    try:
        dtype = np.dtype(_str(value))
    except TypeError as exc:
        raise WireError(f"bad dtype {value!r}") from exc
    if dtype.kind not in _NUMPY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise WireError(f"unsupported dtype {value!r}")
    return dtype


def _device_name(value: Any) -> str:
    name = _str(value)
    kind, _, index = name.partition(":")
    if kind not in ("cpu", "cuda", "mps", "xpu", "meta") or (index and not index.isdigit()):
        raise WireError(f"bad device {name!r}")
    return name


def _device_available(device: str) -> bool:
    import torch

    kind = device.split(":")[0]
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return False


def decode(tree: Any, buffers: list[bytes], tags: dict[str, Callable[[dict], Any]] | None = None) -> Any:
    return Decoder(buffers, tags).decode(tree)


def is_module(obj: Any) -> bool:
    """An ``nn.Module`` instance, duck-typed (torch may not be imported); not a module class, which
    checks send too (``build_there(nn.Sequential, ...)``, ``is_instance(x, nn.Linear)``)."""
    return not isinstance(obj, type) and hasattr(obj, "named_parameters") and hasattr(obj, "named_modules")
