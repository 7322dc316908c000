"""The memory allocator setting that lets a large park's step run at full speed.

A step over 100,000 sensors makes a few hundred temporary arrays of 800 kB. glibc serves
blocks that large with mmap and returns them on free, so each temporary pays its page
faults again (measured: about a third of the step at 100,000 sensors). Raising glibc's
mmap and trim thresholds keeps such blocks in the heap for reuse. The setting is
process-wide, so the detector never changes it by itself: the process that hosts it
(service, replay, benchmark) calls `keep_large_blocks()` once at start-up.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_large_blocks(mmap_threshold: int = 256 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Raise glibc's mmap/trim thresholds (bytes); False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
    return ok and mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1
