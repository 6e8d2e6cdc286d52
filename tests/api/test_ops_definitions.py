"""ApplyWorkflowDefinition and GetWorkflowDefinition (opcenter's own operations) through a real
server with the store's AccessKeys and the real authorizer, driven by the official SDK's generic
`call_api`; and `opcenter apply FILE --endpoint` against the same server.

One server serves the module (SQLite, then PostgreSQL). Workspace `mig` exists; RAM users:
`reader` (read-only policy, visitor), `visitor` (full access, visitor), `dev` (full access,
developer).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client
from click.testing import CliRunner

from opcenter.api.server import ServerThread
from opcenter.cli import cli
from opcenter.iam.system_policies import FULL_ACCESS, READ_ONLY_ACCESS
from opcenter.service import iam
from opcenter.service.context import ServiceContext
from opcenter.store.db import Database
from tests.api.opsupport import (
    assert_sdk_error,
    create_workspace,
    sdk_error,
    signed_client,
    signed_server,
)
from tests.api.sdk import call_api

WS = "mig"
ACCOUNT = "1000000000000000"

DOCUMENT = """\
version: 1.1.0
kind: ManualWorkflow
spec:
  name: {name}
  variables:
    - {{id: region, name: region, scope: Workflow, type: Constant, value: cn-shanghai}}
  nodes:
    - id: extract
      name: {name}_extract
      script:
        content: echo extract
        runtime: {{command: DIDE_SHELL}}
    - id: load
      name: {name}_load
      rerunTimes: 2
      rerunInterval: 60000
      script:
        content: echo load ${{region}}
        runtime: {{command: DIDE_SHELL}}
  flow:
    - nodeId: "{{{{load}}}}"
      depends: [{{nodeId: "{{{{extract}}}}", type: Normal}}]
