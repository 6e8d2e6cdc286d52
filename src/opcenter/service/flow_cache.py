"""The deployed form of a workflow, cached per process and checked against the store per call.

Every RunManualDagNodes loads the graph of the workflow as deployed in one environment (every
node's version, parameters, inputs and outputs, the edges between them): on the 20-node flow of
the API benchmark that was the largest single cost of a call. It changes only when someone
deploys (DeployFile, or submit for DEV), takes a node offline, or adds, moves or deletes a file
of the workflow; file versions themselves never change.

So the graph is kept per store (per SQLAlchemy engine: tests open many stores in one process)
and per (workflow, environment), under a *fingerprint* of what it was built from, read in the
caller's transaction by one cheap aggregate statement over indexed rows:

- the workflow's releases in the environment: how many, the sum of their ids and of their
  version ids, the latest release time, and how many are offline (with the sum of their offline
  times);
- the workflow's live files: how many, and the sum of their ids.

Ids are never reused in a store (SQLite AUTOINCREMENT, PostgreSQL sequences) and a deploy
points a release at another, immutable, version, so any change that alters the graph alters the
fingerprint. The one field of a version that does change in place, its owner (UpdateNodeOwner
sets it on every version of a file), is in the fingerprint too: the released versions'
`node id:owner` pairs, concatenated. Because the fingerprint is read from the store, a deploy
by another process (a second API process, the CLI) is seen by the very next call: nothing is
invalidated by message.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from opcenter.service.flows import FlowGraph, deployed_flow, keep_files
from opcenter.store.prepared import Prepared
from opcenter.store.tables import File, FileVersion, NodeRelease

__all__ = ["MAX_FLOWS", "CachedFlow", "cached_flow", "fingerprint"]

MAX_FLOWS = 256  # per store; a graph of 20 nodes is a few kB

_NR = NodeRelease.__table__.c
_F = File.__table__.c
_WF, _ENV = sa.bindparam("workflow_id"), sa.bindparam("env")
_RELEASES = sa.and_(_NR.workflow_id == _WF, _NR.env == _ENV)
_LIVE = sa.and_(_F.workflow_id == _WF, _F.deleted_at.is_(None))


def _scalar(expr: Any, table: sa.Table, where: Any) -> Any:
    return sa.select(expr).select_from(table).where(where).scalar_subquery()


# One statement, prebuilt (SQLAlchemy caches its compiled form): scalar subqueries over the
# node_release (workflow_id, env) index and the file workflow_id index.
_FINGERPRINT = sa.select(
    _scalar(sa.func.count(), NodeRelease.__table__, _RELEASES),
    _scalar(sa.func.coalesce(sa.func.sum(_NR.id), 0), NodeRelease.__table__, _RELEASES),
    _scalar(sa.func.coalesce(sa.func.sum(_NR.version_id), 0), NodeRelease.__table__, _RELEASES),
    _scalar(sa.func.coalesce(sa.func.max(_NR.released_at), 0), NodeRelease.__table__, _RELEASES),
    _scalar(sa.func.count(_NR.offline_at), NodeRelease.__table__, _RELEASES),
    _scalar(sa.func.coalesce(sa.func.sum(_NR.offline_at), 0), NodeRelease.__table__, _RELEASES),
    _scalar(sa.func.count(), File.__table__, _LIVE),
    _scalar(sa.func.coalesce(sa.func.sum(_F.id), 0), File.__table__, _LIVE),
)
_FV = FileVersion.__table__.c
_PAIR = sa.cast(_NR.node_id, sa.String) + ":" + _FV.owner
_RELEASED_VERSIONS = NodeRelease.__table__.join(FileVersion.__table__, _FV.id == _NR.version_id)
# The owners, by dialect: SQLite's group_concat, PostgreSQL's string_agg.
_OWNERS = {
    "sqlite": _scalar(sa.func.group_concat(_PAIR, ","), _RELEASED_VERSIONS, _RELEASES),
    "postgresql": _scalar(sa.func.string_agg(_PAIR, ","), _RELEASED_VERSIONS, _RELEASES),
}
# Counts, sums and a string: run through the driver (store/prepared.py), every run asks it.
_FINGERPRINTS = {
    dialect: Prepared(sa.select(*_FINGERPRINT.selected_columns, owners))
    for dialect, owners in _OWNERS.items()
}
_LIVE_FILES = sa.select(_F.id, _F.name).where(_LIVE)
_RELEASED_FILES = sa.select(_NR.file_id).where(_RELEASES)
_OFFLINE = sa.select(_NR.node_id).where(_RELEASES, _NR.offline_at.is_not(None))


@dataclass(frozen=True)
class CachedFlow:
    """What a run needs of a workflow's deployed form in one environment.

    Shared between calls: callers must not modify `graph` (FlowGraph is a plain dataclass).
    `missing` names the live files without a release (the run refuses the flow then);
    `has_files` is False for a workflow without live files.
    """

    graph: FlowGraph
    missing: tuple[str, ...]
    has_files: bool
    offline: frozenset[int]


_caches: weakref.WeakKeyDictionary[Engine, OrderedDict[tuple[Any, ...], CachedFlow]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def fingerprint(session: Session, workflow_id: int, env: str) -> tuple[Any, ...]:
    """What the cached form of (workflow, env) is checked against (see the module's doc)."""
    statement = _FINGERPRINTS[session.get_bind().dialect.name]
    # On the session's connection, through the driver: Core's execution path cost more than
    # the statement.
    conn = session.connection()
    (row,) = statement.rows(conn, {"workflow_id": workflow_id, "env": env})
    return tuple(row)


def _load(session: Session, workflow_id: int, env: str) -> CachedFlow:
    params = {"workflow_id": workflow_id, "env": env}
    files = session.execute(_LIVE_FILES, params).all()
    released = set(session.scalars(_RELEASED_FILES, params))
    missing = tuple(sorted(f.name for f in files if f.id not in released))
    graph = keep_files(deployed_flow(session, workflow_id, env), {f.id for f in files})
    offline = frozenset(session.scalars(_OFFLINE, params))
    return CachedFlow(graph, missing, bool(files), offline)


def cached_flow(session: Session, workflow_id: int, env: str) -> CachedFlow:
    """The deployed form of the workflow in `env`, from this process's cache when the store's
    fingerprint still matches, else loaded (in `session`) and kept."""
    key = (workflow_id, env, *fingerprint(session, workflow_id, env))
    engine = session.get_bind()
    with _lock:
        cache = _caches.get(engine)  # type: ignore[arg-type]
        found = cache.get(key) if cache is not None else None
        if found is not None:
            cache.move_to_end(key)  # type: ignore[union-attr]
            return found
    loaded = _load(session, workflow_id, env)
    with _lock:
        cache = _caches.setdefault(engine, OrderedDict())  # type: ignore[arg-type]
        # An older fingerprint of the same flow is dead: drop it rather than wait for LRU.
        for stale in [k for k in cache if k[:2] == key[:2]]:
            del cache[stale]
        cache[key] = loaded
        while len(cache) > MAX_FLOWS:
            cache.popitem(last=False)
    return loaded
