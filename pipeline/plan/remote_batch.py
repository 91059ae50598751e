"""Many keys at once between the local cache and the remote: a pool of transfers, a report of
what each key did, and that report in words for the CLI.

A damaged entry is reported and skipped; the first dead connection or refused credentials stop
the batch, and the report says exactly which renders were and were not transferred.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable

from pipeline.plan.remote_errors import DamagedEntry, RemoteError

log = logging.getLogger(__name__)


@dataclass
class Transfer:
    """What one pull or push of many keys did, key by key, so the message can say what was not done."""

    verb: str  # "pull" | "push"
    url: str  # as shown (redacted)
    done: list[str] = field(default_factory=list)  # copied
    replaced: list[str] = field(default_factory=list)  # push: copied over a damaged remote entry (also in done)
    already: list[str] = field(default_factory=list)  # the other side had it: nothing to copy
    absent: list[str] = field(default_factory=list)  # pull: the remote does not have it
    busy: list[str] = field(default_factory=list)  # pull: being rendered here right now
    damaged: dict[str, str] = field(default_factory=dict)  # key -> why it was refused
    not_done: list[str] = field(default_factory=list)  # never tried: the batch stopped
    error: RemoteError | None = None  # why the batch stopped

    @property
    def ok(self) -> bool:
        return self.error is None and not self.damaged


def run(one: Callable[[str], str], verb: str, url: str, keys: Iterable[str], jobs: int = 4,
        on_each: Callable[[str, str], None] | None = None) -> Transfer:
    """`one(key)` for every key, `jobs` at a time; its outcome ("pulled", "pushed", "replaced",
    "local", "present", "absent", "busy") or its exception, filed in the report."""
    report = Transfer(verb, url)
    keys = list(dict.fromkeys(keys))
    stop = threading.Event()
    guard = threading.Lock()
    files = {"pulled": [report.done], "pushed": [report.done], "replaced": [report.done, report.replaced],
             "local": [report.already], "present": [report.already], "absent": [report.absent],
             "busy": [report.busy]}

    def work(key: str) -> None:
        if stop.is_set():
            with guard:
                report.not_done.append(key)
            return
        try:
            outcome = one(key)
        except DamagedEntry as e:
            with guard:
                report.damaged[key] = str(e)
            log.warning("%s %s: %s: %s", verb, key[:12], url, e)
            outcome = "damaged"
        except RemoteError as e:
            with guard:
                report.not_done.append(key)
                if report.error is None:
                    report.error = e
            stop.set()
            return
        else:
            with guard:
                for part in files[outcome]:
                    part.append(key)
        if on_each:
            on_each(key, outcome)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(work, keys))
    order = {k: i for i, k in enumerate(keys)}
    for part in (report.done, report.replaced, report.already, report.absent, report.busy, report.not_done):
        part.sort(key=order.__getitem__)
    return report


def describe(report: Transfer, name: Callable[[str], str] = lambda k: k[:12]) -> list[str]:
    """What a pull or push did, in lines for the CLI: counts, refused and replaced entries, and
    after a failure exactly which renders were and were not transferred."""
    def names(keys: list[str]) -> str:
        shown = ", ".join(name(k) for k in keys[:8])
        return shown + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")

    to_from = "to" if report.verb == "push" else "from"
    done = len(report.done)
    lines = [f"{report.verb}ed {done} render{'s' if done != 1 else ''} {to_from} {report.url}"
             + (f"; {len(report.already)} {'there' if report.verb == 'push' else 'here'} already"
                if report.already else "")
             + (f"; {len(report.absent)} not on the remote" if report.absent else "")]
    if report.replaced:
        n = len(report.replaced)
        lines.append(f"  replaced {n} damaged entr{'y' if n == 1 else 'ies'} on the remote: "
                     f"{names(report.replaced)}")
    if report.busy:
        lines.append(f"  skipped {len(report.busy)} being rendered here now: {names(report.busy)}")
    for key, why in report.damaged.items():
        lines.append(f"  refused {name(key)} ({key[:12]}): {why}; "
                     + ("not trusted, left out of the local cache" if report.verb == "pull"
                        else "not pushed"))
    if report.error is not None:
        lines.append(f"stopped: {report.error}")
        if report.done:
            lines.append(f"  transferred: {names(report.done)}")
        lines.append(f"  not transferred: {names(report.not_done)}")
        lines.append("  both caches hold whole entries only (an entry's record goes last); "
                     f"run {report.verb} again to transfer the rest")
    return lines
