"""Probes: public helpers that run inside the student's process, on the checker's request.

Some questions can only be asked where the student's objects live: the gradient that the
student's ``backward`` computes, the operations a model's forward pass calls, what a training
loop does batch by batch.  A probe runs there and answers with data.  Two kinds:

* plain probes compute something the checker then checks against its own expectation
  (``vjp``: the gradients through the student's function; the checker compares them with
  finite differences it computes itself) — lying about them means computing the answer;
* evidence probes (``evidence=True``) report what they saw inside the student's process (the
  operations used); the student's code could fake those, so they count as evidence: a check
  that uses one is marked, never trusted in a cell where tampering was seen, and a tests cell
  never earns full marks from evidence alone (``graders verify`` checks that).

The same functions run in the student's own kernel while they work (visible tests call them
directly, no checker involved): ``graders.remote.call_probe`` decides where.
"""

from __future__ import annotations

from typing import Any, Callable

PROBES: dict[str, Callable] = {}


def probe(evidence: bool = False) -> Callable:
    def register(function: Callable) -> Callable:
        function.evidence = evidence
        PROBES[function.__name__] = function
        return function

    return register


def _leaf(x: Any) -> Any:
    import torch

    if torch.is_tensor(x) and (x.dtype.is_floating_point or x.dtype.is_complex):
        return x.detach().clone().requires_grad_(True)
    return x


@probe()
def vjp(function: Callable, inputs: list, grad_output: Any = None, kwargs: dict | None = None) -> tuple:
    """``(output, grads)``: ``function(*inputs)`` and the gradient of ``<output, grad_output>``
    (``grad_output`` defaults to ones) with respect to each floating-point input (None for others)."""
    import torch

    leaves = [_leaf(x) for x in inputs]
    with torch.enable_grad():
        output = function(*leaves, **(kwargs or {}))
        if not torch.is_tensor(output):
            raise TypeError(f"expected the function to return a tensor, got {type(output).__name__}")
        weights = torch.ones_like(output) if grad_output is None else grad_output.to(output.device, output.dtype)
        if output.requires_grad:
            output.backward(weights)
    grads = [leaf.grad if torch.is_tensor(leaf) and leaf.requires_grad else None for leaf in leaves]
    return output.detach(), grads


@probe()
def parameter_grads(module: Any, inputs: list, grad_output: Any = None) -> tuple:
    """``(output, {name: grad})`` of ``module(*inputs)`` backpropagated with ``grad_output``."""
    import torch

    module.zero_grad(set_to_none=True)
    with torch.enable_grad():
        output = module(*inputs)
        weights = torch.ones_like(output) if grad_output is None else grad_output.to(output.device, output.dtype)
        output.backward(weights)
    return output.detach(), {name: (p.grad.detach() if p.grad is not None else None)
                             for name, p in module.named_parameters()}


@probe(evidence=True)
def torch_functions_used(function: Callable, args: list, kwargs: dict | None = None) -> list:
    """The names of the torch functions ``function(*args)`` calls (TorchFunctionMode)."""
    from torch.overrides import TorchFunctionMode

    names: set[str] = set()

    class Recorder(TorchFunctionMode):
        def __torch_function__(self, func, types, a=(), kw=None):
            names.add(getattr(func, "__name__", str(func)))
            return func(*a, **(kw or {}))

    with Recorder():
        function(*args, **(kwargs or {}))
    return sorted(names)


# ---------------------------------------------------------------- stand-ins, training, files
# (class08 relational_cbm, extra_gnn, extra_diffusion, extra_utils, extra_causality)

_MISSING_NAME = "<missing>"


def _globals_of(owner: Any) -> dict:
    """The module namespace where ``owner`` (a function or a class from a notebook cell) looks up names."""
    import sys

    if hasattr(owner, "__globals__"):
        return owner.__globals__
    for value in vars(owner).values() if isinstance(owner, type) else ():
        function = getattr(value, "__func__", value)
        if hasattr(function, "__globals__"):
            return function.__globals__
    return vars(sys.modules[getattr(owner, "__module__", "__main__")])


