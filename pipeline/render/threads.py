"""How many renders run at once on this machine, so a `make -jN` worker left alone takes the idle cores.

Under `make -jN` each worker starts with cores // N threads. When fewer cells than N are left,
the workers still running would leave the other cores idle: the demo's 9 cells under `make -j2`
would end with one 512 px render on one of the two cores for its whole length, making `-j2`
slower than a plain `make` (measured: docs/performance.md). Each rendering worker holds an flock on its own file
(a worker slot) in the cache's mutex folder; between iterations a worker counts the held slots and uses
cores // count threads. The OS drops a dead worker's flock, so a crashed worker never holds cores.
"""
from __future__ import annotations

import fcntl
import logging
import os
import re
import socket
from pathlib import Path
from pipeline.util.errors import GalleryError, quote

log = logging.getLogger(__name__)

# Where a user fixes the thread count of a render (read in this order); a count fixed there is
# kept as it is, also by the workers left alone under `make -jN`.
USER_THREAD_VARIABLES = ("GALLERY_THREADS", "OMP_NUM_THREADS")


def available_cpus() -> int:
    """The cores this process may run on (its affinity mask; all of them where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def bound_threads(n: int, var: str, cpus: int | None = None) -> int:
    """A thread count a user asked for, between 1 and the cores: more threads than cores only
    slow a render down, and tens of thousands crashed or hung torch (GALLERY_THREADS=99999)."""
    cpus = cpus or available_cpus()
    if n > cpus:
        log.warning("%s=%d is more than the %d cores this process may use: using %d threads",
                    var, n, cpus, cpus)
        return cpus
    if n < 1:
        log.warning("%s=%d: a render needs at least 1 thread: using 1", var, n)
        return 1
    return n


def requested_threads() -> int | None:
    """The thread count a user fixed (GALLERY_THREADS, else OMP_NUM_THREADS, as `make -jN` sets
    for each worker), bounded to the cores; None when neither is set. Both engines read it."""

    for var in USER_THREAD_VARIABLES:
        value = os.environ.get(var, "").strip()
        if value:
            try:
                n = int(value)
            except ValueError:
                raise GalleryError(f"{var}={quote(value)} must be a whole number of threads") from None
            return bound_threads(n, var)
    return None


def make_jobs(makeflags: str | None) -> int | None:
    """The -jN of the make that started us: None outside make, 0 for an unlimited `-j`."""
    if makeflags is None:
        return None
    jobs = 1
    for tok in makeflags.split():
        m = re.fullmatch(r"-j(\d*)|--jobs(?:=(\d+))?", tok)
        if m:
            n = m.group(1) or m.group(2)
            jobs = int(n) if n else 0
    return jobs


def jobs_from_make(env: dict[str, str] | None = None, cpus: int | None = None) -> int:
    """How many workers `make -jN` asks for (1 outside make; an unlimited -j means one per core)."""
    jobs = make_jobs((os.environ if env is None else env).get("MAKEFLAGS"))
    if jobs is None:
        return 1
    return jobs or cpus or available_cpus()


def split_threads(jobs: int, env: dict[str, str] | None = None, cpus: int | None = None) -> int | None:
    """With `jobs` workers give each cores // jobs threads (at least 1), so they do not
    oversubscribe the cores. Values the user set are kept. Returns the threads set."""
    env = os.environ if env is None else env
    if jobs <= 1:
        return None
    threads = max(1, (cpus or available_cpus()) // jobs)
    for var in ("GALLERY_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, str(threads))
    return int(env["GALLERY_THREADS"])


class Workers:
    """This process's entry among the renders running now (a context manager), and the count."""

    def __init__(self, folder: Path, cpus: int):
        self.folder = Path(folder)
        self.cpus = max(1, cpus)
        # Named by host: a cache shared by several machines (--shard) counts only this one's.
        self.prefix = f"{socket.gethostname()}-"
        self.path = self.folder / f"{self.prefix}{os.getpid()}.slot"
        self._fd: int | None = None

    def __enter__(self) -> "Workers":
        self.folder.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        if self._fd is not None:
            os.close(self._fd)  # releases the flock
            self._fd = None

    def running(self) -> int:
        """Workers rendering now on this host, this one included (a file nobody locks is a dead one's)."""
        count = 1 if self._fd is not None else 0
        for path in self.folder.glob(f"{self.prefix}*.slot"):
            if path == self.path:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # its worker just finished
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                count += 1
            finally:
                os.close(fd)
        return max(1, count)

    def threads(self) -> int:
        """The threads this worker should use now: its share of the cores."""
        return max(1, self.cpus // self.running())
