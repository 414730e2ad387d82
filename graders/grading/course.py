"""The course folder: nbgrader's configuration, its API, and what the folders hold."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator

CONFIG_FILE = "nbgrader_config.py"


def _prepare_nbgrader() -> None:
    """nbgrader runs the ``alembic`` command on every gradebook it opens.

    Put this interpreter's scripts folder on PATH (a venv used without activation), and ask
    alembic once per process: the schema heads are a constant of the installed nbgrader.
    """
    import functools
    import sys

    import nbgrader.api

    scripts = os.path.dirname(sys.executable)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")
    if not hasattr(nbgrader.api.get_alembic_version, "cache_info"):
        nbgrader.api.get_alembic_version = functools.cache(nbgrader.api.get_alembic_version)


def find_course_root(start: str | os.PathLike | None = None) -> Path:
    """The nearest folder upwards from ``start`` (default: $GRADERS_COURSE_ROOT, else the
    current folder) holding nbgrader_config.py and source/."""
    if start is None and os.environ.get("GRADERS_COURSE_ROOT"):
        return Path(os.environ["GRADERS_COURSE_ROOT"]).resolve()
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file() and (folder / "source").is_dir():
            return folder
    raise FileNotFoundError(
        f"no course found from {here}: run this inside the course folder (the one holding "
        f"{CONFIG_FILE} and source/), or set GRADERS_COURSE_ROOT")


@dataclass
class Course:
    root: Path

    @classmethod
    def find(cls, start=None) -> "Course":
        return cls(find_course_root(start))

    @cached_property
    def config(self):
        from traitlets.config.loader import PyFileConfigLoader

        config = PyFileConfigLoader(CONFIG_FILE, path=str(self.root)).load_config()
        config.CourseDirectory.root = str(self.root)  # the copy in a temp folder grades there
        return config

    @cached_property
    def api(self):
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        _prepare_nbgrader()

        coursedir = CourseDirectory(config=self.config)
        return NbGraderAPI(coursedir=coursedir, config=self.config)

    @property
    def db_url(self) -> str:
        return self.api.coursedir.db_url

    def folder(self, kind: str) -> Path:
        return self.root / getattr(self.api.coursedir, f"{kind}_directory")

    def assignments(self) -> list[str]:
        return sorted(p.name for p in (self.root / "source").iterdir()
                      if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.ipynb")))

    def notebooks(self, assignment: str, kind: str = "source") -> list[Path]:
        return sorted((self.folder(kind) / assignment).glob("*.ipynb"))

    def submission_dir(self, student: str, assignment: str) -> Path:
        return self.folder("submitted") / student / assignment


@contextmanager
def scratch_copy(course: Course, secret: str, assignments: list[str] | None = None,
                 notebooks: list[str] | None = None) -> Iterator[Course]:
    """A throwaway copy of the course (config, source, wrong answers) in a temporary folder.

    It grades with its own SQLite gradebook and the given secret; the environment is
    restored on exit.  ``notebooks`` keeps only those notebooks of the copied assignments.
    """
    from unittest import mock

    with tempfile.TemporaryDirectory(prefix="graders-scratch-") as tmp, \
            mock.patch.dict(os.environ, {"GRADERS_SECRET": secret}):
        os.environ.pop("GRADERS_DB_URL", None)
        root = Path(tmp)
        shutil.copy(course.root / CONFIG_FILE, root / CONFIG_FILE)
        for name in assignments or course.assignments():
            shutil.copytree(course.root / "source" / name, root / "source" / name)
        if notebooks:
            wanted = {Path(n).with_suffix(".ipynb").name for n in notebooks}
            for nb in (root / "source").glob("*/*.ipynb"):
                if nb.name not in wanted:
                    nb.unlink()
        if (course.root / "tests" / "wrong_answers").is_dir():
            shutil.copytree(course.root / "tests" / "wrong_answers", root / "tests" / "wrong_answers")
        yield Course(root)
