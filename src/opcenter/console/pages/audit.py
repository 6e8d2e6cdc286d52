"""The audit trail: who did what, when, from where.

The account (root) reads all of it; a RAM user reads its own events and those on the
workspaces it administers (owner or administrator role) — `service.iam.audit_scope`. Filters:
principal and action (with `*` wildcards), outcome, and a time window; newest first, 100 a
page, "Older" continues before the last event shown.
"""

from __future__ import annotations

import datetime as dt

from starlette.responses import Response

from opcenter.console.web import Page, page_route
from opcenter.errors import InvalidParameter
from opcenter.iam import audit
from opcenter.service import iam as iam_svc

PAGE_SIZE = 100


def _day_ms(value: str, name: str, tz: dt.tzinfo) -> int | None:
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(f"{name}={value!r} is not a date (yyyy-mm-dd).") from None
    return int(dt.datetime.combine(day, dt.time(), tz).timestamp() * 1000)


def _filter(page: Page, scope: tuple[str, tuple[str, ...]] | None) -> audit.AuditFilter:
    q = page.request.query_params
    tz = page.ctx.settings.tz
    until = _day_ms(q.get("until", ""), "until", tz)
    before = q.get("before", "")
    outcome = q.get("outcome") or None
    return audit.AuditFilter(
        principal=q.get("principal") or None,
        action=q.get("action") or None,
        outcome=outcome if outcome in (audit.ALLOWED, audit.DENIED) else None,
        since_ms=_day_ms(q.get("since", ""), "since", tz),
        until_ms=int(before) if before.isdigit() else (until + 86_400_000 if until else None),
        limit=PAGE_SIZE,
        visible_to=scope,
    )


@page_route("/audit")
async def audit_trail(page: Page) -> Response:
    caller = page.access.caller
    scope = await page.run(iam_svc.audit_scope, page.ctx, caller)
    where = _filter(page, scope)
    events = await page.run(iam_svc.list_audit_events, page.ctx, where)
    tz = page.ctx.settings.tz
    rows = [
        (e, dt.datetime.fromtimestamp(e.at / 1000, tz).strftime("%Y-%m-%d %H:%M:%S"))
        for e in events
    ]
    older = events[-1].at if len(events) == PAGE_SIZE else None
    return page.render(
        "audit.html",
        section="audit",
        rows=rows,
        query=dict(page.request.query_params),
        older=older,
        everything=scope is None,
    )
