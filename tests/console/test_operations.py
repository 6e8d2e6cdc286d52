"""Operating on instances from a run's page, in Chromium: rerun, rerun with downstream, set
success, stop, suspend and resume, on one node and on several, each confirmed in a dialog; the
results live on the graph; what a state or a permission forbids is disabled with its reason,
and a forged request is refused by the authorizer."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from opcenter.domain.model import DagStatus
from opcenter.iam import audit
from tests.console.runs import (
    TIMEOUT_MS,
    button,
    confirm,
    flow_in,
    open_run,
    select,
    start,
    status_of,
    wait_attempt,
    wait_status,
)
from tests.engine.builders import node

OPERATIONS = (
    "Rerun",
    "Rerun with the latest version",
    "Rerun with downstream",
    "Set success",
    "Stop",
    "Suspend",
    "Resume",
)


def _fixable(console, tmp_path: Path):
    """load fails until the file `fixed` exists; report and publish follow it."""
    fixed = tmp_path / "shared" / "fixed"
    flow = flow_in(
        console,
        [node("load", "shell", f"test -e {fixed}"),
         node("report", "shell", "echo report", after=["load"]),
         node("publish", after=["report"])],
        tmp_path / "shared",
    )  # fmt: skip
    return flow, fixed


def test_rerun_a_failed_node_by_keyboard_and_see_it_and_its_downstream_turn_green(
    console, page, tmp_path: Path
):
    flow, fixed = _fixable(console, tmp_path)
    dag_id, ids = start(flow, DagStatus.FAILURE)
    open_run(page, console, dag_id)
    select(page, ids["load"])
    rerun = button(page, "Rerun")
    expect(rerun).to_be_enabled()
    expect(button(page, "Stop")).to_be_disabled()
    expect(page.locator("#op-why-stop")).to_have_text("Not possible while the instance is FAILURE.")
    fixed.touch()

    rerun.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Rerun: load?")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Confirm")).to_be_focused()
    page.keyboard.press("Enter")

    for name in ("load", "report", "publish"):
        wait_status(page, ids[name], "SUCCESS")
    expect(page.locator('#instance-panel [data-role="results"]')).to_have_text("load: done.")
    expect(page.locator('#instance-panel [data-role="attempt"]')).to_have_text("2")
    # the focus stays in the panel: on the button, or on the results while it was disabled
    expect(page.locator("#instance-panel :focus")).to_have_count(1)


def test_cancelling_the_dialog_does_nothing(console, page, tmp_path: Path):
    flow, _ = _fixable(console, tmp_path)
    dag_id, ids = start(flow, DagStatus.FAILURE)
    open_run(page, console, dag_id)
    select(page, ids["load"])
    button(page, "Set success").click()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert status_of(console, ids["load"]) == "FAILURE"


def test_rerun_with_downstream_runs_the_node_and_everything_after_it_again(
    console, page, tmp_path: Path
):
    flow = flow_in(
        console,
        [node("first", "shell", "echo first"),
         node("second", "shell", "echo second", after=["first"]),
         node("third", "shell", "echo third", after=["second"]),
         node("aside", "shell", "echo aside")],
        tmp_path / "shared",
    )  # fmt: skip
    dag_id, ids = start(flow, DagStatus.SUCCESS)
    open_run(page, console, dag_id)
    select(page, ids["second"])
    expect(button(page, "Set success")).to_be_disabled()

    button(page, "Rerun with downstream").click()
    confirm(page)

    wait_attempt(console, ids["third"], 2)
    for name in ("second", "third"):
        wait_status(page, ids[name], "SUCCESS")
    expect(page.locator('#instance-panel [data-role="attempt"]')).to_have_text("2")
    from opcenter.service.instances import get_instance

    attempts = {
        n: get_instance(console.ctx, instance_id=i, project_env="PROD").attempt
        for n, i in ids.items()
    }
    assert attempts == {"first": 1, "second": 2, "third": 2, "aside": 1}


def test_set_success_releases_the_downstream(console, page, tmp_path: Path):
    flow, _ = _fixable(console, tmp_path)
    dag_id, ids = start(flow, DagStatus.FAILURE)
    open_run(page, console, dag_id)
    select(page, ids["load"])

    button(page, "Set success").click()
    confirm(page)

    for name in ("load", "report", "publish"):
        wait_status(page, ids[name], "SUCCESS")


def test_stop_a_running_node(console, page, tmp_path: Path):
    flow = flow_in(console, [node("long", "shell", "sleep 60")], tmp_path / "shared")
    dag_id, ids = start(flow)
    open_run(page, console, dag_id)
    wait_status(page, ids["long"], "RUNNING")
    select(page, ids["long"])
    expect(button(page, "Rerun")).to_be_disabled()
    expect(page.locator("#op-why-rerun")).to_have_text(
        "Not possible while the instance is RUNNING."
    )

    button(page, "Stop").click()
    confirm(page)

    wait_status(page, ids["long"], "FAILURE")
    log = page.locator('#instance-panel [data-role="log"]')
    expect(log).to_contain_text("Stopped by root.", timeout=TIMEOUT_MS)
    expect(button(page, "Rerun")).to_be_enabled()


def test_suspend_holds_a_waiting_node_until_resumed(console, page, tmp_path: Path):
    go = tmp_path / "shared" / "go"
    flow = flow_in(
        console,
        [node("gate", "shell", f"while [ ! -e {go} ]; do sleep 0.05; done"),
         node("held", "shell", "echo held", after=["gate"])],
        tmp_path / "shared",
    )  # fmt: skip
    dag_id, ids = start(flow)
    open_run(page, console, dag_id)
    wait_status(page, ids["gate"], "RUNNING")
    select(page, ids["held"])
    expect(button(page, "Resume")).to_be_disabled()
    expect(page.locator("#op-why-resume")).to_have_text("It is not suspended.")

    button(page, "Suspend").click()
    confirm(page)

    panel = page.locator("#instance-panel")
    expect(panel.locator('[data-role="suspended"]')).to_be_visible()
    expect(button(page, "Suspend")).to_be_disabled()
    expect(page.locator("#op-why-suspend")).to_have_text("It is suspended already.")
    go.touch()
    wait_status(page, ids["gate"], "SUCCESS")
    assert status_of(console, ids["held"]) == "NOT_RUN"  # held back while suspended

    button(page, "Resume").click()
    confirm(page)

    wait_status(page, ids["held"], "SUCCESS")


def test_several_selected_nodes_are_rerun_at_once_while_another_runs(console, page, tmp_path: Path):
    fixed, go = tmp_path / "shared" / "fixed", tmp_path / "shared" / "go"
    flow = flow_in(
        console,
        [node("east", "shell", f"test -e {fixed}"),
         node("west", "shell", f"test -e {fixed}"),
         node("slow", "shell", f"while [ ! -e {go} ]; do sleep 0.05; done")],
        tmp_path / "shared",
    )  # fmt: skip
    dag_id, ids = start(flow)
    open_run(page, console, dag_id)
    wait_status(page, ids["east"], "FAILURE")
    wait_status(page, ids["west"], "FAILURE")
    wait_status(page, ids["slow"], "RUNNING")

    select(page, ids["east"], ids["west"])
    panel = page.locator("#instance-panel")
    expect(panel.locator('[data-role="count"]')).to_have_text("2 instances selected.")
    select(page, ids["east"], ids["west"], ids["slow"])
    expect(button(page, "Rerun")).to_be_disabled()  # slow is running
    expect(page.locator("#op-why-rerun")).to_have_text(
        "slow: Not possible while the instance is RUNNING."
    )
    select(page, ids["east"], ids["west"])
    fixed.touch()
    button(page, "Rerun").click()
    expect(page.get_by_role("dialog")).to_contain_text("these 2 instances")
    confirm(page)

    wait_status(page, ids["east"], "SUCCESS")
    wait_status(page, ids["west"], "SUCCESS")
    expect(panel.locator('[data-role="results"] li')).to_have_text(["east: done.", "west: done."])
    assert status_of(console, ids["slow"]) == "RUNNING"
    go.touch()
    wait_status(page, ids["slow"], "SUCCESS")


def test_a_read_only_user_sees_every_operation_disabled_and_a_forged_post_is_refused(
    console, page, tmp_path: Path
):
    flow, _ = _fixable(console, tmp_path)
    dag_id, ids = start(flow, DagStatus.FAILURE)
    console.user("visitor", role="role_project_guest")
    open_run(page, console, dag_id, user="visitor")
    select(page, ids["load"])
    panel = page.locator("#instance-panel")
    expect(panel.locator('[data-role="status"]')).to_have_attribute("data-status", "FAILURE")

    for name in OPERATIONS:
        expect(button(page, name)).to_be_disabled()
        why = button(page, name).get_attribute("aria-describedby")
        expect(page.locator(f"#{why}")).to_contain_text("You may not")
    expect(panel.locator('[data-role="log"]')).not_to_be_empty()  # reading is allowed

    answer = page.evaluate(
        """async (id) => {
            const body = {action: "rerun", ids: [id]};
            try { return await OC.request("POST", "/instances/operate", body); }
            catch (error) { return error; }
        }""",
        ids["load"],
    )

    assert answer["Code"].startswith("Forbidden."), answer
    assert status_of(console, ids["load"]) == "FAILURE"
    with console.ctx.db.transaction(readonly=True) as session:
        denied = audit.list_events(session, audit.AuditFilter(action="dataworks:RestartInstance"))
    assert denied and "visitor" in denied[-1].principal and denied[-1].outcome == audit.DENIED


def test_a_refused_state_is_answered_per_instance(console, page, tmp_path: Path):
    flow, _ = _fixable(console, tmp_path)
    dag_id, ids = start(flow, DagStatus.FAILURE)
    open_run(page, console, dag_id)

    answer = page.evaluate(
        """(ids) => OC.request("POST", "/instances/operate", {action: "stop", ids})""",
        [ids["load"], ids["report"]],
    )

    by_id = {r["id"]: r for r in answer["results"]}
    assert by_id[ids["load"]]["Code"] == "Invalid.Instance.Status"
    assert "with status FAILURE" in by_id[ids["load"]]["Message"]
    assert by_id[ids["report"]]["ok"] is True  # NOT_RUN: stopped


def test_a_refusal_among_several_is_shown_beside_the_others_results(console, page, tmp_path: Path):
    flow, _ = _fixable(console, tmp_path)
    dag_id, ids = start(flow, DagStatus.FAILURE)
    open_run(page, console, dag_id)
    # report is NOT_RUN behind the failed load: both may be set to success, until load is
    select(page, ids["load"], ids["report"])

    button(page, "Set success").click()
    confirm(page)

    results = page.locator('#instance-panel [data-role="results"] li')
    expect(results.nth(0)).to_have_text("load: done.")
    expect(results.nth(1)).to_contain_text("report: refused — Invalid.Instance.Status:")
    for name in ("load", "report", "publish"):
        wait_status(page, ids[name], "SUCCESS")


def test_rerun_with_downstream_of_a_node_and_one_after_it_runs_each_once(
    console, page, tmp_path: Path
):
    flow = flow_in(
        console,
        [node("first", "shell", "echo first"),
         node("second", "shell", "echo second", after=["first"])],
        tmp_path / "shared",
    )  # fmt: skip
    dag_id, ids = start(flow, DagStatus.SUCCESS)
    open_run(page, console, dag_id)
    select(page, ids["first"], ids["second"])

    button(page, "Rerun with downstream").click()
    confirm(page)

    expect(page.locator('#instance-panel [data-role="results"] li')).to_have_text(
        ["first: done.", "second: rerun as the downstream of another selected instance."]
    )
    wait_attempt(console, ids["second"], 2)
    wait_status(page, ids["second"], "SUCCESS")
    from opcenter.service.instances import get_instance

    assert get_instance(console.ctx, instance_id=ids["second"], project_env="PROD").attempt == 2
