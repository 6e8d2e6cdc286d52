"""`build_server` and `ServerThread`: the app over a ServiceContext, served from a thread."""

from __future__ import annotations

import socket

import pytest
from alibabacloud_dataworks_public20200518 import models as dw

import opcenter.api.server as server_module
from opcenter.api import _render, _resources
from opcenter.api.rpc import allow_all, load_operations
from opcenter.api.server import ServerThread, build_server
from opcenter.service.context import ServiceContext
from tests.api.conftest import make_key_resolver
from tests.api.sdk import tea_client

OPERATIONS = {
    "CreateProject", "GetProject", "ListProjects",
    "CreateBusiness", "GetBusiness", "ListBusiness", "UpdateBusiness", "DeleteBusiness",
    "CreateFile", "GetFile", "ListFiles", "UpdateFile", "DeleteFile",
    "SubmitFile", "DeployFile", "GetDeployment", "ListDeployments",
    "ListFileVersions", "GetFileVersion",
    "CreateFolder", "GetFolder", "ListFolders", "UpdateFolder", "DeleteFolder",
    "GetNode", "ListNodes", "GetNodeCode", "GetNodeParents", "GetNodeChildren",
    "RunManualDagNodes", "CreateManualDag", "GetDag", "ListDags",
    "GetManualDagInstances", "ListManualDagInstances", "GetInstance", "ListInstances",
    "GetInstanceLog", "ListInstanceHistory", "GetInstanceStatusCount", "RestartInstance",
    "SetSuccessInstance",
    "StopInstance", "SuspendInstance", "ResumeInstance",
}  # fmt: skip


def test_server_thread_serves_the_operations_on_a_free_port_until_stopped(
    sqlite_ctx: ServiceContext,
) -> None:
    app = build_server(sqlite_ctx, key_resolver=make_key_resolver(), authorize=allow_all)
    with ServerThread(app) as running:
        assert running.port > 0 and running.endpoint == f"127.0.0.1:{running.port}"
        body = tea_client(running).list_projects(dw.ListProjectsRequest()).body  # type: ignore[arg-type]
        assert body.page_result.total_count == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", running.port), timeout=2).close()


def test_server_thread_fails_given_a_port_in_use(sqlite_ctx: ServiceContext) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        thread = ServerThread(
            build_server(sqlite_ctx, key_resolver=make_key_resolver(), authorize=allow_all)
        )
        thread.port = taken.getsockname()[1]
        with pytest.raises(OSError):
            thread.start()
    finally:
        taken.close()


def test_build_server_names_resources_in_the_configured_region(sqlite_ctx: ServiceContext) -> None:
    app = build_server(sqlite_ctx, key_resolver=make_key_resolver(), authorize=allow_all)
    assert (app.state.dispatcher.region, app.state.dispatcher.services) == (
        sqlite_ctx.settings.region,
        sqlite_ctx,
    )


def test_every_dataworks_operation_of_the_issue_is_registered() -> None:
    registered = {op.name for op in load_operations()}
    assert registered >= OPERATIONS


def test_api_modules_export_what_they_mean() -> None:
    assert server_module.__all__ == ["STARTUP_TIMEOUT_SECONDS", "ServerThread", "build_server"]
    assert "caller_of" in _render.__all__ and "ok" in _render.__all__
    assert _resources.__all__ == [
        "dag_resource",
        "instance_resource",
        "node_resource",
        "op_seq_resource",
        "project_resource",
    ]
