"""Raising alerts: the engine's hook that writes alert messages (store/alerts.py, the outbox)
in the transaction of the state change that causes them. docs/alerts.md is the user's account.

- ERROR (each failed attempt) and FINISHED (an instance succeeded; a Dag finished, for
  BIZPROCESS and PROJECT rules) are raised by the engine step that commits the transition, in
  its transaction: a crash after the commit loses nothing, a rollback raises nothing, and a
  transition is a compare-and-set on the instance's row, so it is never applied (and never
  raises) twice.
- TIMEOUT and UNFINISHED are found by `tick`, run by the leading engine after its steps, at
  most once a second and only while such rules exist, in a transaction of its own.

Every event is one `alert_events` row, keyed by rule and event (`<remind>:<type>:instance/<id>/
attempt/<n>`, `…:dag/<id>`, `…:instance/<id>` for UNFINISHED), inserted only if absent: an event
seen again (a restarted engine, a second engine) is not counted again. **Budget per rule and
run** (a run is one RunManualDagNodes call, its Dags sharing `run_id`): the first event of a
(rule, run) raises a message at once; later events are counted on their rows (`message_id`
NULL) until `AlertInterval` seconds after the last message, when the next event, or `tick`
for the events counted meanwhile, raises one message that reports them ("and N more …"); at
most `MaxAlertTimes` messages per (rule, run). Message k of a (rule, run) has the dedupe key
`<remind>:<type>:run/<run>:<k>`, so two engines racing for it write one.

Cost: the enabled rules are cached in memory, indexed by type and target; the cache reloads
when this process wrote a rule (store/alerts.py `rules_generation`) and at least every
`REFRESH_SECONDS` (rules written by another process). An event no rule watches costs no
statement; what a Dag is (workspace, workflow, run, its instances' nodes) is read once per
Dag, and only while some rule of the event's type exists.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.store.alerts import dedupe_key, record_alert, rules_generation
from opcenter.store.db import Database
from opcenter.store.tables import (
    AlertEvent,
    Dag,
    Instance,
    Remind,
    RemindTarget,
    Workflow,
    Workspace,
)

__all__ = ["REFRESH_SECONDS", "TICK_SECONDS", "UNFINISHED_WINDOW_MS", "EngineAlerts"]

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0  # rules written by another process are seen within this delay
TICK_SECONDS = 1.0  # TIMEOUT / UNFINISHED looked for at most this often
UNFINISHED_WINDOW_MS = 3 * 86_400_000  # UNFINISHED watches the Dags created in the last 3 days
_FLUSH_WINDOW_MS = 2 * 86_400_000  # counted events older than this are not reported any more
_DAG_INFO_LIMIT = 20_000

S = InstanceStatus
_E = AlertEvent.__table__
_I = Instance.__table__
_D = Dag.__table__
_WORDS = {
    "ERROR": "failed",
    "FINISHED": "finished",
    "TIMEOUT": "ran too long",
    "UNFINISHED": "was not finished in time",
}

# Core, like the statements below: the engine's ORM would configure every mapper first.
_RM = Remind.__table__
_RT = RemindTarget.__table__
_RULES = sa.select(
    _RM.c.id,
    _RM.c.workspace_id,
    _RM.c.name,
    _RM.c.remind_unit,
    _RM.c.remind_type,
    _RM.c.detail,
    _RM.c.alert_unit,
    _RM.c.alert_targets,
    _RM.c.alert_methods,
    _RM.c.robot_urls,
    _RM.c.webhooks,
    _RM.c.alert_interval,
    _RM.c.max_alert_times,
    _RM.c.dnd_end,
    _RT.c.kind,
    _RT.c.target_id,
).join(_RT, _RT.c.remind_id == _RM.c.id)
_RULES = _RULES.where(_RM.c.use_flag.is_(True))
_DAG = sa.select(_D.c.workspace_id, _D.c.workflow_id, _D.c.run_id).where(
    _D.c.id == sa.bindparam("dag_id")
)
_NODES = sa.select(_I.c.id, _I.c.node_id).where(_I.c.dag_id == sa.bindparam("dag_id"))
_BUDGET = sa.select(
    sa.func.count(),
    sa.func.count(sa.distinct(_E.c.message_id)),
    sa.func.max(sa.case((_E.c.message_id.is_not(None), _E.c.created_at))),
).where(_E.c.remind_id == sa.bindparam("r"), _E.c.run_id == sa.bindparam("u"))
_UNREPORTED = (
    sa.select(sa.func.count())
    .select_from(_E)
    .where(
        _E.c.remind_id == sa.bindparam("r"),
        _E.c.run_id == sa.bindparam("u"),
        _E.c.message_id.is_(None),
    )
)
_REPORT = (
    sa.update(_E)
    .where(
        _E.c.remind_id == sa.bindparam("r"),
        _E.c.run_id == sa.bindparam("u"),
        _E.c.message_id.is_(None),
    )
    .values(message_id=sa.bindparam("m"))
)
_LATEST_UNREPORTED = (
    sa.select(_E.c.dag_id, _E.c.instance_id)
    .where(
        _E.c.remind_id == sa.bindparam("r"),
        _E.c.run_id == sa.bindparam("u"),
        _E.c.message_id.is_(None),
    )
    .order_by(_E.c.created_at.desc())
    .limit(1)
)
_WAITING = (
    sa.select(_E.c.remind_id, _E.c.run_id)
    .where(_E.c.message_id.is_(None), _E.c.created_at >= sa.bindparam("since"))
    .distinct()
)


@dataclass(frozen=True)
class Rule:
    """An enabled rule, as the engine needs it."""

    id: int
    workspace_id: int
    name: str
    unit: str
    type: str
    detail: str
    alert_unit: str
    alert_targets: tuple[str, ...]
    methods: tuple[str, ...]
    robot_urls: tuple[str, ...]
    webhooks: tuple[str, ...]
    interval_ms: int
    max_times: int
    dnd_end: str | None
    targets: set[tuple[str, int]] = field(default_factory=set, compare=False)

    def watches(self, workspace_id: int, workflow_id: int, node_id: int | None) -> bool:
        t = self.targets
        return (
            ("PROJECT", workspace_id) in t
            or ("BIZPROCESS", workflow_id) in t
            or (node_id is not None and ("NODE", node_id) in t)
        )

    def timeout_ms(self) -> int:
        return int(self.detail) * 1000

    def time_of_day(self) -> tuple[int, int]:
        value = json.loads(self.detail)
        return int(value["hour"]), int(value["minu"])


@dataclass
class _DagInfo:
    workspace_id: int
    workflow_id: int
    run_id: int
    nodes: dict[int, int]  # instance id -> node id


@dataclass(frozen=True)
class _Event:
    trigger: str
    key_subject: str
    run_id: int
    dag_id: int
    instance_id: int | None
    status: str


class EngineAlerts:
    """The rule cache and the hooks of one engine (see the module docstring)."""

    def __init__(self, tz: ZoneInfo, runs: Collection[int] | None = None) -> None:
        self.tz = tz
        self.runs = None if runs is None else frozenset(runs)
        self._by_type: dict[str, list[Rule]] = {}
        self._generation = -1
        self._loaded_at = float("-inf")
        self._dags: dict[int, _DagInfo] = {}
        self.checked_at = float("-inf")  # time.monotonic() of the last `tick`
        self._flush_at: int | None = 0  # epoch ms: counted events may be reported; None: none
        self._seen: set[str] = set()  # TIMEOUT / UNFINISHED events recorded (or found recorded)

    # -- the rule cache ---------------------------------------------------------------------

    def _stale(self) -> bool:
        return self._generation != rules_generation()

    def refresh(self, conn: Connection, *, force: bool = False) -> None:
        """Reload the enabled rules (one statement) when this process changed them, when
        `REFRESH_SECONDS` have passed, or with `force`."""
        if not (force or self._stale() or time.monotonic() - self._loaded_at >= REFRESH_SECONDS):
            return
        generation = rules_generation()
        rules: dict[int, Rule] = {}
        for row in conn.execute(_RULES):
            rule = rules.get(row.id)
            if rule is None:
                rule = rules[row.id] = Rule(
                    id=row.id,
                    workspace_id=row.workspace_id,
                    name=row.name,
                    unit=row.remind_unit,
                    type=row.remind_type,
                    detail=row.detail,
                    alert_unit=row.alert_unit,
                    alert_targets=tuple(json.loads(row.alert_targets)),
                    methods=tuple(json.loads(row.alert_methods)),
                    robot_urls=tuple(json.loads(row.robot_urls)),
                    webhooks=tuple(json.loads(row.webhooks)),
                    interval_ms=int(row.alert_interval) * 1000,
                    max_times=int(row.max_alert_times),
                    dnd_end=row.dnd_end,
                )
            rule.targets.add((row.kind, int(row.target_id)))
        by_type: dict[str, list[Rule]] = {}
        for rule in rules.values():
            by_type.setdefault(rule.type, []).append(rule)
        self._by_type = by_type
        self._generation = generation
        self._loaded_at = time.monotonic()

    def _rules(self, session: Session, trigger: str) -> list[Rule]:
        if self._stale():
            self.refresh(session.connection(), force=True)
        return self._by_type.get(trigger, [])

    def _dag(self, session: Session, dag_id: int) -> _DagInfo | None:
        info = self._dags.get(dag_id)
        if info is None:
            conn = session.connection()
            row = conn.execute(_DAG, {"dag_id": dag_id}).first()
            if row is None:
                return None
            if len(self._dags) >= _DAG_INFO_LIMIT:
                self._dags.clear()
            nodes = {r.id: r.node_id for r in conn.execute(_NODES, {"dag_id": dag_id})}
            info = self._dags[dag_id] = _DagInfo(
                row.workspace_id, row.workflow_id, row.run_id, nodes
            )
        return info

    # -- the hooks the engine calls in its step's transaction -------------------------------

    def attempt_ended(
        self,
        session: Session,
        dag_id: int,
        instance_id: int,
        attempt: int,
        status: InstanceStatus,
        now: int,
    ) -> None:
        """An attempt's end was just recorded: FAILURE or WAIT_TIME (an automatic rerun
        follows) is an ERROR event, SUCCESS a FINISHED one."""
        if status is S.SUCCESS:
            trigger = "FINISHED"
        elif status in (S.FAILURE, S.WAIT_TIME):
            trigger = "ERROR"
        else:
            return
        rules = self._rules(session, trigger)
        if not rules:
            return  # the hot path: no rule of this type, no statement
        info = self._dag(session, dag_id)
        if info is None:
            return
        node_id = info.nodes.get(instance_id)
        watching = [r for r in rules if r.watches(info.workspace_id, info.workflow_id, node_id)]
        event = _Event(
            trigger,
            f"instance/{instance_id}/attempt/{attempt}",
            info.run_id,
            dag_id,
            instance_id,
            S.FAILURE.value if trigger == "ERROR" else status.value,
        )
        for rule in watching:
            self._event(session, rule, event, now)

    def interrupted(self, session: Session, instance_ids: list[int], now: int) -> None:
        """Attempts a stopped server left RUNNING, just settled by recovery (FAILURE, or
        WAIT_TIME for an automatic rerun): each is a failed attempt, an ERROR event."""
        if not instance_ids or not self._rules(session, "ERROR"):
            return
        rows = session.connection().execute(
            sa.select(_I.c.id, _I.c.dag_id, _I.c.attempt).where(_I.c.id.in_(instance_ids))
        )
        for row in rows.all():
            self.attempt_ended(session, row.dag_id, row.id, row.attempt, S.FAILURE, now)

    def dag_ended(self, session: Session, dag_id: int, status: DagStatus, now: int) -> None:
        """A Dag's SUCCESS or FAILURE was just written: a FINISHED event for the BIZPROCESS
        and PROJECT rules watching its workflow."""
        rules = self._rules(session, "FINISHED")
        if not rules:
            self._dags.pop(dag_id, None)
            return
        info = self._dag(session, dag_id)
        self._dags.pop(dag_id, None)
        if info is None:
            return
        event = _Event("FINISHED", f"dag/{dag_id}", info.run_id, dag_id, None, status.value)
        for rule in rules:
            if rule.unit != "NODE" and rule.watches(info.workspace_id, info.workflow_id, None):
                self._event(session, rule, event, now)

    # -- events and the budget per (rule, run) ----------------------------------------------

    def _event(self, session: Session, rule: Rule, event: _Event, now: int) -> None:
        conn = session.connection()
        key = dedupe_key(rule.id, event.trigger, event.key_subject)
        row = {
            "key": key,
            "remind_id": rule.id,
            "run_id": event.run_id,
            "trigger": event.trigger,
            "dag_id": event.dag_id,
            "instance_id": event.instance_id,
            "message_id": None,
            "created_at": now,
        }
        if not _insert_absent(conn, row):
            return  # seen before: counted once
        self._budget(session, rule, event.run_id, now, event)

    def _budget(
        self, session: Session, rule: Rule, run_id: int, now: int, event: _Event | None
    ) -> None:
        """Raise the next message of (rule, run) if its budget allows it now, reporting every
        event counted since the last one; otherwise leave the events counted."""
        conn = session.connection()
        params = {"r": rule.id, "u": run_id}
        _, messages, last = conn.execute(_BUDGET, params).one()
        if messages >= rule.max_times:
            return
        if messages and last is not None and now - int(last) < rule.interval_ms:
            due = int(last) + rule.interval_ms
            self._flush_at = due if self._flush_at is None else min(self._flush_at, due)
            return
        waiting = int(conn.execute(_UNREPORTED, params).scalar_one())
        if waiting == 0:
            return
        if event is None:  # a report of counted events: the latest names the run
            latest = conn.execute(_LATEST_UNREPORTED, params).first()
            if latest is None:
                return
            event = _Event(rule.type, "", run_id, latest.dag_id, latest.instance_id, "")
        message_id = self._message(session, rule, event, messages + 1, waiting, now)
        if message_id is not None:
            conn.execute(_REPORT, {**params, "m": message_id})

    def _message(
        self, session: Session, rule: Rule, event: _Event, number: int, reported: int, now: int
    ) -> int | None:
        facts = _facts(session, event)
        if facts is None:
            return None
        owner = facts["node_owner"] if event.instance_id is not None else facts["workflow_owner"]
        receivers: list[tuple[str, str]] = []
        for method in rule.methods:
            if method == "MAIL":
                people = rule.alert_targets if rule.alert_unit == "OTHER" else (owner,)
                receivers += [("MAIL", p) for p in people if p]
            elif method == "DINGROBOTS":
                receivers += [("DINGROBOTS", u) for u in rule.robot_urls]
            elif method == "WEBHOOKS":
                receivers += [("WEBHOOKS", u) for u in rule.webhooks]
        status = event.status or facts["status"]
        what = (
            f"Dag {event.dag_id} ({facts['dag_name']})"
            if event.instance_id is None
            else f"node {facts['node_name']} (instance {event.instance_id})"
        )
        subject = f"[opcenter] {rule.type}: {what} {_WORDS[rule.type]}"
        if event.trigger != rule.type or not event.key_subject:
            subject = f"[opcenter] {rule.type}: more events in run {event.run_id}"
        lines = [
            f"Rule: {rule.name} ({rule.type})",
            f"Workspace: {facts['workspace']}",
            f"Workflow: {facts['workflow']}",
        ]
        if event.instance_id is not None:
            lines += [f"Node: {facts['node_name']}", f"Instance: {event.instance_id}"]
        lines += [
            f"Dag: {event.dag_id} ({facts['dag_name']}), run {event.run_id}",
            f"Business date: {facts['biz_date']}",
            f"Status: {status}",
            f"Time: {_local(now, self.tz)}",
        ]
        if reported > 1:
            lines.append(
                f"This alert reports {reported} {rule.type} events of this run since the last "
                "alert (the latest above)."
            )
        lines.append(f"Alert {number} of at most {rule.max_times} for this run.")
        return record_alert(
            session.connection(),
            workspace_id=facts["workspace_id"],
            remind_id=rule.id,
            remind_name=rule.name,
            trigger=rule.type,
            key=dedupe_key(rule.id, rule.type, f"run/{event.run_id}", number),
            receivers=receivers,
            created_at=now,
            subject=subject[:512],
            content="\n".join(lines),
            dag_id=event.dag_id,
            instance_id=event.instance_id,
            node_id=facts.get("node_id"),
            node_name=facts.get("node_name") or "",
            node_owner=owner or "",
            instance_status=status,
            next_attempt_at=_after_dnd(now, rule.dnd_end, self.tz),
        )

    # -- the periodic check (its own transaction, after a step) -----------------------------

    def check(self, db: Database, clock: Callable[[], int]) -> None:
        """The periodic check of a leading engine, after its step: the rules reloaded in a
        read-only transaction (one statement; all there is to do while no rule needs the
        check), then `tick` in a write transaction when TIMEOUT or UNFINISHED rules exist or
        counted events are due to be reported."""
        self.checked_at = time.monotonic()
        with db.transaction(readonly=True) as session:
            # Always: checks come about every TICK_SECONDS, and the last load ended a little
            # after the last check began, so a time test here skipped every other reload (a
            # rule from another process was then seen after up to twice REFRESH_SECONDS).
            self.refresh(session.connection(), force=True)
        now = clock()
        flush = bool(self._by_type) and self._flush_at is not None and self._flush_at <= now
        if not (self._by_type.get("TIMEOUT") or self._by_type.get("UNFINISHED") or flush):
            return
        with db.transaction() as session:
            self.tick(session, clock())

    def due(self) -> bool:
        """Whether `tick` has anything to do (no statement)."""
        return time.monotonic() - self.checked_at >= TICK_SECONDS

    def tick(self, session: Session, now: int) -> None:
        """TIMEOUT and UNFINISHED events, and the reports of counted events whose interval
        has passed. At most every `TICK_SECONDS`; statements only while rules exist."""
        self.checked_at = time.monotonic()
        conn = session.connection()
        self.refresh(conn)
        seen: set[str] = set()
        timeouts = self._by_type.get("TIMEOUT", [])
        if timeouts:
            self._timeouts(session, timeouts, now, seen)
        unfinished = self._by_type.get("UNFINISHED", [])
        if unfinished:
            self._unfinished(session, unfinished, now, seen)
        self._seen = seen  # what no longer qualifies is forgotten
        if self._flush_at is not None and self._flush_at <= now:
            self._flush(session, now)

    def _timeouts(self, session: Session, rules: list[Rule], now: int, seen: set[str]) -> None:
        shortest = min(r.timeout_ms() for r in rules)
        query = (
            sa.select(
                _I.c.id,
                _I.c.attempt,
                _I.c.dag_id,
                _I.c.node_id,
                _I.c.workflow_id,
                _I.c.workspace_id,
                _I.c.begin_running_time,
                _D.c.run_id,
            )
            .join(_D, _D.c.id == _I.c.dag_id)
            .where(
                _I.c.status == S.RUNNING.value,
                _I.c.begin_running_time <= now - shortest,
                _I.c.workspace_id.in_(sorted({r.workspace_id for r in rules})),
            )
        )
        for row in session.connection().execute(self._scoped(query)):
            for rule in rules:
                if row.begin_running_time + rule.timeout_ms() > now:
                    continue
                if not rule.watches(row.workspace_id, row.workflow_id, row.node_id):
                    continue
                subject = f"instance/{row.id}/attempt/{row.attempt}"
                event = _Event("TIMEOUT", subject, row.run_id, row.dag_id, row.id, "RUNNING")
                self._periodic(session, rule, event, now, seen)

    def _unfinished(self, session: Session, rules: list[Rule], now: int, seen: set[str]) -> None:
        query = (
            sa.select(
                _I.c.id,
                _I.c.dag_id,
                _I.c.node_id,
                _I.c.workflow_id,
                _I.c.workspace_id,
                _I.c.status,
                _D.c.biz_date,
                _D.c.run_id,
            )
            .join(_D, _D.c.id == _I.c.dag_id)
            .where(
                _D.c.status.in_(
                    [DagStatus.CREATED.value, DagStatus.RUNNING.value, DagStatus.FAILURE.value]
                ),
                _D.c.created_at >= now - UNFINISHED_WINDOW_MS,
                _I.c.status != S.SUCCESS.value,
                _I.c.workspace_id.in_(sorted({r.workspace_id for r in rules})),
            )
        )
        deadlines: dict[tuple[dt.date, int], int] = {}
        for row in session.connection().execute(self._scoped(query)):
            for rule in rules:
                if not rule.watches(row.workspace_id, row.workflow_id, row.node_id):
                    continue
                mark = (row.biz_date, rule.id)
                if mark not in deadlines:
                    deadlines[mark] = _deadline(row.biz_date, rule.time_of_day(), self.tz)
                if deadlines[mark] > now:
                    continue
                event = _Event(
                    "UNFINISHED", f"instance/{row.id}", row.run_id, row.dag_id, row.id, row.status
                )
                self._periodic(session, rule, event, now, seen)

    def _periodic(
        self, session: Session, rule: Rule, event: _Event, now: int, seen: set[str]
    ) -> None:
        key = dedupe_key(rule.id, event.trigger, event.key_subject)
        seen.add(key)
        if key not in self._seen:  # recorded already (or found recorded) by an earlier tick
            self._event(session, rule, event, now)

    def _scoped(self, query: sa.Select[Any]) -> sa.Select[Any]:
        if self.runs is None:
            return query
        return query.where(_D.c.run_id.in_(sorted(self.runs)))

    def _flush(self, session: Session, now: int) -> None:
        """Report the counted events of every (rule, run) whose interval has passed."""
        self._flush_at = None
        rules = {r.id: r for group in self._by_type.values() for r in group}
        pending = session.connection().execute(_WAITING, {"since": now - _FLUSH_WINDOW_MS}).all()
        for remind_id, run_id in pending:
            rule = rules.get(int(remind_id))
            if rule is not None and (self.runs is None or run_id in self.runs):
                self._budget(session, rule, int(run_id), now, None)


def _insert_absent(conn: Connection, row: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; whether the row was new."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    result = conn.execute(insert(_E).values(row).on_conflict_do_nothing())
    return bool(result.rowcount)


def _facts(session: Session, event: _Event) -> dict[str, Any] | None:
    """What a message names: workspace, workflow, Dag, business date (and node, owner)."""
    conn = session.connection()
    ws, wf = Workspace.__table__, Workflow.__table__
    columns = [
        ws.c.id.label("workspace_id"),
        ws.c.identifier.label("workspace"),
        wf.c.name.label("workflow"),
        wf.c.owner.label("workflow_owner"),
        _D.c.name.label("dag_name"),
        _D.c.biz_date,
        _D.c.status.label("dag_status"),
    ]
    query = sa.select(*columns).select_from(
        _D.join(ws, ws.c.id == _D.c.workspace_id).join(wf, wf.c.id == _D.c.workflow_id)
    )
    row = conn.execute(query.where(_D.c.id == event.dag_id)).first()
    if row is None:
        return None
    facts = dict(row._mapping)
    facts["status"] = facts["dag_status"]
    if event.instance_id is not None:
        inst = conn.execute(
            sa.select(_I.c.node_id, _I.c.node_name, _I.c.owner, _I.c.status).where(
                _I.c.id == event.instance_id
            )
        ).first()
        if inst is not None:
            facts.update(
                node_id=inst.node_id,
                node_name=inst.node_name,
                node_owner=inst.owner,
                status=inst.status,
            )
    facts.setdefault("node_owner", "")
    return facts


def _local(now: int, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(now / 1000, tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def _deadline(biz_date: dt.date, time_of_day: tuple[int, int], tz: ZoneInfo) -> int:
    """Epoch ms of `hour:minu` of the business date (hour 24 and more: the next day)."""
    hour, minute = time_of_day
    day = biz_date + dt.timedelta(days=hour // 24)
    at = dt.datetime.combine(day, dt.time(hour % 24, minute), tzinfo=tz)
    return int(at.timestamp() * 1000)


def _after_dnd(now: int, dnd_end: str | None, tz: ZoneInfo) -> int | None:
    """When a delivery raised at `now` may go: `dnd_end` of today if it is still before it
    (do not disturb runs from midnight to `dnd_end`, server time zone); None: at once."""
    if not dnd_end:
        return None
    local = dt.datetime.fromtimestamp(now / 1000, tz)
    hour, minute = (int(p) for p in dnd_end.split(":"))
    end = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return int(end.timestamp() * 1000) if local < end else None
