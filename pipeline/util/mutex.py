"""A mutex between processes: an exclusive flock on a file, released by the OS when the holder
dies (even by kill -9), so a crash never leaves a cell or a file claimed forever."""
from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class Mutex:
    """An exclusive flock on a file: the OS releases it when the process dies, even by kill -9."""

    def __init__(self, path: Path, what: str = "", announce: bool = True):
        self.path = Path(path)
        self.what = what
        self.announce = announce  # False for locks held for milliseconds: waiting is no news
        self._fd: int | None = None

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; when another process holds it, say so and wait (or return False)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not blocking:
                os.close(fd)
                return False
            what = f" ({self.what})" if self.what else ""
            if self.announce:
                log.warning("another process holds %s%s; waiting...", self.path, what)
            fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Mutex":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
