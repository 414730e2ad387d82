"""Numerics a check pins, so that it grades the same on CPU and CUDA.

On recent NVIDIA GPUs cuDNN convolutions use TF32 by default (10-bit mantissa), and matmuls
do when ``torch.set_float32_matmul_precision("high")`` was called: a float32 result then
differs from the CPU's in the third or fourth digit, enough to fail a tight ``expect_close``.
A check that compares with a reference computes both inside :func:`exact_float32`. On a CPU
it changes nothing.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def exact_float32() -> Iterator[None]:
    """Full float32 precision (IEEE, no TF32) for matmuls and convolutions in the block;
    restores the caller's settings afterwards. Usable as a decorator."""
    import torch

    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.get_float32_matmul_precision())
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.set_float32_matmul_precision(saved[2])
