"""Where an instance attempt keeps its files, and which SQL connection a SQL node uses."""

from __future__ import annotations

from pathlib import Path

__all__ = ["log_path", "sql_url", "workdir"]


def log_path(data_dir: Path, dag_id: int, instance_id: int, attempt: int) -> Path:
    """One log file per attempt: `<data_dir>/logs/dag_<DagId>/<InstanceId>.<attempt>.log`."""
    return Path(data_dir, "logs", f"dag_{dag_id}", f"{instance_id}.{attempt}.log")


def workdir(data_dir: Path, instance_id: int, attempt: int) -> Path:
    """The working directory of one attempt (created by the executor)."""
    return Path(data_dir, "work", str(instance_id), str(attempt))


def sql_url(
    data_dir: Path, identifier: str, env: str, dev_url: str | None, prod_url: str | None
) -> str:
    """The workspace environment's SQL connection, or the embedded default: a SQLite file per
    workspace and environment, `<data_dir>/sql/<identifier>_<env>.db`."""
    configured = dev_url if env == "DEV" else prod_url
    if configured:
        return configured
    path = (Path(data_dir) / "sql" / f"{identifier}_{env}.db").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"
