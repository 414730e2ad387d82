"""Tamper evidence: notice student code that rewires the tools the hidden checks rely on.

Student cells run before the hidden tests, in the same kernel, so they could replace
``torch.allclose``, numpy, builtins or ``graders.checks`` itself and make any check pass.
Before the first cell, the grader records the identity of every callable in the watched
modules; before each tests cell it asks again, with code it sends fresh each time (nothing
stored in the kernel that student code could rewrite), and compares the answers outside
the kernel.  A changed entry zeroes that tests cell and flags the submission.

This is evidence, not proof against everything: code that rewrites ``id`` itself to lie
consistently is out of reach of any in-kernel check.  It catches the monkeypatching that a
student tempted to cheat would actually write.
"""

from __future__ import annotations

import json

#: modules whose callables the hidden checks depend on (absent ones are skipped)
WATCHED_MODULES = (
    "builtins", "sys", "numpy", "numpy.linalg", "numpy.testing", "torch", "torch.nn.functional",
    "torch.autograd", "torch.testing", "graders.checks", "graders.checks.runner",
    "graders.checks.tensors", "graders.checks.gradients", "graders.checks.reference",
    "graders.checks.thresholds", "graders.checks.timing", "graders.data", "pytest", "_pytest.python",
)
#: classes whose methods are watched too (comparison operators live there)
WATCHED_CLASSES = (("torch", "Tensor"), ("numpy", "ndarray"))
#: attributes that legitimately change while a notebook runs
IGNORED = {"sys": {"last_type", "last_value", "last_traceback", "last_exc", "ps1", "ps2", "exc_info"}}

# Sent to the kernel as source each time (never stored there); run with exec in a fresh dict.
_FINGERPRINT_CODE = """
import sys, json
def _entry(obj):
    inner = obj
    for _ in range(10):  # follow functools.wraps chains (torch wraps some functions lazily)
        nxt = getattr(inner, '__wrapped__', None)
        if nxt is None or nxt is inner:
            break
        inner = nxt
    code = getattr(getattr(obj, '__func__', obj), '__code__', None)
    name = getattr(code, 'co_filename', '') or ''
    from_cell = 'ipykernel_' in name or name.startswith('<')
    return [id(obj), id(inner), from_cell]
fp = {}
for m in WATCHED:
    mod = sys.modules.get(m)
    if mod is None:
        continue
    for a, v in list(vars(mod).items()):
        if a in IGNORED.get(m, ()) or a.startswith('__') or not callable(v) or isinstance(v, type(sys)):
            continue
        fp[m + '.' + a] = _entry(v)
for m, c in CLASSES:
    cls = getattr(sys.modules.get(m), c, None)
    for a, v in (list(vars(cls).items()) if cls is not None else []):
        if callable(v):
            fp[m + '.' + c + '.' + a] = _entry(v)
checks, main = sys.modules.get('graders.checks'), sys.modules['__main__']
for a in (getattr(checks, '__all__', None) or ()):
    if hasattr(main, a):
        fp['__main__.' + a] = getattr(main, a) is getattr(checks, a)
RESULT = json.dumps(fp)
"""


def fingerprint_expression() -> str:
    """A Python expression, evaluated in the kernel, that returns the fingerprint as JSON."""
    code = (f"WATCHED = {WATCHED_MODULES!r}\nCLASSES = {WATCHED_CLASSES!r}\n"
            f"IGNORED = {({k: tuple(sorted(v)) for k, v in IGNORED.items()})!r}\n" + _FINGERPRINT_CODE)
    return f"(lambda ns: (exec({code!r}, ns), ns['RESULT'])[1])({{}})"


def parse(reply_value: str) -> dict:
    """The fingerprint from a user_expressions result (a repr of the JSON string)."""
    import ast

    return json.loads(ast.literal_eval(reply_value))


def tampered(before: dict, now: dict) -> list[str]:
    """Names whose object changed since ``before`` (new names are fine: lazy imports add them).

    A library wrapping its own function (``functools.wraps`` around the original, code not
    from a notebook cell: torch does this to ``manual_seed``) is not tampering.
    """
    changed = []
    for name, old in before.items():
        if name.startswith("__main__.") or name not in now or now[name][0] == old[0]:
            continue
        _, unwrapped, from_cell = now[name]
        if unwrapped == old[0] and not from_cell:
            continue
        changed.append(name)
    # a star-imported check function rebound in the notebook (e.g. `def expect_close(...)`)
    changed += [name for name, same in now.items() if name.startswith("__main__.") and same is False]
    return sorted(changed)
