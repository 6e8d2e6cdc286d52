"""Which workspace role may call which operation (pure)."""

from __future__ import annotations

import pytest

from opcenter.iam.roles import (
    ADMIN,
    DEPLOYER,
    DEVELOPER,
    OPERATOR,
    OWNER,
    ROLES,
    VISITOR,
    Family,
    family_of,
    role_by_code,
    roles_may,
)

READS = [
    "GetInstance",
    "ListInstances",
    "GetInstanceLog",
    "ListProjectMembers",
    "GetFile",
    "GetInstanceStatusStatistic",
    "ListNodeIO",
    "ListNodeInputOrOutput",
    "GetProjectDetail",
]
AUTHORING = ["CreateFile", "UpdateFile", "DeleteFile", "SubmitFile", "CreateBusiness"]
OPERATIONS = [
    "RunManualDagNodes",
    "CreateManualDag",
    "RestartInstance",
    "StopInstance",
    "UpdateNodeOwner",
]
MEMBERS = ["CreateProjectMember", "DeleteProjectMember", "AddProjectMemberToRole"]


def test_role_codes_are_the_dataworks_codes() -> None:
    assert [r.code for r in ROLES] == [
        "role_project_owner",
        "role_project_admin",
        "role_project_dev",
        "role_project_deploy",
        "role_project_pe",
        "role_project_guest",
    ]
    assert role_by_code("role_project_pe") is OPERATOR
    assert role_by_code("role_project_security") is None


@pytest.mark.parametrize(
    ("operation", "family"),
    [
        ("dataworks:GetDag", Family.READ),
        ("ListProjectRoles", Family.READ),
        ("SubmitFile", Family.AUTHOR),
        ("DeployFile", Family.DEPLOY),
        ("OfflineNode", Family.DEPLOY),
        ("UpdateNodeOwner", Family.OPERATE),
        ("RunManualDagNodes", Family.OPERATE),
        ("SetSuccessInstance", Family.OPERATE),
        ("RemoveProjectMemberFromRole", Family.MEMBERS),
        ("DeleteProject", Family.WORKSPACE),
        ("SomethingNew", Family.WORKSPACE),
    ],
)
def test_family_of_does_classify_given_an_operation(operation: str, family: Family) -> None:
    assert family_of(operation) is family


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.code)
@pytest.mark.parametrize("operation", READS)
def test_every_role_may_read(role, operation: str) -> None:
    assert roles_may([role.code], operation, "PROD")


@pytest.mark.parametrize(
    ("role", "may"),
    [
        (OWNER, True),
        (ADMIN, True),
        (DEVELOPER, True),
        (DEPLOYER, False),
        (OPERATOR, False),
        (VISITOR, False),
    ],
    ids=lambda v: getattr(v, "code", str(v)),
)
@pytest.mark.parametrize("operation", AUTHORING)
def test_authoring_is_for_owner_admin_and_developer(role, may: bool, operation: str) -> None:
    assert roles_may([role.code], operation, None) is may


@pytest.mark.parametrize(
    ("role", "may"),
    [
        (OWNER, True),
        (ADMIN, True),
        (DEVELOPER, False),
        (DEPLOYER, True),
        (OPERATOR, False),
        (VISITOR, False),
    ],
    ids=lambda v: getattr(v, "code", str(v)),
)
@pytest.mark.parametrize("operation", ["DeployFile", "OfflineNode"])
def test_deploy_is_for_owner_admin_and_deployer(role, may: bool, operation: str) -> None:
    assert roles_may([role.code], operation, None) is may


@pytest.mark.parametrize(
    ("role", "prod", "dev"),
    [
        (OWNER, True, True),
        (ADMIN, True, True),
        (DEVELOPER, False, True),
        (DEPLOYER, False, False),
        (OPERATOR, True, True),
        (VISITOR, False, False),
    ],
    ids=lambda v: getattr(v, "code", str(v)),
)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_operating_is_per_environment(role, prod: bool, dev: bool, operation: str) -> None:
    assert roles_may([role.code], operation, "PROD") is prod
    assert roles_may([role.code], operation, "DEV") is dev
    # No environment named: judged as PROD.
    assert roles_may([role.code], operation, None) is prod


@pytest.mark.parametrize("operation", [*MEMBERS, "DeleteProject", "UnknownWrite"])
def test_member_and_workspace_administration_is_for_owner_and_admin(operation: str) -> None:
    assert [r.code for r in ROLES if roles_may([r.code], operation)] == [OWNER.code, ADMIN.code]


def test_roles_may_does_combine_roles_given_two_roles() -> None:
    assert roles_may([DEVELOPER.code, DEPLOYER.code], "DeployFile")
    assert roles_may([DEVELOPER.code, DEPLOYER.code], "SubmitFile")
    assert not roles_may([], "GetInstance")
