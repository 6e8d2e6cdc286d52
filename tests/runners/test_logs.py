from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from opcenter.runners.logs import (
    CappedLog,
    append_log_line,
    format_log_line,
    log_size,
    read_log,
    tail_log,
)

NOW = datetime(2026, 11, 28, 20, 15, 1)


def test_format_log_line_stamps_and_tags_given_a_time() -> None:
    assert format_log_line("started", NOW) == "2026-11-28 20:15:01 [opcenter] started\n"


def test_append_log_line_creates_the_folder_given_a_new_path(tmp_path: Path) -> None:
    log = tmp_path / "a" / "b" / "1.log"

    append_log_line(log, "queued", now=NOW)

    assert log.read_text() == "2026-11-28 20:15:01 [opcenter] queued\n"


def test_append_log_line_starts_a_new_line_given_output_without_newline(tmp_path: Path) -> None:
    log = tmp_path / "1.log"
    log.write_text("partial")

    append_log_line(log, "stopped by alice", now=NOW)

    assert log.read_text() == "partial\n2026-11-28 20:15:01 [opcenter] stopped by alice\n"


def test_capped_log_keeps_cap_bytes_and_notes_once_given_more_output(tmp_path: Path) -> None:
    path = tmp_path / "1.log"
    path.write_text("header\n")

    with CappedLog(path, cap_bytes=10) as log:
        log.write(b"0123456")
        log.write(b"789abc")
        log.write(b"more")

    lines = path.read_text().splitlines()
    assert lines[:2] == ["header", "0123456789"]
    assert lines[2].endswith(" [opcenter] log truncated at 10 bytes")
    assert len(lines) == 3


def test_capped_log_writes_everything_given_output_under_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "1.log"

    with CappedLog(path, cap_bytes=100) as log:
        log.write(b"line 1\n")
        log.write(b"line 2\n")

    assert path.read_text() == "line 1\nline 2\n"


def test_read_log_returns_the_window_given_offset_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "1.log"
    path.write_text("abcdefghij")

    assert read_log(path) == "abcdefghij"
    assert read_log(path, offset=3, limit=4) == "defg"
    assert read_log(path, offset=20) == ""
    assert log_size(path) == 10


def test_read_log_returns_empty_given_a_missing_file(tmp_path: Path) -> None:
    assert read_log(tmp_path / "none.log") == ""
    assert tail_log(tmp_path / "none.log", 100) == ""
    assert log_size(tmp_path / "none.log") == 0


def test_read_log_fails_given_a_negative_offset(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="offset=-1"):
        read_log(tmp_path / "1.log", offset=-1)


def test_read_log_replaces_bad_bytes_given_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "1.log"
    path.write_bytes(b"ok \xff end")

    assert read_log(path) == "ok \ufffd end"


def test_tail_log_drops_the_partial_first_line_given_a_cut_window(tmp_path: Path) -> None:
    path = tmp_path / "1.log"
    path.write_text("first line\nsecond line\nthird\n")

    assert tail_log(path, 15) == "third\n"
    assert tail_log(path, 1000) == "first line\nsecond line\nthird\n"
