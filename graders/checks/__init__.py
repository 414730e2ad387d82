"""What notebook test cells call.

    from graders.checks import *

    def test_logits_shape():
        expect_shape("logits", model(x), (64, 10))

    run_tests(points=2)
"""

from .gradients import expect_gradcheck, expect_gradient, numerical_gradient, relative_error
from .inside import parameter_grads, torch_functions_used, vjp
from .inside import (  # stand-ins, training and files where the student's code runs
    call_and_states, call_backward, close_student_figures, largest_tensor, load_student_file, read_student_folder,
    record_calls, student_folder, student_globals, train_adam,
)
from .inside import (  # types, in-place settings and optimizer steps where the student's objects live
    build_there, copy_into, is_instance, optimizer_step_snapshots, step_gradient_problems, type_name,
)
from .inside import (  # differentiating through, and watching, the student's code where it runs
    call_sequence, differentiable, fit_outputs, forward_log, module_summary, optimizer_steps, parameters_by_name,
    compiled_call, spy_calls, train_minibatches, vjp_tree, watched_call,
)
from .numerics import exact_float32
from .reference import expect_matches_reference, random_shape
from .runner import award, install_assert_rewriting, leaderboard, run_tests, time_budget, weight
from .tensors import (
    as_numpy, expect_close, expect_device, expect_dtype, expect_equal, expect_finite,
    expect_shape, expect_true, expect_type,
)
from .thresholds import accuracy, expect_at_least, expect_at_most, ramp
from .timing import PlantedAccelerator, within_seconds

install_assert_rewriting()

__all__ = [
    "accuracy", "as_numpy", "award", "exact_float32", "expect_at_least", "expect_at_most", "expect_close",
    "expect_device", "expect_dtype", "expect_equal", "expect_finite", "expect_gradcheck",
    "expect_gradient", "expect_matches_reference", "expect_shape", "expect_true", "expect_type",
    "leaderboard", "numerical_gradient", "parameter_grads", "PlantedAccelerator", "ramp", "random_shape",
    "relative_error", "run_tests", "time_budget", "torch_functions_used", "vjp", "weight", "within_seconds",
]
__all__ += [
    "call_and_states", "call_backward", "close_student_figures", "largest_tensor", "load_student_file",
    "read_student_folder", "record_calls", "student_folder", "student_globals", "train_adam",
]
__all__ += ["call_sequence", "differentiable", "fit_outputs", "forward_log", "module_summary", "optimizer_steps",
            "parameters_by_name", "spy_calls", "train_minibatches", "vjp_tree", "watched_call", "compiled_call"]
__all__ += [
    "build_there", "copy_into", "is_instance", "optimizer_step_snapshots", "step_gradient_problems", "type_name",
]
