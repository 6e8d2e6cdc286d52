"""Signing in to the page: passwords checked, wrong ones slowed down and audited, sessions kept.

A session is a random token in an HttpOnly, SameSite=Strict cookie; the store keeps only its
SHA-256 (`console_session`), so every API process on one store knows every session and a copy
of the store is not a key to the page. A session unused for `Settings.session_idle_minutes`
is over. Each session carries a CSRF token that every state-changing request must send back
(a form field or the `X-CSRF-Token` header).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from opcenter.context import ServiceContext
from opcenter.errors import OpcenterError
from opcenter.iam import audit, passwords
from opcenter.iam.principals import find_user, root_principal, user_principal
from opcenter.store.tables import ConsoleSession

__all__ = [
    "SIGN_IN_ACTION",
    "SessionInfo",
    "SignInRefused",
    "load_session",
    "sign_in",
    "sign_out",
]

SIGN_IN_ACTION = "console:SignIn"
# seen_at is written at most this often (a page's requests do not each write the store).
_TOUCH_EVERY_MS = 30_000


class SignInRefused(OpcenterError):
    """Raised when a name and password do not sign in (wrong, unknown, or asked too soon)."""

    code = "Forbidden.SignIn"
    http_status = 403

    def __init__(self, message: str, *, wait_seconds: int = 0) -> None:
        super().__init__(message)
        self.wait_seconds = wait_seconds


@dataclass(frozen=True)
class SessionInfo:
    """A signed-in browser: who (`name` is "root" for the account), and its CSRF token."""

    key: str  # SHA-256 of the cookie token
    name: str
    principal: str
    account_id: str
    csrf: str

    @property
    def is_root(self) -> bool:
        return self.name == "root"


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _audit(ctx: ServiceContext, principal: str, outcome: str, source_ip: str, why: str) -> None:
    with ctx.db.transaction() as session:
        audit.record_event(
            session,
            audit.AuditRecord(
                at=ctx.clock(),
                principal=principal,
                access_key_id="",
                source_ip=source_ip,
                action=SIGN_IN_ACTION,
                resource="console",
                outcome=outcome,
                code="" if outcome == audit.ALLOWED else SignInRefused.code,
                message=why,
                request_id="",
            ),
        )


def sign_in(
    ctx: ServiceContext, *, name: str, password: str, source_ip: str = "", user_agent: str = ""
) -> tuple[str, SessionInfo]:
    """Check `name`'s password and open a session: (cookie token, session). Raises
    SignInRefused (audited) for a wrong password or an unknown name (the same message), or
    when the name must still wait after wrong passwords in a row (`wait_seconds`)."""
    account = ctx.settings.account_id
    name = name.strip()
    now = ctx.clock()
    with ctx.db.transaction() as session:
        if name == "root":
            principal = root_principal(account)
        else:
            user = find_user(session, name) if name else None
            principal = user_principal(account, user.name if user else name)
            name = user.name if user else name
        failures, last_at = passwords.failures_of(session, name)
        wait = passwords.delay_after(failures) - (now - last_at) / 1000
        if wait > 0:
            seconds = math.ceil(wait)
            refused = SignInRefused(
                f"Too many wrong passwords. Try again in {seconds} s.", wait_seconds=seconds
            )
        elif passwords.verify_password(session, name, password):
            passwords.note_success(session, name)
            token = secrets.token_urlsafe(32)
            info = SessionInfo(_key(token), name, principal, account, secrets.token_urlsafe(24))
            session.add(
                ConsoleSession(
                    id=info.key,
                    name=name,
                    principal=principal,
                    csrf=info.csrf,
                    created_at=now,
                    seen_at=now,
                    source_ip=source_ip[:64],
                    user_agent=user_agent[:256],
                )
            )
            refused = None
        else:
            passwords.note_failure(session, name, now=now)
            refused = SignInRefused("The user name or password is wrong.")
    if refused is not None:
        _audit(ctx, principal, audit.DENIED, source_ip, refused.message)
        raise refused
    _audit(ctx, principal, audit.ALLOWED, source_ip, "")
    return token, info


def load_session(ctx: ServiceContext, token: str | None) -> SessionInfo | None:
    """The live session of cookie `token`, or None (none, unknown, or idle too long: then it
    is deleted). Marks it used."""
    if not token:
        return None
    key = _key(token)
    now = ctx.clock()
    idle_ms = ctx.settings.session_idle_minutes * 60_000
    with ctx.db.transaction() as session:
        row = session.get(ConsoleSession, key)
        if row is None:
            return None
        if now - row.seen_at > idle_ms:
            session.delete(row)
            return None
        if now - row.seen_at > _TOUCH_EVERY_MS:
            row.seen_at = now
        return SessionInfo(key, row.name, row.principal, ctx.settings.account_id, row.csrf)


def sign_out(ctx: ServiceContext, token: str | None) -> None:
    """End the session of cookie `token` (nothing when there is none)."""
    if not token:
        return
    with ctx.db.transaction() as session:
        session.execute(sa.delete(ConsoleSession).where(ConsoleSession.id == _key(token)))