@probe()
def set_globals(owner: Any, values: dict, remove: list | None = None) -> dict:
    """Bind ``values`` (name -> object) in the namespace ``owner`` reads its globals from, unbind the
    names in ``remove``; return what was bound before (``"<missing>"`` for names that were not), so
    that a second call puts it back."""
    namespace = _globals_of(owner)
    previous = {}
    for name in list(values) + list(remove or ()):
        previous.setdefault(str(name), namespace.get(str(name), _MISSING_NAME))
    for name in remove or ():
        namespace.pop(str(name), None)
    for name, value in values.items():
        if isinstance(value, str) and value == _MISSING_NAME:
            namespace.pop(str(name), None)
        else:
            namespace[str(name)] = value
    return previous


@probe()
def train_adam(model: Any, inputs: list, target: Any, mask: Any = None, loss: str = "bce_with_logits",
               epochs: int = 100, lr: float = 0.01) -> list:
    """Full-batch Adam on ``loss(model(*inputs)[mask], target[mask])`` (mask broadcast to the output),
    ``model.train()`` during the steps and ``model.eval()`` after, as the notebooks' ``fit``; the
    model stays trained where it lives.  Returns the losses."""
    import torch
    import torch.nn.functional as F

    losses_by_name = {"bce_with_logits": F.binary_cross_entropy_with_logits, "mse": F.mse_loss,
                      "cross_entropy": F.cross_entropy}
    criterion = losses_by_name[loss]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    history = []
    with torch.enable_grad():
        for _ in range(int(epochs)):
            optimizer.zero_grad()
            output = model(*inputs)
            if mask is not None:
                m = mask.expand_as(output) if loss != "cross_entropy" else mask
                value = criterion(output[m], target[m])
            else:
                value = criterion(output, target)
            value.backward()
            optimizer.step()
            history.append(float(value.item()))
    model.eval()
    return history


@probe(evidence=True)
def largest_tensor(function: Callable, args: list, kwargs: dict | None = None) -> int:
    """The number of elements of the largest tensor that ``function(*args)`` creates (TorchFunctionMode)."""
    import torch
    from torch.overrides import TorchFunctionMode

    largest = [0]

    class Sizes(TorchFunctionMode):
        def __torch_function__(self, func, types, a=(), kw=None):
            out = func(*a, **(kw or {}))
            for t in (out if isinstance(out, (tuple, list)) else (out,)):
                if isinstance(t, torch.Tensor):
                    largest[0] = max(largest[0], t.numel())
            return out

    with Sizes():
        function(*args, **(kwargs or {}))
    return largest[0]


@probe(evidence=True)
def call_recording(function: Callable, args: list, kwargs: dict | None = None, record: list | None = None,
                   limit: int = 1000) -> tuple:
    """``(result, calls)``: ``function(*args)`` where each argument at a position in ``record`` (a model
    or function the student's code calls) is watched: ``calls[position]`` lists its calls, each as
    ``{"args": [...], "kwargs": {...}}`` (tensors detached and copied; at most ``limit`` calls kept)."""
    import torch

    def snapshot(values):
        return [v.detach().clone() if torch.is_tensor(v) else v for v in values]

    calls: dict = {int(p): [] for p in (record or ())}
    args = list(args)
    handles = []
    for position in calls:
        target, seen = args[position], calls[position]
        if isinstance(target, torch.nn.Module):
            def hook(module, a, kw, seen=seen):
                if len(seen) < limit:
                    seen.append({"args": snapshot(a), "kwargs": dict(zip(kw, snapshot(kw.values())))})
            handles.append(target.register_forward_pre_hook(hook, with_kwargs=True))
        else:
            def watched(*a, _target=target, _seen=seen, **kw):
                if len(_seen) < limit:
                    _seen.append({"args": snapshot(a), "kwargs": dict(zip(kw, snapshot(kw.values())))})
                return _target(*a, **kw)
            args[position] = watched
    try:
        result = function(*args, **(kwargs or {}))
    finally:
        for handle in handles:
            handle.remove()
    return result, calls


