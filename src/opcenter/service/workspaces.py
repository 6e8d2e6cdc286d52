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

Isolation settings (`get_isolation`, `set_tenant`, `share_path`, `unshare_path`) say whose jobs
a workspace's are, for the sandbox that confines them (engine/dispatch.py puts them into each
attempt's `Confinement`): the **tenant**, the OS user its jobs run as in each environment when
opcenter runs as root (None: the default job user), and the **shared paths**, files and folders
its jobs may read, or read and write, beyond their work directory. A tenant is a POSIX user
name, never root; it need not exist on this machine (jobs may run on others), which the answer
reports (`known_locally`). A shared path is absolute, stored normalised, neither `/` nor
anything that holds or lies inside the server's data directory or its SQLite store (compared
both as written and with symbolic links resolved).

Like the job variables these are the server administrator's: the `opcenter workspace` commands
set them, the API does not.
"""

from __future__ import annotations

import json
import os
import pwd
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from opcenter.domain.model import Env, WorkspaceMode
from opcenter.errors import Conflict, InvalidParameter, MissingParameter
from opcenter.service import iam
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.lookup import check_paging, flush_unique, resolve_workspace
from opcenter.service.views import Page, ProjectView
from opcenter.store.tables import Workspace

__all__ = [
    "MAX_JOB_VALUE_LENGTH",
    "MAX_JOB_VARIABLES",
    "MAX_SHARED_PATHS",
    "RESERVED_JOB_VARIABLES",
    "IsolationSettings",
    "JobVariable",
    "SharedPath",
    "TenantSetting",
    "create_project",
    "get_isolation",
    "get_job_env",
    "get_project",
    "list_projects",
    "normal_shared_path",
    "project_view",
    "set_job_env",
    "set_tenant",
    "share_path",
    "unshare_path",
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

# POSIX user names as useradd takes them (shadow-utils' default rule).
_TENANT = re.compile(r"[a-z_][a-z0-9_-]*[$]?")
MAX_TENANT_LENGTH = 32
MAX_SHARED_PATHS = 64
MAX_SHARED_PATH_LENGTH = 4096


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


# --------------------------------------------------------------------------- isolation


@dataclass(frozen=True)
class TenantSetting:
    """The OS user a workspace's jobs run as in one environment (None: the default job user);
    `known_locally`: that user exists on this machine."""

    env: str
    user: str | None
    known_locally: bool


@dataclass(frozen=True)
class SharedPath:
    """A file or folder a workspace's jobs may read (`write`: and write); `exists_locally`: it
    exists on this machine."""

    path: str
    write: bool
    exists_locally: bool


@dataclass(frozen=True)
class IsolationSettings:
    """A workspace's tenant per environment (DEV and PROD, PROD only in BASIC mode) and the
    paths it shares with its jobs, in path order."""

    project_identifier: str
    tenants: tuple[TenantSetting, ...]
    shared_paths: tuple[SharedPath, ...]


def _local_uid(user: str) -> int | None:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def _check_tenant(user: str) -> str:
    if len(user) > MAX_TENANT_LENGTH or not _TENANT.fullmatch(user):
        raise InvalidParameter(
            f"Tenant {user!r} is not a POSIX user name: at most {MAX_TENANT_LENGTH} lower-case "
            "letters, digits, '_' and '-', starting with a letter or '_' (a final '$' allowed)."
        )
    if user == "root" or _local_uid(user) == 0:
        raise InvalidParameter(f"Tenant {user!r} is root: jobs never run as root.")
    return user


def _tenant_envs(ws: Workspace, env: str | None) -> tuple[str, ...]:
    """The environments a tenant change applies to: `env`, or every one of the workspace."""
    envs = tuple(e.value for e in WorkspaceMode(ws.mode).envs)
    if env is None:
        return envs
    try:
        chosen = Env(str(env).strip().upper()).value
    except ValueError:
        raise InvalidParameter(f"ProjectEnv={env!r} is not one of DEV, PROD.") from None
    if chosen not in envs:
        raise InvalidParameter(
            f"Workspace {ws.identifier!r} is BASIC: it has no {chosen} environment."
        )
    return (chosen,)


def _load_shared(ws: Workspace) -> dict[str, bool]:
    try:
        loaded = json.loads(ws.shared_paths or "[]")
    except ValueError:
        return {}
    if not isinstance(loaded, list):
        return {}
    return {
        str(item["path"]): bool(item.get("write", False))
        for item in loaded
        if isinstance(item, dict) and isinstance(item.get("path"), str)
    }


def _dump_shared(shared: Mapping[str, bool]) -> str:
    return json.dumps([{"path": p, "write": shared[p]} for p in sorted(shared)])


def normal_shared_path(path: str) -> str:
    """`path` absolute and normalised (no `.`, `..`, doubled or trailing `/`), as a shared
    path is stored; InvalidParameter for a relative path."""
    if not path or len(path) > MAX_SHARED_PATH_LENGTH or "\0" in path:
        raise InvalidParameter(
            f"Shared path {path!r} must be 1 to {MAX_SHARED_PATH_LENGTH} characters, without NUL."
        )
    if not os.path.isabs(path):
        raise InvalidParameter(f"Shared path {path!r} is not absolute: it must start with '/'.")
    return "/" + os.path.normpath(path).lstrip("/")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _server_paths(ctx: ServiceContext) -> list[tuple[str, str]]:
    """What a shared path may neither hold nor lie in: the data directory (as configured and
    resolved) and a SQLite store kept elsewhere, with how to name each."""
    data_dir = Path(ctx.settings.data_dir)
    found = [
        (os.path.abspath(data_dir), "the server's data directory"),
        (str(data_dir.resolve()), "the server's data directory"),
    ]
    if ctx.db.is_sqlite:
        store = make_url(ctx.db.url).database
        if store and store != ":memory:":
            found.append((str(Path(store).resolve()), "the server's store"))
    return found


def _check_shared_path(ctx: ServiceContext, path: str) -> str:
    normal = normal_shared_path(path)
    resolved = os.path.realpath(normal)
    if normal == "/":
        raise InvalidParameter(f"Shared path {path!r} would give jobs the whole file system.")
    if resolved == "/":
        raise InvalidParameter(
            f"Shared path {path!r} leads to '/' (a symbolic link): it would give jobs the whole "
            "file system."
        )
    for candidate in dict.fromkeys((normal, resolved)):
        for server, what in _server_paths(ctx):
            if _inside(candidate, server):
                raise InvalidParameter(
                    f"Shared path {path!r} is inside {what} {server}: jobs may not reach it."
                )
            if _inside(server, candidate):
                raise InvalidParameter(
                    f"Shared path {path!r} holds {what} {server}: jobs may not reach it."
                )
    return normal


def _isolation(ws: Workspace) -> IsolationSettings:
    users = {"DEV": ws.tenant_dev, "PROD": ws.tenant_prod}
    tenants = tuple(
        TenantSetting(e.value, users[e.value], _known(users[e.value]))
        for e in WorkspaceMode(ws.mode).envs
    )
    shared = _load_shared(ws)
    return IsolationSettings(
        project_identifier=ws.identifier,
        tenants=tenants,
        shared_paths=tuple(SharedPath(p, shared[p], os.path.exists(p)) for p in sorted(shared)),
    )


def _known(user: str | None) -> bool:
    return user is not None and _local_uid(user) is not None


def get_isolation(
    ctx: ServiceContext,
    *,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> IsolationSettings:
    """A workspace's tenant per environment and the paths it shares with its jobs."""
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        return _isolation(ws)


