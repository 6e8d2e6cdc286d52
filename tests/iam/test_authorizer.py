"""The authorizer: root, RAM policies, workspace visibility and roles, and the audit trail."""

from __future__ import annotations

import json

import pytest

from opcenter.api.rpc import Call
from opcenter.api.signature import Authenticated, ResolvedKey
from opcenter.errors import NotFound, OpcenterError
from opcenter.iam.audit import AuditFilter
from opcenter.iam.authorizer import AccessRequest, Authorizer, PolicyDenied, RoleDenied
from opcenter.iam.scope import WorkspaceRef
from opcenter.iam.system_policies import FULL_ACCESS, READ_ONLY_ACCESS
from opcenter.service import iam
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.workspaces import create_project, get_project

from .conftest import ACCOUNT

REGION = "cn-shanghai"
ROOT = f"acs:ram::{ACCOUNT}:root"


def arn(workspace: str) -> str:
    return f"acs:dataworks:{REGION}:{ACCOUNT}:workspace/{workspace}"


def principal(name: str) -> str:
    return f"acs:ram::{ACCOUNT}:user/{name}"


def make_call(who: str, action: str, params: dict[str, str] | None = None) -> Call:
    key = ResolvedKey("LTAIkey", "secret", principal=who, account_id=ACCOUNT)
    return Call(
        action=action,
        version="2020-05-18",
        params=params or {},
        request_id="REQ-1",
        auth=Authenticated(key=key, algorithm="ACS3-HMAC-SHA256", nonce="n", timestamp=0.0),
        services=None,
        now=1_700_000_000.0,
        region=REGION,
    )


def authorize(ictx: ServiceContext, who: str, operation: str, resource: str, **params: str):
    authorizer = Authorizer(ictx.db, ictx.settings)
    authorizer(who, f"dataworks:{operation}", resource, make_call(who, operation, params))


def denial(ictx: ServiceContext, who: str, operation: str, resource: str, **params: str):
    with pytest.raises(OpcenterError) as caught:
        authorize(ictx, who, operation, resource, **params)
    return caught.value


@pytest.fixture
def sales(ictx: ServiceContext) -> int:
    return create_project(ictx, project_identifier="sales", project_name="Sales").project_id


def member(ictx: ServiceContext, name: str, project_id: int, *roles: str) -> None:
    user = iam.create_user(ictx, user_name=name)
    iam.attach_policy(ictx, policy_name=FULL_ACCESS, user_name=name)
    iam.create_project_member(ictx, project_id=project_id, user_id=user.uid)
    for role in roles:
        iam.add_project_member_to_role(
            ictx, project_id=project_id, user_id=user.uid, role_code=role
        )


def test_root_is_allowed_everything(ictx: ServiceContext, sales: int) -> None:
    authorize(ictx, ROOT, "DeleteProject", arn("sales"))
    authorize(ictx, ROOT, "RunManualDagNodes", arn("nowhere"), ProjectEnv="PROD")


def test_user_without_policy_is_denied_implicitly(ictx: ServiceContext, sales: int) -> None:
    iam.create_user(ictx, user_name="alice")
    error = denial(ictx, principal("alice"), "GetInstance", arn("sales"))
    assert isinstance(error, PolicyDenied)
    assert (error.code, error.http_status) == ("Forbidden.RAM", 403)
    assert error.message == (
        "User not authorized to operate on the specified resource, or this API doesn't support "
        'RAM. The RAM user "alice" may not perform dataworks:GetInstance on '
        f"{arn('sales')}: no attached policy allows it."
    )
    assert error.access_denied_detail == {
        "AuthAction": "dataworks:GetInstance",
        "AuthPrincipalDisplayName": "alice",
        "AuthPrincipalOwnerId": ACCOUNT,
        "AuthPrincipalType": "SubUser",
        "NoPermissionType": "ImplicitDeny",
        "PolicyType": "AccountLevelIdentityBasedPolicy",
        "EncodedDiagnosticMessage": "",
    }


