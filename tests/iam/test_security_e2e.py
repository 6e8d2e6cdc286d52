"""Run parameters, fail-closed authorization and replay, end to end: a real server with the
store's AccessKeys and the `Authorizer`, driven by the official SDK with RAM users' own keys, on
SQLite and PostgreSQL.

Workspace `sec` (standard mode) holds the manual workflow `params`: one Shell node `job`
(`echo ${p}`), deployed to PROD and submitted to DEV. No engine runs: what is tested is what a
call is allowed to create.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ServerException

from opcenter.api.rpc import Call
from opcenter.api.server import ServerThread, build_server
from opcenter.api.signature import InMemoryNonceStore
from opcenter.iam.audit import AuditFilter
from opcenter.iam.authorizer import Authorizer
from opcenter.iam.resolver import StoreKeyResolver
from opcenter.iam.system_policies import FULL_ACCESS
from opcenter.service import iam
from opcenter.service.context import ServiceContext
from tests.api.conftest import make_key_resolver
from tests.api.opsupport import (
    SHELL,
    FileSpec,
    assert_sdk_error,
    create_flow,
    create_workspace,
    sdk_error,
)
from tests.api.sdk import tea_client
from tests.conftest import PG_URL

WS, FLOW = "sec", "params"
BIZ_DATE = "2024-01-02 00:00:00"
INJECTION = 'x";echo${IFS}INJECTED;id;echo"'
SAFE = {
    "plain": "abc-1.2:3/4@5+6,7_8",
    "braces": "${yyyymmdd-1}",
    "brackets": "$[yyyymmdd-1]",
    "builtin": "$bizdate",
    "dashed": "${yyyy-mm-dd}",
}
NO_EDIT_POLICY = json.dumps(
    {
        "Version": "1",
        "Statement": [{"Effect": "Deny", "Action": "dataworks:UpdateFile", "Resource": "*"}],
    }
)


def refusal(where: str, value: str) -> str:
    """The InvalidParameter message for a value outside the safe set (docs/parameters.md)."""
    return (
        f"{where}: the value {value!r} is not allowed. Without the right to edit the workflow's "
        "files (dataworks:UpdateFile in the workspace), a run parameter may hold only letters, "
        "digits and _ - . : / @ + ,, or scheduling-parameter expressions ($bizdate, "
        "${yyyymmdd-1}, $[yyyymmdd-1], ...) whose results do."
    )


@dataclass
class Site:
    ctx: ServiceContext
    server: ServerThread
    root: Client
    node_id: int
    users: dict[str, Client] = field(default_factory=dict)

    def user(self, name: str, role: str, *policies: str) -> Client:
        """A RAM user holding `role` in the workspace, with FullAccess and `policies`."""
        ctx = self.ctx
        user = iam.create_user(ctx, user_name=name)
        for policy in (FULL_ACCESS, *policies):
            iam.attach_policy(ctx, policy_name=policy, user_name=name)
        project_id = int(
            self.root.get_project(dw.GetProjectRequest(project_identifier=WS)).body.data.project_id
        )
        iam.create_project_member(ctx, project_id=project_id, user_id=user.uid, role_code=role)
        record, secret = iam.create_access_key(ctx, user_name=name)
        return _client(self.server, record.access_key_id, secret)


def _client(server: ServerThread, access_key_id: str, secret: str) -> Client:
    config = open_api_models.Config(
        access_key_id=access_key_id,
        access_key_secret=secret,
        endpoint=server.endpoint,
        protocol="http",
    )
    return Client(config)


def _serve(ctx: ServiceContext) -> ServerThread:
    app = build_server(
        ctx,
        key_resolver=StoreKeyResolver(ctx.db, ctx.settings),
        authorize=Authorizer(ctx.db, ctx.settings),
    )
    return ServerThread(app).start()


@pytest.fixture
def site(ctx: ServiceContext) -> Iterator[Site]:
    key_id, secret = iam.ensure_root(ctx)
    assert secret is not None
    server = _serve(ctx)
    try:
        built = Site(ctx, server, _client(server, key_id, secret), 0)
        create_workspace(built.root, WS)
        flow = create_flow(built.root, WS, FLOW, [FileSpec("job", SHELL, "echo ${p}")])
        built.node_id = flow.node_ids["job"]
        iam.create_policy(ctx, policy_name="NoEdit", policy_document=NO_EDIT_POLICY)
        built.users = {
            "operator": built.user("u_pe", "role_project_pe"),
            "developer": built.user("u_dev", "role_project_dev"),
            "admin_no_edit": built.user("u_admin", "role_project_admin", "NoEdit"),
            "admin": built.user("u_admin2", "role_project_admin"),
        }
        yield built
    finally:
        server.stop()


def _run(
    client: Client,
    *,
    env: str = "PROD",
    dag: dict[str, str] | None = None,
    nodes: dict[str, str] | None = None,
) -> int:
    request = dw.RunManualDagNodesRequest(
        project_env=env,
        project_name=WS,
        flow_name=FLOW,
        biz_date=BIZ_DATE,
        dag_parameters=json.dumps(dag or {}),
        node_parameters=json.dumps(nodes or {}),
    )
    return int(client.run_manual_dag_nodes(request).body.dag_id)


# --- item 6: run parameters cannot change code for someone who cannot edit it ---------------


def test_operator_is_refused_the_injection_of_the_issue_and_nothing_is_created(
    site: Site,
) -> None:
    before = site.root.list_instances(
        dw.ListInstancesRequest(project_env="PROD", project_id=_project_id(site))
    ).body.data.total_count
    error = sdk_error(lambda: _run(site.users["operator"], dag={"p": INJECTION}))
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message=refusal('DagParameters parameter "p"', INJECTION),
    )
    after = site.root.list_instances(
        dw.ListInstancesRequest(project_env="PROD", project_id=_project_id(site))
    ).body.data.total_count
    assert after == before


def test_operator_is_refused_unsafe_node_parameters_and_references(site: Site) -> None:
    operator, node = site.users["operator"], str(site.node_id)
    named = sdk_error(lambda: _run(operator, nodes={node: "p=a;b"}))
    positional = sdk_error(lambda: _run(operator, nodes={node: "ok $(id)"}))
    reference = sdk_error(lambda: _run(operator, dag={"p": "${HOME}"}))
    where = f'NodeParameters["{node}"]'
    assert_sdk_error(
        named, code="InvalidParameter", status=400, message=refusal(f'{where} parameter "p"', "a;b")
    )
    assert_sdk_error(
        positional,
        code="InvalidParameter",
        status=400,
        message=refusal(f"{where} positional parameter 2", "$(id)"),
    )
    assert_sdk_error(
        reference,
        code="InvalidParameter",
        status=400,
        message=refusal('DagParameters parameter "p"', "${HOME}"),
    )


def test_operator_may_pass_safe_values_and_scheduling_expressions(site: Site) -> None:
    operator = site.users["operator"]
    dag_id = _run(operator, dag=SAFE, nodes={str(site.node_id): "q=v-1 $bizdate ${yyyymmdd}"})
    values = _only_instance(site, dag_id).param_values.split()
    assert values == [
        "20240102",
        "20240102",
        "q=v-1",
        "plain=abc-1.2:3/4@5+6,7_8",
        "braces=20240101",
        "brackets=20240102",
        "builtin=20240102",
        "dashed=2024-01-02",
    ]


def test_callers_who_may_edit_the_files_may_pass_any_value(site: Site) -> None:
    admin_prod = _run(site.users["admin"], dag={"p": INJECTION})
    developer_dev = _run(site.users["developer"], env="DEV", dag={"p": INJECTION})
    root = _run(site.root, dag={"p": INJECTION})
    for dag_id, env in ((admin_prod, "PROD"), (developer_dev, "DEV"), (root, "PROD")):
        assert f"p={INJECTION}" in _only_instance(site, dag_id, env).param_values


def test_a_ram_policy_denying_update_file_restricts_even_an_admin(site: Site) -> None:
    error = sdk_error(lambda: _run(site.users["admin_no_edit"], dag={"p": INJECTION}))
    assert_sdk_error(
        error,
        code="InvalidParameter",
        status=400,
        message=refusal('DagParameters parameter "p"', INJECTION),
    )
    assert _run(site.users["admin_no_edit"], dag={"p": "safe"}) > 0


def test_asking_whether_the_caller_may_edit_audits_nothing(site: Site) -> None:
    _run(site.users["operator"], dag={"p": "safe"})
    events = iam.list_audit_events(site.ctx, AuditFilter(action="dataworks:UpdateFile"))
    assert events == []


def _project_id(site: Site) -> int:
    body = site.root.get_project(dw.GetProjectRequest(project_identifier=WS)).body
    return int(body.data.project_id)


def _only_instance(site: Site, dag_id: int, env: str = "PROD") -> dw.GetInstanceResponseBodyData:
    listed = site.root.list_instances(
        dw.ListInstancesRequest(project_env=env, project_id=_project_id(site), dag_id=dag_id)
    ).body.data.instances
    assert len(listed) == 1
    request = dw.GetInstanceRequest(instance_id=listed[0].instance_id, project_env=env)
    return site.root.get_instance(request).body.data


# --- item 8: authorization fails closed -------------------------------------------------------


def test_a_member_calling_an_instance_that_does_not_exist_gets_not_found_not_star(
    site: Site,
) -> None:
    operator = site.users["operator"]
    for env in ("PROD", "DEV"):
        request = dw.StopInstanceRequest(instance_id=987654, project_env=env)
        error = sdk_error(lambda r=request: operator.stop_instance(r))
        assert_sdk_error(
            error,
            code="Invalid.Instance.NotExists",
            status=404,
            message=f"The instance InstanceId=987654 does not exist in {env}.",
        )
    # Never decided (and so never allowed) on `*`.
    events = iam.list_audit_events(site.ctx, AuditFilter(action="dataworks:StopInstance"))
    assert [e for e in events if e.resource == "*"] == []


class Recorder:
    """A stand-in authorizer that records what it is asked and allows it."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def __call__(self, principal: str, action: str, resource: str, call: Call) -> None:
        self.asked.append((action, resource))


