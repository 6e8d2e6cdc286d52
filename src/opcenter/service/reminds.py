"""Custom alert rules (CreateRemind, GetRemind, ListReminds, UpdateRemind, DeleteRemind) and the
alert messages they raise (ListAlertMessages, GetAlertMessage). docs/alerts.md is the user's
account of what follows.

A rule belongs to one workspace and watches it whole (RemindUnit PROJECT), some of its
workflows (BIZPROCESS, `BizProcessIds` = BusinessIds) or some of its nodes (NODE, `NodeIds`);
baselines do not exist here, so BASELINE is refused. It fires on ERROR (an instance failed),
FINISHED (an instance or a Dag finished), TIMEOUT (still running `Detail` seconds after it
started) or UNFINISHED (not finished by the time of day `Detail`, `{"hour":H,"minu":M}`, hour up
to 47 for the next day). Alerts go to the owner of what fired (AlertUnit OWNER) or to named users
(OTHER, `AlertTargets`), by MAIL, DingTalk robots (DINGROBOTS with `RobotUrls`) or chat webhooks
(WEBHOOKS with `Webhooks`: WeCom, Lark/Feishu, Slack); at most `MaxAlertTimes` alerts per rule and
run, `AlertInterval` seconds apart, none before `DndEnd` (HH:mm) of the day.

Alert messages are written by the engine (engine/alerts.py); these functions read them. Every
rule write bumps `store.alerts.rules_changed()` after its commit, so this process's engine reloads
its cache of the rules at once. A caller sees the rules and messages of the workspaces it may see.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.errors import Conflict, InvalidParameter, MissingParameter, NotFound
from opcenter.iam.scope import WorkspaceRef
from opcenter.service import iam
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.lookup import check_paging, flush_unique, resolve_workspace
from opcenter.service.views import Page
from opcenter.store.alerts import rules_changed
from opcenter.store.tables import (
    AlertDelivery,
    AlertMessage,
    File,
    Remind,
    RemindTarget,
    Workflow,
    Workspace,
)

__all__ = [
    "ALERT_METHODS",
    "DEFAULT_ALERT_INTERVAL",
    "DEFAULT_MAX_ALERT_TIMES",
    "MIN_ALERT_INTERVAL",
    "REMIND_TYPES",
    "REMIND_UNITS",
    "AlertMessageView",
    "DeliveryView",
    "RemindView",
    "TargetView",
    "create_remind",
    "delete_remind",
    "get_alert_message",
    "get_remind",
    "list_alert_messages",
    "list_reminds",
    "update_remind",
    "workspace_of_alert",
    "workspace_of_remind",
    "workspace_of_workflow",
]

REMIND_UNITS = ("PROJECT", "BIZPROCESS", "NODE")
REMIND_TYPES = ("ERROR", "FINISHED", "TIMEOUT", "UNFINISHED")
ALERT_UNITS = ("OWNER", "OTHER")
# The channels a rule may name; SMS and PHONE need Alibaba Cloud's gateways (refused), and the
# chat webhooks (WeCom, Lark/Feishu, Slack) all go through WEBHOOKS, as in DataWorks.
ALERT_METHODS = ("MAIL", "DINGROBOTS", "WEBHOOKS")
_METHOD_ALIASES = {"DINGROBOT": "DINGROBOTS", "WEBHOOK": "WEBHOOKS"}
_UNSUPPORTED_METHODS = ("SMS", "PHONE")
MIN_ALERT_INTERVAL = 1200  # seconds, DataWorks' minimum
MAX_ALERT_INTERVAL = 86400
DEFAULT_ALERT_INTERVAL = 1800
DEFAULT_MAX_ALERT_TIMES = 3
MAX_ALERT_TIMES = 10
MAX_NAME_LENGTH = 128
MAX_TARGETS = {"BIZPROCESS": 5, "NODE": 50}
MAX_ALERT_TARGETS = 10
MAX_TIMEOUT_SECONDS = 3 * 86400  # an instance runs at most three days
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
# What the SDK's AlertMessageStatus says of the deliveries of a message.
_READY, _FAILED, _SUCCESS = "READY_TO_SEND", "SEND_FAIL", "SEND_SUCCESS"
_PERSON_CHANNELS = ("MAIL",)


@dataclass(frozen=True)
class TargetView:
    """What a rule watches: a workspace, a workflow or a node, with its name and owner."""

    kind: str
    target_id: int
    name: str = ""
    owner: str = ""
    project_id: int = 0


@dataclass(frozen=True)
class RemindView:
    """A custom alert rule as GetRemind and ListReminds show it."""

    remind_id: int
    project_id: int
    remind_name: str
    remind_unit: str
    remind_type: str
    detail: str
    alert_unit: str
    alert_targets: tuple[str, ...]
    alert_methods: tuple[str, ...]
    robot_urls: tuple[str, ...]
    webhooks: tuple[str, ...]
    alert_interval: int
    max_alert_times: int
    dnd_end: str | None
    use_flag: bool
    founder: str
    targets: tuple[TargetView, ...]
    created_at: int
    modified_at: int


@dataclass(frozen=True)
class DeliveryView:
    channel: str
    receiver: str
    status: str
    attempts: int
    sent_at: int | None
    last_error: str = ""


@dataclass(frozen=True)
class AlertMessageView:
    """An alert message and its deliveries."""

    alert_id: int
    project_id: int
    remind_id: int | None
    remind_name: str
    source: str
    trigger: str
    dag_id: int | None
    instance_id: int | None
    node_id: int | None
    node_name: str
    node_owner: str
    instance_status: str | None
    subject: str
    content: str
    created_at: int
    deliveries: tuple[DeliveryView, ...]

    @property
    def status(self) -> str:
        """READY_TO_SEND while a delivery is pending, SEND_FAIL when one failed, else
        SEND_SUCCESS (a message without deliveries: nothing to send)."""
        statuses = {d.status for d in self.deliveries}
        if "PENDING" in statuses:
            return _READY
        if "FAILED" in statuses:
            return _FAILED
        return _SUCCESS

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.channel for d in self.deliveries))

    @property
    def users(self) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(d.receiver for d in self.deliveries if d.channel in _PERSON_CHANNELS)
        )


# --- validation -----------------------------------------------------------------------------


def _pieces(value: str | None) -> list[str]:
    if value is None:
        return []
    return [p.strip() for p in value.split(",") if p.strip()]


def _ids(value: str | None, parameter: str) -> list[int]:
    ids: list[int] = []
    for piece in _pieces(value):
        if not piece.isascii() or not piece.isdigit():
            raise InvalidParameter(
                f"{parameter}={value!r} must be a comma-separated list of ids; {piece!r} is not."
            )
        ids.append(int(piece))
    return list(dict.fromkeys(ids))


def _check_name(name: str | None) -> str:
    if name is None or not name.strip():
        raise MissingParameter("RemindName")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidParameter(f"RemindName must be at most {MAX_NAME_LENGTH} characters long.")
    return name


def _check_unit(unit: str | None) -> str:
    if unit is None or not unit.strip():
        raise MissingParameter("RemindUnit")
    unit = unit.strip().upper()
    if unit == "BASELINE":
        raise InvalidParameter(
            "RemindUnit='BASELINE' is not supported: opcenter has no baselines. Watch the "
            "workspace (PROJECT), workflows (BIZPROCESS) or nodes (NODE) instead."
        )
    if unit not in REMIND_UNITS:
        raise InvalidParameter(f"RemindUnit={unit!r} is not one of {', '.join(REMIND_UNITS)}.")
    return unit


def _check_type(remind_type: str | None) -> str:
    if remind_type is None or not remind_type.strip():
        raise MissingParameter("RemindType")
    value = remind_type.strip().upper()
    if value == "CYCLE_UNFINISHED":
        raise InvalidParameter(
            "RemindType='CYCLE_UNFINISHED' is not supported: opcenter has no hourly cycles. "
            "Use UNFINISHED or TIMEOUT."
        )
    if value not in REMIND_TYPES:
        raise InvalidParameter(
            f"RemindType={remind_type!r} is not one of {', '.join(REMIND_TYPES)}."
        )
    return value


def _check_detail(remind_type: str, detail: str | None) -> str:
    """The stored form of Detail: empty (ERROR, FINISHED), seconds (TIMEOUT), or
    `{"hour":H,"minu":M}` (UNFINISHED; `HH:mm` is accepted too)."""
    text = (detail or "").strip()
    if remind_type in ("ERROR", "FINISHED"):
        if text:
            raise InvalidParameter(f"Detail must be empty for RemindType={remind_type!r}.")
        return ""
    if remind_type == "TIMEOUT":
        if not text:
            raise MissingParameter("Detail")
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_TIMEOUT_SECONDS:
            raise InvalidParameter(
                f"Detail={detail!r} must be the running time in seconds after which "
                f"RemindType='TIMEOUT' fires, from 1 to {MAX_TIMEOUT_SECONDS} (e.g. 1800)."
            )
        return str(int(text))
    if not text:
        raise MissingParameter("Detail")
    hour, minute = _time_of_day(text, detail)
    return json.dumps({"hour": hour, "minu": minute}, separators=(",", ":"))


def _time_of_day(text: str, detail: str | None) -> tuple[int, int]:
    bad = InvalidParameter(
        f"Detail={detail!r} must be the time of day RemindType='UNFINISHED' waits for, as "
        '{"hour":23,"minu":59} (hour 0-47, 24 and more being the next day; minu 0-59) or HH:mm.'
    )
    match = _HHMM.match(text)
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
    else:
        try:
            value = json.loads(text)
        except ValueError:
            raise bad from None
        if not isinstance(value, dict) or set(value) != {"hour", "minu"}:
            raise bad
        hour, minute = value["hour"], value["minu"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (hour, minute)):
            raise bad
    if not (0 <= hour <= 47 and 0 <= minute <= 59):
        raise bad
    return hour, minute


def _check_dnd_end(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    match = _HHMM.match(value.strip())
    if not match or not (0 <= int(match.group(1)) <= 23 and 0 <= int(match.group(2)) <= 59):
        raise InvalidParameter(f"DndEnd={value!r} must be a time of day HH:mm (00:00 to 23:59).")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _check_methods(value: str | None) -> list[str]:
    pieces = _pieces(value)
    if not pieces:
        raise MissingParameter("AlertMethods")
    methods: list[str] = []
    for piece in pieces:
        method = _METHOD_ALIASES.get(piece.upper(), piece.upper())
        if method in _UNSUPPORTED_METHODS:
            raise InvalidParameter(
                f"AlertMethods: {piece!r} is not supported here (no SMS or phone gateway); "
                f"use {', '.join(ALERT_METHODS)}."
            )
        if method not in ALERT_METHODS:
            raise InvalidParameter(
                f"AlertMethods: {piece!r} is not one of {', '.join(ALERT_METHODS)}."
            )
        methods.append(method)
    return list(dict.fromkeys(methods))


def _check_urls(value: Sequence[str], parameter: str) -> list[str]:
    for url in value:
        if not url.startswith(("http://", "https://")) or len(url) > 1024:
            raise InvalidParameter(f"{parameter}: {url!r} is not an http(s) URL.")
    return list(dict.fromkeys(value))


def _check_recipients(alert_unit: str | None, alert_targets: Sequence[str]) -> str:
    if alert_unit is None or not alert_unit.strip():
        raise MissingParameter("AlertUnit")
    unit = alert_unit.strip().upper()
    if unit not in ALERT_UNITS:
        raise InvalidParameter(f"AlertUnit={alert_unit!r} is not one of OWNER, OTHER.")
    if unit == "OTHER" and not alert_targets:
        raise MissingParameter("AlertTargets")
    if unit == "OWNER" and alert_targets:
        raise InvalidParameter(
            "AlertTargets must be empty when AlertUnit='OWNER' (the owner is the recipient)."
        )
    if len(alert_targets) > MAX_ALERT_TARGETS:
        raise InvalidParameter(f"AlertTargets names at most {MAX_ALERT_TARGETS} users.")
    return unit


def _check_range(value: int, parameter: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise InvalidParameter(f"{parameter}={value} must be between {low} and {high}.")
    return value


@dataclass(frozen=True)
class _Rule:
    """A rule's fields once validated, as stored (lists as tuples)."""

    name: str
    remind_unit: str
    remind_type: str
    detail: str
    alert_unit: str
    alert_targets: tuple[str, ...]
    alert_methods: tuple[str, ...]
    robot_urls: tuple[str, ...]
    webhooks: tuple[str, ...]
    alert_interval: int
    max_alert_times: int
    dnd_end: str | None
    use_flag: bool
    target_ids: tuple[int, ...]


