"""The workspace filter of ListReminds / ListAlertMessages (`project_id`, what `opcenter remind
list -w` and the page's Workspace filter use) and a delivery's last error, on both stores."""

from __future__ import annotations

from opcenter.service import reminds, workspaces
from opcenter.service.context import ServiceContext
from opcenter.store.alerts import dedupe_key, record_alert

T0 = 1796544000000  # 2026-12-06T08:00:00Z


def _rule(ctx: ServiceContext, project_id: int, name: str) -> int:
    return reminds.create_remind(
        ctx, project_id=project_id, remind_name=name, remind_unit="PROJECT",
        remind_type="ERROR", alert_unit="OWNER", alert_methods="MAIL",
    ).remind_id  # fmt: skip


def _alert(ctx: ServiceContext, project_id: int, rule: int, n: int) -> int:
    with ctx.db.transaction() as session:
        alert_id = record_alert(
            session.connection(), workspace_id=project_id, remind_id=rule, remind_name="r",
            trigger="ERROR", key=dedupe_key(rule, "ERROR", f"instance/{n}"),
            receivers=[("MAIL", "alice")], created_at=T0 + n,
        )  # fmt: skip
    assert alert_id is not None
    return alert_id


def test_rules_and_alerts_are_listed_per_workspace_given_project_id(ctx: ServiceContext) -> None:
    one, two = (
        workspaces.create_project(ctx, project_identifier=w, project_name=w).project_id
        for w in ("one", "two")
    )
    rules = {w: _rule(ctx, w, f"r{w}") for w in (one, two)}
    alerts = {w: _alert(ctx, w, rules[w], w) for w in (one, two)}
    listed = reminds.list_reminds(ctx, project_id=two)
    assert ([r.remind_id for r in listed.items], listed.total_count) == ([rules[two]], 1)
    assert reminds.list_reminds(ctx).total_count == 2
    period = {"begin_time": "2026-12-06T08:00:00Z", "end_time": "2026-12-06T08:00:01Z"}
    found = reminds.list_alert_messages(ctx, project_id=one, **period)
    assert ([m.alert_id for m in found.items], found.total_count) == ([alerts[one]], 1)
    assert reminds.list_alert_messages(ctx, **period).total_count == 2


def test_a_delivery_shows_its_last_error(ctx: ServiceContext) -> None:
    ws = workspaces.create_project(ctx, project_identifier="one", project_name="one").project_id
    alert_id = _alert(ctx, ws, _rule(ctx, ws, "r"), 1)
    assert reminds.get_alert_message(ctx, alert_id=alert_id).deliveries[0].last_error == ""
    with ctx.db.transaction() as session:
        session.connection().exec_driver_sql(
            "UPDATE alert_deliveries SET status = 'FAILED', attempts = 3, "
            f"last_error = 'SMTP 550 mailbox unavailable' WHERE message_id = {alert_id}"
        )
    got = reminds.get_alert_message(ctx, alert_id=alert_id)
    assert [(d.status, d.attempts, d.last_error) for d in got.deliveries] == [
        ("FAILED", 3, "SMTP 550 mailbox unavailable")
    ]
    assert got.status == "SEND_FAIL"
