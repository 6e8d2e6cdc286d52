"""The OpenAPI server of one store: the RPC app over a `ServiceContext`, and a runner thread.

    ctx = ServiceContext.open(settings)
    app = build_server(ctx, key_resolver=keys, authorize=Authorizer(ctx.db, ctx.settings))
    with ServerThread(app, host="127.0.0.1", port=8080) as server:
        print(server.endpoint)          # 127.0.0.1:8080, what the SDK's Config.endpoint takes
        ...

Every operation handler receives the `ServiceContext` itself as `call.services`. The engine is
not started here: whoever owns the process starts it on the same context (its `notify` hook then
wakes it when a run is created or an instance is operated).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

import uvicorn
from starlette.routing import BaseRoute, Mount

from opcenter.api.app import create_app
from opcenter.api.health import health_routes, metrics_route
from opcenter.api.rpc import Authorize
from opcenter.api.signature import KeyResolver, NonceStore
from opcenter.api.throttle import DEFAULT_BURST
from opcenter.iam.authorizer import Authorizer
from opcenter.iam.nonces import StoreNonceStore
from opcenter.iam.rate import StoreRateLimiter
from opcenter.metrics import StoreCollector
from opcenter.service.context import ServiceContext

__all__ = ["STARTUP_TIMEOUT_SECONDS", "ServerThread", "build_server"]

STARTUP_TIMEOUT_SECONDS = 10.0


# On SQLite every RPC request writes (its signature's nonce, its audit row) and so holds the
# store's one writer lock for its whole transaction: requests run one at a time whatever the
# number of threads. A few threads keep the HTTP layer and the store busy; forty (the shared
# pool's limit) only fight over the lock and the interpreter lock (~10 % more CPU per call
# under 32 clients, measured) and are woken in no particular order (a longer tail).
SQLITE_DISPATCH_THREADS = 4


def build_server(
    ctx: ServiceContext,
    *,
    key_resolver: KeyResolver,
    authorize: Authorize,
    nonces: NonceStore | None = None,
    console: bool = True,
    engine_state: Callable[[], str] = lambda: "off",
    engine: Callable[[], Any] = lambda: None,
) -> Any:
    """The RPC application serving every registered operation over `ctx`.

    Resource ARNs carry `ctx.settings.region`; `authorize(principal, action, resource, call)`
    raises to deny (required: no allow-all default). Signature nonces are kept in the store
    (`StoreNonceStore`) unless `nonces` is given, so a request cannot be replayed after a
    restart or against another server on the same store. With `console`, the Operation Center
    page is served under `/console` (deciding with `authorize` when it is an `Authorizer`,
    else with a new one over the store: the page never runs with a stand-in). `/healthz` and
    `/readyz` (api/health.py; unsigned) report `engine_state()`: "leader", "standby" or "off".
    `/metrics` (unsigned; not with `OPCENTER_METRICS=off`) reports `engine()`'s queue and
    free slots while it leads (None: no engine in this process).
    On SQLite at most `SQLITE_DISPATCH_THREADS` RPC requests are dispatched at once (the
    others wait their turn in arrival order); on PostgreSQL the shared thread pool's limit.
    """
    mounts: list[BaseRoute] = [*health_routes(ctx.db, engine_state)]
    if ctx.settings.metrics:
        mounts.append(metrics_route(StoreCollector(ctx.db, engine_state, engine)))
    if console:
        from opcenter.console.app import create_console

        authorizer = (
            authorize if isinstance(authorize, Authorizer) else Authorizer(ctx.db, ctx.settings)
        )
        mounts.append(Mount("/console", create_console(ctx, authorizer)))
    limiter = _limiter(ctx)
    return create_app(
        services=ctx,
        key_resolver=key_resolver,
        authorize=authorize,
        nonces=nonces if nonces is not None else StoreNonceStore(ctx.db),
        region=ctx.settings.region,
        clock=time.time,
        limiter=limiter,
        mounts=mounts,
        request_transaction=_request_transaction(ctx, limiter),
        dispatch_threads=SQLITE_DISPATCH_THREADS if ctx.db.is_sqlite else 0,
    )


def _request_transaction(
    ctx: ServiceContext, limiter: StoreRateLimiter | None
) -> Callable[[], AbstractContextManager[Any]] | None:
    """One store transaction per request (rpc.Dispatcher) — except with the store's rate limit
    on PostgreSQL: its upsert locks the AccessKey's row until its transaction ends, and inside
    the request's one that would serialise every call of the key, across processes, for the
    whole request. Requests then keep their separate transactions, as before. (On SQLite the
    request is the one writer anyway.)"""
    if limiter is not None and not ctx.db.is_sqlite:
        return None
    return ctx.db.request_transaction


def _limiter(ctx: ServiceContext) -> StoreRateLimiter | None:
    """The per-AccessKey limit, counted in the store (shared by every API process on it);
    none at all, nothing on the request path, when OPCENTER_RATE_LIMIT_PER_SECOND is 0."""
    rate = ctx.settings.rate_limit_per_second
    return StoreRateLimiter(ctx.db, rate, burst_seconds=DEFAULT_BURST) if rate > 0 else None


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        # Runs off the main thread, which keeps its own signal handlers.
        pass


class ServerThread:
    """Runs an ASGI app with uvicorn in a daemon thread; `start()` returns once it listens.

    `port=0` picks a free port; `port` and `endpoint` tell which after `start()`. Usable as a
    context manager (start on enter, stop on exit). uvicorn runs on uvloop with the httptools
    parser when they are installed (they are dependencies): measured, the pair takes the
    HTTP layer's CPU per API call from about 1.3 ms to about 0.5 ms (asyncio's loop and h11
    otherwise).
    """

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """`host:port`, without a scheme, as the SDK's `Config(endpoint=...)` wants it."""
        return f"{self.host}:{self.port}"

    def start(self) -> ServerThread:
        """Bind, serve in the background, and wait until uvicorn accepts connections.

        Raises OSError when the address is taken, RuntimeError when uvicorn does not start.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level=self.log_level, lifespan="off", access_log=False
        )
        self._server = _Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name="opcenter-api",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(f"uvicorn did not start on {self.endpoint}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        """Ask uvicorn to finish its requests and exit; wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        self._server = None
        self._thread = None

    def wait(self) -> None:
        """Block until the server stops (e.g. from another thread, or a KeyboardInterrupt)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