def _validated(rule: _Rule) -> _Rule:
    """Check the fields together: every RemindUnit, RemindType, recipient and channel rule."""
    unit = _check_unit(rule.remind_unit)
    remind_type = _check_type(rule.remind_type)
    methods = _check_methods(",".join(rule.alert_methods))
    robots = _check_urls(rule.robot_urls, "RobotUrls")
    hooks = _check_urls(rule.webhooks, "Webhooks")
    if "DINGROBOTS" in methods and not robots:
        raise MissingParameter("RobotUrls")
    if "WEBHOOKS" in methods and not hooks:
        raise MissingParameter("Webhooks")
    return replace(
        rule,
        name=_check_name(rule.name),
        remind_unit=unit,
        remind_type=remind_type,
        detail=_check_detail(remind_type, rule.detail),
        alert_unit=_check_recipients(rule.alert_unit, rule.alert_targets),
        alert_methods=tuple(methods),
        robot_urls=tuple(robots),
        webhooks=tuple(hooks),
        alert_interval=_check_range(
            rule.alert_interval, "AlertInterval", MIN_ALERT_INTERVAL, MAX_ALERT_INTERVAL
        ),
        max_alert_times=_check_range(rule.max_alert_times, "MaxAlertTimes", 1, MAX_ALERT_TIMES),
    )