def test_explicit_deny_does_beat_allow_given_full_access_and_a_deny_policy(
    ictx: ServiceContext, sales: int
) -> None:
    member(ictx, "alice", sales, "role_project_owner")
    deny = {"Effect": "Deny", "Action": "dataworks:Run*", "Resource": arn("sales")}
    iam.create_policy(
        ictx,
        policy_name="NoRuns",
        policy_document=json.dumps({"Version": "1", "Statement": [deny]}),
    )
    iam.attach_policy(ictx, policy_name="NoRuns", user_name="alice")
    error = denial(ictx, principal("alice"), "RunManualDagNodes", arn("sales"), ProjectEnv="PROD")
    assert isinstance(error, PolicyDenied)
    assert error.message.endswith(
        f"may not perform dataworks:RunManualDagNodes on {arn('sales')}: an attached policy "
        "explicitly denies it."
    )
    assert error.access_denied_detail["NoPermissionType"] == "ExplicitDeny"
    authorize(ictx, principal("alice"), "GetInstance", arn("sales"))


def test_invisible_workspace_does_answer_like_a_missing_one(
    ictx: ServiceContext, sales: int
) -> None:
    create_project(ictx, project_identifier="hr", project_name="HR")
    member(ictx, "alice", sales, "role_project_owner")
    invisible = denial(ictx, principal("alice"), "GetProject", arn("hr"), ProjectIdentifier="hr")
    with pytest.raises(NotFound) as missing:
        get_project(ictx, project_identifier="nope")
    absent = denial(ictx, principal("alice"), "GetProject", arn("nope"), ProjectIdentifier="nope")
    assert isinstance(invisible, NotFound) and isinstance(absent, NotFound)
    assert (invisible.code, invisible.http_status) == ("Invalid.Project.NotExists", 404)
    assert invisible.message == "The workspace ProjectIdentifier='hr' does not exist."
    assert (
        absent.message
        == missing.value.message
        == "The workspace ProjectIdentifier='nope' does not exist."
    )


def test_invisible_workspace_does_answer_like_a_missing_one_given_a_project_id(
    ictx: ServiceContext, sales: int
) -> None:
    hr = create_project(ictx, project_identifier="hr", project_name="HR").project_id
    member(ictx, "alice", sales, "role_project_owner")
    error = denial(ictx, principal("alice"), "ListProjectMembers", arn("hr"), ProjectId=str(hr))
    with pytest.raises(NotFound) as missing:
        get_project(ictx, project_id=hr + 100)
    assert error.message == f"The workspace ProjectId={hr} does not exist."
    assert missing.value.message == f"The workspace ProjectId={hr + 100} does not exist."


def test_developer_may_submit_but_not_deploy(ictx: ServiceContext, sales: int) -> None:
    member(ictx, "dev", sales, "role_project_dev")
    authorize(ictx, principal("dev"), "SubmitFile", arn("sales"))
    authorize(ictx, principal("dev"), "RunManualDagNodes", arn("sales"), ProjectEnv="DEV")
    error = denial(ictx, principal("dev"), "DeployFile", arn("sales"))
    assert isinstance(error, RoleDenied)
    assert (error.code, error.http_status) == ("Forbidden.Access", 403)
    assert error.message == (
        'Access is forbidden. The RAM user "dev" holds role_project_dev in workspace "sales", '
        f"which may not perform dataworks:DeployFile on {arn('sales')}; it takes one of: "
        "role_project_owner, role_project_admin, role_project_deploy."
    )
    prod = denial(ictx, principal("dev"), "RunManualDagNodes", arn("sales"), ProjectEnv="PROD")
    assert "may not perform dataworks:RunManualDagNodes in PROD on" in prod.message


def test_operator_may_run_in_prod_but_not_edit_files(ictx: ServiceContext, sales: int) -> None:
    member(ictx, "ops", sales, "role_project_pe")
    authorize(ictx, principal("ops"), "RunManualDagNodes", arn("sales"), ProjectEnv="PROD")
    authorize(ictx, principal("ops"), "StopInstance", arn("sales"), ProjectEnv="PROD")
    assert isinstance(denial(ictx, principal("ops"), "UpdateFile", arn("sales")), RoleDenied)


