"""The runner for each runnable FileType; executors pick runners here."""

from __future__ import annotations

from opcenter.domain.model import FileType
from opcenter.runners.python import PythonRunner
from opcenter.runners.runner import Runner
from opcenter.runners.shell import ShellRunner
from opcenter.runners.sql import SqlRunner
from opcenter.runners.virtual import VirtualRunner

__all__ = ["default_runners"]


def default_runners(*, python: str | None = None, bash: str = "bash") -> dict[int, Runner]:
    """One runner per runnable node type, keyed by FileType code; `python` is the interpreter
    for Python nodes (default: the server's own), `bash` the shell for Shell nodes."""
    return {
        FileType.DIDE_SHELL: ShellRunner(bash),
        FileType.PYTHON: PythonRunner(python),
        FileType.ODPS_SQL: SqlRunner(),
        FileType.VIRTUAL: VirtualRunner(),
    }