# --- targets --------------------------------------------------------------------------------


def _target_ids(
    session: Session,
    ws: Workspace,
    unit: str,
    *,
    biz_process_ids: str | None,
    node_ids: str | None,
) -> tuple[int, ...]:
    """The ids a rule of `unit` watches, each checked to be of workspace `ws`."""
    if unit == "PROJECT":
        return (ws.id,)
    parameter, raw = (
        ("BizProcessIds", biz_process_ids)
        if unit == "BIZPROCESS"
        else (
            "NodeIds",
            node_ids,
        )
    )
    ids = _ids(raw, parameter)
    if not ids:
        raise MissingParameter(parameter)
    if len(ids) > MAX_TARGETS[unit]:
        raise InvalidParameter(
            f"{parameter}: a rule watches at most {MAX_TARGETS[unit]}; {len(ids)} were given."
        )
    if unit == "BIZPROCESS":
        found = set(
            session.scalars(
                sa.select(Workflow.id).where(
                    Workflow.workspace_id == ws.id,
                    Workflow.deleted_at.is_(None),
                    Workflow.id.in_(ids),
                )
            )
        )
        kind = "Business"
    else:
        found = set(
            session.scalars(
                sa.select(File.node_id).where(File.workspace_id == ws.id, File.node_id.in_(ids))
            )
        )
        kind = "Node"
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(
            kind,
            f"{parameter}: {', '.join(map(str, missing))} "
            f"{'is' if len(missing) == 1 else 'are'} not in workspace {ws.identifier!r}.",
        )
    return tuple(ids)


