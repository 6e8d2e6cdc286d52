"""An engine with a real local executor (2 slots) on the test's store; stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from opcenter.engine.scheduler import Engine
from opcenter.runners.local import LocalExecutor
from opcenter.service.context import ServiceContext

POLL_SECONDS = 0.05


@pytest.fixture
def start_engine() -> Iterator[Callable[..., Engine]]:
    started: list[Engine] = []

    def start(ctx: ServiceContext, slots: int = 2, **kw: object) -> Engine:
        engine = Engine(
            ctx,
            LocalExecutor(slots, stop_grace_seconds=0.5),
            poll_seconds=POLL_SECONDS,
            **kw,  # type: ignore[arg-type]
        )
        engine.start()
        started.append(engine)
        return engine

    yield start
    for engine in started:
        engine.stop()


@pytest.fixture
def engine(ctx: ServiceContext, start_engine: Callable[..., Engine]) -> Engine:
    """The engine on the test's store: each test runs on SQLite and on PostgreSQL."""
    return start_engine(ctx)