def set_tenant(
    ctx: ServiceContext,
    *,
    project_id: int | None = None,
    project_identifier: str | None = None,
    user: str | None,
    env: str | None = None,
    caller: Caller = Caller(),
) -> IsolationSettings:
    """Make `user` the tenant of the workspace's jobs in `env` (DEV or PROD), or in every
    environment of the workspace when `env` is None; `user` None clears it (the default job
    user again). A bad user name, root, or DEV of a BASIC workspace → InvalidParameter,
    nothing changed. A user unknown to this machine is accepted (`known_locally` False)."""
    checked = None if user is None else _check_tenant(user)
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        for chosen in _tenant_envs(ws, env):
            if chosen == "DEV":
                ws.tenant_dev = checked
            else:
                ws.tenant_prod = checked
        ws.modified_at = ctx.clock()
        return _isolation(ws)


def share_path(
    ctx: ServiceContext,
    *,
    project_id: int | None = None,
    project_identifier: str | None = None,
    path: str,
    write: bool = False,
    caller: Caller = Caller(),
) -> IsolationSettings:
    """Let the workspace's jobs read `path` (with `write`: read and write it), a file or a
    folder with everything below it; sharing a shared path again sets its `write`. The path is
    stored normalised. A relative path, `/`, a path inside or holding the server's data
    directory or store, or more than `MAX_SHARED_PATHS` paths → InvalidParameter, nothing
    changed. A path missing on this machine is accepted (`exists_locally` False)."""
    normal = _check_shared_path(ctx, path)
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        shared = _load_shared(ws)
        shared[normal] = bool(write)
        if len(shared) > MAX_SHARED_PATHS:
            raise InvalidParameter(f"A workspace shares at most {MAX_SHARED_PATHS} paths.")
        ws.shared_paths = _dump_shared(shared)
        ws.modified_at = ctx.clock()
        return _isolation(ws)


def unshare_path(
    ctx: ServiceContext,
    *,
    project_id: int | None = None,
    project_identifier: str | None = None,
    path: str,
    caller: Caller = Caller(),
) -> IsolationSettings:
    """Stop sharing `path` (compared normalised) with the workspace's jobs. A path the
    workspace does not share → InvalidParameter."""
    normal = normal_shared_path(path)
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        shared = _load_shared(ws)
        if normal not in shared:
            raise InvalidParameter(
                f"Shared path {normal!r} is not among the paths workspace {ws.identifier!r} "
                f"shares{_listing(shared)}."
            )
        del shared[normal]
        ws.shared_paths = _dump_shared(shared)
        ws.modified_at = ctx.clock()
        return _isolation(ws)


def _listing(paths: Iterable[str]) -> str:
    names = sorted(paths)
    return f" ({', '.join(names)})" if names else " (none)"
