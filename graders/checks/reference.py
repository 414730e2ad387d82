"""Compare a student's function with a library reference on random inputs of random shapes."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .tensors import expect_close


def expect_matches_reference(name: str, student: Callable, reference: Callable,
                             make_inputs: Callable[[Any], Sequence[Any]], trials: int = 5,
                             seed: int = 0, rtol: float = 1e-5, atol: float = 1e-6,
                             student_first: bool = False) -> None:
    """Call both on ``make_inputs(generator)`` ``trials`` times and compare the outputs.

    ``make_inputs`` receives a seeded ``torch.Generator`` and returns the positional
    arguments; drawing the shapes from it too catches code that only works for one shape.
    ``student_first`` calls the student's function before the reference, for state the
    function must set itself (a reference that calls ``model.eval()`` would set it for them).
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    for trial in range(trials):
        args = tuple(make_inputs(generator))
        fresh = [a.clone() if torch.is_tensor(a) else a for a in args]
        shapes = ", ".join(str(tuple(a.shape)) for a in args if hasattr(a, "shape"))
        if student_first:
            got = student(*args)
            expected = reference(*fresh)
        else:
            expected = reference(*fresh)
            got = student(*args)
        expect_close(f"{name} on inputs of shapes {shapes}", got, expected, rtol=rtol, atol=atol)


def random_shape(generator: Any, ndim: int, low: int = 1, high: int = 8) -> tuple:
    """A random shape with ``ndim`` dimensions in ``[low, high]``, from a torch generator."""
    import torch

    return tuple(int(v) for v in torch.randint(low, high + 1, (ndim,), generator=generator))
