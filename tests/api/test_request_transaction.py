"""One store transaction per API request (rpc.Dispatcher, Database.request_transaction): the
nonce, the audit row and the run's writes commit together, and a call whose operation fails
inside that transaction still leaves its nonce (a replay is refused) and its audit row, while
nothing of the failed operation is written. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlencode

import sqlalchemy as sa

from opcenter.api.app import create_app
from opcenter.api.rpc import Call, Registry, allow_all
from opcenter.api.server import SQLITE_DISPATCH_THREADS, ServerThread, build_server
from opcenter.api.signature import v2_string_to_sign
from opcenter.iam.authorizer import Authorizer
from opcenter.iam.nonces import StoreNonceStore
from opcenter.service.context import ServiceContext
from opcenter.store.tables import AuditEvent, Dag, RequestNonce, Run
from tests.api.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID, make_key_resolver
from tests.engine.builders import make_flow, node


def _signed(params: dict[str, str]) -> str:
    params = {
        "Version": "2020-05-18",
        "Format": "JSON",
        "AccessKeyId": ACCESS_KEY_ID,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": str(uuid.uuid4()),
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **params,  # a caller's own SignatureNonce (a replay) wins
    }
    digest = hmac.new(
        f"{ACCESS_KEY_SECRET}&".encode(), v2_string_to_sign("GET", params).encode(), hashlib.sha1
    ).digest()
    params["Signature"] = base64.b64encode(digest).decode("ascii")
    return urlencode(params)


def _send(server: ServerThread, query: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://{server.endpoint}/?{query}", timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def _count(ctx: ServiceContext, table: type) -> int:
    with ctx.db.transaction(readonly=True) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(table)) or 0


def test_a_failed_run_keeps_its_nonce_and_audit_row_and_writes_nothing(
    ctx: ServiceContext,
) -> None:
    # The test key is the root of account 1234567890: this store's account.
    ctx = ServiceContext(db=ctx.db, settings=replace(ctx.settings, account_id=ACCOUNT_ID))
    make_flow(ctx, [node("a"), node("b", after=["a"])])
    app = build_server(
        ctx,
        key_resolver=make_key_resolver(),
        authorize=Authorizer(ctx.db, ctx.settings),
        console=False,
    )
    server = ServerThread(app).start()
    try:
        run = {
            "Action": "RunManualDagNodes",
            "ProjectEnv": "PROD",
            "ProjectName": "ws",
            "BizDate": "2024-01-01 00:00:00",
        }
        failing = _signed({**run, "FlowName": "no-such-flow"})
        status, body = _send(server, failing)
        assert status == 404 and "no-such-flow" in str(body["Message"])
        assert _count(ctx, Run) == 0 and _count(ctx, Dag) == 0
        assert _count(ctx, RequestNonce) == 1
        with ctx.db.transaction(readonly=True) as session:
            events = session.execute(
                sa.select(AuditEvent.action, AuditEvent.outcome, AuditEvent.request_id)
            ).all()
        assert [(e.action, e.outcome) for e in events] == [
            ("dataworks:RunManualDagNodes", "Allowed")
        ]
        assert events[0].request_id == body["RequestId"]
        # The same bytes again: a replay, refused before anything else.
        status, body = _send(server, failing)
        assert (status, body["Code"]) == (400, "SignatureNonceUsed")
        assert _count(ctx, AuditEvent) == 1
        # A good call: the run, its Dag, the nonce and the audit row, all committed.
        status, body = _send(server, _signed({**run, "FlowName": "flow"}))
        assert status == 200 and isinstance(body["DagId"], int)
        assert _count(ctx, Run) == 1 and _count(ctx, Dag) == 1
        assert _count(ctx, RequestNonce) == 2 and _count(ctx, AuditEvent) == 2
    finally:
        server.stop()


def _serve(ctx: ServiceContext, registry: Registry) -> ServerThread:
    """A server of `registry`'s operations, each request in one store transaction."""
    app = create_app(
        services=ctx,
        key_resolver=make_key_resolver(),
        authorize=Authorizer(ctx.db, ctx.settings),
        registry=registry,
        nonces=StoreNonceStore(ctx.db),
        request_transaction=ctx.db.request_transaction,
    )
    return ServerThread(app).start()


