"""release/ from source/, through nbgrader's generate_assignment."""

from __future__ import annotations

from .course import Course


class GradingError(RuntimeError):
    """An nbgrader step failed; the message carries nbgrader's log."""


def generate_release(course: Course, assignments: list[str] | None = None) -> list[str]:
    """Regenerate release/<assignment>/ for each assignment (all by default)."""
    names = assignments or course.assignments()
    for name in names:
        result = course.api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            raise GradingError(f"nbgrader generate_assignment {name} failed:\n{result.get('log', '')}\n{result.get('error', '')}")
    return names
