"""The prebuilt statements of the API's request path (RunManualDagNodes, GetDag, ListDags, the
AccessKey lookup, the nonce, the audit row, the deployed flow's fingerprint) are ones
SQLAlchemy can cache: one without a cache key is compiled again on every call."""

from __future__ import annotations

from types import ModuleType

import pytest

from opcenter.iam import audit, nonces, resolver
from opcenter.service import flow_cache, iam, runs
from tests.engine.test_statements_cached import _statements

MODULES = [flow_cache, runs, iam, resolver, nonces, audit]


def test_the_request_path_has_prebuilt_statements() -> None:
    assert len([s for m in MODULES for s in _statements(m)]) >= 10


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_prebuilt_statement_of_the_request_path_has_a_cache_key(module: ModuleType) -> None:
    uncached = [name for name, stmt in _statements(module) if stmt._generate_cache_key() is None]
    assert uncached == []
