"""Rerunning an instance with the latest deployed version of its node (`UseLatestConfig`).

An instance runs the file version its node had in its environment when the run was created, with
the parameters resolved then; a plain RestartInstance runs exactly that again. Rerun with the
latest version (`RestartInstance … UseLatestConfig=true`, `opcenter instance rerun --latest`)
takes the node's configuration as released now — its code and parameter definitions
(`ParaValue`), and its settings (timeout, RerunMode, AutoRerunTimes and interval, priority) —
and re-resolves the parameters the way the run did, keeping what belongs to the run:

    the workflow's parameters, overridden by the run's DagParameters
        > the run's NodeParameters for this node
        > the ParaValue of the latest version

evaluated for the instance's business date and ids (`$bizdate`, `$jobid`, `$taskid` … are the
same as before). The Dag's shape does not change: a dependency the new version adds or drops
applies to later runs. The instance records the version it now runs (`version_id`), and the
next attempt's log header names it.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.params import (
    EvalContext,
    merge_params,
    parse_params,
    resolve_params,
    validate_params,
    validate_workflow_params,
)
from opcenter.domain.planning import cyctime_of, parse_json_object, timeout_seconds
from opcenter.engine.dispatch import encode_resolved
from opcenter.errors import Conflict
from opcenter.service.context import ServiceContext
from opcenter.store.tables import Dag, FileVersion, Instance, NodeRelease, Run, Workflow

__all__ = ["latest_config", "released_in", "released_version", "version_label"]


def _released(session: Session, node_id: int, env: str) -> FileVersion | None:
    """The version the node runs in `env` now (None when it is not deployed there)."""
    return session.scalar(
        sa.select(FileVersion)
        .join(NodeRelease, NodeRelease.version_id == FileVersion.id)
        .where(
            NodeRelease.node_id == node_id,
            NodeRelease.env == env,
            NodeRelease.offline_at.is_(None),
        )
    )


def released_in(session: Session, node_id: int, env: str) -> FileVersion | None:
    """The version the node runs in `env` now, in the caller's transaction (None: not
    deployed there)."""
    return _released(session, node_id, env)


def released_version(ctx: ServiceContext, node_id: int, env: str) -> int | None:
    """The FileVersionId the node runs in `env` now, None when it is not deployed there."""
    with ctx.db.transaction(readonly=True) as session:
        version = _released(session, node_id, env)
        return None if version is None else version.id


def latest_config(session: Session, inst: Instance) -> dict[str, Any]:
    """The instance columns a rerun with the latest deployed version changes (see the module).
    `Invalid.Instance.Status` (409) when the node has no version released in the instance's
    environment any more."""
    version = _released(session, inst.node_id, inst.env)
    if version is None:
        raise Conflict(
            "Instance",
            f"RestartInstance with UseLatestConfig: the node NodeId={inst.node_id} of "
            f"InstanceId={inst.id} has no version deployed in {inst.env}.",
        )
    dag = session.get(Dag, inst.dag_id)
    assert dag is not None
    run = session.get(Run, dag.run_id)
    workflow = session.get(Workflow, inst.workflow_id)
    defaults = (workflow.parameters if workflow is not None else "") or ""
    workflow_params: dict[str, str] = dict(parse_params(defaults).named)
    if run is not None:
        workflow_params.update(
            validate_workflow_params(parse_json_object(run.dag_parameters, "DagParameters"))
        )
    override = _node_override(run, inst.node_id)
    merged = merge_params(parse_params(version.para_value or ""), override, workflow_params)
    context = EvalContext(
        bizdate=dag.biz_date,
        cyctime=cyctime_of(dag.biz_date),
        node_id=inst.node_id,
        dag_id=inst.dag_id,
        instance_id=inst.id,
    )
    resolved = resolve_params(merged, context)
    return {
        "version_id": version.id,
        "node_name": version.name,
        "file_type": version.file_type,
        "param_values": resolved.to_param_values(),
        "resolved_params": encode_resolved(resolved),
        "timeout_seconds": timeout_seconds(version.timeout_hours),
        "rerun_mode": version.rerun_mode or "ALL_ALLOWED",
        "priority": version.priority,
        "auto_rerun_left": max(0, version.auto_rerun_times),
        "auto_rerun_interval_millis": max(0, version.auto_rerun_interval_millis),
    }


def _node_override(run: Run | None, node_id: int) -> Any:
    """The run's NodeParameters for this node (validated when the run was created)."""
    if run is None or not run.node_parameters:
        return None
    try:
        by_node = json.loads(run.node_parameters)
    except ValueError:
        return None
    if not isinstance(by_node, dict):
        return None
    for key, text in by_node.items():
        if str(key).strip() == str(node_id) and isinstance(text, str):
            return validate_params(text)
    return None


def version_label(ctx: ServiceContext, version_id: int) -> str:
    """`version 2 of file load (FileVersionId 17)`, for messages."""
    with ctx.db.transaction(readonly=True) as session:
        row = session.execute(
            sa.select(FileVersion.name, FileVersion.version).where(FileVersion.id == version_id)
        ).first()
    if row is None:
        return f"FileVersionId {version_id}"
    return f"version {row.version} of file {row.name} (FileVersionId {version_id})"