@probe()
def call_backward(function: Callable, args: list, kwargs: dict | None = None, grad_output: Any = None) -> Any:
    """``function(*args)`` followed by ``backward`` from its (tensor) result, ``grad_output`` (ones by
    default) as the output's gradient; returns the result, detached.  The gradients reach the
    parameters of the checker's own modules among the arguments (they come back with them)."""
    import torch

    with torch.enable_grad():
        output = function(*args, **(kwargs or {}))
        if not torch.is_tensor(output):
            raise TypeError(f"expected a tensor result, got {type(output).__name__}")
        if not output.requires_grad:
            raise RuntimeError("the result does not require grad: it is not connected to any parameter "
                               "(computed under no_grad, detached, or through .item()/numpy?)")
        weights = torch.ones_like(output) if grad_output is None else grad_output.to(output.device, output.dtype)
        output.backward(weights)
    return output.detach()


@probe()
def call_and_states(function: Callable, args: list, kwargs: dict | None = None) -> tuple:
    """``(result, states, rng)`` of ``function(*args)``: ``states[i]`` is ``args[i].state_dict()`` after the
    call for each argument that has one (a model, an optimizer; None otherwise), ``rng`` the torch
    and numpy random states the call left behind."""
    import numpy as np
    import torch

    result = function(*args, **(kwargs or {}))
    states = [a.state_dict() if callable(getattr(a, "state_dict", None)) else None for a in args]
    return result, states, {"torch": torch.get_rng_state(), "numpy": np.random.get_state()}


def _inside(path: str) -> str:
    import os

    path = os.path.normpath(str(path))
    if os.path.isabs(path) or path.startswith(".."):
        raise ValueError(f"{path!r}: a folder inside the working folder is expected")
    return path


@probe()
def make_folder(prefix: str = "scratch_") -> str:
    """A new empty folder in the working folder of this process; its relative path."""
    import os
    import tempfile

    return os.path.relpath(tempfile.mkdtemp(prefix=str(prefix), dir="."))


@probe()
def read_folder(path: str, max_bytes: int = 64 << 20) -> dict:
    """``{relative path: bytes}`` of the regular files under ``path`` (links are not followed)."""
    import os
    import stat

    root, found, total = _inside(path), {}, 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(files):
            full = os.path.join(folder, name)
            info = os.lstat(full)
            if not stat.S_ISREG(info.st_mode):
                continue
            total += info.st_size
            if total > max_bytes:
                raise OSError(f"more than {max_bytes} bytes of files under {path!r}")
            with open(full, "rb") as fh:
                found[os.path.relpath(full, root)] = fh.read()
    return found


@probe()
def remove_folder(path: str) -> None:
    """Remove a folder made by ``make_folder`` (what is inside, too)."""
    import shutil

    shutil.rmtree(_inside(path), ignore_errors=True)


# ---------------------------------------------------------------- gradients of nested inputs, training loops
# (class04 regularization_cnn and debug_training_loop, class06, class07)


def _map_nested(fn: Callable, value: Any, too_deep: Callable, depth: int = 0) -> Any:
    """``value`` with ``fn`` applied to everything inside its lists, tuples and dicts, and
    ``too_deep`` to what lies more than 8 levels down."""
    if depth > 8:
        return too_deep(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_map_nested(fn, v, too_deep, depth + 1) for v in value)
    if isinstance(value, dict):
        return {k: _map_nested(fn, v, too_deep, depth + 1) for k, v in value.items()}
    return fn(value)


def _leaves(value: Any) -> Any:
    """``value`` with every floating-point tensor inside (lists, tuples, dicts) a fresh leaf that requires grad."""
    return _map_nested(_leaf, value, too_deep=lambda v: v)


def _grads_of(value: Any) -> Any:
    """The gradients of the leaves in ``value``, in its structure (None where there is none)."""
    import torch

    return _map_nested(lambda v: v.grad if torch.is_tensor(v) and v.requires_grad and v.is_leaf else None,
                       value, too_deep=lambda v: None)


