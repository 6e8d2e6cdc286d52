"""Workflow definitions over the API (opcenter's own operations): ApplyWorkflowDefinition and
GetWorkflowDefinition, what `opcenter apply` and `opcenter export` do, for tools that speak the
API and have no file on the server.

ApplyWorkflowDefinition takes the document's text in `Definition` (JSON or YAML; send it in
the form body, which has no URL length limit) and answers the apply report in `Data`, in the
form `opcenter apply --json` prints. Applying writes workflows and files, submits and may
deploy them, so besides `dataworks:ApplyWorkflowDefinition` the caller must be allowed each
operation it stands for, on the same workspace, before anything is written: CreateBusiness,
UpdateBusiness, CreateFile, UpdateFile, SubmitFile, DeployFile with `Deploy=true`, and
CreateProject with `CreateWorkspace=true` when the workspace does not exist yet.
GetWorkflowDefinition is a read (`Get…`): every role and the read-only policy may call it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from opcenter.api import _render as render
from opcenter.api._resources import project_resource
from opcenter.api.rpc import RAM_SERVICE, Call, any_resource, operation
from opcenter.errors import InvalidParameter, MissingParameter, not_found
from opcenter.iam.scope import WorkspaceRef
from opcenter.service import definitions, workspaces

__all__ = ["apply_workflow_definition", "get_workflow_definition", "parse_definition"]

# What applying stands for: each is authorized on the workspace before anything is written.
AUTHORING_ACTIONS = ("CreateBusiness", "UpdateBusiness", "CreateFile", "UpdateFile", "SubmitFile")


# Request options of `apply_definition` that only some servers' versions have: parameter →
# keyword argument. One that the running version lacks is refused, never silently ignored.
def parse_definition(text: str) -> Mapping[str, Any]:
    """The document of `Definition`: JSON when it starts with `{`, YAML otherwise.

    Anything that is not a mapping with a `kind` → InvalidParameter saying what a definition
    holds."""
    stripped = text.lstrip("\ufeff \t\r\n")
    try:
        document = json.loads(stripped) if stripped.startswith("{") else yaml.safe_load(stripped)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        form = "JSON" if stripped.startswith("{") else "YAML"
        detail = " ".join(str(exc).split())
        raise InvalidParameter(_not_valid(f"it is not valid {form}: {detail}")) from None
    if not isinstance(document, Mapping) or "kind" not in document:
        raise InvalidParameter(
            _not_valid(f"it holds no definition: {definitions.WHAT_A_DEFINITION_HOLDS}")
        )
    return document


def _not_valid(reason: str) -> str:
    return f'The specified value of parameter "Definition" is not valid: {reason}.'


def _apply_resource(call: Call) -> WorkspaceRef | str:
    """The workspace; with `CreateWorkspace=true` and a workspace that does not exist yet, `*`
    (CreateProject's resource: the handler then requires CreateProject too)."""
    resolved = project_resource(call)
    if isinstance(resolved, str) and call.bool("CreateWorkspace", default=False):
        return any_resource(call)
    return resolved


def _options(call: Call) -> dict[str, Any]:
    """The optional `apply_definition` arguments sent: `Name`, `AsManual`, `Map`
    (`TYPE=KIND,TYPE=KIND`), `Strict`."""
    sent: dict[str, Any] = {}
    if call.has("Name"):
        sent["name"] = call.str("Name")
    if call.has("AsManual"):
        sent["as_manual"] = call.bool("AsManual")
    if call.has("Map"):
        type_map: dict[str, str] = {}
        for pair in (call.str("Map") or "").split(","):
            if not pair.strip():
                continue
            spec_type, sep, kind = pair.partition("=")
            if not sep:
                raise InvalidParameter(
                    f'The specified value of parameter "Map" is not valid: {pair.strip()!r} is '
                    "not TYPE=KIND."
                )
            type_map[spec_type.strip()] = kind.strip()
        sent["type_map"] = type_map
    if call.has("Strict"):
        sent["strict"] = call.bool("Strict")
    return sent


@operation("ApplyWorkflowDefinition", resource=_apply_resource)
def apply_workflow_definition(call: Call) -> dict[str, Any]:
    """`Data` is the apply report (as `opcenter apply --json` prints it)."""
    document = parse_definition(call.params.get("Definition") or _missing_definition())
    deploy = call.bool("Deploy", default=False)
    create = call.bool("CreateWorkspace", default=False)
    options = _options(call)
    caller = render.caller_of(call)
    identifier = _workspace_identifier(call, create)
    arn = call.workspace_arn(identifier)
    for action in (*AUTHORING_ACTIONS, *(("DeployFile",) if deploy else ())):
        call.require(f"{RAM_SERVICE}:{action}", arn)
    report = definitions.apply_definition(
        call.services,
        path_or_document=document,
        workspace=identifier,
        deploy=deploy,
        caller=caller,
        **options,
    )
    return render.ok(Data=report.as_dict())


def _missing_definition() -> str:
    raise MissingParameter("Definition")


def _workspace_identifier(call: Call, create: bool) -> str:
    """The identifier of the workspace the call names; created first when asked and missing
    (CreateProject required)."""
    if call.workspace is not None:
        return call.workspace.identifier
    identifier = call.str("ProjectIdentifier")
    if identifier is None or call.has("ProjectId"):
        # Named by ProjectId (or by nothing): resolving it raises the right error.
        project = workspaces.get_project(
            call.services,
            project_id=call.int("ProjectId"),
            project_identifier=identifier,
            caller=render.caller_of(call),
        )
        return project.project_identifier
    if not create:
        raise not_found("ProjectIdentifier", identifier)
    call.require(f"{RAM_SERVICE}:CreateProject", any_resource(call))
    workspaces.create_project(
        call.services,
        project_identifier=identifier,
        project_name=identifier,
        caller=render.caller_of(call),
    )
    return identifier


@operation("GetWorkflowDefinition", resource=project_resource)
def get_workflow_definition(call: Call) -> dict[str, Any]:
    """`Data` is the workflow's Spec document (what `opcenter export --format json` writes)."""
    document = definitions.export_definition(
        call.services,
        workspace=_workspace_identifier(call, create=False),
        workflow_name=call.str("BusinessName", required=True),
        env=call.choice("ProjectEnv", ("DEV", "PROD")),
        caller=render.caller_of(call),
    )
    return render.ok(Data=document)
