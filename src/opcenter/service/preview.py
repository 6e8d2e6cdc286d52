"""The preview of a manual run: every node's TaskType and resolved parameters, per business
date, exactly as RunManualDagNodes would store them — without writing anything.

    preview_run(ctx, project_env=..., project_name=..., flow_name=..., biz_date=..., ...)

It takes RunManualDagNodes' arguments and goes down the run's own code path
(`runs.parse_run_request`, `runs.plan_run`, `runs.instance_params`), so it raises the same
errors (MissingParameter, InvalidParameter naming the parameter, NotFound) and shows the
values the run would store. Only the ids a run allocates are not known yet: `$jobid` and
`$taskid` stay as written (`$nodeid` is known).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from opcenter.domain.model import TaskType
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.runs import RunPlan, instance_params, parse_run_request, plan_run

__all__ = ["DatePreview", "NodePreview", "RunPreview", "preview_run"]


@dataclass(frozen=True)
class NodePreview:
    """One node of one business date: what its instance would hold."""

    node_id: int
    name: str
    file_type: int
    task_type: TaskType
    param_values: str
    named: dict[str, str]
    positional: tuple[str, ...]
    undefined: tuple[str, ...]


@dataclass(frozen=True)
class DatePreview:
    biz_date: dt.date
    nodes: tuple[NodePreview, ...]


@dataclass(frozen=True)
class RunPreview:
    """The Dags a run would create, one per business date, in date order."""

    flow_name: str
    env: str
    dates: tuple[DatePreview, ...]
    total_dates: int  # the run's dates; `dates` holds the first `max_dates` of them


def preview_run(
    ctx: ServiceContext,
    *,
    caller: Caller = Caller(),
    may_edit_code: bool = True,
    max_dates: int | None = None,
    **kw: Any,
) -> RunPreview:
    """What `runs.start_manual_run(ctx, **same arguments)` would create; writes nothing.
    `may_edit_code` restricts parameter values as it does for the run. `max_dates` limits the
    dates resolved (the first ones; a long range's values differ by date only); the whole call
    is checked either way."""
    request = parse_run_request(ctx, may_edit_code=may_edit_code, **kw)
    with ctx.db.transaction(readonly=True) as session:
        plan = plan_run(session, request)
        flow_name, env = plan.wf.name, plan.env.value
    dates = tuple(
        DatePreview(day, tuple(_node(plan, node_id, day) for node_id in sorted(plan.graph.nodes)))
        for day in request.dates[:max_dates]
    )
    return RunPreview(flow_name, env, dates, len(request.dates))


def _node(plan: RunPlan, node_id: int, day: dt.date) -> NodePreview:
    node = plan.graph.nodes[node_id]
    resolved = instance_params(plan.params[node_id], day, node_id)
    return NodePreview(
        node_id=node_id,
        name=node.name,
        file_type=node.file_type,
        task_type=plan.types[node_id],
        param_values=resolved.to_param_values(),
        named=dict(resolved.named),
        positional=tuple(resolved.positional),
        undefined=tuple(resolved.undefined),
    )
