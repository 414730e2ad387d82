"""Tamper evidence: the second line of defence, run inside the student's kernel.

The score no longer depends on anything inside the student's process (the checks run in the
checker, ``graders.grading.checker``), so rewiring numpy or IPython there cannot forge a grade.
What it still can do is make the few probes that look inside the student's process (which
operations a model uses, what a training loop does) report false evidence, and it is a sign
of an attempt worth a person's look.  So, as before each tests cell, the grader asks the
kernel — with code it sends fresh each time and evaluates in a new dictionary, never through
the student's globals — for:

* the identity of every callable of the watched modules and classes, and of its code object
  (``func.__code__ = other.__code__`` keeps the function's identity, not its code's);
* the shell's hooks: display formatters, the display hook, input and AST transformers, event
  callbacks, trace and profile functions, and threads — any defined in a notebook cell.

A change flags the submission and voids the in-process evidence of that tests cell; a
fingerprint that cannot be taken (the student broke ``exec``, ``repr``, IPython) is itself a
flag.  This is detection, not proof: code in a process controls that process.
"""

from __future__ import annotations

import ast
import json

#: modules whose callables the probes and the student-facing checks rely on (absent ones are skipped)
WATCHED_MODULES = (
    "builtins", "sys", "math", "numpy", "numpy.linalg", "numpy.testing", "numpy.random", "numpy._core.numeric",
    "numpy._core.fromnumeric", "numpy._core.multiarray", "torch", "torch.nn.functional", "torch.autograd",
    "torch.testing", "torch.overrides", "sklearn.metrics", "graders.checks", "graders.checks.runner",
    "graders.checks.tensors", "graders.checks.gradients", "graders.checks.reference", "graders.checks.thresholds",
    "graders.checks.timing", "graders.data", "graders.remote.server", "graders.remote.probes", "graders.remote.wire",
    "pytest", "_pytest.python", "IPython.core.interactiveshell",
)
#: classes whose methods are watched too (comparison operators and tensor methods live there)
WATCHED_CLASSES = (("torch", "Tensor"), ("torch._C", "TensorBase"), ("numpy", "ndarray"),
                   ("torch.nn", "Module"), ("IPython.core.interactiveshell", "InteractiveShell"))
#: attributes that legitimately change while a notebook runs
IGNORED = {"sys": {"last_type", "last_value", "last_traceback", "last_exc", "ps1", "ps2", "exc_info"}}
#: where the shell's legitimate hooks come from
LIBRARIES = ("IPython", "ipykernel", "matplotlib", "matplotlib_inline", "graders", "traitlets", "jupyter_client",
             "comm", "ipywidgets", "tqdm", "torch", "numpy", "_pytest", "pytest", "zmq", "tornado", "asyncio",
             "threading", "debugpy", "builtins", "_distutils_hack", "_frozen_importlib", "_frozen_importlib_external",
             "__editable__", "concurrent", "queue", "collections", "functools",
             "absl")  # absl: tensorboard's flags add an import finder (extra_utils)

