"""The same grades on every device: `graders check-devices`, device forcing, calibration's perturbations.

The command runs on a bare GPU machine (no nbgrader, gradebook or sandbox); here it runs on the
CPU, on the mini course's smoke notebook (a few seconds a run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from graders.grading import calibrate, devices

REPO = Path(__file__).resolve().parents[1]
SMOKE = Path("source/smoke/smoke.ipynb")


def _graders(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "graders", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, **(env or {})})


# ------------------------------------------------------------------ scoring as nbgrader does


def _test_cell(outputs, executed=True):
    cell = nbformat.v4.new_code_cell("run_tests(points=2)")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "test-x", "points": 2.0}
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    cell.execution_count = 1 if executed else None
    return cell


@pytest.mark.parametrize("outputs,executed,score", [
    ([{"output_type": "stream", "name": "stdout", "text": "✔ test_a\n"},
      {"output_type": "execute_result", "data": {"text/plain": "1.5"}, "metadata": {}, "execution_count": 1}],
     True, 1.5),
    ([{"output_type": "stream", "name": "stdout", "text": "fine\n"}], True, 2.0),
    ([{"output_type": "stream", "name": "stderr", "text": "a warning\n"}], True, 0.0),
    ([{"output_type": "error", "ename": "NameError", "evalue": "x", "traceback": []}], True, 0.0),
    ([], False, 0.0),
], ids=["partial-credit", "no-result-full-marks", "stderr-zero", "error-zero", "never-ran-zero"])
def test_cell_score_follows_nbgrader(outputs, executed, score):
    assert devices.cell_score(_test_cell(outputs, executed)).score == score


def test_kernel_env_forces_the_device_and_hides_cuda_on_cpu():
    env = devices.kernel_env("cpu", "s3cret")
    assert env["GRADERS_DEVICE"] == "cpu" and env["CUDA_VISIBLE_DEVICES"] == ""
    assert env["GRADERS_SECRET"] == "s3cret"
    assert str(REPO) in env["PYTHONPATH"].split(os.pathsep)   # the kernels import this graders
    assert devices.kernel_env("cuda", "s").get("CUDA_VISIBLE_DEVICES") == os.environ.get("CUDA_VISIBLE_DEVICES")


def test_default_device_honours_the_environment(monkeypatch):
    import torch

    from graders.data import DEVICE_ENV, default_device

    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert default_device() == torch.device("cpu")
    monkeypatch.setenv(DEVICE_ENV, "tpu-please")
    with pytest.raises(ValueError, match="cpu, cuda or cuda:N"):
        default_device()
    if not torch.cuda.is_available():
        monkeypatch.setenv(DEVICE_ENV, "cuda")
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            default_device()


def test_select_notebooks_by_assignment_notebook_or_path():
    source = REPO / "source"
    every = devices.select_notebooks(source)
    assert len(every) == len(list(source.glob("*/*.ipynb")))
    assert [p.name for p in devices.select_notebooks(source, ["extra_lora"])] == ["lora_transfer.ipynb"]
    assert devices.select_notebooks(source, ["extra_lora/lora_transfer"]) == devices.select_notebooks(
        source, [str(source / "extra_lora" / "lora_transfer.ipynb")])
    with pytest.raises(FileNotFoundError, match="no notebook 'class99'"):
        devices.select_notebooks(source, ["class99"])


# ------------------------------------------------------------------ the command, for real, on the CPU


def test_check_devices_runs_every_reference_on_the_cpu(mini_course):
    """The table, the total and exit 0; and nothing of nbgrader or the hub imported on the way."""
    code = ("import sys; from graders.cli import main; rc = main(sys.argv[1:]); "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('nbgrader', 'jupyterhub', 'sqlalchemy')); "
            "print('HEAVY', heavy); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "--course", str(mini_course.root), "-q", "check-devices"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    row = next(line for line in lines if line.startswith("smoke/smoke.ipynb"))
    assert "5/5" in row and "s" in row.split()[1]                   # time, then score/points
    assert any(line.startswith("total") and "5/5" in line for line in lines)
    assert any(line.startswith("full marks") and "cpu 1/1" in line for line in lines)
    assert "every reference earns full marks on every device" in proc.stdout
    assert "HEAVY []" in proc.stdout


def test_check_devices_exits_non_zero_when_a_reference_loses_points(mini_course):
    path = mini_course.root / SMOKE
    nb = nbformat.read(str(path), as_version=4)
    answer = next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "double")
    answer.source = answer.source.replace("return 2 * x", "return 3 * x")
    nbformat.write(nb, str(path))
    proc = _graders("--course", str(mini_course.root), "-q", "check-devices", "smoke", "--device", "cpu",
                    "--secret", "another")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "✘ smoke/smoke.ipynb on cpu: 3/5" in proc.stdout
    assert "test-double: 0/2" in proc.stdout and "expected" in proc.stdout   # what failed, expected vs got


def test_check_devices_refuses_a_missing_device(mini_course):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = _graders("--course", str(mini_course.root), "check-devices", "--device", "cuda")
    assert proc.returncode == 2
    assert "device cuda not available here (found: cpu)" in proc.stderr


# ------------------------------------------------------------------ calibration: devices and perturbations


def test_calibration_plan_covers_every_perturbation():
    runs = calibrate.plan(6, ["cpu", "cuda"], "spread")
    for device in ("cpu", "cuda"):
        settings = {(s.threads, s.deterministic) for _, s in runs if s.device == device}
        assert settings == set(calibrate.PERTURBATIONS)
    assert len(calibrate.plan(2, ["cpu"], "all")) == 2 * len(calibrate.PERTURBATIONS)
    assert {s.reseed for _, s in calibrate.plan(3, ["cpu"], "none", reseed=True)} == {0, 1, 2}


def test_calibration_holds_a_thread_count_the_notebook_declares(tmp_path):
    """A notebook whose rules are defined on a thread count (class 9: a budget of one thread's CPU
    time, set by a locked cell) is calibrated on that count; deterministic algorithms still vary."""
    runs = calibrate.plan(6, ["cpu"], "spread", threads=1)
    assert {(s.threads, s.deterministic) for _, s in runs} == {(1, False), (1, True)}
    assert all(s.fixed_threads and "1 thread (the notebook's rule)" in s.label for _, s in runs)
    assert len(calibrate.plan(2, ["cpu"], "all", threads=1)) == 2 * 2
    assert calibrate.declared_threads(REPO / "source/class09_project/project.ipynb") == 1
    assert calibrate.declared_threads(REPO / "source/class01_neural_networks/mlp_training.ipynb") is None
    for bad in ("1", 0, True):
        path = tmp_path / "bad.ipynb"
        path.write_text(json.dumps({"cells": [], "metadata": {"graders": {"threads": bad}}}))
        with pytest.raises(ValueError, match="graders.threads must be a positive int"):
            calibrate.declared_threads(path)


def test_calibration_holds_the_thread_count_and_reports_each_run(mini_course, tmp_path):
    """The setup code runs first: 4 threads held against the notebook's own set_num_threads(1), but
    not against the check library's (a budget of one-thread CPU time pins 1 thread for its call)."""
    path = mini_course.root / SMOKE
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.insert(1, nbformat.v4.new_code_cell(
        "import json, os, torch\nfrom graders.checks import expect_at_most\ntorch.set_num_threads(1)\n"
        "from graders.remote.probes import watched_call\n"
        "in_budget_call, _ = watched_call(torch.get_num_threads, [], threads=1)\n"
        "expect_at_most('error', 0.1, 0.5)\n"
        f"json.dump([torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), in_budget_call], "
        f"open({str(tmp_path / 'seen.json')!r}, 'w'))"))
    nbformat.write(nb, str(path))
    run = calibrate.run_once(path, "calibration-0", calibrate.Setting("cpu", 4, True), str(tmp_path / "log.jsonl"))
    assert json.loads((tmp_path / "seen.json").read_text()) == [4, True, 1]
    assert run.full_marks and run.points == 5 and run.metrics == [("error", 0.1), ("quality()", 1.0)]
    report = calibrate.format_calibration([run], margin=0.05)
    assert "at_least 0.9500" in report and "at_most 0.1500" in report      # worst run, with the margin
    assert "full marks in 1/1 runs" in report and "4 threads, deterministic" in report


# ------------------------------------------------------------------ check-library helpers for device-independent checks


def test_exact_float32_pins_and_restores_tf32():
    import torch

    from graders.checks import exact_float32

    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.get_float32_matmul_precision())
    with exact_float32():
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert torch.get_float32_matmul_precision() == "highest"
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
            torch.get_float32_matmul_precision()) == before


def test_planted_accelerator_is_asynchronous_and_survives_pickling():
    import pickle
    import statistics

    from graders.checks import PlantedAccelerator

    acc = PlantedAccelerator([0.5, 0.010, 0.030, 0.020])
    run, timer, sync = (pickle.loads(pickle.dumps(m)) for m in (acc.run, acc.timer, acc.synchronize))
    run()                                    # a warm-up: queued, returns after the launch only
    assert timer() == pytest.approx(1e-6)
    times = []
    for _ in range(3):
        sync()
        start = timer()
        run()
        sync()
        times.append(timer() - start)
    assert statistics.median(times) == pytest.approx(1e-6 + 0.020)
    assert acc.calls == 4                    # the copies share one clock and queue
    with pytest.raises(RuntimeError, match="more than the 4 planted times"):
        run()
