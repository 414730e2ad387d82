"""``graders check-devices``: every reference notebook, with its hidden checks, on every device here.

A reference must earn full marks wherever it is graded. This runs each source notebook (the
instructor's solution and hidden tests) in a fresh kernel per device - the CPU with CUDA hidden,
and CUDA when visible - with the notebook's folder as working directory and a fixed grading
secret, reads each test cell's score as nbgrader would, and prints the scores side by side.

It needs no course state: no nbgrader, gradebook, sandbox or database - only Python, torch,
numpy, scikit-learn, matplotlib, pytest, nbclient and ipykernel - so it runs on a bare GPU
machine lent for an hour (``python -m graders check-devices`` from the repository).
References are instructor code: they run unconfined.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

from ..data import DEVICE_ENV

#: The grading secret of a device check: fixed, so two machines see the same held-out data.
DEFAULT_SECRET = "check-devices"
#: Seconds a whole notebook may take (the grader's own notebook budget).
DEFAULT_TIMEOUT_S = 1200


@dataclass
class CellScore:
    grade_id: str
    points: float
    score: float
    output: str = ""  # the checks' printed report (what failed, expected vs got)


@dataclass
class NotebookRun:
    notebook: str          # assignment/notebook.ipynb
    device: str
    seconds: float
    cells: list[CellScore] = field(default_factory=list)
    error: str = ""        # why the notebook could not run to the end (a kernel death, a timeout)
    exception: str = ""    # the first exception a code cell raised, if any

    @property
    def points(self) -> float:
        return sum(c.points for c in self.cells)

    @property
    def score(self) -> float:
        return sum(c.score for c in self.cells)

    @property
    def full_marks(self) -> bool:
        return not self.error and bool(self.cells) and all(c.score >= c.points - 1e-6 for c in self.cells)

    def lost(self) -> list[CellScore]:
        return [c for c in self.cells if c.score < c.points - 1e-6]


# ------------------------------------------------------------------ what to run, and where


def repository_root() -> Path:
    """The folder holding ``graders/`` and ``source/`` (the kernels import graders from it)."""
    return Path(__file__).resolve().parents[2]


def find_source(start: Optional[Path] = None) -> Path:
    """``source/`` of the course around ``start`` (default: the current folder, then the repository)."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents, repository_root()):
        if (folder / "source").is_dir() and any((folder / "source").glob("*/*.ipynb")):
            return folder / "source"
    raise FileNotFoundError(f"no source/ with notebooks found from {here}: run this in the course folder")


def select_notebooks(source: Path, names: Sequence[str] = ()) -> list[Path]:
    """Every ``source/<assignment>/<notebook>.ipynb``, or those named: an assignment, a
    notebook (``assignment/notebook``) or a path to a notebook."""
    every = sorted(source.glob("*/*.ipynb"))
    if not names:
        return every
    chosen: list[Path] = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.is_file():
            found = [path.resolve()]
        else:
            key = name.removesuffix(".ipynb").strip("/")
            found = [p for p in every if key in (p.parent.name, f"{p.parent.name}/{p.stem}")]
        if not found:
            raise FileNotFoundError(f"no notebook {name!r} in {source}: name an assignment "
                                    "(class05_visualization), a notebook (class05_visualization/saliency_gradcam) "
                                    "or a .ipynb path")
        chosen += [p for p in found if p not in chosen]
    return chosen


def available_devices() -> list[str]:
    """``cpu``, and ``cuda`` when this machine has a visible CUDA device."""
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def kernel_env(device: str, secret: str, extra: Optional[dict] = None) -> dict:
    """The environment of a reference's kernel on ``device``: the device forced, the secret
    fixed, CUDA hidden on CPU runs (so nothing can touch a GPU by accident), and this
    repository's ``graders`` importable."""
    env = dict(os.environ)
    env["GRADERS_SECRET"] = secret
    env[DEVICE_ENV] = device
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repository_root()), env.get("PYTHONPATH", "")) if p)
    env.setdefault("MPLBACKEND", "agg")
    env.pop("GRADERS_METRICS_LOG", None)
    env.update(extra or {})
    return env


