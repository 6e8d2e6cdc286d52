"""Identity and access as service functions: bootstrap, users, AccessKeys, policies, workspace
members (the member operations of the 2020-05-18 API) and the audit trail.

Authorization of the member operations themselves is the authorizer's (owner/admin only); these
functions assume the caller was allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.errors import InvalidParameter, MissingParameter, NotFound, not_found
from opcenter.iam import audit, keys, members, passwords, policy_store, principals
from opcenter.iam.keys import KeyRecord
from opcenter.iam.policy_store import PolicyRecord
from opcenter.iam.principals import UserRecord
from opcenter.iam.roles import ADMIN, OWNER, ROLES, Role
from opcenter.iam.scope import WorkspaceRef
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.instances import _env  # the one ProjectEnv check of the run operations
from opcenter.service.lookup import check_paging, resolve_workspace, workspace_row
from opcenter.service.views import Page
from opcenter.settings import Settings
from opcenter.store.prepared import Prepared
from opcenter.store.tables import Dag, IamAccessKey, IamUser, Instance, Node, Workspace

__all__ = [
    "ProjectMemberView",
    "add_project_member_to_role",
    "attach_policy",
    "create_access_key",
    "create_policy",
    "create_project_member",
    "create_user",
    "delete_access_key",
    "delete_policy",
    "delete_project_member",
    "delete_user",
    "detach_policy",
    "disable_access_key",
    "enable_access_key",
    "ensure_root",
    "get_policy",
    "list_access_keys",
    "list_audit_events",
    "list_policies",
    "list_project_members",
    "list_project_roles",
    "list_user_policies",
    "list_users",
    "remove_project_member_from_role",
    "visible_project_ids",
    "workspace_of",
    "workspace_of_dag",
    "workspace_of_instance",
    "workspace_of_run",
    "workspace_ref",
]

MEMBER_TYPE_ACCOUNT = "USER_ALIYUN"  # DataWorks type 1: an Alibaba Cloud (root) account
MEMBER_TYPE_RAM_USER = "USER_UBACCOUNT"  # DataWorks type 5: a RAM user
MEMBER_STATUS_NORMAL = "NORMAL"


# --- bootstrap ------------------------------------------------------------------------------


def ensure_root(ctx: ServiceContext) -> tuple[str, str | None]:
    """Make sure the root account exists and has an AccessKey; return (key id, secret | None).

    With `root_access_key_id`/`root_access_key_secret` set, the root account gets exactly that
    pair (its secret replaced if the id exists with another one) and None is returned as the
    secret. Otherwise a root key is generated when the account has none, and its secret is
    returned this one time; later starts return the oldest active root key and None.
    """
    settings = ctx.settings
    box = keys.load_secret_box(settings)
    # Several processes starting together on one store: one makes the account and key, the
    # others then find them (no duplicate-key failure at start).
    with ctx.db.setup_lock(), ctx.db.transaction() as session:
        now = ctx.clock()
        principals.ensure_account(session, settings.account_id, now=now)
        if settings.root_access_key_id and settings.root_access_key_secret:
            _configured_root_key(session, box, settings, now)
            return settings.root_access_key_id, None
        if settings.root_access_key_id or settings.root_access_key_secret:
            missing = "SECRET" if settings.root_access_key_id else "ID"
            raise MissingParameter(f"OPCENTER_ROOT_ACCESS_KEY_{missing}")
        existing = keys.list_access_keys(session, user_id=None)
        active = [k for k in existing if k.status == keys.ACTIVE]
        if active:
            return active[0].access_key_id, None
        if existing:
            # Every root key was disabled on purpose: do not silently mint a new one.
            return existing[0].access_key_id, None
        record, secret = keys.create_access_key(session, box, user_id=None, now=now)
        return record.access_key_id, secret


def _configured_root_key(
    session: Session, box: keys.SecretBox, settings: Settings, now: int
) -> None:
    key_id = settings.root_access_key_id or ""
    secret = settings.root_access_key_secret or ""
    row = session.get(IamAccessKey, key_id)
    if row is None:
        keys.create_access_key(
            session, box, user_id=None, now=now, access_key_id=key_id, secret=secret
        )
        return
    if row.user_id is not None:
        raise InvalidParameter(
            f"OPCENTER_ROOT_ACCESS_KEY_ID={key_id!r} is already a RAM user's AccessKey."
        )
    row.secret_sealed = box.seal(secret, access_key_id=key_id)
    row.status = keys.ACTIVE
    row.modified_at = now


# --- users and keys -------------------------------------------------------------------------


def create_user(ctx: ServiceContext, *, user_name: str, display_name: str = "") -> UserRecord:
    with ctx.db.transaction() as session:
        return principals.create_user(
            session, name=user_name, display_name=display_name, now=ctx.clock()
        )


def list_users(ctx: ServiceContext) -> list[UserRecord]:
    with ctx.db.transaction(readonly=True) as session:
        return principals.list_users(session)


def delete_user(ctx: ServiceContext, *, user_name: str) -> UserRecord:
    """Delete a user with its keys, policy attachments, memberships and sign-in password."""
    with ctx.db.transaction() as session:
        record = principals.delete_user(session, user_name)
        passwords.forget_password(session, record.name)
        return record


def set_login_password(ctx: ServiceContext, *, user_name: str, password: str) -> str:
    """Set the page's sign-in password of RAM user `user_name`, or of the account for `root`;
    returns the name it was stored under. InvalidParameter when it is shorter than
    `passwords.MIN_LENGTH` characters; NotFound (User) when there is no such user."""
    if len(password) < passwords.MIN_LENGTH:
        raise InvalidParameter(
            f"The password is too short: it needs at least {passwords.MIN_LENGTH} characters."
        )
    with ctx.db.transaction() as session:
        name = "root" if user_name == "root" else principals.get_user(session, user_name).name
        passwords.set_password(session, name, password, now=ctx.clock())
    return name


def _user_id(session: Session, user_name: str | None) -> int | None:
    return None if user_name is None else principals.get_user(session, user_name).id


def create_access_key(
    ctx: ServiceContext, *, user_name: str | None = None
) -> tuple[KeyRecord, str]:
    """A new AccessKey for a user (None: the root account); the secret is returned only here."""
    box = keys.load_secret_box(ctx.settings)
    with ctx.db.transaction() as session:
        return keys.create_access_key(
            session, box, user_id=_user_id(session, user_name), now=ctx.clock()
        )


def list_access_keys(ctx: ServiceContext, *, user_name: str | None = None) -> list[KeyRecord]:
    with ctx.db.transaction(readonly=True) as session:
        return keys.list_access_keys(session, user_id=_user_id(session, user_name))


def disable_access_key(ctx: ServiceContext, *, access_key_id: str) -> None:
    with ctx.db.transaction() as session:
        keys.set_access_key_status(session, access_key_id, keys.INACTIVE, now=ctx.clock())


def enable_access_key(ctx: ServiceContext, *, access_key_id: str) -> None:
    with ctx.db.transaction() as session:
        keys.set_access_key_status(session, access_key_id, keys.ACTIVE, now=ctx.clock())


def delete_access_key(ctx: ServiceContext, *, access_key_id: str) -> None:
    with ctx.db.transaction() as session:
        keys.delete_access_key(session, access_key_id)


# --- policies -------------------------------------------------------------------------------


def create_policy(
    ctx: ServiceContext, *, policy_name: str, policy_document: str, description: str = ""
) -> PolicyRecord:
    with ctx.db.transaction() as session:
        return policy_store.create_policy(
            session,
            name=policy_name,
            document=policy_document,
            description=description,
            now=ctx.clock(),
        )


def get_policy(ctx: ServiceContext, *, policy_name: str) -> PolicyRecord:
    with ctx.db.transaction(readonly=True) as session:
        return policy_store.get_policy(session, policy_name)


def list_policies(ctx: ServiceContext) -> list[PolicyRecord]:
    with ctx.db.transaction(readonly=True) as session:
        return policy_store.list_policies(session)


def delete_policy(ctx: ServiceContext, *, policy_name: str) -> None:
    with ctx.db.transaction() as session:
        policy_store.delete_policy(session, policy_name)


def attach_policy(ctx: ServiceContext, *, policy_name: str, user_name: str) -> None:
    with ctx.db.transaction() as session:
        user = principals.get_user(session, user_name)
        policy_store.attach_policy(session, user_id=user.id, name=policy_name, now=ctx.clock())


def detach_policy(ctx: ServiceContext, *, policy_name: str, user_name: str) -> None:
    with ctx.db.transaction() as session:
        user = principals.get_user(session, user_name)
        policy_store.detach_policy(session, user_id=user.id, name=policy_name)


def list_user_policies(ctx: ServiceContext, *, user_name: str) -> list[str]:
    with ctx.db.transaction(readonly=True) as session:
        user = principals.get_user(session, user_name)
        return policy_store.user_policy_names(session, user.id)


# --- workspace members ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectMemberView:
    """A member as ListProjectMembers shows it."""

    project_member_id: str  # the UserId
    project_member_name: str
    nick: str
    project_member_type: str  # USER_ALIYUN | USER_UBACCOUNT
    status: str
    roles: tuple[Role, ...]


def _member_uid(ctx: ServiceContext, session: Session, user_id: str | None) -> str:
    """The UserId of a member: the account id, or a RAM user's uid (its name is accepted)."""
    if not user_id:
        raise MissingParameter("UserId")
    if user_id == ctx.settings.account_id:
        return user_id
    user = principals.find_user(session, user_id)
    if user is None:
        raise NotFound("User", f"UserId={user_id!r} is neither the account nor a RAM user.")
    return user.uid


