"""`opcenter remind …` (custom alert rules) and `opcenter alert …` (the alert messages they
raised), over the service functions of CreateRemind, GetRemind, ListReminds, UpdateRemind,
DeleteRemind, ListAlertMessages and GetAlertMessage (service/reminds.py; docs/alerts.md).

The options are the rule's fields in command-line words: `--unit project|workflow|node`
(PROJECT, BIZPROCESS, NODE), `--workflow NAME` (a BusinessId works too), `--node ID`,
`--type`, `--timeout 30m` / `--at HH:MM` (the `Detail` of TIMEOUT / UNFINISHED), `--owner` or
`--to USER` (AlertUnit OWNER / OTHER), `--mail`, `--robot URL`, `--webhook URL`, `--interval`,
`--max-alerts`, `--dnd-end`. Every command works on the store of the data directory directly, as
the root account would; the service checks the rule exactly as for an API call.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from opcenter.cli._output import (
    OptionError,
    UpperChoice,
    current_caller,
    data_dir_option,
    emit,
    group_data_dir_option,
    json_option,
    lazy_module,
    one_line_errors,
    paging_options,
    service_context,
    shorten,
    to_plain,
    workspace_option,
)

if TYPE_CHECKING:
    from opcenter.service import reminds, workflows, workspaces
    from opcenter.service.context import ServiceContext
    from opcenter.service.reminds import AlertMessageView, RemindView
else:
    reminds = lazy_module("opcenter.service.reminds")
    workflows = lazy_module("opcenter.service.workflows")
    workspaces = lazy_module("opcenter.service.workspaces")

__all__ = ["alert", "remind"]

F = TypeVar("F", bound=Callable[..., Any])

_UNITS = {
    "PROJECT": "PROJECT",
    "WORKFLOW": "BIZPROCESS",
    "BIZPROCESS": "BIZPROCESS",
    "NODE": "NODE",
}
_UNIT_WORDS = {"PROJECT": "project", "BIZPROCESS": "workflow", "NODE": "node"}
_CHANNELS = {
    "MAIL": "MAIL",
    "ROBOT": "DINGROBOTS",
    "DINGROBOTS": "DINGROBOTS",
    "WEBHOOK": "WEBHOOKS",
    "WEBHOOKS": "WEBHOOKS",
}
_CHANNEL_WORDS = {"MAIL": "mail", "DINGROBOTS": "robot", "WEBHOOKS": "webhook"}
_DEFAULT_DAYS = 7  # `alert list` without --since: the last week


# --- option types ---------------------------------------------------------------------------


class _Duration(click.ParamType):
    """Seconds (`1800`) or a duration: `30m`, `2h`, `1h30m`, `90s`, `1d`."""

    name = "duration"
    _PART = re.compile(r"(\d+)([smhd])", re.ASCII)
    _SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text.isascii() and text.isdigit():
            return int(text)
        parts = self._PART.findall(text)
        if text and "".join(n + u for n, u in parts) == text:
            return sum(int(n) * self._SECONDS[u] for n, u in parts)
        flag = max(param.opts, key=len) if isinstance(param, click.Option) else "value"
        raise OptionError(
            f"{flag} {shorten(text)!r} is not a duration (seconds, or e.g. 30m, 2h, 1h30m).",
            ctx,
            param,
        )


def _listed(values: Sequence[str]) -> list[str]:
    """Repeated options and comma lists as one list, in order, without repeats."""
    return list(dict.fromkeys(p.strip() for v in values for p in v.split(",") if p.strip()))


def _options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(command: F) -> F:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


def _rule_options(*, create: bool) -> Callable[[F], F]:
    """The rule's fields; on `update` every one is optional and only those given change."""
    same = "" if create else " Replaces the rule's."
    return _options(
        click.option(
            "--unit",
            type=UpperChoice(["PROJECT", "WORKFLOW", "NODE"], "a rule unit"),
            help="What the rule watches: the whole workspace, workflows or nodes (default: "
            "workflow with --workflow, node with --node, else project).",
        ),
        click.option(
            "--workflow",
            "workflow_names",
            multiple=True,
            metavar="NAME",
            help="A workflow to watch, by name or BusinessId (repeatable or comma-separated, "
            "at most 5)." + same,
        ),
        click.option(
            "--node",
            "node_ids",
            multiple=True,
            metavar="ID",
            help="A node to watch, by NodeId (repeatable or comma-separated, at most 50)." + same,
        ),
        click.option(
            "--type",
            "remind_type",
            type=UpperChoice(list(reminds_types()), "an alert type"),
            required=create,
            help="What raises an alert: a failed instance (error), a finished one (finished), "
            "one still running after --timeout (timeout), one not finished by --at "
            "(unfinished).",
        ),
        click.option(
            "--timeout",
            type=_Duration(),
            help="With --type timeout: the running time, as seconds or e.g. 30m, 2h (at most "
            "3 days).",
        ),
        click.option(
            "--at",
            "at_time",
            metavar="HH:MM",
            help="With --type unfinished: the time of day of the business date by which the "
            "instance must be finished (hours 24 to 47 are the next day).",
        ),
        click.option(
            "--owner",
            is_flag=True,
            help="Alert the owner of the node or workflow that raised it"
            + (" (the default)." if create else "."),
        ),
        click.option(
            "--to",
            "to_users",
            multiple=True,
            metavar="USER",
            help="Alert these users instead of the owner (repeatable or comma-separated, at "
            "most 10)." + same,
        ),
        click.option("--mail", is_flag=True, help="Send the alert by mail."),
        click.option(
            "--robot",
            "robots",
            multiple=True,
            metavar="URL",
            help="Send it to a DingTalk robot (repeatable or comma-separated)." + same,
        ),
        click.option(
            "--webhook",
            "webhooks",
            multiple=True,
            metavar="URL",
            help="Send it to a WeCom, Lark/Feishu or Slack webhook (repeatable or "
            "comma-separated)." + same,
        ),
        click.option(
            "--interval",
            type=_Duration(),
            help="Least time between two alerts about the same run, 20m to 24h"
            + (" (default: 30m)." if create else "."),
        ),
        click.option(
            "--max-alerts",
            type=int,
            help="Most alerts about the same run, 1 to 10" + (" (default: 3)." if create else "."),
        ),
        click.option(
            "--dnd-end",
            metavar="HH:MM",
            help="Do not disturb from midnight until this time of day"
            + ("." if create else " ('' ends it)."),
        ),
    )


