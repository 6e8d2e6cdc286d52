"""docs/alerts.md's SDK snippet (CreateRemind, ListReminds, ListAlertMessages) runs unchanged
(but for endpoint and keys) against a live server, on SQLite and PostgreSQL; the alert it lists
is written through the store's `record_alert`, as the engine writes the alerts it raises."""

from __future__ import annotations

import re

from opcenter.service import definitions, reminds, workspaces
from opcenter.store.alerts import dedupe_key, record_alert
from tests.api.doc_snippets import ROOT, run_snippet
from tests.api.opsupport import Live

DOC = ROOT / "docs" / "alerts.md"
EXAMPLE = ROOT / "examples" / "sales_daily.yaml"
# The lines the snippet prints, and the doc's example of them
LINES = (
    r"created rule \d+",
    r"rule \d+ .+ (ERROR|FINISHED|TIMEOUT|UNFINISHED) [A-Z,]+",
    r"alert \d+ .+ (READY_TO_SEND|SEND_SUCCESS|SEND_FAIL) \d+",
)


def _printed_example() -> list[str]:
    """The block of the doc after the snippet's "for instance:"."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"for instance:\n\n```\n(.*?)```", text, re.S)
    assert found, "alerts.md no longer shows what the snippet prints"
    return found.group(1).splitlines()


def _kinds(lines: list[str]) -> list[str]:
    """The patterns of LINES the lines follow, in order, repeats collapsed (a line matching
    none fails)."""
    kinds = []
    for line in lines:
        matching = [p for p in LINES if re.fullmatch(p, line)]
        assert matching, f"unexpected line {line!r}"
        if not kinds or kinds[-1] != matching[0]:
            kinds.append(matching[0])
    return kinds


def test_the_alerts_doc_snippet_creates_a_rule_and_lists_rules_and_alerts(live: Live) -> None:
    # Given the example workspace `make serve` sets up, and an alert raised an hour ago
    project = workspaces.create_project(live.ctx, project_identifier="demo", project_name="demo")
    definitions.apply_definition(live.ctx, path_or_document=EXAMPLE, workspace="demo", deploy=True)
    with live.ctx.db.transaction() as session:
        raised = record_alert(
            session.connection(),
            workspace_id=project.project_id,
            remind_id=None,
            remind_name="earlier rule",
            trigger="ERROR",
            key=dedupe_key(0, "ERROR", "instance/1"),
            receivers=[("WEBHOOKS", "https://hooks.example.com/x")],
            created_at=live.ctx.clock() - 3_600_000,
        )
    # When the doc's snippet runs
    namespace, printed = run_snippet(live, DOC)
    # Then it made the rule it says, enabled, on the workspace
    remind_id = namespace["remind_id"]
    assert isinstance(remind_id, int)
    rule = reminds.get_remind(live.ctx, remind_id=remind_id)
    assert (rule.remind_name, rule.remind_unit, rule.remind_type, rule.use_flag) == (
        "demo failures",
        "PROJECT",
        "ERROR",
        True,
    )
    assert (rule.project_id, rule.webhooks, rule.alert_interval) == (
        project.project_id,
        ("https://hooks.slack.com/services/T0/B0/x",),
        3600,
    )
    # And printed it, the rules, and the alert of the last day with its sending state
    lines = printed.splitlines()
    assert lines[0] == f"created rule {remind_id}"
    assert f"rule {remind_id} demo failures ERROR WEBHOOKS" in lines
    alert_lines = [line for line in lines if line.startswith("alert ")]
    assert len(alert_lines) == 1
    assert re.fullmatch(rf"alert {raised} earlier rule READY_TO_SEND \d+", alert_lines[0])
    # And the doc's example of the output has the lines this run printed, in the same order
    assert _kinds(_printed_example()) == _kinds(lines)