"""


def document(name: str) -> str:
    return DOCUMENT.format(name=name)


@dataclass
class World:
    ctx: ServiceContext
    server: ServerThread
    root: Client
    root_key: tuple[str, str]
    users: dict[str, Client] = field(default_factory=dict)

    def client(self, key_id: str, secret: str) -> Client:
        return signed_client(self.server.endpoint, key_id, secret)


def _user(world: World, name: str, policy: str, role: str) -> None:
    ctx = world.ctx
    user = iam.create_user(ctx, user_name=name)
    iam.attach_policy(ctx, policy_name=policy, user_name=name)
    project_id = int(
        world.root.get_project(dw.GetProjectRequest(project_identifier=WS)).body.data.project_id
    )
    iam.create_project_member(ctx, project_id=project_id, user_id=user.uid, role_code=role)
    record, secret = iam.create_access_key(ctx, user_name=name)
    world.users[name] = world.client(record.access_key_id, secret)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, module_db: Database) -> Iterator[World]:
    with signed_server(tmp_path_factory, module_db, "definitions_api", ACCOUNT) as opened:
        ctx, server, root, (key_id, secret) = opened
        built = World(ctx=ctx, server=server, root=root, root_key=(key_id, secret))
        create_workspace(root, WS)
        _user(built, "reader", READ_ONLY_ACCESS, "role_project_guest")
        _user(built, "visitor", FULL_ACCESS, "role_project_guest")
        _user(built, "dev", FULL_ACCESS, "role_project_dev")
        yield built


def apply(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = call_api(client, "ApplyWorkflowDefinition", body=body)
    return answer["body"]


def workflows(world: World) -> list[str]:
    data = world.root.list_business(
        dw.ListBusinessRequest(project_identifier=WS, page_size=100)
    ).body.data
    return sorted(b.business_name for b in data.business)


# --- applying -----------------------------------------------------------------------------------


def test_a_document_applied_through_the_api_creates_submits_and_deploys_the_workflow(
    world: World,
) -> None:
    # When root applies a YAML document with Deploy=true
    body = apply(
        world.root, {"ProjectIdentifier": WS, "Definition": document("daily"), "Deploy": "true"}
    )
    # Then the report says the workflow and both files were created, submitted and deployed
    report = body["Data"]
    assert (body["Success"], report["workspace"], report["workflow"]) == (True, WS, "daily")
    assert (report["workflow_action"], report["changed"]) == ("created", True)
    assert [(f["node"], f["action"], f["submitted"], f["deployed"]) for f in report["files"]] == [
        ("daily_extract", "created", True, True),
        ("daily_load", "created", True, True),
    ]
    # And the workspace holds them: load runs after extract in PROD, with its rerun settings
    load = next(f for f in report["files"] if f["node"] == "daily_load")
    node = world.root.get_node(
        dw.GetNodeRequest(node_id=load["node_id"], project_env="PROD")
    ).body.data
    assert (node.node_name, node.business_id) == ("daily_load", report["business_id"])
    file = world.root.get_file(
        dw.GetFileRequest(project_identifier=WS, file_id=load["file_id"])
    ).body.data.node_configuration
    assert (file.auto_rerun_times, file.auto_rerun_interval_millis) == (2, 60000)
    assert file.input_list[0].input == f"{WS}.daily_extract"


def test_applying_the_same_document_again_changes_nothing(world: World) -> None:
    # Given a workflow applied through the API
    first = apply(world.root, {"ProjectIdentifier": WS, "Definition": document("twice")})["Data"]
    # When the same document is applied again, as JSON this time, by ProjectId
    project_id = world.root.get_project(
        dw.GetProjectRequest(project_identifier=WS)
    ).body.data.project_id
    as_json = json.dumps(_yaml(document("twice")))
    again = apply(world.root, {"ProjectId": str(project_id), "Definition": as_json})["Data"]
    # Then nothing changed
    assert first["changed"] is True
    assert (again["changed"], again["workflow_action"]) == (False, "unchanged")
    assert [f["action"] for f in again["files"]] == ["unchanged", "unchanged"]


def _yaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def test_get_workflow_definition_answers_the_document_and_a_reader_may_call_it(
    world: World,
) -> None:
    # Given an applied workflow
    apply(world.root, {"ProjectIdentifier": WS, "Definition": document("exported")})
    # When a read-only caller asks for its definition
    answer = call_api(
        world.users["reader"],
        "GetWorkflowDefinition",
        body={"ProjectIdentifier": WS, "BusinessName": "exported"},
    )["body"]
    # Then it is the Spec document, and applying it back changes nothing
    spec = answer["Data"]
    assert (spec["kind"], spec["spec"]["name"]) == ("ManualWorkflow", "exported")
    assert [n["name"] for n in spec["spec"]["nodes"]] == ["exported_extract", "exported_load"]
    again = apply(world.root, {"ProjectIdentifier": WS, "Definition": json.dumps(spec)})
    assert again["Data"]["changed"] is False


def test_create_workspace_creates_a_missing_workspace_first(world: World) -> None:
    # When a document is applied to a workspace that does not exist, with CreateWorkspace=true
    body = {
        "ProjectIdentifier": "fresh",
        "Definition": document("first"),
        "CreateWorkspace": "true",
    }
    report = apply(world.root, body)["Data"]
    # Then the workspace exists and holds the workflow
    assert (report["workspace"], report["workflow_action"]) == ("fresh", "created")
    project = world.root.get_project(dw.GetProjectRequest(project_identifier="fresh")).body.data
    assert project.project_identifier == "fresh"
    # And without it a missing workspace is refused as every operation refuses one
    error = sdk_error(
        lambda: apply(world.root, {"ProjectIdentifier": "nowhere", "Definition": document("x")})
    )
    assert_sdk_error(
        error,
        code="Invalid.Project.NotExists",
        status=404,
        message="The workspace ProjectIdentifier='nowhere' does not exist.",
    )


# --- who may apply ------------------------------------------------------------------------------

RAM_DENIED = (
    "User not authorized to operate on the specified resource, or this API doesn't support RAM."
)


def _arn(world: World) -> str:
    return f"acs:dataworks:{world.ctx.settings.region}:{ACCOUNT}:workspace/{WS}"


def test_a_read_only_caller_is_refused_and_nothing_is_written(world: World) -> None:
    # When a caller with the read-only policy applies a document
    error = sdk_error(
        lambda: apply(
            world.users["reader"], {"ProjectIdentifier": WS, "Definition": document("ro")}
        )
    )
    # Then RAM refuses it, and no workflow was created
    assert_sdk_error(
        error,
        code="Forbidden.RAM",
        status=403,
        message=f'{RAM_DENIED} The RAM user "reader" may not perform '
        f"dataworks:ApplyWorkflowDefinition on {_arn(world)}: no attached policy allows it.",
    )
    assert "ro" not in workflows(world)


def test_a_visitor_with_full_access_is_refused_by_its_role(world: World) -> None:
    error = sdk_error(
        lambda: apply(
            world.users["visitor"], {"ProjectIdentifier": WS, "Definition": document("vi")}
        )
    )
    assert_sdk_error(
        error,
        code="Forbidden.Access",
        status=403,
        message='Access is forbidden. The RAM user "visitor" holds role_project_guest in '
        f'workspace "{WS}", which may not perform dataworks:ApplyWorkflowDefinition on '
        f"{_arn(world)}; it takes one of: role_project_owner, role_project_admin, "
        "role_project_dev.",
    )
    assert "vi" not in workflows(world)


def test_a_developer_applies_but_may_not_deploy(world: World) -> None:
    dev = world.users["dev"]
    # When a developer applies with Deploy=true
    body = {"ProjectIdentifier": WS, "Definition": document("devflow"), "Deploy": "true"}
    error = sdk_error(lambda: apply(dev, body))
    # Then DeployFile's rule refuses it before anything is written
    assert_sdk_error(
        error,
        code="Forbidden.Access",
        status=403,
        message='Access is forbidden. The RAM user "dev" holds role_project_dev in '
        f'workspace "{WS}", which may not perform dataworks:DeployFile on {_arn(world)}; it '
        "takes one of: role_project_owner, role_project_admin, role_project_deploy.",
    )
    assert "devflow" not in workflows(world)
    # And without Deploy the same document is applied (created and submitted)
    report = apply(dev, {"ProjectIdentifier": WS, "Definition": document("devflow")})["Data"]
    assert [(f["submitted"], f["deployed"]) for f in report["files"]] == [(True, False)] * 2


# --- bad documents ------------------------------------------------------------------------------

BAD = {
    "not YAML": ("kind: [ManualWorkflow", "not valid YAML"),
    "not JSON": ('{"kind": "ManualWorkflow",', "not valid JSON"),
    "a list": ("- kind: ManualWorkflow", "holds no definition"),
    "no kind": ("spec: {name: x}", "holds no definition"),
    "text": ("just words", "holds no definition"),
    "a scheduled workflow": ("kind: CycleWorkflow\nspec: {name: c, nodes: []}", "kind"),
    "nodes not a list": ("kind: ManualWorkflow\nspec: {name: n, nodes: 5}", "nodes"),
    "unknown command, Strict": (
        "kind: ManualWorkflow\nspec:\n  name: u\n  nodes:\n"
        "    - {id: a, script: {content: x, runtime: {command: NOPE}}}",
        "NOPE",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_document_is_invalid_parameter_and_writes_nothing(world: World, case: str) -> None:
    text, says = BAD[case]
    before = workflows(world)
    body = {"ProjectIdentifier": WS, "Definition": text}
    if "Strict" in case:
        body["Strict"] = "true"
    error = sdk_error(lambda: apply(world.root, body))
    assert (error.code, error.status_code) == ("InvalidParameter", 400), error.data
    assert says in error.data["Message"]
    assert workflows(world) == before


CYCLE = """
kind: CycleWorkflow
version: 1.1.0
spec:
  name: nightly
  trigger: {type: Scheduler, cron: "00 00 00 * * ?"}
  nodes:
    - {id: q, name: q, script: {content: "select 1;", runtime: {command: ODPS_SQL}}}
    - {id: di, name: di, script: {content: "{}", runtime: {command: DI}}}
