"""Checks on arrays and tensors: shape, dtype, device, values.

Every failure reads ``<name>: expected <what>, got <what>`` so a student knows what to fix.
Works on numpy arrays, torch tensors and Python numbers alike.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def materialize(x: Any) -> Any:
    """A student object seen from the checker (``Remote``) as the data it converts to.

    Answers that are data arrive as data; an object that is not (one that claims a shape, a
    dtype, an equality) is asked for its values once, and only those values are checked.
    """
    from graders.remote.proxy import Remote

    if isinstance(x, Remote):
        return np.asarray(x)
    if type(x) in (list, tuple) and any(isinstance(v, Remote) for v in x):
        return type(x)(materialize(v) for v in x)
    return x


def as_numpy(x: Any) -> np.ndarray:
    """A float64/int numpy copy of an array, tensor (any device, with grad) or number."""
    x = materialize(x)
    if _is_torch(x):
        x = x.detach().cpu()
        if x.dtype.is_floating_point or x.dtype.is_complex:
            x = x.double()
        return x.numpy()
    return np.asarray(x)


def shape_of(x: Any) -> tuple:
    x = materialize(x)
    if hasattr(x, "shape"):
        return tuple(int(d) for d in x.shape)
    return np.shape(x)


def _fmt(value: Any, limit: int = 6) -> str:
    arr = as_numpy(value)
    if arr.ndim == 0:
        return f"{arr.item():.6g}" if np.issubdtype(arr.dtype, np.number) else repr(arr.item())
    flat = arr.ravel()
    body = ", ".join(f"{v:.4g}" if np.issubdtype(arr.dtype, np.number) else repr(v)
                     for v in flat[:limit])
    return f"[{body}{', …' if flat.size > limit else ''}] (shape {tuple(arr.shape)})"


def expect_type(name: str, value: Any, expected: type | tuple) -> None:
    from graders.remote.proxy import Remote

    if isinstance(value, Remote):  # the student's object says what it is: a type name, nothing more
        want = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise AssertionError(f"{name}: expected a {want}, got {value._short_type()}")
    if not isinstance(value, expected):
        want = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise AssertionError(f"{name}: expected a {want}, got {type(value).__name__}")


def expect_shape(name: str, value: Any, expected: Sequence[Optional[int]]) -> None:
    """``expected`` may hold ``None`` for a dimension of any size."""
    value = materialize(value)
    if value is None:
        raise AssertionError(f"{name}: expected shape {tuple(expected)}, got None (did the function return?)")
    got = shape_of(value)
    expected = tuple(expected)
    ok = len(got) == len(expected) and all(e is None or e == g for e, g in zip(expected, got))
    if not ok:
        shown = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ("," if len(expected) == 1 else "") + ")"
        raise AssertionError(f"{name}: expected shape {shown}, got {got}")


def expect_dtype(name: str, value: Any, expected: Any) -> None:
    value = materialize(value)
    got = getattr(value, "dtype", type(value))
    if isinstance(expected, (tuple, list)):
        ok = any(got == e for e in expected)
        shown = " or ".join(str(e) for e in expected)
    else:
        ok = got == expected
        shown = str(expected)
    if not ok:
        raise AssertionError(f"{name}: expected dtype {shown}, got {got}")


def expect_device(name: str, value: Any, expected: Any) -> None:
    """``expected`` is a device or a device type (``"cpu"``, ``"cuda"``)."""
    value = materialize(value)
    got = getattr(value, "device", None)
    want = str(expected)
    if got is None or (str(got) != want and got.type != want):
        raise AssertionError(f"{name}: expected device {want}, got {got}")


def expect_close(name: str, got: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Same shape and values within ``atol + rtol * |expected|`` (as ``numpy.allclose``)."""
    got = materialize(got)
    if got is None:
        raise AssertionError(f"{name}: expected {_fmt(expected)}, got None (did the function return?)")
    exp_shape, got_shape = shape_of(expected), shape_of(got)
    if exp_shape != got_shape:
        raise AssertionError(f"{name}: expected shape {exp_shape}, got {got_shape}")
    a, b = as_numpy(got).astype(np.float64), as_numpy(expected).astype(np.float64)
    if np.isnan(a).any() and not np.isnan(b).any():
        raise AssertionError(f"{name}: expected finite values like {_fmt(b)}, got NaN in {_fmt(a)}")
    bad = ~np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    if bad.any():
        if a.ndim == 0:
            raise AssertionError(f"{name}: expected {b.item():.6g}, got {a.item():.6g}")
        idx = np.unravel_index(np.argmax(np.where(bad, np.abs(a - b), -1)), a.shape)
        raise AssertionError(
            f"{name}: expected {b[idx]:.6g} at index {tuple(int(i) for i in idx)}, got {a[idx]:.6g} "
            f"({int(bad.sum())} of {bad.size} values differ; max abs diff {np.max(np.abs(a - b)[bad]):.3g})"
        )


def expect_equal(name: str, got: Any, expected: Any) -> None:
    """Exact equality, for integers, labels, strings and containers of them."""
    got = materialize(got)
    if hasattr(expected, "shape") or hasattr(got, "shape"):
        if shape_of(got) != shape_of(expected):
            raise AssertionError(f"{name}: expected shape {shape_of(expected)}, got {shape_of(got)}")
        a, b = as_numpy(got), as_numpy(expected)
        if not np.array_equal(a, b):
            idx = tuple(int(i) for i in np.argwhere(a != b)[0])
            raise AssertionError(f"{name}: expected {b[idx].item()!r} at index {idx}, got {a[idx].item()!r}")
        return
    if got != expected:
        raise AssertionError(f"{name}: expected {expected!r}, got {got!r}")


def expect_finite(name: str, value: Any) -> None:
    arr = as_numpy(value).astype(np.float64)
    if not np.isfinite(arr).all():
        raise AssertionError(f"{name}: expected finite values, got {int((~np.isfinite(arr)).sum())} NaN/inf in {_fmt(arr)}")


def expect_true(name: str, condition: bool, expected: str, got: str) -> None:
    """A custom condition with a message in the house format."""
    if not condition:
        raise AssertionError(f"{name}: expected {expected}, got {got}")