def _tensors_in(value: Any, depth: int = 0) -> list:
    import torch

    if depth > 8:
        return []
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors_in(v, depth + 1)]
    if torch.is_tensor(value):
        return [value]
    return []


@probe()
def vjp_tree(function: Callable, args: list, grad_outputs: Any = None, kwargs: dict | None = None) -> tuple:
    """``(output, grads)``: ``function(*args)`` (a tensor, or a tuple/list of tensors) and, through the
    function's own backward, the gradient of ``sum_i <output_i, grad_outputs_i>`` (``grad_outputs``: one
    tensor, or None to skip, per output tensor in order; ones for all by default)
    with respect to every floating-point tensor in ``args``, nested lists and tuples included:
    ``grads`` has the structure of ``args`` (None for what is not a floating-point tensor, or got
    no gradient)."""
    import torch

    leaves = _leaves(list(args))
    with torch.enable_grad():
        output = function(*leaves, **(kwargs or {}))
        outs = _tensors_in(output)
        if not outs:
            raise TypeError(f"expected the function to return a tensor (or a tuple of tensors), "
                            f"got {type(output).__name__}")
        if grad_outputs is None:
            weights = [torch.ones_like(o) for o in outs]
        else:
            weights = list(grad_outputs) if isinstance(grad_outputs, (list, tuple)) else [grad_outputs]
        if len(weights) != len(outs):
            raise ValueError(f"{len(weights)} output gradients given for {len(outs)} outputs")
        pairs = [(o, w.to(o.device, o.dtype)) for o, w in zip(outs, weights)
                 if o.requires_grad and torch.is_tensor(w)]
        if pairs:
            torch.autograd.backward([o for o, _ in pairs], [w for _, w in pairs])

    def detached(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return type(value)(detached(v) for v in value)
        return value.detach() if torch.is_tensor(value) else value

    return detached(output), _grads_of(leaves)


@probe(evidence=True)
def optimizer_steps(function: Callable, args: list, kwargs: dict | None = None, optimizer: int = 1,
                    grads: list | None = None, repeat: int = 1) -> tuple:
    """``(results, steps)``: ``function(*args, **kwargs)`` called ``repeat`` times in a row, where
    ``args[optimizer]`` is a torch optimizer.  Before the first call, the ``.grad`` of the optimizer's
    parameters (in the order of its parameter groups) are set to ``grads`` when given (gradients
    left over from an earlier backward: they do not travel with a pickled model).  ``steps`` lists,
    for each ``optimizer.step()`` the calls made, the gradient of each parameter as the step began
    (zeros where None)."""
    import torch

    opt = args[int(optimizer)]
    params = [p for group in opt.param_groups for p in group["params"]]
    if grads is not None:
        if len(grads) != len(params):
            raise ValueError(f"{len(grads)} gradients given for {len(params)} parameters")
        for p, g in zip(params, grads):
            p.grad = None if g is None else g.detach().to(p.device, p.dtype).clone()
    steps: list = []

    def before_step(_optimizer, _args, _kwargs):
        if len(steps) < 10_000:
            steps.append([torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in params])

    handle = opt.register_step_pre_hook(before_step)
    try:
        results = [function(*args, **(kwargs or {})) for _ in range(int(repeat))]
    finally:
        handle.remove()
    return results, steps


def _spy_target(spec: str, function: Any, args: list, kwargs: dict) -> tuple:
    """(what, key in args/kwargs or None, submodule kind or None) for a watch spec ``"<arg>[/<Kind>]"``."""
    where, _, kind = str(spec).partition("/")
    if where == "function":
        return function, None, kind or None
    if where.lstrip("-").isdigit():
        return args[int(where)], int(where), kind or None
    return kwargs[where], where, kind or None


@probe(evidence=True)
def spy_calls(function: Callable, args: list, kwargs: dict | None = None, watch: list | None = None,
              modes_of: str | None = None, values: bool = True, limit: int = 10_000) -> tuple:
    """``(result, calls)``: ``function(*args, **kwargs)`` with the callables named in ``watch`` watched.

    A watch spec is ``"<arg>"`` (a positional index, a keyword name, or ``"function"`` for the
    called function itself) or ``"<arg>/<Kind>"`` (every sub-module of that module that is an
    instance of ``torch.nn.<Kind>`` or of a class named ``<Kind>``).  A module is watched with a
    forward pre-hook, any other callable by wrapping it.  ``calls`` lists every call in order:
    ``{"watch": spec, "module": sub-module name, "training": the mode of the module ``modes_of``
    names (a spec too) if given, else of the watched module (None for a plain callable), "grad":
    grad mode, "shapes": input shapes, "inputs": input tensors (detached copies, when ``values``)}``."""
    import torch

    args, kwargs = list(args), dict(kwargs or {})
    calls: list = []
    mode_module = _spy_target(modes_of, function, args, kwargs)[0] if modes_of else None

    def record(spec, name, training, inputs):
        if len(calls) >= limit:
            return
        tensors = [x for x in inputs if torch.is_tensor(x)]
        calls.append({"watch": spec, "module": name, "training": training, "grad": torch.is_grad_enabled(),
                      "shapes": [tuple(x.shape) for x in tensors],
                      "inputs": [x.detach().clone() for x in tensors] if values else None})

    handles = []
    for spec in watch or ():
        target, key, kind = _spy_target(spec, function, args, kwargs)
        if isinstance(target, torch.nn.Module):
            for name, module in target.named_modules():
                if kind is not None and not any(k.__name__ == kind for k in type(module).__mro__):
                    continue
                if kind is None and name:
                    continue
                handles.append(module.register_forward_pre_hook(
                    lambda m, inputs, spec=spec, name=name: record(
                        spec, name, bool((m if mode_module is None else mode_module).training), inputs)))
        elif callable(target) and key is not None:
            def watched(*a, _target=target, _spec=spec, **kw):
                record(_spec, "", None if mode_module is None else bool(mode_module.training), a)
                return _target(*a, **kw)
            if isinstance(key, int):
                args[key] = watched
            else:
                kwargs[key] = watched
        else:
            raise TypeError(f"cannot watch {spec!r}: not a module or a callable argument")
    try:
        result = function(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return result, calls


def _plain(value: Any, depth: int = 0) -> bool:
    if value is None or type(value) in (bool, int, float, str):
        return True
    return type(value) is tuple and depth < 2 and all(_plain(v, depth + 1) for v in value)


@probe(evidence=True)
def module_summary(module: Any) -> dict:
    """``{sub-module name ("" for the module itself): {"type": class name, "kinds": names of the classes
    it is an instance of, **its plain attributes (numbers, strings, tuples: in_channels, p, ...)}}``,
    in the order of ``named_modules()``, as the student's process reports them."""
    summary = {}
    for name, m in module.named_modules():
        attributes = {k: v for k, v in vars(m).items() if not k.startswith("_") and _plain(v)}
        summary[name] = {**attributes, "type": type(m).__name__, "kinds": [k.__name__ for k in type(m).__mro__]}
    return summary


# ---------------------------------------------------------------- types, in-place settings, optimizer steps
# (class01 mlp_training and dropout_batchnorm, class02, class03)


@probe(evidence=True)
def isinstance_of(obj: Any, classinfo: Any) -> bool:
    """``isinstance(obj, classinfo)`` where ``obj`` lives (``classinfo``: a class or a tuple of classes,
    the student's own or torch's), as the student's process reports it."""
    return bool(isinstance(obj, classinfo))


@probe()
def copy_into(obj: Any, values: dict) -> None:
    """``getattr(obj, name).copy_(value)`` without autograd, for each dotted ``name`` in ``values``: set
    the tensors of an object in place where it lives (a student's module's ``weight``,
    ``running_mean``), as ``with torch.no_grad(): module.weight.copy_(w)`` does in one process."""
    import torch

    with torch.no_grad():
        for name, value in values.items():
            target = obj
            for part in str(name).split("."):
                target = getattr(target, part)
            target.copy_(torch.as_tensor(value).to(device=target.device, dtype=target.dtype))


@probe()
def build_there(cls: Any, args: list, kwargs: dict | None = None) -> Any:
    """``cls(*args, **kwargs)`` built where the arguments live, so that the checker's container class
    (``nn.Sequential``) can hold the student's modules: ``nn.Sequential(nn.Identity(), Dropout(0.5))``."""
    return cls(*args, **(kwargs or {}))


@probe(evidence=True)
def optimizer_step_snapshots(function: Callable, args: list, kwargs: dict | None = None,
                             module: int | None = None, limit: int = 1000) -> tuple:
    """``(result, steps)``: ``function(*args, **kwargs)`` while every ``optimizer.step()`` of any torch
    optimizer is watched (a global step pre-hook).  ``steps[k]`` lists, for each parameter of the
    optimizer that steps (in the order of its parameter groups), ``{"name": its name in
    ``args[module]`` (None if not one of its parameters, or no ``module``), "value": the parameter
    as the step began, "grad": its ``.grad`` then (None if none)}``: the checker recomputes, with its
    own model, the gradient each step should have used."""
    import torch
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    names = {}
    if module is not None:
        names = {id(p): name for name, p in args[int(module)].named_parameters()}
    steps: list = []

    def before_step(optimizer, _args, _kwargs):
        if len(steps) >= limit:
            return
        steps.append([{"name": names.get(id(p)), "value": p.detach().clone(),
                       "grad": None if p.grad is None else p.grad.detach().clone()}
                      for group in optimizer.param_groups for p in group["params"]])

    handle = register_optimizer_step_pre_hook(before_step)
    try:
        result = function(*args, **(kwargs or {}))
    finally:
        handle.remove()
    return result, steps


@probe()
def torch_load(path: str) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=False)`` of a file the student's code wrote,
    loaded where it was written (its unpickling runs there): the contents come back as data."""
    import torch

    return torch.load(_inside(path), map_location="cpu", weights_only=False)


@probe()
def train_minibatches(model: Any, batches: list, lr: float = 0.01, loss: str = "cross_entropy") -> list:
    """Adam on the given mini-batches, in order: for each ``(inputs, target)``, ``loss(model(*inputs),
    target)``, zero_grad, backward, step, in training mode; the model stays trained where it lives.
    Returns the loss of each step (as a notebook's own training helper would, for a check that
    draws the same batches)."""
    import torch
    import torch.nn.functional as F

    criterion = {"cross_entropy": F.cross_entropy, "mse": F.mse_loss,
                 "bce_with_logits": F.binary_cross_entropy_with_logits}[loss]
    optimizer = torch.optim.Adam(model.parameters(), lr=float(lr))
    model.train()
    history = []
    with torch.enable_grad():
        for inputs, target in batches:
            value = criterion(model(*inputs), target)
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            history.append(float(value.item()))
    return history


@probe()
def call_sequence(function: Callable, calls: list) -> list:
    """``[function(*args, **kwargs) for args, kwargs in calls]`` in one request: the checker's own objects
    among the arguments (sent once) keep what each call did to them — parameters, optimizer state,
    gradients left over — for the next call, as in one process."""
    return [function(*args, **(kwargs or {})) for args, kwargs in calls]


def _module_at(path: str, function: Any, args: list, kwargs: dict) -> Any:
    """The module at ``"<arg>.<dotted sub-module path>"`` (``<arg>``: a position, a keyword, or ``function``)."""
    head, _, rest = str(path).partition(".")
    target = _spy_target(head, function, args, kwargs)[0]
    for part in filter(None, rest.split(".")):
        target = getattr(target, part)
    return target


@probe(evidence=True)
def forward_log(function: Callable, args: list, kwargs: dict | None = None, watch: list | None = None,
                snapshot: list | None = None, grad_outputs: list | None = None, limit: int = 1000) -> tuple:
    """``(result, log)``: ``function(*args, **kwargs)`` while the modules named in ``watch`` are watched
    (``"0.concept_net"``: sub-module ``concept_net`` of the first argument; ``"function.scorer"``: of
    the called module).  ``log[path]`` lists their forward calls in order: ``{"grad": grad mode,
    "training", "inputs": input tensors, "output": the output (a tensor, detached; None otherwise),
    "output_grads": each gradient that reached that output in a backward pass, "states": {path:
    state_dict() of each module in ``snapshot`` as the call began}}``.  When ``grad_outputs`` is given
    (one tensor, or None to skip, per tensor of the result), the result is back-propagated with it
    before returning."""
    import torch

    args, kwargs = list(args), dict(kwargs or {})
    log: dict = {str(p): [] for p in watch or ()}
    shots = {str(p): _module_at(p, function, args, kwargs) for p in snapshot or ()}
    handles = []

    def watcher(path):
        def hook(module, inputs, output):
            if len(log[path]) >= limit:
                return
            record = {"grad": torch.is_grad_enabled(), "training": bool(module.training),
                      "inputs": [x.detach().clone() for x in inputs if torch.is_tensor(x)],
                      "output": output.detach().clone() if torch.is_tensor(output) else None,
                      "output_grads": [],
                      "states": {p: {k: v.detach().clone() for k, v in m.state_dict().items()}
                                 for p, m in shots.items()}}
            log[path].append(record)
            if torch.is_tensor(output) and output.requires_grad:
                output.register_hook(lambda grad: record["output_grads"].append(grad.detach().clone()))
        return hook

    for path in log:
        handles.append(_module_at(path, function, args, kwargs).register_forward_hook(watcher(path)))
    try:
        with torch.enable_grad() if grad_outputs is not None else _no_op():
            result = function(*args, **kwargs)
            if grad_outputs is not None:
                outs = _tensors_in(result)
                pairs = [(o, w.to(o.device, o.dtype)) for o, w in zip(outs, grad_outputs)
                         if torch.is_tensor(w) and o.requires_grad]
                if pairs:
                    torch.autograd.backward([o for o, _ in pairs], [w for _, w in pairs])
    finally:
        for handle in handles:
            handle.remove()

    def detached(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return type(value)(detached(v) for v in value)
        return value.detach() if torch.is_tensor(value) else value

    return detached(result), log


class _no_op:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@probe()
def fit_outputs(model: Any, inputs: list, terms: list, epochs: int = 200, lr: float = 0.01) -> list:
    """Full-batch Adam on ``sum(weight * loss(model(*inputs)[index], target))`` over ``terms`` (a list of
    ``(index, loss name, target, weight)``; index None: the whole output), ``epochs`` times zero_grad,
    backward, step, where the model lives: the training a check gives a student's model.  Returns
    the losses."""
    import torch
    import torch.nn.functional as F

    losses = {"cross_entropy": F.cross_entropy, "bce_with_logits": F.binary_cross_entropy_with_logits,
              "mse": F.mse_loss}
    optimizer = torch.optim.Adam(model.parameters(), lr=float(lr))
    history = []
    with torch.enable_grad():
        for _ in range(int(epochs)):
            optimizer.zero_grad()
            output = model(*inputs)
            value = sum(float(w) * losses[name](output if index is None else output[index], target)
                        for index, name, target, w in terms)
            value.backward()
            optimizer.step()
            history.append(float(value.item()))
    return history


@probe()
def close_figures() -> None:
    """``plt.close("all")`` where the student's code drew (their figures are not rendered after the call)."""
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@probe(evidence=True)
def parameters_by_name(function: Callable, args: list, kwargs: dict | None = None, module: int = 0) -> Any:
    """``function(*args, **kwargs)`` with every tensor in the result (inside lists, tuples and dicts) that
    *is* a parameter of ``args[module]`` replaced by ``{"parameter": its name}``: which of the model's
    own parameter objects a function hands back (optimizer groups), as the student's process sees it."""
    import torch

    names = {id(p): name for name, p in args[int(module)].named_parameters()}

    def mark(value: Any, depth: int = 0) -> Any:
        if depth > 8:
            return value
        if torch.is_tensor(value) and id(value) in names:
            return {"parameter": names[id(value)]}
        if isinstance(value, (list, tuple)):
            return type(value)(mark(v, depth + 1) for v in value)
        if isinstance(value, dict):
            return {k: mark(v, depth + 1) for k, v in value.items()}
        return value

    return mark(function(*args, **(kwargs or {})))


# ---------------------------------------------------------------- a watched run (class09 project)

#: audit event -> index of the address among its arguments
_NETWORK_EVENTS = {"socket.connect": 1, "socket.sendto": 1, "socket.getaddrinfo": 0, "urllib.Request": 0,
                   "http.client.connect": 1}
_watch: dict | None = None      # the run being watched, read by the audit hook (installed once)
_hooked = False


def _audit(event: str, args: tuple) -> None:
    log = _watch
    if log is None:
        return
    if event in _NETWORK_EVENTS:
        log["network"].append(f"{event} {args[_NETWORK_EVENTS[event]]!r}"[:300])
        raise ConnectionRefusedError("network access is blocked while the grader reruns the experiment")
    if event == "open" and isinstance(args[0], (str, bytes)):
        import os

        try:
            path = os.path.realpath(os.fsdecode(args[0]))
        except (TypeError, ValueError):
            return
        if not any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in log["allowed"]):
            log["files"].append(os.fsdecode(args[0])[:300])