def _targets_of(session: Session, remind: Remind) -> tuple[TargetView, ...]:
    ids = list(
        session.scalars(
            sa.select(RemindTarget.target_id)
            .where(RemindTarget.remind_id == remind.id)
            .order_by(RemindTarget.target_id)
        )
    )
    if remind.remind_unit == "PROJECT":
        return tuple(TargetView("PROJECT", i, project_id=i) for i in ids)
    if remind.remind_unit == "BIZPROCESS":
        rows = session.execute(
            sa.select(Workflow.id, Workflow.name, Workflow.owner).where(Workflow.id.in_(ids))
        )
        names = {r.id: (r.name, r.owner) for r in rows}
        return tuple(
            TargetView("BIZPROCESS", i, *names.get(i, ("", "")), project_id=remind.workspace_id)
            for i in ids
        )
    rows = session.execute(
        sa.select(File.node_id, File.name, File.owner).where(File.node_id.in_(ids))
    )
    nodes = {r.node_id: (r.name, r.owner) for r in rows}
    return tuple(
        TargetView("NODE", i, *nodes.get(i, ("", "")), project_id=remind.workspace_id) for i in ids
    )


def _set_targets(session: Session, remind: Remind, kind: str, ids: Iterable[int]) -> None:
    session.execute(sa.delete(RemindTarget).where(RemindTarget.remind_id == remind.id))
    session.add_all(RemindTarget(remind_id=remind.id, kind=kind, target_id=i) for i in ids)


# --- the rule operations --------------------------------------------------------------------


def _load(value: str) -> tuple[str, ...]:
    return tuple(json.loads(value or "[]"))


def _dump(values: Iterable[str]) -> str:
    return json.dumps(list(values))


def _view(session: Session, remind: Remind) -> RemindView:
    return RemindView(
        remind_id=remind.id,
        project_id=remind.workspace_id,
        remind_name=remind.name,
        remind_unit=remind.remind_unit,
        remind_type=remind.remind_type,
        detail=remind.detail,
        alert_unit=remind.alert_unit,
        alert_targets=_load(remind.alert_targets),
        alert_methods=_load(remind.alert_methods),
        robot_urls=_load(remind.robot_urls),
        webhooks=_load(remind.webhooks),
        alert_interval=remind.alert_interval,
        max_alert_times=remind.max_alert_times,
        dnd_end=remind.dnd_end,
        use_flag=bool(remind.use_flag),
        founder=remind.founder,
        targets=_targets_of(session, remind),
        created_at=remind.created_at,
        modified_at=remind.modified_at,
    )


