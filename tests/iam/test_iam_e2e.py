"""Identity and access end to end: the real operations behind `build_server` with the store's
AccessKeys (`StoreKeyResolver`) and the `Authorizer`, driven through the official SDK with RAM
users' own AccessKeys.

One server serves the whole module. Workspace `sales` (A) holds the workflow `daily`
(first ──► second, both Shell) and a `scratch` workflow for files; workspace `hr` (B) holds
`payroll`. No engine runs: the instances of a Dag stay NOT_RUN, so StopInstance
(NOT_RUN → FAILURE) and RestartInstance (FAILURE → NOT_RUN) always find a state they accept,
and what is tested is who may call them.
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
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException
from click.testing import CliRunner

from opcenter.api.server import ServerThread, build_server
from opcenter.cli import cli
from opcenter.errors import NotFound
from opcenter.iam.audit import AuditFilter
from opcenter.iam.authorizer import Authorizer
from opcenter.iam.resolver import StoreKeyResolver
from opcenter.iam.system_policies import FULL_ACCESS, READ_ONLY_ACCESS
from opcenter.service import iam
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from opcenter.store.db import Database
from tests.api.opsupport import (
    SHELL,
    FileSpec,
    Flow,
    assert_sdk_error,
    create_flow,
    create_workspace,
    sdk_error,
)
from tests.conftest import store_url, stored_bytes

from .conftest import ACCOUNT

A, B = "sales", "hr"
BIZ_DATE = "2024-01-02 00:00:00"
ROLE_CODES = {
    "owner": "role_project_owner",
    "admin": "role_project_admin",
    "developer": "role_project_dev",
    "deployer": "role_project_deploy",
    "operator": "role_project_pe",
    "visitor": "role_project_guest",
}
ROLES = list(ROLE_CODES)
# Who may do what in PROD (docs/iam.md, "Workspace roles"), spelled as the refusal lists them.
MAY = {
    "author": ("role_project_owner", "role_project_admin", "role_project_dev"),
    "deploy": ("role_project_owner", "role_project_admin", "role_project_deploy"),
    "run": ("role_project_owner", "role_project_admin", "role_project_pe"),
    "members": ("role_project_owner", "role_project_admin"),
}
RAM_DENIED = (
    "User not authorized to operate on the specified resource, or this API doesn't support RAM."
)


@dataclass
class RoleUser:
    """A RAM user holding one role in `sales`, with FullAccess and its own AccessKey."""

    role: str
    name: str
    uid: str
    access_key_id: str
    client: Client
    dag_id: int = 0  # a Dag of `daily` run for this user (by root)
    second_id: int = 0  # its instance of `second`
    deploy_file_id: int = 0  # a submitted file in `scratch`, waiting for a DeployFile
    spare_uid: str = ""  # a user this one may try to add as a member


@dataclass
class World:
    ctx: ServiceContext
    server: ServerThread
    root: Client
    region: str
    ids: dict[str, int]  # ProjectId by identifier
    daily: Flow
    payroll: Flow
    hr_dag_id: int
    hr_instance_id: int
    draft_file_id: int  # an unsubmitted file in `scratch`
    users: dict[str, RoleUser] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.ctx.settings.data_dir

    def arn(self, workspace: str) -> str:
        return f"acs:dataworks:{self.region}:{ACCOUNT}:workspace/{workspace}"

    def client(self, access_key_id: str, secret: str) -> Client:
        return Client(
            open_api_models.Config(
                access_key_id=access_key_id,
                access_key_secret=secret,
                endpoint=self.server.endpoint,
                protocol="http",
            )
        )


# --- the world --------------------------------------------------------------------------------


def _scratch_file(root: Client, name: str, *, submit: bool) -> int:
    file_id = root.create_file(
        dw.CreateFileRequest(
            project_identifier=A,
            file_folder_path="Business Flow/scratch/nodes",
            file_name=name,
            file_type=SHELL,
            content="echo scratch",
            input_list=f"{A}_root",
        )
    ).body.data
    if submit:
        root.submit_file(dw.SubmitFileRequest(project_identifier=A, file_id=file_id))
    return int(file_id)


def _run(client: Client, workspace: str, flow: str, env: str = "PROD") -> int:
    request = dw.RunManualDagNodesRequest(
        project_env=env, project_name=workspace, flow_name=flow, biz_date=BIZ_DATE
    )
    return int(client.run_manual_dag_nodes(request).body.dag_id)


def _instances(client: Client, workspace: str, dag_id: int) -> dict[str, int]:
    body = client.get_manual_dag_instances(
        dw.GetManualDagInstancesRequest(
            project_env="PROD", project_name=workspace, dag_id=str(dag_id)
        )
    ).body
    return {i.node_name: i.instance_id for i in body.instances}


def make_user(
    world: World,
    name: str,
    *,
    roles: dict[str, str] | None = None,
    policies: tuple[str, ...] = (FULL_ACCESS,),
) -> tuple[Client, str, str]:
    """A RAM user with `policies`, member of each workspace of `roles` with that role; returns
    its client, uid and AccessKey id."""
    ctx = world.ctx
    user = iam.create_user(ctx, user_name=name)
    for policy in policies:
        iam.attach_policy(ctx, policy_name=policy, user_name=name)
    for workspace, code in (roles or {}).items():
        iam.create_project_member(
            ctx, project_id=world.ids[workspace], user_id=user.uid, role_code=code
        )
    record, secret = iam.create_access_key(ctx, user_name=name)
    return world.client(record.access_key_id, secret), user.uid, record.access_key_id


def _role_users(world: World) -> None:
    ctx, root = world.ctx, world.root
    for role, code in ROLE_CODES.items():
        client, uid, key_id = make_user(world, f"u_{role}", roles={A: code})
        user = RoleUser(role, f"u_{role}", uid, key_id, client)
        user.dag_id = _run(root, A, "daily")
        user.second_id = _instances(root, A, user.dag_id)["second"]
        user.deploy_file_id = _scratch_file(root, f"deploy_{role}", submit=True)
        user.spare_uid = iam.create_user(ctx, user_name=f"spare_{role}").uid
        world.users[role] = user


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, module_db: Database) -> Iterator[World]:
    settings = load_settings(
        environ={},
        dotenv=None,
        data_dir=tmp_path_factory.mktemp("iam_e2e") / "data",
        timezone="UTC",
        account_id=ACCOUNT,
    )
    settings.data_dir.mkdir(parents=True)
    ctx = ServiceContext(db=module_db, settings=settings)  # SQLite, then PostgreSQL
    root_key_id, root_secret = iam.ensure_root(ctx)
    assert root_secret is not None
    app = build_server(
        ctx,
        key_resolver=StoreKeyResolver(ctx.db, ctx.settings),
        authorize=Authorizer(ctx.db, ctx.settings),
    )
    server = ServerThread(app).start()
    try:
        built = _build(ctx, server, root_key_id, root_secret)
        yield built
    finally:
        server.stop()
        ctx.db.dispose()


def _build(ctx: ServiceContext, server: ServerThread, key_id: str, secret: str) -> World:
    root = Client(
        open_api_models.Config(
            access_key_id=key_id,
            access_key_secret=secret,
            endpoint=server.endpoint,
            protocol="http",
        )
    )
    ids = {ws: create_workspace(root, ws) for ws in (A, B)}
    daily = create_flow(
        root,
        A,
        "daily",
        [FileSpec("first", SHELL, "exit 1"), FileSpec("second", SHELL, "echo 2", inputs=["first"])],
    )
    payroll = create_flow(root, B, "payroll", [FileSpec("pay", SHELL, "echo pay")])
    root.create_business(
        dw.CreateBusinessRequest(
            project_identifier=A, business_name="scratch", use_type="MANUAL_BIZ"
        )
    )
    hr_dag_id = _run(root, B, "payroll")
    world = World(
        ctx=ctx,
        server=server,
        root=root,
        region=ctx.settings.region,
        ids=ids,
        daily=daily,
        payroll=payroll,
        hr_dag_id=hr_dag_id,
        hr_instance_id=_instances(root, B, hr_dag_id)["pay"],
        draft_file_id=_scratch_file(root, "draft", submit=False),
    )
    _role_users(world)
    return world


# --- what a refusal says --------------------------------------------------------------------


def role_refusal(world: World, user: RoleUser, action: str, family: str, env: str = "") -> str:
    where = f" in {env}" if env else ""
    return (
        f'Access is forbidden. The RAM user "{user.name}" holds {ROLE_CODES[user.role]} in '
        f'workspace "{A}", which may not perform dataworks:{action}{where} on {world.arn(A)}; '
        f"it takes one of: {', '.join(MAY[family])}."
    )


def assert_role_refused(
    world: World, user: RoleUser, error: ClientException, action: str, family: str, env: str = ""
) -> None:
    message = role_refusal(world, user, action, family, env)
    assert_sdk_error(error, code="Forbidden.Access", status=403, message=message)


def ram_refusal(name: str, action: str, resource: str, *, explicit: bool) -> str:
    why = "an attached policy explicitly denies it" if explicit else "no attached policy allows it"
    return f'{RAM_DENIED} The RAM user "{name}" may not perform {action} on {resource}: {why}.'


def assert_ram_refused(
    error: ClientException, name: str, action: str, resource: str, *, explicit: bool
) -> None:
    message = ram_refusal(name, action, resource, explicit=explicit)
    assert_sdk_error(error, code="Forbidden.RAM", status=403, message=message)
    detail = error.data["AccessDeniedDetail"]
    assert (detail["AuthAction"], detail["AuthPrincipalDisplayName"]) == (action, name)
    assert detail["NoPermissionType"] == ("ExplicitDeny" if explicit else "ImplicitDeny")


def _allowed(family: str) -> list[str]:
    return [r for r in ROLES if ROLE_CODES[r] in MAY[family]]


def _refused(family: str) -> list[str]:
    return [r for r in ROLES if ROLE_CODES[r] not in MAY[family]]


# --- each role × each family ----------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_role_does_read_project_workflows_nodes_and_instances(
    world: World, role: str
) -> None:
    user = world.users[role]
    client = user.client
    project = client.get_project(dw.GetProjectRequest(project_id=world.ids[A])).body.data
    business = client.list_business(
        dw.ListBusinessRequest(project_identifier=A, page_size=100)
    ).body.data
    node = client.get_node(
        dw.GetNodeRequest(node_id=world.daily.node_ids["first"], project_env="PROD")
    ).body.data
    instances = _instances(client, A, user.dag_id)
    assert (project.project_id, project.project_identifier) == (world.ids[A], A)
    assert sorted(b.business_name for b in business.business) == ["daily", "scratch"]
    assert (node.node_id, node.node_name) == (world.daily.node_ids["first"], "first")
    assert instances["second"] == user.second_id


@pytest.mark.parametrize("role", _allowed("author"))
def test_author_roles_do_create_and_submit_files(world: World, role: str) -> None:
    client = world.users[role].client
    file_id = client.create_file(
        dw.CreateFileRequest(
            project_identifier=A,
            file_folder_path="Business Flow/scratch/nodes",
            file_name=f"by_{role}",
            file_type=SHELL,
            content="echo mine",
            input_list=f"{A}_root",
        )
    ).body.data
    submitted = client.submit_file(dw.SubmitFileRequest(project_identifier=A, file_id=file_id))
    assert isinstance(file_id, int)
    assert (submitted.status_code, submitted.body.success, type(submitted.body.data)) == (
        200,
        True,
        int,
    )


@pytest.mark.parametrize("role", _refused("author"))
def test_other_roles_are_refused_create_and_submit_file(world: World, role: str) -> None:
    user = world.users[role]
    create = sdk_error(
        lambda: user.client.create_file(
            dw.CreateFileRequest(
                project_identifier=A,
                file_folder_path="Business Flow/scratch/nodes",
                file_name=f"by_{role}",
                file_type=SHELL,
            )
        )
    )
    submit = sdk_error(
        lambda: user.client.submit_file(
            dw.SubmitFileRequest(project_identifier=A, file_id=world.draft_file_id)
        )
    )
    assert_role_refused(world, user, create, "CreateFile", "author")
    assert_role_refused(world, user, submit, "SubmitFile", "author")


@pytest.mark.parametrize("role", _allowed("deploy"))
def test_deploy_roles_do_deploy_a_submitted_file(world: World, role: str) -> None:
    user = world.users[role]
    deployed = user.client.deploy_file(
        dw.DeployFileRequest(project_identifier=A, file_id=user.deploy_file_id)
    )
    assert (deployed.status_code, deployed.body.success, type(deployed.body.data)) == (
        200,
        True,
        int,
    )


@pytest.mark.parametrize("role", _refused("deploy"))
def test_other_roles_are_refused_deploy_file(world: World, role: str) -> None:
    user = world.users[role]
    error = sdk_error(
        lambda: user.client.deploy_file(
            dw.DeployFileRequest(project_identifier=A, file_id=user.deploy_file_id)
        )
    )
    assert_role_refused(world, user, error, "DeployFile", "deploy")


@pytest.mark.parametrize("role", _allowed("run"))
def test_run_roles_do_run_the_manual_workflow_in_prod(world: World, role: str) -> None:
    dag_id = _run(world.users[role].client, A, "daily")
    assert sorted(_instances(world.root, A, dag_id)) == ["first", "second"]


@pytest.mark.parametrize("role", _refused("run"))
def test_other_roles_are_refused_run_manual_dag_nodes_in_prod(world: World, role: str) -> None:
    user = world.users[role]
    error = sdk_error(lambda: _run(user.client, A, "daily"))
    assert_role_refused(world, user, error, "RunManualDagNodes", "run", "PROD")


def test_developer_does_run_the_manual_workflow_in_dev(world: World) -> None:
    dag_id = _run(world.users["developer"].client, A, "daily", env="DEV")
    assert dag_id > 0


@pytest.mark.parametrize("role", _allowed("run"))
def test_operate_roles_do_stop_and_restart_an_instance(world: World, role: str) -> None:
    user = world.users[role]
    request = {"instance_id": user.second_id, "project_env": "PROD"}
    stopped = user.client.stop_instance(dw.StopInstanceRequest(**request)).body
    status_after_stop = _status(world, user.second_id)
    restarted = user.client.restart_instance(dw.RestartInstanceRequest(**request)).body
    assert (stopped.success, stopped.data, status_after_stop) == (True, True, "FAILURE")
    assert (restarted.success, restarted.data, _status(world, user.second_id)) == (
        True,
        True,
        "NOT_RUN",
    )


def _status(world: World, instance_id: int) -> str:
    request = dw.GetInstanceRequest(instance_id=instance_id, project_env="PROD")
    return str(world.root.get_instance(request).body.data.status)


@pytest.mark.parametrize("role", _refused("run"))
def test_other_roles_are_refused_stop_and_restart_instance(world: World, role: str) -> None:
    user = world.users[role]
    request = {"instance_id": user.second_id, "project_env": "PROD"}
    stop = sdk_error(lambda: user.client.stop_instance(dw.StopInstanceRequest(**request)))
    restart = sdk_error(lambda: user.client.restart_instance(dw.RestartInstanceRequest(**request)))
    assert_role_refused(world, user, stop, "StopInstance", "run", "PROD")
    assert_role_refused(world, user, restart, "RestartInstance", "run", "PROD")
    assert _status(world, user.second_id) == "NOT_RUN"


@pytest.mark.parametrize("role", _allowed("members"))
def test_member_roles_do_add_grant_list_revoke_and_remove_a_member(world: World, role: str) -> None:
    user = world.users[role]
    client, uid, project_id = user.client, user.spare_uid, world.ids[A]
    member = {"project_id": project_id, "user_id": uid}
    # Given a new visitor, made a developer too
    client.create_project_member(
        dw.CreateProjectMemberRequest(**member, role_code="role_project_guest")
    )
    client.add_project_member_to_role(
        dw.AddProjectMemberToRoleRequest(**member, role_code="role_project_dev")
    )
    # Then the listing shows both roles
    listed = _members(client, project_id)
    assert listed[uid]["ProjectMemberName"] == f"spare_{role}"
    assert [r["ProjectRoleCode"] for r in listed[uid]["ProjectRoleList"]] == [
        "role_project_dev",
        "role_project_guest",
    ]
    # When one role is taken and then the member removed
    client.remove_project_member_from_role(
        dw.RemoveProjectMemberFromRoleRequest(**member, role_code="role_project_guest")
    )
    roles_left = [
        r["ProjectRoleCode"] for r in _members(client, project_id)[uid]["ProjectRoleList"]
    ]
    deleted = client.delete_project_member(dw.DeleteProjectMemberRequest(**member))
    # Then it is gone
    assert roles_left == ["role_project_dev"]
    assert (deleted.status_code, deleted.body.to_map()) == (
        200,
        {"RequestId": deleted.body.request_id},
    )
    assert uid not in _members(client, project_id)


def _members(client: Client, project_id: int) -> dict[str, dict[str, Any]]:
    request = dw.ListProjectMembersRequest(project_id=project_id, page_size=100)
    data = client.list_project_members(request).body.data
    return {m.project_member_id: m.to_map() for m in data.project_member_list}


@pytest.mark.parametrize("role", _refused("members"))
def test_other_roles_are_refused_member_administration(world: World, role: str) -> None:
    user = world.users[role]
    member = {"project_id": world.ids[A], "user_id": user.spare_uid}
    add = sdk_error(
        lambda: user.client.create_project_member(dw.CreateProjectMemberRequest(**member))
    )
    grant = sdk_error(
        lambda: user.client.add_project_member_to_role(
            dw.AddProjectMemberToRoleRequest(**member, role_code="role_project_owner")
        )
    )
    remove = sdk_error(
        lambda: user.client.delete_project_member(
            dw.DeleteProjectMemberRequest(project_id=world.ids[A], user_id=world.users["owner"].uid)
        )
    )
    assert_role_refused(world, user, add, "CreateProjectMember", "members")
    assert_role_refused(world, user, grant, "AddProjectMemberToRole", "members")
    assert_role_refused(world, user, remove, "DeleteProjectMember", "members")


def test_list_project_members_pages_members_in_the_sdk_shape(world: World) -> None:
    # Given a workspace with the account itself and two RAM users as members
    project_id = create_workspace(world.root, "listing")
    for user_id, code in (
        (ACCOUNT, "role_project_owner"),
        (world.users["developer"].uid, "role_project_dev"),
        (world.users["visitor"].uid, "role_project_guest"),
    ):
        world.root.create_project_member(
            dw.CreateProjectMemberRequest(project_id=project_id, user_id=user_id, role_code=code)
        )
    # When a visitor lists the first two
    request = dw.ListProjectMembersRequest(project_id=project_id, page_number=1, page_size=2)
    data = world.users["visitor"].client.list_project_members(request).body.data
    # Then the page and the members read as the SDK models them
    assert (data.page_number, data.page_size, data.total_count) == (1, 2, 3)
    assert [m.to_map() for m in data.project_member_list] == [
        {
            "ProjectMemberId": ACCOUNT,
            "ProjectMemberName": "root",
            "Nick": "root",
            "ProjectMemberType": "USER_ALIYUN",
            "Status": "NORMAL",
            "ProjectRoleList": [
                {
                    "ProjectRoleCode": "role_project_owner",
                    "ProjectRoleId": 1,
                    "ProjectRoleName": "Workspace Owner",
                    "ProjectRoleType": "SYSTEM",
                }
            ],
        },
        {
            "ProjectMemberId": world.users["developer"].uid,
            "ProjectMemberName": "u_developer",
            "Nick": "u_developer",
            "ProjectMemberType": "USER_UBACCOUNT",
            "Status": "NORMAL",
            "ProjectRoleList": [
                {
                    "ProjectRoleCode": "role_project_dev",
                    "ProjectRoleId": 3,
                    "ProjectRoleName": "Developer",
                    "ProjectRoleType": "SYSTEM",
                }
            ],
        },
    ]


def test_list_project_roles_answers_the_six_system_roles(world: World) -> None:
    client = world.users["visitor"].client
    body = client.list_project_roles(dw.ListProjectRolesRequest(project_id=world.ids[A])).body
    assert [
        (r.project_role_code, r.project_role_id, r.project_role_type)
        for r in body.project_role_list
    ] == [
        ("role_project_owner", 1, "SYSTEM"),
        ("role_project_admin", 2, "SYSTEM"),
        ("role_project_dev", 3, "SYSTEM"),
        ("role_project_deploy", 4, "SYSTEM"),
        ("role_project_pe", 5, "SYSTEM"),
        ("role_project_guest", 6, "SYSTEM"),
    ]


def test_member_without_a_role_is_refused_even_reads(world: World) -> None:
    client, uid, _ = make_user(world, "roleless")
    iam.create_project_member(world.ctx, project_id=world.ids[A], user_id=uid)
    error = sdk_error(lambda: client.get_project(dw.GetProjectRequest(project_identifier=A)))
    assert_sdk_error(
        error,
        code="Forbidden.Access",
        status=403,
        message=(
            f'Access is forbidden. The RAM user "roleless" holds no role in workspace "{A}", which '
            f"may not perform dataworks:GetProject on {world.arn(A)}; it takes one of: "
            "role_project_owner, role_project_admin, role_project_dev, role_project_deploy, "
            "role_project_pe, role_project_guest."
        ),
    )


# --- policies: explicit deny, wildcards, conditions -------------------------------------------


def _policy(world: World, name: str, *statements: dict[str, Any]) -> str:
    document = json.dumps({"Version": "1", "Statement": list(statements)})
    iam.create_policy(world.ctx, policy_name=name, policy_document=document)
    return name


def test_user_without_a_policy_is_refused_even_operations_on_no_workspace(world: World) -> None:
    client, _, _ = make_user(world, "bare", roles={A: ROLE_CODES["owner"]}, policies=())
    error = sdk_error(lambda: client.list_projects(dw.ListProjectsRequest()))
    resource = f"acs:dataworks:{world.region}:{ACCOUNT}:*"
    assert_ram_refused(error, "bare", "dataworks:ListProjects", resource, explicit=False)
    assert error.data["AccessDeniedDetail"] == {
        "AuthAction": "dataworks:ListProjects",
        "AuthPrincipalDisplayName": "bare",
        "AuthPrincipalOwnerId": ACCOUNT,
        "AuthPrincipalType": "SubUser",
        "NoPermissionType": "ImplicitDeny",
        "PolicyType": "AccountLevelIdentityBasedPolicy",
        "EncodedDiagnosticMessage": "",
    }


def test_explicit_deny_beats_full_access(world: World) -> None:
    deny = _policy(
        world,
        "no-runs-in-sales",
        {"Effect": "Deny", "Action": "dataworks:RunManualDagNodes", "Resource": world.arn(A)},
    )
    client, _, _ = make_user(
        world, "denied", roles={A: ROLE_CODES["owner"]}, policies=(FULL_ACCESS, deny)
    )
    error = sdk_error(lambda: _run(client, A, "daily"))
    project = client.get_project(dw.GetProjectRequest(project_identifier=A)).body.data
    assert_ram_refused(error, "denied", "dataworks:RunManualDagNodes", world.arn(A), explicit=True)
    assert project.project_identifier == A


def test_wildcard_action_allows_only_matching_operations(world: World) -> None:
    getter = _policy(
        world, "get-only", {"Effect": "Allow", "Action": "dataworks:Get*", "Resource": "*"}
    )
    client, _, _ = make_user(world, "getter", roles={A: ROLE_CODES["owner"]}, policies=(getter,))
    project = client.get_project(dw.GetProjectRequest(project_identifier=A)).body.data
    listing = sdk_error(lambda: client.list_business(dw.ListBusinessRequest(project_identifier=A)))
    running = sdk_error(lambda: _run(client, A, "daily"))
    assert project.project_identifier == A
    assert_ram_refused(listing, "getter", "dataworks:ListBusiness", world.arn(A), explicit=False)
    assert_ram_refused(
        running, "getter", "dataworks:RunManualDagNodes", world.arn(A), explicit=False
    )


def test_read_only_system_policy_allows_reads_and_refuses_runs(world: World) -> None:
    client, _, _ = make_user(
        world, "reader", roles={A: ROLE_CODES["owner"]}, policies=(READ_ONLY_ACCESS,)
    )
    listed = client.list_business(dw.ListBusinessRequest(project_identifier=A)).body
    error = sdk_error(lambda: _run(client, A, "daily"))
    assert listed.success is True
    assert_ram_refused(error, "reader", "dataworks:RunManualDagNodes", world.arn(A), explicit=False)


def test_wildcard_resource_allows_only_matching_workspaces(world: World) -> None:
    scoped = _policy(
        world,
        "sales-like",
        {
            "Effect": "Allow",
            "Action": "dataworks:*",
            "Resource": "acs:dataworks:*:*:workspace/sal?s",
        },
    )
    both = {A: ROLE_CODES["owner"], B: ROLE_CODES["owner"]}
    client, _, _ = make_user(world, "scoped", roles=both, policies=(scoped,))
    sales = client.get_project(dw.GetProjectRequest(project_identifier=A)).body.data
    hr = sdk_error(lambda: client.get_project(dw.GetProjectRequest(project_identifier=B)))
    assert sales.project_identifier == A
    assert_ram_refused(hr, "scoped", "dataworks:GetProject", world.arn(B), explicit=False)


def _ip_user(world: World, name: str, *statements: dict[str, Any]) -> Client:
    policy = _policy(world, f"{name.replace('_', '-')}-policy", *statements)
    client, _, _ = make_user(world, name, roles={A: ROLE_CODES["owner"]}, policies=(policy,))
    return client


def _allow_all(condition: dict[str, Any]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "dataworks:*", "Resource": "*", "Condition": condition}


def test_ip_address_condition_allows_given_the_loopback_network(world: World) -> None:
    client = _ip_user(world, "ip_local", _allow_all({"IpAddress": {"acs:SourceIp": "127.0.0.0/8"}}))
    assert client.get_project(dw.GetProjectRequest(project_identifier=A)).status_code == 200


def test_ip_address_condition_refuses_given_another_network(world: World) -> None:
    client = _ip_user(world, "ip_office", _allow_all({"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}}))
    error = sdk_error(lambda: client.get_project(dw.GetProjectRequest(project_identifier=A)))
    assert_ram_refused(error, "ip_office", "dataworks:GetProject", world.arn(A), explicit=False)


def test_not_ip_address_condition_refuses_given_the_excluded_address(world: World) -> None:
    client = _ip_user(
        world, "ip_not_local", _allow_all({"NotIpAddress": {"acs:SourceIp": "127.0.0.1"}})
    )
    error = sdk_error(lambda: client.get_project(dw.GetProjectRequest(project_identifier=A)))
    assert_ram_refused(error, "ip_not_local", "dataworks:GetProject", world.arn(A), explicit=False)


def test_deny_guarded_by_not_ip_address_denies_given_a_caller_outside_the_network(
    world: World,
) -> None:
    client = _ip_user(
        world,
        "ip_fenced",
        {"Effect": "Allow", "Action": "dataworks:*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "dataworks:*",
            "Resource": "*",
            "Condition": {"NotIpAddress": {"acs:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
        },
    )
    error = sdk_error(lambda: client.get_project(dw.GetProjectRequest(project_identifier=A)))
    assert_ram_refused(error, "ip_fenced", "dataworks:GetProject", world.arn(A), explicit=True)


def test_user_agent_condition_sees_the_sdk_user_agent(world: World) -> None:
    client = _ip_user(
        world,
        "no_sdk",
        {"Effect": "Allow", "Action": "dataworks:*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "dataworks:Run*",
            "Resource": "*",
            "Condition": {"StringLike": {"acs:UserAgent": "AlibabaCloud (*"}},
        },
    )
    error = sdk_error(lambda: _run(client, A, "daily"))
    assert client.get_project(dw.GetProjectRequest(project_identifier=A)).status_code == 200
    assert_ram_refused(error, "no_sdk", "dataworks:RunManualDagNodes", world.arn(A), explicit=True)


def test_ram_user_does_own_the_workspace_it_creates(world: World) -> None:
    client, _, _ = make_user(world, "founder")
    project_id = create_workspace(client, "founded")
    business_id = client.create_business(
        dw.CreateBusinessRequest(project_identifier="founded", business_name="first")
    ).body.business_id
    project = client.get_project(dw.GetProjectRequest(project_id=project_id)).body.data
    assert (project.project_identifier, project.project_owner_base_id) == ("founded", "founder")
    assert isinstance(business_id, int)


# --- AccessKeys -------------------------------------------------------------------------------


def test_disabled_key_is_refused_until_enabled_and_deleted_key_is_unknown(world: World) -> None:
    client, _, key_id = make_user(world, "keyholder", roles={A: ROLE_CODES["visitor"]})
    request = dw.GetProjectRequest(project_identifier=A)
    assert client.get_project(request).status_code == 200
    iam.disable_access_key(world.ctx, access_key_id=key_id)
    disabled = sdk_error(lambda: client.get_project(request))
    iam.enable_access_key(world.ctx, access_key_id=key_id)
    enabled_again = client.get_project(request).status_code
    iam.delete_access_key(world.ctx, access_key_id=key_id)
    deleted = sdk_error(lambda: client.get_project(request))
    assert_sdk_error(
        disabled,
        code="InvalidAccessKeyId.Inactive",
        status=400,
        message="Specified access key is disabled.",
    )
    assert enabled_again == 200
    assert_sdk_error(
        deleted,
        code="InvalidAccessKeyId.NotFound",
        status=404,
        message="Specified access key is not found.",
    )


def test_key_of_a_deleted_user_is_unknown(world: World) -> None:
    client, _, _ = make_user(world, "leaver", roles={A: ROLE_CODES["operator"]})
    iam.delete_user(world.ctx, user_name="leaver")
    error = sdk_error(lambda: client.get_project(dw.GetProjectRequest(project_identifier=A)))
    assert (error.code, error.status_code) == ("InvalidAccessKeyId.NotFound", 404)


def test_wrong_secret_is_refused_as_a_bad_signature(world: World) -> None:
    key_id = world.users["owner"].access_key_id
    client = world.client(key_id, "not-the-secret")
    error = sdk_error(lambda: client.get_project(dw.GetProjectRequest(project_identifier=A)))
    assert (error.code, error.status_code) == ("SignatureDoesNotMatch", 400)


def test_database_holds_no_usable_secret(world: World) -> None:
    _, _, key_id = make_user(world, "sealed")
    secret = iam.create_access_key(world.ctx, user_name="sealed")[1]
    stored = stored_bytes(world.ctx.db)
    assert stored and key_id.encode() in stored
    assert secret.encode() not in stored


# --- workspace isolation ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def alice(world: World) -> Client:
    """Owner of `sales`, FullAccess, not a member of `hr`."""
    client, _, _ = make_user(world, "alice", roles={A: ROLE_CODES["owner"]})
    return client


def _not_found(action: Any) -> tuple[str, int, str]:
    error = sdk_error(action)
    return error.code, error.status_code, error.data["Message"]


def test_workspace_b_answers_like_a_missing_workspace_by_identifier(
    world: World, alice: Client
) -> None:
    def get(name: str) -> Any:
        return lambda: alice.get_project(dw.GetProjectRequest(project_identifier=name))

    def listing(name: str) -> Any:
        return lambda: alice.list_business(dw.ListBusinessRequest(project_identifier=name))

    def run(name: str) -> Any:
        return lambda: _run(alice, name, "payroll")

    for action, parameter in (
        (get, "ProjectIdentifier"),
        (listing, "ProjectIdentifier"),
        (run, "ProjectName"),
    ):
        for name in (B, "nope"):
            message = f"The workspace {parameter}={name!r} does not exist."
            assert _not_found(action(name)) == ("Invalid.Project.NotExists", 404, message)


MISSING_ID = 9_000_000


@pytest.mark.parametrize("whose", ["hr", "missing"])
def test_workspace_b_answers_like_a_missing_workspace_by_id(
    world: World, alice: Client, whose: str
) -> None:
    project_id = world.ids[B] if whose == "hr" else MISSING_ID
    answer = (
        "Invalid.Project.NotExists",
        404,
        f"The workspace ProjectId={project_id} does not exist.",
    )
    get = dw.GetProjectRequest(project_id=project_id)
    members = dw.ListProjectMembersRequest(project_id=project_id)
    assert _not_found(lambda: alice.get_project(get)) == answer
    assert _not_found(lambda: alice.list_project_members(members)) == answer


@pytest.mark.parametrize("whose", ["hr", "missing"])
def test_node_of_workspace_b_answers_like_a_missing_node(
    world: World, alice: Client, whose: str
) -> None:
    node_id = world.payroll.node_ids["pay"] if whose == "hr" else MISSING_ID
    request = dw.GetNodeRequest(node_id=node_id, project_env="PROD")
    assert _not_found(lambda: alice.get_node(request)) == (
        "Invalid.Node.NotExists",
        404,
        f"The node NodeId={node_id} does not exist.",
    )


@pytest.mark.parametrize("env", ["TEST", None])
def test_node_of_workspace_b_answers_like_a_missing_node_given_a_bad_env(
    world: World, alice: Client, env: str | None
) -> None:
    hr_node = world.payroll.node_ids["pay"]
    invisible = _not_found(
        lambda: alice.get_node(dw.GetNodeRequest(node_id=hr_node, project_env=env))
    )
    missing = _not_found(
        lambda: alice.get_node(dw.GetNodeRequest(node_id=MISSING_ID, project_env=env))
    )
    assert invisible == (missing[0], missing[1], missing[2].replace(str(MISSING_ID), str(hr_node)))


def test_workspace_of_a_node_is_found_in_any_environment(world: World) -> None:
    assert iam.workspace_of(world.ctx, "NodeId", world.payroll.node_ids["pay"]).identifier == B
    assert iam.workspace_of(world.ctx, "NodeId", world.daily.node_ids["first"]).identifier == A
    with pytest.raises(NotFound):
        iam.workspace_of(world.ctx, "NodeId", MISSING_ID)


@pytest.mark.parametrize("whose", ["hr", "missing"])
def test_instance_of_workspace_b_answers_like_a_missing_instance(
    world: World, alice: Client, whose: str
) -> None:
    instance_id = world.hr_instance_id if whose == "hr" else MISSING_ID
    answer = (
        "Invalid.Instance.NotExists",
        404,
        f"The instance InstanceId={instance_id} does not exist in PROD.",
    )
    stop = dw.StopInstanceRequest(instance_id=instance_id, project_env="PROD")
    restart = dw.RestartInstanceRequest(instance_id=instance_id, project_env="PROD")
    get = dw.GetInstanceRequest(instance_id=instance_id, project_env="PROD")
    assert _not_found(lambda: alice.stop_instance(stop)) == answer
    assert _not_found(lambda: alice.restart_instance(restart)) == answer
    assert _not_found(lambda: alice.get_instance(get)) == answer


def test_dag_of_workspace_b_is_not_found_through_workspace_a(world: World, alice: Client) -> None:
    through_a = _not_found(lambda: _instances(alice, A, world.hr_dag_id))
    missing = _not_found(lambda: _instances(alice, A, MISSING_ID))
    assert through_a[:2] == missing[:2] == ("Invalid.Dag.NotExists", 404)
    assert through_a[2] == missing[2].replace(str(MISSING_ID), str(world.hr_dag_id))


def test_list_projects_shows_a_ram_user_only_its_workspaces(world: World, alice: Client) -> None:
    listed = alice.list_projects(dw.ListProjectsRequest(page_size=100)).body.page_result
    assert [p.project_identifier for p in listed.project_list] == [A]
    assert listed.total_count == 1


# --- the audit trail --------------------------------------------------------------------------


def _audit(world: World, *args: str) -> list[dict[str, str]]:
    result = CliRunner().invoke(
        cli,
        ["audit", *args, "--json", "--data-dir", str(world.data_dir)],
        env={"OPCENTER_DATABASE_URL": store_url(world.ctx.db)},  # the world's store, any backend
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_audit_records_allowed_and_denied_writes_with_who_where_and_request_id(
    world: World,
) -> None:
    operator, visitor = world.users["operator"], world.users["visitor"]
    request = dw.RunManualDagNodesRequest(
        project_env="PROD", project_name=A, flow_name="daily", biz_date=BIZ_DATE
    )
    allowed = operator.client.run_manual_dag_nodes(request).body.request_id
    denied = sdk_error(lambda: visitor.client.run_manual_dag_nodes(request)).request_id
    common = {
        "SourceIp": "127.0.0.1",
        "Action": "dataworks:RunManualDagNodes",
        "Resource": world.arn(A),
    }
    rows = [_audit(world, "--request-id", allowed), _audit(world, "--request-id", denied)]
    for row in (rows[0][0], rows[1][0]):
        del row["Time"]
    assert rows == [
        [
            {
                **common,
                "Outcome": "Allowed",
                "Principal": f"acs:ram::{ACCOUNT}:user/u_operator",
                "AccessKeyId": operator.access_key_id,
                "Code": "",
                "RequestId": allowed,
            }
        ],
        [
            {
                **common,
                "Outcome": "Denied",
                "Principal": f"acs:ram::{ACCOUNT}:user/u_visitor",
                "AccessKeyId": visitor.access_key_id,
                "Code": "Forbidden.Access",
                "RequestId": denied,
            }
        ],
    ]


def test_audit_records_no_allowed_read_but_every_denied_one(world: World, alice: Client) -> None:
    read = alice.get_project(dw.GetProjectRequest(project_identifier=A)).body.request_id
    hidden = sdk_error(lambda: alice.get_project(dw.GetProjectRequest(project_identifier=B)))
    events = iam.list_audit_events(world.ctx, AuditFilter(request_id=hidden.request_id))
    assert iam.list_audit_events(world.ctx, AuditFilter(request_id=read)) == []
    assert [(e.outcome, e.code, e.action, e.resource) for e in events] == [
        ("Denied", "Invalid.Project.NotExists", "dataworks:GetProject", world.arn(B))
    ]


def test_root_is_allowed_everywhere_and_its_writes_are_audited(world: World) -> None:
    dag_id = _run(world.root, B, "payroll")
    events = iam.list_audit_events(
        world.ctx,
        AuditFilter(principal=f"acs:ram::{ACCOUNT}:root", action="dataworks:RunManualDagNodes"),
    )
    assert dag_id > 0
    assert events[0].outcome == "Allowed" and events[0].resource == world.arn(B)