"""


def test_the_import_options_reach_the_server_given_a_scheduled_workflow(world: World) -> None:
    # Without AsManual a scheduled workflow is refused, naming the option
    error = sdk_error(lambda: apply(world.root, {"ProjectIdentifier": WS, "Definition": CYCLE}))
    assert error.code == "InvalidParameter" and "as-manual" in error.data["Message"].lower()
    # With it, and a mapping, it is imported: q mapped onto sql, di turned virtual, cron dropped
    body = {"ProjectIdentifier": WS, "Definition": CYCLE, "AsManual": "true", "Map": "X=shell"}
    report = apply(world.root, body)["Data"]
    actions = {(n["node"], n["action"]) for n in report["notes"]}
    assert ("di", "virtual") in actions
    assert any(a == "dropped" for _, a in actions)
    # Strict refuses the node type it cannot map
    strict = {**body, "Strict": "true"}
    assert sdk_error(lambda: apply(world.root, strict)).code == "InvalidParameter"


def test_a_missing_definition_is_missing_parameter(world: World) -> None:
    error = sdk_error(lambda: apply(world.root, {"ProjectIdentifier": WS}))
    assert_sdk_error(
        error,
        code="MissingParameter",
        status=400,
        message='The input parameter "Definition" that is mandatory for processing this '
        "request is not supplied.",
    )


# --- the CLI against the server -----------------------------------------------------------------


def test_cli_apply_with_endpoint_sends_the_file_to_the_server(world: World, tmp_path: Path) -> None:
    # Given a definition file on the client's side only
    path = tmp_path / "remote.yaml"
    path.write_text(document("remote"), encoding="utf-8")
    key_id, secret = world.root_key
    env = {"OPCENTER_ACCESS_KEY_ID": key_id, "OPCENTER_ACCESS_KEY_SECRET": secret}
    args = ["apply", str(path), "--workspace", WS, "--endpoint", world.server.endpoint]
    # When `opcenter apply --endpoint` runs, with --json
    result = CliRunner().invoke(cli, [*args, "--json"], env=env)
    # Then the server applied it and the report is printed as the local apply prints it
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["workflow"], report["workflow_action"]) == ("remote", "created")
    assert "remote" in workflows(world)
    # And the table form of a second run says nothing changed
    again = CliRunner().invoke(cli, args, env=env)
    assert again.exit_code == 0, again.output
    assert "Workflow remote" in again.stdout and "Nothing to change." in again.stdout
    # And a refusal is one line naming the server's error
    reader = CliRunner().invoke(cli, [*args, "--access-key-id", "LTAInope"], env=env)
    assert reader.exit_code == 1
    assert reader.output.startswith("Error: ") and "InvalidAccessKeyId.NotFound" in reader.output


def test_a_large_document_travels_in_the_form_body(world: World) -> None:
    # Given a document far longer than any URL may be (a 200 KB script)
    script = "echo " + "x" * 200_000
    text = document("large").replace("echo extract", script)
    # When it is applied
    report = apply(world.root, {"ProjectIdentifier": WS, "Definition": text})["Data"]
    # Then the file holds the whole script
    extract = next(f for f in report["files"] if f["node"] == "large_extract")
    file = world.root.get_file(
        dw.GetFileRequest(project_identifier=WS, file_id=extract["file_id"])
    ).body.data.file
    assert file.content == script
