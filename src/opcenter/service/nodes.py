"""Nodes as released in one environment: GetNode, ListNodes, GetNodeCode, GetNodeParents,
GetNodeChildren, ListNodeIO / ListNodeInputOrOutput, OfflineNode, UpdateNodeOwner.

A node exists in DEV after its file's submit and in PROD after its deploy (after the submit in
a BASIC workspace). Parents and children are the same-cycle edges of its workflow in that
environment, resolved by output name (`service/flows.py`); ListNodeIO names the output on each
edge.

A node taken **offline** in an environment (OfflineNode) stays there and is shown with
SchedulerType `SKIP`: every new run of its workflow there makes its instance a dry run (it
succeeds without running its code, so its descendants still run), and a run that names it in
IncludeNodeIds is refused. Instances created before keep what they were. Releasing a version
again (SubmitFile for DEV, DeployFile for PROD) brings it back online.

A node has one **owner**, its file's: UpdateNodeOwner sets the owner of the file's draft and of
every version of it, so both environments show it and the next submit keeps it. Instances
already created keep the owner they were created with.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import DeploymentStatus, Env, FileType, WorkspaceMode
from opcenter.errors import InvalidParameter, MissingParameter, NotFound, not_found
from opcenter.iam import principals
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.flows import deployed_flow
from opcenter.service.lookup import check_paging, require_env, resolve_workspace
from opcenter.service.views import NodeIOView, NodeView, Page
from opcenter.store.tables import (
    Deployment,
    File,
    FileVersion,
    Node,
    NodeRelease,
    Workflow,
    Workspace,
)

__all__ = [
    "IO_TYPES",
    "OFFLINE_SCHEDULER_TYPE",
    "get_node",
    "get_node_children",
    "get_node_code",
    "get_node_parents",
    "list_node_io",
    "list_nodes",
    "offline_node",
    "update_node_owner",
]

IO_TYPES = ("input", "output")
OFFLINE_SCHEDULER_TYPE = "SKIP"  # how an offline node shows: a dry-run node
ROOT_OWNER = "root"  # the owner name of what the account (root) creates

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
        scheduler_type=(
            OFFLINE_SCHEDULER_TYPE if release.offline_at is not None else version.scheduler_type
        ),
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
        offline_at=release.offline_at,
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
    `node_name` matches part of the name, `program_type` a type name or code, `scheduler_type`
    the SchedulerType shown (`SKIP` matches the offline nodes too)."""
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
        if scheduler_type == OFFLINE_SCHEDULER_TYPE:
            where.append(
                sa.or_(
                    NodeRelease.offline_at.is_not(None),
                    FileVersion.scheduler_type == scheduler_type,
                )
            )
        elif scheduler_type:
            where.append(FileVersion.scheduler_type == scheduler_type)
            where.append(NodeRelease.offline_at.is_(None))
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


# -- inputs and outputs ---------------------------------------------------------------------------


def _io_type(io_type: str | None) -> str:
    if io_type is None or not io_type.strip():
        raise MissingParameter("IoType")
    kind = io_type.strip().lower()
    if kind not in IO_TYPES:
        raise InvalidParameter(f"IoType={io_type!r} is not one of {', '.join(IO_TYPES)}.")
    return kind


def list_node_io(
    ctx: ServiceContext,
    *,
    node_id: int,
    project_env: str | Env,
    io_type: str | None,
    caller: Caller = Caller(),
) -> tuple[NodeIOView, ...]:
    """ListNodeIO / ListNodeInputOrOutput: the inputs (`io_type` "input") or the outputs
    ("output") of the version the node runs in `project_env`, one level deep.

    An input is listed with the node of the workflow that produces it there (None for the
    workspace root). An output is listed once per node of the workflow that consumes it there,
    by node id, or once with None when none does. Both in the version's own order."""
    kind = _io_type(io_type)
    with ctx.db.transaction(readonly=True) as session:
        release, version, _ = _released(session, node_id, project_env)
        graph = (
            deployed_flow(session, release.workflow_id, release.env)
            if release.workflow_id is not None
            else None
        )
    others = {n: v for n, v in (graph.nodes.items() if graph else ()) if n != node_id}
    if kind == "input":
        producer = {out: n for n, v in others.items() for out in v.outputs}
        return tuple(
            NodeIOView(name, producer.get(name)) for name in json.loads(version.input_list)
        )
    items: list[NodeIOView] = []
    for name in json.loads(version.output_list):
        consumers = sorted(n for n, v in others.items() if name in v.inputs)
        items.extend(NodeIOView(name, n) for n in consumers or [None])
    return tuple(items)


# -- offline and owner ----------------------------------------------------------------------------


def offline_node(
    ctx: ServiceContext,
    *,
    node_id: int,
    project_id: int | None = None,
    project_identifier: str | None = None,
    project_env: str | Env = Env.PROD,
    caller: Caller = Caller(),
) -> bool:
    """OfflineNode: take the node of the workspace offline in `project_env` (PROD unless told);
    with no workspace named, the node's own.

    A deployment `offline <name> vN` records who did it and when. Taking an offline node
    offline again changes nothing. A node of another workspace → NotFound, as an unknown one."""
    with ctx.db.transaction() as session:
        node = session.get(Node, node_id)
        if node is None:
            raise not_found("NodeId", node_id)
        if project_id is None and not project_identifier:
            ws = session.get(Workspace, node.workspace_id)
            assert ws is not None  # a foreign key
        else:
            ws = resolve_workspace(
                session, project_id=project_id, project_identifier=project_identifier
            )
            if node.workspace_id != ws.id:
                raise not_found("NodeId", node_id)
        release, version, _ = _released(session, node_id, project_env)
        if release.offline_at is not None:
            return True
        now = ctx.clock()
        release.offline_at = now
        basic = ws.mode == WorkspaceMode.BASIC.value
        session.add(
            Deployment(
                workspace_id=ws.id,
                file_id=release.file_id,
                version_id=version.id,
                node_id=node_id,
                name=f"offline {version.name} v{version.version}",
                from_env="DEV" if release.env == Env.PROD.value and not basic else "LOCAL",
                to_env=release.env,
                status=int(DeploymentStatus.SUCCESS),
                error_message="",
                creator=caller.name,
                created_at=now,
                executed_at=now,
            )
        )
        session.flush()
    return True


def _owner_name(ctx: ServiceContext, session: Session, user_id: str | None) -> str:
    """The owner name of a UserId: `root` for the account (its id or `root`), the RAM user's
    name for its uid or name."""
    if user_id is None or not user_id.strip():
        raise MissingParameter("UserId")
    if user_id in (ctx.settings.account_id, ROOT_OWNER):
        return ROOT_OWNER
    user = principals.find_user(session, user_id)
    if user is None:
        raise NotFound("User", f"UserId={user_id!r} is neither the account nor a RAM user.")
    return user.name


def update_node_owner(
    ctx: ServiceContext,
    *,
    node_id: int,
    project_env: str | Env,
    user_id: str | None,
    caller: Caller = Caller(),
) -> bool:
    """UpdateNodeOwner: the node (released in `project_env`) gets the owner `user_id` (the
    account id, or a RAM user's uid or name): its file's draft and every version of it."""
    with ctx.db.transaction() as session:
        release, _, _ = _released(session, node_id, project_env)
        owner = _owner_name(ctx, session, user_id)
        session.execute(sa.update(File).where(File.id == release.file_id).values(owner=owner))
        session.execute(
            sa.update(FileVersion).where(FileVersion.file_id == release.file_id).values(owner=owner)
        )
    return True
