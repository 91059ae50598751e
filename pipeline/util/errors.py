"""The one exception type the CLI turns into a clear message and a non-zero exit (no traceback)."""
from __future__ import annotations

import errno

# A disk that is full or read-only is the user's to fix, not a bug: the CLI says so (a message,
# never a traceback), and code that wraps other errors lets these through to it.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


class GalleryError(Exception):
    """A problem the user can fix; `str()` is the whole message, naming file, entry and fix."""

    exit_code = 1


class ManifestError(GalleryError):
    """The manifest is invalid: every problem found, one per line, in `problems`."""

    exit_code = 2

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        n = len(self.problems)
        super().__init__("\n".join(self.problems) + f"\n{n} problem{'s' if n != 1 else ''} found; nothing was written.")


QUOTE_LIMIT = 80  # characters of a value a message quotes: a 10^6-element list must not print megabytes


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """repr(value) for a message, cut to `limit` characters ("..." and the full length when cut)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 3]}... ({len(text)} characters)"
