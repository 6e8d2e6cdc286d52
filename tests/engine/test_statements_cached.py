"""The engine's prebuilt statements are ones SQLAlchemy can cache: a statement without a cache
key is compiled again on every execution (about a millisecond each on the hot path)."""

from __future__ import annotations

from types import ModuleType

import pytest
from sqlalchemy.sql.base import Executable

from opcenter.engine import dags, dispatch, operations, recovery, scheduler, transitions


def _statements(module: ModuleType) -> list[tuple[str, Executable]]:
    found = []
    for name, value in vars(module).items():
        values = value.items() if isinstance(value, dict) else [(name, value)]
        for key, item in values:
            if isinstance(item, Executable) and hasattr(item, "_generate_cache_key"):
                found.append((f"{module.__name__}.{name}[{key}]", item))
    return found


MODULES = [transitions, dispatch, scheduler, dags, operations, recovery]


def test_the_engine_has_prebuilt_statements() -> None:
    assert len([s for m in MODULES for s in _statements(m)]) >= 10


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_prebuilt_statement_of_the_engine_has_a_cache_key(module: ModuleType) -> None:
    uncached = [name for name, stmt in _statements(module) if stmt._generate_cache_key() is None]
    assert uncached == []
