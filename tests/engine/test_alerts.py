"""Raising alerts (issue 17): the engine writes an alert message, with its deliveries, into the
outbox in the transaction of the transition that raised it (engine/alerts.py): ERROR for each
failed attempt, FINISHED for an instance and a Dag, TIMEOUT and UNFINISHED from the periodic
check, one message per (rule, run) until AlertInterval has passed (the storm case: a failing
30-date range), nothing twice after a restart, nothing for a disabled rule or another
workflow's. Real engine, real local executor, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.engine.alerts import EngineAlerts
from opcenter.engine.scheduler import Engine
from opcenter.service import reminds
from opcenter.service.context import ServiceContext
from opcenter.service.instances import set_success_instance
from opcenter.store.tables import (
    AlertDelivery,
    AlertEvent,
    AlertMessage,
    Instance,
    Remind,
    RemindTarget,
    Workflow,
)
from tests.engine.builders import Flow, biz, by_name, make_flow, node, run_flow, wait_dag, wait_for

S = InstanceStatus
ROBOT = "https://oapi.dingtalk.com/robot/send?access_token=t"
HOOK = "https://hooks.slack.com/services/T/B/x"


def rule(ctx: ServiceContext, flow: Flow, name: str = "r", **kw: Any) -> int:
    """A rule through the service CreateRemind calls; NODE on `kw['nodes']` or BIZPROCESS on
    the flow's workflow."""
    nodes = kw.pop("nodes", None)
    fields: dict[str, Any] = {
        "remind_type": "ERROR",
        "alert_unit": "OTHER",
        "alert_targets": "alice,bob",
        "alert_methods": "MAIL,DINGROBOTS,WEBHOOKS",
        "robot_urls": ROBOT,
        "webhooks": HOOK,
    }
    fields.update(kw)
    if nodes is not None:
        fields.update(remind_unit="NODE", node_ids=flow.ids(*nodes))
    else:
        fields.update(remind_unit="BIZPROCESS", biz_process_ids=str(workflow_id(ctx, flow)))
    return reminds.create_remind(
        ctx, project_id=flow.project_id, remind_name=name, **fields
    ).remind_id


def workflow_id(ctx: ServiceContext, flow: Flow) -> int:
    with ctx.db.transaction(readonly=True) as session:
        return int(session.scalar(sa.select(Workflow.id).where(Workflow.name == flow.name)))


def messages(ctx: ServiceContext) -> list[AlertMessage]:
    with ctx.db.transaction(readonly=True) as session:
        rows = session.scalars(sa.select(AlertMessage).order_by(AlertMessage.id)).all()
        session.expunge_all()
        return list(rows)


def deliveries(ctx: ServiceContext, message_id: int) -> set[tuple[str, str, str]]:
    with ctx.db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(AlertDelivery.channel, AlertDelivery.receiver, AlertDelivery.status).where(
                AlertDelivery.message_id == message_id
            )
        )
        return {(r.channel, r.receiver, r.status) for r in rows}


def events(ctx: ServiceContext) -> list[tuple[str, int | None]]:
    with ctx.db.transaction(readonly=True) as session:
        rows = session.execute(sa.select(AlertEvent.key, AlertEvent.message_id))
        return sorted((r.key, r.message_id) for r in rows)


def failing_flow(ctx: ServiceContext, **kw: Any) -> Flow:
    return make_flow(
        ctx,
        [node("ok", "shell", "true"), node("bad", "shell", "exit 3", after=["ok"])],
        **kw,
    )


# --- ERROR ----------------------------------------------------------------------------------


