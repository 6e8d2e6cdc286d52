"""Folders of a workspace's files: CreateFolder, GetFolder, ListFolders, UpdateFolder,
DeleteFolder, and the `FileFolderId` of a file.

A folder is a path, as a file's `FileFolderPath` is: `<root>/<workflow>/<more>/…`, the root one
of `Business Flow`, `业务流程`, `Business_process`. Each folder has a string id (32 hex digits,
as DataWorks' folder ids are strings) that stays when it is renamed, and its parent's id; a
root has none. How files and folders relate:

- every folder a file's path names exists: creating or moving a file creates the missing
  folders of its path (and their parents); `FileFolderId` is the id of the folder whose path
  is the file's `FileFolderPath`;
- a workflow's folder is `Business Flow/<workflow>`; it exists while the workflow does, moves
  when the workflow is renamed and goes when it is deleted (UpdateBusiness, DeleteBusiness), so
  UpdateFolder and DeleteFolder refuse it, as they refuse a root;
- CreateFolder makes a folder inside a live workflow's folder (and its missing parents);
- UpdateFolder renames a folder: its subfolders and the files in it or below move with it;
- DeleteFolder deletes an empty folder: one holding files or subfolders is refused
  (`Invalid.Folder.Status`).

Stores made before folders existed have files without folder rows. They are created at first
use, without a migration: every folder operation first creates the folders that the
workspace's live files and workflows need (`backfill`), and GetFile/ListFiles do so when a file
they show has no folder yet. Once done for a workspace, it costs a few reads per call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opcenter.errors import Conflict, InvalidParameter, MissingParameter, NotFound
from opcenter.service._fields import FOLDER_ROOTS
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.lookup import check_paging, resolve_workflow, resolve_workspace
from opcenter.service.views import FolderView, Page
from opcenter.store.tables import File, Folder, Workflow, Workspace

__all__ = [
    "MAX_FOLDER_NAME_LENGTH",
    "MAX_FOLDER_PATH_LENGTH",
    "WORKFLOW_ROOT",
    "backfill",
    "create_folder",
    "delete_folder",
    "delete_workflow_folders",
    "ensure_folder",
    "folder_ids",
    "get_folder",
    "list_folders",
    "move_workflow_folders",
    "update_folder",
]

T = TypeVar("T")

WORKFLOW_ROOT = FOLDER_ROOTS[0]  # a workflow's own folder is `Business Flow/<workflow>`
MAX_FOLDER_NAME_LENGTH = 256
MAX_FOLDER_PATH_LENGTH = 1024  # the column's size


def _segments(path: str) -> list[str]:
    return [s.strip() for s in path.split("/") if s.strip()]


def _ancestors(path: str) -> list[str]:
    """`a/b/c` → [`a`, `a/b`, `a/b/c`]."""
    parts = _segments(path)
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _parent_path(path: str) -> str | None:
    parts = _segments(path)
    return "/".join(parts[:-1]) if len(parts) > 1 else None


def _view(folder: Folder) -> FolderView:
    return FolderView(
        folder_id=folder.id,
        folder_path=folder.path,
        parent_id=folder.parent_id,
        project_id=folder.workspace_id,
        created_at=folder.created_at,
        modified_at=folder.modified_at,
    )


def _by_paths(session: Session, workspace_id: int, paths: Iterable[str]) -> dict[str, Folder]:
    wanted = sorted(set(paths))
    if not wanted:
        return {}
    rows = session.scalars(
        sa.select(Folder).where(Folder.workspace_id == workspace_id, Folder.path.in_(wanted))
    )
    return {f.path: f for f in rows}


def ensure_folder(session: Session, workspace_id: int, path: str, now: int) -> Folder:
    """The folder at `path` (normalised), created with its missing parents. Concurrent
    writers creating the same folder end with one row (the unique path decides)."""
    chain = _ancestors(path)
    if not chain:
        raise MissingParameter("FolderPath")
    found = _by_paths(session, workspace_id, chain)
    parent: Folder | None = None
    for each in chain:
        folder = found.get(each)
        if folder is None:
            folder = _insert(session, workspace_id, each, parent, now)
        parent = folder
    assert parent is not None
    return parent


def _insert(
    session: Session, workspace_id: int, path: str, parent: Folder | None, now: int
) -> Folder:
    folder = Folder(
        id=uuid.uuid4().hex,
        workspace_id=workspace_id,
        parent_id=parent.id if parent is not None else None,
        path=path,
        created_at=now,
        modified_at=now,
    )
    try:
        with session.begin_nested():
            session.add(folder)
            session.flush()
    except IntegrityError:
        taken = session.scalar(
            sa.select(Folder).where(Folder.workspace_id == workspace_id, Folder.path == path)
        )
        if taken is None:
            raise
        return taken
    return folder


def folder_ids(session: Session, workspace_id: int, paths: Iterable[str]) -> dict[str, str]:
    """Folder path → folder id, for those of `paths` that have a folder."""
    return {path: f.id for path, f in _by_paths(session, workspace_id, paths).items()}


def _needed(session: Session, workspace_id: int) -> set[str]:
    """Every folder the workspace's live files and workflows need."""
    needed: set[str] = set()
    paths = session.scalars(
        sa.select(File.folder_path)
        .where(File.workspace_id == workspace_id, File.deleted_at.is_(None))
        .distinct()
    )
    for path in paths:
        needed.update(_ancestors(path))
    names = session.scalars(
        sa.select(Workflow.name).where(
            Workflow.workspace_id == workspace_id, Workflow.deleted_at.is_(None)
        )
    )
    for name in names:
        needed.update(_ancestors(f"{WORKFLOW_ROOT}/{name}"))
    return needed


