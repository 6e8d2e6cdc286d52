"""The commit/deploy lifecycle: SubmitFile, DeployFile, GetDeployment, ListDeployments.

SubmitFile snapshots the draft as an immutable `FileVersion` (the file gets its `NodeId` at its
first submit) and releases it to DEV — to PROD in a BASIC workspace, which has no DEV.
DeployFile releases the latest submitted version to PROD. Each publication is recorded as a
`Deployment` (status SUCCESS: publication is synchronous here). Submitting an unchanged draft,
or deploying a version PROD already runs, changes nothing and returns the deployment that
published it, so applying the same definition twice is a no-op.

Checked at submit, before anything is written: the FileType must be runnable; every input must
be the workspace root (`<identifier>_root`) or an output of a file of the same workflow; and the
file's new version together with the other files' latest versions must not form a cycle.
Deploying checks the same for PROD (the released versions with this file's new one).

ListDeployments is the workspace's publication history: every submit, deploy and the removal
of a deleted file's node, newest first. opcenter runs no deployment checkers (DataWorks' code
reviews and checks before a package goes to PROD), so nothing is ever being checked or has
failed a check: GetDeployment's `CheckingStatus` is empty, which is DataWorks' value for "no
check holds this package back".
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.graph import find_cycle, parents_by_output
from opcenter.domain.model import (
    RUNNABLE_FILE_TYPES,
    DeploymentStatus,
    Env,
    FileType,
    WorkspaceMode,
)
from opcenter.errors import Conflict, InvalidParameter, MissingParameter, NotFound
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.files import VERSIONED_FIELDS, latest_version, matches_draft
from opcenter.service.flows import deployed_flow, root_output
from opcenter.service.lookup import check_paging, resolve_file, resolve_workspace
from opcenter.service.views import DeploymentView, Page
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
    "DEPLOYMENT_STATUSES",
    "deploy_file",
    "deployment_view",
    "get_deployment",
    "list_deployments",
    "submit_file",
]

# ListDeployments `Status`: 0 ready, 1 deployed, 2 failed, 6 rejected (DataWorks' codes).
DEPLOYMENT_STATUSES = (0, 1, 2, 6)


def deployment_view(dep: Deployment, version: FileVersion) -> DeploymentView:
    return DeploymentView(
        deployment_id=dep.id,
        name=dep.name,
        project_id=dep.workspace_id,
        file_id=dep.file_id,
        node_id=dep.node_id,
        file_version=version.version,
        from_env=dep.from_env,
        to_env=dep.to_env,
        status=DeploymentStatus(dep.status),
        error_message=dep.error_message,
        creator=dep.creator,
        created_at=dep.created_at,
        executed_at=dep.executed_at,
    )


def _runnable_types() -> str:
    return ", ".join(f"{int(t)} ({t.name})" for t in sorted(FileType))


def _check_file_type(file: File) -> None:
    if file.file_type not in RUNNABLE_FILE_TYPES:
        raise InvalidParameter(
            f"FileType={file.file_type} of file {file.name!r} is not supported for running; "
            f"supported types: {_runnable_types()}."
        )


def _workflow_of(session: Session, file: File) -> Workflow:
    wf = session.get(Workflow, file.workflow_id) if file.workflow_id else None
    if wf is None or wf.deleted_at is not None:
        raise NotFound("Business", f"The workflow of file {file.name!r} does not exist.")
    return wf


def _check_inputs(session: Session, ws: Workspace, wf: Workflow, file: File) -> None:
    """Every input is the root or an output of a (draft) file of the same workflow."""
    produced = {root_output(ws.identifier)}
    for outputs in session.scalars(
        sa.select(File.output_list).where(File.workflow_id == wf.id, File.deleted_at.is_(None))
    ):
        produced.update(json.loads(outputs))
    for name in json.loads(file.input_list):
        if name not in produced:
            raise InvalidParameter(
                f"InputList entry {name!r} of file {file.name!r} is not the output of any "
                f"file in workflow {wf.name!r} (nor the root {root_output(ws.identifier)!r})."
            )


def _cycle_error(
    row: File | FileVersion, others: dict[str, tuple[list[str], list[str]]], action: str
) -> InvalidParameter | None:
    """The error for a cycle made by `row` (a draft or a version) among `others`, if any."""
    nodes = dict(others)
    nodes[row.name] = (json.loads(row.output_list), json.loads(row.input_list))
    cycle = find_cycle(parents_by_output(nodes))
    if not cycle:
        return None
    return InvalidParameter(
        f"{action} file {row.name!r} would make a dependency cycle: {' -> '.join(cycle)}."
    )


def _latest_of_others(
    session: Session, wf: Workflow, file: File
) -> dict[str, tuple[list[str], list[str]]]:
    """(outputs, inputs) of the latest submitted version of each other file of the workflow.

    One query for the whole workflow: submitting the n-th file of a workflow must not cost n
    queries (applying a 200-node definition would otherwise be quadratic in round trips)."""
    newest = (
        sa.select(FileVersion.file_id, sa.func.max(FileVersion.version).label("version"))
        .join(File, File.id == FileVersion.file_id)
        .where(File.workflow_id == wf.id)
        .group_by(FileVersion.file_id)
        .subquery()
    )
    rows = session.execute(
        sa.select(File.name, FileVersion.output_list, FileVersion.input_list)
        .join(newest, newest.c.file_id == File.id)
        .join(
            FileVersion,
            (FileVersion.file_id == newest.c.file_id) & (FileVersion.version == newest.c.version),
        )
        .where(File.workflow_id == wf.id, File.deleted_at.is_(None), File.id != file.id)
    )
    return {name: (json.loads(outs), json.loads(ins)) for name, outs, ins in rows}


def _new_version(
    session: Session, ctx: ServiceContext, file: File, comment: str, by: str
) -> tuple[FileVersion, bool]:
    """The version to release: a new snapshot, or the latest when the draft equals it."""
    latest = latest_version(session, file.id)
    if latest is not None and matches_draft(file, latest):
        return latest, False
    now = ctx.clock()
    if file.node_id is None:
        node = Node(workspace_id=file.workspace_id, created_at=now)
        session.add(node)
        session.flush()
        file.node_id = node.id
    version = FileVersion(
        file_id=file.id,
        node_id=file.node_id,
        version=(latest.version + 1) if latest is not None else 1,
        comment=comment or "",
        committed_by=by,
        committed_at=now,
        **{f: getattr(file, f) for f in VERSIONED_FIELDS},
    )
    session.add(version)
    session.flush()
    return version, True


def _release(session: Session, version: FileVersion, ws: Workspace, env: Env, now: int) -> bool:
    """Point the node's release in `env` at `version`, online; False when it already was."""
    release = session.scalar(
        sa.select(NodeRelease).where(
            NodeRelease.node_id == version.node_id, NodeRelease.env == env.value
        )
    )
    if release is None:
        release = NodeRelease(node_id=version.node_id, env=env.value, workspace_id=ws.id)
        session.add(release)
    elif (
        release.version_id == version.id
        and release.workflow_id == version.workflow_id
        and release.offline_at is None
    ):
        return False
    release.workflow_id = version.workflow_id
    release.file_id = version.file_id
    release.version_id = version.id
    release.released_at = now
    release.offline_at = None  # releasing again brings an offline node back (OfflineNode)
    return True


