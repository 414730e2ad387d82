"""What notebook test cells call.

    from graders.checks import *

    def test_logits_shape():
        expect_shape("logits", model(x), (64, 10))

    run_tests(points=2)
"""

from .gradients import expect_gradcheck, expect_gradient, numerical_gradient, relative_error
from .reference import expect_matches_reference, random_shape
from .runner import award, install_assert_rewriting, leaderboard, run_tests, time_budget, weight
from .tensors import (
    as_numpy, expect_close, expect_device, expect_dtype, expect_equal, expect_finite,
    expect_shape, expect_true, expect_type,
)
from .thresholds import accuracy, expect_at_least, expect_at_most, ramp
from .timing import within_seconds

install_assert_rewriting()

__all__ = [
    "accuracy", "as_numpy", "award", "expect_at_least", "expect_at_most", "expect_close",
    "expect_device", "expect_dtype", "expect_equal", "expect_finite", "expect_gradcheck",
    "expect_gradient", "expect_matches_reference", "expect_shape", "expect_true", "expect_type",
    "leaderboard", "numerical_gradient", "ramp", "random_shape", "relative_error", "run_tests", "time_budget",
    "weight", "within_seconds",
]
