"""A progress bar with ETA for one render, or nothing at all in quiet mode (CI logs)."""
from __future__ import annotations

import sys


class Progress:
    """tqdm over a render's total iterations; `quiet` turns every call into a no-op."""

    def __init__(self, total: int, desc: str = "stylize", quiet: bool = False):
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="it", file=sys.stderr, dynamic_ncols=True,
                            leave=False)

    def update(self, n: int = 1, **postfix) -> None:
        if self.bar is not None:
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(n)

    def set_description(self, desc: str) -> None:
        if self.bar is not None:
            self.bar.set_description(desc, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
