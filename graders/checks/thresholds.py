"""Metric thresholds with partial credit, and accuracy helpers.

Partial credit is a linear ramp: 0 at or below ``floor``, full at ``target``.  A check that
misses the target but clears the floor passes with part of its weight (nbgrader receives
the cell's numeric score); one at or below the floor fails with expected-vs-got.
Targets come from ``graders calibrate``: the reference solution over >= 20 seeds, minus a margin.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .runner import award
from .tensors import as_numpy, expect_shape


def ramp(value: float, floor: float, target: float, higher_is_better: bool = True) -> float:
    """Fraction of credit for ``value`` on a linear ramp from ``floor`` (0) to ``target`` (1)."""
    if not higher_is_better:
        value, floor, target = -value, -floor, -target
    if value >= target:
        return 1.0
    if value <= floor:
        return 0.0
    return (value - floor) / (target - floor)


def _record_metric(name: str, value: float, higher_is_better: bool = True) -> None:
    """Append a metric to $GRADERS_METRICS_LOG (used by ``graders calibrate``)."""
    import json
    import os

    path = os.environ.get("GRADERS_METRICS_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"name": name, "value": float(value), "higher": higher_is_better}) + "\n")


def expect_at_least(name: str, value: float, target: float, floor: Optional[float] = None) -> None:
    """``value >= target`` for full credit; between ``floor`` and ``target`` for partial credit."""
    value = float(value)
    _record_metric(name, value)
    if not np.isfinite(value):
        raise AssertionError(f"{name}: expected at least {target:.4g}, got {value}")
    if value >= target:
        return
    if floor is None or value <= floor:
        raise AssertionError(f"{name}: expected at least {target:.4g}, got {value:.4g}")
    fraction = ramp(value, floor, target)
    award(fraction, f"{name}: expected at least {target:.4g} for full credit, got {value:.4g} "
                    f"({fraction:.0%} of this check; 0 at {floor:.4g})")


def expect_at_most(name: str, value: float, target: float, ceiling: Optional[float] = None) -> None:
    """``value <= target`` for full credit (losses, errors); partial credit up to ``ceiling``."""
    value = float(value)
    _record_metric(name, value, higher_is_better=False)
    if not np.isfinite(value):
        raise AssertionError(f"{name}: expected at most {target:.4g}, got {value}")
    if value <= target:
        return
    if ceiling is None or value >= ceiling:
        raise AssertionError(f"{name}: expected at most {target:.4g}, got {value:.4g}")
    fraction = ramp(value, ceiling, target, higher_is_better=False)
    award(fraction, f"{name}: expected at most {target:.4g} for full credit, got {value:.4g} "
                    f"({fraction:.0%} of this check; 0 at {ceiling:.4g})")


def accuracy(predictions: Any, labels: Any) -> float:
    """Fraction of correct predictions; ``predictions`` are labels, or scores/logits (N, C)."""
    p, y = as_numpy(predictions), as_numpy(labels)
    if p.ndim == 2 and y.ndim == 1:
        p = p.argmax(axis=1)
    expect_shape("predictions", p, y.shape)
    return float((p.reshape(-1) == y.reshape(-1)).mean())