def test_visitor_may_only_read(ictx: ServiceContext, sales: int) -> None:
    member(ictx, "guest", sales, "role_project_guest")
    authorize(ictx, principal("guest"), "GetInstanceLog", arn("sales"), ProjectEnv="PROD")
    for operation in ("RunManualDagNodes", "CreateFile", "DeployFile", "CreateProjectMember"):
        error = denial(ictx, principal("guest"), operation, arn("sales"), ProjectEnv="PROD")
        assert isinstance(error, RoleDenied), operation


def test_member_without_role_may_not_even_read(ictx: ServiceContext, sales: int) -> None:
    member(ictx, "nobody", sales)
    error = denial(ictx, principal("nobody"), "GetProject", arn("sales"))
    assert isinstance(error, RoleDenied)
    assert 'holds no role in workspace "sales"' in error.message


def test_workspace_creator_is_its_owner_given_the_recorded_owner(ictx: ServiceContext) -> None:
    user = iam.create_user(ictx, user_name="maker")
    iam.attach_policy(ictx, policy_name=FULL_ACCESS, user_name="maker")
    create_project(
        ictx, project_identifier="mine", project_name="Mine", caller=Caller(name="maker")
    )
    authorize(ictx, principal("maker"), "DeleteProject", arn("mine"))
    authorize(ictx, principal("maker"), "CreateProjectMember", arn("mine"))
    assert user.uid.startswith("2")


def test_read_only_policy_does_allow_list_projects_given_no_workspace(
    ictx: ServiceContext,
) -> None:
    iam.create_user(ictx, user_name="reader")
    iam.attach_policy(ictx, policy_name=READ_ONLY_ACCESS, user_name="reader")
    authorize(ictx, principal("reader"), "ListProjects", "*")
    assert isinstance(denial(ictx, principal("reader"), "CreateProject", "*"), PolicyDenied)


def test_resource_wildcard_does_limit_a_user_to_matching_workspaces(
    ictx: ServiceContext, sales: int
) -> None:
    create_project(ictx, project_identifier="sandbox", project_name="Sandbox")
    user = iam.create_user(ictx, user_name="eve")
    statement = {"Effect": "Allow", "Action": "dataworks:*", "Resource": arn("s?les")}
    iam.create_policy(
        ictx,
        policy_name="SalesOnly",
        policy_document=json.dumps({"Version": "1", "Statement": statement}),
    )
    iam.attach_policy(ictx, policy_name="SalesOnly", user_name="eve")
    for project in ("sales", "sandbox"):
        ws = get_project(ictx, project_identifier=project)
        iam.create_project_member(
            ictx, project_id=ws.project_id, user_id=user.uid, role_code="role_project_admin"
        )
    authorize(ictx, principal("eve"), "CreateFile", arn("sales"))
    assert isinstance(denial(ictx, principal("eve"), "CreateFile", arn("sandbox")), PolicyDenied)


