"""Helpers of the instance panel's browser tests: a deployed workflow in the console's store, a
run of it, the run's page opened, and nodes selected on its graph as a person would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opcenter.domain.model import DagStatus
from opcenter.service.instances import get_instance
from tests.console.conftest import Console, sign_in
from tests.engine.builders import Flow, NodeDef, by_name, make_flow, run_flow, wait_dag, wait_for

PROD = "PROD"
TIMEOUT_MS = 15_000


def flow_in(console: Console, nodes: list[NodeDef], shared: Path, name: str = "flow") -> Flow:
    """A deployed workflow of `nodes` in workspace ws1; `shared`: a folder its jobs may use."""
    made = "ws1" not in console.made
    flow = make_flow(
        console.ctx, nodes, workspace="ws1", name=name, create_workspace=made, shared=[shared]
    )
    if made:
        console.made.append("ws1")
    return flow


def start(flow: Flow, final: DagStatus | None = None) -> tuple[int, dict[str, int]]:
    """Run the workflow; wait for the Dag's `final` status when given. Returns the DagId and
    the instance ids by node name."""
    created = run_flow(flow)
    if final is not None:
        assert wait_dag(flow.ctx, created.dag_id, [final]) is final
    ids = {name: i.instance_id for name, i in by_name(flow.ctx, created.dag_id).items()}
    return created.dag_id, ids


def open_run(page: Any, console: Console, dag_id: int, user: str | None = None) -> None:
    if user is None:
        sign_in(page, console, target=f"dags/{dag_id}")
    else:
        from tests.console.conftest import USER_PASSWORD

        sign_in(page, console, user, USER_PASSWORD, target=f"dags/{dag_id}")
    page.wait_for_selector("#graph [data-node-id]")


def node(page: Any, instance_id: int) -> Any:
    return page.locator(f'#graph [data-instance-id="{instance_id}"]')


def select(page: Any, *instance_ids: int) -> None:
    """Click the first node, Ctrl-click the others."""
    node(page, instance_ids[0]).click()
    for other in instance_ids[1:]:
        node(page, other).click(modifiers=["Control"])


def wait_status(page: Any, instance_id: int, status: str) -> None:
    page.wait_for_selector(
        f'#graph [data-instance-id="{instance_id}"][data-status="{status}"]', timeout=TIMEOUT_MS
    )


def button(page: Any, name: str) -> Any:
    return page.locator("#instance-panel").get_by_role("button", name=name, exact=True)


def confirm(page: Any) -> None:
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Confirm", exact=True).click()
    dialog.wait_for(state="hidden")


def status_of(console: Console, instance_id: int) -> str:
    return get_instance(console.ctx, instance_id=instance_id, project_env=PROD).status.value


def wait_attempt(console: Console, instance_id: int, attempt: int) -> None:
    wait_for(
        lambda: get_instance(console.ctx, instance_id=instance_id, project_env=PROD).attempt
        >= attempt,
        timeout=TIMEOUT_MS / 1000,
    )