def _store(remind: Remind, rule: _Rule) -> None:
    remind.name = rule.name
    remind.remind_unit = rule.remind_unit
    remind.remind_type = rule.remind_type
    remind.detail = rule.detail
    remind.alert_unit = rule.alert_unit
    remind.alert_targets = _dump(rule.alert_targets)
    remind.alert_methods = _dump(rule.alert_methods)
    remind.robot_urls = _dump(rule.robot_urls)
    remind.webhooks = _dump(rule.webhooks)
    remind.alert_interval = rule.alert_interval
    remind.max_alert_times = rule.max_alert_times
    remind.dnd_end = rule.dnd_end
    remind.use_flag = rule.use_flag


def _duplicate(ws: Workspace, name: str) -> Conflict:
    return Conflict(
        "Remind",
        f"RemindName={name!r} is already a rule of workspace {ws.identifier!r}.",
        reason="Duplicate",
    )


def _name_taken(session: Session, ws: Workspace, name: str, but: int | None = None) -> bool:
    query = sa.select(Remind.id).where(Remind.workspace_id == ws.id, Remind.name == name)
    if but is not None:
        query = query.where(Remind.id != but)
    return session.scalar(query.limit(1)) is not None


def create_remind(
    ctx: ServiceContext,
    *,
    project_id: int,
    remind_name: str | None,
    remind_unit: str | None,
    remind_type: str | None,
    alert_unit: str | None,
    alert_methods: str | None,
    detail: str | None = None,
    alert_targets: str | None = None,
    biz_process_ids: str | None = None,
    node_ids: str | None = None,
    baseline_ids: str | None = None,
    robot_urls: str | None = None,
    webhooks: str | None = None,
    alert_interval: int | None = None,
    max_alert_times: int | None = None,
    dnd_end: str | None = None,
    caller: Caller = Caller(),
) -> RemindView:
    """Create a rule in workspace `project_id` (CreateRemind); enabled. Its targets must be of
    that workspace; a name already used there → `Invalid.Remind.Duplicate`. `baseline_ids` is
    accepted and ignored: RemindUnit BASELINE is refused."""
    rule = _validated(
        _Rule(
            name=remind_name or "",
            remind_unit=remind_unit or "",
            remind_type=remind_type or "",
            detail=detail or "",
            alert_unit=alert_unit or "",
            alert_targets=tuple(_pieces(alert_targets)),
            alert_methods=tuple(_pieces(alert_methods)),
            robot_urls=tuple(_pieces(robot_urls)),
            webhooks=tuple(_pieces(webhooks)),
            alert_interval=DEFAULT_ALERT_INTERVAL if alert_interval is None else alert_interval,
            max_alert_times=(
                DEFAULT_MAX_ALERT_TIMES if max_alert_times is None else max_alert_times
            ),
            dnd_end=_check_dnd_end(dnd_end),
            use_flag=True,
            target_ids=(),
        )
    )
    with ctx.db.transaction() as session:
        ws = resolve_workspace(session, project_id=project_id)
        ids = _target_ids(
            session, ws, rule.remind_unit, biz_process_ids=biz_process_ids, node_ids=node_ids
        )
        if _name_taken(session, ws, rule.name):
            raise _duplicate(ws, rule.name)
        now = ctx.clock()
        remind = Remind(workspace_id=ws.id, founder=caller.name, created_at=now, modified_at=now)
        _store(remind, rule)
        session.add(remind)
        flush_unique(session, _duplicate(ws, rule.name))
        _set_targets(session, remind, rule.remind_unit, ids)
        session.flush()
        view = _view(session, remind)
    rules_changed()  # committed: the engine reloads the rules at its next event
    return view


def _remind(session: Session, remind_id: int) -> Remind:
    remind = session.get(Remind, remind_id)
    if remind is None:
        raise NotFound("Remind", f"The rule RemindId={remind_id} does not exist.")
    return remind


def get_remind(ctx: ServiceContext, *, remind_id: int) -> RemindView:
    """The rule `remind_id` (GetRemind)."""
    with ctx.db.transaction(readonly=True) as session:
        return _view(session, _remind(session, remind_id))