# Sent to the kernel as source each time (never stored there); run with exec in a fresh dict.
_FINGERPRINT_CODE = """
import sys as _sys
def _cellish(name):  # a notebook cell or exec'd text; not the interpreter's frozen modules
    return 'ipykernel_' in name or (name.startswith('<') and not name.startswith('<frozen '))
def _from_cell(obj):
    f = getattr(obj, '__func__', obj)
    code = getattr(f, '__code__', None)
    if code is not None and _cellish(code.co_filename or ''):
        return True
    mod = getattr(f, '__module__', None) or getattr(type(obj), '__module__', '') or ''
    return mod == '__main__'
def _entry(obj):
    inner = obj
    for _ in range(10):  # follow functools.wraps chains (torch wraps some functions lazily)
        nxt = getattr(inner, '__wrapped__', None)
        if nxt is None or nxt is inner:
            break
        inner = nxt
    code = getattr(getattr(obj, '__func__', obj), '__code__', None)
    return (id(obj), id(inner), _from_cell(obj), id(code) if code is not None else 0)
def _origin(obj):
    if isinstance(obj, type):  # a class: where its methods were written, not the module it names
        for v in list(vars(obj).values()):
            code = getattr(getattr(v, '__func__', v), '__code__', None)
            if code is not None and _cellish(code.co_filename or ''):
                return '__main__'
    f = getattr(obj, '__func__', obj)
    mod = getattr(f, '__module__', None) or type(f).__module__ or ''
    code = getattr(f, '__code__', None)
    if code is not None and _cellish(code.co_filename or ''):
        return '__main__'
    return mod
groups = {}
for m in WATCHED:
    mod = _sys.modules.get(m)
    if mod is None:
        continue
    entries = groups[m] = {}
    for a, v in list(vars(mod).items()):
        if a in IGNORED.get(m, ()) or a.startswith('__') or not callable(v) or type(v) is type(_sys):
            continue
        entries[m + '.' + a] = _entry(v)
for m, c in CLASSES:
    cls = getattr(_sys.modules.get(m), c, None)
    entries = groups[m + '.' + c] = {}
    for a, v in (list(vars(cls).items()) if cls is not None else []):
        if callable(v):
            entries[m + '.' + c + '.' + a] = _entry(v)
checks, main = _sys.modules.get('graders.checks'), _sys.modules['__main__']
entries = groups['__main__'] = {}
for a in (getattr(checks, '__all__', None) or ()):
    if hasattr(main, a):
        entries['__main__.' + a] = (getattr(main, a) is getattr(checks, a),)
# digests only, unless details are asked for (the first time, and for groups that changed)
digests = {g: str(hash(tuple(sorted(e.items())))) for g, e in groups.items()}
objects = {}
for g in groups:
    if DETAIL is None or g in DETAIL or g in AGAINST and AGAINST[g] != digests[g]:
        objects.update(groups[g])
hooks = []
def _hook(where, obj):
    if obj is None:
        return
    origin = _origin(obj)
    if not origin.startswith(LIBRARIES):
        hooks.append(where + ' (' + origin + ')')
if _sys.gettrace() is not None: _hook('sys.settrace', _sys.gettrace())
if _sys.getprofile() is not None: _hook('sys.setprofile', _sys.getprofile())
import threading as _threading
if _threading.gettrace() is not None: _hook('threading.settrace', _threading.gettrace())
if _threading.getprofile() is not None: _hook('threading.setprofile', _threading.getprofile())
for t in _threading.enumerate():
    target = getattr(t, '_target', None) or getattr(type(t), 'run', None)
    if target is not None:
        _hook('thread ' + t.name, target)
_hook('sys.displayhook', _sys.displayhook)
_hook('builtins.__import__', __import__)
for finder in _sys.meta_path:
    _hook('sys.meta_path', finder if isinstance(finder, type) else type(finder))
shell = getattr(_sys.modules.get('IPython'), 'get_ipython', lambda: None)()
if shell is not None:
    _hook('shell.run_cell', shell.run_cell)
    _hook('shell.displayhook', shell.displayhook)
    for part in ('__call__', 'compute_format_data', 'write_format_data', 'write_output_prompt', 'finish_displayhook'):
        _hook('shell.displayhook.' + part, getattr(shell.displayhook, part, None))
    _hook('shell.display_pub.publish', getattr(shell.display_pub, 'publish', None))
    interactivity = shell.ast_node_interactivity
    if interactivity not in ('last_expr', 'last'):
        hooks.append('shell.ast_node_interactivity = ' + str(interactivity))
    for t in list(shell.ast_transformers) + list(shell.input_transformers_post) + list(shell.input_transformers_cleanup):
        _hook('shell transformer', t)
    for event, callbacks in shell.events.callbacks.items():
        for cb in callbacks:
            _hook('shell event ' + event, cb)
    for mime, fmt in shell.display_formatter.formatters.items():
        _hook('display formatter ' + mime, fmt)
        for table in ('type_printers', 'deferred_printers', 'singleton_printers'):
            for printer in list(getattr(fmt, table, {}).values()):
                _hook('display formatter ' + mime, printer)
import json as _json  # JSON, not repr: the grader parses it ~50x faster than a Python literal
RESULT = _json.dumps({'digests': digests, 'objects': objects, 'hooks': sorted(set(hooks))})
"""


def fingerprint_expression(detail: tuple | None = None, against: dict | None = None) -> str:
    """A Python expression, evaluated in the kernel, that returns the fingerprint as JSON: a
    digest per watched group, the hooks, and the entries of the groups in ``detail`` (None: all)
    and of those whose digest differs from ``against`` (an earlier fingerprint's digests: what
    changed since then comes back in the same round trip)."""
    code = (f"WATCHED = {WATCHED_MODULES!r}\nCLASSES = {WATCHED_CLASSES!r}\nLIBRARIES = {LIBRARIES!r}\n"
            f"IGNORED = {({k: tuple(sorted(v)) for k, v in IGNORED.items()})!r}\nDETAIL = {detail!r}\n"
            f"AGAINST = {dict(against or {})!r}\n" + _FINGERPRINT_CODE)
    return f"(lambda ns: (exec({code!r}, ns), ns['RESULT'])[1])({{}})"


def parse(reply_value: str) -> dict:
    """The fingerprint from a user_expressions result (the repr of a string holding JSON)."""
    value = json.loads(ast.literal_eval(reply_value))
    # the student's process wrote it: a malformed one is a failed fingerprint, never a crash
    if not isinstance(value, dict) or not isinstance(value.get("objects"), dict) \
            or not isinstance(value.get("digests", {}), dict) or not isinstance(value.get("hooks", []), list) \
            or not all(isinstance(entry, list) and entry for entry in value["objects"].values()):
        raise ValueError("not a fingerprint")
    value["objects"] = {name: tuple(entry) for name, entry in value["objects"].items()}
    return value


def tampered(before: dict, now: dict) -> list[str]:
    """What changed since ``before`` (new names are fine: lazy imports add them).

    A library wrapping its own function (``functools.wraps`` around the original, code not
    from a notebook cell: torch does this to ``manual_seed``) is not tampering.
    """
    old_objects, new_objects = before.get("objects", {}), now.get("objects", {})
    changed = []
    for name, old in old_objects.items():
        if name.startswith("__main__.") or name not in new_objects:
            continue  # (only the groups whose digest changed are in ``now``)
        new = new_objects[name]
        if new[0] == old[0]:
            if len(new) > 3 and len(old) > 3 and new[3] != old[3]:
                changed.append(f"{name} (its code)")
            continue
        if new[1] == old[0] and not new[2]:
            continue
        changed.append(name)
    # a star-imported check function rebound in the notebook (e.g. `def expect_close(...)`)
    changed += [name for name, same in new_objects.items() if name.startswith("__main__.") and same == (False,)]
    changed += [hook for hook in now.get("hooks", []) if hook not in before.get("hooks", [])]
    return sorted(changed)
