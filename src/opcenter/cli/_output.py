"""What every `opcenter` command module shares: the store of the data directory, the caller,
the options every command spells the same way, one-line errors, and output (rich tables for
people, `--json` for machines).

    @group.command("get", short_help="Show a thing.")
    @data_dir_option
    @json_option
    @one_line_errors
    def get(data_dir, as_json): ...
        with service_context(data_dir) as ctx:
            emit(service_fn(ctx, ...), as_json)

`one_line_errors` turns an `OpcenterError` into click's own one-line `Error: …` and exit code 1,
so the same holds under `CliRunner` (standalone mode) and the console script.

Times: the store keeps epoch milliseconds. Tables show them as `yyyy-mm-dd hh:mm:ss` and
business dates as `yyyy-mm-dd`, both in the store's time zone (OPCENTER_TIMEZONE); `--json`
writes ISO 8601 (`2024-02-01T00:00:00.000+08:00`, `2024-01-31`).

Start-up time matters here (a listing should answer in a blink): the store, the service layer
and rich are imported only when a command uses them, never by importing this module.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from opcenter.errors import OpcenterError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from rich.console import Console
    from rich.table import Table

    from opcenter.service.context import Caller, ServiceContext

__all__ = [
    "DATA_DIR_HELP",
    "ENV_CHOICE",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "JSON_HELP",
    "WORKSPACE_HELP",
    "CommandFailed",
    "DateParam",
    "UpperChoice",
    "cli_words",
    "collect_garbage",
    "console",
    "current_caller",
    "data_dir_given",
    "data_dir_option",
    "echo_json",
    "emit",
    "env_option",
    "group_data_dir_option",
    "human_day",
    "human_time",
    "iso_time",
    "json_option",
    "lazy_module",
    "one_line_errors",
    "page_line",
    "paging_options",
    "service_context",
    "shorten",
    "shorten_message",
    "to_plain",
    "workspace_option",
]

EXIT_FAILURE = 1  # the operation failed (an OpcenterError, a failed run)
EXIT_USAGE = 2  # bad input on the command line (also click's own usage code)
TABLE_WIDTH = 160  # columns when stdout is not a terminal, so piped tables do not wrap early
LONGEST_ECHO = 60  # a value longer than this is shown cut, with its length

JSON_HELP = "Print JSON instead of text (times in ISO 8601)."
WORKSPACE_HELP = "Workspace identifier."
DATA_DIR_HELP = "Data directory (default: OPCENTER_DATA_DIR, else ./.opcenter)."
ENV_HELP = "Environment: PROD or DEV, in any case."

F = TypeVar("F", bound=Callable[..., Any])


# -- errors ---------------------------------------------------------------------------------------


class CommandFailed(click.ClickException):
    """An OpcenterError, shown as one `Error: …` line on stderr; exit code 1."""

    exit_code = EXIT_FAILURE


def shorten(text: str, limit: int = LONGEST_ECHO) -> str:
    """`text` itself, or its start and its length when it is longer than `limit`."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}… ({len(text)} characters)"


# A quoted value: opened and closed by a quote that is not inside a word ("workflow's").
# A quote followed by a blank closes a value, it never opens one ("'x' is empty: … workflows'").
_QUOTED = re.compile(
    rf"(?<!\w)('(?!\s)[^'\n]{{{LONGEST_ECHO},}}'|\"(?!\s)[^\"\n]{{{LONGEST_ECHO},}}\")(?!\w)"
)
_LONG_WORD = re.compile(rf"\S{{{LONGEST_ECHO * 2},}}")


def shorten_message(message: str) -> str:
    """An error message with every very long quoted value (or very long word) cut short: a
    name of 10,000 characters is named, not echoed."""
    message = _QUOTED.sub(lambda m: (q := m.group(0)[0]) + shorten(m.group(0)[1:-1]) + q, message)
    return _LONG_WORD.sub(lambda m: shorten(m.group(0), LONGEST_ECHO * 2), message)


