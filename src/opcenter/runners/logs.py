"""Instance logs: one plain file per attempt, written capped, readable while it grows.

Writers append (the engine may have written header lines before the process starts); every write
goes straight to the file with `os.write`, so a reader sees output as soon as the process emits
it. Lines opcenter writes itself carry a time stamp and the tag `[opcenter]`.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

__all__ = [
    "LOG_TAG",
    "CappedLog",
    "append_log_line",
    "format_log_line",
    "log_size",
    "read_log",
    "read_log_page",
    "tail_log",
]

LOG_TAG = "[opcenter]"
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT  # read: the last byte, with pread
_FILE_MODE = 0o644


def format_log_line(text: str, now: datetime | None = None) -> str:
    """`2026-11-28 20:15:01 [opcenter] <text>` with a trailing newline; `now` defaults to the
    machine's local time."""
    stamp = (now or datetime.now().astimezone()).strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp} {LOG_TAG} {text}\n"


def _open_append(path: Path) -> int:
    """Open for appending (and reading the last byte), creating the folder only when missing:
    the common case costs one system call."""
    try:
        return os.open(path, _OPEN_FLAGS, _FILE_MODE)
    except (FileNotFoundError, NotADirectoryError):  # mkdir raises the telling error
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, _OPEN_FLAGS, _FILE_MODE)


def _last_byte_of(fd: int) -> bytes:
    """The last byte of the open file; a newline for an empty one."""
    size = os.fstat(fd).st_size
    return os.pread(fd, 1, size - 1) if size else b"\n"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        done = os.write(fd, view)
        view = view[done:]


def append_log_line(path: Path, text: str, *, now: datetime | None = None) -> None:
    """Append one time-stamped `[opcenter]` line to the log at `path` (created with its folder
    if missing). If the log does not end with a newline, the line starts on a new one.
    Raises OSError when the file cannot be written."""
    line = format_log_line(text, now).encode("utf-8")
    fd = _open_append(Path(path))
    try:
        if _last_byte_of(fd) != b"\n":
            line = b"\n" + line
        _write_all(fd, line)
    finally:
        os.close(fd)


class CappedLog:
    """An append-only log that keeps at most `cap_bytes` of one attempt's output.

    Bytes past the cap are discarded, and one note line `[opcenter] log truncated at N bytes` is
    written when the cap is first reached. The cap counts only what this writer receives, not
    header lines already in the file. Not thread-safe: one supervising thread writes.
    """

    def __init__(self, path: Path, cap_bytes: int) -> None:
        if cap_bytes < 0:
            raise ValueError(f"cap_bytes must be >= 0, got {cap_bytes}")
        self.path = Path(path)
        self.cap_bytes = cap_bytes
        self.written = 0
        self.truncated = False
        self._fd: int | None = _open_append(self.path)
        self._last = _last_byte_of(self._fd)

    def write(self, data: bytes) -> None:
        """Append `data`, or the part of it that still fits under the cap."""
        if self.truncated or not data or self._fd is None:
            return
        room = self.cap_bytes - self.written
        kept = data[:room]
        if kept:
            self._write_all(kept)
            self.written += len(kept)
        if len(kept) < len(data):
            self.truncated = True
            self.line(f"log truncated at {self.cap_bytes} bytes")

    def line(self, text: str) -> None:
        """Append one time-stamped `[opcenter]` line (not counted against the cap)."""
        if self._fd is None:
            return
        prefix = b"" if self._last == b"\n" else b"\n"
        self._write_all(prefix + format_log_line(text).encode("utf-8"))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _write_all(self, data: bytes) -> None:
        assert self._fd is not None
        _write_all(self._fd, data)
        self._last = data[-1:]

    def __enter__(self) -> CappedLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def log_size(path: Path) -> int:
    """The log's size in bytes; 0 when it does not exist (yet)."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def read_log(path: Path, offset: int = 0, limit: int | None = None) -> str:
    """The log from byte `offset`, at most `limit` bytes (all when None), decoded as UTF-8 with
    undecodable bytes replaced. Returns "" when the file does not exist (yet) or `offset` is past
    its end. Safe while the log is being written."""
    if offset < 0 or (limit is not None and limit < 0):
        raise ValueError(f"offset and limit must be >= 0, got offset={offset}, limit={limit}")
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read() if limit is None else log.read(limit)
    except FileNotFoundError:
        return ""
    return data.decode("utf-8", errors="replace")


def read_log_page(path: Path, offset: int, limit: int) -> tuple[bytes, int]:
    """At most `limit` bytes of the log from byte `offset` (a negative `offset` counts from the
    end: the last `-offset` bytes), and the log's size when read. Reads only the page, never
    the whole file; returns (b"", 0) when the file does not exist (yet). A page that stops inside
    a UTF-8 character stops before it instead, so pages decode cleanly one after another."""
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    try:
        with open(path, "rb") as log:
            size = os.fstat(log.fileno()).st_size
            start = max(0, size + offset) if offset < 0 else offset
            log.seek(start)
            data = log.read(limit)
    except FileNotFoundError:
        return b"", 0
    if start + len(data) < size:
        data = data[: _complete_utf8(data)]
    return data, size


def _complete_utf8(data: bytes) -> int:
    """The length of `data` without a UTF-8 sequence cut at its end (all of it when that would
    leave nothing, so a reader always moves on)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: the sequence starts further back
            continue
        needed = (
            2
            if byte >> 5 == 0b110
            else 3
            if byte >> 4 == 0b1110
            else 4
            if byte >> 3 == 0b11110
            else 1
        )
        return len(data) - back if needed > back and back < len(data) else len(data)
    return len(data)


def tail_log(path: Path, max_bytes: int) -> str:
    """The end of the log, at most `max_bytes`; when the file is longer, the text starts after
    the first line break inside that window, so no partial line is shown (unless the window
    holds no line break at all). Returns "" when the file does not exist (yet)."""
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
    size = log_size(path)
    start = max(0, size - max_bytes)
    try:
        with open(path, "rb") as log:
            log.seek(start)
            data = log.read(max_bytes)
    except FileNotFoundError:
        return ""
    if start > 0:
        cut = data.find(b"\n")
        if 0 <= cut < len(data) - 1:
            data = data[cut + 1 :]
    return data.decode("utf-8", errors="replace")
