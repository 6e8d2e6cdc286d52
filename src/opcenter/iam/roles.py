"""Workspace roles, the DataWorks way, and which role may call which operation. Pure.

A workspace member holds one or more roles. An operation belongs to a family; each family
names, per environment where it matters, the roles that may call it:

- read (Get*, List*, Describe*, GetInstanceLog, ListProjectRoles, ...): every role;
- author (Create/Update/DeleteFile, Create/Update/DeleteBusiness, SubmitFile,
  ApplyWorkflowDefinition):
  owner, admin, developer;
- deploy (DeployFile, OfflineNode): owner, admin, deployer;
- operate (RunManualDagNodes, CreateManualDag, Restart/SetSuccess/Stop/Suspend/ResumeInstance,
  UpdateNodeOwner, Create/Update/DeleteRemind): in PROD owner, admin, operator; in DEV also
  developer;
- members (CreateProjectMember, AddProjectMemberToRole, ...): owner, admin;
- workspace (UpdateProject, DeleteProject, and any write not listed): owner, admin.

An operation with no `ProjectEnv` is judged as PROD (the stricter column).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from opcenter.iam.system_policies import is_read_action

__all__ = [
    "ADMIN",
    "DEPLOYER",
    "DEVELOPER",
    "OPERATOR",
    "OWNER",
    "ROLES",
    "VISITOR",
    "Family",
    "Role",
    "allowed_roles",
    "family_of",
    "role_by_code",
    "roles_may",
]


@dataclass(frozen=True)
class Role:
    """A DataWorks system role: `code` as the API names it (`role_project_dev`)."""

    code: str
    id: int
    name: str
    type: str = "SYSTEM"


OWNER = Role("role_project_owner", 1, "Workspace Owner")
ADMIN = Role("role_project_admin", 2, "Workspace Administrator")
DEVELOPER = Role("role_project_dev", 3, "Developer")
DEPLOYER = Role("role_project_deploy", 4, "Deployer")
OPERATOR = Role("role_project_pe", 5, "O&M")
VISITOR = Role("role_project_guest", 6, "Visitor")
ROLES: tuple[Role, ...] = (OWNER, ADMIN, DEVELOPER, DEPLOYER, OPERATOR, VISITOR)
_BY_CODE = {r.code: r for r in ROLES}


def role_by_code(code: str) -> Role | None:
    return _BY_CODE.get(code)


class Family(str, Enum):
    READ = "read"
    AUTHOR = "author"
    DEPLOY = "deploy"
    OPERATE = "operate"
    MEMBERS = "members"
    WORKSPACE = "workspace"


_FAMILIES: dict[str, Family] = {
    **dict.fromkeys(
        (
            "CreateBusiness",
            "UpdateBusiness",
            "DeleteBusiness",
            "CreateFile",
            "UpdateFile",
            "DeleteFile",
            "SubmitFile",
            "CreateFolder",
            "UpdateFolder",
            "DeleteFolder",
            "EstablishRelationTableToBusiness",
            # opcenter's own; it also requires each operation it stands for (DeployFile, ...)
            "ApplyWorkflowDefinition",
        ),
        Family.AUTHOR,
    ),
    "DeployFile": Family.DEPLOY,
    "OfflineNode": Family.DEPLOY,  # a release change, recorded as a deployment
    **dict.fromkeys(
        (
            "RunManualDagNodes",
            "CreateManualDag",
            "RunCycleDagNodes",
            "CreateDagComplement",
            "CreateDagTest",
            "RunSmokeTest",
            "RunTriggerNode",
            "RestartInstance",
            "SetSuccessInstance",
            "StopInstance",
            "SuspendInstance",
            "ResumeInstance",
            "StopDag",
            "UpdateNodeOwner",
            "CreateRemind",
            "UpdateRemind",
            "DeleteRemind",
        ),
        Family.OPERATE,
    ),
    **dict.fromkeys(
        (
            "CreateProjectMember",
            "DeleteProjectMember",
            "AddProjectMemberToRole",
            "RemoveProjectMemberFromRole",
        ),
        Family.MEMBERS,
    ),
}

_ALL = frozenset(r.code for r in ROLES)
_MANAGERS = frozenset({OWNER.code, ADMIN.code})
# (family, env) → roles; env None is the rule for every environment.
_TABLE: dict[tuple[Family, str | None], frozenset[str]] = {
    (Family.READ, None): _ALL,
    (Family.AUTHOR, None): _MANAGERS | {DEVELOPER.code},
    (Family.DEPLOY, None): _MANAGERS | {DEPLOYER.code},
    (Family.OPERATE, "PROD"): _MANAGERS | {OPERATOR.code},
    (Family.OPERATE, "DEV"): _MANAGERS | {DEVELOPER.code, OPERATOR.code},
    (Family.MEMBERS, None): _MANAGERS,
    (Family.WORKSPACE, None): _MANAGERS,
}


def family_of(operation: str) -> Family:
    """The family of an operation name (`RunManualDagNodes`) or action (`dataworks:…`)."""
    name = operation.split(":", 1)[-1]
    if name in _FAMILIES:
        return _FAMILIES[name]
    if is_read_action(name):
        return Family.READ
    # A write we do not know is treated as workspace administration: the safest reading.
    return Family.WORKSPACE


def allowed_roles(operation: str, env: str | None = None) -> frozenset[str]:
    """The role codes that may call `operation` in `env` (None or unknown → PROD)."""
    family = family_of(operation)
    if (family, None) in _TABLE:
        return _TABLE[(family, None)]
    wanted = (env or "PROD").upper()
    return _TABLE.get((family, wanted), _TABLE[(family, "PROD")])


def roles_may(role_codes: Iterable[str], operation: str, env: str | None = None) -> bool:
    """True when any of `role_codes` may call `operation` in `env`."""
    return not allowed_roles(operation, env).isdisjoint(role_codes)
