"""The remote render cache on the run's hooks: before rendering, pull the cells the remote has
(each checked before it enters the cache), so they need not render; after each render, push it
from the process that made it; after the renders, report those that did not reach the remote.
The remote is a help, never a requirement: one that does not answer is reported, and the cells
render here. With no remote (none named, or GALLERY_REMOTE=none) every hook does nothing.
"""
from __future__ import annotations

from pipeline.events import NotPushed, OnEvent, Pulled, RemoteUnavailable, TransferDone, TransferStarted, \
    TransferStep, ignore
from pipeline.plan.remote import Pusher, RemoteError, remote_for
from pipeline.plugins.hooks import Hooks, Run

NAME = "remote"


def register(hooks: Hooks) -> None:
    """Hang the remote cache on `hooks`."""
    hooks.before_render.append(pull)
    hooks.after_each.append(push)
    hooks.after_render.append(check)


def pull(run: Run) -> None:
    """Open the remote (only when something is to render) and pull what it has of `run.missing`."""
    if not run.missing:
        return
    remote = remote_for(run.gallery, run.remote)
    if remote is None:
        return
    run.notes[NAME] = (remote, Pusher.of(remote, run.plan.cache))
    try:
        have = remote.which(c.key for c in run.missing)
    except RemoteError as e:
        run.on_event(RemoteUnavailable(e))
        return
    keys = [c.key for c in run.missing if c.key in have]
    if not keys:
        return
    report = transfer(remote, "pull", keys, run.plan.cache, on_event=run.on_event)
    run.on_event(Pulled(report, {c.key: c.name for c in run.missing}))
    run.plan.refresh(report.done)
    run.pulled += len(report.done)
    still = {c.key for c in run.plan.missing()}
    run.missing = [c for c in run.missing if c.key in still]


def push(run: Run, cell) -> None:
    """Send one new render (image, then record); the first failure stops this process's pushing."""
    pusher = run.notes.get(NAME, (None, None))[1]
    if pusher is not None:
        pusher.push(cell.key)


def check(run: Run) -> None:
    """Report the new renders that did not reach the remote (a push failed during the run)."""
    remote = run.notes.get(NAME, (None, None))[0]
    if remote is None or remote.read_only:
        return
    new = [c.key for c in run.missing if run.plan.cache.has(c.key)]
    if not new:
        return
    try:
        have = remote.which(new)  # one listing (or one check a key), not one per key
    except RemoteError:
        have = set()
    missing = [k for k in new if k not in have]
    if missing:
        run.on_event(NotPushed(missing, remote.display))


def transfer(remote, verb: str, keys: list[str], cache, *, jobs: int = 4, on_event: OnEvent = ignore):
    """One pull or push of `keys` (remote.Transfer), each key reported as it is done."""
    on_event(TransferStarted(verb, len(keys)))
    report = remote.transfer(verb, keys, cache, jobs=jobs,
                             on_each=lambda key, outcome: on_event(TransferStep(verb, key, outcome)))
    on_event(TransferDone(verb, report))
    return report