def _workspace(session: Session, project_id: int | None) -> Workspace:
    if project_id is None:
        raise MissingParameter("ProjectId")
    return resolve_workspace(session, project_id=project_id)


def create_project_member(
    ctx: ServiceContext,
    *,
    project_id: int | None,
    user_id: str | None,
    role_code: str | None = None,
    caller: Caller = Caller(),
) -> None:
    """CreateProjectMember: add a user to a workspace, optionally with a first role."""
    with ctx.db.transaction() as session:
        ws = _workspace(session, project_id)
        uid = _member_uid(ctx, session, user_id)
        if role_code:
            members.check_role_code(role_code)
        now = ctx.clock()
        members.add_member(session, ws.id, uid, now=now)
        if role_code:
            members.add_role(session, ws.id, uid, role_code, now=now)


def delete_project_member(
    ctx: ServiceContext, *, project_id: int | None, user_id: str | None, caller: Caller = Caller()
) -> None:
    """DeleteProjectMember: remove a user and its roles from a workspace."""
    with ctx.db.transaction() as session:
        ws = _workspace(session, project_id)
        members.remove_member(session, ws.id, _member_uid(ctx, session, user_id))


def add_project_member_to_role(
    ctx: ServiceContext,
    *,
    project_id: int | None,
    user_id: str | None,
    role_code: str | None,
    caller: Caller = Caller(),
) -> None:
    """AddProjectMemberToRole: grant a member one more role (granting it again is a no-op)."""
    if not role_code:
        raise MissingParameter("RoleCode")
    with ctx.db.transaction() as session:
        ws = _workspace(session, project_id)
        uid = _member_uid(ctx, session, user_id)
        members.add_role(session, ws.id, uid, role_code, now=ctx.clock())


