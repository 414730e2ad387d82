"""The file system a bubblewrap sandbox starts from: the host's system folders, Python and
``graders`` read-only, and nothing else of the host (no /home, /root, /var, /run, /srv, /mnt: no
course, no homes, no host sockets).  Shared by the grading sandbox (``local``) and the hub's
per-person confinement (``graders.hub.confine``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: the host's folders every program needs, read-only
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


def graders_package_dir() -> Path:
    import graders

    return Path(graders.__file__).resolve().parent


def is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class Root:
    """bwrap arguments, built in order; ``made`` are the folders that exist in the new root."""

    def __init__(self, bwrap: str = "bwrap", made: tuple[str, ...] = ()):
        self.args: list[str] = [bwrap]  # the new root is an empty tmpfs
        self.made: set[Path] = {Path("/"), *map(Path, made)}
        for top in SYSTEM_FOLDERS:
            path = Path(top)
            if path.is_symlink():  # /bin -> usr/bin on merged-/usr systems
                self.args += ["--symlink", os.readlink(path), top]
            elif path.is_dir():
                self.args += ["--ro-bind", top, top]

    def parents(self, path: Path) -> list[str]:
        """``--dir`` for the missing folders above ``path``: bwrap would make them 0700 (root's),
        which the sandbox's user could not traverse."""
        out = []
        for folder in reversed(path.parents):
            if folder not in self.made and not any(is_within(folder, Path(t)) for t in SYSTEM_FOLDERS):
                self.made.add(folder)
                out += ["--perms", "0755", "--dir", str(folder)]
        return out

    def read_only(self, extra: list[Path] | tuple[Path, ...] = ()) -> None:
        """Python (its prefixes and interpreter), the ``graders`` package and ``extra``, read-only."""
        paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
                 Path(sys.executable).resolve().parent, graders_package_dir(), *(Path(p).resolve() for p in extra)}
        for path in sorted(paths, key=lambda p: len(p.parts)):
            if path.exists() and not any(is_within(path, other) and path != other for other in paths) \
                    and not any(is_within(path, Path(t)) for t in SYSTEM_FOLDERS):
                self.args += self.parents(path) + ["--ro-bind", str(path), str(path)]
