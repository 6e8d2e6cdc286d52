"""The audit trail: one event per authorization decision on a write, and per denial.

An event says when, who (principal ARN and AccessKey id), from where (source IP), what (RAM
action and resource), the outcome (`Allowed` or `Denied`, with the error code of a denial) and
the request id that the caller's SDK saw. Events are written in their own transaction, so a
denied request leaves its trace although nothing else of it is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.errors import InvalidParameter
from opcenter.store.prepared import Prepared
from opcenter.store.tables import AuditEvent

__all__ = [
    "ALLOWED",
    "DENIED",
    "MAX_LIMIT",
    "AuditFilter",
    "AuditRecord",
    "list_events",
    "record_event",
]

ALLOWED = "Allowed"
DENIED = "Denied"
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class AuditRecord:
    """One event; `at` is epoch milliseconds."""

    at: int
    principal: str
    action: str
    resource: str
    outcome: str
    access_key_id: str = ""
    source_ip: str = ""
    code: str = ""
    message: str = ""
    request_id: str = ""
    id: int | None = None


_COLUMNS = (
    "at", "principal", "access_key_id", "source_ip", "action", "resource", "outcome", "code",
    "message", "request_id",
)  # fmt: skip
# Integers and strings only: run through the driver (store/prepared.py), every audited request
# (each write, each denial) inserts one.
_INSERT = Prepared(
    sa.insert(AuditEvent.__table__)
    .values({name: sa.bindparam(name) for name in _COLUMNS})
    .returning(AuditEvent.__table__.c.id)
)


def record_event(session: Session, event: AuditRecord) -> int:
    """Append the event; returns its id."""
    # Core, not an ORM object and a flush: one event per audited request, on the hot path.
    values = {
        "at": event.at,
        "principal": event.principal,
        "access_key_id": event.access_key_id[:64],
        "source_ip": event.source_ip[:64],
        "action": event.action[:128],
        "resource": event.resource[:512],
        "outcome": event.outcome,
        "code": event.code[:64],
        "message": event.message,
        "request_id": event.request_id[:64],
    }
    return int(_INSERT.rows(session.connection(), values)[0][0])


@dataclass(frozen=True)
class AuditFilter:
    """What to list. `principal`, `action` and `resource` accept `*`/`?` wildcards."""

    principal: str | None = None
    access_key_id: str | None = None
    source_ip: str | None = None
    action: str | None = None
    resource: str | None = None
    outcome: str | None = None
    request_id: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    limit: int = DEFAULT_LIMIT
    # Only the events on these resources (exact ARNs) or by this principal (the page's view
    # for a workspace administrator); None: every event.
    visible_to: tuple[str, tuple[str, ...]] | None = None


def _like(column: sa.ColumnElement[str], pattern: str) -> sa.ColumnElement[bool]:
    if "*" not in pattern and "?" not in pattern:
        return column == pattern
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(escaped.replace("*", "%").replace("?", "_"), escape="\\")


def list_events(session: Session, where: AuditFilter) -> list[AuditRecord]:
    """Matching events, newest first, at most `where.limit`."""
    if not 1 <= where.limit <= MAX_LIMIT:
        raise InvalidParameter(f"limit={where.limit} must be between 1 and {MAX_LIMIT}.")
    if where.outcome is not None and where.outcome not in (ALLOWED, DENIED):
        raise InvalidParameter(f"outcome={where.outcome!r} is not one of {ALLOWED}, {DENIED}.")
    query = sa.select(AuditEvent)
    for column, value in (
        (AuditEvent.principal, where.principal),
        (AuditEvent.action, where.action),
        (AuditEvent.resource, where.resource),
    ):
        if value:
            query = query.where(_like(column, value))
    for column, exact in (
        (AuditEvent.access_key_id, where.access_key_id),
        (AuditEvent.source_ip, where.source_ip),
        (AuditEvent.outcome, where.outcome),
        (AuditEvent.request_id, where.request_id),
    ):
        if exact:
            query = query.where(column == exact)
    if where.since_ms is not None:
        query = query.where(AuditEvent.at >= where.since_ms)
    if where.until_ms is not None:
        query = query.where(AuditEvent.at < where.until_ms)
    if where.visible_to is not None:
        principal, resources = where.visible_to
        query = query.where(
            sa.or_(AuditEvent.principal == principal, AuditEvent.resource.in_(resources))
        )
    rows = session.scalars(query.order_by(AuditEvent.id.desc()).limit(where.limit))
    return [_record(r) for r in rows]


def _record(row: AuditEvent) -> AuditRecord:
    return AuditRecord(
        id=row.id,
        at=row.at,
        principal=row.principal,
        access_key_id=row.access_key_id,
        source_ip=row.source_ip,
        action=row.action,
        resource=row.resource,
        outcome=row.outcome,
        code=row.code,
        message=row.message,
        request_id=row.request_id,
    )
