"""A layered (Sugiyama-style) layout of a workflow's DAG, drawn top to bottom by graph.js.

    data = graph_data(nodes, edges, instances)   # the JSON the page's graph component reads

1. Layers: the longest path from the roots (a node sits one layer below its lowest parent), so
   every edge points downwards.
2. Order within a layer: a few barycenter sweeps (down by the parents' positions, up by the
   children's), which removes most crossings of real workflows; ties keep the previous order, so
   the result is deterministic.
3. Rows: a layer wider than `ROW_MAX` nodes wraps onto several rows.
4. Coordinates: each row's nodes as close to the mean of their neighbours as the minimum gap
   allows (the least-squares placement under order constraints, found by pooling adjacent
   violators), down then up then down, so a parent sits over its children and a chain is
   straight.

Every step is linear or `n log n` in nodes and edges; edges spanning several layers get no
dummy nodes (they are drawn as curves), which keeps 5,000 nodes well under a second.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["NODE_HEIGHT", "NODE_WIDTH", "ROW_MAX", "graph_data", "layers", "layout"]

NODE_WIDTH = 168  # px
NODE_HEIGHT = 40  # px
GAP_X = 24  # px between two nodes of a layer
GAP_Y = 56  # px between two layers
MARGIN = 16  # px around the drawing
SWEEPS = 4  # barycenter sweeps (alternately down and up)
ROW_MAX = 50  # nodes per drawn row: a wider layer wraps onto several rows

Key = Hashable


def _adjacency(
    ids: Sequence[Key], edges: Iterable[tuple[Key, Key]]
) -> tuple[dict[Key, list[Key]], dict[Key, list[Key]]]:
    parents: dict[Key, list[Key]] = {i: [] for i in ids}
    children: dict[Key, list[Key]] = {i: [] for i in ids}
    seen: set[tuple[Key, Key]] = set()
    for a, b in edges:
        if a == b or a not in parents or b not in parents or (a, b) in seen:
            continue
        seen.add((a, b))
        parents[b].append(a)
        children[a].append(b)
    return parents, children


def layers(
    ids: Sequence[Key], parents: Mapping[Key, list[Key]], children: Mapping[Key, list[Key]]
) -> dict[Key, int]:
    """The layer of every node: 0 for a root, else one more than its lowest parent. Nodes on a
    cycle (not a DAG) are placed below everything reached, in input order."""
    waiting = {i: len(parents[i]) for i in ids}
    level = dict.fromkeys(ids, 0)
    ready = [i for i in ids if not waiting[i]]
    done = 0
    while done < len(ids):
        if not ready:  # a cycle: release the first node still waiting
            stuck = next(i for i in ids if waiting[i] > 0)
            level[stuck] = max(level.values()) + 1
            waiting[stuck] = 0
            ready.append(stuck)
        node = ready.pop()
        done += 1
        for child in children[node]:
            if level[child] <= level[node]:
                level[child] = level[node] + 1
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return level


def _order(
    rows: list[list[Key]], parents: Mapping[Key, list[Key]], children: Mapping[Key, list[Key]]
) -> None:
    """Reorder each row in place by barycenter sweeps (positions centred on the row's middle,
    so rows of different widths compare)."""
    pos: dict[Key, float] = {}

    def place(row: list[Key]) -> None:
        mid = (len(row) - 1) / 2
        for i, node in enumerate(row):
            pos[node] = i - mid

    for row in rows:
        place(row)
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        neighbours = parents if down else children
        for row in rows if down else reversed(rows):
            keys = {}
            for node in row:
                near = neighbours[node]
                keys[node] = sum(pos[n] for n in near) / len(near) if near else pos[node]
            row.sort(key=lambda n: (keys[n], pos[n]))
            place(row)


def _pack(desired: list[float], step: float) -> list[float]:
    """Positions as close (least squares) to `desired` as keeping them in order, `step` apart,
    allows: pool adjacent violators on `desired[i] - i * step`."""
    blocks: list[list[float]] = []  # [mean, weight]
    for i, want in enumerate(desired):
        blocks.append([want - i * step, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, weight = blocks.pop()
            prev = blocks[-1]
            total = prev[1] + weight
            prev[0] = (prev[0] * prev[1] + mean * weight) / total
            prev[1] = total
    out: list[float] = []
    for mean, weight in blocks:
        out.extend([mean] * int(weight))
    return [z + i * step for i, z in enumerate(out)]


def _coordinates(
    rows: list[list[Key]], parents: Mapping[Key, list[Key]], children: Mapping[Key, list[Key]]
) -> dict[Key, float]:
    step = NODE_WIDTH + GAP_X
    x: dict[Key, float] = {}
    for row in rows:
        mid = (len(row) - 1) / 2
        for i, node in enumerate(row):
            x[node] = (i - mid) * step
    for sweep in range(3):
        down = sweep != 1
        neighbours = parents if down else children
        for row in rows if down else reversed(rows):
            desired = []
            for node in row:
                near = neighbours[node]
                desired.append(sum(x[n] for n in near) / len(near) if near else x[node])
            for node, value in zip(row, _pack(desired, step), strict=True):
                x[node] = value
    return x


def layout(
    ids: Sequence[Key], edges: Iterable[tuple[Key, Key]]
) -> tuple[dict[Key, tuple[float, float]], float, float]:
    """Top-left corners of the nodes `ids` (each `NODE_WIDTH` × `NODE_HEIGHT`), and the
    drawing's width and height. Edges naming unknown nodes, and self-loops, are ignored."""
    if not ids:
        return {}, 2 * MARGIN, 2 * MARGIN
    parents, children = _adjacency(ids, edges)
    level = layers(ids, parents, children)
    rows: list[list[Key]] = [[] for _ in range(max(level.values()) + 1)]
    for node in ids:
        rows[level[node]].append(node)
    _order(rows, parents, children)
    # A very wide layer (a fan of thousands) wraps onto several rows, one under the other, so
    # the drawing stays readable when fitted; no edge joins two nodes of one layer, so every
    # edge still points down.
    rows = [row[i : i + ROW_MAX] for row in rows for i in range(0, len(row), ROW_MAX)]
    x = _coordinates(rows, parents, children)
    left = min(x.values())
    top = {node: MARGIN + r * (NODE_HEIGHT + GAP_Y) for r, row in enumerate(rows) for node in row}
    corners = {node: (round(x[node] - left + MARGIN), top[node]) for node in ids}
    width = round(max(x.values()) - left) + NODE_WIDTH + 2 * MARGIN
    height = len(rows) * (NODE_HEIGHT + GAP_Y) - GAP_Y + 2 * MARGIN
    return corners, width, height


