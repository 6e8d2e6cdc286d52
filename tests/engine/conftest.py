"""An engine with a real local executor (2 slots) on the test's store (`start_engine`, in
tests/conftest.py); stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from opcenter.engine.scheduler import Engine
from opcenter.service.context import ServiceContext


@pytest.fixture
def engine(ctx: ServiceContext, start_engine: Callable[..., Engine]) -> Engine:
    """The engine on the test's store: each test runs on SQLite and on PostgreSQL."""
    return start_engine(ctx)