def _missing(session: Session, workspace_id: int) -> list[str]:
    existing = set(
        session.scalars(sa.select(Folder.path).where(Folder.workspace_id == workspace_id))
    )
    return sorted(_needed(session, workspace_id) - existing, key=lambda p: (p.count("/"), p))


def _create_missing(session: Session, workspace_id: int, now: int) -> None:
    for path in _missing(session, workspace_id):
        ensure_folder(session, workspace_id, path, now)


def backfill(ctx: ServiceContext, workspace_id: int) -> None:
    """Create the folders the workspace's files and workflows need and do not have yet (for
    stores made before folders existed). Cheap when there is nothing to do."""
    with ctx.db.transaction(readonly=True) as session:
        if not _missing(session, workspace_id):
            return
    with ctx.db.transaction() as session:
        _create_missing(session, workspace_id, ctx.clock())


# --- workflows own their folder ----------------------------------------------------------------


def _at_or_below(column: sa.ColumnElement[str], path: str) -> sa.ColumnElement[bool]:
    """`column` is `path` or a path below it, compared exactly (LIKE ignores case on SQLite)."""
    below = path + "/"
    return sa.or_(column == path, sa.func.substr(column, 1, len(below)) == below)


def _under(prefix: str) -> sa.ColumnElement[bool]:
    return _at_or_below(Folder.path, prefix)


def _replace_prefix(path: str, old: str, new: str) -> str:
    return new + path[len(old) :]


def move_workflow_folders(session: Session, workspace_id: int, old: str, new: str) -> None:
    """A workflow renamed from `old` to `new`: its folders under every root follow."""
    for root in FOLDER_ROOTS:
        _move_folders(session, workspace_id, f"{root}/{old}", f"{root}/{new}")


def _move_folders(session: Session, workspace_id: int, old: str, new: str) -> None:
    rows = session.scalars(
        sa.select(Folder).where(Folder.workspace_id == workspace_id, _under(old))
    ).all()
    for folder in rows:
        folder.path = _replace_prefix(folder.path, old, new)
    session.flush()


def delete_workflow_folders(session: Session, workspace_id: int, name: str) -> None:
    """A workflow deleted (it has no files left): its folders under every root go with it."""
    for root in FOLDER_ROOTS:
        session.execute(
            sa.delete(Folder).where(Folder.workspace_id == workspace_id, _under(f"{root}/{name}"))
        )


# --- the operations ----------------------------------------------------------------------------


def _normalise(path: str | None, parameter: str) -> str:
    if path is None or not path.strip():
        raise MissingParameter(parameter)
    parts = _segments(path)
    if not parts or parts[0] not in FOLDER_ROOTS:
        roots = ", ".join(repr(r) for r in FOLDER_ROOTS)
        raise InvalidParameter(f"{parameter}={path!r} must start with one of {roots}.")
    for part in parts:
        if len(part) > MAX_FOLDER_NAME_LENGTH:
            raise InvalidParameter(
                f"{parameter}={path!r} has a folder name longer than "
                f"{MAX_FOLDER_NAME_LENGTH} characters."
            )
    normal = "/".join(parts)
    if len(normal) > MAX_FOLDER_PATH_LENGTH:
        raise InvalidParameter(
            f"{parameter} must be at most {MAX_FOLDER_PATH_LENGTH} characters long."
        )
    return normal


