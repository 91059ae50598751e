"""The remote cache's calls to its backend, each bounded in time and in bytes: a remote that
accepts connections and never answers, drips a byte now and then, or serves an endless object
ends in a clear error, never a hang, a full memory or a full disk.

Three layers, because each misses something the others catch:
- the backend's own timeouts, from pipeline/util/netlimits.py (botocore's connect_timeout,
  read_timeout and retries for s3://; aiohttp's ClientTimeout for https://): a silent connection
  fails at once instead of after the backend's defaults (minutes, and retried);
- the whole operation, bounded by fsspec's sync(timeout=), which cancels it, for every async
  filesystem (s3, gs, az, http): a read that gets a byte now and then never trips a read timeout;
- every read capped: at most one byte more than the caller allows is ever read (a ranged request,
  or a stream read in chunks), so a record or an image cannot be larger than its cap in memory
  or on disk. A folder remote's object must be a regular file (a FIFO blocks, /dev/zero never ends).
"""
from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from typing import Any

from pipeline.plan.remote_errors import DamagedEntry
from pipeline.util import netlimits
from pipeline.util.hashing import bytes_sha256

CHUNK = 1 << 20


@dataclass(frozen=True)
class Bounds:
    """Seconds to connect, to wait for the next byte, and for one operation whole; tries a request gets."""

    connect_s: float
    read_s: float
    op_s: float
    attempts: int = 3

    @classmethod
    def default(cls) -> "Bounds":
        return cls(netlimits.CONNECT_S, netlimits.READ_S, netlimits.REMOTE_OP_S)


def backend_options(protocol: str, options: dict[str, Any], bounds: Bounds) -> dict[str, Any]:
    """fsspec options for `protocol` with the bounds as the backend's own settings (an option the
    caller set wins: a test asks for one try)."""
    options = dict(options)
    if protocol in ("s3", "s3a"):
        config = dict(options.get("config_kwargs") or {})
        config.setdefault("connect_timeout", bounds.connect_s)
        config.setdefault("read_timeout", bounds.read_s)
        config.setdefault("retries", {"max_attempts": bounds.attempts, "mode": "standard"})
        options["config_kwargs"] = config
    elif protocol in ("http", "https"):
        try:
            import aiohttp
        except ImportError:  # the filesystem itself will say which extra to install
            return options
        client = dict(options.get("client_kwargs") or {})
        client.setdefault("timeout", aiohttp.ClientTimeout(total=bounds.op_s, sock_connect=bounds.connect_s,
                                                           sock_read=bounds.read_s))
        options["client_kwargs"] = client
    return options


class BoundedFS:
    """An fsspec filesystem whose every call this pipeline makes is bounded (see the module)."""

    def __init__(self, fs: Any, bounds: Bounds, protocol: str):
        self.fs, self.bounds = fs, bounds
        self.local = protocol in ("file", "local")
        self.stream = protocol in ("http", "https")  # a web server may ignore a ranged request

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """fs.<method>(...), cancelled after bounds.op_s (FSTimeoutError, a TimeoutError)."""
        if getattr(self.fs, "async_impl", False):
            kwargs["timeout"] = self.bounds.op_s
        return getattr(self.fs, method)(*args, **kwargs)

    def read_capped(self, path: str, cap: int, what: str) -> bytes:
        """The object's first cap + 1 bytes at most: one more than allowed, so the caller can
        tell an object that is too long. FileNotFoundError when it is absent."""
        if self.local:
            if not stat.S_ISREG(os.stat(path).st_mode):  # follows a link, as reading would
                raise DamagedEntry(f"{what} is not a regular file on the remote")
            return self.fs.cat_file(path, start=0, end=cap + 1)
        if not self.stream:
            return self.call("cat_file", path, start=0, end=cap + 1)
        deadline = time.monotonic() + self.bounds.op_s
        out = bytearray()
        with self.fs.open(path, "rb", block_size=0, size=cap + 1) as f:  # size: no HEAD first
            while len(out) <= cap:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no whole answer within {self.bounds.op_s:g} s")
                chunk = f.read(min(CHUNK, cap + 1 - len(out)), timeout=left)
                if not chunk:
                    break
                out += chunk
        return bytes(out)


def check_read(data: bytes, size: int, sha: str, what: str) -> bytes:
    """`data` when it is the object its record describes, `size` bytes with that sha256; else
    DamagedEntry. `data` is what a capped read returned: one byte more than `size` means longer."""
    if len(data) != size:
        longer = len(data) > size
        raise DamagedEntry(f"{what} is {'longer' if longer else 'shorter'} than its record says "
                           f"({len(data)}{'+' if longer else ''} of {size} bytes)")
    actual = bytes_sha256(data)
    if actual != sha:
        raise DamagedEntry(f"{what} checksum differs from its record's ({actual[:12]} != {sha[:12]})")
    return data
