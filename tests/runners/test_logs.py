from __future__ import annotations

import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest

from opcenter.runners.logs import (
    CappedLog,
    append_log_line,
    format_log_line,
    log_size,
    read_log,
    read_log_page,
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


def test_read_log_page_returns_a_window_and_the_size_given_offset_and_limit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "1.log"
    path.write_bytes(b"abcdefghij")

    assert read_log_page(path, 3, 4) == (b"defg", 10)
    assert read_log_page(path, 8, 100) == (b"ij", 10)
    assert read_log_page(path, 20, 4) == (b"", 10)
    assert read_log_page(path, -3, 100) == (b"hij", 10)  # negative: from the end
    assert read_log_page(path, -30, 4) == (b"abcd", 10)
    assert read_log_page(tmp_path / "none.log", 0, 4) == (b"", 0)


def test_read_log_page_stops_before_a_cut_character_given_utf8_across_pages(
    tmp_path: Path,
) -> None:
    path = tmp_path / "1.log"
    text = "aé€𝄞b" * 3
    path.write_text(text, encoding="utf-8")
    pages, at = [], 0
    while at < log_size(path):
        data, _ = read_log_page(path, at, 4)
        pages.append(data.decode("utf-8"))  # strict: no page ends inside a character
        at += len(data)

    assert "".join(pages) == text
    assert read_log_page(path, 0, 2)[0] == b"a"  # 'é' (2 bytes) would be cut: left out
    assert read_log_page(path, 1, 1)[0] == "é".encode()[:1]  # nothing whole fits: moves on


def test_read_log_page_reads_only_the_page_given_a_large_log(tmp_path: Path) -> None:
    path = tmp_path / "1.log"
    with open(path, "wb") as log:
        log.truncate(64 * 1024 * 1024)  # sparse: 64 MiB of zeros without writing them
        log.seek(0, 2)
        log.write(b"the end\n")
    tracemalloc.start()
    try:
        data, size = read_log_page(path, -8, 8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert (data, size) == (b"the end\n", 64 * 1024 * 1024 + 8)
    assert peak < 1024 * 1024