def _break_store(ctx: ServiceContext) -> None:
    """Make the store unavailable for real: the SQLite file becomes a directory, or the
    PostgreSQL schema is renamed away (and back by `_mend_store`)."""
    ctx.db.engine.dispose()
    if ctx.db.is_sqlite:
        path = Path(str(ctx.db.engine.url.database))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.mkdir()
        return
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"ALTER SCHEMA {ctx.db.schema} RENAME TO {ctx.db.schema}_gone")
    admin.dispose()


def _mend_store(ctx: ServiceContext) -> None:
    ctx.db.engine.dispose()
    if ctx.db.is_sqlite:
        shutil.rmtree(str(ctx.db.engine.url.database), ignore_errors=True)
        return
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"ALTER SCHEMA {ctx.db.schema}_gone RENAME TO {ctx.db.schema}")
    admin.dispose()


def test_a_store_failure_while_resolving_the_resource_refuses_the_call(
    ctx: ServiceContext,
) -> None:
    # Keys and nonces in memory, so that resolving the resource is the first store access.
    recorder = Recorder()
    app = build_server(
        ctx, key_resolver=make_key_resolver(), authorize=recorder, nonces=InMemoryNonceStore()
    )
    with ServerThread(app) as server:
        client = tea_client(server)  # type: ignore[arg-type]
        _break_store(ctx)
        try:
            request = dw.StopInstanceRequest(instance_id=1, project_env="PROD")
            with pytest.raises(ServerException) as caught:
                client.stop_instance(request)
        finally:
            _mend_store(ctx)
    error = caught.value
    assert (error.code, error.status_code) == ("InternalError.System", 500)
    message = error.data["Message"]
    assert message.startswith(("The store is unavailable: ", "The store failed: "))
    assert "Traceback" not in message and "\n" not in message
    assert recorder.asked == []
