"""Nodes as released in one environment: GetNode, ListNodes, GetNodeCode, GetNodeParents,
GetNodeChildren.

A node exists in DEV after its file's submit and in PROD after its deploy (after the submit in
a BASIC workspace). Parents and children are the same-cycle edges of its workflow in that
environment, resolved by output name (`service/flows.py`).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import Env, FileType
from opcenter.errors import InvalidParameter, NotFound, not_found
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.flows import deployed_flow
from opcenter.service.lookup import check_paging, require_env, resolve_workspace
from opcenter.service.views import NodeView, Page
from opcenter.store.tables import FileVersion, Node, NodeRelease, Workflow, Workspace

__all__ = [
    "get_node",
    "get_node_children",
    "get_node_code",
    "get_node_parents",
    "list_nodes",
]

_Row = tuple[NodeRelease, FileVersion, Node]


def _view(release: NodeRelease, version: FileVersion, node: Node) -> NodeView:
    return NodeView(
        node_id=release.node_id,
        node_name=version.name,
        project_id=release.workspace_id,
        business_id=release.workflow_id,
        env=Env(release.env),
        file_id=release.file_id,
        file_version=version.version,
        file_type=version.file_type,
        scheduler_type=version.scheduler_type,
        para_value=version.para_value,
        priority=version.priority,
        owner=version.owner,
        description=version.description,
        rerun_mode=version.rerun_mode,
        auto_rerun_times=version.auto_rerun_times,
        auto_rerun_interval_millis=version.auto_rerun_interval_millis,
        timeout_hours=version.timeout_hours,
        output_list=tuple(json.loads(version.output_list)),
        input_list=tuple(json.loads(version.input_list)),
        created_at=node.created_at,
        deploy_date=release.released_at,
    )


def _select() -> sa.Select[_Row]:
    return (
        sa.select(NodeRelease, FileVersion, Node)
        .join(FileVersion, FileVersion.id == NodeRelease.version_id)
        .join(Node, Node.id == NodeRelease.node_id)
    )


def _released(session: Session, node_id: int, project_env: str | Env | None) -> _Row:
    """The node's release in `project_env`, after checking the env against its workspace."""
    node = session.get(Node, node_id)
    if node is None:
        raise not_found("NodeId", node_id)
    ws = session.get(Workspace, node.workspace_id)
    assert ws is not None  # a foreign key
    env = require_env(ws, project_env)
    row = session.execute(
        _select().where(NodeRelease.node_id == node_id, NodeRelease.env == env.value)
    ).first()
    if row is None:
        raise NotFound(
            "Node", f"The node NodeId={node_id} does not exist in ProjectEnv={env.value!r}."
        )
    return row.tuple()


def _views(session: Session, node_ids: list[int], env: str) -> tuple[NodeView, ...]:
    if not node_ids:
        return ()
    rows = session.execute(
        _select()
        .where(NodeRelease.node_id.in_(node_ids), NodeRelease.env == env)
        .order_by(NodeRelease.node_id)
    ).all()
    return tuple(_view(*row.tuple()) for row in rows)


def get_node(
    ctx: ServiceContext,
    *,
    node_id: int,
    project_env: str | Env,
    caller: Caller = Caller(),
) -> NodeView:
    """The node as released in `project_env` (DEV on a BASIC workspace → InvalidParameter)."""
    with ctx.db.transaction(readonly=True) as session:
        return _view(*_released(session, node_id, project_env))


def get_node_code(
    ctx: ServiceContext,
    *,
    node_id: int,
    project_env: str | Env,
    caller: Caller = Caller(),
) -> str:
    """The code the node runs in `project_env` (GetNodeCode `Data`)."""
    with ctx.db.transaction(readonly=True) as session:
        _, version, _ = _released(session, node_id, project_env)
        return version.content


def _relatives(
    ctx: ServiceContext, node_id: int, project_env: str | Env, up: bool
) -> tuple[NodeView, ...]:
    with ctx.db.transaction() as session:
        release, _, _ = _released(session, node_id, project_env)
        if release.workflow_id is None:
            return ()
        graph = deployed_flow(session, release.workflow_id, release.env)
        ids = graph.parents.get(node_id, []) if up else graph.children(node_id)
        return _views(session, sorted(ids), release.env)


def get_node_parents(
    ctx: ServiceContext,
    *,
    node_id: int,
    project_env: str | Env,
    caller: Caller = Caller(),
) -> tuple[NodeView, ...]:
    """The node's same-cycle upstream nodes in `project_env` (StepType 0), by node id."""
    return _relatives(ctx, node_id, project_env, up=True)


def get_node_children(
    ctx: ServiceContext,
    *,
    node_id: int,
    project_env: str | Env,
    caller: Caller = Caller(),
) -> tuple[NodeView, ...]:
    """The node's same-cycle downstream nodes in `project_env` (StepType 0), by node id."""
    return _relatives(ctx, node_id, project_env, up=False)


def _program_type_code(program_type: str) -> int:
    if program_type.isdigit():
        return int(program_type)
    try:
        return int(FileType[program_type.upper()])
    except KeyError:
        raise InvalidParameter(f"ProgramType={program_type!r} is not a known node type.") from None


def list_nodes(
    ctx: ServiceContext,
    *,
    project_env: str | Env,
    project_id: int | None = None,
    project_identifier: str | None = None,
    biz_name: str | None = None,
    node_name: str | None = None,
    owner: str | None = None,
    program_type: str | None = None,
    scheduler_type: str | None = None,
    page_number: int = 1,
    page_size: int = 10,
    caller: Caller = Caller(),
) -> Page[NodeView]:
    """Nodes released in `project_env`, by node id. `biz_name` is the workflow name (exact),
    `node_name` matches part of the name, `program_type` a type name or code."""
    offset, limit = check_paging(page_number, page_size)
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        env = require_env(ws, project_env)
        where: list[sa.ColumnElement[bool]] = [
            NodeRelease.workspace_id == ws.id,
            NodeRelease.env == env.value,
        ]
        if biz_name:
            where.append(
                NodeRelease.workflow_id.in_(
                    sa.select(Workflow.id).where(
                        Workflow.workspace_id == ws.id,
                        Workflow.name == biz_name,
                        Workflow.deleted_at.is_(None),
                    )
                )
            )
        if node_name:
            where.append(FileVersion.name.contains(node_name, autoescape=True))
        if owner:
            where.append(FileVersion.owner == owner)
        if program_type:
            where.append(FileVersion.file_type == _program_type_code(program_type))
        if scheduler_type:
            where.append(FileVersion.scheduler_type == scheduler_type)
        total = session.scalar(
            sa.select(sa.func.count())
            .select_from(NodeRelease)
            .join(FileVersion, FileVersion.id == NodeRelease.version_id)
            .where(*where)
        )
        rows = session.execute(
            _select().where(*where).order_by(NodeRelease.node_id).offset(offset).limit(limit)
        ).all()
        return Page(
            items=tuple(_view(*row.tuple()) for row in rows),
            page_number=page_number,
            page_size=page_size,
            total_count=total or 0,
        )
