"""`opcenter params …`: preview the scheduling-parameter language without running anything."""

from __future__ import annotations

import datetime as dt

import click

from opcenter.cli._output import OptionError, shorten
from opcenter.domain.params import (
    EvalContext,
    merge_params,
    resolve_params,
    validate_params,
    validate_workflow_params,
)
from opcenter.errors import InvalidParameter

__all__ = ["params"]

EXIT_USAGE = 2  # a malformed expression is bad input on the command line

# Each form the option accepts, and how its help and its errors spell it.
_DATE_FORMATS = {
    "%Y-%m-%d": "yyyy-mm-dd",
    "%Y%m%d": "yyyymmdd",
    "%Y-%m-%d %H:%M:%S": "'yyyy-mm-dd 00:00:00'",
}
_DATETIME_FORMATS = {
    "%Y-%m-%d %H:%M:%S": "'yyyy-mm-dd hh:mm:ss'",
    "%Y-%m-%dT%H:%M:%S": "yyyy-mm-ddThh:mm:ss",
    "%Y%m%d%H%M%S": "yyyymmddhhmmss",
    "%Y-%m-%d %H:%M": "'yyyy-mm-dd hh:mm'",
}


class _BadExpression(click.ClickException):
    """Printed as one `Error: …` line on stderr; exit code 2."""

    exit_code = EXIT_USAGE


class _Moment(click.ParamType):
    """A date (`2020-11-10`) or a date and time (`2020-11-11 00:00:00`)."""

    def __init__(self, formats: dict[str, str], *, date_only: bool) -> None:
        self.formats = formats
        self.date_only = date_only
        self.name = "date" if date_only else "datetime"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> dt.date | dt.datetime:
        if isinstance(value, dt.date):
            return value
        for fmt in self.formats:
            try:
                parsed = dt.datetime.strptime(str(value), fmt)
            except ValueError:
                continue
            return parsed.date() if self.date_only else parsed
        what = "a date" if self.date_only else "a date and time"
        *first, last = self.formats.values()
        forms = f"{', '.join(first)} or {last}"
        flag = max(param.opts, key=len) if isinstance(param, click.Option) else "value"
        raise OptionError(f"{flag} {shorten(str(value))!r} is not {what} ({forms}).", ctx, param)


def _no_short_w(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> None:
    if values:
        raise click.UsageError(
            "-w names a workspace in opcenter's other commands; give a workflow parameter "
            "here as --dag-param KEY=VALUE."
        )


def _workflow_param(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", ctx, param)
        pairs[key] = rest
    return pairs


@click.group(short_help="Preview the scheduling-parameter language.")
def params() -> None:
    """The DataWorks scheduling-parameter language ($bizdate, ${yyyymmdd-1}, $[hh24-1/24] …)."""


@params.command("eval", short_help="Print the value of parameter expressions.")
@click.option(
    "--bizdate",
    type=_Moment(_DATE_FORMATS, date_only=True),
    default=None,
    help="Business date: yyyy-mm-dd, yyyymmdd or 'yyyy-mm-dd 00:00:00'. Default: yesterday.",
)
@click.option(
    "--cyctime",
    type=_Moment(_DATETIME_FORMATS, date_only=False),
    default=None,
    help="Scheduled time: 'yyyy-mm-dd hh:mm:ss'. Default: the manual-run rule, the day after "
    "the business date at 00:00:00.",
)
@click.option("--node-id", type=int, default=None, help="Node id, the value of $nodeid.")
@click.option("--dag-id", type=int, default=None, help="DAG id, the value of $jobid.")
@click.option("--instance-id", type=int, default=None, help="Instance id, the value of $taskid.")
@click.option(
    "--dag-param",
    "--workflow-param",
    "workflow",
    multiple=True,
    callback=_workflow_param,
    metavar="KEY=VALUE",
    help="A workflow parameter (as `run --dag-param` passes it); it overrides a parameter of the "
    "same name and may be referenced as ${KEY}. Repeatable.",
)
@click.option("-w", "short_w", multiple=True, hidden=True, expose_value=False, callback=_no_short_w)
@click.argument("expressions", nargs=-1, required=True, metavar="EXPR…")
def eval_command(
    bizdate: dt.date | None,
    cyctime: dt.datetime | None,
    node_id: int | None,
    dag_id: int | None,
    instance_id: int | None,
    workflow: dict[str, str],
    expressions: tuple[str, ...],
) -> None:
    """Print the value of each EXPR, one a line, in order.

    An EXPR that is one expression (`$bizdate`, `${yyyymm}01`, `$[hh24-1/24]`) prints its value.
    An EXPR that is a parameter string (`'dt=$bizdate region=cn'`, or several space-separated
    pieces) prints one `key=value` line per parameter, positional pieces as `$1=value`,
    `$2=value` …, after merging the workflow parameters (--dag-param) over it, exactly as an
    instance would receive them.

    Exit status: 0 when every EXPR was evaluated; 2, with one `Error: …` line, for a malformed
    expression, a value out of range or a bad option.

    \b
    Example:
      opcenter params eval --bizdate 2020-11-10 '${yyyymmdd-1}' 'dt=$bizdate h=$[hh24-1/24]'
      20201109
      dt=20201110
      h=23
    """
    day = bizdate if bizdate is not None else dt.date.today() - dt.timedelta(days=1)
    try:
        ctx = EvalContext(day, cyctime, node_id=node_id, dag_id=dag_id, instance_id=instance_id)
        checked = validate_workflow_params(workflow)
        lines = [line for text in expressions for line in _evaluate(text, ctx, checked)]
    except InvalidParameter as exc:
        raise _BadExpression(exc.message) from None
    for line in lines:
        click.echo(line)


def _evaluate(text: str, ctx: EvalContext, workflow: dict[str, str]) -> list[str]:
    parsed = validate_params(text)
    if not parsed.pieces:
        raise InvalidParameter(f'Invalid parameter "{text}": empty expression')
    resolved = resolve_params(merge_params(parsed, None, workflow), ctx)
    if len(parsed.pieces) == 1 and parsed.pieces[0].positional:
        return [resolved.positional[0]]
    return [
        f"${item + 1}={resolved.positional[item]}"
        if isinstance(item, int)
        else f"{item}={resolved.named[item]}"
        for item in resolved.order
    ]
