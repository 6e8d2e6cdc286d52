"""Dependency graphs of a workflow's files, resolved by output name, and cycle finding."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["find_cycle", "parents_by_output"]


def parents_by_output(
    nodes: Mapping[str, tuple[Iterable[str], Iterable[str]]],
) -> dict[str, list[str]]:
    """`nodes` maps a node name to (outputs, inputs); returns each node's parents by name.

    An input no node produces adds no edge (the caller validates inputs separately).
    """
    producer: dict[str, str] = {}
    for name, (outputs, _) in nodes.items():
        for output in outputs:
            producer[output] = name
    return {
        name: sorted({producer[i] for i in inputs if i in producer})
        for name, (_, inputs) in nodes.items()
    }


def find_cycle(parents: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle as `[a, b, ..., a]` in dependency order (a is upstream of b), or None.

    Iterative depth-first search in sorted order, so the answer is deterministic.
    """
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(parents):
        if state.get(start):
            continue
        path: list[str] = [start]
        stack = [iter(sorted(parents.get(start, ())))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                return list(reversed(cycle))
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(parents.get(nxt, ()))))
    return None