def test_a_failing_node_under_an_error_rule_raises_one_message_with_its_deliveries(
    ctx: ServiceContext, engine: Engine
) -> None:
    # Given an ERROR rule on node `bad`, to alice and bob by mail, a robot and a webhook
    flow = failing_flow(ctx)
    remind_id = rule(ctx, flow, nodes=["bad"])
    # When `bad` fails
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    bad = by_name(ctx, created.dag_id)["bad"]
    # Then exactly one message names the run, with one PENDING delivery per receiver
    (message,) = messages(ctx)
    assert (message.remind_id, message.trigger, message.source) == (
        remind_id,
        "ERROR",
        "REMIND_ALERT",
    )
    assert (message.instance_id, message.dag_id, message.node_id) == (
        bad.instance_id,
        created.dag_id,
        flow.id("bad"),
    )
    assert (message.node_name, message.instance_status) == ("bad", "FAILURE")
    # written by the step that recorded the failure: stamped with the attempt's end
    assert message.created_at == bad.finish_time
    for fact in ("ws", flow.name, "bad", str(bad.instance_id), str(created.dag_id), "FAILURE"):
        assert fact in message.content
    assert str(created.biz_dates[0]) in message.content
    assert deliveries(ctx, message.id) == {
        ("MAIL", "alice", "PENDING"),
        ("MAIL", "bob", "PENDING"),
        ("DINGROBOTS", ROBOT, "PENDING"),
        ("WEBHOOKS", HOOK, "PENDING"),
    }


def test_each_failed_attempt_is_an_event_of_the_run(ctx: ServiceContext, engine: Engine) -> None:
    # Given a node rerun automatically twice, failing every time, under an ERROR rule
    flow = make_flow(
        ctx,
        [node("bad", "shell", "exit 1", auto_rerun_times=2, auto_rerun_interval_millis=0)],
    )
    rule(ctx, flow)
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    # Then three events (one per attempt), one message for the run (the interval holds)
    seen = events(ctx)
    assert [key.rsplit(":", 2)[1] for key, _ in seen] == [
        f"instance/{by_name(ctx, created.dag_id)['bad'].instance_id}/attempt/{n}" for n in (1, 2, 3)
    ]
    (message,) = messages(ctx)
    assert [m for _, m in seen] == [message.id, None, None]


def test_the_alert_is_written_in_the_callers_transaction(
    ctx: ServiceContext, engine: Engine
) -> None:
    # Given a failed instance watched by an ERROR rule created after the failure
    flow = make_flow(ctx, [node("bad", "shell", "exit 1")])
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    rule(ctx, flow)
    bad = by_name(ctx, created.dag_id)["bad"]
    hook = EngineAlerts(ctx.settings.tz)
    now = ctx.clock()

    class Rollback(Exception):
        pass

    # When the hook runs in a transaction that rolls back, nothing is raised
    try:
        with ctx.db.transaction() as session:
            hook.attempt_ended(session, created.dag_id, bad.instance_id, 9, S.FAILURE, now)
            assert len(session.execute(sa.select(AlertMessage.id)).all()) == 1  # inside: seen
            raise Rollback
    except Rollback:
        pass
    assert messages(ctx) == [] and events(ctx) == []
    # and in one that commits, the message and its deliveries are there
    with ctx.db.transaction() as session:
        hook.attempt_ended(session, created.dag_id, bad.instance_id, 9, S.FAILURE, now)
    (message,) = messages(ctx)
    assert len(deliveries(ctx, message.id)) == 4


# --- FINISHED -------------------------------------------------------------------------------


def test_finished_raises_for_a_node_that_succeeded(ctx: ServiceContext, engine: Engine) -> None:
    flow = failing_flow(ctx)
    rule(ctx, flow, remind_type="FINISHED", nodes=["ok"], alert_methods="WEBHOOKS")
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    (message,) = messages(ctx)
    ok = by_name(ctx, created.dag_id)["ok"]
    assert (message.trigger, message.instance_id, message.instance_status) == (
        "FINISHED",
        ok.instance_id,
        "SUCCESS",
    )
    assert deliveries(ctx, message.id) == {("WEBHOOKS", HOOK, "PENDING")}


