"""One owner of a site folder at a time: a build, or `serve` for as long as it runs.

Two builds of one site at once would each remove the other's half-written files as strangers,
and a build under a running `serve` would replace the site it serves (built with its own
--size/--preset) with another. So the owner holds an exclusive flock on the site folder itself
(released by the OS when the process dies, even by kill -9), and leaves a note of who it is in
the cache beside the site's state (<cache>/.site/<hash>.owner: process, command, address). A
build that finds the folder taken waits for another build, saying so, and refuses while
`serve` owns it; a second `serve` of the same site is refused. Within one thread the hold is
re-entrant: `serve`'s own rebuilds happen under the hold it took at its start.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from pipeline.site import state as sitestate
from pipeline.util.errors import GalleryError
from pipeline.util.files import write_text_atomic

log = logging.getLogger(__name__)

POLL_S = 0.1  # how often a waiting build looks again (and sees a `serve` that took over meanwhile)
# per thread: real path of a site folder -> [descriptor, depth, created] that thread holds
_held = threading.local()


class SiteBusy(GalleryError):
    """The site folder is owned by another process that will not let go soon (`serve`)."""


def _note_path(out: Path, cache: Path) -> Path:
    return sitestate.state_path(cache, out).with_suffix(".owner")


def _read_note(path: Path) -> dict:
    try:
        note = json.loads(path.read_text(encoding="utf-8"))
        pid = int(note["pid"])
        os.kill(pid, 0)  # the note of a process that is gone says nothing
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return note if isinstance(note, dict) else {}


def _write_note(path: Path, **note) -> None:
    with contextlib.suppress(OSError):  # a read-only cache: messages say less, nothing else changes
        write_text_atomic(path, json.dumps({"pid": os.getpid(), "command": _command(), **note}))


def _command() -> str:
    args = sys.argv[1:] if Path(sys.argv[0]).name in ("__main__.py", "pipeline") else sys.argv
    return " ".join(args)[:200]


@contextlib.contextmanager
def owning(out: Path, cache: Path, serve: bool = False) -> Iterator[None]:
    """Hold the site folder `out` (created if missing) for a build, or for `serve`'s whole run.
    Re-entrant within a thread; another thread of the same process waits like another process."""
    out = Path(out)
    key = os.path.realpath(out)
    held = _held.__dict__
    if key in held:
        held[key][1] += 1
    else:
        fd, created = _acquire(out, Path(cache), serve)
        held[key] = [fd, 1, created]
    try:
        yield
    finally:
        held[key][1] -= 1
        if held[key][1] == 0:
            fd, _, created = held.pop(key)
            with contextlib.suppress(OSError):
                note = _note_path(out, Path(cache))
                if _read_note(note).get("pid") == os.getpid():
                    note.unlink()
            if created:  # a build that failed before writing anything leaves no folder behind
                with contextlib.suppress(OSError):
                    out.rmdir()
            os.close(fd)  # releases the flock


def describe(out: Path, cache: Path, url: str) -> None:
    """Add `serve`'s address to its note, for the message another command shows."""
    _write_note(_note_path(out, cache), serve=True, url=url)


def _acquire(out: Path, cache: Path, serve: bool) -> tuple[int, bool]:
    """(the descriptor holding the flock on `out`, whether `out` was created for it)."""
    note_path = _note_path(out, cache)
    said = False
    while True:
        created = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    pass
                note = _read_note(note_path)
                if note.get("serve"):
                    raise SiteBusy(_served_message(out, note, serve))
                if not said:
                    who = f"process {note['pid']}: {note.get('command') or 'a build'}" if note else "another process"
                    log.warning("%s is being built by another process (%s); waiting for it to finish", out, who)
                    said = True
                time.sleep(POLL_S)
        except BaseException:
            os.close(fd)
            raise
        if _same_folder(fd, out):
            break
        os.close(fd)  # the folder was removed (or replaced) while we waited: hold the one there now
    _write_note(note_path, serve=serve)
    return fd, created


def _same_folder(fd: int, out: Path) -> bool:
    try:
        now = os.stat(out)
    except OSError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def _served_message(out: Path, note: dict, serve: bool) -> str:
    where = f" at {note['url']}" if note.get("url") else ""
    if serve:
        return (f"{out} is already served by `serve` (process {note['pid']}){where}: open that one, "
                f"or stop it (Ctrl+C) first")
    return (f"{out} is served by `serve` (process {note['pid']}){where}, which owns it while it runs "
            f"and rebuilds it itself, with its own options, whenever the manifest, an image, a "
            f"template or a render changes: the site was not built here (anything rendered is "
            f"kept in the cache). Look at it there, or stop serve (Ctrl+C) to build it here")
