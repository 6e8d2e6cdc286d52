"""Alerts: the custom alert rules and the alert messages they raised; enabling and disabling a
rule.

    GET  /alerts?workspace=&page=                                  ListReminds
    GET  /alerts/messages?workspace=&rule=&since=&until=&page=     ListAlertMessages
    POST /alerts/{remind_id}/enable, /alerts/{remind_id}/disable   UpdateRemind (UseFlag)

The lists are decided as the API decides the operations they stand for (the RAM action on `*`: they
name no workspace) and list only what lies in the workspaces the user may see
(`service.reminds`, with the user as caller); the workspace filter offers those workspaces, and
naming another answers as a workspace that does not exist. Messages are listed newest first,
each with the state of every delivery and a link to the Dag page of the run it concerns; the
period is the days `since` to `until` (both included, the store's time zone), by default the
last week. Enabling or disabling a rule is UpdateRemind on the rule's workspace, decided (and
audited) as that API call; a user it would refuse sees the button disabled with the reason.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from math import ceil
from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from opcenter.console.web import PREFIX, Page, page_route
from opcenter.errors import InvalidParameter, NotFound
from opcenter.service import reminds, workspaces
from opcenter.service.reminds import AlertMessageView, RemindView
from opcenter.service.views import ProjectView

PAGE_SIZE = 20
DEFAULT_DAYS = 7  # the messages of the last week, when no period is given
# How a status is drawn: the Dag states' marks (console.css) for the alert states.
MARKS = {
    "SEND_SUCCESS": "SUCCESS",
    "SENT": "SUCCESS",
    "SEND_FAIL": "FAILURE",
    "FAILED": "FAILURE",
    "READY_TO_SEND": "NOT_RUN",
    "PENDING": "NOT_RUN",
}


@dataclass(frozen=True)
class Filters:
    """The query string of a list, as typed."""

    workspace: str = ""
    rule: str = ""
    since: str = ""
    until: str = ""
    page: int = 1

    @classmethod
    def read(cls, query: Any) -> Filters:
        number = query.get("page", "1")
        return cls(
            workspace=query.get("workspace", "").strip(),
            rule=query.get("rule", "").strip(),
            since=query.get("since", "").strip(),
            until=query.get("until", "").strip(),
            page=int(number) if number.isdigit() and int(number) > 0 else 1,
        )

    def query(self, **change: Any) -> str:
        """The query string of these filters with `change` (e.g. another page)."""
        values = replace(self, **change)
        pairs = {
            "workspace": values.workspace,
            "rule": values.rule,
            "since": values.since,
            "until": values.until,
            "page": str(values.page) if values.page > 1 else "",
        }
        return urlencode({k: v for k, v in pairs.items() if v})


def _visible(page: Page) -> list[ProjectView]:
    """The workspaces the user may see, in id order."""
    found: list[ProjectView] = []
    number = 1
    while True:
        listed = workspaces.list_projects(
            page.ctx, page_number=number, page_size=100, caller=page.access.caller
        )
        found.extend(listed.items)
        if number * 100 >= listed.total_count:
            return found
        number += 1


def _workspace_id(filters: Filters, visible: list[ProjectView]) -> int | None:
    """The id of the workspace filter; one the user may not see does not exist for it."""
    if not filters.workspace:
        return None
    for project in visible:
        if project.project_identifier == filters.workspace:
            return project.project_id
    raise NotFound("Project", f"The workspace {filters.workspace!r} does not exist.")


def _clock(page: Page) -> Any:
    tz = page.ctx.settings.tz
    return lambda ms: (
        dt.datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M:%S") if ms else ""
    )


def _condition(rule: RemindView) -> str:
    """`1800` → `1800 s`; `{"hour":23,"minu":59}` → `23:59`; empty for ERROR and FINISHED."""
    if rule.remind_type == "TIMEOUT" and rule.detail:
        return f"{rule.detail} s"
    if rule.remind_type == "UNFINISHED" and rule.detail:
        at = json.loads(rule.detail)
        return f"{at['hour']:02d}:{at['minu']:02d}"
    return ""


@page_route("/alerts")
async def rule_list(page: Page) -> Response:
    page.access.check("ListReminds", None)
    filters = Filters.read(page.request.query_params)
    visible = await page.run(_visible, page)
    project_id = _workspace_id(filters, visible)
    found = await page.run(
        reminds.list_reminds,
        page.ctx,
        page_number=filters.page,
        page_size=PAGE_SIZE,
        project_id=project_id,
        caller=page.access.caller,
    )
    names = {p.project_id: p.project_identifier for p in visible}
    # Why the user may not enable or disable the rules of each workspace listed (None: may).
    denied = {
        w: page.access.denial("UpdateRemind", names.get(w))
        for w in {r.project_id for r in found.items}
    }
    return page.render(
        "alerts.html",
        section="alerts",
        filters=filters,
        workspaces=[p.project_identifier for p in visible],
        names=names,
        rules=found.items,
        denied=denied,
        back=page.request.url.path
        + (f"?{page.request.url.query}" if page.request.url.query else ""),
        total=found.total_count,
        pages=max(1, ceil(found.total_count / PAGE_SIZE)),
        condition=_condition,
        when=_clock(page),
    )


def _day(value: str, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(f"{name}={value!r} is not a date (yyyy-mm-dd).") from None


def _utc(day: dt.date, tz: dt.tzinfo, *, end: bool = False) -> str:
    moment = dt.datetime.combine(day, dt.time(23, 59, 59) if end else dt.time(), tz)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _messages(page: Page, filters: Filters, project_id: int | None) -> Any:
    tz = page.ctx.settings.tz
    today = dt.datetime.now(tz).date()
    until = _day(filters.until, "until") or today
    since = _day(filters.since, "since") or until - dt.timedelta(days=DEFAULT_DAYS - 1)
    rule = filters.rule
    if rule and not (rule.isascii() and rule.isdigit()):
        raise InvalidParameter(f"rule={rule!r} is not a RemindId.")
    return reminds.list_alert_messages(
        page.ctx,
        begin_time=_utc(since, tz),
        end_time=_utc(until, tz, end=True),
        page_number=filters.page,
        page_size=PAGE_SIZE,
        remind_id=int(rule) if rule else None,
        project_id=project_id,
        caller=page.access.caller,
    )


@page_route("/alerts/messages")
async def message_list(page: Page) -> Response:
    page.access.check("ListAlertMessages", None)
    filters = Filters.read(page.request.query_params)
    visible = await page.run(_visible, page)
    project_id = _workspace_id(filters, visible)
    found = await page.run(_messages, page, filters, project_id)
    items: tuple[AlertMessageView, ...] = found.items
    return page.render(
        "alert_messages.html",
        section="alerts",
        filters=filters,
        workspaces=[p.project_identifier for p in visible],
        names={p.project_id: p.project_identifier for p in visible},
        messages=items,
        total=found.total_count,
        pages=max(1, ceil(found.total_count / PAGE_SIZE)),
        marks=MARKS,
        when=_clock(page),
    )


def _back(target: str) -> str:
    """Where to return after a change: the rules list it was made from, never another site."""
    if target.startswith(PREFIX + "/alerts") and "//" not in target:
        return target
    return PREFIX + "/alerts"


async def _set_enabled(page: Page, enabled: bool) -> Response:
    remind_id = int(page.request.path_params["remind_id"])
    ws = await page.run(reminds.workspace_of_remind, page.ctx, remind_id)
    page.access.check("UpdateRemind", ws.identifier)
    await page.run(reminds.update_remind, page.ctx, remind_id=remind_id, use_flag=enabled)
    form = await page.form()
    return RedirectResponse(_back(form.get("next", "")), status_code=303)


@page_route("/alerts/{remind_id:int}/enable", methods=("POST",))
async def enable_rule(page: Page) -> Response:
    return await _set_enabled(page, True)


@page_route("/alerts/{remind_id:int}/disable", methods=("POST",))
async def disable_rule(page: Page) -> Response:
    return await _set_enabled(page, False)