def reminds_types() -> tuple[str, ...]:
    """The alert types (`--type`), without importing the service at start-up."""
    return ("ERROR", "FINISHED", "TIMEOUT", "UNFINISHED")


def _channel_list(mail: bool, robots: list[str], hooks: list[str]) -> list[str]:
    methods = []
    if mail:
        methods.append("MAIL")
    if robots:
        methods.append("DINGROBOTS")
    if hooks:
        methods.append("WEBHOOKS")
    return methods


def _detail(remind_type: str | None, timeout: int | None, at_time: str | None) -> str | None:
    """The rule's `Detail` from --timeout / --at; None when neither is given."""
    if timeout is not None and at_time is not None:
        raise click.UsageError("Give --timeout (type timeout) or --at (type unfinished), not both.")
    if timeout is not None:
        if remind_type not in (None, "TIMEOUT"):
            raise click.UsageError("--timeout goes with --type timeout.")
        return str(timeout)
    if at_time is not None:
        if remind_type not in (None, "UNFINISHED"):
            raise click.UsageError("--at goes with --type unfinished.")
        return at_time.strip()
    return None


def _business_ids(ctx: ServiceContext, project_id: int, names: list[str]) -> str:
    """The BusinessIds of workflows named by name (or by BusinessId) in workspace `project_id`."""
    from opcenter.errors import NotFound

    ids = []
    for name in names:
        try:
            found = workflows.get_business(ctx, business_name=name, project_id=project_id)
        except NotFound:
            if not (name.isascii() and name.isdigit()):
                raise
            ids.append(name)  # a BusinessId; CreateRemind checks it is of the workspace
            continue
        ids.append(str(found.business_id))
    return ",".join(ids)


def _check_node_ids(values: list[str]) -> str:
    for value in values:
        if not (value.isascii() and value.isdigit()):
            raise click.UsageError(f"--node {shorten(value)!r} is not a NodeId (an integer).")
    return ",".join(values)


