"""The runner port: how one node type turns an `InstanceSpec` into a command.

A runner prepares the attempt's files in `spec.workdir` (already created by the executor) and
returns the `Command` to start, or None when the node type needs no process. Executors (the
local pool now, Celery workers later) start the command in its own process group, capture its
output into the log and enforce stop and timeout, so every node type behaves the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from opcenter.runners.base import InstanceSpec

__all__ = ["Command", "Runner", "RunnerError"]


class RunnerError(Exception):
    """Raised by `Runner.prepare` when the attempt cannot be started (e.g. a SQL node without a
    connection); the executor reports it as a FAILURE with this message."""


@dataclass(frozen=True)
class Command:
    """A process to start: its argument vector and its complete environment."""

    argv: tuple[str, ...]
    env: dict[str, str]


class Runner(Protocol):
    """Turns a spec of one node type into a command."""

    def prepare(self, spec: InstanceSpec) -> Command | None:
        """Write what the attempt needs into `spec.workdir` and return the command to start, or
        None when nothing has to run (the attempt succeeds at once). Raises `RunnerError` (or
        OSError) when the attempt cannot be prepared."""
        ...
