"""Shell nodes (FileType 6): `bash <script file> argv…`, so `$1 $2 …` are the positional
parameters; the working directory is the attempt's own, the environment the clean job
environment (runners/environment.py) plus the spec's."""

from __future__ import annotations

from opcenter.runners.base import InstanceSpec
from opcenter.runners.environment import job_environment
from opcenter.runners.runner import Command

__all__ = ["SCRIPT_NAME", "ShellRunner"]

SCRIPT_NAME = "script.sh"


class ShellRunner:
    """Runs the code with bash (`bash` is looked up on PATH unless a path is given)."""

    def __init__(self, bash: str = "bash") -> None:
        self.bash = bash

    def prepare(self, spec: InstanceSpec) -> Command:
        script = spec.workdir / SCRIPT_NAME
        script.write_text(spec.code, encoding="utf-8")
        return Command(argv=(self.bash, str(script), *spec.argv), env=job_environment(spec.env))
