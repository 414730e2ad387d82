"""Look at a submission before grading it: what nbgrader would silently fix, miss or follow.

* a notebook renamed by the student (``smoke-Copy1.ipynb``) is graded under its released
  name when that is unambiguous (same answer cells), and said so;
* a missing notebook is reported (it scores 0: nothing was submitted);
* symbolic links are removed before nbgrader copies the submission (a link to the
  gradebook or to another student's work would otherwise be copied in as a file);
* edited locked cells, changed points and deleted test cells are reported (nbgrader
  restores the first two from the gradebook; a deleted test cell scores 0);
* forged cell metadata is undone before nbgrader reads it, naming the cell: a cell claiming a
  grade_id the assignment does not have (a "bonus" cell with points of its own), a second cell
  with an existing grade_id (only the first counts, as in nbgrader), a graded, locked or solution
  flag changed.  The notebook as submitted is kept beside it (``.<name>.as-submitted``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .variants import grade_id


@dataclass
class Inspection:
    notes: list[str] = field(default_factory=list)     # fixed or worth knowing
    suspicious: list[str] = field(default_factory=list)  # edited tests, points: flag for a person


def _cells(nb) -> dict[str, nbformat.NotebookNode]:
    return {grade_id(c): c for c in nb.cells if grade_id(c)}


def _read(path: Path):
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001 - corrupt files are nbgrader's to report
        return None


FLAGS = ("grade", "solution", "locked")


def _undo_forged_metadata(nb, original: dict, name: str) -> list[str]:
    """Strip or restore nbgrader metadata the assignment did not give; what was done, per cell."""
    said, seen = [], set()
    for index, cell in enumerate(nb.cells, start=1):
        meta = cell.get("metadata", {}).get("nbgrader")
        if not meta:
            continue
        gid = meta.get("grade_id")
        if gid not in original:
            if gid or any(meta.get(f) for f in FLAGS):
                worth = f" worth {meta.get('points')} points" if meta.get("grade") and meta.get("points") else ""
                said.append(f"{name}: cell {index} claims to be {'graded ' if meta.get('grade') else ''}cell "
                            f"{gid!r}{worth}, which the assignment does not have (ignored)")
            del cell.metadata["nbgrader"]
            continue
        if gid in seen:
            said.append(f"{name}: cell {index} repeats cell {gid!r} (only the first one counts)")
            del cell.metadata["nbgrader"]
            continue
        seen.add(gid)
        expected = original[gid].metadata.get("nbgrader", {})
        changed = [f for f in FLAGS if bool(meta.get(f)) != bool(expected.get(f))]
        if changed:
            said.append(f"{name}: changed the {'/'.join(changed)} flag of cell {gid} (restored)")
            for f in FLAGS:
                meta[f] = bool(expected.get(f))
    return said


def inspect_submission(submission: Path, release: Path) -> Inspection:
    result = Inspection()
    for path in sorted(submission.rglob("*")):
        if path.is_symlink():
            target = os.readlink(path)
            path.unlink()
            result.suspicious.append(f"removed symbolic link {path.relative_to(submission)} -> {target}")
    released = {p.name: p for p in release.glob("*.ipynb")}
    submitted = {p.name: p for p in submission.glob("*.ipynb")}
    extra = sorted(set(submitted) - set(released))
    if not submitted:
        result.notes.append(f"no notebook submitted (expected {', '.join(sorted(released))})")
        return result
    for name in sorted(set(released) - set(submitted)):
        ids = set(_cells(_read(released[name])))
        matches = [e for e in extra if (nb := _read(submitted[e])) is not None and ids and ids <= set(_cells(nb))]
        if len(matches) == 1:
            submitted[matches[0]].rename(submission / name)
            extra.remove(matches[0])
            submitted[name] = submission / name
            result.notes.append(f"graded {matches[0]} as {name} (renamed)")
        else:
            result.notes.append(f"missing notebook {name} (scored 0)")
    if extra:
        result.notes.append(f"ignored notebooks not in the assignment: {', '.join(extra)}")
    for name, path in sorted(submitted.items()):
        if name not in released:
            continue
        theirs, ours = _read(path), _read(released[name])
        if theirs is None or ours is None:
            continue
        forged = _undo_forged_metadata(theirs, _cells(ours), name)
        if forged:
            result.suspicious += forged
            shutil.copy2(path, path.with_name(f".{name}.as-submitted"))
            nbformat.write(theirs, str(path))
        mine, original = _cells(theirs), _cells(ours)
        for gid, cell in original.items():
            meta = cell.metadata.get("nbgrader", {})
            if gid not in mine:
                if meta.get("grade") or meta.get("locked"):
                    result.suspicious.append(f"{name}: deleted cell {gid}")
                continue
            theirs_meta = mine[gid].metadata.get("nbgrader", {})
            if meta.get("locked") and mine[gid].source != cell.source:
                result.suspicious.append(f"{name}: edited locked cell {gid} (restored)")
            if "points" in meta and theirs_meta.get("points") != meta["points"]:
                result.suspicious.append(f"{name}: changed the points of {gid} (restored)")
    return result
