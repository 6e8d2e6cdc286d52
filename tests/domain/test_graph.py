"""domain/graph.py: the one graph module of the services and the definition files."""

from __future__ import annotations

import pytest

from opcenter.domain.graph import CycleError, find_cycle, parents_by_output, topological_order


def test_parents_by_output_links_inputs_to_their_producers_and_ignores_unknown_ones() -> None:
    nodes = {"a": (["ws.a"], ["ws_root"]), "b": (["ws.b"], ["ws.a"]), "c": ([], ["ws.a", "ws.b"])}
    assert parents_by_output(nodes) == {"a": [], "b": ["a"], "c": ["a", "b"]}


def test_find_cycle_names_one_cycle_upstream_first_or_none() -> None:
    assert find_cycle({"a": [], "b": ["a"], "c": ["b"]}) is None
    assert find_cycle({"a": ["c"], "b": ["a"], "c": ["b"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["a"]}) == ["a", "a"]


def test_topological_order_places_parents_first_and_keeps_the_given_order_otherwise() -> None:
    order = topological_order(
        ["end", "start", "b", "a"], {"a": ["start"], "b": ["start"], "end": ["a", "b"]}
    )
    assert order == ["start", "b", "a", "end"]


def test_topological_order_ignores_parents_that_are_not_nodes() -> None:
    assert topological_order(["x", "y"], {"y": ["x", "elsewhere"]}) == ["x", "y"]


def test_topological_order_fails_naming_a_cycle_from_its_first_node_in_order() -> None:
    parents = {"start": ["end"], "a": ["start"], "b": ["start"], "end": ["a", "b"]}
    with pytest.raises(CycleError) as caught:
        topological_order(["start", "a", "b", "end"], parents)
    assert caught.value.cycle == ["start", "a", "end", "start"]
    assert str(caught.value) == "start -> a -> end -> start"
