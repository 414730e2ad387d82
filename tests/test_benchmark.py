"""The bench's arithmetic: what counts as time inside cells, and the ratios it prints."""

from __future__ import annotations

import nbformat

from graders.grading.benchmark import Case, in_cell_seconds


def _timed(source: str, begin: str, end: str):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["execution"] = {"iopub.execute_input": begin, "shell.execute_reply": end}
    return cell


def test_in_cell_time_is_student_cells_as_the_kernel_timed_them_plus_the_checks(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# not code"),
        _timed("import torch", "2026-12-05T01:00:00.000000Z", "2026-12-05T01:00:01.500000Z"),   # 1.5 s
        _timed("x = 1", "2026-12-05T01:00:02.000000Z", "2026-12-05T01:00:02.250000Z"),          # 0.25 s
        nbformat.v4.new_code_cell("never ran"),                                                 # no timing: 0
    ]
    checks = nbformat.v4.new_code_cell("def test_x(): ...")
    # a tests cell graded in the checker: its checks' own seconds, not the kernel's timing of the cell
    checks.metadata["graders"] = {"checks": [{"seconds": 0.4}, {"seconds": 0.1}]}
    checks.metadata["execution"] = {"iopub.execute_input": "2026-12-05T01:00:03Z",
                                    "shell.execute_reply": "2026-12-05T01:00:13Z"}
    nb.cells.append(checks)
    nb.metadata["graders"] = {"timing": {"kernel_start": 3.0}}  # outside cells: never counted
    path = tmp_path / "graded.ipynb"
    nbformat.write(nb, str(path))
    assert abs(in_cell_seconds(path) - 2.25) < 1e-9


def test_case_reports_speedup_and_both_efficiencies():
    case = Case("one assignment", submissions=24, notebooks=24, workers=2, serial_s=100.0, ours_s=25.0,
                in_cell_s=15.0, stock_in_cell_s=60.0, differences={("s1", "a", "nb", "c"): (1.0, 0.0)})
    assert case.speedup == 4.0
    assert case.limit_s(15.0) == 7.5 and case.efficiency(15.0) == 0.3
    assert case.efficiency(60.0) == 1.2
    text = case.format()
    assert "4.00x serial stock nbgrader" in text
    assert "stock kernels    60.0 s / 2 cores =   30.0 s   efficiency 1.20" in text
    assert "15.0 s / 2 cores =    7.5 s   efficiency 0.30" in text
    assert "s1/a/nb/c: nbgrader 1.0, ours 0.0" in text
