"""Calibrate metric thresholds: run a reference notebook under many grading secrets, on every
device, on a perturbed machine.

Every ``expect_at_least`` / ``expect_at_most`` logs the metric it sees to $GRADERS_METRICS_LOG.
Over ``seeds`` secrets (different held-out data and hidden seeds), on each device present
(CPU, and CUDA when visible) and under machine perturbations - 1, 2 or 4 threads, and
``torch.use_deterministic_algorithms`` on or off - this prints each metric's spread and a
suggested target: the worst run over all devices and perturbations, minus a margin. It also
reports any run in which the reference lost points: a threshold must hold under all of them.

Perturbations: the thread count is held for the whole run (the notebook's own
``torch.set_num_threads`` is overridden, so the count really changes the reduction order) -
unless the notebook's rules are defined on a thread count (notebook metadata ``graders.threads``,
set by a locked cell: class 9's time budget is one thread's CPU time), which is then held instead;
deterministic algorithms run with ``warn_only`` (an operation without a deterministic kernel
warns instead of failing) and fill uninitialised memory, as torch does in that mode.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

THREADS = (1, 2, 4)


@dataclass(frozen=True)
class Setting:
    """Where and how one calibration run executes."""

    device: str = "cpu"
    threads: Optional[int] = None          # None: as the notebook says
    deterministic: Optional[bool] = None   # None: torch's default (off)
    reseed: int = 0                        # added to every torch.manual_seed (0: none)
    fixed_threads: bool = False            # the count is the notebook's own rule, not a perturbation

    @property
    def label(self) -> str:
        parts = [self.device]
        if self.threads is not None:
            parts.append(f"{self.threads} thread{'s' if self.threads > 1 else ''}"
                         + (" (the notebook's rule)" if self.fixed_threads else ""))
        if self.deterministic is not None:
            parts.append("deterministic" if self.deterministic else "default algorithms")
        if self.reseed:
            parts.append(f"seeds + {self.reseed}")
        return ", ".join(parts)

    def setup(self) -> str:
        """Code run in the kernel before the notebook's first cell."""
        lines = []
        if self.threads is not None or self.deterministic is not None or self.reseed:
            lines.append("import torch as _torch")
        if self.reseed:   # another global random stream, as on another device
            lines += ["_seed = _torch.manual_seed",
                      f"_torch.manual_seed = lambda seed: _seed(int(seed) + {self.reseed})",
                      f"_seed({self.reseed})"]
        if self.threads is not None:
            # calibration holds the notebook's thread count; the check library's own pinning (a
            # budget of one-thread CPU time, `watched_call(threads=1)`) still applies
            lines += [f"_torch.set_num_threads({self.threads})",
                      "import sys as _sys",
                      "_set_threads = _torch.set_num_threads",
                      "_torch.set_num_threads = lambda n: _set_threads(n) if _sys._getframe(1).f_globals.get("
                      "'__name__', '').startswith('graders.') else None"]
        if self.deterministic is not None:
            lines.append(f"_torch.use_deterministic_algorithms({self.deterministic}, warn_only=True)")
        if lines:
            lines.append("del _torch")
        return "\n".join(lines)

    def env(self) -> dict:
        env = {}
        if self.threads is not None:
            env.update(OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
        if self.deterministic:
            env["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"   # deterministic cuBLAS needs a fixed workspace
        return env


PERTURBATIONS = tuple((t, d) for t in THREADS for d in (False, True))


def declared_threads(notebook: Path) -> Optional[int]:
    """The thread count the notebook's rules are defined on (metadata ``graders.threads``), if any.
    A locked cell sets it when grading, so no grading machine runs that notebook on another count:
    calibration holds it rather than perturbing it."""
    with open(notebook, encoding="utf-8") as fh:
        threads = json.load(fh).get("metadata", {}).get("graders", {}).get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"{notebook}: metadata graders.threads must be a positive int, got {threads!r}")
    return threads


def plan(seeds: int, devices: Sequence[str], perturb: str = "spread", reseed: bool = False,
         first_seed: int = 0, threads: Optional[int] = None) -> list[tuple[str, Setting]]:
    """(secret, setting) for every run. ``spread``: seed i runs under perturbation i mod 6 (mod 2
    with ``threads``) on each device, so 6 seeds or more cover every perturbation on every device; ``all``: every
    perturbation for every seed; ``none``: the machine as it is. ``reseed``: run i also adds i
    to every ``torch.manual_seed`` of the notebook (a model's initial weights, dropout masks,
    batch order all change), to find thresholds that hold only for one lucky draw: CUDA draws
    dropout masks and on-device random numbers from a stream of its own. ``threads``: the count the
    notebook's rules fix (:func:`declared_threads`), held in every run instead of 1, 2 or 4."""
    if perturb not in ("spread", "all", "none"):
        raise ValueError(f"perturb must be spread, all or none, got {perturb!r}")
    # a declared count replaces 1, 2 and 4: what is left to perturb is the deterministic switch
    fixed = threads is not None
    perturbations = tuple(dict.fromkeys((threads, d) for _, d in PERTURBATIONS)) if fixed else PERTURBATIONS
    runs = []
    for i in range(first_seed, first_seed + seeds):
        secret = f"calibration-{i}"
        offset = i if reseed else 0
        for device in devices:
            if perturb == "none":
                runs.append((secret, Setting(device, reseed=offset)))
            elif perturb == "all":
                runs += [(secret, Setting(device, t, d, offset, fixed)) for t, d in perturbations]
            else:
                t, d = perturbations[i % len(perturbations)]
                runs.append((secret, Setting(device, t, d, offset, fixed)))
    return runs


@dataclass
class Run:
    secret: str
    setting: Setting
    seconds: float = 0.0
    metrics: list[tuple[str, float]] = field(default_factory=list)
    score: float = 0.0
    points: float = 0.0
    lost: list[str] = field(default_factory=list)   # test cells that lost points: "grade_id score/points"
    error: str = ""
    at_most: list[str] = field(default_factory=list)   # metrics of expect_at_most: lower is better

    @property
    def full_marks(self) -> bool:
        return not self.error and not self.lost


def _first_failure(report: str) -> str:
    """The first failed check of a cell's report ("✘ test_x: name: expected ..., got ...")."""
    failed = [line for line in report.splitlines() if line.startswith(("✘", "◐"))]
    return f" ({failed[0][:240]})" if failed else ""


def run_once(notebook: Path, secret: str, setting: Setting, log_path: str,
             timeout: float = 1200) -> Run:
    from .devices import cell_score, execute, first_exception, is_test_cell, kernel_env

    env = kernel_env(setting.device, secret, {**setting.env(), "GRADERS_METRICS_LOG": log_path})
    nb, seconds, error = execute(notebook, env, timeout, setup=setting.setup())
    cells = [cell_score(c) for c in nb.cells if is_test_cell(c)]
    run = Run(secret, setting, seconds, score=sum(c.score for c in cells), points=sum(c.points for c in cells),
              lost=[f"{c.grade_id} {c.score:g}/{c.points:g}{_first_failure(c.output)}"
                    for c in cells if c.score < c.points - 1e-6],
              error=error or ("" if cells else "no test cells ran"))
    if run.lost and not run.error:
        run.error = first_exception(nb)
    if os.path.exists(log_path):
        with open(log_path) as fh:
            entries = [json.loads(line) for line in fh]
        run.metrics = [(e["name"], e["value"]) for e in entries]
        run.at_most = sorted({e["name"] for e in entries if e.get("higher") is False})
    return run


def calibrate_runs(notebook: Path, seeds: int = 20, devices: Sequence[str] = (), perturb: str = "spread",
                   workers: Optional[int] = None, progress: bool = True, timeout: float = 1200,
                   reseed: bool = False, first_seed: int = 0) -> list[Run]:
    """Every run of the plan (``workers`` kernels at once), in plan order."""
    from tqdm.auto import tqdm

    from .devices import available_devices

    here = available_devices()
    devices = list(devices) or here
    if set(devices) - set(here):
        raise ValueError(f"device {', '.join(sorted(set(devices) - set(here)))} not available here "
                         f"(found: {', '.join(here)})")
    jobs = plan(seeds, devices, perturb, reseed, first_seed, declared_threads(Path(notebook)))
    with tempfile.TemporaryDirectory(prefix="graders-calibrate-") as tmp, \
            ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:   # each job waits on its kernel
        futures = [pool.submit(run_once, Path(notebook), secret, setting, os.path.join(tmp, f"run{i}.jsonl"), timeout)
                   for i, (secret, setting) in enumerate(jobs)]
        return [f.result() for f in tqdm(futures, desc=f"calibrating {Path(notebook).name}", disable=not progress)]


def metrics_of(runs: Sequence[Run]) -> dict[str, list[float]]:
    metrics: dict[str, list[float]] = {}
    for run in runs:
        for name, value in run.metrics:
            metrics.setdefault(name, []).append(value)
    return metrics


def calibrate(notebook: Path, seeds: int = 20, workers: Optional[int] = None, progress: bool = True,
              devices: Sequence[str] = (), perturb: str = "spread") -> dict[str, list[float]]:
    """Each metric's values over every run (see :func:`calibrate_runs`)."""
    return metrics_of(calibrate_runs(notebook, seeds, devices, perturb, workers, progress))


def format_calibration(metrics_or_runs, margin: float = 0.02) -> str:
    """Each metric's spread and the suggested target: the worst run with a margin (the lowest
    value minus ``margin`` for ``expect_at_least``, the highest plus ``margin`` for
    ``expect_at_most``). With runs: the spread per device too, the setting of the worst and best
    runs, and every run that lost points."""
    runs = metrics_or_runs if isinstance(metrics_or_runs, list) else None
    metrics = metrics_of(runs) if runs is not None else metrics_or_runs
    at_most = {name for r in runs for name in r.at_most} if runs is not None else set()
    if not metrics:
        lines = ["no metrics logged: the notebook's checks call no expect_at_least/expect_at_most"]
    else:
        lines = [f"{'metric':<50} {'n':>3} {'min':>8} {'mean':>8} {'max':>8}  "
                 f"suggested target (at_least: min - {margin:g}, at_most: max + {margin:g})"]
        for name, values in sorted(metrics.items()):
            target = (f"at_most {max(values) + margin:.4f}" if name in at_most
                      else f"at_least {min(values) - margin:.4f}")
            lines.append(f"{name[:50]:<50} {len(values):>3} {min(values):8.4f} {statistics.mean(values):8.4f} "
                         f"{max(values):8.4f}  {target}")
            if runs is None:
                continue
            seen = [(value, run) for run in runs for n, value in run.metrics if n == name]
            for device in dict.fromkeys(r.setting.device for r in runs):
                mine = [v for v, r in seen if r.setting.device == device]
                if mine:
                    lines.append(f"  {device:<48} {len(mine):>3} {min(mine):8.4f} {statistics.mean(mine):8.4f} "
                                 f"{max(mine):8.4f}")
            low, low_run = min(seen, key=lambda p: p[0])
            high, high_run = max(seen, key=lambda p: p[0])
            lines.append(f"  lowest {low:.4f}: {low_run.secret}, {low_run.setting.label}; "
                         f"highest {high:.4f}: {high_run.secret}, {high_run.setting.label}")
    if runs is not None:
        full = sum(r.full_marks for r in runs)
        lines.append("")
        lines.append(f"reference: full marks in {full}/{len(runs)} runs; "
                     f"{min(r.seconds for r in runs):.1f}-{max(r.seconds for r in runs):.1f} s a run")
        for r in runs:
            if not r.full_marks:
                lines.append(f"  ✘ {r.secret}, {r.setting.label}: {r.score:g}/{r.points:g} "
                             f"{'; '.join(r.lost)}{' - ' + r.error if r.error else ''}")
    return "\n".join(lines)


def main(notebook: Path, seeds: int = 20, devices: Sequence[str] = (), perturb: str = "spread",
         workers: Optional[int] = None, margin: float = 0.02, progress: bool = True,
         reseed: bool = False, first_seed: int = 0) -> int:
    """The command: the report; exit 1 when the reference lost points in some run."""
    if not Path(notebook).is_file():
        raise FileNotFoundError(f"no notebook {notebook}: give a path such as source/<assignment>/<notebook>.ipynb")
    runs = calibrate_runs(Path(notebook), seeds, devices, perturb, workers, progress,
                          reseed=reseed, first_seed=first_seed)
    print(format_calibration(runs, margin))
    return 0 if all(r.full_marks for r in runs) else 1