def test_finished_raises_for_a_dag_of_a_watched_workflow(
    ctx: ServiceContext, engine: Engine
) -> None:
    # Given a workflow of virtual nodes only (no attempt runs) under a BIZPROCESS FINISHED rule
    flow = make_flow(ctx, [node("a"), node("b", after=["a"])])
    rule(ctx, flow, remind_type="FINISHED", alert_methods="MAIL")
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    # Then the Dag's end raised one message, about the Dag
    (message,) = wait_for(lambda: messages(ctx))
    assert (message.trigger, message.dag_id, message.instance_id) == (
        "FINISHED",
        created.dag_id,
        None,
    )
    assert message.instance_status == "SUCCESS"
    assert f"Dag: {created.dag_id}" in message.content
    assert events(ctx) == [(f"{message.remind_id}:FINISHED:dag/{created.dag_id}:1", message.id)]


# --- TIMEOUT, UNFINISHED --------------------------------------------------------------------


def test_timeout_fires_once_for_a_node_running_past_detail(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(ctx, [node("slow", "shell", "sleep 3")])
    rule(ctx, flow, remind_type="TIMEOUT", detail="1", nodes=["slow"], alert_methods="MAIL")
    created = run_flow(flow)
    # raised while it still runs
    (message,) = wait_for(lambda: messages(ctx), timeout=10)
    assert by_name(ctx, created.dag_id)["slow"].status is S.RUNNING
    assert (message.trigger, message.instance_status) == ("TIMEOUT", "RUNNING")
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    # later checks (about one a second, for two more seconds) found it again and raised nothing
    assert len(messages(ctx)) == 1 and len(events(ctx)) == 1


def test_unfinished_fires_for_a_time_of_day_past_on_the_business_date(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(ctx, [node("bad", "shell", "exit 1")])
    rule(ctx, flow, remind_type="UNFINISHED", detail='{"hour":1,"minu":30}', nodes=["bad"])
    created = run_flow(flow)  # business date two days ago: 01:30 of it is past
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    (message,) = wait_for(lambda: messages(ctx), timeout=10)
    assert (message.trigger, message.instance_status) == ("UNFINISHED", "FAILURE")
    bad = by_name(ctx, created.dag_id)["bad"]
    assert events(ctx) == [
        (f"{message.remind_id}:UNFINISHED:instance/{bad.instance_id}:1", message.id)
    ]


def test_unfinished_waits_for_a_time_of_day_not_reached(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    flow = make_flow(ctx, [node("bad", "shell", "exit 1")])
    # the next day's 23:59 of a business date two days ago is yesterday's; 47:59 is tomorrow's
    rule(ctx, flow, remind_type="UNFINISHED", detail='{"hour":47,"minu":59}', nodes=["bad"])
    created = run_flow(flow, biz_date=biz(days_ago=-1))  # yesterday
    engine = start_engine(ctx)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    failed = time.monotonic()
    wait_for(lambda: engine.alerts.checked_at > failed, timeout=5)  # a check after the failure
    assert messages(ctx) == []


# --- storm control --------------------------------------------------------------------------


def test_a_failing_thirty_date_range_raises_one_message(
    ctx: ServiceContext, engine: Engine
) -> None:
    # Given a 30-date range whose node fails on every date, under an ERROR rule with
    # MaxAlertTimes=3 and the default AlertInterval (30 minutes)
    flow = make_flow(ctx, [node("bad", "shell", "exit 1")])
    remind_id = rule(ctx, flow, max_alert_times=3)
    created = run_flow(flow, start_biz_date=biz(days_ago=31), end_biz_date=biz(days_ago=2))
    assert len(created.dag_ids) == 30
    # When each date fails and the operator sets it to success, so the next date runs
    for dag_id in created.dag_ids:
        assert wait_dag(ctx, dag_id, timeout=30) is DagStatus.FAILURE
        bad = by_name(ctx, dag_id)["bad"]
        set_success_instance(ctx, instance_id=bad.instance_id, project_env="PROD")
    assert wait_dag(ctx, created.dag_ids[-1]) is DagStatus.SUCCESS
    # Then one message was raised, for the first failure; the 29 others are counted
    (message,) = messages(ctx)
    assert message.dag_id == created.dag_ids[0]
    seen = events(ctx)
    assert len(seen) == 30
    assert sum(m == message.id for _, m in seen) == 1
    # When the interval has passed, the next check reports them in one message
    hook = EngineAlerts(ctx.settings.tz)
    with ctx.db.transaction() as session:
        hook.tick(session, message.created_at + 1800 * 1000)
    first, second = messages(ctx)
    assert second.remind_id == remind_id
    assert "reports 29 ERROR events of this run" in second.content
    assert second.dedupe_key == f"{remind_id}:ERROR:run/{created.op_seq}:2"
    assert all(m is not None for _, m in events(ctx))
    # and a check after that has nothing to report
    with ctx.db.transaction() as session:
        hook.tick(session, message.created_at + 3600 * 1000 + 2000)
    assert len(messages(ctx)) == 2


# --- what raises nothing --------------------------------------------------------------------


def test_a_disabled_rule_and_another_workflows_rule_raise_nothing(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = failing_flow(ctx)
    other = make_flow(ctx, [node("x", "shell", "exit 1")], name="other", create_workspace=False)
    disabled = rule(ctx, flow, name="off")
    reminds.update_remind(ctx, remind_id=disabled, use_flag=False)
    rule(ctx, other, name="elsewhere")
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE  # its alerts would be committed
    assert messages(ctx) == [] and events(ctx) == []


def test_a_restarted_engine_raises_nothing_again(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    # Given a failure and a timeout already alerted
    flow = make_flow(ctx, [node("bad", "shell", "exit 1"), node("slow", "shell", "sleep 2")])
    rule(ctx, flow, name="e")
    rule(ctx, flow, name="t", remind_type="TIMEOUT", detail="1", nodes=["slow"])
    created = run_flow(flow)
    first = start_engine(ctx)
    wait_for(lambda: len(messages(ctx)) == 2, timeout=10)
    first.stop()  # killed while `slow` runs: the next start settles it FAILURE
    before = messages(ctx)
    # When a new engine starts (recovery, reload, checks)
    second = start_engine(ctx)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    wait_for(lambda: not second.alerts.due(), timeout=5)  # a check ran after the restart
    second.stop()
    # Then the interrupted attempt is one more failure, counted in the run's budget: no
    # message is made twice and nothing else is raised
    after = messages(ctx)
    assert [m.id for m in after] == [m.id for m in before]
    keys = [k for k, _ in events(ctx)]
    assert len(keys) == len(set(keys)) == 3


def test_two_engines_racing_for_a_runs_first_message_write_one(
    ctx: ServiceContext, engine: Engine
) -> None:
    # Given two failed instances of one run (two nodes, no order between them)
    flow = make_flow(ctx, [node("a", "shell", "exit 1"), node("b", "shell", "exit 2")])
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    rule(ctx, flow)
    rows = by_name(ctx, created.dag_id)
    first, second = EngineAlerts(ctx.settings.tz), EngineAlerts(ctx.settings.tz)
    now = ctx.clock()
    outcome: list[BaseException] = []

    def other() -> None:
        try:
            with ctx.db.transaction() as session:
                second.attempt_ended(
                    session, created.dag_id, rows["b"].instance_id, 1, S.FAILURE, now
                )
        except BaseException as exc:
            outcome.append(exc)

    # When each raises its event in its own transaction, the second deciding before the
    # first has committed (PostgreSQL: it waits on the message's key, then finds it taken)
    with ctx.db.transaction() as session:
        first.attempt_ended(session, created.dag_id, rows["a"].instance_id, 1, S.FAILURE, now)
        racer = threading.Thread(target=other)
        racer.start()
        if not ctx.db.is_sqlite:  # SQLite: one writer, the other waits for the commit
            wait_for(lambda: _waiting_on_a_lock(ctx), timeout=10)
    racer.join()
    assert outcome == []
    # Then the run has one message and both events, the second counted for the next one
    (message,) = messages(ctx)
    assert message.instance_id == rows["a"].instance_id
    assert sorted(m is None for _, m in events(ctx)) == [False, True]


def _waiting_on_a_lock(ctx: ServiceContext) -> bool:
    with ctx.db.transaction(readonly=True) as session:
        waiting = session.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'INSERT INTO alert_messages%'"
            )
        )
    return bool(waiting)


def _at(hour: int, minute: int) -> int:
    """Epoch ms of that time of 2026-12-06 in UTC (the tests' server time zone)."""
    day = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    return int((day + dt.timedelta(hours=hour, minutes=minute)).timestamp() * 1000)


def test_do_not_disturb_defers_the_deliveries_and_owner_mails_the_nodes_owner(
    ctx: ServiceContext, engine: Engine
) -> None:
    # Given a failed instance and an ERROR rule to the owner, not to disturb before 08:30
    flow = make_flow(ctx, [node("bad", "shell", "exit 1")])
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    bad = by_name(ctx, created.dag_id)["bad"]
    with ctx.db.transaction(readonly=True) as session:
        owner = session.scalar(sa.select(Instance.owner).where(Instance.id == bad.instance_id))
    assert owner
    mail = {"alert_unit": "OWNER", "alert_targets": "", "alert_methods": "MAIL"}
    early = rule(ctx, flow, name="early", dnd_end="08:30", **mail)
    hook = EngineAlerts(ctx.settings.tz)
    # When a failure is raised at 01:00, the mail to the owner waits until 08:30
    with ctx.db.transaction() as session:
        hook.attempt_ended(session, created.dag_id, bad.instance_id, 8, S.FAILURE, _at(1, 0))
    # and when another is raised at 09:00 (past AlertInterval: the first rule's second alert;
    # and a second such rule's first), their mails go at once
    late = rule(ctx, flow, name="late", dnd_end="08:30", **mail)
    with ctx.db.transaction() as session:
        hook.attempt_ended(session, created.dag_id, bad.instance_id, 9, S.FAILURE, _at(9, 0))
    with ctx.db.transaction(readonly=True) as session:
        due = session.execute(
            sa.select(
                AlertMessage.remind_id,
                AlertMessage.node_owner,
                AlertDelivery.channel,
                AlertDelivery.receiver,
                AlertDelivery.next_attempt_at,
            ).join(AlertDelivery, AlertDelivery.message_id == AlertMessage.id)
        ).all()
    assert sorted(tuple(d) for d in due) == [
        (early, owner, "MAIL", owner, _at(8, 30)),
        (early, owner, "MAIL", owner, _at(9, 0)),
        (late, owner, "MAIL", owner, _at(9, 0)),
    ]


def test_a_rule_written_by_another_process_is_seen_at_the_next_check(
    ctx: ServiceContext, engine: Engine
) -> None:
    # Given a rule written straight into the store, as another process's write looks to this
    # one (no in-process notice)
    flow = make_flow(ctx, [node("bad", "shell", "exit 1")])
    now = ctx.clock()
    with ctx.db.transaction() as session:
        remind = Remind(
            workspace_id=flow.project_id,
            name="from elsewhere",
            remind_unit="NODE",
            remind_type="ERROR",
            detail="",
            alert_unit="OTHER",
            alert_targets='["carol"]',
            alert_methods='["MAIL"]',
            robot_urls="[]",
            webhooks="[]",
            alert_interval=1800,
            max_alert_times=3,
            use_flag=True,
            founder="root",
            created_at=now,
            modified_at=now,
        )
        session.add(remind)
        session.flush()
        session.add(RemindTarget(remind_id=remind.id, kind="NODE", target_id=flow.id("bad")))
    written = time.monotonic()
    # When the engine's check has run since (about a second), and the node fails
    wait_for(lambda: engine.alerts.checked_at > written, timeout=5)
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    # Then the rule raised its alert
    (message,) = messages(ctx)
    assert deliveries(ctx, message.id) == {("MAIL", "carol", "PENDING")}
