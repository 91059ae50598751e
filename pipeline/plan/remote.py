"""The remote render cache: any fsspec URL where every machine's renders meet.

Layout on the remote, content addressed like the local cache:

    <root>/<key[:2]>/<key>.json            the record, with the image's sha256 and size; written last
    <root>/<key[:2]>/<key>.<sha256>.png    the render, named by its own hash as well

Why the image is also named by its hash: two machines may render one key to different bytes
(another thread count sums in another order). If both push at once, whichever record lands last
names its own image, which exists and matches; no remote locking is needed (Bazel's action cache
and content store work the same way). A pulled image is hashed before it enters the local cache;
a record whose image is missing, short or different is reported and ignored.

Credentials come from each backend's own environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS,
AZURE_STORAGE_*), never from the manifest: options that look like secrets are refused. What a
backend's failure means for the user is in remote_errors.py.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from pipeline.plan.cache import KEY_RE, Cache, dumps_record
from pipeline.plan.remote_errors import (DamagedEntry, RemoteDenied, RemoteError, RemoteUnreachable,  # noqa: F401 (callers catch them here)
                                          credential_help, install_hint, translate)
from pipeline.util import jsonload
from pipeline.util.files import atomic_writer, write_bytes_atomic
from pipeline.util.urls import endpoint_problem, redact, remote_url_problem, shown

log = logging.getLogger(__name__)

SHA_RE = re.compile(r"^[0-9a-f]{64}$")
READ_ONLY = {"http", "https"}
SECRET_OPTION = re.compile(r"key|secret|token|passw|credential|connection_string|sas|auth", re.I)


@dataclass
class Transfer:
    """What one pull or push of many keys did, key by key, so the message can say what was not done."""

    verb: str  # "pull" | "push"
    url: str
    done: list[str] = field(default_factory=list)  # copied
    already: list[str] = field(default_factory=list)  # the other side had it: nothing to copy
    absent: list[str] = field(default_factory=list)  # pull: the remote does not have it
    busy: list[str] = field(default_factory=list)  # pull: being rendered here right now
    damaged: dict[str, str] = field(default_factory=dict)  # key -> why it was refused
    not_done: list[str] = field(default_factory=list)  # never tried: the batch stopped
    error: RemoteError | None = None  # why the batch stopped

    @property
    def ok(self) -> bool:
        return self.error is None and not self.damaged


class Remote:
    """One remote cache: `has`, `keys`, `pull` and `push` of content-addressed entries."""

    def __init__(self, url: str, options: dict[str, Any] | None = None, *, retries: int | None = None):
        import fsspec
        from fsspec.core import split_protocol

        self.url = url.rstrip("/")
        self.display = redact(self.url)  # what messages show (the URL holds no secret once checked)
        self.options = dict(options or {})  # as given, to open the same remote in another process
        self.retries = retries
        protocol = split_protocol(self.url)[0] or "file"
        self.protocol = protocol
        self.read_only = protocol in READ_ONLY
        options = dict(options or {})
        why = remote_url_problem(url)
        if why:
            raise RemoteError(f"remote {shown(url)}: {why}")
        secret = sorted(k for k in options if SECRET_OPTION.search(k) and k != "endpoint_url")
        if secret:
            raise RemoteError(f"remote {self.display}: option{'s' if len(secret) > 1 else ''} {', '.join(secret)} "
                              f"look like credentials; they never go in the manifest: "
                              f"{self._credential_help()}")
        # Each Remote its own connection and no listing cache: another machine writes meanwhile.
        options.setdefault("skip_instance_cache", True)
        options.setdefault("use_listings_cache", False)
        endpoint = options.pop("endpoint_url", None)
        if endpoint and protocol in ("s3", "s3a"):
            options.setdefault("client_kwargs", {})["endpoint_url"] = endpoint
        elif endpoint:
            raise RemoteError(f"remote {self.display}: endpoint_url applies to s3:// remotes only")
        try:
            fsspec.get_filesystem_class(protocol)
        except ImportError as e:
            raise RemoteError(f"remote {self.display}: the {protocol}:// filesystem is not installed ({e}); "
                              f"{install_hint(protocol)}") from None
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url, **options)
        except ImportError as e:
            raise RemoteError(f"remote {self.display}: a package it needs is missing ({e}); "
                              f"{install_hint(protocol)}") from None
        except (TypeError, ValueError) as e:
            raise RemoteError(f"remote {self.display}: bad option: {e}") from None
        if retries is not None and hasattr(self.fs, "retries"):
            self.fs.retries = retries  # s3fs retries a dead connection for ~12 s by default
        self.root = self.root.rstrip("/")
        self.local = protocol in ("file", "local")

    # ---- layout
    def record_path(self, key: str) -> str:
        return f"{self.root}/{key[:2]}/{key}.json"

    def image_path(self, key: str, sha: str) -> str:
        if not (KEY_RE.match(key) and SHA_RE.match(sha)):
            raise ValueError(f"not a key and image hash: {key!r} {sha!r}")
        return f"{self.root}/{key[:2]}/{key}.{sha}.png"

    # ---- errors
    def _credential_help(self) -> str:
        return credential_help(self.protocol)

    def translate(self, exc: BaseException, doing: str) -> RemoteError:
        return translate(exc, doing, self.display, self.protocol)

    # ---- reading
    def keys(self) -> set[str] | None:
        """Every key with a record on the remote; None where the remote cannot list (https)."""
        if self.read_only:
            return None
        try:
            found = self.fs.find(self.root)  # an empty prefix lists as []; a missing bucket raises
        except Exception as e:  # noqa: BLE001 - backends raise their own types
            raise self.translate(e, "listing") from None
        out = set()
        for p in found:
            parts = p.rstrip("/").rsplit("/", 2)
            if len(parts) >= 2 and parts[-1].endswith(".json"):
                key = parts[-1][:-5]
                if KEY_RE.match(key) and parts[-2] == key[:2]:
                    out.add(key)
        return out

    def which(self, keys: Iterable[str], jobs: int = 8) -> set[str]:
        """The subset of `keys` that the remote has a record for (one listing where it can list)."""
        keys = list(dict.fromkeys(keys))
        listed = self.keys()
        if listed is not None:
            return listed & set(keys)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            return {k for k, yes in zip(keys, pool.map(self.has, keys)) if yes}

    def has(self, key: str) -> bool:
        try:
            return bool(self.fs.exists(self.record_path(key)))
        except Exception as e:  # noqa: BLE001
            raise self.translate(e, "looking up a render") from None

    def read_record(self, key: str, doing: str = "pulling") -> dict[str, Any] | None:
        """The remote record, checked (None when absent; DamagedEntry when it cannot be trusted)."""
        try:
            data = self.fs.cat_file(self.record_path(key))
        except FileNotFoundError:
            return None
        except Exception as e:  # noqa: BLE001
            raise self.translate(e, doing) from None
        try:
            record = jsonload.loads(data)
        except ValueError:
            raise DamagedEntry(f"record is not valid JSON ({len(data)} bytes)") from None
        if not isinstance(record, dict) or record.get("key") != key:
            raise DamagedEntry("record names another key")
        sha, size = record.get("image_sha256"), record.get("image_bytes")
        if not (isinstance(sha, str) and SHA_RE.match(sha)) or not isinstance(size, int):
            raise DamagedEntry("record carries no image checksum")
        return record

    def pull(self, key: str, cache: Cache) -> str:
        """Copy one entry into `cache`, image first and record last, after checking the image.

        Returns "pulled", "local" (the cache has it), "absent" (the remote has not) or "busy" (a
        render of this key runs here now). Raises DamagedEntry or RemoteError.
        """
        lock = cache.cell_mutex(key)
        if not lock.acquire(blocking=False):
            return "busy"
        try:
            cache.forget(key)
            if cache.has(key):
                return "local"
            record = self.read_record(key)
            if record is None:
                return "absent"
            sha, size = record["image_sha256"], record["image_bytes"]
            try:
                with atomic_writer(cache.image_path(key), "wb") as out:
                    h, got = hashlib.sha256(), 0
                    with self.fs.open(self.image_path(key, sha), "rb") as f:
                        while chunk := f.read(1 << 20):
                            h.update(chunk)
                            got += len(chunk)
                            if got > size:
                                break
                            out.write(chunk)
                    if got != size:
                        raise DamagedEntry(f"image is {'longer' if got > size else 'shorter'} than its "
                                           f"record says ({got}{'+' if got > size else ''} of {size} bytes)")
                    if h.hexdigest() != sha:
                        raise DamagedEntry(f"image checksum differs from its record's ({h.hexdigest()[:12]} "
                                           f"!= {sha[:12]})")
            except DamagedEntry:
                raise
            except FileNotFoundError:
                raise DamagedEntry("record names an image that is not there") from None
            except Exception as e:  # noqa: BLE001
                raise self.translate(e, "pulling") from None
            write_bytes_atomic(cache.record_path(key), dumps_record(record).encode("utf-8"))
            cache.forget(key)
            log.debug("pulled %s from %s", key[:12], self.display)
            return "pulled"
        finally:
            lock.release()

    # ---- writing
    def push(self, key: str, cache: Cache) -> str:
        """Copy one complete local entry to the remote: image, then record. Idempotent.

        Returns "pushed" or "present" (the remote already has a complete entry for the key).
        """
        if self.read_only:
            raise RemoteError(f"remote {self.display}: {self.protocol}:// is read-only; push to an "
                              f"s3://, gs://, az:// or file:// remote")
        cache.forget(key)
        record = cache.read_record(key)
        if record is None or not cache.has(key):
            raise DamagedEntry("not in the local cache")
        image = cache.image_path(key).read_bytes()
        sha = hashlib.sha256(image).hexdigest()
        if record.get("image_sha256") not in (None, sha):
            raise DamagedEntry(f"the local image differs from its record's checksum ({cache.image_path(key)}); "
                               f"delete the entry and render it again")
        record = dict(record, image_sha256=sha, image_bytes=len(image))
        try:
            if self._complete(key):
                return "present"
            path = self.image_path(key, sha)
            if not self._size_is(path, len(image)):
                self._put(path, image)
            self._put(self.record_path(key), dumps_record(record).encode("utf-8"))
        except Exception as e:  # noqa: BLE001
            raise self.translate(e, "pushing") from None
        log.debug("pushed %s to %s", key[:12], self.display)
        return "pushed"

    def _complete(self, key: str) -> bool:
        """A valid record whose image is there at the size it says (a cheap check: no download)."""
        try:
            record = self.read_record(key, "pushing")
        except DamagedEntry:
            return False
        return record is not None and self._size_is(self.image_path(key, record["image_sha256"]),
                                                    record["image_bytes"])

    def _size_is(self, path: str, size: int) -> bool:
        try:
            return self.fs.info(path).get("size") == size
        except FileNotFoundError:
            return False

    def _put(self, path: str, data: bytes) -> None:
        """One object, whole or not at all: object stores put atomically; a folder renames."""
        if not self.local:
            self.fs.pipe_file(path, data)
            return
        parent = path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.{path.rsplit('/', 1)[1]}.{uuid.uuid4().hex}.tmp"
        try:
            self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(tmp)

    # ---- many keys
    def transfer(self, verb: str, keys: Iterable[str], cache: Cache, jobs: int = 4,
                 on_each: Callable[[str, str], None] | None = None) -> Transfer:
        """Pull or push `keys`, `jobs` at a time. A damaged entry is reported and skipped; a dead
        connection or refused credentials stop the batch, and the report lists what was not done."""
        one = self.pull if verb == "pull" else self.push
        report = Transfer(verb, self.display)
        keys = list(dict.fromkeys(keys))
        stop = threading.Event()
        guard = threading.Lock()

        def work(key: str) -> None:
            if stop.is_set():
                with guard:
                    report.not_done.append(key)
                return
            try:
                outcome = one(key, cache)
            except DamagedEntry as e:
                with guard:
                    report.damaged[key] = str(e)
                log.warning("%s %s: %s: %s", verb, key[:12], self.display, e)
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
                    {"pulled": report.done, "pushed": report.done, "local": report.already,
                     "present": report.already, "absent": report.absent, "busy": report.busy}[outcome].append(key)
            if on_each:
                on_each(key, outcome)

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(work, keys))
        order = {k: i for i, k in enumerate(keys)}
        for part in (report.done, report.already, report.absent, report.busy, report.not_done):
            part.sort(key=order.__getitem__)
        return report



def remote_for(gallery: Any, url: str | None = None) -> Remote | None:
    """The gallery's remote cache, or None: `url` (--remote), else GALLERY_REMOTE, else the
    manifest's `cache: remote:`. GALLERY_REMOTE=none turns a manifest's remote off. A URL from
    the command line or the environment gets the check the manifest's got from its reader
    (pipeline.util.urls), and a refusal names where it came from."""
    settings = getattr(gallery, "remote", None)
    env = os.environ.get("GALLERY_REMOTE", "").strip()
    if url:
        shown_as, fix = f"--remote {shown(url)}", "fix it, or leave --remote out"
    elif env:
        url, shown_as = env, f"GALLERY_REMOTE={shown(env)}"
        fix = ("fix it, or set GALLERY_REMOTE=none for no remote (unset, the manifest's "
               "`cache: remote:` counts)")
    else:
        url, shown_as, fix = (settings.url if settings is not None else ""), "", ""
    if not url or url.lower() == "none":
        return None
    why = remote_url_problem(url) if shown_as else None  # the manifest's was checked as it was read
    if why:
        raise RemoteError(f"{shown_as}: {why}; {fix}")
    endpoint = os.environ.get("GALLERY_REMOTE_ENDPOINT", "").strip()
    why = endpoint_problem(endpoint) if endpoint else None
    if why:
        raise RemoteError(f"GALLERY_REMOTE_ENDPOINT={shown(endpoint)}: {why}; fix it or unset it")
    endpoint = endpoint or (settings.endpoint_url if settings is not None else "")
    s3 = url.split("://", 1)[0] in ("s3", "s3a")
    return Remote(url, {"endpoint_url": endpoint} if endpoint and s3 else None)


class Pusher:
    """Pushes each new render as soon as it is stored, from whichever process rendered it.

    The remote is a help, never a requirement: the first failure to reach it stops this
    process's pushing (one warning) and rendering goes on; `push` sends the rest later. Each
    process opens its own connection (render workers are forked, and a connection's event loop
    does not survive a fork)."""

    def __init__(self, url: str, options: dict[str, Any] | None, cache: Cache, retries: int | None = None):
        self.url, self.options, self.cache, self.retries = url, options, cache, retries
        self._remote: Remote | None = None
        self._pid: int | None = None
        self.off = False

    @classmethod
    def of(cls, remote: Remote | None, cache: Cache) -> "Pusher | None":
        """A pusher to `remote`, or None when there is none or it is read-only."""
        if remote is None or remote.read_only:
            return None
        return cls(remote.url, remote.options, cache, remote.retries)

    def push(self, key: str) -> bool:
        """Send one entry (image, then record); False when it was not sent."""
        if self.off:
            return False
        try:
            if self._pid != os.getpid():
                self._remote = Remote(self.url, self.options, retries=self.retries)
                self._pid = os.getpid()
            self._remote.push(key, self.cache)
            return True
        except DamagedEntry as e:
            log.warning("%s not pushed: %s", key[:12], e)
            return False
        except RemoteError as e:
            self.off = True
            log.warning("%s; renders go on here without pushing (`push` sends them later)", e)
            return False


def describe(report: Transfer, name: Callable[[str], str] = lambda k: k[:12]) -> list[str]:
    """What a pull or push did, in lines for the CLI: counts, refused entries, and after a
    failure exactly which renders were and were not transferred."""
    def names(keys: list[str]) -> str:
        shown = ", ".join(name(k) for k in keys[:8])
        return shown + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")

    to_from = "to" if report.verb == "push" else "from"
    done = len(report.done)
    lines = [f"{report.verb}ed {done} render{'s' if done != 1 else ''} {to_from} {report.url}"
             + (f"; {len(report.already)} {'there' if report.verb == 'push' else 'here'} already"
                if report.already else "")
             + (f"; {len(report.absent)} not on the remote" if report.absent else "")]
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
