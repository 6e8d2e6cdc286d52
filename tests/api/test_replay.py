"""A signed request cannot be replayed: signature nonces are kept in the store (`request_nonce`)
until their time window ends, so neither another API server on the same store nor the same
server after a restart accepts a request twice. On SQLite and PostgreSQL.

Each server here has its own `Database` (its own connections, as another process would) on the
one store; the request is signed once (V2, HMAC-SHA1) and sent byte for byte again.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from opcenter.api.rpc import allow_all
from opcenter.api.server import ServerThread, build_server
from opcenter.iam.nonces import StoreNonceStore
from opcenter.service.context import ServiceContext
from opcenter.store.db import Database
from opcenter.store.tables import RequestNonce
from tests.api.conftest import make_key_resolver
from tests.api.test_request_transaction import _signed

NONCE_USED = (400, "SignatureNonceUsed", "Specified signature nonce was used already.")


def _same_store(ctx: ServiceContext) -> ServiceContext:
    """Another context on `ctx`'s store, with its own connections."""
    db = ctx.db
    other = Database(str(db.engine.url.render_as_string(hide_password=False)), schema=db.schema)
    return ServiceContext(db=other, settings=ctx.settings)


def _serve(ctx: ServiceContext) -> ServerThread:
    app = build_server(ctx, key_resolver=make_key_resolver(), authorize=allow_all)
    return ServerThread(app).start()


@pytest.fixture
def contexts(ctx: ServiceContext) -> Iterator[list[ServiceContext]]:
    made = [ctx, _same_store(ctx), _same_store(ctx)]
    yield made
    for other in made[1:]:
        other.db.dispose()


def _signed_query(nonce: str) -> str:
    return _signed({"Action": "ListProjects", "SignatureNonce": nonce})


def _send(server: ServerThread, query: str) -> tuple[int, str, str]:
    """(HTTP status, Code or "", Message or "") of GET /?query."""
    try:
        with urllib.request.urlopen(f"http://{server.endpoint}/?{query}", timeout=30) as answer:
            return answer.status, "", ""
    except urllib.error.HTTPError as refused:
        body = json.loads(refused.read())
        return refused.code, body["Code"], body["Message"]


def test_a_request_is_refused_by_another_server_on_the_same_store(
    contexts: list[ServiceContext],
) -> None:
    first, second = _serve(contexts[0]), _serve(contexts[1])
    try:
        query = _signed_query(str(uuid.uuid4()))
        assert _send(first, query) == (200, "", "")
        assert _send(second, query) == NONCE_USED
        assert _send(first, query) == NONCE_USED
        assert _send(second, _signed_query(str(uuid.uuid4()))) == (200, "", "")
    finally:
        first.stop()
        second.stop()


def test_a_request_is_refused_after_a_restart_of_the_server(
    contexts: list[ServiceContext],
) -> None:
    before = _serve(contexts[1])
    query = _signed_query(str(uuid.uuid4()))
    try:
        assert _send(before, query) == (200, "", "")
    finally:
        before.stop()
        contexts[1].db.dispose()
    after = _serve(contexts[2])
    try:
        assert _send(after, query) == NONCE_USED
    finally:
        after.stop()


# --- the store's nonce table ------------------------------------------------------------------


def _rows(db: Database) -> list[tuple[str, str, int]]:
    with db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(RequestNonce.access_key_id, RequestNonce.nonce, RequestNonce.expires_at)
        )
        return sorted(tuple(r) for r in rows)  # type: ignore[misc]


def test_a_nonce_is_kept_until_its_window_ends_then_taken_over(ctx: ServiceContext) -> None:
    nonces = StoreNonceStore(ctx.db)
    assert nonces.add("AK", "n", now=100.0, expires_at=1000.0) is True
    assert nonces.add("AK", "n", now=999.0, expires_at=1900.0) is False
    assert nonces.add("other", "n", now=999.0, expires_at=1900.0) is True
    assert nonces.add("AK", "n", now=1000.0, expires_at=1900.0) is True
    assert _rows(ctx.db) == [("AK", "n", 1_900_000), ("other", "n", 1_900_000)]


def test_ended_nonces_are_purged_with_one_delete_at_most_once_per_interval(
    ctx: ServiceContext,
) -> None:
    nonces = StoreNonceStore(ctx.db, purge_interval=60.0)
    nonces.add("AK", "old", now=100.0, expires_at=200.0)  # purges (nothing yet)
    nonces.add("AK", "mid", now=150.0, expires_at=250.0)  # within the interval: no purge
    nonces.add("AK", "new", now=210.0, expires_at=900.0)  # purges "old" (ended at 200)
    assert [r[1] for r in _rows(ctx.db)] == ["mid", "new"]


def test_a_nonce_longer_than_the_column_is_kept_as_its_digest(ctx: ServiceContext) -> None:
    nonces = StoreNonceStore(ctx.db)
    long = "x" * 500
    assert nonces.add("AK", long, now=time.time(), expires_at=time.time() + 60) is True
    assert nonces.add("AK", long, now=time.time(), expires_at=time.time() + 60) is False
    assert [r[1] for r in _rows(ctx.db)] == [hashlib.sha256(long.encode()).hexdigest()]
