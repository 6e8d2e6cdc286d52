"""The instance panel of a run's page, in Chromium: a selected node's state, attempts, code
version, parameters and log, the log streaming while the instance runs."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from opcenter.domain.model import DagStatus
from tests.console.conftest import ROOT_PASSWORD
from tests.console.runs import TIMEOUT_MS, flow_in, open_run, select, start, wait_status
from tests.engine.builders import node


def test_a_failed_nodes_instance_and_log_show_in_the_panel(console, page, tmp_path: Path):
    flow = flow_in(
        console,
        [node("load", "shell", "echo loading ${day}; exit 3", params="day=$bizdate"),
         node("after", "shell", "echo after", after=["load"])],
        tmp_path / "shared",
    )  # fmt: skip
    dag_id, ids = start(flow, DagStatus.FAILURE)
    open_run(page, console, dag_id)
    panel = page.locator("#instance-panel")
    expect(panel.get_by_text("Select a node of the graph")).to_be_visible()

    select(page, ids["load"])

    expect(panel.locator('[data-role="name"]')).to_have_text("load")
    expect(panel.locator('[data-role="status"]')).to_have_attribute("data-status", "FAILURE")
    expect(panel.locator('[data-role="status"]')).to_have_text("Failed")
    expect(panel.locator('[data-role="version"]')).to_contain_text("version 1 of file load")
    expect(panel.locator('[data-role="params"]')).to_have_text(f"day={flow_day(console, ids)}")
    expect(panel.locator('[data-role="attempts"] tr')).to_have_count(1)
    log = panel.locator('[data-role="log"]')
    expect(log).to_contain_text("loading", timeout=TIMEOUT_MS)
    expect(log).to_contain_text("exit code 3")
    expect(panel.locator('[data-role="log-state"]')).to_have_text("(complete)")


def flow_day(console, ids) -> str:
    from opcenter.service.instances import get_instance

    view = get_instance(console.ctx, instance_id=ids["load"], project_env="PROD")
    return view.param_values.split("=", 1)[1]


def test_the_log_streams_while_the_instance_runs(console, page, tmp_path: Path):
    go = tmp_path / "shared" / "go"
    flow = flow_in(
        console,
        [node("slow", "shell", f"echo first part; while [ ! -e {go} ]; do sleep 0.05; done; "
              "echo second part")],
        tmp_path / "shared",
    )  # fmt: skip
    dag_id, ids = start(flow)
    open_run(page, console, dag_id)
    wait_status(page, ids["slow"], "RUNNING")
    select(page, ids["slow"])
    log = page.locator('#instance-panel [data-role="log"]')
    expect(log).to_contain_text("first part", timeout=TIMEOUT_MS)
    expect(log).to_have_attribute("data-streaming", "true")
    expect(log).not_to_contain_text("second part")

    go.touch()

    expect(log).to_contain_text("second part", timeout=TIMEOUT_MS)  # without reloading
    wait_status(page, ids["slow"], "SUCCESS")
    expect(log).to_have_attribute("data-streaming", "false", timeout=TIMEOUT_MS)
    expect(page.locator('#instance-panel [data-role="log-state"]')).to_have_text("(complete)")


def test_the_panel_speaks_chinese(console, browser, tmp_path: Path):
    flow = flow_in(console, [node("load", "shell", "exit 1")], tmp_path / "shared")
    dag_id, ids = start(flow, DagStatus.FAILURE)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1024, "height": 768})
    page = context.new_page()
    try:
        page.goto(console.url + f"dags/{dag_id}")
        page.locator("input[name=name]").fill("root")
        page.locator("input[name=password]").fill(ROOT_PASSWORD)
        page.locator("button[type=submit]").click()
        page.wait_for_selector("#graph [data-node-id]")
        select(page, ids["load"])
        panel = page.locator("#instance-panel")
        expect(panel.locator('[data-role="status"]')).to_have_text("失败")
        expect(panel.get_by_role("button", name="重跑", exact=True)).to_be_enabled()
        expect(panel.locator("#op-why-stop")).to_have_text("实例处于 FAILURE 状态时不可执行。")
    finally:
        context.close()
