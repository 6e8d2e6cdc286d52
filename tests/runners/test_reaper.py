"""The reaper with real process groups: what it recognises as ours, and how it kills them."""

from __future__ import annotations

import dataclasses
import gc
import os
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from opcenter.runners.base import ProcessHandle
from opcenter.runners.reaper import alive, boot_id, group_alive, handle_of, reap, start_ticks
from tests.runners._support import process_gone, wait_for_lines

# A group whose leader ignores SIGTERM and whose two children record their pids.
_STUBBORN = "trap '' TERM; sleep 300 & echo $! >> {out}; sleep 300 & echo $! >> {out}; wait"


@pytest.fixture
def group(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], list[int]]]:
    out = tmp_path / "pids"
    proc = subprocess.Popen(["bash", "-c", _STUBBORN.format(out=out)], start_new_session=True)
    children = [int(pid) for pid in wait_for_lines(out, 2)]
    yield proc, children
    if proc.poll() is None:
        os.killpg(proc.pid, 9)
    proc.wait()


def test_handle_of_names_the_group_its_leader_and_this_boot(
    group: tuple[subprocess.Popen[bytes], list[int]],
) -> None:
    proc, _ = group
    handle = handle_of(proc.pid)

    assert handle is not None
    assert (handle.pgid, handle.start_ticks) == (proc.pid, start_ticks(proc.pid))
    assert handle.boot_id == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert alive(handle)


def test_reap_terminates_then_kills_a_group_given_a_leader_that_ignores_sigterm(
    group: tuple[subprocess.Popen[bytes], list[int]],
) -> None:
    proc, children = group
    handle = handle_of(proc.pid)
    assert handle is not None
    began = time.monotonic()

    assert reap(handle, grace_seconds=0.3) is True

    assert time.monotonic() - began >= 0.3  # the leader outlived SIGTERM: SIGKILL after grace
    assert not group_alive(proc.pid)
    assert all(process_gone(pid) for pid in [*children, proc.pid])
    assert not alive(handle)
    assert reap(handle, grace_seconds=0.3) is False  # nothing left to kill


def test_reap_kills_the_rest_of_a_group_given_its_leader_already_gone(tmp_path: Path) -> None:
    out = tmp_path / "pids"
    leader = subprocess.Popen(
        ["bash", "-c", f"sleep 300 & echo $! > {out}"], start_new_session=True
    )
    leader.wait()
    child = int(wait_for_lines(out, 1)[0])
    handle = ProcessHandle(leader.pid, 1, boot_id())  # the leader's start time no longer checks

    assert reap(handle, grace_seconds=1.0) is True
    assert process_gone(child)


@pytest.mark.parametrize(
    "change", [{"boot_id": "another-boot"}, {"start_ticks": -1}], ids=["boot", "start"]
)
def test_reap_leaves_a_group_alone_given_a_handle_that_is_not_ours(
    group: tuple[subprocess.Popen[bytes], list[int]], change: dict[str, object]
) -> None:
    proc, children = group
    handle = handle_of(proc.pid)
    assert handle is not None
    stranger = dataclasses.replace(handle, **change)  # type: ignore[arg-type]

    assert not alive(stranger)
    assert reap(stranger, grace_seconds=0.1) is False
    assert not any(process_gone(pid) for pid in [*children, proc.pid])


def test_group_alive_closes_its_proc_listing_given_a_live_group() -> None:
    # `any` stops at the first live member: the listing of /proc must still be closed.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert group_alive(os.getpgid(0))
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
