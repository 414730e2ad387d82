"""What a hub serves: its courses, who teaches and takes each, and where its state lives.

One roster file describes the courses for every tier (embedded, Docker, Kubernetes)::

    courses:
      - root: /srv/courses/dl-pytorch     # the course folder: nbgrader_config.py, source/
        instructors: [instructor]
        tas: [ta]
        students: [alice, bob]

The course id is the course's own (``c.CourseDirectory.course_id`` in its nbgrader_config.py):
it names the formgrader service (``/services/<course_id>/``) and nbgrader's groups.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

ROSTER_ENV = "GRADERS_HUB_ROSTER"
STATE_ENV = "GRADERS_HUB_STATE"
FIRST_SERVICE_PORT = 10101             # the first course's formgrader; the next courses take the next ports
EXCHANGE_PORT = 10100                  # the exchange service (graders.hub.exchange)


@dataclass(frozen=True)
class CourseTeam:
    """One course and its people. Group names follow nbgrader's conventions."""

    course_id: str
    root: Path
    instructors: tuple[str, ...] = ()
    tas: tuple[str, ...] = ()
    students: tuple[str, ...] = ()
    service_port: int = FIRST_SERVICE_PORT

    @property
    def formgrade_group(self) -> str:       # nbgrader: may open the course's formgrader
        return f"formgrade-{self.course_id}"

    @property
    def student_group(self) -> str:         # nbgrader: may fetch and submit the course's work
        return f"nbgrader-{self.course_id}"

    @property
    def instructor_group(self) -> str:      # ours: full powers in the formgrader
        return f"instructors-{self.course_id}"

    @property
    def ta_group(self) -> str:              # ours: grading only (graders.hub.ta_guard)
        return f"tas-{self.course_id}"

    @property
    def people(self) -> set[str]:
        return {*self.instructors, *self.tas, *self.students}


@dataclass(frozen=True)
class HubSettings:
    courses: tuple[CourseTeam, ...]
    state_dir: Path                          # hub database, cookie secret, exchange, user homes (local tier)
    exchange_port: int = EXCHANGE_PORT
    bind_url: str = "http://:8000"
    idle_timeout_s: int = 3600               # CPU servers: stopped after an hour without activity
    gpu_idle_timeout_s: int = 1200           # GPU servers shut themselves down sooner: cards are scarce

    @property
    def users(self) -> set[str]:
        return set().union(*(course.people for course in self.courses))

    def course(self, course_id: str) -> CourseTeam:
        for course in self.courses:
            if course.course_id == course_id:
                return course
        raise KeyError(f"no course {course_id!r} in the roster (has: {[c.course_id for c in self.courses]})")


def course_id_of(root: Path) -> str:
    """The course id set in the course folder's nbgrader_config.py."""
    from ..grading.course import Course

    course_id = Course(root).config.CourseDirectory.get("course_id")
    if not course_id:
        raise ValueError(f"{root}/nbgrader_config.py sets no c.CourseDirectory.course_id: the hub names the "
                         "course's formgrader and groups after it, so set one")
    return course_id


def read_roster(path: Path, first_service_port: int = FIRST_SERVICE_PORT) -> tuple[CourseTeam, ...]:
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    if not data.get("courses"):
        raise ValueError(f"{path}: no courses; expected `courses: [{{root: ..., instructors: [...], "
                         "tas: [...], students: [...]}}]`")
    courses = []
    for index, entry in enumerate(data["courses"]):
        root = Path(entry["root"])
        if not (root / "nbgrader_config.py").is_file():
            raise FileNotFoundError(f"{path}: course {index}: {root} has no nbgrader_config.py; "
                                    "root must be the course folder")
        courses.append(CourseTeam(
            course_id=entry.get("course_id") or course_id_of(root), root=root,
            instructors=tuple(entry.get("instructors", ())), tas=tuple(entry.get("tas", ())),
            students=tuple(entry.get("students", ())), service_port=first_service_port + index))
    ids = [c.course_id for c in courses]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: two courses share a course id ({ids})")
    return tuple(courses)


def write_roster(path: Path, courses: list[dict]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"courses": courses}, sort_keys=False))
    return path


def settings_from_env(env: Mapping[str, str] | None = None) -> HubSettings:
    """Settings from the environment: $GRADERS_HUB_ROSTER (required), $GRADERS_HUB_STATE,
    $GRADERS_HUB_EXCHANGE_PORT, $GRADERS_HUB_BIND_URL, $GRADERS_HUB_IDLE_TIMEOUT, $GRADERS_HUB_GPU_IDLE_TIMEOUT,
    $GRADERS_HUB_SERVICE_PORT (the first course's formgrader; the next courses take the next ports)."""
    env = os.environ if env is None else env
    if not env.get(ROSTER_ENV):
        raise KeyError(f"${ROSTER_ENV} is not set: point it at the roster file (courses, instructors, TAs, "
                       "students; see graders/hub/settings.py)")
    return HubSettings(
        courses=read_roster(Path(env[ROSTER_ENV]), int(env.get("GRADERS_HUB_SERVICE_PORT", FIRST_SERVICE_PORT))),
        state_dir=Path(env.get(STATE_ENV, "/srv/jupyterhub")),
        exchange_port=int(env.get("GRADERS_HUB_EXCHANGE_PORT", EXCHANGE_PORT)),
        bind_url=env.get("GRADERS_HUB_BIND_URL", "http://:8000"),
        idle_timeout_s=int(env.get("GRADERS_HUB_IDLE_TIMEOUT", 3600)),
        gpu_idle_timeout_s=int(env.get("GRADERS_HUB_GPU_IDLE_TIMEOUT", 1200)),
    )
