"""process_memory.trim gives the pages malloc keeps free back to the system (issue 16: the
server's resident size stays flat once its caches are full, although glibc keeps what its many
threads freed)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from opcenter import process_memory
from opcenter.process_memory import Trimmer, trim

MIB = 1024 * 1024


def _rss_anon() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, glibc's malloc")
def test_trim_returns_the_free_pages_malloc_kept() -> None:
    # Given 64 MiB of malloc'd blocks (bytes objects larger than pymalloc's 512), of which one
    # in sixteen stays alive: the rest is free, but kept by malloc between the live ones
    blocks = [bytes(4096) for _ in range(16 * 1024)]
    kept = blocks[::16]
    del blocks
    before = _rss_anon()
    # When trimmed
    assert trim()
    # Then most of the free pages left the process
    assert before - _rss_anon() > 32 * MIB
    assert len(kept) == 1024


def test_the_trimmer_trims_at_most_once_per_interval() -> None:
    trimmer = Trimmer(interval=3600)
    due = trimmer._due
    trimmer.tick()
    assert trimmer._due == due  # not due yet: nothing done
    trimmer._due = time.monotonic() - 1  # due: trims, and the next one is an interval away
    trimmer.tick()
    assert trimmer._due >= time.monotonic() + 3599


def test_the_arena_cap_is_accepted_by_the_c_library() -> None:
    # glibc (every Linux machine of this project) takes M_ARENA_MAX at run time
    assert process_memory.cap_arenas(process_memory.ARENAS)