def update_remind(
    ctx: ServiceContext,
    *,
    remind_id: int,
    project_id: int | None = None,
    remind_name: str | None = None,
    remind_unit: str | None = None,
    remind_type: str | None = None,
    detail: str | None = None,
    alert_unit: str | None = None,
    alert_targets: str | None = None,
    alert_methods: str | None = None,
    biz_process_ids: str | None = None,
    node_ids: str | None = None,
    robot_urls: str | None = None,
    webhooks: str | None = None,
    alert_interval: int | None = None,
    max_alert_times: int | None = None,
    dnd_end: str | None = None,
    use_flag: bool | None = None,
) -> RemindView:
    """Change the fields given (UpdateRemind); the others keep their values and the whole rule
    is checked again. A rule stays in its workspace; changing RemindUnit needs new targets,
    changing RemindType a Detail that fits it (ERROR and FINISHED clear it)."""
    with ctx.db.transaction() as session:
        remind = _remind(session, remind_id)
        ws = session.get(Workspace, remind.workspace_id)
        assert ws is not None
        if project_id is not None and project_id != ws.id:
            raise InvalidParameter(
                f"ProjectId={project_id}: rule RemindId={remind_id} belongs to workspace "
                f"{ws.identifier!r} (ProjectId={ws.id}) and cannot move."
            )
        old = _view(session, remind)
        unit = _check_unit(remind_unit) if remind_unit is not None else old.remind_unit
        new_type = _check_type(remind_type) if remind_type is not None else old.remind_type
        if detail is None and new_type != old.remind_type:
            detail = "" if new_type in ("ERROR", "FINISHED") else None
        new_unit = alert_unit if alert_unit is not None else old.alert_unit
        targets = (
            tuple(_pieces(alert_targets))
            if alert_targets is not None
            else (() if new_unit.upper() == "OWNER" else old.alert_targets)
        )
        rule = _validated(
            _Rule(
                name=remind_name if remind_name is not None else old.remind_name,
                remind_unit=unit,
                remind_type=new_type,
                detail=detail if detail is not None else old.detail,
                alert_unit=new_unit,
                alert_targets=targets,
                alert_methods=(
                    tuple(_pieces(alert_methods))
                    if alert_methods is not None
                    else old.alert_methods
                ),
                robot_urls=(
                    tuple(_pieces(robot_urls)) if robot_urls is not None else old.robot_urls
                ),
                webhooks=tuple(_pieces(webhooks)) if webhooks is not None else old.webhooks,
                alert_interval=(
                    alert_interval if alert_interval is not None else old.alert_interval
                ),
                max_alert_times=(
                    max_alert_times if max_alert_times is not None else old.max_alert_times
                ),
                dnd_end=_check_dnd_end(dnd_end) if dnd_end is not None else old.dnd_end,
                use_flag=use_flag if use_flag is not None else old.use_flag,
                target_ids=(),
            )
        )
        retarget = (
            unit != old.remind_unit
            or (unit == "BIZPROCESS" and biz_process_ids is not None)
            or (unit == "NODE" and node_ids is not None)
        )
        ids: tuple[int, ...] = ()
        if retarget:
            ids = _target_ids(session, ws, unit, biz_process_ids=biz_process_ids, node_ids=node_ids)
        if _name_taken(session, ws, rule.name, but=remind.id):
            raise _duplicate(ws, rule.name)
        _store(remind, rule)
        remind.modified_at = ctx.clock()
        flush_unique(session, _duplicate(ws, rule.name))
        if retarget:
            _set_targets(session, remind, unit, ids)
            session.flush()
        view = _view(session, remind)
    rules_changed()
    return view


def delete_remind(ctx: ServiceContext, *, remind_id: int) -> None:
    """Delete the rule (DeleteRemind). The alert messages it raised stay, with its name."""
    with ctx.db.transaction() as session:
        remind = _remind(session, remind_id)
        session.execute(sa.delete(RemindTarget).where(RemindTarget.remind_id == remind.id))
        session.delete(remind)
    rules_changed()


def _visible(
    session: Session, caller: Caller, column: sa.ColumnElement[int]
) -> sa.ColumnElement[bool]:
    visible = iam.visible_project_ids(session, caller)
    return sa.true() if visible is None else column.in_(visible)