# The service names the API's fields; a person reads the flags they typed.
_FLAG_WORDS = (
    ("The rule RemindId=", "The alert rule "),
    ("The alert AlertId=", "The alert "),
    ("RemindName=", "--name "),
    ("AlertInterval=", "--interval (seconds) "),
    ("MaxAlertTimes=", "--max-alerts "),
    ("DndEnd=", "--dnd-end "),
    ("NodeIds:", "--node:"),
    ("BizProcessIds:", "--workflow:"),
    ("AlertTargets", "--to"),
    ("RobotUrls:", "--robot:"),
    ("Webhooks:", "--webhook:"),
)


def _flag_words(message: str) -> str:
    for field, flag in _FLAG_WORDS:
        message = message.replace(field, flag)
    if message.startswith("Detail="):
        flag = "--timeout (seconds) " if "'TIMEOUT'" in message else "--at "
        message = flag + message.removeprefix("Detail=")
    return message


def _in_flag_words(command: F) -> F:
    """A refused rule or alert says what is wrong in the words of the command line."""
    from functools import wraps

    from opcenter.errors import OpcenterError

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except OpcenterError as exc:
            exc.message = _flag_words(exc.message)
            raise

    return wrapper  # type: ignore[return-value]


# --- output ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RuleRow:
    remind_id: int
    name: str
    workspace: str
    type: str
    watches: str
    recipients: str
    channels: str
    enabled: str


@dataclass(frozen=True)
class _AlertRow:
    alert_id: int
    created_at: int
    workspace: str
    rule: str
    trigger: str
    node: str
    dag_id: str
    status: str
    deliveries: str


def _when(r: RemindView) -> str:
    """The condition in words: `timeout 30m`, `unfinished 23:59`, `error`."""
    word = r.remind_type.lower()
    if r.remind_type == "TIMEOUT" and r.detail:
        return f"{word} {_seconds_text(int(r.detail))}"
    if r.remind_type == "UNFINISHED" and r.detail:
        import json

        at = json.loads(r.detail)
        return f"{word} {at['hour']:02d}:{at['minu']:02d}"
    return word


def _seconds_text(seconds: int) -> str:
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def _watches(r: RemindView) -> str:
    if r.remind_unit == "PROJECT":
        return "workspace"
    names = [t.name or str(t.target_id) for t in r.targets]
    return f"{_UNIT_WORDS[r.remind_unit]}: {', '.join(names)}"


def _recipients(r: RemindView) -> str:
    return "owner" if r.alert_unit == "OWNER" else ", ".join(r.alert_targets)


def _channels(r: RemindView) -> str:
    return ", ".join(_CHANNEL_WORDS.get(m, m.lower()) for m in r.alert_methods)


def _identifiers(ctx: ServiceContext, ids: set[int]) -> dict[int, str]:
    return {i: workspaces.get_project(ctx, project_id=i).project_identifier for i in ids}


def _rule_row(r: RemindView, names: dict[int, str]) -> _RuleRow:
    return _RuleRow(
        remind_id=r.remind_id,
        name=r.remind_name,
        workspace=names.get(r.project_id, str(r.project_id)),
        type=_when(r),
        watches=_watches(r),
        recipients=_recipients(r),
        channels=_channels(r),
        enabled="yes" if r.use_flag else "no",
    )


def _show_rule(ctx: ServiceContext, r: RemindView, as_json: bool) -> None:
    names = _identifiers(ctx, {r.project_id})
    if as_json:
        emit({**to_plain(r), "workspace": names[r.project_id]}, True)
        return
    from rich.table import Table

    from opcenter.cli._output import console, human_time

    table = Table("field", "value", show_header=False)
    row = _rule_row(r, names)
    for label, value in (
        ("remind_id", str(r.remind_id)),
        ("name", r.remind_name),
        ("workspace", row.workspace),
        ("type", row.type),
        ("watches", row.watches),
        ("recipients", row.recipients),
        ("channels", row.channels),
        ("robots", ", ".join(r.robot_urls)),
        ("webhooks", ", ".join(r.webhooks)),
        ("interval", _seconds_text(r.alert_interval)),
        ("max_alerts", str(r.max_alert_times)),
        ("dnd_end", r.dnd_end or ""),
        ("enabled", row.enabled),
        ("founder", r.founder),
        ("created_at", human_time(r.created_at)),
        ("modified_at", human_time(r.modified_at)),
    ):
        table.add_row(label, value)
    console().print(table)