def remove_project_member_from_role(
    ctx: ServiceContext,
    *,
    project_id: int | None,
    user_id: str | None,
    role_code: str | None,
    caller: Caller = Caller(),
) -> None:
    """RemoveProjectMemberFromRole: take one role from a member (it stays a member)."""
    if not role_code:
        raise MissingParameter("RoleCode")
    with ctx.db.transaction() as session:
        ws = _workspace(session, project_id)
        members.remove_role(session, ws.id, _member_uid(ctx, session, user_id), role_code)


def list_project_members(
    ctx: ServiceContext,
    *,
    project_id: int | None,
    page_number: int = 1,
    page_size: int = 10,
    caller: Caller = Caller(),
) -> Page[ProjectMemberView]:
    """ListProjectMembers: the members of a workspace with their roles, one page at a time."""
    offset, limit = check_paging(page_number, page_size)
    with ctx.db.transaction(readonly=True) as session:
        ws = _workspace(session, project_id)
        everyone = members.list_members(session, ws.id)
        page = everyone[offset : offset + limit]
        names = _names(session, [m.user_uid for m in page])
        views = tuple(_member_view(ctx, m, names) for m in page)
    return Page(
        items=views, page_number=page_number, page_size=page_size, total_count=len(everyone)
    )


def _names(session: Session, uids: list[str]) -> dict[str, str]:
    rows = session.execute(sa.select(IamUser.uid, IamUser.name).where(IamUser.uid.in_(uids)))
    return dict(rows.tuples().all())


