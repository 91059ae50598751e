"""What git says about a work tree: branch, remote, which files are in the index, ignored, changed,
or stored with Git LFS. Read-only: nothing here changes the repository."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

TIMEOUT = 30  # seconds for one git command (a hung credential helper must not hang us)


class GitMissing(Exception):
    """git is not installed (or does not run)."""


class Repo:
    """The git work tree that holds `folder` (`top` is None outside one)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        out = self._git("rev-parse", "--show-toplevel", cwd=self.folder)
        self.top = Path(out.stdout.strip()).resolve() if out is not None and out.returncode == 0 else None

    def _git(self, *args: str, cwd: Path | None = None, input: str | None = None):
        try:
            return subprocess.run(["git", *args], cwd=cwd or self.top, capture_output=True, text=True,
                                  input=input, timeout=TIMEOUT)
        except FileNotFoundError:
            raise GitMissing() from None
        except (OSError, subprocess.SubprocessError):
            return None

    def _lines(self, *args: str, input: str | None = None, ok: tuple[int, ...] = (0,)) -> list[str]:
        out = self._git(*args, input=input)
        return out.stdout.splitlines() if out is not None and out.returncode in ok else []

    def rel(self, path: Path) -> str:
        """`path` relative to the work tree, with `/`: how git names it."""
        return Path(os.path.relpath(Path(path).resolve(), self.top)).as_posix()

    def inside(self, path: Path) -> bool:
        return self.top is not None and Path(path).resolve().is_relative_to(self.top)

    def branch(self) -> str:
        """The current branch (also before the first commit), or "" on a detached HEAD."""
        lines = self._lines("symbolic-ref", "--quiet", "--short", "HEAD")
        return lines[0] if lines else ""

    def remote_url(self, name: str = "origin") -> str:
        lines = self._lines("remote", "get-url", name)
        return lines[0] if lines else ""

    def in_index(self, paths: list[str]) -> set[str]:
        """Those of `paths` that are in the index (committed or staged)."""
        return set(self._lines("ls-files", "--", *paths)) if paths else set()

    def changed(self, paths: list[str]) -> set[str]:
        """Those of `paths` whose file differs from what the index holds (changed since `git add`)."""
        return set(self._lines("diff", "--name-only", "--", *paths)) if paths else set()

    def ignored(self, paths: list[str]) -> set[str]:
        """Those of `paths` that git ignores (and are not in the index)."""
        if not paths:
            return set()
        return set(self._lines("check-ignore", "--stdin", input="\n".join(paths), ok=(0, 1)))

    def lfs(self, paths: list[str]) -> set[str]:
        """Those of `paths` that .gitattributes stores with Git LFS (filter=lfs)."""
        if not paths:
            return set()
        out = set()
        for line in self._lines("check-attr", "filter", "--", *paths):
            path, _, value = line.rpartition(": filter: ")
            if value.strip() == "lfs":
                out.add(path)
        return out

    def lfs_installed(self) -> bool:
        out = self._git("lfs", "version")
        return out is not None and out.returncode == 0
