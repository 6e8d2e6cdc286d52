"""What every `opcenter` command module shares: the store of the data directory, the caller,
one-line errors, and output (rich tables for people, `--json` for machines).

    @group.command("get")
    @data_dir_option
    @json_option
    @one_line_errors
    def get(data_dir, as_json): ...
        with service_context(data_dir) as ctx:
            emit(service_fn(ctx, ...), as_json)

`one_line_errors` turns an `OpcenterError` into click's own one-line `Error: …` and exit code 1,
so the same holds under `CliRunner` (standalone mode) and the console script.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import getpass
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from opcenter.errors import OpcenterError
from opcenter.service.context import Caller, ServiceContext
from opcenter.settings import load_settings

__all__ = [
    "EXIT_FAILURE",
    "CommandFailed",
    "console",
    "current_caller",
    "data_dir_option",
    "emit",
    "json_option",
    "one_line_errors",
    "service_context",
    "to_plain",
]

EXIT_FAILURE = 1  # as opcenter.cli.EXIT_FAILURE (not imported: that module imports this one)
TABLE_WIDTH = 160  # columns when stdout is not a terminal, so piped tables do not wrap early

F = TypeVar("F", bound=Callable[..., Any])


class CommandFailed(click.ClickException):
    """An OpcenterError, shown as one `Error: …` line on stderr; exit code 1."""

    exit_code = EXIT_FAILURE


def one_line_errors(command: F) -> F:
    """Our own errors become one line on stderr and a non-zero exit, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except OpcenterError as exc:
            raise CommandFailed(exc.message) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def service_context(data_dir: Path | None) -> Iterator[ServiceContext]:
    """The migrated store of the data directory (`--data-dir`, else OPCENTER_DATA_DIR, else
    ./.opcenter; OPCENTER_DATABASE_URL overrides the store), released afterwards."""
    ctx = ServiceContext.open(load_settings(data_dir=data_dir))
    try:
        yield ctx
    finally:
        ctx.db.dispose()


def current_caller() -> Caller:
    """The operating-system user, recorded as owner / creator."""
    try:
        return Caller(name=getpass.getuser())
    except (KeyError, OSError):
        return Caller()


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (default: OPCENTER_DATA_DIR, else ./.opcenter).",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of a table."
)


def to_plain(value: Any) -> Any:
    """Dataclasses, enums, tuples and dates as JSON-ready values (enums by their value)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def console() -> Console:
    out = Console(highlight=False, soft_wrap=True)
    if not out.is_terminal:
        out = Console(highlight=False, soft_wrap=True, width=TABLE_WIDTH)
    return out


def _cell(value: Any) -> str:
    plain = to_plain(value)
    if isinstance(plain, list):
        return ",".join(str(v) for v in plain)
    return "" if plain is None else str(plain)


def _items_table(items: Sequence[Any], columns: Sequence[str] | None, title: str | None) -> Table:
    names = list(columns or [f.name for f in dataclasses.fields(items[0])])
    table = Table(*names, title=title)
    for item in items:
        table.add_row(*(_cell(getattr(item, name)) for name in names))
    return table


def _record_table(record: Any, title: str | None) -> Table:
    table = Table("field", "value", title=title, show_header=False)
    for f in dataclasses.fields(record):
        table.add_row(f.name, _cell(getattr(record, f.name)))
    return table


def emit(
    value: Any,
    as_json: bool,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Print a service result: JSON, or a table (a record as field/value rows; a list or a
    page as one row per item with `columns`; text as it is)."""
    if as_json:
        click.echo(json.dumps(to_plain(value), indent=2, ensure_ascii=False))
        return
    if value is None:
        return
    if isinstance(value, str):
        click.echo(value, nl=not value.endswith("\n"))
        return
    out = console()
    items = getattr(value, "items", value)
    if isinstance(items, list | tuple):
        if not items:
            out.print("(none)")
        else:
            out.print(_items_table(items, columns, title))
        if hasattr(value, "total_count"):
            out.print(
                f"page {value.page_number}, {len(items)} of {value.total_count}",
                style="dim",
            )
        return
    if dataclasses.is_dataclass(value):
        out.print(_record_table(value, title))
        return
    click.echo(str(value))
