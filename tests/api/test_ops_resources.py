"""What each operation asks the authorizer about: `dataworks:<Operation>` on the workspace ARN
(`acs:dataworks:<region>:<account>:workspace/<identifier>`), however the call names the
workspace — by identifier, by ProjectId, or only through a node, Dag or instance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client

from opcenter.api.rpc import Call
from opcenter.errors import Forbidden
from opcenter.store.db import Database
from tests.api.conftest import ACCOUNT_ID
from tests.api.opsupport import (
    SHELL,
    FileSpec,
    Flow,
    Live,
    assert_sdk_error,
    create_flow,
    create_workspace,
    instances_of,
    live_opcenter,
    sdk_error,
    wait_statuses,
)

WS = "res_ws"
LOCKED = "res_locked"
ARN = f"acs:dataworks:cn-shanghai:{ACCOUNT_ID}:workspace/{WS}"
LOCKED_ARN = f"acs:dataworks:cn-shanghai:{ACCOUNT_ID}:workspace/{LOCKED}"
DENIED = "Access is forbidden: opcenter test policy."
_DAY = "2024-05-01 00:00:00"


class Recorder:
    """An authorizer that records every decision and denies the locked workspace."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def __call__(self, principal: str, action: str, resource: str, call: Call) -> None:
        self.asked.append((action, resource))
        if resource == LOCKED_ARN:
            raise Forbidden(DENIED)

    def last(self) -> tuple[str, str]:
        return self.asked[-1]


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, recorder: Recorder, module_db: Database
) -> Iterator[Live]:
    yield from live_opcenter(tmp_path_factory, module_db, authorize=recorder)


@pytest.fixture(scope="module")
def client(live: Live) -> Client:
    return live.client()


@pytest.fixture(scope="module")
def flow(client: Client) -> Flow:
    create_workspace(client, WS)
    create_workspace(client, LOCKED)
    return create_flow(client, WS, "res_flow", [FileSpec("only", SHELL, "echo ok")])


@pytest.fixture(scope="module")
def dag_id(client: Client, flow: Flow) -> int:
    request = dw.RunManualDagNodesRequest(
        project_env="PROD", project_id=flow.project_id, flow_name="res_flow", biz_date=_DAY
    )
    dag = client.run_manual_dag_nodes(request).body.dag_id
    wait_statuses(client, WS, dag, {"only": ("SUCCESS",)})
    return dag


def _calls(flow: Flow, dag_id: int, instance_id: int, op_seq: int) -> list[tuple[str, Any]]:
    node_id = flow.node_ids["only"]
    return [
        ("GetProject", dw.GetProjectRequest(project_id=flow.project_id)),
        ("ListBusiness", dw.ListBusinessRequest(project_identifier=WS)),
        ("GetFile", dw.GetFileRequest(project_id=flow.project_id, file_id=flow.file_ids["only"])),
        (
            "ListFileVersions",
            dw.ListFileVersionsRequest(project_id=flow.project_id, file_id=flow.file_ids["only"]),
        ),
        (
            "GetFileVersion",
            dw.GetFileVersionRequest(
                project_identifier=WS, file_id=flow.file_ids["only"], file_version=1
            ),
        ),
        ("ListDeployments", dw.ListDeploymentsRequest(project_id=flow.project_id)),
        (
            "ListFolders",
            dw.ListFoldersRequest(project_id=flow.project_id, parent_folder_path="Business Flow"),
        ),
        (
            "GetFolder",
            dw.GetFolderRequest(project_identifier=WS, folder_path="Business Flow/res_flow"),
        ),
        ("GetNode", dw.GetNodeRequest(node_id=node_id, project_env="PROD")),
        ("GetNodeCode", dw.GetNodeCodeRequest(node_id=node_id, project_env="PROD")),
        ("ListNodes", dw.ListNodesRequest(project_id=flow.project_id, project_env="PROD")),
        ("GetDag", dw.GetDagRequest(dag_id=dag_id, project_env="PROD")),
        ("ListDags", dw.ListDagsRequest(op_seq=op_seq, project_env="PROD")),
        (
            "GetManualDagInstances",
            dw.GetManualDagInstancesRequest(
                project_env="PROD", project_name=WS, dag_id=str(dag_id)
            ),
        ),
        ("GetInstance", dw.GetInstanceRequest(instance_id=instance_id, project_env="PROD")),
        ("GetInstanceLog", dw.GetInstanceLogRequest(instance_id=instance_id, project_env="PROD")),
        ("ListInstanceHistory", dw.ListInstanceHistoryRequest(instance_id=instance_id)),
        (
            "ListInstances",
            dw.ListInstancesRequest(project_id=flow.project_id, project_env="PROD"),
        ),
    ]


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def test_operations_are_authorized_on_their_workspace_however_it_is_named(
    client: Client, flow: Flow, dag_id: int, recorder: Recorder
) -> None:
    instance_id = instances_of(client, WS, dag_id)["only"].instance_id
    op_seq = client.get_dag(dw.GetDagRequest(dag_id=dag_id, project_env="PROD")).body.data.op_seq
    calls = _calls(flow, dag_id, instance_id, op_seq)
    asked = []
    for operation, request in calls:
        getattr(client, _snake(operation))(request)
        asked.append(recorder.last())
    assert asked == [(f"dataworks:{operation}", ARN) for operation, _ in calls]