def _not_found(ws: Workspace, parameter: str, value: str) -> NotFound:
    return NotFound(
        "Folder",
        f"The folder {parameter}={value!r} does not exist in workspace {ws.identifier!r}.",
    )


def _resolve(
    session: Session, ws: Workspace, *, folder_id: str | None, folder_path: str | None
) -> Folder:
    if folder_id:
        folder = session.get(Folder, folder_id)
        if folder is None or folder.workspace_id != ws.id:
            raise _not_found(ws, "FolderId", folder_id)
        if folder_path and folder.path != _normalise(folder_path, "FolderPath"):
            raise InvalidParameter(
                f"FolderId={folder_id!r} and FolderPath={folder_path!r} name different folders."
            )
        return folder
    if not folder_path:
        raise MissingParameter("FolderId")
    path = _normalise(folder_path, "FolderPath")
    folder = session.scalar(
        sa.select(Folder).where(Folder.workspace_id == ws.id, Folder.path == path)
    )
    if folder is None:
        raise _not_found(ws, "FolderPath", folder_path)
    return folder


def _check_workflow(session: Session, ws: Workspace, path: str) -> None:
    parts = _segments(path)
    if len(parts) >= 2:
        resolve_workflow(session, ws, name=parts[1])


def _duplicate(ws: Workspace, path: str) -> Conflict:
    return Conflict(
        "Folder",
        f"FolderPath={path!r} is already a folder of workspace {ws.identifier!r}.",
        reason="Duplicate",
    )