def _member_view(
    ctx: ServiceContext, member: members.MemberRecord, names: dict[str, str]
) -> ProjectMemberView:
    is_account = member.user_uid == ctx.settings.account_id
    name = "root" if is_account else names.get(member.user_uid, member.user_uid)
    return ProjectMemberView(
        project_member_id=member.user_uid,
        project_member_name=name,
        nick=name,
        project_member_type=MEMBER_TYPE_ACCOUNT if is_account else MEMBER_TYPE_RAM_USER,
        status=MEMBER_STATUS_NORMAL,
        roles=tuple(r for r in ROLES if r.code in member.role_codes),  # codes are in ROLES order
    )


def list_project_roles(
    ctx: ServiceContext, *, project_id: int | None, caller: Caller = Caller()
) -> tuple[Role, ...]:
    """ListProjectRoles: the system roles of a workspace."""
    with ctx.db.transaction(readonly=True) as session:
        _workspace(session, project_id)
    return ROLES


# --- visibility -----------------------------------------------------------------------------


def visible_project_ids(session: Session, caller: Caller) -> set[int] | None:
    """The ids of the workspaces `caller` may see; None when it sees them all (the root account).

    A RAM user sees the workspaces it is a member of and those it created; a name that is no
    (longer a) user sees none. For listings (ListProjects) that must not reveal the others.
    """
    if caller.is_root:
        return None
    user = principals.find_user(session, caller.name)
    if user is None:
        return set()
    principal = principals.user_principal(caller.account_id, user.name)
    return members.visible_workspace_ids(session, user, principal)


# --- the workspace a call touches (resolved once per request, for authorization) ------------

_REF = sa.select(Workspace.id, Workspace.identifier, Workspace.owner)
# The object each parameter names, and the column that leads to its workspace. The node
# operations look a node up before they judge `ProjectEnv` (a missing node "does not exist"
# whatever the environment), so a node is found in any environment; instances, Dags and runs
# are judged in `ProjectEnv` first, for missing and invisible objects alike, as their
# operations do.
_OWNERS = {
    "InstanceId": (Instance.workspace_id, Instance.id, Instance.env),
    "DagId": (Dag.workspace_id, Dag.id, Dag.env),
    "OpSeq": (Dag.workspace_id, Dag.run_id, Dag.env),
    "NodeId": (Node.workspace_id, Node.id, None),
}


def _owner_query(parameter: str) -> sa.Select[tuple[int, str, str]]:
    workspace_id, key, env_column = _OWNERS[parameter]
    query = _REF.join_from(Workspace, workspace_id.class_, workspace_id == Workspace.id)
    query = query.where(key == sa.bindparam("value"))
    if env_column is not None:
        query = query.where(env_column == sa.bindparam("env"))
    return query.limit(1)


