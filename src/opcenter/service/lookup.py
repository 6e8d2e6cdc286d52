"""Resolution helpers shared by the service functions: workspace, environment, workflow, file,
paging. Each raises the contract's error naming the parameter and the value it was given.

Workspace selection (docs/api.md, "Conventions"): `ProjectName` / `ProjectIdentifier`
is the workspace identifier; either it or `ProjectId` suffices; both naming different
workspaces → `InvalidParameter`; neither → `MissingParameter("ProjectId")`.
"""

from __future__ import annotations

from typing import cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opcenter.domain.model import Env, WorkspaceMode
from opcenter.errors import Conflict, InvalidParameter, MissingParameter, NotFound, not_found
from opcenter.store.prepared import Prepared, flushed, row_type
from opcenter.store.tables import File, Workflow, Workspace

__all__ = [
    "MAX_PAGE_SIZE",
    "check_paging",
    "flush_unique",
    "require_env",
    "resolve_file",
    "resolve_workflow",
    "resolve_workspace",
    "workspace_row",
]

MAX_PAGE_SIZE = 100


def _workspace_by_id(session: Session, project_id: int) -> Workspace:
    ws = session.get(Workspace, project_id)
    if ws is None:
        raise not_found("ProjectId", project_id)
    return ws


# Built once (every API request on a workspace runs it): building the select and its
# comparison per call cost about as much as SQLAlchemy's execution of it.
_BY_IDENTIFIER = sa.select(Workspace).where(Workspace.identifier == sa.bindparam("identifier"))


def _workspace_by_identifier(session: Session, identifier: str, parameter: str) -> Workspace:
    # Kept in the session for the rest of its transaction: an API request resolves its workspace
    # for authorization and again in the operation, both in the request's one transaction.
    known: dict[str, Workspace] = session.info.setdefault("workspaces", {})
    ws = known.get(identifier)
    if (
        ws is not None
        and ws.identifier == identifier
        and ws in session
        and ws not in session.deleted
        and not sa.inspect(ws).deleted
    ):
        return ws
    ws = session.scalar(_BY_IDENTIFIER, {"identifier": identifier})
    if ws is None:
        raise not_found(parameter, identifier)
    known[identifier] = ws
    return ws


def resolve_workspace(
    session: Session,
    *,
    project_id: int | None = None,
    project_name: str | None = None,
    project_identifier: str | None = None,
) -> Workspace:
    """The workspace named by id and/or identifier (`project_name` and `project_identifier`
    both mean the identifier, as `ProjectName` in the Operation Center operations does)."""
    by_name = None
    if project_name and project_identifier and project_name != project_identifier:
        raise InvalidParameter(
            f"ProjectName={project_name!r} and ProjectIdentifier={project_identifier!r} "
            "name different workspaces."
        )
    if project_identifier:
        by_name = _workspace_by_identifier(session, project_identifier, "ProjectIdentifier")
    elif project_name:
        by_name = _workspace_by_identifier(session, project_name, "ProjectName")
    if project_id is None:
        if by_name is None:
            raise MissingParameter("ProjectId")
        return by_name
    by_id = _workspace_by_id(session, project_id)
    if by_name is not None and by_name.id != by_id.id:
        raise InvalidParameter(
            f"ProjectId={project_id} and ProjectIdentifier={by_name.identifier!r} "
            "name different workspaces."
        )
    return by_id


# Run through the driver (store/prepared.py): every API request naming a workspace reads it
# to authorize, and SQLAlchemy's execution path cost more than the statement. The columns are
# integers and strings (no type processing); a row comes back with the mapped attribute names.
_ROWS = {
    "id": Prepared(
        sa.select(Workspace.__table__).where(Workspace.__table__.c.id == sa.bindparam("key"))
    ),
    "identifier": Prepared(
        sa.select(Workspace.__table__).where(
            Workspace.__table__.c.identifier == sa.bindparam("key")
        )
    ),
}
_WorkspaceRow = row_type(Workspace.__table__)


def _row(session: Session, by: str, key: object, parameter: str) -> Workspace:
    # Kept for the rest of the transaction, as the ORM objects above. A workspace changed
    # earlier in the transaction is flushed first (what the session's execute did) and read as
    # it is.
    known: dict[tuple[str, object], Workspace] = session.info.setdefault("workspace_rows", {})
    row = known.get((by, key))
    if row is None:
        rows = _ROWS[by].rows(flushed(session), {"key": key})
        if not rows:
            raise not_found(parameter, key)
        row = known[(by, key)] = cast(Workspace, _WorkspaceRow(*rows[0]))
    return row


