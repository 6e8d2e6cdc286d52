"""What each operation touches, for authorization: the workspace of the call.

Each function resolves the workspace once, through the service layer, and returns it as a
`WorkspaceRef`; the dispatcher keeps it on `call.workspace` for the authorizer and the handler
and authorizes on `acs:dataworks:<region>:<account>:workspace/<ProjectIdentifier>`
(docs/iam.md, "Action and resource names").

Authorization fails closed: whatever stops the resolution refuses the request with the
service's own error, and the handler does not run. An object that does not exist (or lies in
another environment) → its NotFound (404), exactly as the operation would answer; a bad or
missing parameter → InvalidParameter / MissingParameter; a store failure → StoreUnavailable.
Only operations registered without a resource name no workspace (`*`).

One exception keeps a caller without rights from learning which workspaces exist: a workspace
named by identifier (`ProjectName`, `ProjectIdentifier`) that does not exist yields its ARN
without a `WorkspaceRef`; the authorizer then checks the caller's policies first and answers the
same NotFound as for a workspace the caller cannot see.
"""

from __future__ import annotations

from opcenter.api.rpc import Call
from opcenter.errors import MissingParameter, NotFound
from opcenter.iam.scope import WorkspaceRef
from opcenter.service import iam

__all__ = [
    "dag_resource",
    "instance_resource",
    "node_resource",
    "op_seq_resource",
    "project_resource",
]

# The parameter an operation asks for when no workspace is named, as its service says it.
_MISSING_PROJECT = dict.fromkeys(
    ("RunManualDagNodes", "CreateManualDag", "GetManualDagInstances", "ListManualDagInstances"),
    "ProjectName",
)


def project_resource(call: Call) -> WorkspaceRef | str:
    """The workspace named by `ProjectIdentifier`, `ProjectName` and/or `ProjectId`."""
    identifier = call.str("ProjectIdentifier") or call.str("ProjectName")
    project_id = call.int("ProjectId")
    if identifier is None and project_id is None:
        raise MissingParameter(_MISSING_PROJECT.get(call.action, "ProjectId"))
    try:
        return iam.workspace_ref(
            call.services,
            project_id=project_id,
            project_name=call.str("ProjectName"),
            project_identifier=call.str("ProjectIdentifier"),
        )
    except NotFound:
        if project_id is not None:
            raise
        return call.workspace_arn(identifier or "")


def _env(call: Call) -> str | None:
    return call.str("ProjectEnv")


def node_resource(call: Call) -> WorkspaceRef:
    """The workspace of the node `NodeId`, in whatever environment (see iam.workspace_of)."""
    return iam.workspace_of(call.services, "NodeId", call.int("NodeId", required=True))


def instance_resource(call: Call) -> WorkspaceRef:
    """The workspace of the instance `InstanceId` in `ProjectEnv`."""
    instance_id = call.int("InstanceId", required=True)
    return iam.workspace_of_instance(call.services, instance_id, _env(call))


def dag_resource(call: Call) -> WorkspaceRef:
    """The workspace of the Dag `DagId` in `ProjectEnv`."""
    return iam.workspace_of_dag(call.services, call.int("DagId", required=True), _env(call))


def op_seq_resource(call: Call) -> WorkspaceRef:
    """The workspace of the run `OpSeq` (ListDags) in `ProjectEnv`."""
    return iam.workspace_of_run(call.services, call.int("OpSeq", required=True), _env(call))