# Built once and run through the driver (store/prepared.py; integers and strings only): every
# GetDag / ListDags / instance call, what waiting clients poll, asks one.
_OWNER_QUERIES = {parameter: Prepared(_owner_query(parameter)) for parameter in _OWNERS}


def workspace_of(
    ctx: ServiceContext, parameter: str, value: int, project_env: str | None = None
) -> WorkspaceRef:
    """The workspace of the object `parameter`=`value` (InstanceId, DagId, OpSeq or NodeId).

    Raises the service's own errors: MissingParameter / InvalidParameter for `ProjectEnv`
    (objects judged per environment), NotFound (the operation's message) when there is no such
    object, StoreUnavailable when the store cannot answer.
    """
    env = None if _OWNERS[parameter][2] is None else _env(project_env)
    with ctx.db.transaction(readonly=True) as session:
        params = {"value": value} if env is None else {"value": value, "env": env}
        rows = _OWNER_QUERIES[parameter].rows(session.connection(), params)
    if not rows:
        raise not_found(parameter, value, env)
    id_, identifier, owner = rows[0]
    return WorkspaceRef(id_, identifier, owner or "")


def workspace_of_instance(
    ctx: ServiceContext, instance_id: int, project_env: str | None
) -> WorkspaceRef:
    """The workspace of instance `instance_id` in `project_env` (see `workspace_of`)."""
    return workspace_of(ctx, "InstanceId", instance_id, project_env)


def workspace_of_dag(ctx: ServiceContext, dag_id: int, project_env: str | None) -> WorkspaceRef:
    """The workspace of Dag `dag_id` in `project_env` (see `workspace_of`)."""
    return workspace_of(ctx, "DagId", dag_id, project_env)


def workspace_of_run(ctx: ServiceContext, op_seq: int, project_env: str | None) -> WorkspaceRef:
    """The workspace of the run `op_seq` (ListDags' OpSeq) in `project_env`."""
    return workspace_of(ctx, "OpSeq", op_seq, project_env)


def workspace_ref(
    ctx: ServiceContext,
    *,
    project_id: int | None = None,
    project_name: str | None = None,
    project_identifier: str | None = None,
) -> WorkspaceRef:
    """The workspace named by id and/or identifier, with `resolve_workspace`'s errors."""
    with ctx.db.transaction(readonly=True) as session:
        ws = workspace_row(
            session,
            project_id=project_id,
            project_name=project_name,
            project_identifier=project_identifier,
        )
        return WorkspaceRef(ws.id, ws.identifier, ws.owner or "")


# --- audit ----------------------------------------------------------------------------------


def list_audit_events(ctx: ServiceContext, where: audit.AuditFilter) -> list[audit.AuditRecord]:
    with ctx.db.transaction(readonly=True) as session:
        return audit.list_events(session, where)


def audit_scope(ctx: ServiceContext, caller: Caller) -> tuple[str, tuple[str, ...]] | None:
    """What of the audit trail `caller` may read on the page: None (all of it) for the
    account; for a RAM user, its own events and those on the workspaces it administers
    (owner or administrator role), as `AuditFilter.visible_to`."""
    if caller.is_root:
        return None
    principal = principals.user_principal(caller.account_id, caller.name)
    arns: list[str] = []
    with ctx.db.transaction(readonly=True) as session:
        user = principals.find_user(session, caller.name)
        if user is None:
            return principal, ()
        ids = members.visible_workspace_ids(session, user, principal)
        rows = session.scalars(sa.select(Workspace).where(Workspace.id.in_(ids))).all()
        for ws in rows:
            roles = members.roles_in(session, ws, user, principal) or frozenset()
            if roles & {OWNER.code, ADMIN.code}:
                region, account = ctx.settings.region, ctx.settings.account_id
                arns.append(f"acs:dataworks:{region}:{account}:workspace/{ws.identifier}")
    return principal, tuple(arns)
