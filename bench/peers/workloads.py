"""The workloads every engine runs, as plain data (standard library only).

Each peer program imports this module from its own virtual environment, so it must not import
anything outside the standard library.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["DATES", "WORKLOADS", "Workload", "get"]

#: Business dates of the ``dates`` workload: 30 consecutive days, run in this order.
DATES: tuple[str, ...] = tuple(
    (dt.date(2024, 1, 1) + dt.timedelta(days=i)).strftime("%Y%m%d") for i in range(30)
)
#: The single business date the other workloads run for.
BIZDATE = "20240101"
#: How many shell nodes run at once in the ``shell`` workload.
SHELL_PARALLELISM = 2


@dataclass(frozen=True)
class Workload:
    """A workflow shape: node names in topological order and each node's upstream names."""

    name: str
    title: str
    kind: str  # "noop" or "shell"
    upstream: dict[str, tuple[str, ...]]
    dates: tuple[str, ...] = (BIZDATE,)

    @property
    def nodes(self) -> list[str]:
        return list(self.upstream)

    @property
    def node_runs(self) -> int:
        """Node instances executed by one run (nodes x business dates)."""
        return len(self.upstream) * len(self.dates)


def _chain(n: int, prefix: str = "n") -> dict[str, tuple[str, ...]]:
    names = [f"{prefix}{i:03d}" for i in range(n)]
    return {name: (names[i - 1],) if i else () for i, name in enumerate(names)}


def _fan(n: int) -> dict[str, tuple[str, ...]]:
    middle = {f"m{i:03d}": ("root",) for i in range(1, n - 1)}
    return {"root": (), **middle, "sink": tuple(middle)}


def _independent(n: int) -> dict[str, tuple[str, ...]]:
    return {f"s{i:03d}": () for i in range(n)}


WORKLOADS: dict[str, Workload] = {
    "chain": Workload("chain", "200-node chain, no-op", "noop", _chain(200)),
    "fan": Workload("fan", "200-node fan (root → 198 → sink), no-op", "noop", _fan(200)),
    "shell": Workload(
        "shell",
        f"200 shell nodes `true`, {SHELL_PARALLELISM} at a time",
        "shell",
        _independent(200),
    ),
    "dates": Workload(
        "dates", "30 business dates × 20-node chain, in order", "noop", _chain(20), DATES
    ),
}


def get(name: str) -> Workload:
    """The workload called ``name``; ValueError naming it when unknown."""
    try:
        return WORKLOADS[name]
    except KeyError:
        raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}") from None
