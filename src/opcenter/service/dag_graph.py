"""A Dag as a graph, for the page: its instances (one per node) and the edges between them.

    env = dag_env(ctx, dag_id)                                  # which environment it runs in
    graph = dag_graph(ctx, dag_id=dag_id, project_env=env)      # nodes, edges, instance rows

Two indexed queries, only the columns the page draws, so a 5,000-instance Dag loads in a few
tens of milliseconds (the engine's full instance rows carry parameters and code versions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import Env
from opcenter.errors import InvalidParameter, not_found
from opcenter.service.context import ServiceContext
from opcenter.service.views import program_type
from opcenter.store.tables import Dag, Instance, InstanceEdge

__all__ = ["DagGraph", "dag_env", "dag_graph", "dag_states"]

# The columns of an instance's state (console/feed.py instance_state reads these names).
STATE_COLUMNS = (
    Instance.id,
    Instance.dag_id,
    Instance.node_id,
    Instance.status,
    Instance.suspended,
    Instance.task_type,
    Instance.attempt,
    Instance.begin_running_time,
    Instance.finish_time,
)


@dataclass(frozen=True)
class DagGraph:
    """`nodes`: `{"id": node id, "name", "type"}`; `edges`: (parent node id, child node id);
    `instances`: rows with the STATE_COLUMNS attributes; `status`: the Dag's status."""

    nodes: list[dict[str, Any]]
    edges: list[tuple[int, int]]
    instances: list[Any]
    status: str


def dag_env(ctx: ServiceContext, dag_id: int) -> str:
    """The environment (PROD or DEV) of Dag `dag_id`; NotFound("Dag") when there is none."""
    with ctx.db.transaction(readonly=True) as session:
        env = session.scalar(sa.select(Dag.env).where(Dag.id == dag_id))
    if env is None:
        raise not_found("DagId", dag_id, "PROD or DEV")
    return str(env)


def _checked_env(project_env: str) -> str:
    if project_env not in Env.__members__:
        raise InvalidParameter(f"ProjectEnv={project_env!r} is not PROD or DEV.")
    return project_env


def _dag_status(session: Session, dag_id: int, project_env: str) -> str:
    """The Dag's status; NotFound when there is no such Dag in `project_env`."""
    env = _checked_env(project_env)
    status = session.scalar(sa.select(Dag.status).where(Dag.id == dag_id, Dag.env == env))
    if status is None:
        raise not_found("DagId", dag_id, env)
    return str(status)


def dag_states(ctx: ServiceContext, *, dag_id: int, project_env: str) -> tuple[list[Any], str]:
    """The current state rows of every instance of the Dag, and the Dag's status."""
    with ctx.db.transaction(readonly=True) as session:
        status = _dag_status(session, dag_id, project_env)
        rows = session.execute(
            sa.select(*STATE_COLUMNS).where(Instance.dag_id == dag_id).order_by(Instance.id)
        ).all()
    return list(rows), str(status)


def dag_graph(ctx: ServiceContext, *, dag_id: int, project_env: str) -> DagGraph:
    """The Dag's nodes, edges and instance states (NotFound for a Dag of another env)."""
    with ctx.db.transaction(readonly=True) as session:
        status = _dag_status(session, dag_id, project_env)
        rows = session.execute(
            sa.select(*STATE_COLUMNS, Instance.node_name, Instance.file_type)
            .where(Instance.dag_id == dag_id)
            .order_by(Instance.id)
        ).all()
        pairs = session.execute(
            sa.select(InstanceEdge.parent_id, InstanceEdge.child_id).where(
                InstanceEdge.dag_id == dag_id
            )
        ).all()
    node_of = {r.id: r.node_id for r in rows}
    nodes = [
        {"id": r.node_id, "name": r.node_name, "type": program_type(r.file_type)} for r in rows
    ]
    edges = [(node_of[p], node_of[c]) for p, c in pairs if p in node_of and c in node_of]
    return DagGraph(nodes=nodes, edges=edges, instances=list(rows), status=str(status))
