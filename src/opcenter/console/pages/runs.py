"""Runs: the Dags of a workspace environment, newest run first, filtered and paged.

    GET /w/{ws}/{env}/runs?workflow=&date=&from=&to=&status=&user=&page=     ListDags

Filters: workflow name, one business date or a range (both ends inclusive), Dag status and
operator (the run's CreateUser). The Dags of one run (one RunManualDagNodes call, its OpSeq)
are shown together under one heading; a failed Dag's row stands out (row class and icon). Each
Dag links to its page, `/console/dags/<DagId>`. The query is `runs.find_dags`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from itertools import groupby
from math import ceil
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from opcenter.console.web import Page, page_route
from opcenter.domain.model import DagStatus
from opcenter.errors import InvalidParameter, OpcenterError
from opcenter.service import manual_flows, runs
from opcenter.service.run_views import DagView

PAGE_SIZE = 20  # Dags per page


@dataclass(frozen=True)
class Filters:
    """The query string of the list, as typed."""

    workflow: str = ""
    date: str = ""
    start: str = ""
    end: str = ""
    status: str = ""
    user: str = ""
    page: int = 1

    @classmethod
    def read(cls, query: Any) -> Filters:
        number = query.get("page", "1")
        return cls(
            workflow=query.get("workflow", "").strip(),
            date=query.get("date", "").strip(),
            start=query.get("from", "").strip(),
            end=query.get("to", "").strip(),
            status=query.get("status", "").strip(),
            user=query.get("user", "").strip(),
            page=int(number) if number.isdigit() and int(number) > 0 else 1,
        )

    def query(self, **change: Any) -> str:
        """The query string of these filters with `change` (e.g. another page)."""
        values = replace(self, **change)
        pairs = {
            "workflow": values.workflow,
            "date": values.date,
            "from": values.start,
            "to": values.end,
            "status": values.status,
            "user": values.user,
            "page": str(values.page) if values.page > 1 else "",
        }
        return urlencode({k: v for k, v in pairs.items() if v})


class BadFilter(InvalidParameter):
    """Raised when a filter of the list is not a date; `field` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _day(value: str, field: str, message: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadFilter(message, field) from None


@dataclass(frozen=True)
class RunGroup:
    """The Dags of one run shown on this page, in date order."""

    op_seq: int
    dags: tuple[DagView, ...]

    @property
    def failed(self) -> int:
        return sum(d.status is DagStatus.FAILURE for d in self.dags)


def group_runs(dags: tuple[DagView, ...]) -> list[RunGroup]:
    """Consecutive Dags of one run (find_dags orders by run, then date) as one group."""
    return [RunGroup(op_seq, tuple(items)) for op_seq, items in groupby(dags, lambda d: d.op_seq)]


def _search(page: Page, ws: str, env: str, filters: Filters) -> Any:
    message = page.t("runs.bad_date")
    return runs.find_dags(
        page.ctx,
        project_env=env,
        project_identifier=ws,
        workflow=filters.workflow or None,
        biz_date=_day(filters.date, "date", message),
        begin_biz_date=_day(filters.start, "from", message),
        end_biz_date=_day(filters.end, "to", message),
        status=filters.status or None,
        create_user=filters.user or None,
        page_number=filters.page,
        page_size=PAGE_SIZE,
    )


def _field(error: OpcenterError) -> str | None:
    if isinstance(error, BadFilter):
        return error.field
    return "status" if error.message.startswith("Status=") else None


@page_route("/w/{ws}/{env}/runs")
async def run_list(page: Page) -> Response:
    ws, env = page.request.path_params["ws"], page.request.path_params["env"]
    page.access.check("ListDags", ws, env)
    filters = Filters.read(page.request.query_params)
    flows = await page.run(
        manual_flows.list_manual_flows, page.ctx, project_identifier=ws, project_env=env
    )
    found, field_error = None, {}
    try:
        found = await page.run(_search, page, ws, env, filters)
    except OpcenterError as refused:
        where = _field(refused)
        if where is None:
            raise
        field_error = {where: refused.message}
    tz = page.ctx.settings.tz
    return page.render(
        "runs.html",
        status=200 if found is not None else 400,
        ws=ws,
        env=env,
        section="runs",
        filters=filters,
        flows=[f.name for f in flows],
        statuses=[s.value for s in DagStatus],
        groups=group_runs(found.items) if found else [],
        total=found.total_count if found else 0,
        pages=max(1, ceil((found.total_count if found else 0) / PAGE_SIZE)),
        field_error=field_error,
        when=lambda ms: (
            dt.datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M:%S") if ms else ""
        ),
    )
