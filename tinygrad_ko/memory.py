"""Keeping the memory NumPy frees, for the next training step (glibc's malloc, Linux).

A training step allocates arrays of the same sizes every time and frees them when it ends. glibc
gives large freed blocks back to the system (blocks above its mmap threshold are unmapped, the top
of the heap is trimmed), so the next step asks for them again and the kernel maps and zeroes every
4 KB page anew, one page fault each. Measured on the project's 2-core machine, one training step
of examples/char_lm.py's transformer (batch 32, sequence 64): about 22,800 page faults and 226 ms;
with the freed memory kept, 1 fault and 166 ms. PyTorch avoids that cost with its own caching
allocator; NumPy has none for large arrays.

``keep_freed_memory()`` asks glibc (``mallopt``) to serve blocks of up to 32 MB from its heap and
never to trim the heap: freed memory stays in the process and the next step reuses it. The price
is PyTorch's too: the process's resident size stays at its peak. ``import tinygrad_ko`` calls it
once, unless the environment variable ``TINYGRAD_KO_KEEP_MEMORY`` is ``0``; on other systems (macOS,
Windows, a Linux without glibc) it does nothing.
"""
from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3    # glibc's <malloc.h>
KEEP_MMAP_THRESHOLD = 32 << 20                 # the largest glibc accepts (64-bit)
KEEP_TRIM_THRESHOLD = 1 << 30                  # in effect: never trim
GLIBC_DEFAULT = 128 << 10                      # glibc's starting value of both


def _mallopt():
    """glibc's mallopt, or None where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version        # glibc only (musl has a mallopt that does nothing)
        return libc.mallopt
    except (OSError, AttributeError):
        return None


def keep_freed_memory(keep: bool = True) -> bool:
    """Keep (``keep=True``) or give back (``False``: glibc's default thresholds) the memory that
    freed arrays leave, process-wide. Returns whether glibc took the setting (False elsewhere)."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    mmap, trim = (KEEP_MMAP_THRESHOLD, KEEP_TRIM_THRESHOLD) if keep else (GLIBC_DEFAULT,
                                                                          GLIBC_DEFAULT)
    return bool(mallopt(M_MMAP_THRESHOLD, mmap)) and bool(mallopt(M_TRIM_THRESHOLD, trim))


def _on_import() -> bool:
    if os.environ.get("TINYGRAD_KO_KEEP_MEMORY", "1").strip().lower() in ("0", "false", "no",
                                                                          "off"):
        return False
    return keep_freed_memory(True)


__all__ = ["keep_freed_memory"]
