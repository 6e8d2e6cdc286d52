"""Dependency graphs: parents by output name, cycle finding, topological order. Pure.

A graph is given as `parents`: each node mapped to the nodes it depends on (its upstream ones).
Workflow files (service/deployments.py) and definition files (domain/flowspec.py) both use it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["CycleError", "find_cycle", "parents_by_output", "topological_order"]

K = TypeVar("K", bound=Hashable)


class CycleError(ValueError):
    """Raised by `topological_order` when the nodes cannot be ordered; `cycle` names one cycle
    as `[a, b, ..., a]` in dependency order, starting at its first node in the given order."""

    def __init__(self, cycle: list[Any]) -> None:
        super().__init__(" -> ".join(map(str, cycle)))
        self.cycle = cycle


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


def find_cycle(parents: Mapping[K, Iterable[K]]) -> list[K] | None:
    """A cycle as `[a, b, ..., a]` in dependency order (a is upstream of b), or None.

    Iterative depth-first search in sorted order (the nodes must be comparable), so the
    answer is deterministic.
    """
    state: dict[K, int] = {}  # 1: on the current path, 2: done
    for start in sorted(parents):  # type: ignore[type-var]
        if state.get(start):
            continue
        path: list[K] = [start]
        stack = [iter(sorted(parents.get(start, ())))]  # type: ignore[type-var]
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
                stack.append(iter(sorted(parents.get(nxt, ()))))  # type: ignore[type-var]
    return None


def topological_order(nodes: Sequence[K], parents: Mapping[K, Iterable[K]]) -> list[K]:
    """`nodes`, each after all of its parents; otherwise in the given order (wave by wave:
    every node whose parents are placed, in order, then the next wave). Parents that are not
    among `nodes` are ignored. Raises CycleError naming one cycle when there is none."""
    known = set(nodes)
    ups = {n: {p for p in parents.get(n, ()) if p in known} for n in nodes}
    done: list[K] = []
    placed: set[K] = set()
    pending = list(nodes)
    while pending:
        ready = [n for n in pending if placed.issuperset(ups[n])]
        if not ready:
            raise CycleError(_rotated(find_cycle({n: ups[n] for n in pending}) or [], pending))
        done.extend(ready)
        placed.update(ready)
        pending = [n for n in pending if n not in placed]
    return done


def _rotated(cycle: list[K], order: list[K]) -> list[K]:
    """The same cycle, starting at its node that comes first in `order`."""
    if not cycle:
        return cycle
    ring = cycle[:-1]
    first = min(ring, key=order.index)
    at = ring.index(first)
    turned = ring[at:] + ring[:at]
    return [*turned, first]
