"""Unit tests of the check library: each check passes on right values and fails on wrong ones
with an expected-vs-got message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from graders import data
from graders.checks import (
    accuracy, expect_at_least, expect_at_most, expect_close, expect_device, expect_dtype,
    expect_equal, expect_finite, expect_gradcheck, expect_gradient, expect_matches_reference,
    expect_shape, expect_type, numerical_gradient, ramp, random_shape, relative_error, within_seconds,
)
from graders.checks import runner


def fails_with(fragment: str):
    return pytest.raises(AssertionError, match=fragment)


class TestShapesTypes:
    def test_shape_message_names_expected_and_got(self):
        expect_shape("logits", torch.zeros(64, 10), (64, 10))
        with fails_with(r"^logits: expected shape \(64, 10\), got \(64, 1\)$"):
            expect_shape("logits", torch.zeros(64, 1), (64, 10))

    def test_shape_wildcards_and_rank(self):
        expect_shape("x", np.zeros((5, 3)), (None, 3))
        with fails_with(r"expected shape \(\*, 3\), got \(5, 3, 1\)"):
            expect_shape("x", np.zeros((5, 3, 1)), (None, 3))
        with fails_with("got None"):
            expect_shape("x", None, (1,))

    def test_dtype_device_type(self):
        expect_dtype("x", torch.zeros(2), torch.float32)
        with fails_with("expected dtype torch.float32, got torch.float64"):
            expect_dtype("x", torch.zeros(2, dtype=torch.float64), torch.float32)
        expect_device("x", torch.zeros(2), "cpu")
        with fails_with("expected device cuda, got cpu"):
            expect_device("x", torch.zeros(2), "cuda")
        with fails_with("expected a Tensor, got list"):
            expect_type("x", [1], torch.Tensor)


class TestValues:
    def test_close_reports_worst_element(self):
        expect_close("y", torch.tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]))
        with fails_with(r"y: expected 2.5 at index \(1,\), got 2 \(1 of 3 values differ"):
            expect_close("y", torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.5, 3.0]))

    def test_close_checks_shape_and_nan(self):
        with fails_with(r"expected shape \(3,\), got \(3, 1\)"):
            expect_close("y", np.zeros((3, 1)), np.zeros(3))
        with fails_with("got NaN"):
            expect_close("y", np.array([np.nan]), np.array([1.0]))
        with fails_with(r"^s: expected 1, got 2$"):
            expect_close("s", 2.0, 1.0)

    def test_equal_and_finite(self):
        expect_equal("labels", np.array([1, 2]), torch.tensor([1, 2]))
        with fails_with(r"expected 2 at index \(1,\), got 3"):
            expect_equal("labels", np.array([1, 3]), np.array([1, 2]))
        with fails_with("expected 'a', got 'b'"):
            expect_equal("s", "b", "a")
        with fails_with("expected finite values, got 1 NaN/inf"):
            expect_finite("p", np.array([0.0, np.inf]))


class TestGradients:
    def test_numerical_gradient_float64_numpy_and_torch(self):
        x = np.array([1.0, -2.0, 3.0])
        assert np.allclose(numerical_gradient(lambda v: (v ** 3).sum(), x), 3 * x ** 2, atol=1e-6)
        t = torch.tensor([0.5, 1.5], dtype=torch.float32)
        assert np.allclose(numerical_gradient(lambda v: (v ** 2).sum(), t), 2 * t.double().numpy(), atol=1e-6)
        assert t.dtype == torch.float32 and torch.equal(t, torch.tensor([0.5, 1.5]))  # input untouched

    def test_relative_error_is_cs231n(self):
        assert relative_error(np.array([1.0]), np.array([1.0])) == 0
        assert relative_error(np.array([1.0, 0.0]), np.array([3.0, 0.0])) == pytest.approx(0.5)

    def test_expect_gradient_catches_wrong_gradient(self):
        rng = np.random.default_rng(0)
        X, y, w = rng.normal(size=(20, 3)), rng.normal(size=20), rng.normal(size=3)
        loss = lambda w_: np.mean((X @ w_ - y) ** 2)
        right = 2 * X.T @ (X @ w - y) / len(y)
        expect_gradient("dL/dw", right, loss, w, threshold=1e-7)
        with fails_with(r"dL/dw: expected a gradient matching finite differences .* got relative error"):
            expect_gradient("dL/dw", right * len(y), loss, w, threshold=1e-7)  # forgot the mean
        with fails_with(r"dL/dw \(gradient\): expected shape \(3,\), got \(1, 3\)"):
            expect_gradient("dL/dw", right[None], loss, w)

    def test_gradcheck_custom_function(self):
        class Square(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        class WrongSquare(Square):
            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return x * g

        expect_gradcheck("Square", Square.apply, torch.randn(4))
        with fails_with("Square: expected backward to match finite differences"):
            expect_gradcheck("Square", WrongSquare.apply, torch.randn(4))


class TestReference:
    def test_matches_library_on_random_shapes(self):
        def make(g):
            n, i, o = random_shape(g, 3)
            return torch.randn(n, i, generator=g), torch.randn(o, i, generator=g), torch.randn(o, generator=g)

        expect_matches_reference("linear_forward", lambda x, W, b: x @ W.T + b, F.linear, make)
        with fails_with(r"linear_forward on inputs of shapes \(\d+, \d+\), .*: expected"):
            expect_matches_reference("linear_forward", lambda x, W, b: x @ W.T, F.linear, make)

    def test_random_shape_is_seeded(self):
        g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
        assert random_shape(g1, 3) == random_shape(g2, 3)


class TestThresholds:
    def test_ramp(self):
        assert ramp(0.9, 0.5, 0.9) == 1 and ramp(0.5, 0.5, 0.9) == 0
        assert ramp(0.7, 0.5, 0.9) == pytest.approx(0.5)
        assert ramp(0.2, 0.5, 0.1, higher_is_better=False) == pytest.approx(0.75)

    def test_at_least_pass_fail_partial(self):
        expect_at_least("acc", 0.95, 0.9)
        with fails_with("acc: expected at least 0.9, got 0.4"):
            expect_at_least("acc", 0.4, 0.9, floor=0.5)
        result = runner.CheckResult("t", 1.0, 1.0)
        runner._current = result
        try:
            expect_at_least("acc", 0.8, 0.9, floor=0.5)
        finally:
            runner._current = None
        assert result.credit == pytest.approx(0.75)
        assert "expected at least 0.9 for full credit, got 0.8" in result.notes[0]

    def test_at_most(self):
        expect_at_most("loss", 0.1, 0.2)
        with fails_with("loss: expected at most 0.2, got 0.5"):
            expect_at_most("loss", 0.5, 0.2)
        with fails_with("expected at most 0.2, got nan"):
            expect_at_most("loss", float("nan"), 0.2, ceiling=1.0)

    def test_accuracy_from_labels_or_logits(self):
        assert accuracy(np.array([1, 0, 1]), np.array([1, 1, 1])) == pytest.approx(2 / 3)
        assert accuracy(torch.tensor([[0.1, 0.9], [2.0, 1.0]]), torch.tensor([1, 1])) == 0.5
        with fails_with(r"predictions: expected shape \(3,\), got \(2,\)"):
            accuracy(np.array([1, 0]), np.array([1, 1, 1]))

    def test_metrics_are_logged_for_calibration(self, tmp_path, monkeypatch):
        log = tmp_path / "m.jsonl"
        monkeypatch.setenv("GRADERS_METRICS_LOG", str(log))
        expect_at_least("acc", 0.95, 0.9)
        assert '"name": "acc"' in log.read_text()

    def test_within_seconds(self):
        with within_seconds("fast", 5):
            pass
        with fails_with("slow: expected to run within 0 s"):
            with within_seconds("slow", 0):
                sum(range(1000))


class TestData:
    def test_secret_seed_depends_on_secret_and_tag(self, monkeypatch):
        monkeypatch.delenv("GRADERS_SECRET", raising=False)
        practice = data.secret_seed("a")
        assert practice == data.secret_seed("a") and practice != data.secret_seed("b")
        monkeypatch.setenv("GRADERS_SECRET", "exam")
        assert data.secret_seed("a") != practice

    def test_generators_are_seeded(self):
        X1, y1, w1, b1 = data.make_linear_regression(seed=3)
        X2, y2, w2, b2 = data.make_linear_regression(seed=3)
        assert np.array_equal(X1, X2) and np.array_equal(w1, w2) and b1 == b2
        residual = y1 - (X1 @ w1 + b1)
        assert residual.std() == pytest.approx(0.1, rel=0.3)
        for make in (data.make_moons, data.make_circles, data.make_xor):
            X, y = make(n_samples=100, seed=1)
            assert X.shape == (100, 2) and set(np.unique(y)) == {0, 1}
            assert np.array_equal(make(n_samples=100, seed=1)[0], X)

    def test_tabular_standardised_on_train(self):
        split = data.load_tabular("wine", seed=0)
        assert np.allclose(split.X_train.mean(axis=0), 0, atol=1e-9)
        assert len(split.X_train) + len(split.X_test) == 178
        with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
            data.load_tabular("mnist")

    def test_to_tensors_dtypes(self):
        X, y = data.to_tensors(np.zeros((2, 3)), np.array([0, 1]))
        assert X.dtype == torch.float32 and y.dtype == torch.int64


def test_matches_reference_can_call_the_student_first():
    import torch

    from graders.checks import expect_matches_reference

    calls = []

    def student(x):
        calls.append("student")
        return x * 2

    def reference(x):
        calls.append("reference")
        return x * 2

    expect_matches_reference("double", student, reference, lambda g: (torch.randn(3, generator=g),),
                             trials=1, student_first=True)
    expect_matches_reference("double", student, reference, lambda g: (torch.randn(3, generator=g),), trials=1)
    assert calls == ["student", "reference", "reference", "student"]
