"""The Workflows section in Chromium: the manual workflows of a workspace environment with
their deployed nodes, a workflow's deployed DAG, and the same not-found answer as the API for a
workspace the user may not see."""

from __future__ import annotations

from pathlib import Path

from opcenter.service import workflows
from opcenter.service.workspaces import get_project
from tests.console.conftest import USER_PASSWORD, sign_in

EXAMPLE = (Path(__file__).parents[2] / "examples" / "sales_daily.yaml").read_text()


def test_the_list_shows_the_manual_workflows_with_their_deployed_nodes(console, page):
    console.apply(EXAMPLE)
    project = get_project(console.ctx, project_identifier="ws1")
    workflows.create_business(
        console.ctx, project_id=project.project_id, business_name="cyclic", use_type="NORMAL"
    )
    sign_in(page, console, target="w/ws1/PROD/workflows")
    assert page.get_by_role("heading", name="Workflows").is_visible()
    row = page.locator('tr[data-flow="sales_daily"]')
    assert row.locator('[data-role="node-count"]').inner_text() == "5"
    assert "DIDE_SHELL × 1" in row.inner_text() and "VIRTUAL × 2" in row.inner_text()
    assert page.locator('tr[data-flow="cyclic"]').count() == 0
    row.get_by_role("link", name="sales_daily").click()
    page.wait_for_url("**/workflows/sales_daily")
    table = page.locator("table.node-table")
    assert table.get_by_role("rowheader").count() == 5
    load = table.locator("tr", has_text="load_sales")
    assert "ODPS_SQL" in load.inner_text() and "v1" in load.inner_text()


def test_a_workspace_the_user_may_not_see_answers_as_a_missing_one(console, page):
    console.apply(EXAMPLE)
    console.workspace("secret")
    console.user("alice", role="role_project_pe")
    sign_in(page, console, "alice", USER_PASSWORD)
    hidden = page.goto(console.url + "w/secret/PROD/workflows")
    missing = page.goto(console.url + "w/nosuch/PROD/workflows")
    assert hidden.status == missing.status == 404
    hidden_text = page.request.get(console.url + "w/secret/PROD/workflows").text()
    assert "Invalid.Project.NotExists" in hidden_text
    answer = page.request.get(
        console.url + "w/secret/PROD/workflows/sales_daily",
        headers={"Accept": "application/json"},
    )
    assert answer.status == 404 and answer.json()["Code"] == "Invalid.Project.NotExists"
    assert page.goto(console.url + "w/ws1/PROD/workflows").status == 200