def test_ip_condition_does_decide_given_the_source_address(
    ictx: ServiceContext, sales: int
) -> None:
    member(ictx, "net", sales, "role_project_admin")
    deny = {
        "Effect": "Deny",
        "Action": "dataworks:*",
        "Resource": "*",
        "Condition": {"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}},
    }
    iam.create_policy(
        ictx,
        policy_name="OfficeOnly",
        policy_document=json.dumps({"Version": "1", "Statement": [deny]}),
    )
    iam.attach_policy(ictx, policy_name="OfficeOnly", user_name="net")
    authorizer = Authorizer(ictx.db, ictx.settings)

    def request(ip: str) -> AccessRequest:
        return AccessRequest(
            principal=principal("net"),
            action="dataworks:CreateFile",
            resource=arn("sales"),
            source_ip=ip,
            now=1_700_000_000.0,
            region=REGION,
            account_id=ACCOUNT,
        )

    authorizer.check(request("10.20.30.40"))
    with pytest.raises(PolicyDenied):
        authorizer.check(request("203.0.113.9"))


def test_deleted_user_is_denied_given_a_stale_principal(ictx: ServiceContext, sales: int) -> None:
    member(ictx, "gone", sales, "role_project_owner")
    iam.delete_user(ictx, user_name="gone")
    error = denial(ictx, principal("gone"), "GetProject", arn("sales"))
    assert isinstance(error, PolicyDenied)


def test_audit_does_record_writes_and_denials_but_not_allowed_reads(
    ictx: ServiceContext, sales: int
) -> None:
    member(ictx, "dev", sales, "role_project_dev")
    authorize(ictx, principal("dev"), "GetProject", arn("sales"))
    authorize(ictx, principal("dev"), "CreateFile", arn("sales"))
    denial(ictx, principal("dev"), "DeployFile", arn("sales"))
    events = iam.list_audit_events(ictx, AuditFilter())
    assert [(e.action, e.outcome, e.code) for e in events] == [
        ("dataworks:DeployFile", "Denied", "Forbidden.Access"),
        ("dataworks:CreateFile", "Allowed", ""),
    ]
    newest = events[0]
    assert newest.principal == principal("dev")
    assert newest.access_key_id == "LTAIkey"
    assert newest.request_id == "REQ-1"
    assert newest.resource == arn("sales")
    assert newest.at == 1_700_000_000_000


def test_invisible_workspace_does_answer_like_a_missing_object_given_only_an_instance_id(
    ictx: ServiceContext, sales: int
) -> None:
    create_project(ictx, project_identifier="hr", project_name="HR")
    member(ictx, "alice", sales, "role_project_owner")
    error = denial(
        ictx, principal("alice"), "GetInstance", arn("hr"), InstanceId="42", ProjectEnv="PROD"
    )
    assert (error.code, error.message) == (
        "Invalid.Instance.NotExists",
        "The instance InstanceId=42 does not exist in PROD.",
    )


# --- "would this be allowed?": what run parameters a caller may pass depends on it -----------


def test_allows_answers_the_same_decision_without_raising_or_auditing(
    ictx: ServiceContext, sales: int
) -> None:
    member(ictx, "pe", sales, "role_project_pe")
    member(ictx, "dev", sales, "role_project_dev")
    authorizer = Authorizer(ictx.db, ictx.settings)

    def allows(who: str) -> bool:
        call = make_call(principal(who), "RunManualDagNodes", {"ProjectName": "sales"})
        return authorizer.allows(principal(who), "dataworks:UpdateFile", arn("sales"), call)

    assert (allows("pe"), allows("dev"), allows("stranger")) == (False, True, False)
    assert authorizer.allows(ROOT, "dataworks:UpdateFile", arn("sales"), make_call(ROOT, "X"))
    assert iam.list_audit_events(ictx, AuditFilter(action="dataworks:UpdateFile")) == []


def test_call_may_asks_the_authorizer_and_reads_a_refusal_as_no(
    ictx: ServiceContext, sales: int
) -> None:
    member(ictx, "pe", sales, "role_project_pe")
    authorizer = Authorizer(ictx.db, ictx.settings)

    def refusing(who: str, action: str, resource: str, call: Call) -> None:
        authorizer(who, action, resource, call)  # a plain callable: no `allows`

    for stand_in in (authorizer, refusing):
        call = make_call(principal("pe"), "RunManualDagNodes")
        call._authorize = stand_in
        assert call.may("dataworks:UpdateFile", arn("sales")) is False
        assert call.may("dataworks:RunManualDagNodes", arn("sales")) is True
    assert make_call(ROOT, "X").may("dataworks:UpdateFile", arn("sales")) is False  # no authorizer


def test_a_workspace_resolved_by_the_rpc_layer_is_not_looked_up_again(
    ictx: ServiceContext, sales: int
) -> None:
    member(ictx, "pe", sales, "role_project_pe")
    call = make_call(principal("pe"), "GetInstance", {"InstanceId": "1", "ProjectEnv": "PROD"})
    # The ref says what the RPC layer found; the authorizer takes the roles in *that* id.
    call.workspace = WorkspaceRef(sales, "sales")
    Authorizer(ictx.db, ictx.settings)(principal("pe"), "dataworks:GetInstance", arn("sales"), call)
    call.workspace = WorkspaceRef(sales + 1000, "sales")
    with pytest.raises(NotFound) as caught:
        Authorizer(ictx.db, ictx.settings)(
            principal("pe"), "dataworks:GetInstance", arn("sales"), call
        )
    assert caught.value.message == "The instance InstanceId=1 does not exist in PROD."
