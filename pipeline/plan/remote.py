"""The remote render cache: any fsspec URL where every machine's renders meet.

Layout on the remote, content addressed like the local cache:

    <root>/<key[:2]>/<key>.json            the record, with the image's sha256 and size; written last
    <root>/<key[:2]>/<key>.<sha256>.png    the render, named by its own hash as well
    <root>/<key[:2]>/<key>.<sha256>.webp   its time-lapse, when its record lists one (remote_timelapse.py),
    <root>/<key[:2]>/<key>.<sha256>.still.webp  and the time-lapse's still: each named by its hash

Why the image is also named by its hash: two machines may render one key to different bytes
(another thread count sums in another order). If both push at once, whichever record lands last
names its own image (and time-lapse), which exists and matches; no remote locking is needed
(Bazel's action cache and content store work the same way).

A remote is trusted no more than a file from a stranger: a record must pass the checks a local
record passes (pipeline.plan.records) and an image those of a local render (its size and sha256
as the record says, and pipeline.plan.render_image) before either enters the local cache; a push
replaces a remote entry that fails them. Every read is capped and every wait bounded
(remote_io.py). Credentials come from each backend's own environment (AWS_*,
GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*), never from the manifest or the URL. What a
backend's failure means for the user is in remote_errors.py.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

from pipeline.plan import remote_batch, remote_timelapse
from pipeline.plan.cache import KEY_RE, Cache, dumps_record
from pipeline.plan.records import record_problem
from pipeline.plan.remote_batch import Transfer, describe  # noqa: F401 (callers import them here)
from pipeline.plan.remote_errors import (DamagedEntry, RemoteDenied, RemoteError, RemoteUnreachable,  # noqa: F401 (callers catch them here)
                                          credential_help, install_hint, translate)
from pipeline.plan.remote_io import BoundedFS, Bounds, backend_options, check_read
from pipeline.plan.render_image import MAX_RENDER_BYTES, image_problem
from pipeline.util import jsonload
from pipeline.util.hashing import bytes_sha256
from pipeline.util.urls import endpoint_problem, redact, remote_url_problem, shown

log = logging.getLogger(__name__)

SHA_RE = re.compile(r"^[0-9a-f]{64}$")
READ_ONLY = {"http", "https"}
SECRET_OPTION = re.compile(r"key|secret|token|passw|credential|connection_string|sas|auth", re.I)
MAX_RECORD_BYTES = 32 << 20  # a record traces every iteration: 250,000 of them fit


class Remote:
    """One remote cache: `has`, `keys`, `pull` and `push` of content-addressed entries."""

    def __init__(self, url: str, options: dict[str, Any] | None = None, *, retries: int | None = None,
                 bounds: Bounds | None = None):
        import fsspec
        from fsspec.core import split_protocol

        self.url = url.rstrip("/")
        self.display = redact(self.url)  # what messages show (the URL holds no secret once checked)
        self.options = dict(options or {})  # as given, to open the same remote in another process
        self.retries = retries
        self.bounds = bounds or Bounds.default()
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
                              f"{credential_help(protocol)}")
        # Each Remote its own connection and no listing cache: another machine writes meanwhile.
        options.setdefault("skip_instance_cache", True)
        options.setdefault("use_listings_cache", False)
        endpoint = options.pop("endpoint_url", None)
        if endpoint and protocol in ("s3", "s3a"):
            options["client_kwargs"] = {**(options.get("client_kwargs") or {}), "endpoint_url": endpoint}
        elif endpoint:
            raise RemoteError(f"remote {self.display}: endpoint_url applies to s3:// remotes only")
        try:
            fsspec.get_filesystem_class(protocol)
        except ImportError as e:
            raise RemoteError(f"remote {self.display}: the {protocol}:// filesystem is not installed ({e}); "
                              f"{install_hint(protocol)}") from None
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url, **backend_options(protocol, options, self.bounds))
        except ImportError as e:
            raise RemoteError(f"remote {self.display}: a package it needs is missing ({e}); "
                              f"{install_hint(protocol)}") from None
        except (TypeError, ValueError) as e:
            raise RemoteError(f"remote {self.display}: bad option: {e}") from None
        if retries is not None and hasattr(self.fs, "retries"):
            self.fs.retries = retries  # s3fs retries a dead connection for ~12 s by default
        self.root = self.root.rstrip("/")
        self.local = protocol in ("file", "local")
        self.io = BoundedFS(self.fs, self.bounds, protocol)
        self.unreachable: RemoteUnreachable | None = None

    # ---- layout
    def record_path(self, key: str) -> str:
        return f"{self.root}/{key[:2]}/{key}.json"

    def image_path(self, key: str, sha: str) -> str:
        if not (KEY_RE.match(key) and SHA_RE.match(sha)):
            raise ValueError(f"not a key and image hash: {key!r} {sha!r}")
        return f"{self.root}/{key[:2]}/{key}.{sha}.png"

    def timelapse_paths(self, key: str, lapse: dict[str, Any]) -> tuple[str, str]:
        """The animation and the still that a record's `timelapse` lists."""
        sha, still = lapse.get("sha256"), lapse.get("still_sha256")
        if not (KEY_RE.match(key) and SHA_RE.match(str(sha)) and SHA_RE.match(str(still))):
            raise ValueError(f"not a key and time-lapse hashes: {key!r} {sha!r} {still!r}")
        return f"{self.root}/{key[:2]}/{key}.{sha}.webp", f"{self.root}/{key[:2]}/{key}.{still}.still.webp"

    def translate(self, exc: BaseException, doing: str) -> RemoteError:
        """The backend's exception as a RemoteError; one that says the remote does not answer is
        kept, and every later call of this Remote raises it at once (see _alive)."""
        if isinstance(exc, TimeoutError) and not str(exc):  # fsspec's whole-operation bound
            exc = TimeoutError(f"no whole answer within {self.bounds.op_s:g} s")
        error = translate(exc, doing, self.display, self.protocol)
        if isinstance(error, RemoteUnreachable):
            self.unreachable = error
        return error

    def _alive(self) -> None:
        """Raise the error of a remote that did not answer: waiting for it again, call after
        call (a pull, each push, the check after a run), would cost a bound each time."""
        if self.unreachable is not None:
            raise self.unreachable

    # ---- reading
    def keys(self) -> set[str] | None:
        """Every key with a record on the remote; None where the remote cannot list (https)."""
        if self.read_only:
            return None
        self._alive()
        try:
            found = self.io.call("find", self.root)  # an empty prefix lists as []; a missing bucket raises
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
        """The subset of `keys` that the remote has a record for (one listing where it can list;
        else one look-up a key, which stop at the first failure)."""
        keys = list(dict.fromkeys(keys))
        listed = self.keys()
        if listed is not None:
            return listed & set(keys)
        failed = threading.Event()

        def has(key: str) -> bool:
            if failed.is_set():
                return False
            try:
                return self.has(key)
            except RemoteError:
                failed.set()
                raise

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            return {k for k, yes in zip(keys, pool.map(has, keys)) if yes}

    def has(self, key: str) -> bool:
        self._alive()
        try:
            # strict: a web server that does not answer is an error, not an absent record
            strict = {"strict": True} if self.protocol in READ_ONLY else {}
            return bool(self.io.call("exists", self.record_path(key), **strict))
        except Exception as e:  # noqa: BLE001
            raise self.translate(e, "looking up a render") from None

    def read_record(self, key: str, doing: str = "pulling") -> dict[str, Any] | None:
        """The remote record, checked as a local record is (None when absent; DamagedEntry when
        it cannot be trusted). At most MAX_RECORD_BYTES + 1 bytes are read."""
        self._alive()
        try:
            data = self.io.read_capped(self.record_path(key), MAX_RECORD_BYTES, "record")
        except FileNotFoundError:
            return None
        except DamagedEntry:
            raise
        except Exception as e:  # noqa: BLE001
            raise self.translate(e, doing) from None
        if len(data) > MAX_RECORD_BYTES:
            raise DamagedEntry(f"record is over {MAX_RECORD_BYTES >> 20} MiB, more than a render's record")
        try:
            record = jsonload.loads(data)
        except ValueError as e:
            raise DamagedEntry(f"record is not valid JSON ({e})") from None
        why = record_problem(record, key)
        if why:
            raise DamagedEntry(f"record: {why}")
        if "image_sha256" not in record or "image_bytes" not in record:
            raise DamagedEntry("record carries no image checksum")
        return record

    def pull(self, key: str, cache: Cache) -> str:
        """Copy one entry into `cache` once its image passed every check, image first and record last.

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
            image = self._checked_image(key, record)
            cache.put(key, image, record, remote_timelapse.pulled(self, key, record))
            log.debug("pulled %s from %s", key[:12], self.display)
            return "pulled"
        finally:
            lock.release()

    def _checked_image(self, key: str, record: dict[str, Any]) -> bytes:
        """The image `record` names, read no further than its size, checked as a local render is."""
        sha, size = record["image_sha256"], record["image_bytes"]
        if size > MAX_RENDER_BYTES:
            raise DamagedEntry(f"record says the image is {size} bytes, more than a render may be "
                               f"({MAX_RENDER_BYTES >> 20} MiB)")
        data = check_read(self.read(self.image_path(key, sha), size, "image"), size, sha, "image")
        why = image_problem(data, record)
        if why:
            raise DamagedEntry(f"image {why}")
        return data

    def read(self, path: str, size: int, what: str) -> bytes:
        """The object a record names, read no further than `size` + 1 bytes (one more: a longer
        object shows). DamagedEntry when it is absent; RemoteError when the remote fails."""
        try:
            return self.io.read_capped(path, size, what)
        except DamagedEntry:
            raise
        except FileNotFoundError:
            raise DamagedEntry(f"record names {'an' if what[0] in 'aeiou' else 'a'} {what} that is not there") from None
        except Exception as e:  # noqa: BLE001
            raise self.translate(e, "pulling") from None

    # ---- writing
    def push(self, key: str, cache: Cache) -> str:
        """Copy one complete local entry to the remote: image and time-lapse, then record. Idempotent.

        Returns "pushed", "replaced" (over a remote entry that fails the checks a pull makes) or
        "present" (the remote already has a sound entry for the key, with a time-lapse where this
        one has a sound one). A local time-lapse that is not the one its record lists stays here
        (a warning), and the render goes without it.
        """
        if self.read_only:
            raise RemoteError(f"remote {self.display}: {self.protocol}:// is read-only; push to an "
                              f"s3://, gs://, az:// or file:// remote")
        self._alive()
        cache.forget(key)
        record = cache.read_record(key)
        if record is None or not cache.has(key):
            raise DamagedEntry("not in the local cache")
        image = cache.image_path(key).read_bytes()
        sha = bytes_sha256(image)
        if record.get("image_sha256") not in (None, sha):
            raise DamagedEntry(f"the local image differs from its record's checksum ({cache.image_path(key)}); "
                               f"delete the entry and render it again")
        record = dict(record, image_sha256=sha, image_bytes=len(image))
        text = dumps_record(record).encode("utf-8")
        if len(image) > MAX_RENDER_BYTES or len(text) > MAX_RECORD_BYTES:
            raise DamagedEntry(f"larger than a remote entry may be (image {len(image)} bytes, record "
                               f"{len(text)} bytes); not pushed")
        try:
            there = self._remote_state(key, bool(remote_timelapse.listed(record)))
            if there == "sound":
                return "present"
            lapse = remote_timelapse.local(cache, key, record)  # read only when it would travel
            if lapse is None and there == "incomplete":
                return "present"  # the remote's render is sound; this time-lapse is not
            files = [(self.image_path(key, sha), image)]
            if lapse is None:
                text = dumps_record(remote_timelapse.without(record)).encode("utf-8")
            else:
                files += zip(self.timelapse_paths(key, record["timelapse"]), lapse)
            for path, data in files:
                if not self._size_is(path, len(data)):
                    self._put(path, data)
            self._put(self.record_path(key), text)
        except Exception as e:  # noqa: BLE001
            raise self.translate(e, "pushing") from None
        log.debug("pushed %s to %s", key[:12], self.display)
        return "replaced" if there == "damaged" else "pushed"

    def _remote_state(self, key: str, timelapse: bool = False) -> str:
        """"sound" (a record that passes a pull's checks, its image and the time-lapse it lists
        there at the sizes it says: a cheap check, no download), "incomplete" (sound, but with
        no time-lapse where `timelapse` says the local entry has one), "absent" or "damaged"."""
        try:
            record = self.read_record(key, "pushing")
        except DamagedEntry:
            return "damaged"
        if record is None:
            return "absent"
        files = [(self.image_path(key, record["image_sha256"]), record["image_bytes"], MAX_RENDER_BYTES)]
        if record.get("timelapse"):
            files += [(path, size, remote_timelapse.MAX_TIMELAPSE_BYTES) for path, (size, _, _) in
                      zip(self.timelapse_paths(key, record["timelapse"]), remote_timelapse.listed(record))]
        if not all(size <= cap and self._size_is(path, size) for path, size, cap in files):
            return "damaged"
        return "incomplete" if timelapse and not record.get("timelapse") else "sound"

    def _size_is(self, path: str, size: int) -> bool:
        try:
            return self.io.call("info", path).get("size") == size
        except FileNotFoundError:
            return False

    def _put(self, path: str, data: bytes) -> None:
        """One object, whole or not at all: object stores put atomically; a folder renames."""
        if not self.local:
            self.io.call("pipe_file", path, data)
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
        """Pull or push `keys`, `jobs` at a time (remote_batch.run)."""
        one = self.pull if verb == "pull" else self.push
        return remote_batch.run(lambda key: one(key, cache), verb, self.display, keys, jobs, on_each)


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
    process's pushing (one warning) and rendering goes on; `push` sends the rest later. The
    process that made the pusher uses its remote (one that did not answer fails at once); each
    other process opens its own connection (render workers are forked, and a connection's event
    loop does not survive a fork)."""

    def __init__(self, url: str, options: dict[str, Any] | None, cache: Cache, retries: int | None = None,
                 bounds: Bounds | None = None, remote: Remote | None = None):
        self.url, self.options, self.cache, self.retries, self.bounds = url, options, cache, retries, bounds
        self._remote: Remote | None = remote
        self._pid: int | None = os.getpid() if remote is not None else None
        self.off = False

    @classmethod
    def of(cls, remote: Remote | None, cache: Cache) -> "Pusher | None":
        """A pusher to `remote`, or None when there is none or it is read-only."""
        if remote is None or remote.read_only:
            return None
        return cls(remote.url, remote.options, cache, remote.retries, remote.bounds, remote)

    def push(self, key: str) -> bool:
        """Send one entry (image, then record); False when it was not sent."""
        if self.off:
            return False
        try:
            if self._pid != os.getpid():
                self._remote = Remote(self.url, self.options, retries=self.retries, bounds=self.bounds)
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


