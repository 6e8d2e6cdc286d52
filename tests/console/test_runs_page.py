"""The Runs section in Chromium: the Dags of a workspace environment, the Dags of one range run
grouped, failed ones standing out, filters by workflow, date, range, status and operator, and
pages."""

from __future__ import annotations

import datetime as dt

from opcenter.service.context import Caller
from opcenter.service.runs import start_manual_run
from tests.console.conftest import USER_PASSWORD, sign_in
from tests.engine.builders import wait_dag

FLOWS = """
version: "1.1.0"
kind: ManualWorkflow
spec:
  name: {name}
  nodes:
    - id: a
      name: {name}_a
      trigger: {{type: Manual}}
      script:
        path: {name}/a.sh
        language: shell
        runtime: {{command: DIDE_SHELL}}
        content: "{code}"
"""
TODAY = dt.date.today()


def day(days_ago: int) -> dt.date:
    return TODAY - dt.timedelta(days=days_ago)


def api(value: dt.date) -> str:
    return f"{value.isoformat()} 00:00:00"


def run(console, flow: str, user: str, first: int, last: int | None = None):
    dates = (
        {"biz_date": api(day(first))}
        if last is None
        else {"start_biz_date": api(day(first)), "end_biz_date": api(day(last))}
    )
    return start_manual_run(
        console.ctx,
        project_env="PROD",
        project_name="ws1",
        flow_name=flow,
        caller=Caller(name=user),
        **dates,
    )


def make_runs(console):
    console.apply(FLOWS.format(name="good", code="echo ok"))
    console.apply(FLOWS.format(name="bad", code="exit 3"))
    ranged = run(console, "good", "alice", 5, 3)  # three dates, one run
    failed = run(console, "bad", "bob", 2)
    for dag_id in (*ranged.dag_ids, failed.dag_id):
        wait_dag(console.ctx, dag_id)
    return ranged, failed


def dag_rows(page):
    return page.locator("table.runs tr[data-dag-id]")


def test_the_dags_of_a_range_run_are_grouped_and_a_failed_one_stands_out(console, page):
    ranged, failed = make_runs(console)
    sign_in(page, console, target="w/ws1/PROD/runs")
    group = page.locator(f'tbody.run[data-op-seq="{ranged.op_seq}"]')
    assert group.locator("tr[data-dag-id]").count() == 3
    assert [
        int(i)
        for i in group.locator("tr[data-dag-id]").evaluate_all(
            "rows => rows.map(r => r.dataset.dagId)"
        )
    ] == list(ranged.dag_ids)
    assert f"Run {ranged.op_seq} of good" in group.locator("tr.run-head").inner_text()
    bad = page.locator(f'tr[data-dag-id="{failed.dag_id}"]')
    assert bad.get_attribute("class") == "failed"
    assert bad.locator('.state[data-status="FAILURE"]').inner_text() == "Failed"
    icon = bad.locator(".state").evaluate("e => getComputedStyle(e, '::before').content")
    assert icon == '"✕"'
    assert page.locator("tr.failed").count() == 1
    bad.get_by_role("link", name=f"Dag {failed.dag_id}").click()
    page.wait_for_url(f"**/console/dags/{failed.dag_id}")


def shown(page) -> set[int]:
    return {int(i) for i in dag_rows(page).evaluate_all("rows => rows.map(r => r.dataset.dagId)")}


def test_the_list_filters_by_workflow_date_range_status_and_operator(console, page):
    ranged, failed = make_runs(console)
    sign_in(page, console, target="w/ws1/PROD/runs")
    assert shown(page) == {*ranged.dag_ids, failed.dag_id}
    page.get_by_label("Workflow").select_option("bad")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**workflow=bad**")
    assert shown(page) == {failed.dag_id}
    page.goto(console.url + "w/ws1/PROD/runs")
    page.get_by_label("Status").select_option("FAILURE")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**status=FAILURE**")
    assert shown(page) == {failed.dag_id}
    page.goto(console.url + "w/ws1/PROD/runs")
    page.get_by_label("Operator").fill("alice")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**user=alice**")
    assert shown(page) == set(ranged.dag_ids)
    page.goto(console.url + f"w/ws1/PROD/runs?date={day(4).isoformat()}")
    assert shown(page) == {ranged.dag_ids[1]}
    page.goto(console.url + f"w/ws1/PROD/runs?from={day(4).isoformat()}&to={day(2).isoformat()}")
    assert shown(page) == {ranged.dag_ids[1], ranged.dag_ids[2], failed.dag_id}


def test_a_bad_date_filter_shows_its_error_beside_the_field(console, page):
    console.workspace("ws1")
    sign_in(page, console, target="w/ws1/PROD/runs?date=yesterday")
    field = page.get_by_label("On business date")
    assert field.get_attribute("aria-invalid") == "true"
    assert page.locator("#err-date").inner_text() == "Not a date: write it as yyyy-mm-dd."


def test_the_list_is_paged_and_the_pages_keep_the_filters(console, page):
    console.apply(FLOWS.format(name="good", code="echo ok"))
    created = run(console, "good", "alice", 26, 2)  # 25 Dags
    sign_in(page, console, target="w/ws1/PROD/runs?user=alice")
    assert page.locator('[data-role="total"]').inner_text() == "25 Dag(s)"
    assert dag_rows(page).count() == 20
    page.get_by_role("link", name="Older").click()
    page.wait_for_url("**page=2**")
    assert "user=alice" in page.url
    assert shown(page) == set(created.dag_ids[20:])


def test_the_runs_of_a_workspace_the_user_may_not_see_answer_as_a_missing_one(console, page):
    console.workspace("secret")
    console.user("carol", role="role_project_guest", policy="AliyunDataWorksReadOnlyAccess")
    sign_in(page, console, "carol", USER_PASSWORD)
    assert page.goto(console.url + "w/ws1/PROD/runs").status == 200
    answer = page.request.get(
        console.url + "w/secret/PROD/runs", headers={"Accept": "application/json"}
    )
    assert answer.status == 404 and answer.json()["Code"] == "Invalid.Project.NotExists"
