"""The run form in Chromium: the preview of every node's resolved parameters, a range run with
nodes excluded and not chosen, errors beside their fields, and a read-only user."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from opcenter.service.runs import get_dag, list_dags
from opcenter.store.tables import Dag, Instance
from tests.console.conftest import USER_PASSWORD, sign_in

EXAMPLE = (Path(__file__).parents[2] / "examples" / "sales_daily.yaml").read_text()
FORM = "w/ws1/PROD/workflows/sales_daily"


def node_row(page, name: str):
    return page.locator("table.node-table tr[data-node-id]", has_text=name)


def dag_count(console) -> int:
    with console.ctx.db.transaction(readonly=True) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Dag)) or 0


def test_the_preview_shows_each_node_s_resolved_parameters_for_the_date(console, page):
    console.apply(EXAMPLE)
    sign_in(page, console, target=FORM)
    page.get_by_label("Business date").fill("2026-01-15")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview details[data-biz-date='2026-01-15']")
    preview.wait_for()
    orders = preview.locator("tr", has_text="extract_orders")
    # $bizdate and ${yyyymmdd-1}, positional
    assert orders.locator('[data-role="resolved"]').inner_text() == (
        "20260115 20260114 region=cn-shanghai channel=online"
    )
    sales = preview.locator("tr", has_text="load_sales").locator('[data-role="resolved"]')
    assert sales.inner_text() == (
        "bizdate=20260115 previous_day=20260114 loaded_for=20260115230000"
        " region=cn-shanghai channel=online"
    )
    assert dag_count(console) == 0
    # The form keeps what was typed.
    assert page.get_by_label("Business date").input_value() == "2026-01-15"


def test_a_range_run_with_a_node_excluded_and_one_not_chosen_makes_a_dag_per_date(console, page):
    console.apply(EXAMPLE)
    sign_in(page, console, target=FORM)
    end = dt.date.today() - dt.timedelta(days=2)
    start = end - dt.timedelta(days=2)
    # Given a 3-day range, load_sales as a dry run, done not chosen
    page.get_by_label("A range").check()
    page.get_by_label("First date").fill(start.isoformat())
    page.get_by_label("Last date").fill(end.isoformat())
    page.get_by_role("radiogroup", name="load_sales").get_by_label("Dry run").check()
    page.get_by_role("radiogroup", name="done").get_by_label("Not chosen").check()
    # When it is run
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url(re.compile(r".*/console/dags/\d+$"))
    # Then three Dags, one per date, whose instances are typed as the API would type them
    dag_id = int(page.url.rsplit("/", 1)[1])
    op_seq = get_dag(console.ctx, dag_id=dag_id, project_env="PROD").op_seq
    dags = list_dags(console.ctx, op_seq=op_seq, project_env="PROD")
    assert [d.biz_date for d in dags] == [start + dt.timedelta(days=i) for i in range(3)]
    assert {d.create_user for d in dags} == {"root"}
    with console.ctx.db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(Instance.dag_id, Instance.node_name, Instance.task_type).where(
                Instance.dag_id.in_([d.dag_id for d in dags])
            )
        ).all()
    for d in dags:
        types = {name: kind for dag, name, kind in rows if dag == d.dag_id}
        assert types == {
            "start": "MANUAL",
            "extract_orders": "MANUAL",
            "extract_customers": "MANUAL",
            "load_sales": "SKIP",
            "done": "SKIP_UNCHOOSE",
        }


def test_a_bad_node_parameter_shows_its_error_beside_its_field(console, page):
    console.apply(EXAMPLE)
    sign_in(page, console, target=FORM)
    field = page.get_by_label("Parameters of extract_customers")
    field.fill("$bizdate ${yyyymmdd+-}")
    page.get_by_role("button", name="Run", exact=True).click()
    error = node_row(page, "extract_customers").get_by_role("alert")
    error.wait_for()
    assert '"${yyyymmdd+-}"' in error.inner_text()
    assert page.get_by_label("Parameters of extract_customers").get_attribute("aria-invalid")
    assert node_row(page, "extract_orders").get_by_role("alert").count() == 0
    assert dag_count(console) == 0


def test_a_bad_workflow_parameter_and_a_future_date_show_beside_their_fields(console, page):
    console.apply(EXAMPLE)
    sign_in(page, console, target=FORM)
    page.get_by_label("region").fill("${yyyymmdd-x}")
    page.get_by_role("button", name="Preview").click()
    region = page.get_by_label("region")
    region.wait_for()
    assert region.get_attribute("aria-invalid") == "true"
    described = region.get_attribute("aria-describedby")
    assert "bad offset arithmetic" in page.locator(f"#{described}").inner_text()
    page.get_by_label("region").fill("")
    page.get_by_label("Business date").fill((dt.date.today() + dt.timedelta(days=3)).isoformat())
    page.get_by_role("button", name="Run", exact=True).click()
    date = page.get_by_label("Business date")
    assert date.get_attribute("aria-invalid") == "true"
    assert "is not in the past" in page.locator("#err-bizdate").inner_text()
    assert dag_count(console) == 0


def test_a_read_only_user_sees_run_disabled_and_a_forged_post_is_refused(console, page):
    console.apply(EXAMPLE)
    console.user("guest", role="role_project_guest", policy="AliyunDataWorksReadOnlyAccess")
    sign_in(page, console, "guest", USER_PASSWORD, target=FORM)
    run = page.get_by_role("button", name="Run", exact=True)
    assert run.is_disabled()
    reason = page.locator('[data-role="run-denied"]').inner_text()
    assert "dataworks:RunManualDagNodes" in reason and "no attached policy allows it" in reason
    # The preview is a read: it works.
    page.get_by_role("button", name="Preview").click()
    page.locator("#preview").wait_for()
    # A forged POST with the page's own CSRF token is refused as the API refuses it.
    token = page.locator('input[name="csrf"]').first.input_value()
    answer = page.request.post(
        console.url + FORM + "/run",
        form={"csrf": token, "mode": "one", "bizdate": "2026-01-15"},
        headers={"Accept": "application/json"},
    )
    assert answer.status == 403
    body = answer.json()
    assert body["Code"] == "Forbidden.RAM"
    assert "may not perform dataworks:RunManualDagNodes" in body["Message"]
    assert dag_count(console) == 0


def test_an_operator_who_may_not_edit_code_may_pass_only_safe_values(console, page):
    console.apply(EXAMPLE)
    console.user("ops", role="role_project_pe")  # may run, may not UpdateFile
    sign_in(page, console, "ops", USER_PASSWORD, target=FORM)
    page.get_by_label("region").fill("x;rm")
    page.get_by_role("button", name="Run", exact=True).click()
    region = page.get_by_label("region")
    assert region.get_attribute("aria-invalid") == "true"
    message = page.locator("#" + region.get_attribute("aria-describedby")).inner_text()
    assert 'DagParameters parameter "region": the value' in message
    assert dag_count(console) == 0
    page.get_by_label("region").fill("eu-west")
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url(re.compile(r".*/console/dags/\d+$"))
    assert dag_count(console) == 1


def graph_component() -> bool:
    """Whether the graph component (console/layout.py, static/graph.js) is in the tree."""
    import importlib.util

    import opcenter.console

    static = Path(opcenter.console.__file__).parent / "static" / "graph.js"
    return importlib.util.find_spec("opcenter.console.layout") is not None and static.exists()


def test_nodes_chosen_on_the_graph_are_marked_in_the_list_and_on_the_graph(console, page):
    if not graph_component():
        pytest.skip("the graph component (layout.py, graph.js) is not in this tree")
    console.apply(EXAMPLE)
    sign_in(page, console, target=FORM)
    graph = page.locator("#graph")
    orders = graph.locator("g.node", has_text="extract_orders")
    customers = graph.locator("g.node", has_text="extract_customers")
    orders.click()
    customers.click(modifiers=["Control"])
    page.get_by_role("button", name="Dry-run selected").click()
    for name in ("extract_orders", "extract_customers"):
        row = page.get_by_role("radiogroup", name=name)
        assert row.get_by_label("Dry run").is_checked()
    assert orders.get_attribute("data-mark") == "dry"
    # And back: a choice in the list shows on the graph.
    page.get_by_role("radiogroup", name="done").get_by_label("Not chosen").check()
    assert graph.locator("g.node", has_text="done").get_attribute("data-mark") == "none"


def test_the_preview_follows_the_form_without_a_click(console, page):
    console.apply(EXAMPLE)
    sign_in(page, console, target=FORM)
    # Shown for the form's first date as soon as the page is open, then after each change.
    page.locator("#preview details").first.wait_for()
    page.get_by_label("Business date").fill("2026-02-01")
    orders = page.locator(
        "#preview details[data-biz-date='2026-02-01'] tr", has_text="extract_orders"
    )
    orders.wait_for()
    assert orders.locator('[data-role="resolved"]').inner_text().startswith("20260201 20260131")
    page.get_by_role("radiogroup", name="done").get_by_label("Not chosen").check()
    page.locator("#preview tr[data-task-type='SKIP_UNCHOOSE']", has_text="done").wait_for()
    page.get_by_label("Parameters of extract_orders").fill("${yyyymmdd+-}")
    error = page.locator('[data-role="preview-error"]')
    error.wait_for()
    assert 'Invalid parameter "${yyyymmdd+-}"' in error.inner_text()
    assert dag_count(console) == 0


def test_the_preview_of_a_long_range_shows_its_first_dates_and_counts_the_rest(console, page):
    console.apply(EXAMPLE)
    sign_in(page, console, target=FORM)
    page.get_by_label("A range").check()
    page.get_by_label("First date").fill("2026-01-01")
    page.get_by_label("Last date").fill("2026-01-10")
    page.get_by_role("button", name="Preview").click()
    page.locator('[data-role="more-dates"]').wait_for()
    assert page.locator("#preview details").count() == 7
    assert page.get_by_role("heading", name="Preview: 10 Dag(s), one per date").is_visible()
    assert page.locator('[data-role="more-dates"]').inner_text().startswith("… and 3 more")
