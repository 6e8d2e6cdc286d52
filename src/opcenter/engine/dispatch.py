"""Turning claimed instances into executor work: rendered code, argv, paths, log header.

The resolved parameters were computed when the instance was created and stored with it
(`resolved_params`, JSON); a rerun uses them unchanged, unless it was asked to run the latest
deployed version (docs/running.md). The engine writes the log's header lines (identity, the
file version the attempt runs and the deployment that released it, parameter values, one
warning line for `${...}` left as written) before it hands the attempt to the executor, which
appends the process output.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import FileType, TaskType
from opcenter.domain.params import ResolvedParams, render_code
from opcenter.engine.paths import embedded_sql, log_path, sql_folder, sqlite_folder, workdir
from opcenter.runners.base import Confinement, Grant, InstanceSpec
from opcenter.runners.logs import CappedLog
from opcenter.settings import Settings
from opcenter.store.tables import Deployment, FileVersion, Workspace

__all__ = [
    "Prepared",
    "Releases",
    "decode_resolved",
    "encode_resolved",
    "instant_line",
    "job_env",
    "prepare",
    "write_lines",
]

logger = logging.getLogger(__name__)

_WORKSPACES = sa.select(
    Workspace.id,
    Workspace.identifier,
    Workspace.sql_url_dev,
    Workspace.sql_url_prod,
    Workspace.job_env,
    Workspace.tenant_dev,
    Workspace.tenant_prod,
    Workspace.shared_paths,
).where(Workspace.id.in_(sa.bindparam("ids", expanding=True)))


def encode_resolved(resolved: ResolvedParams) -> str:
    """The stored form of an instance's resolved parameters."""
    return json.dumps(
        {
            "named": resolved.named,
            "positional": resolved.positional,
            "undefined": resolved.undefined,
            "system": resolved.system,
            "order": list(resolved.order),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def decode_resolved(text: str) -> ResolvedParams:
    data = json.loads(text or "{}")
    return ResolvedParams(
        dict(data.get("named", {})),
        list(data.get("positional", [])),
        list(data.get("undefined", [])),
        dict(data.get("system", {})),
        tuple(data.get("order", ())),
    )


@dataclass(frozen=True)
class Prepared:
    spec: InstanceSpec
    header: tuple[str, ...]


def _undefined_warning(names: Sequence[str]) -> str:
    refs = ", ".join("${" + n + "}" for n in names)
    return f"WARNING: undefined parameter(s) left as written: {refs}"


_VERSIONS = (
    sa.select(
        FileVersion.id,
        FileVersion.name,
        FileVersion.version,
        Deployment.to_env,
        sa.func.max(Deployment.id).label("deployment_id"),
    )
    .outerjoin(Deployment, Deployment.version_id == FileVersion.id)
    .where(FileVersion.id.in_(sa.bindparam("ids", expanding=True)))
    .group_by(FileVersion.id, FileVersion.name, FileVersion.version, Deployment.to_env)
)
_DEPLOYMENT_NAMES = sa.select(Deployment.id, Deployment.name).where(
    Deployment.id.in_(sa.bindparam("ids", expanding=True))
)


class Releases:
    """The log header line naming what an attempt runs: the file version, and the deployment
    that released that version to the attempt's environment (its latest one). Both are
    immutable once an instance can run them, so each (version, environment) is read from the
    store once per engine: the hot path pays one query only for a version it has not seen."""

    _LIMIT = 4096  # entries kept; forgotten all at once beyond (a re-read costs one query)

    def __init__(self) -> None:
        self._lines: dict[tuple[int, str], str] = {}

    def lines(
        self, session: Session, keys: Collection[tuple[int, str]]
    ) -> dict[tuple[int, str], str]:
        """The header line of each (FileVersionId, environment)."""
        missing = sorted({k[0] for k in keys if k not in self._lines})
        if not missing:
            return {k: self._lines[k] for k in keys}
        if len(self._lines) > self._LIMIT:
            self._lines.clear()
        versions = self._read(session, missing)
        out = {}
        for key in keys:
            line = self._lines.get(key)
            if line is None:  # not released to that environment by a recorded deployment
                found = versions.get(key[0])
                line = _unknown_version(key[0]) if found is None else version_line(*found, key[1])
            out[key] = line
        return out

    def _read(self, session: Session, version_ids: list[int]) -> dict[int, tuple[str, int, int]]:
        """Cache the line of every (version, environment) a deployment released; returns the
        versions found, as (file name, version number, FileVersionId)."""
        conn = session.connection()
        rows = conn.execute(_VERSIONS, {"ids": version_ids}).all()
        deployments = sorted({r.deployment_id for r in rows if r.deployment_id is not None})
        names = (
            dict(conn.execute(_DEPLOYMENT_NAMES, {"ids": deployments}).all()) if deployments else {}
        )
        versions = {}
        for r in rows:
            versions[r.id] = (r.name, r.version, r.id)
            if r.to_env is not None:
                self._lines[(r.id, r.to_env)] = version_line(
                    r.name, r.version, r.id, r.to_env, r.deployment_id, names.get(r.deployment_id)
                )
        return versions


def version_line(
    name: str,
    version: int,
    version_id: int,
    env: str,
    deployment_id: int | None = None,
    deployment_name: str | None = None,
) -> str:
    """`Code: file load version 2 (FileVersionId 17), released to PROD by deployment 9 (deploy
    load v2)`: the log header line naming what an attempt runs."""
    text = f"Code: file {name} version {version} (FileVersionId {version_id})"
    if deployment_id is None:
        return f"{text}; no deployment to {env} is recorded for it"
    label = f" ({deployment_name})" if deployment_name else ""
    return f"{text}, released to {env} by deployment {deployment_id}{label}"


def _unknown_version(version_id: int) -> str:
    return f"Code: FileVersionId {version_id} (no longer in the store)"


def prepare(
    session: Session, rows: Sequence[Any], settings: Settings, releases: Releases | None = None
) -> dict[int, Prepared]:
    """Build the executor spec and log header of each attempt just marked RUNNING; `rows` are
    what `transitions.mark_running` returned (the instance's columns, its code and business
    date); one query more reads their workspaces (SQL connection, job environment, tenants,
    shared paths), and `releases` names the versions they run (a query only for a version it
    has not seen yet; a new `Releases` when none is given). Keyed by instance id."""
    if not rows:
        return {}
    ids = sorted({r.workspace_id for r in rows})
    spaces = {w.id: w for w in session.connection().execute(_WORKSPACES, {"ids": ids})}
    data_dir = _absolute(settings.data_dir)
    found = (releases or Releases()).lines(session, {(r.version_id, r.env) for r in rows})
    return {
        r.id: _prepare_row(
            r, spaces.get(r.workspace_id), settings, data_dir, found[(r.version_id, r.env)]
        )
        for r in rows
    }


def job_env(r: Any, space: Any) -> dict[str, str]:
    """What a job finds in its environment from opcenter: the workspace's `job_env` first,
    then the instance's own identifiers and parameters (which a workspace cannot override).
    The executor adds the allow-listed variables of the server (runners/environment.py)."""
    env = _workspace_env(space)
    env.update(
        {
            "OPCENTER_INSTANCE_ID": str(r.id),
            "OPCENTER_DAG_ID": str(r.dag_id),
            "OPCENTER_NODE_ID": str(r.node_id),
            "OPCENTER_BIZDATE": r.biz_date.strftime("%Y%m%d"),
            "OPCENTER_ATTEMPT": str(r.attempt),
            "OPCENTER_PARAMS": r.param_values or "",
        }
    )
    return env


def _workspace_env(space: Any) -> dict[str, str]:
    """The workspace's `job_env` (a JSON object); anything else is ignored with a warning."""
    text = getattr(space, "job_env", None) or "{}"
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        logger.warning("workspace %s: job_env is not a JSON object; ignored", space.id)
        return {}
    return {str(k): str(v) for k, v in data.items()}


@functools.lru_cache(maxsize=8)
def _absolute(data_dir: Path) -> Path:
    """The data directory resolved once per process (a dozen system calls each time otherwise);
    the paths below it are our own folders, never links."""
    return Path(data_dir).resolve()


def _sql_target(space: Any, env: str, data_dir: Path) -> tuple[str, Path | None]:
    """The workspace environment's SQL connection and the folder of its SQLite database (None
    for a database server): the URL the workspace configures, else the embedded database."""
    configured = space.sql_url_dev if env == "DEV" else space.sql_url_prod
    if configured:
        return configured, _configured_folder(configured, data_dir)
    try:
        return embedded_sql(data_dir, space.identifier, env)
    except OSError as exc:  # the attempt still runs; a SQL node then fails on its own
        folder = sql_folder(data_dir, space.identifier, env)
        logger.warning("cannot prepare the SQL folder %s: %s", folder, exc)
        return f"sqlite:///{folder / f'{space.identifier}_{env}.db'}", None


@functools.lru_cache(maxsize=256)
def _configured_folder(url: str, data_dir: Path) -> Path | None:
    """The folder of a configured `sqlite:///` database, unless it is or holds the data
    directory (which no job may reach; the SQL node then cannot open its database)."""
    folder = sqlite_folder(url)
    if folder is not None and data_dir.is_relative_to(folder):
        logger.warning(
            "SQL database %s: its folder holds the data directory %s; jobs are not given it",
            url,
            data_dir,
        )
        return None
    return folder


@functools.lru_cache(maxsize=256)
def _shared_grants(text: str | None, data_dir: Path) -> tuple[Grant, ...]:
    """The workspace's shared paths (`shared_paths`, a JSON list of {"path", "write"}) as
    grants; anything else, and a path that is not absolute, is `/` or overlaps the data
    directory (checked when it was shared, but the data directory may have moved since),
    is left out with a warning. Cached by the column's text: parsed once per process."""
    try:
        items = json.loads(text or "[]")
    except ValueError:
        items = None
    if not isinstance(items, list):
        logger.warning("shared_paths %r is not a JSON list; ignored", text)
        return ()
    grants = []
    for item in items:
        path = item.get("path") if isinstance(item, dict) else None
        if not isinstance(path, str) or not os.path.isabs(path):
            logger.warning("shared path %r is not an absolute path; ignored", item)
            continue
        shared = Path(os.path.normpath(path))
        if shared == Path("/") or shared.is_relative_to(data_dir):
            logger.warning("shared path %s is / or inside the data directory; ignored", path)
            continue
        if data_dir.is_relative_to(shared):
            logger.warning("shared path %s holds the data directory; ignored", path)
            continue
        grants.append(Grant(shared, writable=bool(item.get("write", False))))
    return tuple(grants)


def _confinement(r: Any, space: Any, folder: Path | None, data_dir: Path) -> Confinement:
    """Whose job the attempt is: its workspace and environment, the tenant the workspace names
    for that environment, and what the job may reach (its SQL folder, the shared paths)."""
    if space is None:  # no workspace row: nothing beyond the work directory
        return Confinement(workspace=f"#{r.workspace_id}", env=r.env)
    tenant = space.tenant_dev if r.env == "DEV" else space.tenant_prod
    grants = _shared_grants(space.shared_paths, data_dir)
    if folder is not None:
        grants = (Grant(folder, writable=True), *grants)
    return Confinement(workspace=space.identifier, env=r.env, tenant=tenant or None, grants=grants)


def _prepare_row(r: Any, space: Any, settings: Settings, data_dir: Path, version: str) -> Prepared:
    resolved = decode_resolved(r.resolved_params)
    rendered = render_code(r.content or "", resolved)
    undefined = list(dict.fromkeys([*resolved.undefined, *rendered.undefined]))
    header = [
        f"Instance {r.id} of node {r.node_name} (NodeId {r.node_id}), DagId {r.dag_id}, "
        f"business date {r.biz_date.isoformat()}, {r.env}, attempt {r.attempt}",
        version,
        f"Parameters: {r.param_values or '(none)'}",
    ]
    if undefined:
        header.append(_undefined_warning(undefined))
    url = folder = None
    if space is not None and r.file_type != FileType.VIRTUAL:
        url, folder = _sql_target(space, r.env, data_dir)
        if r.file_type != FileType.ODPS_SQL:
            url = None  # Shell and Python nodes reach the folder, not the connection
    spec = InstanceSpec(
        instance_id=r.id,
        attempt=r.attempt,
        file_type=r.file_type,
        code=rendered.code,
        argv=tuple(rendered.argv),
        workdir=workdir(data_dir, r.id, r.attempt),
        log_path=log_path(data_dir, r.dag_id, r.id, r.attempt),
        timeout_seconds=float(r.timeout_seconds),
        sql_url=url,
        env=job_env(r, space),
        log_cap_bytes=settings.log_cap_bytes,
        confinement=_confinement(r, space, folder, data_dir),
        resource_group=getattr(r, "resource_group", None),
    )
    return Prepared(spec, tuple(header))


def instant_line(task_type: TaskType, file_type: int) -> str:
    """The log line of an instance that finished inside the engine. No file holds it: the
    log is made on read from the instance's row (service/logs.py)."""
    if task_type is not TaskType.MANUAL:
        return (
            f"Dry run ({task_type.value}): the node's code was not run; the instance succeeded "
            "as soon as its upstream did."
        )
    return "Virtual node: nothing to run; the instance succeeded as soon as its upstream did."


def write_lines(path: Path, lines: Sequence[str]) -> None:
    """Append `[opcenter]` lines to a log; a log that cannot be written is not fatal."""
    try:
        with CappedLog(path, 0) as log:  # one open for all the lines; they are not capped
            for line in lines:
                log.line(line)
    except OSError as exc:
        logger.warning("cannot write log %s: %s", path, exc)