def _record(
    session: Session,
    *,
    ws: Workspace,
    version: FileVersion,
    name: str,
    from_env: str,
    to_env: Env,
    creator: str,
    now: int,
) -> Deployment:
    dep = Deployment(
        workspace_id=ws.id,
        file_id=version.file_id,
        version_id=version.id,
        node_id=version.node_id,
        name=name,
        from_env=from_env,
        to_env=to_env.value,
        status=int(DeploymentStatus.SUCCESS),
        error_message="",
        creator=creator,
        created_at=now,
        executed_at=now,
    )
    session.add(dep)
    session.flush()
    return dep


def _previous(session: Session, version: FileVersion, to_env: Env) -> Deployment | None:
    return session.scalar(
        sa.select(Deployment)
        .where(Deployment.version_id == version.id, Deployment.to_env == to_env.value)
        .order_by(Deployment.id.desc())
        .limit(1)
    )


def submit_file(
    ctx: ServiceContext,
    *,
    file_id: int,
    comment: str = "",
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> DeploymentView:
    """Commit a file (SubmitFile); returns the deployment that released it (`Data`)."""
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        file = resolve_file(session, ws, file_id=file_id)
        _check_file_type(file)
        wf = _workflow_of(session, file)
        _check_inputs(session, ws, wf, file)
        if error := _cycle_error(file, _latest_of_others(session, wf, file), "Submitting"):
            raise error
        version, created = _new_version(session, ctx, file, comment, caller.name)
        # A BASIC workspace has no DEV: a submit goes straight to PROD (docs/authoring.md).
        env = Env.PROD if ws.mode == WorkspaceMode.BASIC.value else Env.DEV
        now = ctx.clock()
        released = _release(session, version, ws, env, now)
        if not created and not released and (prev := _previous(session, version, env)):
            return deployment_view(prev, version)
        dep = _record(
            session,
            ws=ws,
            version=version,
            name=f"submit {file.name} v{version.version}",
            from_env="LOCAL",
            to_env=env,
            creator=caller.name,
            now=now,
        )
        return deployment_view(dep, version)


def _check_prod_cycle(session: Session, wf: Workflow, version: FileVersion) -> None:
    """PROD may run older versions of the other files; the new one must not close a cycle."""
    graph = deployed_flow(session, wf.id, Env.PROD.value)
    others = {
        n.name: (list(n.outputs), list(n.inputs))
        for node_id, n in graph.nodes.items()
        if node_id != version.node_id
    }
    if error := _cycle_error(version, others, "Deploying"):
        raise InvalidParameter(f"{error.message} Deploy the other files first.")


def deploy_file(
    ctx: ServiceContext,
    *,
    file_id: int | None = None,
    node_id: int | None = None,
    comment: str = "",
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> DeploymentView:
    """Release the file's latest submitted version to PROD (DeployFile, by FileId or NodeId).

    A file never submitted → `Invalid.File.Status` (409). In a BASIC workspace the submit
    already released to PROD, so this returns that deployment and changes nothing.
    """
    if file_id is None and node_id is None:
        raise MissingParameter("FileId")
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        file = resolve_file(session, ws, file_id=file_id, node_id=node_id)
        version = latest_version(session, file.id)
        if version is None:
            raise Conflict(
                "File",
                f"The file FileId={file.id} ({file.name!r}) has never been submitted; "
                "submit it before deploying.",
            )
        wf = _workflow_of(session, file)
        _check_prod_cycle(session, wf, version)
        now = ctx.clock()
        released = _release(session, version, ws, Env.PROD, now)
        if not released and (prev := _previous(session, version, Env.PROD)):
            return deployment_view(prev, version)
        dep = _record(
            session,
            ws=ws,
            version=version,
            name=f"deploy {file.name} v{version.version}" + (f": {comment}" if comment else ""),
            from_env="DEV" if ws.mode == WorkspaceMode.STANDARD.value else "LOCAL",
            to_env=Env.PROD,
            creator=caller.name,
            now=now,
        )
        return deployment_view(dep, version)


def get_deployment(
    ctx: ServiceContext,
    *,
    deployment_id: int,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> DeploymentView:
    """One deployment of the workspace (GetDeployment)."""
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        dep = session.get(Deployment, deployment_id)
        if dep is None or dep.workspace_id != ws.id:
            raise NotFound(
                "Deployment",
                f"The deployment DeploymentId={deployment_id} does not exist in workspace "
                f"{ws.identifier!r}.",
            )
        version = session.get(FileVersion, dep.version_id)
        assert version is not None  # a foreign key
        return deployment_view(dep, version)


def list_deployments(
    ctx: ServiceContext,
    *,
    creator: str | None = None,
    executor: str | None = None,
    keyword: str | None = None,
    status: int | None = None,
    end_create_time: int | None = None,
    end_execute_time: int | None = None,
    page_number: int = 1,
    page_size: int = 10,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> Page[DeploymentView]:
    """The deployments of a workspace, newest first (ListDeployments).

    Filters: `creator` / `executor` (the user who made it: publication runs at once, so the
    executor is the creator), `keyword` (part of the name), `status` (0, 1, 2, 6), and
    `end_create_time` / `end_execute_time` (epoch ms: made / run at or before it)."""
    if status is not None and status not in DEPLOYMENT_STATUSES:
        codes = ", ".join(str(c) for c in DEPLOYMENT_STATUSES)
        raise InvalidParameter(f"Status={status!r} is not one of {codes}.")
    for name, value in (("EndCreateTime", end_create_time), ("EndExecuteTime", end_execute_time)):
        if value is not None and value < 0:
            raise InvalidParameter(f"{name}={value} must be epoch milliseconds, at least 0.")
    offset, limit = check_paging(page_number, page_size)
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        where: list[sa.ColumnElement[bool]] = [Deployment.workspace_id == ws.id]
        if creator:
            where.append(Deployment.creator == creator)
        if executor:
            where.append(Deployment.creator == executor)
        if keyword:
            where.append(Deployment.name.contains(keyword, autoescape=True))
        if status is not None:
            where.append(Deployment.status == status)
        if end_create_time is not None:
            where.append(Deployment.created_at <= end_create_time)
        if end_execute_time is not None:
            where.append(Deployment.executed_at <= end_execute_time)
        total = session.scalar(sa.select(sa.func.count()).select_from(Deployment).where(*where))
        rows = session.execute(
            sa.select(Deployment, FileVersion)
            .join(FileVersion, FileVersion.id == Deployment.version_id)
            .where(*where)
            .order_by(Deployment.id.desc())
            .offset(offset)
            .limit(limit)
        ).tuples()
        return Page(
            items=tuple(deployment_view(dep, version) for dep, version in rows),
            page_number=page_number,
            page_size=page_size,
            total_count=total or 0,
        )
