"""One engine per data directory: an exclusive `flock` on `<data_dir>/engine.lock`.

The kernel releases the lock when the holding process ends, however it ends (SIGKILL too), so a
crashed engine never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["EngineLock", "FileLeadership"]


class EngineLock:
    """The data directory's engine lock. `acquire()` never blocks."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "engine.lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock; False when another process (or another EngineLock) holds it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def is_free(self) -> bool:
        """True when no engine holds the lock right now (a probe: takes and drops it)."""
        if self._fd is not None:
            return False
        if not self.acquire():
            return False
        self.release()
        return True


class FileLeadership:
    """Leadership over one data directory's `EngineLock`, with the three methods the engine
    uses (`acquire`, `held`, `release`). The stand-in used when `engine/leader.py` (leadership
    held in the store itself) is not available."""

    def __init__(self, data_dir: Path) -> None:
        self._lock = EngineLock(data_dir)

    def acquire(self) -> bool:
        """Never blocks; False when another engine leads."""
        return self._lock.acquire()

    def held(self) -> bool:
        """A flock stays ours as long as its descriptor is open."""
        return self._lock.held

    def release(self) -> None:
        self._lock.release()
