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

# (module, attribute) of every command or group; a module that is not written yet is skipped.
_COMMANDS = [
    ("opcenter.cli.params", "params"),
    ("opcenter.cli.authoring", "workspace"),
    ("opcenter.cli.authoring", "workflow"),
    ("opcenter.cli.authoring", "file"),
    ("opcenter.cli.authoring", "node"),
    ("opcenter.cli.definitions", "apply"),
    ("opcenter.cli.definitions", "export"),
    ("opcenter.cli.running", "run"),
    ("opcenter.cli.running", "dag"),
    ("opcenter.cli.running", "instance"),
    ("opcenter.cli.serve", "serve"),
    ("opcenter.cli.iam", "iam"),
    ("opcenter.cli.iam", "audit"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opcenter")
def cli() -> None:
    """opcenter: run manually triggered workflows, the DataWorks way."""


def _register() -> None:
    for module_name, attr in _COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        cli.add_command(getattr(module, attr))


_register()


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
