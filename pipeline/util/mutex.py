"""A mutex between processes: an exclusive flock on a file, released by the OS when the holder
dies (even by kill -9), so a crash never leaves a cell or a file claimed forever."""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Iterator

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


@contextlib.contextmanager
def locked_file(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive flock on the file at `path` itself, for a read-modify-write by processes
    that replace it by rename (`add` and the manifest). A writer may replace the file while we
    wait, so once the lock is ours, `path` must still name the locked file; else lock the new one.
    No lock file is left beside it. `what` names the waiter in the message shown while waiting."""
    announced = False
    for _ in range(1000):  # each round means another writer replaced the file meanwhile
        fd = os.open(path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not announced:
                    log.warning("%s is being written by another process; %s waits for it...", path, what)
                    announced = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            held, now = os.fstat(fd), os.stat(path)
        except BaseException:
            os.close(fd)
            raise
        if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
            break
        os.close(fd)
    else:
        raise OSError(f"{path} was replaced 1000 times while waiting to lock it")
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
