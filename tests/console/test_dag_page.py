"""A run's page in Chromium: every node drawn with its instance and state, states and counts
changing live (server-sent events from the change feed) without a reload, zoom and fit,
selection by mouse and keyboard announced as `oc:select`, and the page refused to a user who
may not read the Dag."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from opcenter.service.instances import get_manual_dag_instances, suspend_instance
from tests.console.conftest import USER_PASSWORD, sign_in
from tests.engine.builders import make_flow, node, run_flow


@pytest.fixture
def marker(tmp_path: Path):
    """A folder shared with the jobs; the file `go` in it lets the waiting node finish (made at
    teardown too, so no job is left waiting)."""
    folder = tmp_path / "shared"
    yield folder
    if folder.exists():
        (folder / "go").touch()


def waiting_flow(console, folder: Path):
    """start → wait (Shell, until `folder/go` exists) → done, and start → quick."""
    wait = f"while [ ! -f {folder}/go ]; do sleep 0.05; done; echo released"
    return make_flow(
        console.ctx,
        [
            node("start"),
            node("wait", "shell", wait, after=["start"]),
            node("done", after=["wait"]),
            node("quick", after=["start"]),
        ],
        workspace="ws1",
        name="waiting",
        shared=[folder],
    )


def instance_ids(console, dag_id: int) -> dict[str, int]:
    found = get_manual_dag_instances(console.ctx, dag_id=dag_id, project_env="PROD")
    return {i.node_name: i.instance_id for i in found}


def graph_node(page, flow, name: str):
    return page.locator(f'g.node[data-node-id="{flow.id(name)}"]')


def open_run(page, console, dag_id: int) -> None:
    sign_in(page, console, target=f"dags/{dag_id}")
    expect(page.locator("#dag-live")).to_have_attribute("data-live", "open")


def test_the_run_page_draws_every_node_with_its_instance_and_state(console, page, marker):
    flow = waiting_flow(console, marker)
    created = run_flow(flow)
    ids = instance_ids(console, created.dag_id)
    open_run(page, console, created.dag_id)
    expect(page.get_by_role("heading", name=re.compile("waiting"))).to_be_visible()
    nodes = page.locator("g.node")
    expect(nodes).to_have_count(4)
    for name in ("start", "wait", "done", "quick"):
        drawn = graph_node(page, flow, name)
        expect(drawn).to_have_attribute("data-instance-id", str(ids[name]))
        expect(drawn).to_have_attribute("data-status", re.compile(r"^[A-Z_]+$"))
    # Edges point down: start is above wait, wait above done.
    ys = {n: graph_node(page, flow, n).bounding_box()["y"] for n in ("start", "wait", "done")}
    assert ys["start"] < ys["wait"] < ys["done"]
    # The same data, for scripts
    data = page.request.get(
        console.url + f"dags/{created.dag_id}/graph", headers={"Accept": "application/json"}
    ).json()
    assert sorted(n["instance"] for n in data["nodes"]) == sorted(ids.values())
    assert sorted(map(tuple, data["edges"])) == sorted(
        (flow.id(a), flow.id(b))
        for a, b in [("start", "wait"), ("wait", "done"), ("start", "quick")]
    )


def test_a_state_change_shows_live_with_the_counts(console, page, marker):
    # Given a run whose Shell node waits for a file, open on the page
    flow = waiting_flow(console, marker)
    created = run_flow(flow)
    open_run(page, console, created.dag_id)
    wait, done = graph_node(page, flow, "wait"), graph_node(page, flow, "done")
    expect(wait).to_have_attribute("data-status", "RUNNING", timeout=10_000)
    expect(done).to_have_attribute("data-status", "NOT_RUN")
    expect(page.locator('[data-count="RUNNING"]')).to_have_text("1")
    # When the file appears (no reload)
    page.evaluate("window.notReloaded = true")
    (marker / "go").touch()
    # Then the nodes, the counts and the Dag's status follow
    expect(wait).to_have_attribute("data-status", "SUCCESS", timeout=10_000)
    expect(done).to_have_attribute("data-status", "SUCCESS", timeout=10_000)
    expect(page.locator('[data-count="SUCCESS"]')).to_have_text("4")
    expect(page.locator('[data-count="RUNNING"]')).to_have_text("0")
    expect(page.locator("#dag-status")).to_have_attribute("data-status", "SUCCESS")
    assert page.evaluate("window.notReloaded") is True


def test_an_operator_action_shows_live_and_is_dispatched_as_oc_states(console, page, marker):
    flow = waiting_flow(console, marker)
    created = run_flow(flow)
    ids = instance_ids(console, created.dag_id)
    open_run(page, console, created.dag_id)
    page.evaluate(
        "window.seen = []; addEventListener('oc:states', e => window.seen.push(e.detail))"
    )
    suspend_instance(console.ctx, instance_id=ids["done"], project_env="PROD")
    done = graph_node(page, flow, "done")
    expect(done).to_have_attribute("data-suspended", "true")
    expect(done).to_have_attribute("aria-label", re.compile("suspended"))
    expect(page.locator('[data-count="suspended"]')).to_have_text("1")
    changed = page.evaluate("window.seen.flatMap(d => d.instances).map(i => i.id)")
    assert ids["done"] in changed


def test_dry_run_and_not_chosen_nodes_are_marked(console, page, marker):
    flow = waiting_flow(console, marker)
    (marker / "go").touch()
    created = run_flow(flow, exclude_node_ids=flow.ids("quick"))
    open_run(page, console, created.dag_id)
    quick = graph_node(page, flow, "quick")
    expect(quick).to_have_attribute("data-mark", "dry")
    expect(quick).to_have_attribute("aria-label", re.compile("dry run"))
    expect(quick.locator("text.sub")).to_contain_text("dry run")
    expect(graph_node(page, flow, "start")).to_have_attribute("data-mark", "")
    # The run form marks nodes itself (g.setMarks): drawn and labelled the same way
    page.evaluate(f"OC.dag.graph.setMarks({{{flow.id('done')}: 'none'}})")
    done = graph_node(page, flow, "done")
    expect(done).to_have_attribute("data-mark", "none")
    expect(done).to_have_attribute("aria-label", re.compile("not chosen"))


def test_zoom_and_fit_buttons_change_the_view(console, page, marker):
    flow = waiting_flow(console, marker)
    created = run_flow(flow)
    open_run(page, console, created.dag_id)
    box = graph_node(page, flow, "start").bounding_box()
    page.get_by_role("button", name="Zoom out").click()
    smaller = graph_node(page, flow, "start").bounding_box()
    assert smaller["width"] < box["width"] * 0.9
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Zoom in").click()
    larger = graph_node(page, flow, "start").bounding_box()
    assert larger["width"] > box["width"] * 1.1
    page.get_by_role("button", name="Fit").click()
    fitted = graph_node(page, flow, "start").bounding_box()
    assert fitted["width"] == pytest.approx(box["width"], rel=0.01)


def test_clicking_nodes_selects_them_and_dispatches_oc_select(console, page, marker):
    flow = waiting_flow(console, marker)
    created = run_flow(flow)
    ids = instance_ids(console, created.dag_id)
    open_run(page, console, created.dag_id)
    page.evaluate(
        "window.picked = []; document.getElementById('graph')"
        ".addEventListener('oc:select', e => window.picked.push(e.detail))"
    )
    graph_node(page, flow, "wait").click()
    expect(graph_node(page, flow, "wait")).to_have_attribute("aria-pressed", "true")
    graph_node(page, flow, "quick").click(modifiers=["Control"])
    picked = page.evaluate("window.picked")
    assert picked[0] == {"nodes": [flow.id("wait")], "instances": [ids["wait"]]}
    assert sorted(picked[1]["instances"]) == sorted([ids["wait"], ids["quick"]])
    graph_node(page, flow, "done").click()
    expect(graph_node(page, flow, "wait")).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("window.picked.at(-1).nodes") == [flow.id("done")]


def test_the_keyboard_moves_between_nodes_and_selects(console, page, marker):
    flow = waiting_flow(console, marker)
    created = run_flow(flow)
    open_run(page, console, created.dag_id)
    page.evaluate(
        "window.picked = []; document.getElementById('graph')"
        ".addEventListener('oc:select', e => window.picked.push(e.detail.nodes))"
    )
    graph_node(page, flow, "start").focus()
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("document.activeElement.getAttribute('data-node-id')")
    assert int(focused) in (flow.id("wait"), flow.id("quick"))
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Space")
    expect(graph_node(page, flow, "start")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("window.picked") == [
        [int(focused)],
        [int(focused), flow.id("start")],
    ]


def test_a_user_outside_the_workspace_is_refused_the_page_and_its_data(console, page, marker):
    flow = waiting_flow(console, marker)
    created = run_flow(flow)
    console.user(
        "outsider",
        role="role_project_guest",
        workspace="other",
        policy="AliyunDataWorksReadOnlyAccess",
    )
    sign_in(page, console, "outsider", USER_PASSWORD, target=f"dags/{created.dag_id}")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("g.node")).to_have_count(0)
    answer = page.request.get(
        console.url + f"dags/{created.dag_id}/graph", headers={"Accept": "application/json"}
    )
    # Not a member: the workspace answers as a missing one (as the API does).
    assert answer.status == 404
    assert answer.json()["Code"] == "Invalid.Project.NotExists"
