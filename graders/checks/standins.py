"""Stand-ins: models and functions a check builds and hands to the student's code.

A check often gives the student's code something to call — a model for a training loop, a noise
predictor for a sampler, a function to average — and while grading that something must cross to
the student's process.  A test's own lambdas, closures and classes cannot (their code would have
to go with them, and hidden test code never goes there), so a check builds its stand-ins from
these two classes instead; both are plain ``torch.nn.Module``s made of data, importable on both
sides, that pickle without any code of the test:

* ``Formula(expression, args=(...), **values)`` computes a small tensor expression written as a
  string (``"scale * (x_t - ab[t].sqrt()[:, None] * x0)"``), read with ``ast`` and evaluated
  by walking it: only arithmetic, indexing, the arguments, the given values (tensors become
  buffers, ``nn.Parameter``s parameters, modules sub-modules that the expression may call) and
  an allow-list of torch functions and tensor methods;
* ``Replay(calls)`` answers with outputs the check computed beforehand (by a reference it keeps
  to itself) for the inputs it expects, and refuses any other input.

While students work, the same stand-ins run in their kernel.
"""

from __future__ import annotations

import ast
import operator
from typing import Any, Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

#: torch functions (``torch.name`` or ``F.name``) and tensor methods a formula may call
FUNCTIONS = frozenset("""
    abs absolute acos all amax amin any arange argmax argmin asin atan atan2 bmm broadcast_tensors
    broadcast_to cat ceil clamp clamp_min clamp_max clip clone contiguous cos cosh count_nonzero cumprod
    cumsum detach diag diag_embed diagonal diff dim div double einsum eq exp expand expand_as eye flatten
    flip float floor full full_like gather ge gelu gt index_select int isfinite isnan le leaky_relu
    linspace log log1p log_softmax logical_and logical_not logical_or logsumexp long lt masked_fill matmul
    max maximum mean median min minimum mm mse_loss mul ne neg new_full new_ones new_zeros norm numel
    one_hot ones ones_like outer permute pow prod relu repeat reshape round rsqrt scatter_add select
    sigmoid sign silu sin sinh size softmax softplus sort sqrt square squeeze stack std sub sum t tanh
    tensor tile to topk transpose tril triu unsqueeze var view view_as where zeros zeros_like
    binary_cross_entropy binary_cross_entropy_with_logits cross_entropy linear nll_loss pad normalize
""".split())
#: attributes (not calls) a formula may read: of tensors, and dtypes of the torch namespace
ATTRIBUTES = frozenset({"shape", "T", "mT", "ndim", "dtype", "device"})
DTYPES = frozenset({"float32", "float64", "float16", "int64", "int32", "bool", "long", "float", "double"})

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
           ast.MatMult: operator.matmul, ast.BitAnd: operator.and_, ast.BitOr: operator.or_,
           ast.BitXor: operator.xor}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}
_NAMESPACES = {"torch": torch, "F": F}


class FormulaError(ValueError):
    """An expression that uses something a formula may not (caught when the formula is built)."""


class Formula(nn.Module):
    """``forward(*args)``: the value of ``expression`` with ``args`` (their names) bound to the inputs.

    ``values`` are named constants of the expression: tensors (kept as buffers, so ``.to(device)``
    moves them), ``nn.Parameter``s (trained by an optimizer, gradients come back), modules (called
    by name: ``"mlp(x)"``) and plain numbers or tuples.
    """

    def __init__(self, expression: str, args: Sequence[str] = ("x",), **values: Any):
        super().__init__()
        self.expression = str(expression)
        self.arg_names = tuple(str(a) for a in args)
        self.constants: dict[str, Any] = {}
        for name, value in values.items():
            if isinstance(value, nn.Module):
                self.add_module(name, value)
            elif isinstance(value, nn.Parameter):
                self.register_parameter(name, value)
            elif torch.is_tensor(value):
                self.register_buffer(name, value.detach().clone())
            elif isinstance(value, (int, float, bool, tuple, type(None))):
                self.constants[name] = value
            else:
                raise FormulaError(f"value {name!r}: a tensor, a module, a number or a tuple, "
                                   f"not {type(value).__name__}")
        _check(ast.parse(self.expression, mode="eval"), set(self.arg_names) | set(values))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            args = args + tuple(kwargs.pop(n) for n in self.arg_names[len(args):] if n in kwargs)
        if kwargs or len(args) != len(self.arg_names):
            raise TypeError(f"this stand-in takes {len(self.arg_names)} argument(s) "
                            f"({', '.join(self.arg_names)}), got {len(args)}"
                            + (f" and {sorted(kwargs)}" if kwargs else ""))
        scope = dict(self.constants)
        scope.update(self._buffers)
        scope.update(self._parameters)
        scope.update(self._modules)
        scope.update(zip(self.arg_names, args))
        return _evaluate(ast.parse(self.expression, mode="eval").body, scope)

    def extra_repr(self) -> str:
        return f"({', '.join(self.arg_names)}) -> {self.expression}"


