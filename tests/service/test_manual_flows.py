"""The manual workflows as deployed in one environment (service/manual_flows.py): what the
page lists and draws, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from opcenter.errors import NotFound
from opcenter.service import workflows
from opcenter.service.context import ServiceContext
from opcenter.service.manual_flows import list_manual_flows, manual_flow
from tests.engine.builders import make_flow, node


def test_the_list_counts_the_nodes_deployed_in_the_env_by_type(ctx: ServiceContext) -> None:
    flow = make_flow(
        ctx,
        [node("start"), node("a", "shell", "echo", after=["start"]), node("b", "python", "1")],
    )
    workflows.create_business(
        ctx, project_id=flow.project_id, business_name="cyc", use_type="NORMAL"
    )
    make_flow(ctx, [node("x")], name="draft", deploy=False, create_workspace=False)
    prod = {f.name: f for f in list_manual_flows(ctx, project_identifier="ws", project_env="PROD")}
    assert sorted(prod) == ["draft", "flow"]
    assert prod["flow"].node_count == 3
    assert prod["flow"].types == (("DIDE_SHELL", 1), ("PYTHON", 1), ("VIRTUAL", 1))
    assert prod["draft"].node_count == 0 and prod["draft"].undeployed == ("x",)
    dev = {f.name: f for f in list_manual_flows(ctx, project_identifier="ws", project_env="DEV")}
    assert dev["draft"].node_count == 1 and dev["draft"].undeployed == ()


def test_a_workflow_shows_each_node_with_its_type_version_and_parents(
    ctx: ServiceContext,
) -> None:
    flow = make_flow(ctx, [node("start"), node("a", "shell", "echo", "$bizdate", ["start"])])
    found = manual_flow(ctx, project_identifier="ws", project_env="PROD", flow_name="flow")
    nodes = {n.name: n for n in found.nodes}
    assert nodes["a"].type_name == "DIDE_SHELL" and nodes["a"].version == 1
    assert nodes["a"].parents == (flow.id("start"),) and nodes["a"].para_value == "$bizdate"
    assert found.edges == [(flow.id("start"), flow.id("a"))]


def test_an_unknown_workflow_is_not_found(ctx: ServiceContext) -> None:
    make_flow(ctx, [node("start")])
    with pytest.raises(NotFound) as err:
        manual_flow(ctx, project_identifier="ws", project_env="PROD", flow_name="nope")
    assert err.value.code == "Invalid.Flow.NotExists"
    with pytest.raises(NotFound):
        list_manual_flows(ctx, project_identifier="other", project_env="PROD")
