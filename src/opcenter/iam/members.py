"""Workspace members and their roles, in the store.

A member is named by its UserId: a RAM user's uid, or the account id for the root account. A
RAM user sees a workspace when it is a member of it, or when it is the workspace's recorded
owner (`Workspace.owner` equal to its name, uid or ARN: whoever created the workspace), which
counts as holding `role_project_owner`. The root account sees every workspace.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.errors import Conflict, InvalidParameter, NotFound
from opcenter.iam.principals import UserRecord
from opcenter.iam.roles import OWNER, ROLES, role_by_code
from opcenter.iam.scope import WorkspaceRef
from opcenter.store.tables import Workspace, WorkspaceMember, WorkspaceMemberRole

__all__ = [
    "MemberRecord",
    "add_member",
    "add_role",
    "check_role_code",
    "is_owner_by_record",
    "list_members",
    "remove_member",
    "remove_role",
    "roles_in",
    "visible_workspace_ids",
]


@dataclass(frozen=True)
class MemberRecord:
    user_uid: str
    role_codes: tuple[str, ...]
    created_at: int


def check_role_code(code: str) -> str:
    """The code if it names a role; InvalidParameter naming `RoleCode` otherwise."""
    if role_by_code(code) is None:
        raise InvalidParameter(
            f"RoleCode={code!r} is not a workspace role; use one of "
            f"{', '.join(r.code for r in ROLES)}."
        )
    return code


def _member(session: Session, workspace_id: int, uid: str) -> WorkspaceMember | None:
    return session.get(WorkspaceMember, (workspace_id, uid))


def add_member(session: Session, workspace_id: int, uid: str, *, now: int) -> None:
    """Make `uid` a member; a member already present → `Invalid.ProjectMember.Duplicate`."""
    if _member(session, workspace_id, uid) is not None:
        raise Conflict(
            "ProjectMember",
            f"UserId={uid!r} is already a member of the workspace.",
            reason="Duplicate",
        )
    session.add(WorkspaceMember(workspace_id=workspace_id, user_uid=uid, created_at=now))
    session.flush()


def _require_member(session: Session, workspace_id: int, uid: str) -> None:
    if _member(session, workspace_id, uid) is None:
        raise NotFound("ProjectMember", f"UserId={uid!r} is not a member of the workspace.")


def remove_member(session: Session, workspace_id: int, uid: str) -> None:
    _require_member(session, workspace_id, uid)
    session.execute(
        sa.delete(WorkspaceMemberRole).where(
            WorkspaceMemberRole.workspace_id == workspace_id, WorkspaceMemberRole.user_uid == uid
        )
    )
    session.execute(
        sa.delete(WorkspaceMember).where(
            WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.user_uid == uid
        )
    )


def add_role(session: Session, workspace_id: int, uid: str, role_code: str, *, now: int) -> None:
    """Grant a role to a member; granting a held role again changes nothing."""
    check_role_code(role_code)
    _require_member(session, workspace_id, uid)
    if session.get(WorkspaceMemberRole, (workspace_id, uid, role_code)) is None:
        session.add(
            WorkspaceMemberRole(
                workspace_id=workspace_id, user_uid=uid, role_code=role_code, created_at=now
            )
        )
        session.flush()


def remove_role(session: Session, workspace_id: int, uid: str, role_code: str) -> None:
    check_role_code(role_code)
    _require_member(session, workspace_id, uid)
    row = session.get(WorkspaceMemberRole, (workspace_id, uid, role_code))
    if row is None:
        raise NotFound(
            "ProjectMemberRole", f"UserId={uid!r} does not hold the role RoleCode={role_code!r}."
        )
    session.delete(row)


def list_members(session: Session, workspace_id: int) -> list[MemberRecord]:
    """Members in the order they joined, each with its role codes (in `ROLES` order)."""
    members = session.scalars(
        sa.select(WorkspaceMember)
        .where(WorkspaceMember.workspace_id == workspace_id)
        .order_by(WorkspaceMember.created_at, WorkspaceMember.user_uid)
    ).all()
    held: dict[str, set[str]] = {}
    for uid, code in session.execute(
        sa.select(WorkspaceMemberRole.user_uid, WorkspaceMemberRole.role_code).where(
            WorkspaceMemberRole.workspace_id == workspace_id
        )
    ):
        held.setdefault(uid, set()).add(code)
    order = [r.code for r in ROLES]
    return [
        MemberRecord(
            user_uid=m.user_uid,
            role_codes=tuple(c for c in order if c in held.get(m.user_uid, set())),
            created_at=m.created_at,
        )
        for m in members
    ]


def is_owner_by_record(
    workspace: Workspace | WorkspaceRef, user: UserRecord, principal: str
) -> bool:
    return bool(workspace.owner) and workspace.owner in (user.name, user.uid, principal)


def roles_in(
    session: Session, workspace: Workspace | WorkspaceRef, user: UserRecord, principal: str
) -> frozenset[str] | None:
    """The role codes `user` holds in `workspace`; None when it is not a member at all."""
    codes = set(
        session.scalars(
            sa.select(WorkspaceMemberRole.role_code).where(
                WorkspaceMemberRole.workspace_id == workspace.id,
                WorkspaceMemberRole.user_uid == user.uid,
            )
        )
    )
    member = _member(session, workspace.id, user.uid) is not None
    if is_owner_by_record(workspace, user, principal):
        codes.add(OWNER.code)
        member = True
    return frozenset(codes) if member else None


def visible_workspace_ids(session: Session, user: UserRecord, principal: str) -> set[int]:
    """The ids of the workspaces a RAM user may see (member of, or recorded owner of)."""
    ids = set(
        session.scalars(
            sa.select(WorkspaceMember.workspace_id).where(WorkspaceMember.user_uid == user.uid)
        )
    )
    owned = sa.select(Workspace.id).where(
        Workspace.owner.in_([user.name, user.uid, principal]), Workspace.owner != ""
    )
    ids.update(session.scalars(owned))
    return ids
