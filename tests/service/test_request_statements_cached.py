"""The prebuilt statements of the API's request path (RunManualDagNodes, GetDag, ListDags, the
AccessKey lookup, the nonce, the audit row, the deployed flow's fingerprint) are ones
SQLAlchemy can cache (one without a cache key is compiled again on every call), or `Prepared`
statements (store/prepared.py: compiled once per dialect, run through the driver)."""

from __future__ import annotations

from types import ModuleType

import pytest

from opcenter.iam import audit, nonces, resolver
from opcenter.service import flow_cache, iam, runs
from opcenter.store.prepared import Prepared
from tests.engine.test_statements_cached import _statements

MODULES = [flow_cache, runs, iam, resolver, nonces, audit]


def _prepared(module: ModuleType) -> list[str]:
    found = []
    for name, value in vars(module).items():
        values = value.items() if isinstance(value, dict) else [(name, value)]
        found += [f"{module.__name__}.{name}[{k}]" for k, v in values if isinstance(v, Prepared)]
    return found


def test_the_request_path_has_prebuilt_statements() -> None:
    core = [s for m in MODULES for s in _statements(m)]
    prepared = [s for m in MODULES for s in _prepared(m)]
    assert len(core) + len(prepared) >= 10


def test_what_every_signed_request_and_every_poll_runs_is_prepared() -> None:
    # The key lookup, the nonce, the audit row; the workspace of a DagId/OpSeq, the Dag rows.
    hot = [resolver._KEY, nonces._UPSERT, audit._INSERT, runs._DAG_BY_ID, runs._DAGS_OF_RUN]
    hot += [*iam._OWNER_QUERIES.values(), *flow_cache._FINGERPRINTS.values()]
    assert all(isinstance(s, Prepared) for s in hot)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_prebuilt_statement_of_the_request_path_has_a_cache_key(module: ModuleType) -> None:
    uncached = [name for name, stmt in _statements(module) if stmt._generate_cache_key() is None]
    assert uncached == []
