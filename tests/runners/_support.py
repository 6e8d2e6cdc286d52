"""Helpers for the runner tests: an event recorder and log/process probes."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from opcenter.runners.base import InstanceResult, InstanceSpec, ProcessHandle
from opcenter.runners.local import LocalExecutor

SHELL, SQL, VIRTUAL, PYTHON = 6, 10, 99, 1322
TEST_GRACE_SECONDS = 0.5

SpecFactory = Callable[..., InstanceSpec]


class Recorder:
    """Records executor events in order, thread-safe; tests wait on it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[int, int], float]] = []
        self.results: dict[tuple[int, int], list[InstanceResult]] = {}
        self.processes: dict[tuple[int, int], ProcessHandle | None] = {}
        self._cond = threading.Condition()

    def on_started(self, instance_id: int, attempt: int, process: ProcessHandle | None) -> None:
        with self._cond:
            self.processes[(instance_id, attempt)] = process
            self.events.append(("started", (instance_id, attempt), time.monotonic()))
            self._cond.notify_all()

    def on_finished(self, result: InstanceResult) -> None:
        with self._cond:
            key = (result.instance_id, result.attempt)
            self.events.append(("finished", key, time.monotonic()))
            self.results.setdefault(key, []).append(result)
            self._cond.notify_all()

    def started(self) -> list[int]:
        with self._cond:
            return [key[0] for kind, key, _ in self.events if kind == "started"]

    def wait_started(self, instance_id: int, timeout: float = 5.0) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: instance_id in self.started(), timeout)
        assert ok, f"instance {instance_id} did not start within {timeout} s"

    def wait_finished(
        self, instance_id: int, attempt: int = 1, timeout: float = 5.0
    ) -> InstanceResult:
        key = (instance_id, attempt)
        with self._cond:
            ok = self._cond.wait_for(lambda: key in self.results, timeout)
            assert ok, f"instance {instance_id} did not finish within {timeout} s"
            return self.results[key][0]

    def time_of(self, kind: str, instance_id: int) -> float:
        with self._cond:
            return next(t for k, key, t in self.events if k == kind and key[0] == instance_id)


def run_one(executor: LocalExecutor, recorder: Recorder, spec: InstanceSpec) -> InstanceResult:
    executor.submit(spec)
    return recorder.wait_finished(spec.instance_id, spec.attempt, timeout=spec.timeout_seconds + 5)


def body(spec: InstanceSpec) -> list[str]:
    """The log's lines without the time stamp of `[opcenter]` lines."""
    lines = spec.log_path.read_text(encoding="utf-8").splitlines()
    return [line[20:] if line[19:31] == " [opcenter] " else line for line in lines]


def process_gone(pid: int) -> bool:
    """True when `pid` does not exist or is a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def wait_for_lines(path: Path, count: int, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().split()
            if len(lines) >= count:
                return lines
        time.sleep(0.02)
    raise AssertionError(f"{path} did not get {count} lines within {timeout} s")
