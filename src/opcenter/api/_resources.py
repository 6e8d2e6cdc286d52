"""What each operation touches, for authorization: the workspace ARN of the call, or `*`.

`acs:dataworks:<region>:<account>:workspace/<ProjectIdentifier>` (decisions.md, "Authorization
names"). A call that names its workspace by identifier (`ProjectName`, `ProjectIdentifier`) costs
nothing; one that names it by `ProjectId`, or only by a node, Dag or instance, is resolved through
the service layer. An object that cannot be resolved (unknown id, bad environment) gives `*`: the
operation itself then answers with the precise error.
"""

from __future__ import annotations

from collections.abc import Callable

from opcenter.api.rpc import Call
from opcenter.errors import OpcenterError
from opcenter.service import iam, instances, runs, workspaces
from opcenter.service.context import ServiceContext

__all__ = [
    "dag_resource",
    "instance_resource",
    "node_resource",
    "op_seq_resource",
    "project_resource",
]

ANY = "*"


def _resource_of(call: Call, project_id: Callable[[ServiceContext], int]) -> str:
    """The ARN of the workspace `project_id(ctx)` names; `*` when either lookup raises."""
    ctx: ServiceContext = call.services
    try:
        return call.workspace_arn(
            workspaces.get_project(ctx, project_id=project_id(ctx)).project_identifier
        )
    except OpcenterError:
        return ANY


def project_resource(call: Call) -> str:
    """The workspace named by `ProjectIdentifier`, `ProjectName` or `ProjectId`; else `*`."""
    identifier = call.str("ProjectIdentifier") or call.str("ProjectName")
    if identifier:
        return call.workspace_arn(identifier)
    try:
        project_id = call.int("ProjectId")
    except OpcenterError:
        return ANY
    if project_id is None:
        return ANY
    return _resource_of(call, lambda ctx: project_id)


def _env(call: Call) -> str:
    return call.str("ProjectEnv", default="")


def node_resource(call: Call) -> str:
    """The workspace of the node `NodeId`, in whatever environment (see iam.workspace_of_node)."""
    try:
        identifier = iam.workspace_of_node(call.services, call.int("NodeId", required=True))
    except OpcenterError:
        return ANY
    return ANY if identifier is None else call.workspace_arn(identifier)


def instance_resource(call: Call) -> str:
    """The workspace of the instance `InstanceId` in `ProjectEnv`."""
    return _resource_of(
        call,
        lambda ctx: instances.get_instance(
            ctx, instance_id=call.int("InstanceId", required=True), project_env=_env(call)
        ).project_id,
    )


def dag_resource(call: Call) -> str:
    """The workspace of the Dag `DagId` in `ProjectEnv`."""
    return _resource_of(
        call,
        lambda ctx: runs.get_dag(
            ctx, dag_id=call.int("DagId", required=True), project_env=_env(call)
        ).project_id,
    )


def op_seq_resource(call: Call) -> str:
    """The workspace of the run `OpSeq` (ListDags) in `ProjectEnv`."""
    return _resource_of(
        call,
        lambda ctx: runs.list_dags(
            ctx, op_seq=call.int("OpSeq", required=True), project_env=_env(call)
        )[0].project_id,
    )