def _mark(task_type: str | None) -> str | None:
    return {"SKIP": "dry", "SKIP_UNCHOOSE": "none"}.get(task_type or "")


def graph_data(
    nodes: Iterable[Mapping[str, Any]],
    edges: Iterable[tuple[Any, Any]],
    instances: Iterable[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The graph component's data (static/graph.js `OC.graph`): `nodes` are `{"id", "name",
    "type"}` (node ids), `edges` `(parent id, child id)`, `instances` (a Dag's) the change
    feed's instance states `{"id", "node", "status", "suspended", "taskType", ...}`."""
    listed = list(nodes)
    by_node = {i["node"]: i for i in instances or ()}
    edge_list = [(a, b) for a, b in edges]
    corners, width, height = layout([n["id"] for n in listed], edge_list)
    out = []
    for n in listed:
        state = by_node.get(n["id"], {})
        x, y = corners[n["id"]]
        out.append(
            {
                "id": n["id"],
                "name": n.get("name", str(n["id"])),
                "type": n.get("type"),
                "x": x,
                "y": y,
                "instance": state.get("id"),
                "status": state.get("status"),
                "suspended": bool(state.get("suspended", False)),
                "taskType": state.get("taskType"),
                "mark": _mark(state.get("taskType")),
            }
        )
    known = set(corners)
    return {
        "nodes": out,
        "edges": [[a, b] for a, b in edge_list if a in known and b in known and a != b],
        "width": width,
        "height": height,
        "nodeWidth": NODE_WIDTH,
        "nodeHeight": NODE_HEIGHT,
    }