def workspace_row(
    session: Session,
    *,
    project_id: int | None = None,
    project_name: str | None = None,
    project_identifier: str | None = None,
) -> Workspace:
    """`resolve_workspace`'s workspace (same arguments, same errors) as a read-only Core row
    with the mapped attribute names, for callers that only read it (authorization, planning a
    run): loading the ORM object cost several times the statement. Kept in the session for the
    rest of its transaction (an API request reads it to authorize, then to run)."""
    by_name = None
    if project_name and project_identifier and project_name != project_identifier:
        raise InvalidParameter(
            f"ProjectName={project_name!r} and ProjectIdentifier={project_identifier!r} "
            "name different workspaces."
        )
    if project_identifier:
        by_name = _row(session, "identifier", project_identifier, "ProjectIdentifier")
    elif project_name:
        by_name = _row(session, "identifier", project_name, "ProjectName")
    if project_id is None:
        if by_name is None:
            raise MissingParameter("ProjectId")
        return by_name
    by_id = _row(session, "id", project_id, "ProjectId")
    if by_name is not None and by_name.id != by_id.id:
        raise InvalidParameter(
            f"ProjectId={project_id} and ProjectIdentifier={by_name.identifier!r} "
            "name different workspaces."
        )
    return by_id


def require_env(workspace: Workspace, env: str | Env | None) -> Env:
    """The environment `env` of the workspace; DEV of a basic-mode workspace is refused."""
    if env is None or env == "":
        raise MissingParameter("ProjectEnv")
    try:
        value = Env(env)
    except ValueError:
        raise InvalidParameter(f"ProjectEnv={env!r} is not one of DEV, PROD.") from None
    if value not in WorkspaceMode(workspace.mode).envs:
        raise InvalidParameter(
            f"ProjectEnv={value.value!r} is not available: workspace {workspace.identifier!r} "
            "is in basic mode, which has PROD only."
        )
    return value


def resolve_workflow(
    session: Session,
    workspace: Workspace,
    *,
    name: str | None = None,
    business_id: int | None = None,
) -> Workflow:
    """A live workflow of the workspace, by id and/or name (both must agree)."""
    if business_id is None and not name:
        raise MissingParameter("BusinessId")
    query = sa.select(Workflow).where(
        Workflow.workspace_id == workspace.id, Workflow.deleted_at.is_(None)
    )
    if business_id is not None:
        wf = session.scalar(query.where(Workflow.id == business_id))
        if wf is None:
            raise NotFound(
                "Business",
                f"The workflow BusinessId={business_id} does not exist in workspace "
                f"{workspace.identifier!r}.",
            )
        if name and wf.name != name:
            raise InvalidParameter(
                f"BusinessId={business_id} and BusinessName={name!r} name different workflows."
            )
        return wf
    wf = session.scalar(query.where(Workflow.name == name))
    if wf is None:
        raise NotFound(
            "Business",
            f"The workflow BusinessName={name!r} does not exist in workspace "
            f"{workspace.identifier!r}.",
        )
    return wf


def resolve_file(
    session: Session,
    workspace: Workspace,
    *,
    file_id: int | None = None,
    node_id: int | None = None,
) -> File:
    """A live file of the workspace by `FileId`, or by the `NodeId` its submits were given."""
    query = sa.select(File).where(File.workspace_id == workspace.id, File.deleted_at.is_(None))
    if file_id is not None:
        file = session.scalar(query.where(File.id == file_id))
        if file is None:
            raise NotFound(
                "File",
                f"The file FileId={file_id} does not exist in workspace "
                f"{workspace.identifier!r}.",
            )
        if node_id is not None and file.node_id != node_id:
            raise InvalidParameter(f"FileId={file_id} and NodeId={node_id} name different files.")
        return file
    if node_id is None:
        raise MissingParameter("FileId")
    file = session.scalar(query.where(File.node_id == node_id))
    if file is None:
        raise NotFound(
            "File",
            f"No file with NodeId={node_id} exists in workspace {workspace.identifier!r}.",
        )
    return file


def check_paging(page_number: int, page_size: int) -> tuple[int, int]:
    """Validate `PageNumber` (from 1) and `PageSize` (1..100); returns (offset, limit)."""
    if page_number < 1:
        raise InvalidParameter(f"PageNumber={page_number} must be at least 1.")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidParameter(f"PageSize={page_size} must be between 1 and {MAX_PAGE_SIZE}.")
    return (page_number - 1) * page_size, page_size


def flush_unique(session: Session, conflict: Conflict) -> None:
    """Flush; a unique-index violation (a concurrent writer took the name) becomes `conflict`.

    The service checks names before writing; this closes the window between check and write
    on PostgreSQL (SQLite serialises writers with BEGIN IMMEDIATE).
    """
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise conflict from exc
