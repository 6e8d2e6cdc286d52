"""Handing the memory a long-running process has freed back to the operating system.

glibc's malloc keeps what is freed inside its arenas (one per thread that contended for one)
for later reuse. Under a server's mix of request threads, the engine, the alert sender and
SQLite, those free chunks are scattered, and the free-but-kept total creeps up: the resident
size grows although no more memory is in use (issue 16: +1.2 MiB over 50,000 instances, most
of a server's growth once its caches are full). `trim()` asks glibc to return every whole
free page (`malloc_trim(0)`, about 30 µs on a small process); `opcenter serve` and
`opcenter scheduler` call it every `TRIM_INTERVAL_SECONDS` (`Trimmer`), and cap the number of
malloc arenas at `ARENAS` before starting their threads (`cap_arenas`; issue 16's memory
benchmark: +3.2 MiB per 100,000 instances in the second half with the trim alone, +0.27 with
the cap, throughput unchanged).
Elsewhere than glibc both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable

__all__ = ["ARENAS", "TRIM_INTERVAL_SECONDS", "Trimmer", "cap_arenas", "trim"]

TRIM_INTERVAL_SECONDS = 10.0
# malloc arenas a server keeps (glibc's default: 8 per core): every thread that contends for
# one gets its own, and the free chunks scattered over many arenas are what the resident size
# keeps. Python's own objects come from its allocator; what goes through malloc here is mostly
# SQLite's, the drivers' and large buffers, for which two arenas do.
ARENAS = 2
_M_ARENA_MAX = -8


def _libc(name: str, *argtypes: type) -> Callable[..., int] | None:
    """The C library's function `name`, or None where it has none (musl, macOS)."""
    try:
        function = getattr(ctypes.CDLL(ctypes.util.find_library("c") or None), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = list(argtypes)
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


_TRIM = _libc("malloc_trim", ctypes.c_size_t)


def cap_arenas(count: int = ARENAS) -> bool:
    """Let malloc create at most `count` arenas from now on (call before starting threads);
    False where the C library has no `mallopt`."""
    mallopt = _libc("mallopt", ctypes.c_int, ctypes.c_int)
    return mallopt is not None and bool(mallopt(_M_ARENA_MAX, count))


def trim() -> bool:
    """Return the whole free pages malloc keeps to the operating system; False where the C
    library has no `malloc_trim`."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


class Trimmer:
    """`tick()` from a process's main loop trims at most every `interval` seconds."""

    def __init__(self, interval: float = TRIM_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self._due = time.monotonic() + interval

    def tick(self) -> None:
        now = time.monotonic()
        if now >= self._due:
            self._due = now + self.interval
            trim()
