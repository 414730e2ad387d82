"""Questions asked inside the student's process (``graders.remote.probes``), from a check.

While grading, a check runs in the checker and the student's functions are proxies: what
only the student's process can compute — a backward pass through their ``autograd.Function``,
the operations their model calls — is run there by a public probe and comes back as data.
While a student works, the same calls run locally.  ``torch_functions_used`` is evidence
(the student's process reports it), never a check's only ground for points.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator

from graders.remote import call_probe


def vjp(function: Callable, inputs: list, grad_output: Any = None, **kwargs: Any) -> tuple[Any, list]:
    """``(output, grads)``: ``function(*inputs)`` and, through its own backward, the gradient of
    ``sum(output * grad_output)`` (ones by default) for each floating-point input."""
    return call_probe("vjp", function, list(inputs), grad_output, kwargs or None)


def parameter_grads(module: Any, inputs: list, grad_output: Any = None) -> tuple[Any, dict]:
    """``(output, {parameter name: grad})`` of ``module(*inputs)`` backpropagated with ``grad_output``."""
    return call_probe("parameter_grads", module, list(inputs), grad_output)


def torch_functions_used(function: Callable, *args: Any, **kwargs: Any) -> set[str]:
    """Names of the torch functions ``function(*args)`` calls (evidence from the student's process)."""
    return set(call_probe("torch_functions_used", function, list(args), kwargs or None))


# ---------------------------------------------------------------- stand-ins, training, files


def _where_the_student_is(name: str, *args: Any, **kwargs: Any) -> Any:
    """Probe ``name`` in the student's process while grading, even when no argument is a student
    object (their working folder, their random state); here while a student works."""
    from graders.remote import probes

    from . import runner

    channel = runner._channel
    if channel is None or channel.sock is None:
        return call_probe(name, *args, **kwargs)
    if probes.PROBES[name].evidence:
        runner.note_evidence()
    return channel.request("probe", {"args": list(args), "kwargs": kwargs}, name=name)


@contextlib.contextmanager
def student_globals(owner: Any, **values: Any) -> Iterator[None]:
    """While the block runs, the names ``values`` are bound to these objects (stand-ins, picklable)
    where ``owner`` (the student's function or class) looks up its globals: ``with
    student_globals(RelationalConceptEncoder, pair_features=Formula(...)):`` grades the encoder
    with a reference ``pair_features`` whatever theirs does."""
    previous = call_probe("set_globals", owner, values)
    try:
        yield
    finally:
        call_probe("set_globals", owner, previous)


def train_adam(model: Any, inputs: list, target: Any, mask: Any = None, loss: str = "bce_with_logits",
               epochs: int = 100, lr: float = 0.01) -> list:
    """Full-batch Adam on ``loss(model(*inputs)[mask], target[mask])`` where the model lives (the
    student's process for their model); ``model.eval()`` after.  Returns the losses."""
    return call_probe("train_adam", model, list(inputs), target, mask, loss, int(epochs), float(lr))


def largest_tensor(function: Callable, *args: Any, **kwargs: Any) -> int:
    """Elements of the largest tensor ``function(*args)`` creates (evidence from the student's process)."""
    return int(call_probe("largest_tensor", function, list(args), kwargs or None))


def record_calls(function: Callable, args: list, watch: Iterable[int] = (), limit: int = 1000,
                 **kwargs: Any) -> tuple[Any, dict]:
    """``(result, calls)`` of ``function(*args)``; ``calls[i]`` lists the calls the student's code made
    to ``args[i]`` (a model or stand-in), each as ``{"args": [...], "kwargs": {...}}``, for each
    position ``i`` in ``watch``.
    Evidence: what the student's process reports it saw."""
    result, calls = call_probe("call_recording", function, list(args), kwargs or None, [int(i) for i in watch],
                               int(limit))
    return result, {int(k): v for k, v in calls.items()}


def call_backward(function: Callable, *args: Any, grad_output: Any = None, **kwargs: Any) -> Any:
    """``function(*args)``, then ``backward()`` from its result where it was computed; the gradients
    of the parameters of the check's own modules among ``args`` come back with them."""
    return call_probe("call_backward", function, list(args), kwargs or None, grad_output)


def call_and_states(function: Callable, *args: Any, **kwargs: Any) -> tuple[Any, list, dict]:
    """``(result, states, rng)``: ``function(*args)``, then ``state_dict()`` of each argument that has
    one (None for the others) and the torch/numpy random states, as the call left them."""
    return call_probe("call_and_states", function, list(args), kwargs or None)


@contextlib.contextmanager
def student_folder(prefix: str = "scratch_") -> Iterator[str]:
    """A new folder in the working folder of the student's code (their process, while grading),
    removed afterwards; yields its relative path, to give to their functions."""
    path = _where_the_student_is("make_folder", prefix)
    try:
        yield path
    finally:
        _where_the_student_is("remove_folder", path)


def read_student_folder(path: str) -> dict:
    """``{relative path: bytes}`` of the files the student's code wrote under ``path`` (a
    ``student_folder``): parse them here, with the check's own readers."""
    return _where_the_student_is("read_folder", path)


# ---------------------------------------------------------------- differentiating through the student's code, training loops
# (class04 regularization_cnn and debug_training_loop, class06, class07)


def vjp_tree(function: Callable, args: list, grad_outputs: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """``(output, grads)``: ``function(*args)`` (a tensor or a tuple of tensors) and, through its own
    backward, the gradients of ``sum_i <output_i, grad_outputs_i>`` for every floating-point tensor in
    ``args``, nested tuples and lists included (``grads`` has the structure of ``args``)."""
    return call_probe("vjp_tree", function, list(args), grad_outputs, kwargs or None)


def _flatten_float_tensors(value: Any, found: list, depth: int = 0) -> Any:
    """``value`` with each floating-point tensor replaced by its index in ``found`` (appended)."""
    import torch

    if depth < 8 and isinstance(value, (list, tuple)):
        return type(value)(_flatten_float_tensors(v, found, depth + 1) for v in value)
    if torch.is_tensor(value) and (value.dtype.is_floating_point or value.dtype.is_complex):
        found.append(value)
        return _Slot(len(found) - 1)
    return value


class _Slot:
    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


def _rebuild(structure: Any, tensors: list, depth: int = 0) -> Any:
    if isinstance(structure, _Slot):
        return tensors[structure.index]
    if depth < 8 and isinstance(structure, (list, tuple)):
        return type(structure)(_rebuild(v, tensors, depth + 1) for v in structure)
    return structure


def _through_function():
    import torch

    class Through(torch.autograd.Function):
        """Forward: the student's function where it lives; backward: their backward, through ``vjp_tree``."""

        @staticmethod
        def forward(ctx, function, structure, kwargs, *tensors):
            ctx.function, ctx.structure, ctx.kwargs = function, structure, kwargs
            ctx.save_for_backward(*tensors)
            output = function(*_rebuild(structure, [t.detach() for t in tensors]), **kwargs)
            outs = list(output) if isinstance(output, (tuple, list)) else [output]
            if not outs or not all(torch.is_tensor(o) for o in outs):
                raise TypeError("expected the function to return a tensor (or a tuple of tensors), got "
                                + (type(output).__name__ if not isinstance(output, (tuple, list)) else
                                   ", ".join(type(o).__name__ for o in outs)))
            ctx.single = not isinstance(output, (tuple, list))
            outs = [o.detach() for o in outs]
            ctx.mark_non_differentiable(*[o for o in outs if not (o.dtype.is_floating_point or o.dtype.is_complex)])
            return outs[0] if ctx.single else tuple(outs)

        @staticmethod
        def backward(ctx, *grad_outputs):
            tensors = [t.detach() for t in ctx.saved_tensors]
            args = _rebuild(ctx.structure, tensors)
            _, grads = call_probe("vjp_tree", ctx.function, list(args), list(grad_outputs), ctx.kwargs or None)
            flat: list = []
            _flatten_grads(ctx.structure, grads, flat)
            by_index = dict(flat)
            return (None, None, None, *[by_index.get(i) for i in range(len(tensors))])

    return Through


def _flatten_grads(structure: Any, grads: Any, out: list, depth: int = 0) -> None:
    if isinstance(structure, _Slot):
        out.append((structure.index, grads))
    elif depth < 8 and isinstance(structure, (list, tuple)) and isinstance(grads, (list, tuple)):
        for s, g in zip(structure, grads):
            _flatten_grads(s, g, out, depth + 1)


_THROUGH = None


def differentiable(function: Callable) -> Callable:
    """``function`` as the checks can differentiate it: while grading, a student's function (a handle)
    becomes an autograd function of the checker whose forward runs theirs and whose backward runs
    their backward (``vjp_tree``), so ``out.backward()``, ``torch.autograd.grad`` and gradcheck work on
    it as in one process.  Gradients flow to the floating-point tensors among the positional
    arguments (nested tuples and lists included); the result is a tensor or a tuple of tensors.
    Anything that is not a student's handle (their function while they work) is returned as is."""
    from graders.remote.proxy import is_remote

    if not is_remote(function):
        return function
    global _THROUGH
    if _THROUGH is None:
        _THROUGH = _through_function()

    def through(*args: Any, **kwargs: Any) -> Any:
        tensors: list = []
        structure = _flatten_float_tensors(list(args), tensors)
        return _THROUGH.apply(function, structure, kwargs, *tensors)

    return through


def optimizer_steps(function: Callable, *args: Any, optimizer: int = 1, grads: Any = None, repeat: int = 1,
                    **kwargs: Any) -> tuple[list, list]:
    """``(results, steps)``: ``function(*args)`` called ``repeat`` times where it runs (a student's
    training step), ``args[optimizer]`` being an optimizer whose parameters first get ``grads`` as
    their ``.grad`` (stale gradients: they do not travel with a model); ``steps[k]`` lists the
    gradients of its parameters as its k-th ``step()`` began.  Evidence from the student's process."""
    return tuple(call_probe("optimizer_steps", function, list(args), kwargs or None, int(optimizer),
                            None if grads is None else list(grads), int(repeat)))


def spy_calls(function: Callable, *args: Any, watch: Iterable[str] = (), modes_of: Any = None,
              values: bool = True, **kwargs: Any) -> tuple[Any, list]:
    """``(result, calls)``: ``function(*args, **kwargs)`` while the callables named in ``watch`` are
    watched (``"0"``: the first argument, ``"augment_fn"``: a keyword argument, ``"function"``: the
    called module itself; ``"0/Dropout"``: its sub-modules of that class).  Each call: ``{"watch",
    "module", "training", "grad", "shapes", "inputs"}`` (``graders.remote.probes.spy_calls``).
    Evidence from the student's process."""
    return tuple(call_probe("spy_calls", function, list(args), kwargs or None, [str(w) for w in watch],
                            None if modes_of is None else str(modes_of), bool(values)))


def module_summary(module: Any) -> dict:
    """``{sub-module name: {"type", "kinds" (class names in its MRO), plain attributes}}`` of a module
    (``""``: the module itself).  Evidence from the student's process."""
    return call_probe("module_summary", module)


# ---------------------------------------------------------------- types, in-place settings, optimizer steps
# (class01 mlp_training and dropout_batchnorm, class02, class03)


def is_instance(obj: Any, classinfo: Any) -> bool:
    """``isinstance(obj, classinfo)``, asked where ``obj`` lives (a student's module is a handle in the
    checker, never an instance of anything there).  Evidence from the student's process."""
    from graders.remote.proxy import is_remote

    if not is_remote(obj) and not is_remote(classinfo) and not (
            isinstance(classinfo, tuple) and any(is_remote(c) for c in classinfo)):
        return isinstance(obj, classinfo)
    return bool(call_probe("isinstance_of", obj, classinfo))


def type_name(obj: Any) -> str:
    """The class name of ``obj`` (as the student's process reports it, for a student's object): for messages."""
    from graders.remote.proxy import describe, is_remote

    if is_remote(obj):
        return str(describe(obj).get("type", "object")).rsplit(".", 1)[-1]
    return type(obj).__name__


def copy_into(obj: Any, **values: Any) -> None:
    """``with torch.no_grad(): obj.<name>.copy_(value)`` for each ``name=value``, where ``obj`` lives: sets a
    student's module's tensors in place (``copy_into(bn, weight=w, bias=b)``); dotted names as
    ``copy_into(model, **{"0.weight": w})`` reach sub-modules."""
    call_probe("copy_into", obj, dict(values))


def build_there(cls: Any, *args: Any, **kwargs: Any) -> Any:
    """``cls(*args, **kwargs)`` built where the student's objects among the arguments live:
    ``build_there(nn.Sequential, nn.Identity(), Dropout(0.5))`` holds their layer in a torch container
    (a handle while grading, the object itself while they work)."""
    return call_probe("build_there", cls, list(args), kwargs or None)


def optimizer_step_snapshots(function: Callable, *args: Any, module: int | None = None,
                             **kwargs: Any) -> tuple[Any, list]:
    """``(result, steps)`` of ``function(*args, **kwargs)``: for each ``optimizer.step()`` taken during the
    call (any optimizer, created anywhere), the parameters it updates as the step began, each
    ``{"name" (in ``args[module]``), "value", "grad"}``.  Recompute the gradient each step should have
    used with the check's own model (``expected_step_gradients``).  Evidence from the student's process."""
    result, steps = call_probe("optimizer_step_snapshots", function, list(args), kwargs or None,
                               None if module is None else int(module))
    return result, steps


def step_gradient_problems(steps: list, model: Any, loss_of: Callable[[Any], Any], tolerance: float = 1e-4,
                           what: str = "the gradient of the current loss") -> list[str]:
    """For ``optimizer_step_snapshots``' steps on ``model`` (the check's own module): the problems, one per
    bad step, comparing each step's gradients with the gradient of ``loss_of(model)`` at the
    parameters the step began from, computed here on a copy of the model."""
    import copy

    import torch

    problems = []
    twin = copy.deepcopy(model)
    params = dict(twin.named_parameters())
    for k, step in enumerate(steps):
        if any(p["name"] not in params for p in step):
            problems.append(f"optimizer.step() at step {k + 1} updates tensors that are not the model's parameters")
            continue
        if any(p["grad"] is None for p in step):
            problems.append(f"no gradient at all (p.grad is None) when optimizer.step() ran at step {k + 1}")
            continue
        with torch.no_grad():
            for p in step:
                params[p["name"]].copy_(p["value"])
        chosen = [params[p["name"]] for p in step]
        with torch.enable_grad():
            fresh = torch.autograd.grad(loss_of(twin), chosen, allow_unused=True)
        for p, g in zip(step, fresh):
            g = torch.zeros_like(p["value"]) if g is None else g
            err = (p["grad"].to(g.dtype) - g).abs().max().item() / (g.abs().max().item() + 1e-12)
            if not err <= tolerance:
                problems.append(f"p.grad differs from {what} by {err:.2g} (relative) at step {k + 1}")
                break
    return problems


def load_student_file(path: str) -> Any:
    """What ``torch.load(path, weights_only=False)`` gives for a file the student's code wrote (loaded in
    their process, where unpickling it can do no harm to the checks): data, or handles to objects."""
    return _where_the_student_is("torch_load", path)


def train_minibatches(model: Any, batches: list, lr: float = 0.01, loss: str = "cross_entropy") -> list:
    """Adam on ``batches`` (a list of ``(inputs tuple, target)`` the check drew) where the model lives
    (the student's process for their model), in training mode; returns the losses."""
    return call_probe("train_minibatches", model, [(tuple(i), t) for i, t in batches], float(lr), str(loss))


def call_sequence(function: Callable, calls: Iterable[tuple]) -> list:
    """``[function(*args, **kwargs) for args, kwargs in calls]`` where ``function`` runs, in one go: the
    check's own models and optimizers among the arguments carry their state, gradients included,
    from one call to the next as in one process (between separate calls, a model's ``.grad`` does
    not travel to the student's side)."""
    return call_probe("call_sequence", function, [(list(a), dict(k or {})) for a, k in calls])


def forward_log(function: Callable, *args: Any, watch: Iterable[str] = (), snapshot: Iterable[str] = (),
                grad_outputs: Any = None, **kwargs: Any) -> tuple[Any, dict]:
    """``(result, log)`` of ``function(*args, **kwargs)`` where it runs, with forward hooks on the modules in
    ``watch`` (``"0.label_net"``: of the first argument; ``"function.scorer"``: of the called module):
    each forward call's grad mode, mode, inputs, output, the gradients that reached the output, and
    the ``state_dict()`` of the modules in ``snapshot`` then; ``grad_outputs`` (per result tensor)
    back-propagates the result first (``graders.remote.probes.forward_log``).  Evidence from the
    student's process."""
    return tuple(call_probe("forward_log", function, list(args), kwargs or None, [str(w) for w in watch],
                            [str(s) for s in snapshot], None if grad_outputs is None else list(grad_outputs)))


def fit_outputs(model: Any, inputs: list, terms: Iterable[tuple], epochs: int = 200, lr: float = 0.01) -> list:
    """Full-batch Adam where the model lives on ``sum(weight * loss(model(*inputs)[index], target))`` for the
    ``(index, "cross_entropy" | "bce_with_logits" | "mse", target, weight)`` in ``terms``; returns the losses."""
    return call_probe("fit_outputs", model, list(inputs), [tuple(t) for t in terms], int(epochs), float(lr))


def close_student_figures() -> None:
    """Close the figures the student's code made (in their process while grading): a check that had
    their function draw cleans up after it, as ``plt.close("all")`` does in one process."""
    _where_the_student_is("close_figures")


def parameters_by_name(function: Callable, *args: Any, module: int = 0, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` where it runs, each of ``args[module]``'s own parameter objects in the
    result replaced by ``{"parameter": name}`` (a copy of a parameter is not one): which parameters a
    function hands back, such as optimizer groups.  Evidence from the student's process."""
    return call_probe("parameters_by_name", function, list(args), kwargs or None, int(module))


def watched_call(function: Callable, *args: Any, threads: int | None = None, cuda_sync: bool = False,
                 **kwargs: Any) -> tuple[Any, dict]:
    """``(result, report)`` of ``function(*args, **kwargs)`` run where the student's code lives, with
    ``threads`` torch threads: ``report["cpu"]`` and ``["wall"]`` seconds, ``["network"]`` attempts
    (refused), ``["files"]`` opened outside the notebook's folder and Python, ``["error"]`` (text, or
    None).  Evidence from the student's process: a time budget or an offline rule checked with it."""
    return call_probe("watched_call", function, list(args), kwargs or None, threads, cuda_sync)


def compiled_call(function: Callable, *args: Any, fullgraph: bool = True, backend: str = "eager",
                  **kwargs: Any) -> Any:
    """``torch.compile(function, fullgraph=..., backend=...)(*args, **kwargs)`` where the student's
    function lives: with ``fullgraph`` a graph break (an ``if`` on a tensor, ``.item()``) raises.
    Evidence from the student's process."""
    return call_probe("compiled_call", function, list(args), kwargs or None, fullgraph, backend)
