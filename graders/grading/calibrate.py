"""Calibrate metric thresholds: run a reference notebook under many grading secrets.

Every ``expect_at_least`` / ``expect_at_most`` logs the metric it sees to
$GRADERS_METRICS_LOG; over ``seeds`` secrets (different held-out data and hidden seeds)
this prints each metric's spread and a suggested target: the worst seed minus a margin.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def _run_once(notebook: str, secret: str, log_path: str) -> float:
    import time

    import nbformat
    from nbclient import NotebookClient

    os.environ["GRADERS_SECRET"] = secret
    os.environ["GRADERS_METRICS_LOG"] = log_path
    nb = nbformat.read(notebook, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(Path(notebook).parent)}}).execute()
    return time.perf_counter() - start


def calibrate(notebook: Path, seeds: int = 20, workers: int | None = None,
              progress: bool = True) -> dict[str, list[float]]:
    from tqdm.auto import tqdm

    with tempfile.TemporaryDirectory(prefix="graders-calibrate-") as tmp:
        logs = [os.path.join(tmp, f"seed{i}.jsonl") for i in range(seeds)]
        with ProcessPoolExecutor(workers or os.cpu_count()) as pool:
            futures = [pool.submit(_run_once, str(notebook), f"calibration-{i}", logs[i]) for i in range(seeds)]
            for f in tqdm(futures, desc=f"calibrating {notebook.name}", disable=not progress):
                f.result()
        metrics: dict[str, list[float]] = {}
        for log in logs:
            if os.path.exists(log):
                for line in open(log):
                    entry = json.loads(line)
                    metrics.setdefault(entry["name"], []).append(entry["value"])
    return metrics


def format_calibration(metrics: dict[str, list[float]], margin: float = 0.02) -> str:
    if not metrics:
        return "no metrics logged: the notebook's checks call no expect_at_least/expect_at_most"
    lines = [f"{'metric':<50} {'n':>3} {'min':>8} {'mean':>8} {'max':>8}  suggested target (min - {margin:g})"]
    for name, values in sorted(metrics.items()):
        lines.append(f"{name[:50]:<50} {len(values):>3} {min(values):8.4f} {statistics.mean(values):8.4f} "
                     f"{max(values):8.4f}  {min(values) - margin:.4f}")
    return "\n".join(lines)
