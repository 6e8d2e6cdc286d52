"""An `InstanceSpec` as the JSON a Celery message carries, and back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opcenter.runners.base import Confinement, Grant, InstanceSpec

__all__ = ["DEFAULT_QUEUE", "decode_spec", "encode_spec", "queue_of"]

DEFAULT_QUEUE = "default"  # the queue of a node without a resource group


def encode_spec(spec: InstanceSpec) -> dict[str, Any]:
    """The spec as plain JSON values (paths as strings)."""
    conf = spec.confinement
    return {
        "instance_id": spec.instance_id,
        "attempt": spec.attempt,
        "file_type": spec.file_type,
        "code": spec.code,
        "argv": list(spec.argv),
        "workdir": str(spec.workdir),
        "log_path": str(spec.log_path),
        "timeout_seconds": spec.timeout_seconds,
        "sql_url": spec.sql_url,
        "env": dict(spec.env),
        "log_cap_bytes": spec.log_cap_bytes,
        "resource_group": spec.resource_group,
        "confinement": None
        if conf is None
        else {
            "workspace": conf.workspace,
            "env": conf.env,
            "tenant": conf.tenant,
            "grants": [[str(g.path), g.writable] for g in conf.grants],
        },
    }


def decode_spec(data: dict[str, Any]) -> InstanceSpec:
    """The spec `encode_spec` gave; raises KeyError/TypeError/ValueError for anything else."""
    conf = data.get("confinement")
    return InstanceSpec(
        instance_id=int(data["instance_id"]),
        attempt=int(data["attempt"]),
        file_type=int(data["file_type"]),
        code=str(data["code"]),
        argv=tuple(str(a) for a in data["argv"]),
        workdir=Path(data["workdir"]),
        log_path=Path(data["log_path"]),
        timeout_seconds=float(data["timeout_seconds"]),
        sql_url=data.get("sql_url"),
        env={str(k): str(v) for k, v in data.get("env", {}).items()},
        log_cap_bytes=int(data["log_cap_bytes"]),
        resource_group=data.get("resource_group"),
        confinement=None
        if conf is None
        else Confinement(
            workspace=str(conf["workspace"]),
            env=str(conf["env"]),
            tenant=conf.get("tenant"),
            grants=tuple(Grant(Path(p), bool(w)) for p, w in conf.get("grants", [])),
        ),
    )


def queue_of(spec: InstanceSpec) -> str:
    """The Celery queue of an attempt: its node's resource group, else `default`."""
    return spec.resource_group or DEFAULT_QUEUE