# The service names things as the API does ("The workspace ProjectIdentifier='x'"); a person
# who typed `-w x` reads "The workspace 'x'".
_NAMED_BY_FIELD = re.compile(
    r"\b(The (?:workspace|workflow|file|node|Dag|instance|deployment)) [A-Z][A-Za-z]*(?:Id|Name|"
    r"Identifier)="
)
_IN_ENV = re.compile(r"\bin ProjectEnv=(['\"]?)(\w+)\1")  # "does not exist in PROD"
_ENV_FIELD = re.compile(r"\bProjectEnv=(['\"]?)(\w+)\1")  # "--env DEV is not available"


def cli_words(message: str) -> str:
    """A service error in the words of the command line (and never a very long name)."""
    message = _NAMED_BY_FIELD.sub(r"\1 ", message)
    message = _ENV_FIELD.sub(r"--env \2", _IN_ENV.sub(r"in \2", message))
    return shorten_message(message)


def one_line_errors(command: F) -> F:
    """Our own errors become one line on stderr and a non-zero exit, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except OpcenterError as exc:
            raise CommandFailed(cli_words(exc.message)) from None

    return wrapper  # type: ignore[return-value]


class OptionError(click.BadParameter):
    """`Error: --bizdate '2024/01/31' is not a date (…)`: the flag as typed, then the problem."""

    def __init__(
        self, message: str, ctx: click.Context | None, param: click.Parameter | None
    ) -> None:
        super().__init__(message, ctx, param)
        self.text = message

    def format_message(self) -> str:
        return self.text


def _flag(param: click.Parameter | None, ctx: click.Context | None) -> str:
    """The option as the user would type it (`--bizdate`), or an argument's name."""
    if param is None:
        return "value"
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return param.human_readable_name


_PLAIN_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})|(\d{4})(\d{2})(\d{2})", re.ASCII)


class DateParam(click.ParamType):
    """A business date typed as `yyyy-mm-dd` or `yyyymmdd`; a `datetime.date`."""

    name = "date"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "DATE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> dt.date:
        if isinstance(value, dt.date):
            return value
        text = str(value).strip()
        plain = _PLAIN_DATE.fullmatch(text)
        if plain is not None:  # the usual forms, without `strptime` (~5 ms of its import)
            try:
                return dt.date(*(int(part) for part in plain.groups() if part is not None))
            except ValueError:
                pass  # not a calendar date: `strptime` below says so as before
        for form in ("%Y-%m-%d", "%Y%m%d"):
            try:
                return dt.datetime.strptime(text, form).date()
            except ValueError:
                continue
        raise OptionError(
            f"{_flag(param, ctx)} {shorten(str(value))!r} is not a date (yyyy-mm-dd or yyyymmdd).",
            ctx,
            param,
        )


class UpperChoice(click.Choice):
    """One of upper-case `choices`, typed in any case; always the upper-case name. `what` names
    the kind of value in an error (`--env 'test' is not an environment (PROD or DEV).`)."""

    def __init__(self, choices: Sequence[str], what: str) -> None:
        super().__init__(list(choices), case_sensitive=False)
        self.what = what

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(str(c) for c in self.choices) + "]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value).strip()
        if text.upper() in self.choices:
            return text.upper()
        *first, last = (str(c) for c in self.choices)
        names = f"{', '.join(first)} or {last}" if first else last
        raise OptionError(
            f"{_flag(param, ctx)} {shorten(text)!r} is not {self.what} ({names}).", ctx, param
        )


ENV_CHOICE = UpperChoice(["PROD", "DEV"], "an environment")


# -- options --------------------------------------------------------------------------------------

# `--data-dir` is accepted right after `opcenter`, after a command group and after the command;
# the one nearest the command wins (click's context meta is shared down the chain).
_DATA_DIR_KEY = "opcenter.data_dir"


def _remember_data_dir(
    ctx: click.Context, _param: click.Parameter, value: Path | None
) -> Path | None:
    if value is not None:
        ctx.meta[_DATA_DIR_KEY] = value
    return value


_DATA_DIR_TYPE = click.Path(file_okay=False, path_type=Path)

