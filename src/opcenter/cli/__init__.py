"""The `opcenter` command: a thin shell over the service layer.

Each command group lives in its own module below this package and is registered here.
Expected failures print one line `Error: …` and exit with a named code.
"""

from __future__ import annotations

import gc as _collector  # not `gc`: the `opcenter gc` module takes that name here
import importlib
from typing import Any

import click

from opcenter.cli import _deferred
from opcenter.cli._output import (
    EXIT_FAILURE,
    EXIT_USAGE,
    group_data_dir_option,
    shorten_message,
)
from opcenter.errors import OpcenterError

__all__ = ["EXIT_FAILURE", "EXIT_USAGE", "cli", "main"]

# The module of every top-level command; each is imported only when that command runs (a CLI
# call pays for what it uses: `opcenter run` does not import the HTTP server).
_COMMANDS = {
    "alert": "opcenter.cli.alerts",
    "apply": "opcenter.cli.definitions",
    "audit": "opcenter.cli.iam",
    "dag": "opcenter.cli.running",
    "db": "opcenter.cli.db",
    "export": "opcenter.cli.definitions",
    "file": "opcenter.cli.authoring",
    "gc": "opcenter.cli.gc",
    "iam": "opcenter.cli.iam",
    "instance": "opcenter.cli.running",
    "node": "opcenter.cli.authoring",
    "params": "opcenter.cli.params",
    "remind": "opcenter.cli.alerts",
    "run": "opcenter.cli.running",
    "scheduler": "opcenter.cli.scheduler",
    "serve": "opcenter.cli.serve",
    "worker": "opcenter.cli.worker",
    "workflow": "opcenter.cli.authoring",
    "workspace": "opcenter.cli.authoring",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = _COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        # A command's imports are most of a short command's time; the collector has nothing
        # to free while modules load, so it waits until they are in.
        collecting = _collector.isenabled()
        _collector.disable()
        try:
            command = getattr(importlib.import_module(module_name), cmd_name)
        finally:
            if collecting:
                _collector.enable()
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            exc.message = shorten_message(exc.message)  # a 10,000-character name is not echoed
            raise


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opcenter")
@group_data_dir_option
def cli() -> None:
    """opcenter: run manually triggered workflows, the DataWorks way.

    `--data-dir DIR` may be given here, after a command group, or after the command.
    """


def main(*, exit_at_once: bool = True) -> None:
    """Console-script entry point: our own errors become one line and a non-zero exit.

    The garbage collector is off while the command's modules load (they allocate much and free
    nothing): a short command starts faster. `_output.collect_garbage` turns it back on as soon
    as the store is open, so a long-running command (serve, run --wait) collects as usual.

    `exit_at_once`: once the command is done, the process ends without tearing the interpreter
    down (`_exit_at_once`); a caller that goes on afterwards (a test) passes False."""
    try:
        _main()
    except SystemExit as exc:
        if exit_at_once:
            _exit_at_once(exc.code)
        raise
    if exit_at_once:
        _exit_at_once(0)


def _exit_at_once(code: object) -> None:
    """End the process now with `code` (as `sys.exit` would), skipping the interpreter's
    teardown: freeing every object of SQLAlchemy, the models and the engine one by one costs a
    short command tens of milliseconds (60-80 ms of CPU for `run --wait` on a 2-core machine)
    and frees nothing the kernel would not. What a normal exit does that matters is done first:
    the `atexit` functions (logging's flush among them) and flushing stdout and stderr. When a
    non-daemon thread still runs (the normal exit would wait for it), or the code is not a
    number, or a stream cannot be flushed (a closed pipe), the normal exit happens instead."""
    import atexit
    import os
    import sys
    import threading

    if code is not None and not isinstance(code, int):
        return
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code or 0)


def _main() -> None:
    _collector.disable()
    _deferred.defer("importlib.metadata")  # SQLAlchemy imports it, opcenter never uses it
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        raise SystemExit(EXIT_FAILURE) from None
    except click.ClickException as exc:
        exc.message = shorten_message(exc.message)
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except OpcenterError as exc:
        click.echo(f"Error: {shorten_message(exc.message)}", err=True)
        raise SystemExit(EXIT_FAILURE) from None