# ------------------------------------------------------------------ running and scoring


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return f"{output.get('ename')}: {output.get('evalue')}"
    return output.get("data", {}).get("text/plain", "")


def cell_score(cell) -> CellScore:
    """A test cell's score by nbgrader's rule: 0 on an error or any stderr output, the value
    the cell returns (``run_tests``) as partial credit, else full points."""
    meta = cell.metadata.nbgrader
    points = float(meta["points"])
    if cell.get("execution_count") is None:   # never ran (the kernel died or timed out before it)
        return CellScore(meta.get("grade_id", "?"), points, 0.0, "✘ not run")
    text = "".join(_text(o) for o in cell.get("outputs", []))
    score = points
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "error" or (kind == "stream" and output.get("name") == "stderr"):
            score = 0.0
            break
        if kind == "execute_result":
            try:
                score = min(points, max(0.0, float(output["data"]["text/plain"])))
            except (KeyError, ValueError):
                pass
            break
    return CellScore(meta.get("grade_id", "?"), points, score, text.strip())


def is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def execute(notebook: Path, env: dict, timeout: float = DEFAULT_TIMEOUT_S, setup: str = ""):
    """Run ``notebook`` in a fresh kernel with ``env``, its folder as working directory;
    returns (executed notebook, seconds, error). ``setup`` runs first, as a cell of its own
    (removed from the result)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.read(str(notebook), as_version=4)
    if setup:
        nb.cells.insert(0, nbformat.v4.new_code_cell(setup))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(notebook.parent)}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])   # not its TCP warning
    error = ""
    start = time.perf_counter()
    try:
        client.execute(env=env)
    except CellTimeoutError:
        error = f"a cell ran past {timeout:g} s"
    except DeadKernelError as exc:
        error = f"the kernel died: {exc}"
    except Exception as exc:  # noqa: BLE001 - a kernel that cannot start is reported, not raised
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    if setup:
        setup_cell = nb.cells.pop(0)
        failed = [o for o in setup_cell.get("outputs", []) if o.get("output_type") == "error"]
        if failed and not error:
            error = f"the setup cell failed: {_text(failed[0])}"
    return nb, seconds, error


def first_exception(nb) -> str:
    """The first exception a code cell other than a test cell raised (a missing package, a CUDA
    error ...): why a reference lost points, when its checks only see the consequence."""
    for cell in nb.cells:
        if cell.cell_type == "code" and not is_test_cell(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    return _text(output)
    return ""


def run_reference(notebook: Path, device: str, secret: str = DEFAULT_SECRET,
                  timeout: float = DEFAULT_TIMEOUT_S, extra_env: Optional[dict] = None) -> NotebookRun:
    nb, seconds, error = execute(notebook, kernel_env(device, secret, extra_env), timeout)
    cells = [cell_score(c) for c in nb.cells if is_test_cell(c)]
    return NotebookRun(f"{notebook.parent.name}/{notebook.name}", device, seconds, cells, error,
                       first_exception(nb))


def check_devices(notebooks: Iterable[Path], devices: Sequence[str], secret: str = DEFAULT_SECRET,
                  workers: int = 1, timeout: float = DEFAULT_TIMEOUT_S, progress=None) -> list[NotebookRun]:
    """Every notebook on every device (``workers`` kernels at once); in notebook, device order."""
    jobs = [(nb, dev) for nb in notebooks for dev in devices]
    with ThreadPoolExecutor(max(1, workers)) as pool:   # each job waits on its own kernel process
        futures = [pool.submit(run_reference, nb, dev, secret, timeout) for nb, dev in jobs]
        runs = []
        for future in futures:
            runs.append(future.result())
            if progress:
                progress(runs[-1])
    return runs


# ------------------------------------------------------------------ the table


def format_table(runs: Sequence[NotebookRun], devices: Sequence[str], details: bool = True) -> str:
    """One row per notebook: time and score/points per device, side by side; a total; then what
    each reference lost and where."""
    by_key = {(r.notebook, r.device): r for r in runs}
    notebooks = list(dict.fromkeys(r.notebook for r in runs))
    width = max([len("notebook")] + [len(n) for n in notebooks]) + 2
    head = f"{'notebook':<{width}}" + "".join(f"{d + ' time':>12}{d + ' score':>16}" for d in devices)
    lines = [head, "-" * len(head)]
    for name in notebooks:
        row = f"{name:<{width}}"
        for d in devices:
            r = by_key.get((name, d))
            if r is None:
                row += f"{'':>12}{'':>16}"
                continue
            mark = "" if r.full_marks else (" ✘" if not r.error else " !")
            row += f"{r.seconds:>11.1f}s{f'{r.score:g}/{r.points:g}{mark}':>16}"
        lines.append(row)
    lines.append("-" * len(head))
    total, full = f"{'total':<{width}}", []
    for d in devices:
        mine = [r for r in runs if r.device == d]
        total += f"{sum(r.seconds for r in mine):>11.1f}s{f'{sum(r.score for r in mine):g}/{sum(r.points for r in mine):g}':>16}"
        full.append(f"{d} {sum(r.full_marks for r in mine)}/{len(mine)}")
    lines += [total, f"{'full marks':<{width}}" + ", ".join(full)]
    if details:
        for r in runs:
            if r.full_marks:
                continue
            lines.append("")
            lines.append(f"✘ {r.notebook} on {r.device}: {r.score:g}/{r.points:g}"
                         + (f" - {r.error}" if r.error else ""))
            if r.exception:
                lines.append(f"  first exception in a code cell: {r.exception[:300]}")
            for cell in r.lost():
                lines.append(f"  {cell.grade_id}: {cell.score:g}/{cell.points:g}")
                failing = [ln for ln in cell.output.splitlines() if ln.startswith(("✘", "◐")) or "Error" in ln]
                lines += [f"    {ln[:300]}" for ln in failing[:6]]
    return "\n".join(lines)


def main(names: Sequence[str] = (), devices: Sequence[str] = (), secret: str = DEFAULT_SECRET,
         workers: Optional[int] = None, timeout: float = DEFAULT_TIMEOUT_S, source: Optional[Path] = None,
         quiet: bool = False) -> int:
    """The command: prints the table; 0 when every reference earns full marks on every device."""
    here = available_devices()
    devices = list(devices) or here
    missing = [d for d in devices if d.split(":")[0] not in {h.split(":")[0] for h in here}]
    if missing:
        raise ValueError(f"device {', '.join(missing)} not available here (found: {', '.join(here)})")
    notebooks = select_notebooks(source or find_source(), names)
    workers = workers or max(1, min(4, (os.cpu_count() or 2) // 2))

    def progress(run: NotebookRun) -> None:
        if not quiet:
            print(f"  {run.notebook} on {run.device}: {run.score:g}/{run.points:g} in {run.seconds:.1f} s"
                  + (f" ({run.error})" if run.error else ""), file=sys.stderr, flush=True)

    if not quiet:
        print(f"running {len(notebooks)} reference notebook(s) on {', '.join(devices)} "
              f"(secret {secret!r}, {workers} at a time) ...", file=sys.stderr, flush=True)
    runs = check_devices(notebooks, devices, secret=secret, workers=workers, timeout=timeout, progress=progress)
    print(format_table(runs, devices))
    lost = [r for r in runs if not r.full_marks]
    print(f"\n{'every reference earns full marks on every device' if not lost else f'{len(lost)} reference run(s) lost points'}")
    return 1 if lost else 0
