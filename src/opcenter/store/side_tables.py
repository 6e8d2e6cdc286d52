"""The tables no run needs: identity and access (iam/), the audit trail, console sign-ins,
request nonces, the API's rate limits and the folders of files. Defined on store/tables.py's
`Base` like every model, but in a module of their own that store/tables.py loads on first use
of one of their names: `opcenter run` and the engine never map them (see the end of
store/tables.py). Import them from store/tables.py."""

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from opcenter.store.tables import Base, Millis, _pk

__all__ = [
    "AuditEvent",
    "ConsoleSession",
    "Folder",
    "IamAccessKey",
    "IamAccount",
    "IamPolicy",
    "IamPolicyAttachment",
    "IamUser",
    "LoginFailure",
    "LoginPassword",
    "RateLimit",
    "RequestNonce",
    "WorkspaceMember",
    "WorkspaceMemberRole",
]


class Folder(Base):
    """A folder of a workspace's files (CreateFolder; `FileFolderId` of a file is its folder's
    id). The id is a string, as DataWorks' folder ids are."""

    __tablename__ = "folder"
    __table_args__ = (UniqueConstraint("workspace_id", "path"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), index=True)
    parent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    path: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[int] = mapped_column(Millis)
    modified_at: Mapped[int] = mapped_column(Millis)


class IamAccount(Base):
    """The root account (one row): created on the first start of an empty store."""

    __tablename__ = "iam_account"

    account_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[int] = mapped_column(Millis)


class IamUser(Base):
    """A RAM user of the account. `uid` is its UserId as the member operations name it."""

    __tablename__ = "iam_user"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = _pk()
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[int] = mapped_column(Millis)


class IamAccessKey(Base):
    """An AccessKey pair. The secret is sealed with the server key; `user_id` NULL is root's."""

    __tablename__ = "iam_access_key"

    access_key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("iam_user.id"), nullable=True, index=True
    )
    secret_sealed: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="Active")  # Active | Inactive
    created_at: Mapped[int] = mapped_column(Millis)
    modified_at: Mapped[int] = mapped_column(Millis)


class IamPolicy(Base):
    """A custom policy document (system policies live in code)."""

    __tablename__ = "iam_policy"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = _pk()
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(Millis)
    modified_at: Mapped[int] = mapped_column(Millis)


class IamPolicyAttachment(Base):
    """A policy attached to a user; `policy_type` System or Custom."""

    __tablename__ = "iam_policy_attachment"

    user_id: Mapped[int] = mapped_column(ForeignKey("iam_user.id"), primary_key=True)
    policy_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    policy_type: Mapped[str] = mapped_column(String(16))
    attached_at: Mapped[int] = mapped_column(Millis)


class WorkspaceMember(Base):
    """A member of a workspace, by UserId (a RAM user's uid or the account id)."""

    __tablename__ = "workspace_member"

    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), primary_key=True)
    user_uid: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    created_at: Mapped[int] = mapped_column(Millis)


class WorkspaceMemberRole(Base):
    """One role a member holds in a workspace (`role_project_dev`, ...)."""

    __tablename__ = "workspace_member_role"

    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), primary_key=True)
    user_uid: Mapped[str] = mapped_column(String(32), primary_key=True)
    role_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[int] = mapped_column(Millis)


class AuditEvent(Base):
    """One authorization decision on a write (allowed or denied) or any denial."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_at", "at"),
        Index("ix_audit_event_principal", "principal"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = _pk()
    at: Mapped[int] = mapped_column(Millis)
    principal: Mapped[str] = mapped_column(String(256))
    access_key_id: Mapped[str] = mapped_column(String(64), default="")
    source_ip: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(128))
    resource: Mapped[str] = mapped_column(String(512))
    outcome: Mapped[str] = mapped_column(String(16))  # Allowed | Denied
    code: Mapped[str] = mapped_column(String(64), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")


class RequestNonce(Base):
    """A signature nonce seen within its time window: kept in the store, so a signed request
    cannot be replayed after a restart or against another API process."""

    __tablename__ = "request_nonce"
    __table_args__ = (Index("ix_request_nonce_expires_at", "expires_at"),)

    access_key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[int] = mapped_column(Millis)


class LoginPassword(Base):
    """The page's sign-in password of a RAM user (`name`) or of the account (`root`): a
    memory-hard hash (iam/passwords.py), never the password."""

    __tablename__ = "login_password"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    hash: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[int] = mapped_column(Millis)


class ConsoleSession(Base):
    """A signed-in browser. `id` is the SHA-256 of the cookie's token (a stolen copy of the
    store cannot be replayed as a cookie); `csrf` is the token every form must send back."""

    __tablename__ = "console_session"
    __table_args__ = (Index("ix_console_session_seen_at", "seen_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    principal: Mapped[str] = mapped_column(String(256))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(Millis)
    seen_at: Mapped[int] = mapped_column(Millis)
    source_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(256), default="")


class LoginFailure(Base):
    """Wrong passwords in a row for one user name: each makes the next attempt wait longer."""

    __tablename__ = "login_failure"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[int] = mapped_column(Millis)


class RateLimit(Base):
    """The API's per-AccessKey flow control, shared by every API process on the store
    (iam/rate.py): the key's theoretical arrival time (GCRA), in microseconds since the epoch."""

    __tablename__ = "rate_limit"

    access_key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tat: Mapped[int] = mapped_column(BigInteger)