data_dir_option = click.option(
    "--data-dir",
    type=_DATA_DIR_TYPE,
    default=None,
    metavar="DIR",
    callback=_remember_data_dir,
    help=DATA_DIR_HELP,
)
group_data_dir_option = click.option(
    "--data-dir",
    type=_DATA_DIR_TYPE,
    default=None,
    metavar="DIR",
    expose_value=False,
    is_eager=True,
    callback=_remember_data_dir,
    help=DATA_DIR_HELP,
)
json_option = click.option("--json", "as_json", is_flag=True, help=JSON_HELP)


def paging_options(command: F) -> F:
    """`--page N` (from 1) and `--page-size N` (1 to 100), as `page_number` and `page_size`."""
    command = click.option(
        "--page-size", type=click.IntRange(1, 100), default=20, show_default=True,
        help="Items per page (at most 100).",
    )(command)  # fmt: skip
    return click.option(
        "--page", "page_number", type=click.IntRange(min=1), default=1, show_default=True,
        help="Page number, from 1.",
    )(command)  # fmt: skip


def workspace_option(*, required: bool = False) -> Callable[[F], F]:
    """`-w/--workspace IDENTIFIER`, worded the same in every command."""
    return click.option(
        "-w", "--workspace", metavar="IDENTIFIER", required=required, help=WORKSPACE_HELP
    )


def env_option(default: str | None = "PROD", help: str = ENV_HELP) -> Callable[[F], F]:
    """`--env PROD|DEV` (any case) as the `project_env` parameter, always upper case."""
    return click.option(
        "--env",
        "project_env",
        type=ENV_CHOICE,
        default=default,
        show_default=default is not None,
        help=help,
    )


def data_dir_given(data_dir: Path | None = None) -> Path | None:
    """`--data-dir` of the command, else of its group or of `opcenter` itself, else None."""
    if data_dir is not None:
        return data_dir
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(_DATA_DIR_KEY) if ctx is not None else None


class _LazyModule:
    """A module imported on first use of one of its names."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import importlib

        return getattr(importlib.import_module(self._name), attr)


def lazy_module(name: str) -> Any:
    """`name`, imported only when a command first uses it (start-up time of the others)."""
    return _LazyModule(name)


# -- the store ------------------------------------------------------------------------------------

_zone: list[ZoneInfo] = []  # the store's time zone, once a command has opened the store


@contextmanager
def service_context(
    data_dir: Path | None = None, *, collect: bool = True
) -> Iterator[ServiceContext]:
    """The migrated store of the data directory (`--data-dir`, else OPCENTER_DATA_DIR, else
    ./.opcenter; OPCENTER_DATABASE_URL overrides the store), released afterwards. `collect`:
    turn the garbage collector back on now (`collect_garbage`); `run` does it itself once its
    run is created and its engine started, which allocate much and leave little garbage."""
    from opcenter.service.context import ServiceContext
    from opcenter.settings import load_settings

    ctx = ServiceContext.open(load_settings(data_dir=data_dir_given(data_dir)))
    if collect:
        collect_garbage()
    _zone[:] = [ctx.settings.tz]
    try:
        yield ctx
    finally:
        ctx.db.dispose()


def collect_garbage() -> None:
    """Turn the garbage collector back on, if the console script turned it off to start faster
    (importing allocates much and frees nothing); what lives now, the imported modules mostly,
    is left out of its sight for good (`gc.freeze`). Every command calls this once the store is
    open, before its real work; a server or a `run --wait` then collects as usual."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def current_caller() -> Caller:
    """The operating-system user, recorded as owner / creator."""
    from opcenter.service.context import Caller

    try:
        import getpass  # on use: it imports the terminal modules

        return Caller(name=getpass.getuser())
    except (KeyError, OSError):
        return Caller()


# -- times ----------------------------------------------------------------------------------------

# Fields holding epoch milliseconds, by name: `*_time` and `*_at` are moments (not
# `task_rerun_time`, a count of reruns left); these hold a day's start, shown as a date.
_DAY_FIELDS = frozenset({"bizdate", "gmtdate", "deploy_date"})
_NOT_TIMES = frozenset({"task_rerun_time"})


