"""release/ is exactly what nbgrader generates from source/ (a stale release fails)."""

from __future__ import annotations

import shutil
from pathlib import Path

from graders.grading.course import CONFIG_FILE, Course
from graders.grading.release import generate_release

REPO = Path(__file__).resolve().parents[1]


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_release_is_up_to_date(tmp_path):
    shutil.copy(REPO / CONFIG_FILE, tmp_path / CONFIG_FILE)
    shutil.copytree(REPO / "source", tmp_path / "source")
    generate_release(Course(tmp_path))
    fresh, committed = _files(tmp_path / "release"), _files(REPO / "release")
    assert sorted(fresh) == sorted(committed), (
        f"release/ files differ from a fresh generation: expected {sorted(fresh)}, got {sorted(committed)}; "
        "run `graders release` and commit release/")
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale release files (run `graders release` and commit release/): {stale}"