def _allowed_folders() -> list[str]:
    """The notebook's folder, the Python installation, the temporary and system folders."""
    import os
    import site
    import sys
    import tempfile

    folders = [os.getcwd(), sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir(),
               *[p for p in sys.path if p and os.path.isdir(p)], *site.getsitepackages(), site.getusersitepackages(),
               "/usr", "/etc", "/lib", "/lib64", "/opt", "/proc", "/sys", "/dev", "/run"]
    if "matplotlib" in sys.modules:
        try:
            folders += [sys.modules["matplotlib"].get_configdir(), sys.modules["matplotlib"].get_cachedir()]
        except Exception:
            pass
    return sorted({os.path.realpath(f) for f in folders})


@probe(evidence=True)
def watched_call(function: Callable, args: list, kwargs: dict | None = None, threads: int | None = None,
                 cuda_sync: bool = False) -> tuple:
    """``(result, report)``: ``function(*args, **kwargs)`` run with ``threads`` torch threads (if given),
    where ``report`` = ``{"cpu", "wall"}`` (seconds of this process's CPU time and of wall-clock time, the
    queued GPU work waited for when ``cuda_sync``), ``"network"`` (attempts, each refused), ``"files"``
    (opened outside the notebook's folder, Python and the system folders) and ``"error"`` (what the
    call raised, as text; the result is then None).  The student's process measures it all."""
    import sys
    import time

    import torch

    global _watch, _hooked
    if not _hooked:
        sys.addaudithook(_audit)
        _hooked = True
    sync = torch.cuda.synchronize if cuda_sync and torch.cuda.is_available() else (lambda: None)
    report: dict = {"network": [], "files": [], "allowed": _allowed_folders(), "error": None}
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    result = None
    sync()
    cpu, wall = time.process_time(), time.perf_counter()
    _watch = report
    try:
        result = function(*args, **(kwargs or {}))
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        _watch = None
        sync()
        report["cpu"], report["wall"] = time.process_time() - cpu, time.perf_counter() - wall
        torch.set_num_threads(before)
    del report["allowed"]
    return result, report


@probe(evidence=True)
def compiled_call(function: Callable, args: list, kwargs: dict | None = None, fullgraph: bool = True,
                  backend: str = "eager") -> Any:
    """``torch.compile(function, fullgraph=fullgraph, backend=backend)(*args, **kwargs)``, compiled where
    the function lives (a fresh dynamo cache): with ``fullgraph`` a graph break raises."""
    import torch
    import torch._dynamo

    torch._dynamo.reset()
    return torch.compile(function, fullgraph=fullgraph, backend=backend)(*args, **(kwargs or {}))
