"""The manual workflows of a workspace as deployed in one environment: what the page's
Workflows section lists and draws.

    list_manual_flows(ctx, project_identifier="ws", project_env="PROD") -> [ManualFlowSummary]
    manual_flow(ctx, project_identifier="ws", project_env="PROD", flow_name="f") -> ManualFlow

A workflow's deployed form is the one a run uses (`flows.deployed_flow` with the deleted files
left out): each node with the version it runs in that environment and its same-cycle parents.
Only manually triggered workflows (UseType MANUAL_BIZ) are listed; files of a workflow that have
no version in the environment are named in `undeployed` (a run refuses such a workflow).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import FileType, UseType
from opcenter.errors import NotFound
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.flows import FlowGraph, deployed_flow, keep_files
from opcenter.service.lookup import require_env, resolve_workspace
from opcenter.store.tables import File, FileVersion, NodeRelease, Workflow, Workspace

__all__ = [
    "FlowNode",
    "ManualFlow",
    "ManualFlowSummary",
    "list_manual_flows",
    "manual_flow",
    "type_name",
]


def type_name(file_type: int) -> str:
    """The node type's name (`DIDE_SHELL`, `ODPS_SQL` …), or its code for a type opcenter
    does not run."""
    try:
        return FileType(file_type).name
    except ValueError:
        return str(file_type)


@dataclass(frozen=True)
class ManualFlowSummary:
    business_id: int
    name: str
    description: str
    owner: str
    node_count: int
    types: tuple[tuple[str, int], ...]  # (type name, nodes of that type), by name
    undeployed: tuple[str, ...]


@dataclass(frozen=True)
class FlowNode:
    node_id: int
    name: str
    file_type: int
    type_name: str
    version: int
    para_value: str
    parents: tuple[int, ...]
    offline: bool
    owner: str
    description: str


@dataclass(frozen=True)
class ManualFlow:
    business_id: int
    name: str
    description: str
    owner: str
    parameters: str  # the workflow parameters with their defaults (`k=v k2=v2`)
    env: str
    nodes: tuple[FlowNode, ...]  # by node id
    undeployed: tuple[str, ...]

    @property
    def edges(self) -> list[tuple[int, int]]:
        """(parent, child) node ids."""
        return [(p, n.node_id) for n in self.nodes for p in n.parents]


def _live_files(session: Session, workflow_ids: list[int]) -> dict[int, dict[int, str]]:
    """workflow id → {file id: name} of its files not deleted."""
    rows = session.execute(
        sa.select(File.workflow_id, File.id, File.name).where(
            File.workflow_id.in_(workflow_ids), File.deleted_at.is_(None)
        )
    ).all()
    out: dict[int, dict[int, str]] = {w: {} for w in workflow_ids}
    for row in rows:
        out[row.workflow_id][row.id] = row.name
    return out


def _manual(session: Session, ws: Workspace) -> list[Workflow]:
    return list(
        session.scalars(
            sa.select(Workflow)
            .where(
                Workflow.workspace_id == ws.id,
                Workflow.deleted_at.is_(None),
                Workflow.use_type == UseType.MANUAL_BIZ.value,
            )
            .order_by(Workflow.name)
        )
    )


def list_manual_flows(
    ctx: ServiceContext, *, project_identifier: str, project_env: str, caller: Caller = Caller()
) -> list[ManualFlowSummary]:
    """The workspace's live MANUAL_BIZ workflows by name, with their nodes deployed in
    `project_env` (count, types). Raises NotFound (workspace), InvalidParameter (env)."""
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(session, project_identifier=project_identifier)
        env = require_env(ws, project_env).value
        flows = _manual(session, ws)
        files = _live_files(session, [wf.id for wf in flows])
        released = session.execute(
            sa.select(NodeRelease.workflow_id, NodeRelease.file_id, FileVersion.file_type)
            .join(FileVersion, FileVersion.id == NodeRelease.version_id)
            .where(NodeRelease.workspace_id == ws.id, NodeRelease.env == env)
        ).all()
        by_flow: dict[int, list[Any]] = {}
        for row in released:
            by_flow.setdefault(row.workflow_id, []).append(row)
        out = []
        for wf in flows:
            live = files[wf.id]
            mine = [r for r in by_flow.get(wf.id, ()) if r.file_id in live]
            types = Counter(type_name(r.file_type) for r in mine)
            done = {r.file_id for r in mine}
            out.append(
                ManualFlowSummary(
                    business_id=wf.id,
                    name=wf.name,
                    description=wf.description or "",
                    owner=wf.owner or "",
                    node_count=len(mine),
                    types=tuple(sorted(types.items())),
                    undeployed=tuple(sorted(n for f, n in live.items() if f not in done)),
                )
            )
        return out


def manual_flow(
    ctx: ServiceContext,
    *,
    project_identifier: str,
    project_env: str,
    flow_name: str,
    caller: Caller = Caller(),
) -> ManualFlow:
    """One MANUAL_BIZ workflow as deployed in `project_env`. An unknown name (or a workflow
    that is not manual) → NotFound("Flow")."""
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(session, project_identifier=project_identifier)
        env = require_env(ws, project_env).value
        wf = next((w for w in _manual(session, ws) if w.name == flow_name), None)
        if wf is None:
            raise NotFound(
                "Flow",
                f"The workflow FlowName={flow_name!r} does not exist in {ws.identifier!r}.",
            )
        live = _live_files(session, [wf.id])[wf.id]
        graph = keep_files(deployed_flow(session, wf.id, env), set(live))
        deployed = {n.file_id for n in graph.nodes.values()}
        return ManualFlow(
            business_id=wf.id,
            name=wf.name,
            description=wf.description or "",
            owner=wf.owner or "",
            parameters=wf.parameters or "",
            env=env,
            nodes=_nodes(session, wf.id, env, graph),
            undeployed=tuple(sorted(n for f, n in live.items() if f not in deployed)),
        )


def _nodes(session: Session, workflow_id: int, env: str, graph: FlowGraph) -> tuple[FlowNode, ...]:
    """The nodes of `graph` by id, with their version numbers and whether they are offline."""
    versions = dict(
        session.execute(
            sa.select(FileVersion.id, FileVersion.version).where(
                FileVersion.id.in_([n.version_id for n in graph.nodes.values()])
            )
        ).all()
    )
    offline = set(
        session.scalars(
            sa.select(NodeRelease.node_id).where(
                NodeRelease.workflow_id == workflow_id,
                NodeRelease.env == env,
                NodeRelease.offline_at.is_not(None),
            )
        )
    )
    return tuple(
        FlowNode(
            node_id=n.node_id,
            name=n.name,
            file_type=n.file_type,
            type_name=type_name(n.file_type),
            version=int(versions.get(n.version_id, 0)),
            para_value=n.para_value or "",
            parents=tuple(graph.parents.get(n.node_id, ())),
            offline=n.node_id in offline,
            owner=n.owner or "",
            description=n.description or "",
        )
        for n in sorted(graph.nodes.values(), key=lambda n: n.node_id)
    )