def _time_kind(name: str) -> str | None:
    if name in _NOT_TIMES:
        return None
    if name in _DAY_FIELDS:
        return "day"
    if name.endswith(("_time", "_at")):
        return "moment"
    return None


def _moment(ms: int) -> dt.datetime:
    zone = _zone[0] if _zone else None
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return moment.astimezone(zone) if zone is not None else moment.astimezone()


def human_time(ms: int | None) -> str:
    """`yyyy-mm-dd hh:mm:ss` in the store's time zone; `-` for none."""
    if ms is None:
        return "-"
    return _moment(ms).strftime("%Y-%m-%d %H:%M:%S")


def human_day(ms: int) -> str:
    """The calendar day of a day's start (a business date): `yyyy-mm-dd`."""
    return _moment(ms).date().isoformat()


def iso_time(ms: int | None) -> str | None:
    """ISO 8601 with milliseconds and the offset of the store's time zone."""
    if ms is None:
        return None
    return _moment(ms).isoformat(timespec="milliseconds")


def _time_value(name: str, value: Any, human: bool) -> Any:
    kind = _time_kind(name)
    if kind is None or not isinstance(value, int) or isinstance(value, bool):
        return value
    if kind == "day":
        return human_day(value)
    return human_time(value) if human else iso_time(value)


def to_plain(value: Any, *, human: bool = False) -> Any:
    """Dataclasses, enums, tuples and dates as JSON-ready values (enums by their value); epoch
    milliseconds of a time field as ISO 8601 (`human`: as a table shows them)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _time_value(f.name, to_plain(getattr(value, f.name), human=human), human)
            for f in dataclasses.fields(value)
        }
    if isinstance(value, dict):
        return {str(k): to_plain(v, human=human) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v, human=human) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def echo_json(value: Any) -> None:
    click.echo(json.dumps(to_plain(value), indent=2, ensure_ascii=False))


# -- tables ---------------------------------------------------------------------------------------


def console(width: int | None = None) -> Console:
    """A console for stdout: the terminal's width, else TABLE_WIDTH (piped output)."""
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=True, width=width)
    if width is None and not out.is_terminal:
        out = Console(highlight=False, soft_wrap=True, width=TABLE_WIDTH)
    return out


def _cell(name: str, value: Any) -> str:
    plain = _time_value(name, to_plain(value, human=True), True)
    if isinstance(plain, list):
        return ",".join(str(v) for v in plain)
    if plain is None:
        return "-" if _time_kind(name) else ""  # a time not reached yet
    return str(plain)


def _items_table(items: Sequence[Any], columns: Sequence[str] | None, title: str | None) -> Table:
    from rich.table import Table

    names = list(columns or [f.name for f in dataclasses.fields(items[0])])
    table = Table(*names, title=title)
    for item in items:
        table.add_row(*(_cell(name, getattr(item, name)) for name in names))
    return table


def _record_table(record: Any, title: str | None) -> Table:
    from rich.table import Table

    table = Table("field", "value", title=title, show_header=False)
    for f in dataclasses.fields(record):
        table.add_row(f.name, _cell(f.name, getattr(record, f.name)))
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
        echo_json(value)
        return
    if value is None:
        return
    if isinstance(value, str):
        click.echo(value, nl=not value.endswith("\n"))
        return
    items = getattr(value, "items", value)
    if isinstance(items, list | tuple):
        out = console()
        if not items:
            out.print("(none)")
        else:
            out.print(_items_table(items, columns, title))
        if hasattr(value, "total_count"):
            out.print(
                page_line(value.page_number, value.page_size, len(items), value.total_count),
                style="dim",
            )
        return
    if dataclasses.is_dataclass(value):
        console().print(_record_table(value, title))
        return
    click.echo(str(value))


def page_line(page_number: int, page_size: int, shown: int, total: int) -> str:
    """`page 2, 20 of 45` (and how to see the next page, when there is one)."""
    line = f"page {page_number}, {shown} of {total}"
    if page_number * page_size < total:
        line += f" (next: --page {page_number + 1})"
    return line