def _check(tree: ast.AST, names: set) -> None:
    """Only the node kinds ``_evaluate`` knows; attributes and calls from the allow-lists."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in names and node.id not in _NAMESPACES:
            raise FormulaError(f"unknown name {node.id!r} (arguments: the formula's args; constants: keywords)")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr not in FUNCTIONS:
            raise FormulaError(f"{node.func.attr!r} is not among the functions a formula may call")
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise FormulaError(f"attribute {node.attr!r} is not allowed")
        elif not isinstance(node, (ast.Expression, ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Compare,
                                   ast.Subscript, ast.Slice, ast.Tuple, ast.List, ast.Call, ast.keyword,
                                   ast.Load, ast.IfExp, ast.operator, ast.unaryop, ast.cmpop)):
            raise FormulaError(f"{type(node).__name__} is not allowed in a formula")


def _evaluate(node: ast.AST, scope: dict) -> Any:
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis or isinstance(node.value, (int, float, bool, str, type(None))):
            return node.value
        raise FormulaError(f"constant {node.value!r}")
    if isinstance(node, ast.Name):
        if node.id in scope:
            return scope[node.id]
        if node.id in _NAMESPACES:
            return _NAMESPACES[node.id]
        raise FormulaError(f"unknown name {node.id!r}")
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, scope), _evaluate(node.right, scope))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, scope))
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1:
            raise FormulaError("one comparison at a time")
        return _COMPARE[type(node.ops[0])](_evaluate(node.left, scope), _evaluate(node.comparators[0], scope))
    if isinstance(node, ast.IfExp):  # on plain values only (a tensor's truth is never asked here)
        test = _evaluate(node.test, scope)
        if not isinstance(test, (bool, int)):
            raise FormulaError("a conditional expression needs a plain bool")
        return _evaluate(node.body if test else node.orelse, scope)
    if isinstance(node, ast.Subscript):
        return _evaluate(node.value, scope)[_evaluate(node.slice, scope)]
    if isinstance(node, ast.Slice):
        return slice(*(None if part is None else _evaluate(part, scope)
                       for part in (node.lower, node.upper, node.step)))
    if isinstance(node, ast.Tuple):
        return tuple(_evaluate(e, scope) for e in node.elts)
    if isinstance(node, ast.List):
        return [_evaluate(e, scope) for e in node.elts]
    if isinstance(node, ast.Attribute):
        owner = _evaluate(node.value, scope)
        if owner is torch and node.attr in DTYPES:
            return getattr(torch, node.attr)
        if torch.is_tensor(owner) and node.attr in ATTRIBUTES:
            return getattr(owner, node.attr)
        raise FormulaError(f"attribute {node.attr!r} is not allowed")
    if isinstance(node, ast.Call):
        function = _callee(node.func, scope)
        args = [_evaluate(a, scope) for a in node.args]
        kwargs = {k.arg: _evaluate(k.value, scope) for k in node.keywords if k.arg is not None}
        if len(kwargs) != len(node.keywords):
            raise FormulaError("**kwargs is not allowed")
        return function(*args, **kwargs)
    raise FormulaError(f"{type(node).__name__} is not allowed in a formula")


def _callee(func: ast.AST, scope: dict) -> Any:
    if isinstance(func, ast.Name):  # a module given as a value: mlp(x)
        target = scope.get(func.id)
        if isinstance(target, nn.Module):
            return target
        raise FormulaError(f"{func.id!r} is not a module given to the formula")
    if isinstance(func, ast.Attribute):
        if func.attr not in FUNCTIONS:
            raise FormulaError(f"{func.attr!r} is not among the functions a formula may call")
        owner = _evaluate(func.value, scope)
        if owner is torch or owner is F or torch.is_tensor(owner):
            return getattr(owner, func.attr)
        raise FormulaError(f"{func.attr!r} may be called on torch, F or a tensor only")
    raise FormulaError("only torch.f(...), F.f(...), tensor.f(...) and given modules may be called")


class Replay(nn.Module):
    """A stand-in that answers with outputs computed beforehand.

    ``calls`` is a list of ``(inputs, output)``: called with inputs equal to one of the ``inputs``
    tuples (the same shapes, values within ``rtol``/``atol``, booleans and integers exactly), it
    returns (a copy of) that ``output`` on the device of its first input; any other call raises.
    A check keeps the reference that computed the outputs to itself: only values cross.
    """

    def __init__(self, calls: Iterable[tuple], name: str = "stand-in", rtol: float = 1e-5, atol: float = 1e-5):
        super().__init__()
        self.calls = [(tuple(_cpu(x) for x in inputs), _cpu(output)) for inputs, output in calls]
        self.label, self.rtol, self.atol = str(name), float(rtol), float(atol)

    def forward(self, *inputs: Any) -> Any:
        got = tuple(_cpu(x) for x in inputs)
        for expected, output in self.calls:
            if len(expected) == len(got) and all(_same(e, g, self.rtol, self.atol) for e, g in zip(expected, got)):
                device = next((x.device for x in inputs if torch.is_tensor(x)), torch.device("cpu"))
                return output.clone().to(device) if torch.is_tensor(output) else output
        expected = " or ".join(_describe(inputs) for inputs, _ in self.calls[:2])
        raise ValueError(f"the {self.label} answers for the inputs the specification says it receives: "
                         f"expected {expected}, got {_describe(got)}")


def _describe(values: tuple) -> str:
    def one(v: Any) -> str:
        if not torch.is_tensor(v):
            return type(v).__name__
        text = f"{str(v.dtype).removeprefix('torch.')} {tuple(v.shape)}"
        if v.dtype.is_floating_point and v.numel():
            text += f" in [{float(v.min()):.3g}, {float(v.max()):.3g}]"
        return text

    return "(" + ", ".join(one(v) for v in values) + ")"


def _cpu(x: Any) -> Any:
    return x.detach().cpu() if torch.is_tensor(x) else x


def _same(expected: Any, got: Any, rtol: float, atol: float) -> bool:
    if torch.is_tensor(expected) != torch.is_tensor(got):
        return False
    if not torch.is_tensor(expected):
        return expected == got
    if expected.shape != got.shape:
        return False
    if expected.dtype.is_floating_point or got.dtype.is_floating_point:
        return bool(torch.allclose(got.double(), expected.double(), rtol=rtol, atol=atol))
    return bool(torch.equal(got, expected))


# ---------------------------------------------------------------- pieces of a training loop (class04 debug_training_loop)


class TrainingStep:
    """A stand-in for a notebook's ``train_step(model, optimizer, loss_fn, xb, yb)``: one optimisation
    step in training mode (zero the gradients, backward of ``loss_fn(model(xb), yb)``, step); returns
    the loss before the step as a float.  Checks hand it to the student's training loop so that the
    loop is graded whatever their own step does."""

    def __call__(self, model: Any, optimizer: Any, loss_fn: Any, xb: Any, yb: Any) -> float:
        model.train()
        optimizer.zero_grad()
        with torch.enable_grad():
            loss = loss_fn(model(xb), yb)
            loss.backward()
        optimizer.step()
        return float(loss.item())


class ShuffledBatches:
    """A stand-in for a notebook's ``make_loader(X, y, batch_size)``: a ``DataLoader`` over
    ``TensorDataset(X, y)`` that draws a new order from torch's global generator at every pass."""

    def __call__(self, X: Any, y: Any, batch_size: int) -> Any:
        from torch.utils.data import DataLoader, TensorDataset

        return DataLoader(TensorDataset(X, y), batch_size=int(batch_size), shuffle=True)


class FormulaWithDefaults(Formula):
    """A ``Formula`` whose trailing arguments may be left out (or passed as None): they take the values in
    ``defaults`` (plain numbers).  ``FormulaWithDefaults("f(i * t + (1 - i) * torch.sigmoid(g(x)))",
    args=("x", "i", "t"), defaults={"i": 0.0, "t": 0.0}, g=..., f=...)`` is called as ``m(x)`` or
    ``m(x, i=mask, t=values)``."""

    def __init__(self, expression: str, args: Sequence[str] = ("x",), defaults: dict | None = None, **values: Any):
        super().__init__(expression, args, **values)
        self.defaults = {str(k): v for k, v in (defaults or {}).items()}
        for name, value in self.defaults.items():
            if name not in self.arg_names or not isinstance(value, (int, float, bool)):
                raise FormulaError(f"default {name!r}: a plain number for one of the arguments {self.arg_names}")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        given = dict(zip(self.arg_names, args))
        given.update({k: v for k, v in kwargs.items()})
        for name in self.arg_names[len(args):]:
            if given.get(name) is None and name in self.defaults:
                kwargs[name] = self.defaults[name]
            elif name in given:
                kwargs[name] = given[name]
        return super().forward(*args, **kwargs)