def _delivery_text(m: AlertMessageView) -> str:
    """`mail alice SENT, webhook FAILED`: a person by name, a robot or webhook by channel."""
    return ", ".join(
        f"{_CHANNEL_WORDS.get(d.channel, d.channel.lower())}"
        f"{' ' + d.receiver if d.channel == 'MAIL' else ''} {d.status}"
        for d in m.deliveries
    )


def _alert_plain(m: AlertMessageView) -> dict[str, Any]:
    return {**to_plain(m), "status": m.status}


# --- remind ---------------------------------------------------------------------------------


@click.group(short_help="Create, show, change and delete alert rules.")
@group_data_dir_option
def remind() -> None:
    """Custom alert rules (DataWorks reminds): which runs to watch, for what, whom to tell and
    how. The alerts they raise are listed by `opcenter alert`."""


@remind.command("create", short_help="Create an alert rule.")
@click.option("--name", required=True, help="Rule name, unique in the workspace.")
@workspace_option(required=True)
@_rule_options(create=True)
@data_dir_option
@json_option
@one_line_errors
@_in_flag_words
def remind_create(
    name: str,
    workspace: str,
    unit: str | None,
    workflow_names: tuple[str, ...],
    node_ids: tuple[str, ...],
    remind_type: str,
    timeout: int | None,
    at_time: str | None,
    owner: bool,
    to_users: tuple[str, ...],
    mail: bool,
    robots: tuple[str, ...],
    webhooks: tuple[str, ...],
    interval: int | None,
    max_alerts: int | None,
    dnd_end: str | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Create an alert rule in a workspace; it is enabled at once.

    Give what to watch (the workspace, --workflow or --node), --type with its --timeout or
    --at, the recipients (--owner, the default, or --to) and at least one channel (--mail,
    --robot, --webhook).
    """
    flows, nodes = _listed(workflow_names), _listed(node_ids)
    users, robot_urls, hooks = _listed(to_users), _listed(robots), _listed(webhooks)
    unit_name = _UNITS[unit] if unit else "BIZPROCESS" if flows else "NODE" if nodes else "PROJECT"
    if owner and users:
        raise click.UsageError("Give --owner or --to, not both.")
    methods = _channel_list(mail, robot_urls, hooks)
    if not methods:
        raise click.UsageError("Give at least one channel: --mail, --robot URL or --webhook URL.")
    detail = _detail(remind_type, timeout, at_time)
    if remind_type == "TIMEOUT" and detail is None:
        raise click.UsageError("--type timeout needs --timeout (e.g. --timeout 30m).")
    if remind_type == "UNFINISHED" and detail is None:
        raise click.UsageError("--type unfinished needs --at HH:MM.")
    if unit_name == "BIZPROCESS" and not flows:
        raise click.UsageError("--unit workflow needs --workflow NAME.")
    if unit_name == "NODE" and not nodes:
        raise click.UsageError("--unit node needs --node ID.")
    with service_context(data_dir) as ctx:
        project = workspaces.get_project(ctx, project_identifier=workspace)
        created = reminds.create_remind(
            ctx,
            project_id=project.project_id,
            remind_name=name,
            remind_unit=unit_name,
            remind_type=remind_type,
            detail=detail,
            alert_unit="OTHER" if users else "OWNER",
            alert_targets=",".join(users) or None,
            alert_methods=",".join(methods),
            biz_process_ids=(
                _business_ids(ctx, project.project_id, flows) if unit_name == "BIZPROCESS" else None
            ),
            node_ids=_check_node_ids(nodes) if unit_name == "NODE" else None,
            robot_urls=",".join(robot_urls) or None,
            webhooks=",".join(hooks) or None,
            alert_interval=interval,
            max_alert_times=max_alerts,
            dnd_end=dnd_end,
            caller=current_caller(),
        )
        if as_json:
            _show_rule(ctx, created, True)
            return
    click.echo(f"Created alert rule {created.remind_name!r} (RemindId {created.remind_id}).")


@remind.command("list", short_help="List the alert rules.")
@workspace_option()
@click.option(
    "--type",
    "remind_types",
    multiple=True,
    type=UpperChoice(list(reminds_types()), "an alert type"),
    help="Only rules of this type (repeatable).",
)
@click.option("--search", help="Only rules whose name contains this (any case).")
@click.option("--to", "recipient", metavar="USER", help="Only rules alerting this user.")
@click.option("--node", "node_id", type=int, metavar="ID", help="Only rules watching this node.")
@paging_options
@data_dir_option
@json_option
@one_line_errors
@_in_flag_words
def remind_list(
    workspace: str | None,
    remind_types: tuple[str, ...],
    search: str | None,
    recipient: str | None,
    node_id: int | None,
    page_number: int,
    page_size: int,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """List alert rules, newest first: of one workspace (-w) or of all."""
    with service_context(data_dir) as ctx:
        project_id = (
            workspaces.get_project(ctx, project_identifier=workspace).project_id
            if workspace
            else None
        )
        found = reminds.list_reminds(
            ctx,
            page_number=page_number,
            page_size=page_size,
            search_text=search,
            remind_types=",".join(remind_types) or None,
            alert_target=recipient,
            node_id=node_id,
            project_id=project_id,
        )
        if as_json:
            emit(found, True)
            return
        names = _identifiers(ctx, {r.project_id for r in found.items})
    from opcenter.service.views import Page

    emit(
        Page(
            items=tuple(_rule_row(r, names) for r in found.items),
            page_number=found.page_number,
            page_size=found.page_size,
            total_count=found.total_count,
        ),
        False,
    )


@remind.command("get", short_help="Show an alert rule.")
@click.argument("remind_id", type=int)
@data_dir_option
@json_option
@one_line_errors
@_in_flag_words
def remind_get(remind_id: int, data_dir: Path | None, as_json: bool) -> None:
    """Show alert rule REMIND_ID with every field."""
    with service_context(data_dir) as ctx:
        _show_rule(ctx, reminds.get_remind(ctx, remind_id=remind_id), as_json)


@remind.command("update", short_help="Change an alert rule.")
@click.argument("remind_id", type=int)
@click.option("--name", help="New rule name.")
@_rule_options(create=False)
@data_dir_option
@json_option
@one_line_errors
@_in_flag_words
def remind_update(
    remind_id: int,
    name: str | None,
    unit: str | None,
    workflow_names: tuple[str, ...],
    node_ids: tuple[str, ...],
    remind_type: str | None,
    timeout: int | None,
    at_time: str | None,
    owner: bool,
    to_users: tuple[str, ...],
    mail: bool,
    robots: tuple[str, ...],
    webhooks: tuple[str, ...],
    interval: int | None,
    max_alerts: int | None,
    dnd_end: str | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Change alert rule REMIND_ID; the options not given stay as they are.

    Channel options given (--mail, --robot, --webhook) replace the rule's channels; --owner
    or --to replaces its recipients. The rule is checked whole again and stays in its
    workspace.
    """
    flows, nodes = _listed(workflow_names), _listed(node_ids)
    users, robot_urls, hooks = _listed(to_users), _listed(robots), _listed(webhooks)
    if owner and users:
        raise click.UsageError("Give --owner or --to, not both.")
    unit_name = _UNITS[unit] if unit else "BIZPROCESS" if flows else "NODE" if nodes else None
    methods = _channel_list(mail, robot_urls, hooks)
    detail = _detail(remind_type, timeout, at_time)
    with service_context(data_dir) as ctx:
        rule = reminds.get_remind(ctx, remind_id=remind_id)
        updated = reminds.update_remind(
            ctx,
            remind_id=remind_id,
            remind_name=name,
            remind_unit=unit_name,
            remind_type=remind_type,
            detail=detail,
            alert_unit="OTHER" if users else "OWNER" if owner else None,
            alert_targets=",".join(users) if users else None,
            alert_methods=",".join(methods) if methods else None,
            biz_process_ids=_business_ids(ctx, rule.project_id, flows) if flows else None,
            node_ids=_check_node_ids(nodes) if nodes else None,
            robot_urls=",".join(robot_urls) if methods else None,
            webhooks=",".join(hooks) if methods else None,
            alert_interval=interval,
            max_alert_times=max_alerts,
            dnd_end=dnd_end,
        )
        if as_json:
            _show_rule(ctx, updated, True)
            return
    click.echo(f"Updated alert rule {updated.remind_name!r} (RemindId {updated.remind_id}).")


def _set_enabled(remind_id: int, enabled: bool, data_dir: Path | None, as_json: bool) -> None:
    with service_context(data_dir) as ctx:
        updated = reminds.update_remind(ctx, remind_id=remind_id, use_flag=enabled)
        if as_json:
            _show_rule(ctx, updated, True)
            return
    state = "Enabled" if enabled else "Disabled"
    click.echo(f"{state} alert rule {updated.remind_name!r} (RemindId {updated.remind_id}).")


@remind.command("enable", short_help="Enable an alert rule.")
@click.argument("remind_id", type=int)
@data_dir_option
@json_option
@one_line_errors
@_in_flag_words
def remind_enable(remind_id: int, data_dir: Path | None, as_json: bool) -> None:
    """Enable alert rule REMIND_ID: it raises alerts again."""
    _set_enabled(remind_id, True, data_dir, as_json)


@remind.command("disable", short_help="Disable an alert rule.")
@click.argument("remind_id", type=int)
@data_dir_option
@json_option
@one_line_errors
@_in_flag_words
def remind_disable(remind_id: int, data_dir: Path | None, as_json: bool) -> None:
    """Disable alert rule REMIND_ID: it raises nothing until enabled again."""
    _set_enabled(remind_id, False, data_dir, as_json)


@remind.command("delete", short_help="Delete an alert rule.")
@click.argument("remind_id", type=int)
@data_dir_option
@json_option
@one_line_errors
@_in_flag_words
def remind_delete(remind_id: int, data_dir: Path | None, as_json: bool) -> None:
    """Delete alert rule REMIND_ID; the alerts it raised stay, with its name."""
    with service_context(data_dir) as ctx:
        reminds.delete_remind(ctx, remind_id=remind_id)
    if as_json:
        emit({"remind_id": remind_id, "deleted": True}, True)
        return
    click.echo(f"Deleted alert rule {remind_id}.")


# --- alert ----------------------------------------------------------------------------------


class _Moment(click.ParamType):
    """A date (`2026-12-06`) or a date and time (`2026-12-06 08:00`, `2026-12-06T08:00:00`), in
    the store's time zone; kept as typed, read once the store is open."""

    name = "time"
    _FORMS = (
        "%Y-%m-%d",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
    )

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[dt.datetime, bool]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        for form in self._FORMS:
            try:
                return dt.datetime.strptime(text, form), form == "%Y-%m-%d"
            except ValueError:
                continue
        flag = max(param.opts, key=len) if isinstance(param, click.Option) else "value"
        raise OptionError(
            f"{flag} {shorten(text)!r} is not a time (yyyy-mm-dd or 'yyyy-mm-dd hh:mm[:ss]').",
            ctx,
            param,
        )


def _utc(moment: dt.datetime, zone: dt.tzinfo) -> str:
    return moment.replace(tzinfo=zone).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _period(
    since: tuple[dt.datetime, bool] | None, until: tuple[dt.datetime, bool] | None, zone: Any
) -> tuple[str, str]:
    """BeginTime and EndTime (UTC) of --since / --until: a date alone is its whole day."""
    now = dt.datetime.now(zone).replace(tzinfo=None, microsecond=0)
    end = (
        now
        if until is None
        else until[0] + dt.timedelta(days=1, seconds=-1)
        if until[1]
        else until[0]
    )
    begin = end - dt.timedelta(days=_DEFAULT_DAYS) if since is None else since[0]
    if begin > end:
        raise click.UsageError(
            f"--since {begin:%Y-%m-%d %H:%M:%S} is after --until {end:%Y-%m-%d %H:%M:%S}."
        )
    return _utc(begin, zone), _utc(end, zone)


@click.group(short_help="List and show the alerts the rules raised.")
@group_data_dir_option
def alert() -> None:
    """Alert messages: each alert an alert rule raised, with where its sending stands."""


@alert.command("list", short_help="List the alerts, newest first.")
@workspace_option()
@click.option(
    "--rule", "remind_id", type=int, metavar="REMIND_ID", help="Only the alerts of this rule."
)
@click.option(
    "--since",
    type=_Moment(),
    help="From this date (yyyy-mm-dd) or time ('yyyy-mm-dd hh:mm[:ss]'); default: "
    f"{_DEFAULT_DAYS} days before --until.",
)
@click.option(
    "--until", type=_Moment(), help="Up to this date (its whole day) or time; default: now."
)
@click.option(
    "--channel",
    "channels",
    multiple=True,
    type=UpperChoice(["MAIL", "ROBOT", "WEBHOOK"], "a channel"),
    help="Only alerts sent on this channel (repeatable).",
)
@click.option("--user", metavar="USER", help="Only alerts mailed to this user.")
@paging_options
@data_dir_option
@json_option
@one_line_errors
@_in_flag_words
def alert_list(
    workspace: str | None,
    remind_id: int | None,
    since: tuple[dt.datetime, bool] | None,
    until: tuple[dt.datetime, bool] | None,
    channels: tuple[str, ...],
    user: str | None,
    page_number: int,
    page_size: int,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """List the alerts raised in a period (times in the store's time zone), newest first, with
    the state of each delivery: of one workspace (-w) or of all."""
    with service_context(data_dir) as ctx:
        begin, end = _period(since, until, ctx.settings.tz)
        project_id = (
            workspaces.get_project(ctx, project_identifier=workspace).project_id
            if workspace
            else None
        )
        found = reminds.list_alert_messages(
            ctx,
            begin_time=begin,
            end_time=end,
            page_number=page_number,
            page_size=page_size,
            alert_methods=",".join(_CHANNELS[c] for c in channels) or None,
            alert_user=user,
            remind_id=remind_id,
            project_id=project_id,
        )
        if as_json:
            emit(
                {
                    "items": [_alert_plain(m) for m in found.items],
                    "page_number": found.page_number,
                    "page_size": found.page_size,
                    "total_count": found.total_count,
                },
                True,
            )
            return
        names = _identifiers(ctx, {m.project_id for m in found.items})
    from opcenter.service.views import Page

    rows = tuple(
        _AlertRow(
            alert_id=m.alert_id,
            created_at=m.created_at,
            workspace=names.get(m.project_id, str(m.project_id)),
            rule=m.remind_name,
            trigger=m.trigger,
            node=m.node_name,
            dag_id="" if m.dag_id is None else str(m.dag_id),
            status=m.status,
            deliveries=_delivery_text(m),
        )
        for m in found.items
    )
    emit(Page(rows, found.page_number, found.page_size, found.total_count), False)


@alert.command("show", short_help="Show an alert and its deliveries.")
@click.argument("alert_id")
@data_dir_option
@json_option
@one_line_errors
@_in_flag_words
def alert_show(alert_id: str, data_dir: Path | None, as_json: bool) -> None:
    """Show alert ALERT_ID: what raised it, its text, and each delivery (channel, recipient,
    status, attempts, when it went out, the last error)."""
    with service_context(data_dir) as ctx:
        m = reminds.get_alert_message(ctx, alert_id=alert_id)
        if as_json:
            emit(_alert_plain(m), True)
            return
        names = _identifiers(ctx, {m.project_id})
    from rich.table import Table

    from opcenter.cli._output import console, human_time

    table = Table("field", "value", show_header=False)
    for label, value in (
        ("alert_id", str(m.alert_id)),
        ("created_at", human_time(m.created_at)),
        ("workspace", names[m.project_id]),
        ("rule", f"{m.remind_name} ({m.remind_id})" if m.remind_id else m.remind_name),
        ("trigger", m.trigger),
        ("status", m.status),
        ("dag_id", "" if m.dag_id is None else str(m.dag_id)),
        ("instance_id", "" if m.instance_id is None else str(m.instance_id)),
        ("node", f"{m.node_name} ({m.node_id})" if m.node_id else m.node_name),
        ("node_owner", m.node_owner),
        ("instance_status", m.instance_status or ""),
        ("subject", m.subject),
        ("content", m.content),
    ):
        table.add_row(label, value)
    out = console()
    out.print(table)
    if not m.deliveries:
        out.print("(no deliveries)")
        return
    deliveries = Table("channel", "receiver", "status", "attempts", "sent_at", "last_error")
    for d in m.deliveries:
        deliveries.add_row(
            _CHANNEL_WORDS.get(d.channel, d.channel.lower()),
            d.receiver,
            d.status,
            str(d.attempts),
            human_time(d.sent_at),
            d.last_error,
        )
    out.print(deliveries)
