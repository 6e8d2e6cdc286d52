"""File versions: ListFileVersions, GetFileVersion, and the comparison of two versions (or of a
version and the draft) that `opcenter file diff` prints.

A version is the immutable snapshot SubmitFile makes of a draft (`file_version`), numbered from
1 per file. Its `status` is `DEPLOYED` once it has been released to PROD (DeployFile, or the
submit of a BASIC workspace), else `COMMITTED`; `is_current_prod` says whether PROD runs it now.
`change_type` is `CREATE` for version 1 and `UPDATE` after it (a deleted file is not listed: its
versions stay in the store for the runs that used them).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import Env, UseType
from opcenter.errors import Conflict, InvalidParameter, MissingParameter, NotFound
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.files import matches_draft
from opcenter.service.lookup import check_paging, resolve_file, resolve_workspace
from opcenter.service.views import FileVersionView, Page, program_type
from opcenter.store.tables import Deployment, File, FileVersion, NodeRelease, Workflow

__all__ = [
    "DRAFT",
    "SETTINGS",
    "SettingChange",
    "VersionComparison",
    "compare_file_versions",
    "get_file_version",
    "list_file_versions",
]

DRAFT = "draft"
# The settings compared besides the code, in this order (`workflow` is the workflow's name).
SETTINGS = (
    "file_name",
    "workflow",
    "file_type",
    "para_value",
    "input_list",
    "output_list",
    "rerun_mode",
    "auto_rerun_times",
    "auto_rerun_interval_millis",
    "timeout",
    "scheduler_type",
    "priority",
    "dependent_type",
    "dependent_node_id_list",
    "file_description",
    "owner",
    "resource_group",
)
_LIST_SETTINGS = ("input_list", "output_list")


def _deployed(session: Session, version_ids: Sequence[int]) -> set[int]:
    """The versions ever released to PROD."""
    if not version_ids:
        return set()
    return set(
        session.scalars(
            sa.select(Deployment.version_id)
            .where(Deployment.version_id.in_(version_ids), Deployment.to_env == Env.PROD.value)
            .distinct()
        )
    )


def _prod_version_id(session: Session, file: File) -> int | None:
    if file.node_id is None:
        return None
    return session.scalar(
        sa.select(NodeRelease.version_id).where(
            NodeRelease.node_id == file.node_id, NodeRelease.env == Env.PROD.value
        )
    )


def _workflows(session: Session, versions: Sequence[FileVersion]) -> dict[int, Workflow]:
    ids = {v.workflow_id for v in versions if v.workflow_id is not None}
    if not ids:
        return {}
    return {wf.id: wf for wf in session.scalars(sa.select(Workflow).where(Workflow.id.in_(ids)))}


def _views(session: Session, file: File, versions: Sequence[FileVersion]) -> list[FileVersionView]:
    deployed = _deployed(session, [v.id for v in versions])
    prod = _prod_version_id(session, file)
    flows = _workflows(session, versions)
    views = []
    for v in versions:
        wf = flows.get(v.workflow_id) if v.workflow_id is not None else None
        views.append(
            FileVersionView(
                file_id=v.file_id,
                file_version=v.version,
                node_id=v.node_id,
                business_id=v.workflow_id,
                workflow_name=wf.name if wf is not None else None,
                use_type=UseType(wf.use_type) if wf is not None else None,
                file_name=v.name,
                file_type=v.file_type,
                content=v.content,
                para_value=v.para_value,
                output_list=tuple(json.loads(v.output_list)),
                input_list=tuple(json.loads(v.input_list)),
                dependent_type=v.dependent_type,
                dependent_node_id_list=v.dependent_node_id_list,
                rerun_mode=v.rerun_mode,
                auto_rerun_times=v.auto_rerun_times,
                auto_rerun_interval_millis=v.auto_rerun_interval_millis,
                timeout=v.timeout_hours,
                scheduler_type=v.scheduler_type,
                priority=v.priority,
                file_description=v.description,
                owner=v.owner,
                comment=v.comment,
                commit_user=v.committed_by,
                commit_time=v.committed_at,
                change_type="CREATE" if v.version == 1 else "UPDATE",
                status="DEPLOYED" if v.id in deployed else "COMMITTED",
                is_current_prod=prod == v.id,
            )
        )
    return views


def list_file_versions(
    ctx: ServiceContext,
    *,
    file_id: int,
    page_number: int = 1,
    page_size: int = 10,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> Page[FileVersionView]:
    """The versions of a live file, newest first (ListFileVersions)."""
    offset, limit = check_paging(page_number, page_size)
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        file = resolve_file(session, ws, file_id=file_id)
        total = session.scalar(
            sa.select(sa.func.count())
            .select_from(FileVersion)
            .where(FileVersion.file_id == file.id)
        )
        rows = session.scalars(
            sa.select(FileVersion)
            .where(FileVersion.file_id == file.id)
            .order_by(FileVersion.version.desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return Page(
            items=tuple(_views(session, file, rows)),
            page_number=page_number,
            page_size=page_size,
            total_count=total or 0,
        )


def _version(session: Session, file: File, number: int, parameter: str) -> FileVersion:
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise InvalidParameter(f"{parameter}={number!r} must be a version number from 1.")
    version = session.scalar(
        sa.select(FileVersion).where(FileVersion.file_id == file.id, FileVersion.version == number)
    )
    if version is None:
        raise NotFound(
            "FileVersion",
            f"The file FileId={file.id} ({file.name!r}) has no version {parameter}={number}.",
        )
    return version


def get_file_version(
    ctx: ServiceContext,
    *,
    file_id: int,
    file_version: int,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> FileVersionView:
    """One version of a live file (GetFileVersion); a number it does not have →
    `Invalid.FileVersion.NotExists`."""
    if file_version is None:
        raise MissingParameter("FileVersion")
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        file = resolve_file(session, ws, file_id=file_id)
        version = _version(session, file, file_version, "FileVersion")
        return _views(session, file, [version])[0]


# --- comparing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingChange:
    """One setting that differs: its value on each side, as text (lists comma-separated)."""

    name: str
    old: str
    new: str


@dataclass(frozen=True)
class VersionComparison:
    """Two sides of a file compared: `old` and `new` are version numbers, None for the draft.

    `code_diff` is the unified diff of the code (empty when equal); `settings_diff` the unified
    diff of the settings that differ, one `name: value` line each (a list one line per entry);
    `settings` the same changes as values."""

    file_id: int
    file_name: str
    old: int | None
    new: int | None
    code_diff: str
    settings_diff: str
    settings: tuple[SettingChange, ...]

    @property
    def old_label(self) -> str:
        return label(self.old)

    @property
    def new_label(self) -> str:
        return label(self.new)

    @property
    def same(self) -> bool:
        return not self.code_diff and not self.settings


def label(version: int | None) -> str:
    """`v3`, or `draft` for None."""
    return DRAFT if version is None else f"v{version}"


def _settings(row: File | FileVersion, workflows: dict[int, str]) -> dict[str, object]:
    return {
        "file_name": row.name,
        "workflow": workflows.get(row.workflow_id, "") if row.workflow_id is not None else "",
        "file_type": f"{row.file_type} ({program_type(row.file_type)})",
        "para_value": row.para_value,
        "input_list": tuple(json.loads(row.input_list)),
        "output_list": tuple(json.loads(row.output_list)),
        "rerun_mode": row.rerun_mode,
        "auto_rerun_times": row.auto_rerun_times,
        "auto_rerun_interval_millis": row.auto_rerun_interval_millis,
        "timeout": row.timeout_hours,
        "scheduler_type": row.scheduler_type,
        "priority": row.priority,
        "dependent_type": row.dependent_type,
        "dependent_node_id_list": row.dependent_node_id_list,
        "file_description": row.description,
        "owner": row.owner,
        "resource_group": row.resource_group or "",
    }


def _text(value: object) -> str:
    return ", ".join(value) if isinstance(value, tuple) else str(value)


def _lines(name: str, value: object) -> list[str]:
    if isinstance(value, tuple):
        return [f"{name}: {entry}" for entry in value] or [f"{name}:"]
    return [f"{name}: {value}".rstrip()]


def _unified(old: list[str], new: list[str], old_name: str, new_name: str) -> str:
    if old == new:
        return ""
    diff = difflib.unified_diff(old, new, old_name, new_name, lineterm="")
    return "".join(f"{line}\n" for line in diff)


def _code_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    """The unified diff of two codes; a last line without a newline is marked as diff does."""
    if old == new:
        return ""
    diff = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name
    )
    return "".join(
        line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n" for line in diff
    )


def _pick(
    session: Session, file: File, old: int | None, new: int | None, *, old_given: bool
) -> tuple[int | None, int | None]:
    """The sides to compare when not both are given (see `compare_file_versions`)."""
    if old_given:
        return old, new
    newest = session.scalars(
        sa.select(FileVersion)
        .where(FileVersion.file_id == file.id)
        .order_by(FileVersion.version.desc())
        .limit(2)
    ).all()
    if not newest:
        raise Conflict(
            "File",
            f"The file FileId={file.id} ({file.name!r}) has never been submitted: it has no "
            "version to compare.",
        )
    if not matches_draft(file, newest[0]) or len(newest) == 1:
        return newest[0].version, None
    return newest[1].version, newest[0].version


def compare_file_versions(
    ctx: ServiceContext,
    *,
    file_id: int,
    old: int | None = None,
    new: int | None = None,
    old_given: bool | None = None,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> VersionComparison:
    """Compare two sides of a live file: version numbers, None meaning the draft.

    With `old` given, `old` is compared with `new` (the draft when None). With neither: the
    draft against the newest version when they differ (or when there is only one version),
    else the two newest versions. `old_given` says whether `old` was chosen (None: `old` is
    not None), so that the draft can be asked for as the old side. A file never submitted →
    `Invalid.File.Status`; a version it does not have → `Invalid.FileVersion.NotExists`."""
    chosen = old is not None if old_given is None else old_given
    if not chosen and new is not None:
        raise InvalidParameter("Give the old side of the comparison before the new one.")
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        file = resolve_file(session, ws, file_id=file_id)
        old, new = _pick(session, file, old, new, old_given=chosen)
        rows: list[File | FileVersion] = [
            file if side is None else _version(session, file, side, name)
            for side, name in ((old, "V1"), (new, "V2"))
        ]
        ids = {r.workflow_id for r in rows if r.workflow_id is not None}
        names = dict(
            session.execute(sa.select(Workflow.id, Workflow.name).where(Workflow.id.in_(ids)))
            .tuples()
            .all()
        )
    before, after = (_settings(r, names) for r in rows)
    changed = [name for name in SETTINGS if before[name] != after[name]]
    old_name, new_name = f"{file.name} {label(old)}", f"{file.name} {label(new)}"
    code_diff = _code_diff(rows[0].content, rows[1].content, old_name, new_name)
    settings_diff = _unified(
        [line for name in changed for line in _lines(name, before[name])],
        [line for name in changed for line in _lines(name, after[name])],
        f"{old_name} settings",
        f"{new_name} settings",
    )
    return VersionComparison(
        file_id=file.id,
        file_name=file.name,
        old=old,
        new=new,
        code_diff=code_diff,
        settings_diff=settings_diff,
        settings=tuple(
            SettingChange(name, _text(before[name]), _text(after[name])) for name in changed
        ),
    )
