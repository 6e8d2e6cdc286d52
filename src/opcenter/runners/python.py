"""Python nodes (FileType 1322): `<interpreter> <script.py> argv…` (`sys.argv[1:]` is the spec's
argv); the working directory is the attempt's own, the environment the clean job environment
(runners/environment.py) plus the spec's. Output is unbuffered so the log follows the script as
it runs."""

from __future__ import annotations

import sys

from opcenter.runners.base import InstanceSpec
from opcenter.runners.environment import job_environment
from opcenter.runners.runner import Command

__all__ = ["SCRIPT_NAME", "PythonRunner"]

SCRIPT_NAME = "script.py"


class PythonRunner:
    """Runs the code with `interpreter` (default: the server's own Python)."""

    def __init__(self, interpreter: str | None = None) -> None:
        self.interpreter = interpreter or sys.executable

    def prepare(self, spec: InstanceSpec) -> Command:
        script = spec.workdir / SCRIPT_NAME
        script.write_text(spec.code, encoding="utf-8")
        env = job_environment({"PYTHONUNBUFFERED": "1", **spec.env})
        return Command(argv=(self.interpreter, str(script), *spec.argv), env=env)