def list_reminds(
    ctx: ServiceContext,
    *,
    page_number: int = 1,
    page_size: int = 10,
    search_text: str | None = None,
    founder: str | None = None,
    remind_types: str | None = None,
    alert_target: str | None = None,
    node_id: int | None = None,
    project_id: int | None = None,
    caller: Caller = Caller(),
) -> Page[RemindView]:
    """The rules of the workspaces the caller may see, newest first (ListReminds): filtered by
    a word of the name, the founder, the RemindTypes, a recipient, or a node they watch (a
    NODE rule naming it, a BIZPROCESS rule on its workflow, a PROJECT rule on its workspace),
    or one workspace (`project_id`)."""
    offset, limit = check_paging(page_number, page_size)
    types = [_check_type(t) for t in _pieces(remind_types)]
    with ctx.db.transaction(readonly=True) as session:
        where = [_visible(session, caller, Remind.workspace_id)]
        if search_text:
            where.append(sa.func.lower(Remind.name).contains(search_text.lower(), autoescape=True))
        if founder:
            where.append(Remind.founder == founder)
        if types:
            where.append(Remind.remind_type.in_(types))
        if alert_target:
            # the JSON list holds it as `"<target>"`
            where.append(Remind.alert_targets.contains(json.dumps(alert_target), autoescape=True))
        if node_id is not None:
            where.append(_watching_node(session, node_id))
        if project_id is not None:
            where.append(Remind.workspace_id == project_id)
        total = session.scalar(sa.select(sa.func.count()).select_from(Remind).where(*where)) or 0
        rows = session.scalars(
            sa.select(Remind).where(*where).order_by(Remind.id.desc()).offset(offset).limit(limit)
        ).all()
        return Page(
            items=tuple(_view(session, r) for r in rows),
            page_number=page_number,
            page_size=page_size,
            total_count=total,
        )


def _watching_node(session: Session, node_id: int) -> sa.ColumnElement[bool]:
    file = session.execute(
        sa.select(File.workspace_id, File.workflow_id).where(File.node_id == node_id).limit(1)
    ).first()
    pairs = [("NODE", node_id)]
    if file is not None:
        pairs.append(("PROJECT", file.workspace_id))
        if file.workflow_id is not None:
            pairs.append(("BIZPROCESS", file.workflow_id))
    watching = sa.select(RemindTarget.remind_id).where(
        sa.or_(*(sa.and_(RemindTarget.kind == k, RemindTarget.target_id == i) for k, i in pairs))
    )
    return Remind.id.in_(watching)


# --- alert messages -------------------------------------------------------------------------


def _utc_ms(value: str | None, parameter: str) -> int:
    if value is None or not value.strip():
        raise MissingParameter(parameter)
    text = value.strip()
    try:
        moment = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        raise InvalidParameter(
            f"{parameter}={value!r} must be a UTC time as yyyy-MM-ddTHH:mm:ssZ "
            "(e.g. 2026-12-06T08:00:00Z)."
        ) from None
    return int(moment.timestamp() * 1000)


def _message_views(session: Session, rows: Sequence[AlertMessage]) -> tuple[AlertMessageView, ...]:
    ids = [r.id for r in rows]
    deliveries: dict[int, list[DeliveryView]] = {i: [] for i in ids}
    if ids:
        for d in session.scalars(
            sa.select(AlertDelivery)
            .where(AlertDelivery.message_id.in_(ids))
            .order_by(AlertDelivery.id)
        ):
            deliveries[d.message_id].append(
                DeliveryView(
                    d.channel, d.receiver, d.status, d.attempts, d.sent_at, d.last_error or ""
                )
            )
    return tuple(
        AlertMessageView(
            alert_id=r.id,
            project_id=r.workspace_id,
            remind_id=r.remind_id,
            remind_name=r.remind_name,
            source=r.source,
            trigger=r.trigger,
            dag_id=r.dag_id,
            instance_id=r.instance_id,
            node_id=r.node_id,
            node_name=r.node_name,
            node_owner=r.node_owner,
            instance_status=r.instance_status,
            subject=r.subject,
            content=r.content,
            created_at=r.created_at,
            deliveries=tuple(deliveries[r.id]),
        )
        for r in rows
    )


