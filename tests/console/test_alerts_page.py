"""The Alerts section in Chromium: the alert rules of the workspaces the user may see (type,
targets, channels, enabled), and the alert messages newest first with each delivery's state and
a link to the Dag page. Rules are made through the service, messages written through the
store's `record_alert` as the engine writes them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from opcenter.domain.model import DagStatus
from opcenter.iam import audit
from opcenter.service import reminds
from opcenter.service.workspaces import get_project
from opcenter.store.alerts import dedupe_key, record_alert
from tests.console.conftest import USER_PASSWORD, Console, sign_in
from tests.console.runs import flow_in, start
from tests.engine.builders import node

MINUTE = 60_000


@dataclass
class Alerts:
    dag_id: int
    rules: dict[str, int]
    messages: dict[str, int]


def _record(console: Console, workspace: str, rule: int, name: str, n: int, **more: Any) -> int:
    values: dict[str, Any] = {
        "workspace_id": get_project(console.ctx, project_identifier=workspace).project_id,
        "remind_id": rule,
        "remind_name": name,
        "trigger": "ERROR",
        "key": dedupe_key(rule, "ERROR", f"instance/{n}"),
        "receivers": [("MAIL", "alice")],
        "created_at": console.ctx.clock() - (10 - n) * MINUTE,
        "subject": f"alert #{n} of {name}",
        "node_name": "b",
        "instance_status": "FAILURE",
    }
    values.update(more)
    with console.ctx.db.transaction() as session:
        alert_id = record_alert(session.connection(), **values)
    assert alert_id is not None
    return alert_id


def _alerts(console: Console, tmp_path: Path) -> Alerts:
    """ws1: a workflow run once, three rules (one disabled) and two alerts about the run; ws2:
    one rule and one alert."""
    flow = flow_in(console, [node("a"), node("b", after=["a"])], tmp_path / "shared")
    dag_id, ids = start(flow, DagStatus.SUCCESS)
    ws1 = flow.project_id
    ws2 = get_project(console.ctx, project_identifier=console.workspace("ws2")).project_id
    ctx = console.ctx
    rules = {
        "failures": reminds.create_remind(
            ctx, project_id=ws1, remind_name="failures", remind_unit="PROJECT",
            remind_type="ERROR", alert_unit="OWNER", alert_methods="MAIL",
        ).remind_id,
        "slow": reminds.create_remind(
            ctx, project_id=ws1, remind_name="slow", remind_unit="BIZPROCESS",
            biz_process_ids=str(get_business_id(console, flow.name)), remind_type="TIMEOUT",
            detail="1800", alert_unit="OTHER", alert_targets="alice,bob",
            alert_methods="MAIL,WEBHOOKS", webhooks="https://hooks.example/slow",
        ).remind_id,
        "late": reminds.create_remind(
            ctx, project_id=ws1, remind_name="late", remind_unit="NODE",
            node_ids=str(flow.id("b")), remind_type="UNFINISHED", detail="23:30",
            alert_unit="OWNER", alert_methods="DINGROBOTS", robot_urls="https://robot.example/r",
        ).remind_id,
        "secret": reminds.create_remind(
            ctx, project_id=ws2, remind_name="secret", remind_unit="PROJECT",
            remind_type="FINISHED", alert_unit="OWNER", alert_methods="MAIL",
        ).remind_id,
    }  # fmt: skip
    reminds.update_remind(ctx, remind_id=rules["late"], use_flag=False)
    messages = {
        "sent": _record(
            console, "ws1", rules["failures"], "failures", 1, dag_id=dag_id,
            instance_id=ids["b"], receivers=[("MAIL", "alice"), ("WEBHOOKS", "https://h/x")],
        ),
        "failed": _record(
            console, "ws1", rules["slow"], "slow", 2, dag_id=dag_id,
            receivers=[("MAIL", "bob"), ("WEBHOOKS", "https://hooks.example/slow")],
        ),
        "secret": _record(console, "ws2", rules["secret"], "secret", 3),
    }  # fmt: skip
    with ctx.db.transaction() as session:
        conn = session.connection()
        conn.exec_driver_sql(
            "UPDATE alert_deliveries SET status = 'SENT', attempts = 1, sent_at = "
            f"{ctx.clock()} WHERE message_id IN ({messages['sent']}, {messages['failed']})"
        )
        conn.exec_driver_sql(
            "UPDATE alert_deliveries SET status = 'FAILED', attempts = 3, last_error = "
            f"'HTTP 502 from the webhook' WHERE message_id = {messages['failed']} "
            "AND channel = 'WEBHOOKS'"
        )
    return Alerts(dag_id, rules, messages)


def get_business_id(console: Console, name: str) -> int:
    from opcenter.service.workflows import get_business

    return get_business(console.ctx, business_name=name, project_identifier="ws1").business_id


def _rule_names(page: Any) -> list[str]:
    return [
        page.locator(f'tr[data-remind-id="{i}"] th a').inner_text()
        for i in page.locator("table.alert-rules tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.remindId)"
        )
    ]


def _message_ids(page: Any) -> list[int]:
    ids = page.locator("table.alert-messages tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.alertId)"
    )
    return [int(i) for i in ids]


def test_the_rules_and_the_messages_are_listed_and_lead_to_the_run(console, page, tmp_path):
    made = _alerts(console, tmp_path)
    sign_in(page, console)
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Alerts").click()
    page.wait_for_url("**/console/alerts")
    assert page.get_by_role("heading", name="Alert rules").is_visible()
    assert _rule_names(page) == ["secret", "late", "slow", "failures"]
    slow = page.locator(f'tr[data-remind-id="{made.rules["slow"]}"]')
    assert slow.locator('[data-role="type"]').inner_text() == "Running too long 1800 s"
    assert slow.locator('[data-role="targets"]').inner_text() == "Workflows: flow"
    assert slow.locator('[data-role="recipients"]').inner_text() == "alice, bob"
    assert slow.locator('[data-role="channels"]').inner_text().split() == ["Mail", "Webhook"]
    assert slow.locator('[data-role="enabled"] .state').inner_text() == "Enabled"
    late = page.locator(f'tr[data-remind-id="{made.rules["late"]}"]')
    assert late.get_attribute("data-enabled") == "false"
    assert late.locator('[data-role="enabled"] .state').inner_text() == "Disabled"
    assert late.locator('[data-role="type"]').inner_text() == "Not finished by 23:30"
    assert late.locator('[data-role="targets"]').inner_text() == "Nodes: b"
    assert "DingTalk robot" in late.locator('[data-role="channels"]').inner_text()
    failures = page.locator(f'tr[data-remind-id="{made.rules["failures"]}"]')
    assert failures.locator('[data-role="targets"]').inner_text() == "The whole workspace"
    assert failures.locator('[data-role="recipients"]').inner_text() == "The owner"

    page.get_by_label("Workspace").select_option("ws2")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/alerts?workspace=ws2")
    assert _rule_names(page) == ["secret"]
    assert page.locator('[data-role="total"]').inner_text() == "Rules: 1"

    page.get_by_role("link", name="Alert messages").click()
    page.wait_for_url("**/alerts/messages?workspace=ws2")
    assert _message_ids(page) == [made.messages["secret"]]
    page.get_by_label("Workspace").select_option("")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(lambda url: "workspace=ws2" not in url)
    assert _message_ids(page) == [
        made.messages["secret"],
        made.messages["failed"],
        made.messages["sent"],
    ]
    failed = page.locator(f'tr[data-alert-id="{made.messages["failed"]}"]')
    assert failed.get_attribute("data-status") == "SEND_FAIL"
    assert "Sending failed" in failed.inner_text()
    hook = failed.locator('li[data-channel="WEBHOOKS"]')
    assert hook.get_attribute("data-status") == "FAILED"
    assert "attempts: 3" in hook.inner_text() and "HTTP 502 from the webhook" in hook.inner_text()
    mail = failed.locator('li[data-channel="MAIL"]')
    assert "bob" in mail.inner_text() and "Sent" in mail.inner_text()
    sent = page.locator(f'tr[data-alert-id="{made.messages["sent"]}"]')
    assert sent.get_attribute("data-status") == "SEND_SUCCESS"
    secret = page.locator(f'tr[data-alert-id="{made.messages["secret"]}"]')
    assert secret.get_attribute("data-status") == "READY_TO_SEND"
    assert "Waiting to send" in secret.inner_text()

    page.get_by_label("Rule id").fill(str(made.rules["slow"]))
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(f"**rule={made.rules['slow']}**")
    assert _message_ids(page) == [made.messages["failed"]]
    page.get_by_label("Rule id").fill("")
    page.get_by_label("From", exact=True).fill("2020-01-01")
    page.get_by_label("To", exact=True).fill("2020-01-31")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**until=2020-01-31**")
    assert _message_ids(page) == []
    assert page.get_by_text("No alert in this period.").is_visible()

    page.goto(console.url + "alerts/messages")
    sent = page.locator(f'tr[data-alert-id="{made.messages["sent"]}"]')
    sent.get_by_role("link", name=f"Dag {made.dag_id}").click()
    page.wait_for_url(f"**/console/dags/{made.dag_id}")


def test_a_user_sees_the_alerts_of_its_workspaces_only(console, page, tmp_path):
    made = _alerts(console, tmp_path)
    console.user("alice", role="role_project_guest", workspace="ws1")
    console.user("nobody", workspace="ws3")
    sign_in(page, console, "alice", USER_PASSWORD, target="alerts")
    assert _rule_names(page) == ["late", "slow", "failures"]
    assert page.get_by_label("Workspace").locator("option").all_inner_texts() == [
        "Any",
        "ws1",
    ]
    page.goto(console.url + "alerts/messages")
    assert _message_ids(page) == [made.messages["failed"], made.messages["sent"]]
    hidden = page.goto(console.url + "alerts?workspace=ws2")
    missing = page.goto(console.url + "alerts?workspace=nosuch")
    assert hidden.status == missing.status == 404
    answer = page.request.get(
        console.url + "alerts/messages?workspace=ws2", headers={"Accept": "application/json"}
    )
    assert answer.status == 404 and answer.json()["Code"] == "Invalid.Project.NotExists"
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, console, "nobody", USER_PASSWORD, target="alerts")
    assert _rule_names(page) == []
    assert page.get_by_text("No alert rule here.").is_visible()
    page.goto(console.url + "alerts/messages")
    assert _message_ids(page) == []
    assert page.get_by_text("No alert in this period.").is_visible()


def test_the_page_speaks_chinese(console, page, tmp_path):
    _alerts(console, tmp_path)
    page.context.add_cookies([{"name": "opcenter_lang", "value": "zh-CN", "url": console.url}])
    sign_in_zh(page, console)
    page.goto(console.url + "alerts/messages")
    assert page.get_by_role("heading", name="告警信息").is_visible()
    assert page.get_by_text("发送失败").first.is_visible()


def sign_in_zh(page: Any, console: Console) -> None:
    from tests.console.conftest import ROOT_PASSWORD

    page.goto(console.url + "alerts")
    page.locator('input[name="name"]').fill("root")
    page.locator('input[name="password"]').fill(ROOT_PASSWORD)
    page.locator('button[type="submit"]').click()
    page.wait_for_url(lambda url: "/signin" not in url)
    assert page.get_by_role("heading", name="自定义告警规则").is_visible()


def test_a_rule_is_disabled_and_enabled_from_the_list(console, page, tmp_path):
    made = _alerts(console, tmp_path)
    sign_in(page, console, target="alerts?workspace=ws1")
    row = page.locator(f'tr[data-remind-id="{made.rules["slow"]}"]')
    row.get_by_role("button", name="Disable rule slow").click()
    expect(row).to_have_attribute("data-enabled", "false")
    assert page.url.endswith("/console/alerts?workspace=ws1")
    assert reminds.get_remind(console.ctx, remind_id=made.rules["slow"]).use_flag is False
    row.get_by_role("button", name="Enable rule slow").click()
    expect(row).to_have_attribute("data-enabled", "true")
    assert reminds.get_remind(console.ctx, remind_id=made.rules["slow"]).use_flag is True
    with console.ctx.db.transaction(readonly=True) as session:
        events = audit.list_events(session, audit.AuditFilter(action="dataworks:UpdateRemind"))
    assert len(events) == 2 and all(e.outcome == audit.ALLOWED for e in events)
    assert all(e.resource.endswith("workspace/ws1") for e in events)


def test_a_visitor_may_not_change_a_rule_and_a_forged_post_is_refused(console, page, tmp_path):
    made = _alerts(console, tmp_path)
    console.user("visitor", role="role_project_guest", workspace="ws1")
    sign_in(page, console, "visitor", USER_PASSWORD, target="alerts")
    row = page.locator(f'tr[data-remind-id="{made.rules["failures"]}"]')
    button = row.get_by_role("button", name="Disable rule failures")
    expect(button).to_be_disabled()
    why = button.get_attribute("aria-describedby")
    expect(page.locator(f"#{why}")).to_contain_text(
        "You may not enable or disable the rules of ws1: Access is forbidden."
    )
    answer = page.evaluate(
        """async (id) => {
            const sent = await fetch(`${OC.prefix}/alerts/${id}/disable`, {
                method: "POST", body: "",
                headers: {"x-csrf-token": OC.csrf, "Accept": "application/json",
                          "Content-Type": "application/x-www-form-urlencoded"}});
            return {status: sent.status, body: await sent.json()};
        }""",
        made.rules["failures"],
    )
    assert answer["status"] == 403 and answer["body"]["Code"].startswith("Forbidden."), answer
    assert reminds.get_remind(console.ctx, remind_id=made.rules["failures"]).use_flag is True
    with console.ctx.db.transaction(readonly=True) as session:
        denied = audit.list_events(session, audit.AuditFilter(action="dataworks:UpdateRemind"))
    assert denied and "visitor" in denied[-1].principal and denied[-1].outcome == audit.DENIED
