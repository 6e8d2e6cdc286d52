"""Process groups as the store records them, and how a group left behind is killed.

Every attempt runs in a process group of its own, led by the process the executor started. The
executor reports the group as a `ProcessHandle` (group id, the leader's start time in clock ticks
since boot, the machine's boot id) and the engine records it with the instance. When a server
dies, the leader dies with it (parent-death signal, runners/attempt.py), but processes the job
started in the background live on in the group; the next engine start finds the recorded handle
and `reap`s the group before anything is rerun.

A handle is trusted only as far as it can be checked: a handle from another boot, or whose leader
pid now belongs to a process that started at another time, names somebody else's processes and
is left alone. (When the leader is gone but members of its group remain, the group id cannot have
been reused: Linux does not hand out a pid that is still a group's id.)
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import time
from collections.abc import Iterable

from opcenter.runners.base import ProcessHandle

__all__ = [
    "KILL_WAIT_SECONDS",
    "alive",
    "boot_id",
    "group_alive",
    "handle_of",
    "reap",
    "reap_all",
    "signal_group",
    "start_ticks",
    "wait_gone",
]

logger = logging.getLogger(__name__)

KILL_WAIT_SECONDS = 10.0  # longest wait for a group to vanish after SIGKILL (D state, setuid)
_POLL_SECONDS = 0.02


@functools.cache
def boot_id() -> str:
    """This machine's boot id ('' where /proc does not have one)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after "pid (comm)": state is [0], ppid [1], pgrp [2], and
    starttime (field 22 of the whole line) is [19]."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()
    except OSError:
        return None


def start_ticks(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot; None when there is no such process."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return None
    return int(fields[19])


def handle_of(pid: int) -> ProcessHandle | None:
    """The handle of the group that `pid` leads (just started with a new session); None where
    /proc cannot tell (not Linux), so the attempt runs without a recorded group."""
    ticks = start_ticks(pid)
    booted = boot_id()
    if ticks is None or not booted:
        return None
    return ProcessHandle(pgid=pid, start_ticks=ticks, boot_id=booted)


def signal_group(pgid: int, sig: int) -> None:
    """Send `sig` to every process of group `pgid`; a group already gone is fine."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
    except PermissionError as exc:  # a member changed its user (setuid); nothing more to do
        logger.warning("cannot signal process group %s: %s", pgid, exc)


def group_alive(pgid: int) -> bool:
    """Whether group `pgid` has a member that is not a zombie (zombies wait for whoever reaps
    orphans, which may take a while in a container, and are gone for every practical purpose)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc"):
        return True
    # The iterator is closed even when `any` stops early (an open one leaks a descriptor).
    with os.scandir("/proc") as entries:
        return any(_live_member(entry.name, pgid) for entry in entries)


def _live_member(name: str, pgid: int) -> bool:
    if not name.isdigit():
        return False
    fields = _stat_fields(int(name))
    return fields is not None and len(fields) > 2 and _counts(fields) and fields[2] == str(pgid)


def _counts(fields: list[str]) -> bool:
    return fields[0] not in ("Z", "X")


def ours(handle: ProcessHandle) -> bool:
    """Whether `handle` can still name our group: same boot, and its leader pid, if it still
    exists as a live process, is the process that started at the recorded time."""
    if handle.boot_id != boot_id():
        return False
    fields = _stat_fields(handle.pgid)
    if fields is None or len(fields) < 20 or not _counts(fields):
        return True  # the leader is gone (or a zombie): any remaining members are its group's
    return int(fields[19]) == handle.start_ticks


def alive(handle: ProcessHandle) -> bool:
    """Whether the recorded group is ours and still has a live member."""
    return ours(handle) and group_alive(handle.pgid)


def reap(handle: ProcessHandle, grace_seconds: float) -> bool:
    """Kill the recorded group if it is ours and alive: SIGTERM, up to `grace_seconds` for it to
    end, then SIGKILL; returns once it is gone. True when something was killed."""
    return bool(reap_all([handle], grace_seconds))


def reap_all(handles: Iterable[ProcessHandle], grace_seconds: float) -> list[ProcessHandle]:
    """`reap` several groups with one grace period for all; returns those that were alive."""
    live = [h for h in handles if alive(h)]
    for handle in live:
        signal_group(handle.pgid, signal.SIGTERM)
    pgids = [h.pgid for h in live]
    wait_gone(pgids, grace_seconds)
    for pgid in pgids:
        if group_alive(pgid):
            signal_group(pgid, signal.SIGKILL)
    if not wait_gone(pgids, KILL_WAIT_SECONDS):
        left = [pgid for pgid in pgids if group_alive(pgid)]
        logger.warning("process groups %s did not end after SIGKILL", left)
    return live


def wait_gone(pgids: Iterable[int], seconds: float) -> bool:
    """Wait up to `seconds` for every group of `pgids` to be gone; whether they all are."""
    deadline = time.monotonic() + seconds
    waiting = list(pgids)
    while waiting := [pgid for pgid in waiting if group_alive(pgid)]:
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True
