"""The deployed form of a workflow in one environment: its nodes and their same-cycle edges.

Edges are the DataWorks way: a node depends on every node of the same workflow and environment
whose output names appear in its input list. Inputs naming the workspace root
(`<identifier>_root`) mean "no upstream".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.store.prepared import flushed
from opcenter.store.tables import FileVersion, NodeRelease

__all__ = ["DeployedNode", "FlowGraph", "deployed_flow", "keep_files", "root_output"]


def root_output(workspace_identifier: str) -> str:
    return f"{workspace_identifier}_root"


@dataclass(frozen=True)
class DeployedNode:
    """A node as released in one environment, with the version it runs."""

    node_id: int
    file_id: int
    version_id: int
    name: str
    file_type: int
    content: str
    para_value: str
    outputs: tuple[str, ...]
    inputs: tuple[str, ...]
    rerun_mode: str
    auto_rerun_times: int
    auto_rerun_interval_millis: int
    timeout_hours: int
    priority: int
    owner: str
    description: str
    scheduler_type: str
    resource_group: str | None = None


@dataclass
class FlowGraph:
    """Nodes of one workflow in one environment; `parents[n]` are the node ids `n` waits for."""

    nodes: dict[int, DeployedNode] = field(default_factory=dict)
    parents: dict[int, list[int]] = field(default_factory=dict)

    def children(self, node_id: int) -> list[int]:
        return [n for n, ps in self.parents.items() if node_id in ps]


# Built once, Core on the tables (not the mapped classes: a statement of mapped attributes goes
# through the ORM, which configures every mapper on its first use) and only the columns a node
# needs: every run loads its flow this way.
_R = NodeRelease.__table__
_V = FileVersion.__table__
_DEPLOYED = (
    sa.select(
        _R.c.node_id,
        _V.c.file_id,
        _V.c.id,
        _V.c.name,
        _V.c.file_type,
        _V.c.content,
        _V.c.para_value,
        _V.c.output_list,
        _V.c.input_list,
        _V.c.rerun_mode,
        _V.c.auto_rerun_times,
        _V.c.auto_rerun_interval_millis,
        _V.c.timeout_hours,
        _V.c.priority,
        _V.c.owner,
        _V.c.description,
        _V.c.scheduler_type,
        _V.c.resource_group,
    )
    .join(_V, _V.c.id == _R.c.version_id)
    .where(_R.c.workflow_id == sa.bindparam("workflow_id"), _R.c.env == sa.bindparam("env"))
    .order_by(_R.c.node_id)
)


def deployed_flow(session: Session, workflow_id: int, env: str) -> FlowGraph:
    """Load the nodes released to `env` for the workflow, with edges resolved by output name."""
    params = {"workflow_id": workflow_id, "env": env}
    rows = flushed(session).execute(_DEPLOYED, params).all()  # flushed, as the ORM's query was
    graph = FlowGraph()
    producer: dict[str, int] = {}
    for v in rows:
        node = DeployedNode(
            node_id=v.node_id,
            file_id=v.file_id,
            version_id=v.id,
            name=v.name,
            file_type=v.file_type,
            content=v.content,
            para_value=v.para_value,
            outputs=tuple(json.loads(v.output_list)),
            inputs=tuple(json.loads(v.input_list)),
            rerun_mode=v.rerun_mode,
            auto_rerun_times=v.auto_rerun_times,
            auto_rerun_interval_millis=v.auto_rerun_interval_millis,
            timeout_hours=v.timeout_hours,
            priority=v.priority,
            owner=v.owner,
            description=v.description,
            scheduler_type=v.scheduler_type,
            resource_group=v.resource_group,
        )
        graph.nodes[v.node_id] = node
        for out in node.outputs:
            producer[out] = v.node_id
    for node_id, node in graph.nodes.items():
        ups = {producer[i] for i in node.inputs if i in producer and producer[i] != node_id}
        graph.parents[node_id] = sorted(ups)
    return graph


def keep_files(graph: FlowGraph, file_ids: set[int]) -> FlowGraph:
    """Drop (in place) the nodes whose file is not in `file_ids` (a deleted file's release
    stays in the store) and the edges to them; returns `graph`."""
    for node_id in [n for n, node in graph.nodes.items() if node.file_id not in file_ids]:
        del graph.nodes[node_id]
    graph.parents = {
        n: [p for p in ps if p in graph.nodes]
        for n, ps in graph.parents.items()
        if n in graph.nodes
    }
    return graph
