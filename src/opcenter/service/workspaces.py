"""Workspaces (DataWorks projects): CreateProject, GetProject, ListProjects, and the variables a
workspace gives its jobs.

A workspace in STANDARD mode has a DEV and a PROD environment; one in BASIC mode has PROD only
(DataWorks `ProjectMode` 3 and 2).

Job variables (`get_job_env`, `set_job_env`) are added to the clean environment every job of the
workspace starts with (runners/environment.py). A name is letters, digits and underscores, not
starting with a digit; it may not start with `OPCENTER_` (the instance's own identifiers) or
`LD_` (the dynamic loader), nor be one of `RESERVED_JOB_VARIABLES` (what decides which programs
run and how a shell or Python starts). A value is at most `MAX_JOB_VALUE_LENGTH` characters
without NUL; a workspace has at most `MAX_JOB_VARIABLES` variables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from opcenter.domain.model import WorkspaceMode
from opcenter.errors import Conflict, InvalidParameter, MissingParameter
from opcenter.service import iam
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.lookup import check_paging, flush_unique, resolve_workspace
from opcenter.service.views import Page, ProjectView
from opcenter.store.tables import Workspace

__all__ = [
    "MAX_JOB_VALUE_LENGTH",
    "MAX_JOB_VARIABLES",
    "RESERVED_JOB_VARIABLES",
    "JobVariable",
    "create_project",
    "get_job_env",
    "get_project",
    "list_projects",
    "project_view",
    "set_job_env",
]

# DataWorks: letters, digits and underscores, starting with a letter or a digit.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*")
MAX_IDENTIFIER_LENGTH = 128
MAX_DISPLAY_NAME_LENGTH = 256

_JOB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_JOB_NAME_LENGTH = 128
MAX_JOB_VALUE_LENGTH = 4096
MAX_JOB_VARIABLES = 100
RESERVED_JOB_PREFIXES = ("OPCENTER_", "LD_")
RESERVED_JOB_VARIABLES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "IFS",
        "ENV",
        "BASH_ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONUNBUFFERED",
    }
)


def project_view(ws: Workspace) -> ProjectView:
    return ProjectView(
        project_id=ws.id,
        project_identifier=ws.identifier,
        project_name=ws.display_name,
        project_description=ws.description,
        project_mode=WorkspaceMode(ws.mode),
        status=ws.status,
        owner=ws.owner,
        created_at=ws.created_at,
        modified_at=ws.modified_at,
    )


def _mode(value: WorkspaceMode | str | int) -> WorkspaceMode:
    if isinstance(value, WorkspaceMode):
        return value
    by_code = {2: WorkspaceMode.BASIC, 3: WorkspaceMode.STANDARD}
    if isinstance(value, int) and not isinstance(value, bool) and value in by_code:
        return by_code[value]
    if isinstance(value, str):
        if value.strip() in ("2", "3"):
            return by_code[int(value)]
        try:
            return WorkspaceMode(value.strip().upper())
        except ValueError:
            pass
    raise InvalidParameter(
        f"ProjectMode={value!r} is not one of STANDARD (3, DEV and PROD) or BASIC (2, PROD only)."
    )


def _check_identifier(identifier: str | None) -> str:
    if not identifier:
        raise MissingParameter("ProjectIdentifier")
    if len(identifier) > MAX_IDENTIFIER_LENGTH or not _IDENTIFIER.fullmatch(identifier):
        raise InvalidParameter(
            f"ProjectIdentifier={identifier!r} must be at most {MAX_IDENTIFIER_LENGTH} letters, "
            "digits and underscores, starting with a letter or a digit."
        )
    return identifier


def create_project(
    ctx: ServiceContext,
    *,
    project_identifier: str,
    project_name: str,
    project_mode: WorkspaceMode | str | int = WorkspaceMode.STANDARD,
    project_description: str = "",
    caller: Caller = Caller(),
) -> ProjectView:
    """Create a workspace. A taken identifier → `Invalid.Project.Duplicate` (409)."""
    identifier = _check_identifier(project_identifier)
    if not project_name or not project_name.strip():
        raise MissingParameter("ProjectName")
    if len(project_name) > MAX_DISPLAY_NAME_LENGTH:
        raise InvalidParameter(
            f"ProjectName={project_name!r} is longer than {MAX_DISPLAY_NAME_LENGTH} characters."
        )
    mode = _mode(project_mode)
    duplicate = Conflict(
        "Project", f"ProjectIdentifier={identifier!r} is already taken.", reason="Duplicate"
    )
    with ctx.db.transaction() as session:
        taken = session.scalar(sa.select(Workspace.id).where(Workspace.identifier == identifier))
        if taken is not None:
            raise duplicate
        now = ctx.clock()
        ws = Workspace(
            identifier=identifier,
            display_name=project_name.strip(),
            description=project_description or "",
            mode=mode.value,
            status="AVAILABLE",
            owner=caller.name,
            created_at=now,
            modified_at=now,
        )
        session.add(ws)
        flush_unique(session, duplicate)
        return project_view(ws)


def get_project(
    ctx: ServiceContext,
    *,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> ProjectView:
    """One workspace by `ProjectId` or `ProjectIdentifier`."""
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        return project_view(ws)


def list_projects(
    ctx: ServiceContext,
    *,
    page_number: int = 1,
    page_size: int = 10,
    caller: Caller = Caller(),
) -> Page[ProjectView]:
    """Workspaces in id order, one page at a time."""
    offset, limit = check_paging(page_number, page_size)
    with ctx.db.transaction(readonly=True) as session:
        visible = iam.visible_project_ids(session, caller)
        shown = sa.true() if visible is None else Workspace.id.in_(visible)
        total = session.scalar(sa.select(sa.func.count()).select_from(Workspace).where(shown)) or 0
        rows = session.scalars(
            sa.select(Workspace).where(shown).order_by(Workspace.id).offset(offset).limit(limit)
        ).all()
        return Page(
            items=tuple(project_view(ws) for ws in rows),
            page_number=page_number,
            page_size=page_size,
            total_count=total,
        )


@dataclass(frozen=True)
class JobVariable:
    """One variable a workspace gives its jobs."""

    name: str
    value: str


def _load_job_env(ws: Workspace) -> dict[str, str]:
    try:
        loaded = json.loads(ws.job_env or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def _check_job_name(name: str) -> str:
    if len(name) > MAX_JOB_NAME_LENGTH or not _JOB_NAME.fullmatch(name):
        raise InvalidParameter(
            f"Job variable name {name!r} must be at most {MAX_JOB_NAME_LENGTH} letters, digits "
            "and underscores, not starting with a digit."
        )
    if name.upper().startswith(RESERVED_JOB_PREFIXES) or name in RESERVED_JOB_VARIABLES:
        raise InvalidParameter(f"Job variable name {name!r} is reserved.")
    return name


def _check_job_value(name: str, value: str) -> str:
    if len(value) > MAX_JOB_VALUE_LENGTH or "\0" in value:
        raise InvalidParameter(
            f"Job variable {name!r}: a value is at most {MAX_JOB_VALUE_LENGTH} characters, "
            "without NUL."
        )
    return value


def get_job_env(
    ctx: ServiceContext,
    *,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> tuple[JobVariable, ...]:
    """The variables a workspace gives its jobs, by name."""
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        return _variables(_load_job_env(ws))


def _variables(env: Mapping[str, str]) -> tuple[JobVariable, ...]:
    return tuple(JobVariable(name, env[name]) for name in sorted(env))


def set_job_env(
    ctx: ServiceContext,
    *,
    project_id: int | None = None,
    project_identifier: str | None = None,
    values: Mapping[str, str] | None = None,
    unset: Collection[str] = (),
    caller: Caller = Caller(),
) -> tuple[JobVariable, ...]:
    """Set `values` and remove `unset` (unknown names are fine) among a workspace's job
    variables; returns them all. A bad name or value → InvalidParameter, nothing changed."""
    values = dict(values or {})
    both = sorted(set(values) & set(unset))
    if both:
        raise InvalidParameter(f"Job variable {both[0]!r} is both set and unset.")
    checked = {_check_job_name(n): _check_job_value(n, v) for n, v in values.items()}
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        env = {n: v for n, v in _load_job_env(ws).items() if n not in set(unset)}
        env.update(checked)
        if len(env) > MAX_JOB_VARIABLES:
            raise InvalidParameter(
                f"A workspace has at most {MAX_JOB_VARIABLES} job variables ({len(env)} given)."
            )
        ws.job_env = json.dumps(env, sort_keys=True)
        ws.modified_at = ctx.clock()
        return _variables(env)
