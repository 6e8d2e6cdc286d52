"""Nodes as released in one environment: GetNode, ListNodes, GetNodeCode, GetNodeParents,
GetNodeChildren.

A node exists in DEV once its file is submitted and in PROD once it is deployed (after the
submit in a basic workspace). Parents and children are the same-cycle edges of its workflow
(`StepType` "0").
"""

from __future__ import annotations

from typing import Any

from opcenter.api import _render as render
from opcenter.api._resources import node_resource, project_resource
from opcenter.api.rpc import Call, operation
from opcenter.service import nodes

__all__ = ["get_node", "get_node_children", "get_node_code", "get_node_parents", "list_nodes"]


def _node(call: Call) -> dict[str, Any]:
    return {
        "node_id": call.int("NodeId", required=True),
        "project_env": call.str("ProjectEnv"),
        "caller": render.caller_of(call),
    }


@operation("GetNode", resource=node_resource)
def get_node(call: Call) -> dict[str, Any]:
    found = nodes.get_node(call.services, **_node(call))
    return render.ok(Data=render.node(found, repeatability_as_text=True))


@operation("GetNodeCode", resource=node_resource)
def get_node_code(call: Call) -> dict[str, Any]:
    return render.ok(Data=nodes.get_node_code(call.services, **_node(call)))


@operation("GetNodeParents", resource=node_resource)
def get_node_parents(call: Call) -> dict[str, Any]:
    found = nodes.get_node_parents(call.services, **_node(call))
    return render.ok(Data={"Nodes": [render.node_relative(n) for n in found]})


@operation("GetNodeChildren", resource=node_resource)
def get_node_children(call: Call) -> dict[str, Any]:
    found = nodes.get_node_children(call.services, **_node(call))
    return render.ok(Data={"Nodes": [render.node_relative(n) for n in found]})


@operation("ListNodes", resource=project_resource)
def list_nodes(call: Call) -> dict[str, Any]:
    result = nodes.list_nodes(
        call.services,
        project_env=call.str("ProjectEnv"),
        project_id=call.int("ProjectId"),
        project_identifier=call.str("ProjectIdentifier"),
        biz_name=call.str("BizName"),
        node_name=call.str("NodeName"),
        owner=call.str("Owner"),
        program_type=call.str("ProgramType"),
        scheduler_type=call.str("SchedulerType"),
        page_number=call.int("PageNumber", default=1),
        page_size=call.int("PageSize", default=10),
        caller=render.caller_of(call),
    )
    items = [render.node(n) for n in result.items]
    return render.ok(Data=render.page("Nodes", result, items))
