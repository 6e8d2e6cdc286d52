"""Nodes as released in one environment: GetNode, ListNodes, GetNodeCode, GetNodeParents,
GetNodeChildren, ListNodeIO / ListNodeInputOrOutput; and OfflineNode, UpdateNodeOwner.

A node exists in DEV once its file is submitted and in PROD once it is deployed (after the
submit in a basic workspace). Parents and children are the same-cycle edges of its workflow
(`StepType` "0"); ListNodeIO names the output on each edge. OfflineNode takes a node offline in
PROD (`ProjectEnv`, opcenter's own, may name DEV): new runs dry-run it, GetNode shows it with
SchedulerType `SKIP`, releasing it again brings it back (service/nodes.py).
"""

from __future__ import annotations

from typing import Any

from opcenter.api import _render as render
from opcenter.api._resources import node_resource, project_resource
from opcenter.api.rpc import Call, operation
from opcenter.service import nodes

__all__ = [
    "get_node",
    "get_node_children",
    "get_node_code",
    "get_node_parents",
    "list_node_input_or_output",
    "list_node_io",
    "list_nodes",
    "offline_node",
    "update_node_owner",
]


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


def _node_io(call: Call) -> list[dict[str, Any]]:
    found = nodes.list_node_io(call.services, io_type=call.str("IoType"), **_node(call))
    return [render.node_io(item) for item in found]


@operation("ListNodeIO", resource=node_resource)
def list_node_io(call: Call) -> dict[str, Any]:
    return render.ok(Data=_node_io(call))


@operation("ListNodeInputOrOutput", resource=node_resource)
def list_node_input_or_output(call: Call) -> dict[str, Any]:
    return render.ok(Data=_node_io(call))


@operation("OfflineNode", resource=project_resource)
def offline_node(call: Call) -> dict[str, Any]:
    nodes.offline_node(
        call.services,
        node_id=call.int("NodeId", required=True),
        project_id=call.int("ProjectId"),
        project_identifier=call.str("ProjectIdentifier"),
        project_env=call.str("ProjectEnv", default="PROD"),
        caller=render.caller_of(call),
    )
    return {"Success": True}


@operation("UpdateNodeOwner", resource=node_resource)
def update_node_owner(call: Call) -> dict[str, Any]:
    nodes.update_node_owner(call.services, user_id=call.str("UserId"), **_node(call))
    return {"Success": True}
