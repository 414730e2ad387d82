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


class _PlantedState:
    def __init__(self, durations, synchronous: bool, launch: float):
        self.durations, self.synchronous, self.launch = list(durations), bool(synchronous), float(launch)
        self.clock = self.busy_until = 0.0
        self.calls = 0


_PLANTED: dict = {}  # token -> state: copies of one accelerator (pickled elsewhere) share its clock


def _planted(token: str, durations, synchronous: bool, launch: float) -> "PlantedAccelerator":
    accelerator = PlantedAccelerator.__new__(PlantedAccelerator)
    accelerator._token = token
    accelerator._state = _PLANTED.setdefault(token, _PlantedState(durations, synchronous, launch))
    return accelerator


class PlantedAccelerator:
    """A fake accelerator with a planted clock, to check a benchmark function exactly.

    ``run()`` queues work that takes ``durations[i]`` seconds (the i-th call) and returns after a
    launch of ``launch`` seconds, as a CUDA call does; ``synchronize()`` waits until the queue is
    empty; ``timer()`` reads the clock. With ``synchronous=True`` each ``run()`` waits for its own
    work (a CPU). Nothing runs and nothing sleeps: the right median is known in advance.
    """

    def __init__(self, durations, synchronous: bool = False, launch: float = 1e-6):
        import uuid

        self._token = uuid.uuid4().hex
        self._state = _PLANTED.setdefault(self._token, _PlantedState(durations, synchronous, launch))

    def __reduce__(self):
        s = self._state
        return _planted, (self._token, s.durations, s.synchronous, s.launch)

    @property
    def calls(self) -> int:
        return self._state.calls

    def run(self) -> None:
        s = self._state
        if s.calls >= len(s.durations):
            raise RuntimeError(f"fn called more than the {len(s.durations)} planted times")
        work, s.calls = s.durations[s.calls], s.calls + 1
        s.clock += s.launch
        s.busy_until = max(s.busy_until, s.clock) + work
        if s.synchronous:
            self.synchronize()

    def synchronize(self) -> None:
        s = self._state
        s.clock = max(s.clock, s.busy_until)

    def timer(self) -> float:
        return self._state.clock