def list_alert_messages(
    ctx: ServiceContext,
    *,
    begin_time: str | None,
    end_time: str | None,
    page_number: int = 1,
    page_size: int = 10,
    alert_methods: str | None = None,
    alert_rule_types: str | None = None,
    alert_user: str | None = None,
    remind_id: int | None = None,
    baseline_id: int | None = None,
    project_id: int | None = None,
    caller: Caller = Caller(),
) -> Page[AlertMessageView]:
    """The alert messages raised from `begin_time` up to `end_time` (UTC, inclusive) in the
    workspaces the caller may see, newest first (ListAlertMessages); filtered by channel
    (any of `alert_methods`), recipient, rule, workspace (`project_id`). Every message here
    comes from a custom rule (AlertRuleTypes USER_DEFINE): asking only for GLOBAL or OTHER
    finds none."""
    offset, limit = check_paging(page_number, page_size)
    # Times are to the second: EndTime takes in its whole second (an alert raised at
    # 08:00:00.250 is listed up to EndTime 08:00:00).
    begin, end = _utc_ms(begin_time, "BeginTime"), _utc_ms(end_time, "EndTime") + 999
    if begin > end:
        raise InvalidParameter(f"BeginTime={begin_time!r} is after EndTime={end_time!r}.")
    if baseline_id is not None:
        raise InvalidParameter("BaselineId is not supported: opcenter has no baselines.")
    methods = _check_methods(alert_methods) if alert_methods else []
    rule_types = [t.upper() for t in _pieces(alert_rule_types)]
    for t in rule_types:
        if t not in ("GLOBAL", "USER_DEFINE", "OTHER"):
            raise InvalidParameter(
                f"AlertRuleTypes: {t!r} is not one of GLOBAL, USER_DEFINE, OTHER."
            )
    with ctx.db.transaction(readonly=True) as session:
        where = [
            _visible(session, caller, AlertMessage.workspace_id),
            AlertMessage.created_at >= begin,
            AlertMessage.created_at <= end,
        ]
        if rule_types and "USER_DEFINE" not in rule_types:
            where.append(sa.false())
        if remind_id is not None:
            where.append(AlertMessage.remind_id == remind_id)
        if project_id is not None:
            where.append(AlertMessage.workspace_id == project_id)
        if methods or alert_user:
            delivered = sa.select(AlertDelivery.message_id)
            if methods:
                delivered = delivered.where(AlertDelivery.channel.in_(methods))
            if alert_user:
                delivered = delivered.where(AlertDelivery.receiver == alert_user)
            where.append(AlertMessage.id.in_(delivered))
        total = (
            session.scalar(sa.select(sa.func.count()).select_from(AlertMessage).where(*where)) or 0
        )
        rows = session.scalars(
            sa.select(AlertMessage)
            .where(*where)
            .order_by(AlertMessage.created_at.desc(), AlertMessage.id.desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return Page(
            items=_message_views(session, rows),
            page_number=page_number,
            page_size=page_size,
            total_count=total,
        )


def _alert_not_found(alert_id: object) -> NotFound:
    return NotFound("AlertMessage", f"The alert AlertId={alert_id} does not exist.")


def _alert_id(value: str | int | None) -> int:
    if value is None or str(value).strip() == "":
        raise MissingParameter("AlertId")
    text = str(value).strip()
    if not text.isascii() or not text.isdigit():
        raise _alert_not_found(value)
    return int(text)


def get_alert_message(ctx: ServiceContext, *, alert_id: str | int | None) -> AlertMessageView:
    """The alert message `alert_id` and its deliveries (GetAlertMessage)."""
    number = _alert_id(alert_id)
    with ctx.db.transaction(readonly=True) as session:
        row = session.get(AlertMessage, number)
        if row is None:
            raise _alert_not_found(alert_id)
        return _message_views(session, [row])[0]


# --- the workspace a call touches (authorization) -------------------------------------------


def _ref(session: Session, workspace_id: int) -> WorkspaceRef:
    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    return WorkspaceRef(ws.id, ws.identifier, ws.owner or "")


def workspace_of_remind(ctx: ServiceContext, remind_id: int) -> WorkspaceRef:
    """The workspace of rule `remind_id`; NotFound when there is none."""
    with ctx.db.transaction(readonly=True) as session:
        return _ref(session, _remind(session, remind_id).workspace_id)


def workspace_of_alert(ctx: ServiceContext, alert_id: str | int | None) -> WorkspaceRef:
    """The workspace of alert message `alert_id`; NotFound when there is none."""
    number = _alert_id(alert_id)
    with ctx.db.transaction(readonly=True) as session:
        workspace_id = session.scalar(
            sa.select(AlertMessage.workspace_id).where(AlertMessage.id == number)
        )
        if workspace_id is None:
            raise _alert_not_found(alert_id)
        return _ref(session, workspace_id)


def workspace_of_workflow(ctx: ServiceContext, business_id: int) -> WorkspaceRef:
    """The workspace of the live workflow `business_id`; NotFound when there is none."""
    with ctx.db.transaction(readonly=True) as session:
        workspace_id = session.scalar(
            sa.select(Workflow.workspace_id).where(
                Workflow.id == business_id, Workflow.deleted_at.is_(None)
            )
        )
        if workspace_id is None:
            raise NotFound("Business", f"The workflow BusinessId={business_id} does not exist.")
        return _ref(session, workspace_id)
