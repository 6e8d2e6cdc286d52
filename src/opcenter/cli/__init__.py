"""The `opcenter` command: a thin shell over the service layer.

Each command group lives in its own module below this package and is registered here.
Expected failures print one line `Error: ...` and exit with a named code.
"""

from __future__ import annotations

import importlib

import click

from opcenter.errors import OpcenterError

__all__ = ["EXIT_FAILURE", "EXIT_USAGE", "cli", "main"]

EXIT_FAILURE = 1  # the operation failed (an OpcenterError, a failed run)
EXIT_USAGE = 2  # bad input on the command line (also click's own usage code)

# The module of every top-level command; each is imported only when that command runs (a CLI
# call pays for what it uses: `opcenter run` does not import the HTTP server).
_COMMANDS = {
    "apply": "opcenter.cli.definitions",
    "audit": "opcenter.cli.iam",
    "dag": "opcenter.cli.running",
    "export": "opcenter.cli.definitions",
    "file": "opcenter.cli.authoring",
    "gc": "opcenter.cli.gc",
    "iam": "opcenter.cli.iam",
    "instance": "opcenter.cli.running",
    "node": "opcenter.cli.authoring",
    "params": "opcenter.cli.params",
    "run": "opcenter.cli.running",
    "serve": "opcenter.cli.serve",
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
        command = getattr(importlib.import_module(module_name), cmd_name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opcenter")
def cli() -> None:
    """opcenter: run manually triggered workflows, the DataWorks way."""


def main() -> None:
    """Console-script entry point: our own errors become one line and a non-zero exit."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        raise SystemExit(EXIT_FAILURE) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except OpcenterError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        raise SystemExit(EXIT_FAILURE) from None
