"""Where an instance attempt keeps its files, and which SQL connection a SQL node uses.

The embedded SQL database of a workspace environment lives in a folder of its own,
`<data_dir>/sql/<identifier>_<env>/<identifier>_<env>.db`: SQLite writes its `-journal`, `-wal`
and `-shm` files beside the database, so a job that uses the database needs the whole folder,
and that folder holds nothing of another workspace. Before, the database was
`<data_dir>/sql/<identifier>_<env>.db`; the first use by a process moves such a file (and its
companions) into the new folder.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

__all__ = [
    "embedded_sql",
    "log_path",
    "sql_folder",
    "sql_url",
    "sqlite_folder",
    "workdir",
]

logger = logging.getLogger(__name__)

# What SQLite may keep beside a database, moved with it; the database itself goes last, so a
# move cut short is finished by the next one.
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def log_path(data_dir: Path, dag_id: int, instance_id: int, attempt: int) -> Path:
    """One log file per attempt: `<data_dir>/logs/dag_<DagId>/<InstanceId>.<attempt>.log`."""
    return Path(data_dir, "logs", f"dag_{dag_id}", f"{instance_id}.{attempt}.log")


def workdir(data_dir: Path, instance_id: int, attempt: int) -> Path:
    """The working directory of one attempt (created by the executor)."""
    return Path(data_dir, "work", str(instance_id), str(attempt))


def sql_folder(data_dir: Path, identifier: str, env: str) -> Path:
    """The folder of a workspace environment's embedded SQL database,
    `<data_dir>/sql/<identifier>_<env>` (a path only: nothing is created)."""
    return Path(data_dir, "sql", f"{identifier}_{env}")


@functools.lru_cache(maxsize=4096)
def embedded_sql(data_dir: Path, identifier: str, env: str) -> tuple[str, Path]:
    """The embedded SQL database of a workspace environment: its URL and its folder.

    `data_dir` must be absolute (resolved). The folder is created, and a database of the former
    layout moved into it, on the first call of a process for these arguments; later calls
    return the cached answer without a system call (dispatch calls this for every attempt)."""
    folder = sql_folder(data_dir, identifier, env)
    name = f"{identifier}_{env}.db"
    folder.mkdir(parents=True, exist_ok=True)
    _move_former_layout(folder.parent / name, folder / name)
    return f"sqlite:///{folder / name}", folder


def _move_former_layout(old: Path, new: Path) -> None:
    """Move `<data_dir>/sql/<name>.db` and its companions to `<folder>/<name>.db`, unless the
    new database is there already (then the old one is left alone, with a warning)."""
    if not old.exists():
        return
    if new.exists():
        logger.warning(
            "SQL database %s is not used: %s is the workspace environment's database", old, new
        )
        return
    for suffix in _SQLITE_COMPANIONS:
        companion = old.with_name(old.name + suffix)
        if companion.exists():
            os.replace(companion, new.with_name(new.name + suffix))
    os.replace(old, new)
    logger.info("SQL database %s moved to %s", old, new)


def sql_url(
    data_dir: Path, identifier: str, env: str, dev_url: str | None, prod_url: str | None
) -> str:
    """The workspace environment's SQL connection: the one it configures, or the embedded
    default (`embedded_sql`). `data_dir` must be absolute."""
    configured = dev_url if env == "DEV" else prod_url
    if configured:
        return configured
    return embedded_sql(data_dir, identifier, env)[0]


@functools.lru_cache(maxsize=256)
def sqlite_folder(url: str) -> Path | None:
    """The folder of the database file a `sqlite:///…` URL names, absolute; None for any other
    URL, an in-memory database or a relative file path (relative to what a job's working
    directory would make it)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or not os.path.isabs(database):
        return None
    return Path(os.path.normpath(database)).parent