def create_folder(
    ctx: ServiceContext,
    *,
    folder_path: str,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> FolderView:
    """Create the folder `folder_path` and its missing parents (CreateFolder).

    The path starts with a root, then a live workflow (`Invalid.Business.NotExists`
    otherwise); a folder that exists → `Invalid.Folder.Duplicate`."""
    path = _normalise(folder_path, "FolderPath")
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        _check_workflow(session, ws, path)
        now = ctx.clock()
        _create_missing(session, ws.id, now)
        if _by_paths(session, ws.id, [path]):
            raise _duplicate(ws, path)
        return _view(ensure_folder(session, ws.id, path, now))


def _read(
    ctx: ServiceContext,
    read: Callable[[Session, Workspace], T],
    *,
    project_id: int | None,
    project_identifier: str | None,
) -> T:
    """`read(session, workspace)` once the workspace has every folder it needs: in one read
    transaction when it has (the usual case), else after `backfill`."""
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        if not _missing(session, ws.id):
            return read(session, ws)
    backfill(ctx, ws.id)
    with ctx.db.transaction(readonly=True) as session:
        return read(session, ws)


def get_folder(
    ctx: ServiceContext,
    *,
    folder_id: str | None = None,
    folder_path: str | None = None,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> FolderView:
    """One folder by `FolderId` or `FolderPath` (both given must name the same folder)."""

    def read(session: Session, ws: Workspace) -> FolderView:
        return _view(_resolve(session, ws, folder_id=folder_id, folder_path=folder_path))

    return _read(ctx, read, project_id=project_id, project_identifier=project_identifier)


def list_folders(
    ctx: ServiceContext,
    *,
    parent_folder_path: str,
    page_number: int = 1,
    page_size: int = 10,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> Page[FolderView]:
    """The folders directly inside `parent_folder_path`, in path order (ListFolders).

    `/` lists the roots. A root that has no folder yet lists nothing; any other path that is
    not a folder → `Invalid.Folder.NotExists`."""
    if parent_folder_path is None or parent_folder_path == "":
        raise MissingParameter("ParentFolderPath")
    top = not _segments(parent_folder_path)
    parent_path = None if top else _normalise(parent_folder_path, "ParentFolderPath")
    offset, limit = check_paging(page_number, page_size)

    def read(session: Session, ws: Workspace) -> Page[FolderView]:
        where: list[sa.ColumnElement[bool]] = [Folder.workspace_id == ws.id]
        if parent_path is None:
            where.append(Folder.parent_id.is_(None))
        else:
            parent = _by_paths(session, ws.id, [parent_path]).get(parent_path)
            if parent is None:
                if parent_path in FOLDER_ROOTS:
                    return Page(
                        items=(), page_number=page_number, page_size=page_size, total_count=0
                    )
                raise _not_found(ws, "ParentFolderPath", parent_folder_path)
            where.append(Folder.parent_id == parent.id)
        total = session.scalar(sa.select(sa.func.count()).select_from(Folder).where(*where))
        rows = session.scalars(
            sa.select(Folder).where(*where).order_by(Folder.path).offset(offset).limit(limit)
        )
        return Page(
            items=tuple(_view(f) for f in rows),
            page_number=page_number,
            page_size=page_size,
            total_count=total or 0,
        )

    return _read(ctx, read, project_id=project_id, project_identifier=project_identifier)


def _check_own_folder(folder: Folder, action: str) -> None:
    """Roots and workflow folders are not the folder operations' to change."""
    parts = _segments(folder.path)
    if len(parts) == 1:
        raise InvalidParameter(
            f"FolderId={folder.id!r} is the root folder {folder.path!r}, which cannot be "
            f"{action}."
        )
    if len(parts) == 2:
        how = "UpdateBusiness" if action == "renamed" else "DeleteBusiness"
        raise InvalidParameter(
            f"FolderId={folder.id!r} is the folder of workflow {parts[1]!r}; it is {action} "
            f"with its workflow ({how})."
        )


def _check_folder_name(name: str | None) -> str:
    if name is None or not name.strip():
        raise MissingParameter("FolderName")
    clean = name.strip()
    if "/" in clean or len(clean) > MAX_FOLDER_NAME_LENGTH:
        raise InvalidParameter(
            f"FolderName={name!r} must be at most {MAX_FOLDER_NAME_LENGTH} characters "
            "without '/'."
        )
    return clean


def _files_under(session: Session, workspace_id: int, path: str) -> Sequence[File]:
    return session.scalars(
        sa.select(File)
        .where(
            File.workspace_id == workspace_id,
            File.deleted_at.is_(None),
            _at_or_below(File.folder_path, path),
        )
        .order_by(File.id)
    ).all()


def update_folder(
    ctx: ServiceContext,
    *,
    folder_id: str,
    folder_name: str,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> FolderView:
    """Rename a folder (UpdateFolder): its subfolders and the files in it or below move with
    it. Its id stays. A taken path → `Invalid.Folder.Duplicate`."""
    name = _check_folder_name(folder_name)
    if not folder_id:
        raise MissingParameter("FolderId")
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        now = ctx.clock()
        _create_missing(session, ws.id, now)
        folder = _resolve(session, ws, folder_id=folder_id, folder_path=None)
        _check_own_folder(folder, "renamed")
        old = folder.path
        new = f"{_parent_path(old)}/{name}"
        if new == old:
            return _view(folder)
        if len(new) > MAX_FOLDER_PATH_LENGTH:
            raise InvalidParameter(
                f"FolderName={folder_name!r} would make the path longer than "
                f"{MAX_FOLDER_PATH_LENGTH} characters."
            )
        if _by_paths(session, ws.id, [new]):
            raise _duplicate(ws, new)
        for file in _files_under(session, ws.id, old):
            file.folder_path = _replace_prefix(file.folder_path, old, new)
        _move_folders(session, ws.id, old, new)
        folder.modified_at = now
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError as exc:
            raise _duplicate(ws, new) from exc
        return _view(folder)


def delete_folder(
    ctx: ServiceContext,
    *,
    folder_id: str,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> None:
    """Delete an empty folder (DeleteFolder); one with files or subfolders →
    `Invalid.Folder.Status` (409) naming them."""
    if not folder_id:
        raise MissingParameter("FolderId")
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        _create_missing(session, ws.id, ctx.clock())
        folder = _resolve(session, ws, folder_id=folder_id, folder_path=None)
        _check_own_folder(folder, "deleted")
        held = [f.name for f in _files_under(session, ws.id, folder.path)]
        if held:
            raise Conflict(
                "Folder",
                f"The folder {folder.path!r} still holds files ({_some(held)}); move or "
                "delete them first.",
            )
        children = session.scalars(
            sa.select(Folder.path).where(Folder.parent_id == folder.id).order_by(Folder.path)
        ).all()
        if children:
            raise Conflict(
                "Folder",
                f"The folder {folder.path!r} still has subfolders ({_some(children)}); "
                "delete them first.",
            )
        session.delete(folder)


def _some(names: Sequence[str], shown: int = 5) -> str:
    listed = ", ".join(repr(n) for n in names[:shown])
    more = len(names) - shown
    return f"{listed} and {more} more" if more > 0 else listed
