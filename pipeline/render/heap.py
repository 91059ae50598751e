"""Keep freed memory in the process, so that large tensors are reused rather than faulted in.

Why: glibc's malloc serves every allocation above 32 MiB with a fresh mmap and gives it back
to the OS on free. A 512 px render allocates such blocks every pass (a 64-channel layer at
512 x 512 is 64 MiB, and autograd keeps and frees a dozen of them), so each forward+backward
page-faults about 1.3 GB of new, zeroed memory. With mmap and trimming off, freed tensors
come back from the heap (the measured effect: bench/RESULTS.md).

The cost: the process holds its peak memory until it exits (about 2 GB for a 512 px render).
Renders run in their own processes (`make gallery`, `stylize`), so that is what they want; a
program that renders as a side job can leave this off. Only glibc (Linux) has these switches.
"""
from __future__ import annotations

import ctypes
import sys

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
# Give memory back only when more than this is free at the top of the heap: never, in practice.
TRIM_THRESHOLD = (1 << 31) - 1

_kept = False


def keep_freed_memory() -> bool:
    """Serve every allocation from the heap and never trim it (process-wide; once is enough).

    Returns whether it is in effect: False where the C library is not glibc.
    """
    global _kept
    if _kept:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and other C libraries: nothing to tune
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    _kept = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    return _kept
