"""Freed memory stays in a render process: large blocks are reused, not faulted in again."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Allocates and frees a 64 MiB block (every page written) five times; prints whether the heap
# is kept and the page faults that took.
PROBE = f"""
import resource, sys
sys.path.insert(0, {str(REPO)!r})
from pipeline.render.heap import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block = bytearray(64 << 20); del block
before = faults()
for _ in range(5):
    block = bytearray(b"x") * (64 << 20)
    del block
print(kept, faults() - before)
"""


def probe(mode: str) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_kept_heap_reuses_large_blocks_instead_of_faulting_them_in():
    kept, faults_kept = probe("keep")
    if not kept:
        pytest.skip("the C library is not glibc")
    _, faults_default = probe("default")
    pages = 5 * (64 << 20) // 4096
    assert faults_default > pages // 2  # glibc maps each block afresh and returns it on free
    assert faults_kept < pages // 20


def test_keeping_twice_is_harmless():
    from pipeline.render import heap

    first = heap.keep_freed_memory()
    assert heap.keep_freed_memory() is first
