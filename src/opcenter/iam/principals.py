"""Who can call: the root account and the RAM users under it.

A principal is named by its ARN, the form the signature layer hands on:
`acs:ram::<account-id>:root` for the account itself, `acs:ram::<account-id>:user/<name>` for
a RAM user. Each user also has a `uid` (16 digits, starting with 2), its `UserId` in the member
operations; the root account's UserId is the account id.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.errors import Conflict, InvalidParameter, NotFound
from opcenter.store.tables import (
    IamAccessKey,
    IamAccount,
    IamPolicyAttachment,
    IamUser,
    WorkspaceMember,
    WorkspaceMemberRole,
)

__all__ = [
    "Principal",
    "UserRecord",
    "create_user",
    "delete_user",
    "ensure_account",
    "find_user",
    "get_user",
    "list_users",
    "parse_principal",
    "root_principal",
    "user_principal",
]

_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# "root" names the account itself (workspaces it creates record it as their owner).
RESERVED_USER_NAMES = frozenset({"root"})
_ARN = re.compile(r"acs:ram::(?P<account>[^:]*):(?:(?P<root>root)|user/(?P<name>.+))")


def root_principal(account_id: str) -> str:
    return f"acs:ram::{account_id}:root"


def user_principal(account_id: str, name: str) -> str:
    return f"acs:ram::{account_id}:user/{name}"


@dataclass(frozen=True)
class Principal:
    """A parsed principal ARN. `name` is None for the root account."""

    account_id: str
    name: str | None

    @property
    def is_root(self) -> bool:
        return self.name is None

    @property
    def arn(self) -> str:
        if self.name is None:
            return root_principal(self.account_id)
        return user_principal(self.account_id, self.name)


def parse_principal(arn: str) -> Principal | None:
    """The principal an ARN names, or None when it is not a RAM principal ARN."""
    match = _ARN.fullmatch(arn)
    if match is None:
        return None
    return Principal(account_id=match["account"], name=None if match["root"] else match["name"])


@dataclass(frozen=True)
class UserRecord:
    id: int
    uid: str
    name: str
    display_name: str
    created_at: int


def _record(row: IamUser) -> UserRecord:
    return UserRecord(row.id, row.uid, row.name, row.display_name, row.created_at)


def ensure_account(session: Session, account_id: str, *, now: int) -> bool:
    """Record the root account if the store has none; True when it was created now."""
    if session.get(IamAccount, account_id) is not None:
        return False
    session.add(IamAccount(account_id=account_id, created_at=now))
    session.flush()
    return True


def create_user(session: Session, *, name: str, display_name: str = "", now: int) -> UserRecord:
    """Create a RAM user. Names: 1-64 of letters, digits, `.`, `_`, `-`, unique."""
    if not _USER_NAME.fullmatch(name or ""):
        raise InvalidParameter(
            f'UserName "{name}" is not valid: use 1 to 64 letters, digits, ".", "_" or "-", '
            "starting with a letter or digit."
        )
    if name.lower() in RESERVED_USER_NAMES:
        raise InvalidParameter(f'UserName "{name}" is reserved for the root account.')
    if session.scalar(sa.select(IamUser.id).where(IamUser.name == name)) is not None:
        raise Conflict("User", f'The user "{name}" already exists.', reason="Duplicate")
    # The uid derives from the row id, known only after the insert.
    row = IamUser(
        uid=f"pending-{uuid.uuid4().hex[:16]}",
        name=name,
        display_name=display_name or name,
        created_at=now,
    )
    session.add(row)
    session.flush()
    row.uid = f"2{row.id:015d}"
    session.flush()
    return _record(row)


def find_user(session: Session, name_or_uid: str) -> UserRecord | None:
    """The user with this name or uid, or None."""
    row = session.scalar(
        sa.select(IamUser).where(sa.or_(IamUser.name == name_or_uid, IamUser.uid == name_or_uid))
    )
    return None if row is None else _record(row)


def get_user(session: Session, name_or_uid: str) -> UserRecord:
    user = find_user(session, name_or_uid)
    if user is None:
        raise NotFound("User", f'The user "{name_or_uid}" does not exist.')
    return user


def list_users(session: Session) -> list[UserRecord]:
    return [_record(r) for r in session.scalars(sa.select(IamUser).order_by(IamUser.id))]


def delete_user(session: Session, name_or_uid: str) -> UserRecord:
    """Delete a user with its AccessKeys, policy attachments and workspace memberships."""
    user = get_user(session, name_or_uid)
    session.execute(sa.delete(IamAccessKey).where(IamAccessKey.user_id == user.id))
    session.execute(sa.delete(IamPolicyAttachment).where(IamPolicyAttachment.user_id == user.id))
    session.execute(sa.delete(WorkspaceMemberRole).where(WorkspaceMemberRole.user_uid == user.uid))
    session.execute(sa.delete(WorkspaceMember).where(WorkspaceMember.user_uid == user.uid))
    session.execute(sa.delete(IamUser).where(IamUser.id == user.id))
    return user
