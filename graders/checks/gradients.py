"""Gradient checks: analytic gradients against centred finite differences, and gradcheck.

Finite differences run in float64 (single precision gives relative errors of ~1e-3 on
well-written code).  The relative error is the CS231n one, taken elementwise:
``max |a - b| / max(1e-8, |a| + |b|)``.  Thresholds depend on the case: ~1e-7 for smooth
functions such as linear layers and MSE, ~1e-5 near kinks (ReLU, max), so each call says.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .tensors import _is_torch, as_numpy, expect_shape, shape_of


def relative_error(a: Any, b: Any) -> float:
    a, b = as_numpy(a).astype(np.float64), as_numpy(b).astype(np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))) if a.size else 0.0


def numerical_gradient(f: Callable[[Any], Any], x: Any, eps: float = 1e-6) -> np.ndarray:
    """Centred differences of the scalar ``f`` at ``x`` (numpy array or torch tensor), float64.

    ``f`` receives a float64 copy of the same kind as ``x``; ``x`` itself is not modified.
    """
    if _is_torch(x):
        import torch

        base = x.detach().to(torch.float64).clone()

        def value(v):
            with torch.no_grad():
                return float(f(v))

        flat = base.view(-1)
    else:
        base = np.array(x, dtype=np.float64, copy=True)

        def value(v):
            return float(f(v))

        flat = base.reshape(-1)
    grad = np.zeros(flat.shape[0], dtype=np.float64)
    for i in range(flat.shape[0]):
        old = float(flat[i])
        flat[i] = old + eps
        plus = value(base)
        flat[i] = old - eps
        minus = value(base)
        flat[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad.reshape(shape_of(x))


def expect_gradient(name: str, analytic: Any, f: Callable[[Any], Any], x: Any,
                    threshold: float = 1e-6, eps: float = 1e-6) -> None:
    """``analytic`` (the student's gradient of scalar ``f`` at ``x``) matches finite differences."""
    expect_shape(f"{name} (gradient)", analytic, shape_of(x))
    numeric = numerical_gradient(f, x, eps)
    err = relative_error(analytic, numeric)
    if not np.isfinite(err) or err > threshold:
        a, n = as_numpy(analytic).astype(np.float64).ravel(), numeric.ravel()
        i = int(np.argmax(np.abs(a - n)))
        raise AssertionError(
            f"{name}: expected a gradient matching finite differences (relative error ≤ {threshold:g}), "
            f"got relative error {err:.3g}; e.g. element {i}: expected {n[i]:.6g}, got {a[i]:.6g}"
        )


def expect_gradcheck(name: str, function: Callable, *inputs: Any, eps: float = 1e-6,
                     atol: float = 1e-5, rtol: float = 1e-3) -> None:
    """``torch.autograd.gradcheck`` for a custom ``autograd.Function`` (``Fn.apply``) or any callable.

    Inputs are cast to float64 and made to require grad when they are floating point.
    """
    import torch

    from graders.remote.proxy import is_remote

    if is_remote(function):  # the student's backward runs in their process: compare it from here
        _remote_gradcheck(name, function, inputs, eps, atol, rtol)
        return
    prepared = [
        t.detach().to(torch.float64).requires_grad_(True)
        if torch.is_tensor(t) and t.dtype.is_floating_point else t
        for t in inputs
    ]
    try:
        ok = torch.autograd.gradcheck(function, tuple(prepared), eps=eps, atol=atol, rtol=rtol,
                                      raise_exception=True)
    except Exception as exc:  # gradcheck explains the mismatch (numerical vs analytical Jacobian)
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        detail = lines[0] if lines else type(exc).__name__  # the Jacobians themselves are long
        raise AssertionError(f"{name}: expected backward to match finite differences (gradcheck), got: {detail}") from None
    if not ok:
        raise AssertionError(f"{name}: expected backward to match finite differences, gradcheck failed")


def _remote_gradcheck(name: str, function: Callable, inputs: tuple, eps: float, atol: float, rtol: float,
                      cotangents: int = 2) -> None:
    """gradcheck across the process boundary: the student's backward (through the ``vjp`` probe)
    against centred finite differences of their forward, for random output cotangents.

    ``J^T v`` from their backward must match ``(f(x + eps e_j) - f(x - eps e_j)) . v / 2 eps`` for
    every input element j; both are computed on values, so an answer can only match by being right.
    """
    import torch

    from .inside import vjp

    x = [t.detach().to(torch.float64).clone() if torch.is_tensor(t) and t.dtype.is_floating_point else t
         for t in inputs]
    generator = torch.Generator().manual_seed(0)
    for trial in range(cotangents):
        output, grads = vjp(function, x, None)
        if not torch.is_tensor(output):
            raise AssertionError(f"{name}: expected a tensor output, got {type(output).__name__}")
        v = torch.randn(output.shape, generator=generator, dtype=torch.float64)
        _, grads = vjp(function, x, v)
        for i, xi in enumerate(x):
            if not (torch.is_tensor(xi) and xi.dtype.is_floating_point):
                continue
            analytic = grads[i] if i < len(grads) else None
            if analytic is None:
                raise AssertionError(f"{name}: expected a gradient for input {i} from backward, got None")
            numeric = torch.zeros_like(xi)
            flat = numeric.view(-1)
            for j in range(xi.numel()):
                step = torch.zeros_like(xi).view(-1)
                step[j] = eps
                plus = torch.as_tensor(function(*[xi + step.view_as(xi) if k == i else a for k, a in enumerate(x)]))
                minus = torch.as_tensor(function(*[xi - step.view_as(xi) if k == i else a for k, a in enumerate(x)]))
                flat[j] = float(((plus.double() - minus.double()) * v).sum()) / (2 * eps)
            analytic = torch.as_tensor(analytic).double().reshape(numeric.shape)
            bad = ~torch.isclose(analytic, numeric, rtol=rtol, atol=atol)
            if bad.any():
                k = int(torch.argmax((analytic - numeric).abs() * bad))
                raise AssertionError(
                    f"{name}: expected backward to match finite differences (gradcheck), got a mismatch for input "
                    f"{i}: e.g. element {k}: expected {float(numeric.view(-1)[k]):.6g}, "
                    f"got {float(analytic.view(-1)[k]):.6g}")