def test_run_manual_dag_nodes_is_authorized_on_the_workspace_it_names(
    client: Client, dag_id: int, recorder: Recorder
) -> None:
    assert ("dataworks:RunManualDagNodes", ARN) in recorder.asked


def test_only_operations_without_a_workspace_are_authorized_on_any_resource(
    client: Client, flow: Flow, recorder: Recorder
) -> None:
    client.list_projects(dw.ListProjectsRequest())
    assert recorder.last() == ("dataworks:ListProjects", "*")


@pytest.mark.parametrize(
    ("call", "code", "message"),
    [
        (
            lambda c: c.get_instance(dw.GetInstanceRequest(instance_id=5555, project_env="PROD")),
            "Invalid.Instance.NotExists",
            "The instance InstanceId=5555 does not exist in PROD.",
        ),
        (
            lambda c: c.stop_instance(dw.StopInstanceRequest(instance_id=5555, project_env="DEV")),
            "Invalid.Instance.NotExists",
            "The instance InstanceId=5555 does not exist in DEV.",
        ),
        (
            lambda c: c.get_dag(dw.GetDagRequest(dag_id=5555, project_env="PROD")),
            "Invalid.Dag.NotExists",
            "The Dag DagId=5555 does not exist in PROD.",
        ),
        (
            lambda c: c.get_node(dw.GetNodeRequest(node_id=5555, project_env="PROD")),
            "Invalid.Node.NotExists",
            "The node NodeId=5555 does not exist.",
        ),
        (
            lambda c: c.get_project(dw.GetProjectRequest(project_id=5555)),
            "Invalid.Project.NotExists",
            "The workspace ProjectId=5555 does not exist.",
        ),
    ],
    ids=["instance", "instance-op", "dag", "node", "project-id"],
)
def test_an_object_that_cannot_be_resolved_is_refused_before_authorization(
    client: Client, flow: Flow, recorder: Recorder, call: Any, code: str, message: str
) -> None:
    # Fails closed: the call is refused with the service's own NotFound, and is never
    # authorized on `*` (which would skip the workspace-role check).
    asked = len(recorder.asked)
    assert_sdk_error(sdk_error(lambda: call(client)), code=code, status=404, message=message)
    assert recorder.asked[asked:] == []


def test_a_bad_project_env_is_refused_before_authorization(
    client: Client, dag_id: int, recorder: Recorder
) -> None:
    asked = len(recorder.asked)
    request = dw.GetDagRequest(dag_id=dag_id, project_env="TEST")
    error = sdk_error(lambda: client.get_dag(request))
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message="ProjectEnv='TEST' is not one of DEV, PROD.",
    )
    assert recorder.asked[asked:] == []


def test_a_denied_workspace_answers_forbidden_before_the_operation_runs(
    client: Client, flow: Flow
) -> None:
    request = dw.CreateBusinessRequest(project_identifier=LOCKED, business_name="nope")
    error = sdk_error(lambda: client.create_business(request))
    assert_sdk_error(error, code="Forbidden.Access", status=403, message=DENIED)
    listed = client.list_projects(dw.ListProjectsRequest(page_size=100)).body.page_result
    locked_id = next(p.project_id for p in listed.project_list if p.project_identifier == LOCKED)
    run = dw.RunManualDagNodesRequest(
        project_env="PROD",
        project_id=locked_id,
        flow_name="x",
        biz_date=_DAY,
        dag_parameters=json.dumps({}),
    )
    error = sdk_error(lambda: client.run_manual_dag_nodes(run))
    assert_sdk_error(error, code="Forbidden.Access", status=403, message=DENIED)