def test_an_unexpected_error_in_the_transaction_keeps_nonce_and_audit_row(
    ctx: ServiceContext,
) -> None:
    ctx = ServiceContext(db=ctx.db, settings=replace(ctx.settings, account_id=ACCOUNT_ID))
    registry = Registry()

    @registry.operation("BreakDown", in_request_transaction=True)
    def break_down(call: Call) -> dict[str, object]:
        with call.services.db.transaction() as session:
            session.execute(
                sa.insert(RequestNonce), {"access_key_id": "x", "nonce": "y", "expires_at": 1}
            )
        raise RuntimeError("a bug")

    server = _serve(ctx, registry)
    try:
        query = _signed({"Action": "BreakDown"})
        status, body = _send(server, query)
        assert (status, body["Code"]) == (500, "InternalError.System")
        # The handler's own row was undone; the request's nonce and audit row were kept.
        assert _count(ctx, RequestNonce) == 1 and _count(ctx, AuditEvent) == 1
        status, body = _send(server, query)
        assert (status, body["Code"]) == (400, "SignatureNonceUsed")
    finally:
        server.stop()


def test_a_failed_handler_s_after_commit_actions_are_dropped_with_its_writes(
    ctx: ServiceContext,
) -> None:
    # Given an operation that writes, asks for an action after the commit (as a new run offers
    # its rows to the engine), and then fails; and one that does the same and succeeds
    ctx = ServiceContext(db=ctx.db, settings=replace(ctx.settings, account_id=ACCOUNT_ID))
    registry = Registry()
    ran: list[str] = []

    def write_then(outcome: str, call: Call) -> dict[str, object]:
        with call.services.db.transaction():
            call.services.db.after_commit(lambda: ran.append(outcome))
        if outcome == "failed":
            raise RuntimeError("a bug after the writes")
        return {}

    registry.operation("FailLate", in_request_transaction=True)(
        lambda call: write_then("failed", call)
    )
    registry.operation("Succeed", in_request_transaction=True)(
        lambda call: write_then("succeeded", call)
    )
    server = _serve(ctx, registry)
    try:
        # When both are called
        status, body = _send(server, _signed({"Action": "FailLate"}))
        assert (status, body["Code"]) == (500, "InternalError.System"), body
        status, _ = _send(server, _signed({"Action": "Succeed"}))
        assert status == 200
        # Then only the one that succeeded ran its action: the failed one's went with its
        # writes, though the request committed its nonce and audit row
        assert ran == ["succeeded"]
        assert _count(ctx, RequestNonce) == 2
    finally:
        server.stop()


def test_on_sqlite_a_few_threads_dispatch_the_rpc_requests(ctx: ServiceContext) -> None:
    """On SQLite every request writes (its nonce) and so holds the one writer lock for its whole
    transaction: build_server dispatches through SQLITE_DISPATCH_THREADS threads, not the
    shared pool's forty. On PostgreSQL requests run side by side, in the shared pool."""
    ctx = ServiceContext(db=ctx.db, settings=replace(ctx.settings, account_id=ACCOUNT_ID))
    app = build_server(
        ctx,
        key_resolver=make_key_resolver(),
        authorize=Authorizer(ctx.db, ctx.settings),
        console=False,
    )
    server = ServerThread(app).start()
    try:
        status, _ = _send(server, _signed({"Action": "GetDag", "DagId": "1", "ProjectEnv": "PROD"}))
        assert status == 404
    finally:
        server.stop()
    limiter = app._dispatch_limiter  # created by the first request it dispatched
    if ctx.db.is_sqlite:
        assert app.dispatch_threads == SQLITE_DISPATCH_THREADS == limiter.total_tokens
    else:
        assert app.dispatch_threads == 0 and limiter is None


def test_a_request_is_dispatched_under_the_apps_own_limit() -> None:
    registry = Registry()
    held: list[tuple[float, int]] = []

    @registry.operation("Look")
    def look(call: Call) -> dict[str, object]:
        limiter = app._dispatch_limiter
        held.append((limiter.total_tokens, limiter.borrowed_tokens))
        return {"Success": True}

    app = create_app(
        services=None,
        key_resolver=make_key_resolver(),
        authorize=allow_all,
        registry=registry,
        dispatch_threads=2,
    )
    server = ServerThread(app).start()
    try:
        status, _ = _send(server, _signed({"Action": "Look"}))
    finally:
        server.stop()
    assert status == 200 and held == [(2, 1)]
