"""The authorizer and the store-backed key resolver behind a real server, through the official
SDK. The operations are stand-ins registered by this module (the real ones come with the API
layer): each answers `Success: true` once it is allowed, so what is tested is the refusal path.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from Tea.exceptions import TeaException

from opcenter.api._resources import project_resource
from opcenter.api.rpc import Call, Registry
from opcenter.iam.authorizer import Authorizer
from opcenter.iam.resolver import StoreKeyResolver
from opcenter.iam.system_policies import FULL_ACCESS
from opcenter.service import iam
from opcenter.service.context import ServiceContext
from opcenter.service.workspaces import create_project, get_project
from tests.api.conftest import RunningServer, ServerFactory, rpc_server  # noqa: F401
from tests.api.sdk import tea_client

from .conftest import ACCOUNT


def _ok(call: Call) -> dict[str, object]:
    return {"Success": True, "HttpStatusCode": 200}


def _registry() -> Registry:
    registry = Registry()
    for name in ("GetProject", "RunManualDagNodes", "DeployFile", "SubmitFile"):
        registry.operation(name, resource=project_resource)(_ok)
    registry.operation("ListProjects")(_ok)
    return registry


@pytest.fixture
def server(ictx: ServiceContext, rpc_server: ServerFactory) -> Iterator[RunningServer]:  # noqa: F811
    create_project(ictx, project_identifier="sales", project_name="Sales")
    create_project(ictx, project_identifier="hr", project_name="HR")
    yield rpc_server(
        _registry(),
        services=ictx,
        key_resolver=StoreKeyResolver(ictx.db, ictx.settings),
        authorize=Authorizer(ictx.db, ictx.settings),
        region=ictx.settings.region,
    )


def user_with_key(ictx: ServiceContext, name: str, *roles: str) -> tuple[str, str]:
    user = iam.create_user(ictx, user_name=name)
    iam.attach_policy(ictx, policy_name=FULL_ACCESS, user_name=name)
    sales = create_project_id(ictx, "sales")
    iam.create_project_member(ictx, project_id=sales, user_id=user.uid)
    for role in roles:
        iam.add_project_member_to_role(ictx, project_id=sales, user_id=user.uid, role_code=role)
    record, secret = iam.create_access_key(ictx, user_name=name)
    return record.access_key_id, secret


def create_project_id(ictx: ServiceContext, identifier: str) -> int:
    return get_project(ictx, project_identifier=identifier).project_id


def refused(call) -> TeaException:  # type: ignore[no-untyped-def]
    with pytest.raises(TeaException) as caught:
        call()
    return caught.value


def run_request(project: str, env: str = "PROD") -> dw.RunManualDagNodesRequest:
    return dw.RunManualDagNodesRequest(project_name=project, project_env=env, flow_name="f")


def test_root_key_does_work_given_the_bootstrapped_pair(
    ictx: ServiceContext, server: RunningServer
) -> None:
    key_id, secret = iam.ensure_root(ictx)
    assert secret is not None
    client = tea_client(server, access_key_id=key_id, access_key_secret=secret)
    assert client.run_manual_dag_nodes(run_request("hr")).status_code == 200


def test_operator_does_run_in_prod_and_is_refused_deploy_through_the_sdk(
    ictx: ServiceContext, server: RunningServer
) -> None:
    key_id, secret = user_with_key(ictx, "ops", "role_project_pe")
    client = tea_client(server, access_key_id=key_id, access_key_secret=secret)
    assert client.run_manual_dag_nodes(run_request("sales")).status_code == 200
    error = refused(lambda: client.deploy_file(dw.DeployFileRequest(project_identifier="sales")))
    assert (error.code, error.data["statusCode"]) == ("Forbidden.Access", 403)
    assert 'The RAM user "ops" holds role_project_pe in workspace "sales"' in error.message


def test_user_without_policy_is_refused_with_access_denied_detail(
    ictx: ServiceContext, server: RunningServer
) -> None:
    iam.create_user(ictx, user_name="bare")
    record, secret = iam.create_access_key(ictx, user_name="bare")
    client = tea_client(server, access_key_id=record.access_key_id, access_key_secret=secret)
    error = refused(lambda: client.list_projects(dw.ListProjectsRequest()))
    assert (error.code, error.data["statusCode"]) == ("Forbidden.RAM", 403)
    assert error.data["AccessDeniedDetail"]["NoPermissionType"] == "ImplicitDeny"
    assert error.data["AccessDeniedDetail"]["AuthAction"] == "dataworks:ListProjects"
    assert f"acs:dataworks:{ictx.settings.region}:{ACCOUNT}:*" in error.message


def test_workspace_b_is_invisible_to_a_user_of_workspace_a(
    ictx: ServiceContext, server: RunningServer
) -> None:
    key_id, secret = user_with_key(ictx, "alice", "role_project_owner")
    client = tea_client(server, access_key_id=key_id, access_key_secret=secret)
    other = refused(lambda: client.run_manual_dag_nodes(run_request("hr")))
    missing = refused(lambda: client.run_manual_dag_nodes(run_request("nope")))
    assert (other.code, other.data["statusCode"]) == ("Invalid.Project.NotExists", 404)
    assert other.data["Message"] == "The workspace ProjectName='hr' does not exist."
    assert missing.data["Message"] == "The workspace ProjectName='nope' does not exist."


def test_disabled_and_deleted_keys_are_refused_through_the_sdk(
    ictx: ServiceContext, server: RunningServer
) -> None:
    key_id, secret = user_with_key(ictx, "bob", "role_project_guest")
    client = tea_client(server, access_key_id=key_id, access_key_secret=secret)
    request = dw.GetProjectRequest(project_identifier="sales")
    assert client.get_project(request).status_code == 200
    iam.disable_access_key(ictx, access_key_id=key_id)
    disabled = refused(lambda: client.get_project(request))
    assert (disabled.code, disabled.data["Message"]) == (
        "InvalidAccessKeyId.Inactive",
        "Specified access key is disabled.",
    )
    iam.delete_access_key(ictx, access_key_id=key_id)
    deleted = refused(lambda: client.get_project(request))
    assert (deleted.code, deleted.data["statusCode"]) == ("InvalidAccessKeyId.NotFound", 404)
