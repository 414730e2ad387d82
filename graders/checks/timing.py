"""Time budgets for code that students write (a training loop, a slow implementation)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def within_seconds(name: str, seconds: float) -> Iterator[None]:
    """Fail after the block if it took longer than ``seconds``.

    For a hard stop of a runaway check, decorate the test with ``@time_budget`` instead
    (the runner interrupts it).
    """
    start = time.perf_counter()
    yield
    took = time.perf_counter() - start
    if took > seconds:
        raise AssertionError(f"{name}: expected to run within {seconds:g} s, got {took:.1f} s")
