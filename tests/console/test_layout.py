"""The layered layout of a DAG (console/layout.py): edges point down, nodes never overlap, the
result is deterministic, and 5,000 nodes lay out fast."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest

from opcenter.console.layout import GAP_X, NODE_HEIGHT, NODE_WIDTH, ROW_MAX, graph_data, layout


def chain(n: int) -> tuple[list[int], list[tuple[int, int]]]:
    return list(range(n)), [(i, i + 1) for i in range(n - 1)]


def fan(n: int) -> tuple[list[int], list[tuple[int, int]]]:
    """One root, `n` children, one node after all of them."""
    ids = list(range(n + 2))
    return ids, [(0, i) for i in range(1, n + 1)] + [(i, n + 1) for i in range(1, n + 1)]


def layered(layers: int, width: int) -> tuple[list[int], list[tuple[int, int]]]:
    """`layers` rows of `width` nodes; each node waits for its own column and the next one's
    in the row above, and every tenth also for the first node two rows up (a long edge)."""
    ids = list(range(layers * width))
    edges = []
    for layer in range(1, layers):
        for i in range(width):
            me = layer * width + i
            edges.append(((layer - 1) * width + i, me))
            edges.append(((layer - 1) * width + (i + 1) % width, me))
            if layer >= 2 and i % 10 == 0:
                edges.append(((layer - 2) * width, me))
    return ids, edges


def diamond() -> tuple[list[str], list[tuple[str, str]]]:
    return ["start", "a", "b", "load", "done"], [
        ("start", "a"),
        ("start", "b"),
        ("a", "load"),
        ("b", "load"),
        ("load", "done"),
    ]


SHAPES = {
    "diamond": diamond(),
    "chain": chain(50),
    "fan": fan(200),
    "layered": layered(12, 40),
    "shuffled": (list(reversed(range(480))), list(reversed(layered(12, 40)[1]))),
}


def assert_drawable(ids, edges, corners, width, height) -> None:
    for a, b in edges:
        assert corners[a][1] + NODE_HEIGHT < corners[b][1], f"edge {a}->{b} does not go down"
    by_row: dict[float, list[float]] = {}
    for node in ids:
        x, y = corners[node]
        assert x >= 0 and x + NODE_WIDTH <= width and y >= 0 and y + NODE_HEIGHT <= height
        by_row.setdefault(y, []).append(x)
    for xs in by_row.values():
        xs.sort()
        assert all(b - a >= NODE_WIDTH for a, b in pairwise(xs)), "two nodes overlap"


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_edge_goes_down_and_no_two_nodes_overlap(shape):
    ids, edges = SHAPES[shape]
    corners, width, height = layout(ids, edges)
    assert set(corners) == set(ids)
    assert_drawable(ids, edges, corners, width, height)


def test_a_chain_is_drawn_straight_and_a_parent_sits_over_its_children():
    ids, edges = chain(10)
    corners, _, _ = layout(ids, edges)
    assert len({x for x, _ in corners.values()}) == 1
    ids, edges = fan(4)
    corners, _, _ = layout(ids, edges)
    children = [corners[i][0] for i in range(1, 5)]
    assert corners[0][0] == pytest.approx(sum(children) / 4, abs=1)
    assert corners[5][0] == corners[0][0]


def test_a_wide_fan_wraps_onto_rows_that_all_sit_between_its_ends():
    ids, edges = fan(4 * ROW_MAX + 1)
    corners, width, _ = layout(ids, edges)
    assert width <= ROW_MAX * (NODE_WIDTH + GAP_X) + 2 * NODE_WIDTH
    rows = {corners[i][1] for i in range(1, 4 * ROW_MAX + 2)}
    assert len(rows) == 5
    assert corners[0][1] < min(rows) and max(rows) < corners[len(ids) - 1][1]


def test_the_barycenter_sweeps_untangle_crossed_pairs():
    # Given two independent pairs listed so that a naive order crosses them
    ids = ["a", "b", "b2", "a2"]
    edges = [("a", "a2"), ("b", "b2")]
    corners, _, _ = layout(ids, edges)
    # Then each child is under its own parent
    assert corners["a"][0] == corners["a2"][0] and corners["b"][0] == corners["b2"][0]


def test_the_layout_is_deterministic():
    ids, edges = SHAPES["layered"]
    assert layout(ids, edges) == layout(list(ids), list(edges))


def test_a_cycle_does_not_hang_the_layout():
    corners, _, _ = layout([1, 2, 3], [(1, 2), (2, 3), (3, 2)])
    assert set(corners) == {1, 2, 3}


def test_graph_data_carries_each_node_s_instance_state_and_mark():
    ids, edges = diamond()
    nodes = [{"id": i, "name": i.upper(), "type": "VIRTUAL"} for i in ids]
    states = [
        {"id": 7, "node": "a", "status": "SUCCESS", "suspended": False, "taskType": "MANUAL"},
        {"id": 8, "node": "b", "status": "NOT_RUN", "suspended": True, "taskType": "SKIP"},
    ]
    data = graph_data(nodes, edges, states)
    by_id = {n["id"]: n for n in data["nodes"]}
    assert by_id["a"]["instance"] == 7 and by_id["a"]["status"] == "SUCCESS"
    assert by_id["a"]["mark"] is None
    assert by_id["b"]["suspended"] is True and by_id["b"]["mark"] == "dry"
    assert by_id["load"]["instance"] is None and by_id["load"]["name"] == "LOAD"
    assert data["edges"] == [list(e) for e in edges]
    assert data["width"] >= 2 * NODE_WIDTH and data["height"] >= 4 * NODE_HEIGHT


@pytest.mark.parametrize(
    "shape", [chain(5000), fan(4998), layered(100, 50)], ids=["chain", "fan", "layered"]
)
def test_five_thousand_nodes_lay_out_well_within_a_second(shape):
    ids, edges = shape
    began = time.process_time()
    corners, width, height = layout(ids, edges)
    elapsed = time.process_time() - began
    assert_drawable(ids, edges, corners, width, height)
    # A generous bound (CPU time, so a loaded machine does not fail it): typically ~0.1 s.
    assert elapsed < 2.0, f"{len(ids)} nodes took {elapsed:.2f} s of CPU"
