"""The ASGI application serving the DataWorks-compatible RPC endpoint, and a uvicorn runner.

Every request to `/` (GET, POST, PUT, DELETE) goes to one `Dispatcher`, run in a worker thread
because handlers call the store synchronously. Any other path is answered with the gateway's
`InvalidApi.NotFound` body; any other method with `UnsupportedHTTPMethod`.

The RPC endpoint is answered by `RpcApp.__call__` itself, before Starlette's middleware stack
and router: they cost about a third of the HTTP layer's CPU per call and do nothing for `/`.
Every other request (the mounts, the health routes, the redirects, other paths) goes through
Starlette as before.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from opcenter.api.rpc import (
    Authorize,
    Dispatcher,
    Registry,
    load_operations,
    new_request_id,
)
from opcenter.api.signature import KeyResolver, NonceStore
from opcenter.api.throttle import Limiter, RateLimiter
from opcenter.api.wire import DEFAULT_RECOMMEND, WireRequest, WireResponse
from opcenter.errors import OpcenterError
from opcenter.metrics import observe_request

__all__ = ["DEFAULT_MAX_BODY_BYTES", "SERVED_METHODS", "create_app", "serve"]

SERVED_METHODS = ("GET", "POST", "PUT", "DELETE")
# File contents travel in form bodies (CreateFile, UpdateFile); 16 MiB is far above any script.
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
_ALL_METHODS = [*SERVED_METHODS, "HEAD", "OPTIONS", "PATCH"]
_ANSWERED_METHODS = frozenset(_ALL_METHODS)


class RpcApp(Starlette):
    """The Starlette application, with the RPC endpoint `/` answered in front of it.

    A request for exactly `/` with one of the methods the catch-all route takes is answered
    here, as that route's endpoint would (same dispatcher, same bodies, statuses and headers),
    without Starlette's middleware and router; a browser's `GET /` without an `Action` (sent
    to the console when there is one) and everything else go to Starlette.
    """

    home: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    dispatch_threads: int = 0  # 0: the shared thread pool's limit (Starlette's, 40)
    _dispatch_limiter: anyio.CapacityLimiter | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/"
            and not scope.get("root_path")
            and scope["method"] in _ANSWERED_METHODS
            and not (self.home and _is_browser_home_scope(scope))
        ):
            await self._rpc(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def _rpc(self, scope: Scope, receive: Receive, send: Send) -> None:
        dispatcher = self.state.dispatcher
        headers = tuple(
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in scope["headers"]
        )
        client = scope.get("client")
        wire = WireRequest(
            method=scope["method"].upper(),
            path="/",
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            client=client[0] if client else None,
            scheme=scope.get("scheme"),
        )
        try:
            if wire.method not in SERVED_METHODS:
                raise _bad_method(wire.method)
            body = await _receive_body(receive, wire.header("content-length"), self.max_body_bytes)
        except OpcenterError as error:
            observe_request("", error.code, 0.0)
            response = dispatcher.error(error, wire, new_request_id())
        else:
            if body is None:  # the client went away: nobody to answer
                return
            if body:
                wire = replace(wire, body=body)
            response = await anyio.to_thread.run_sync(dispatcher, wire, limiter=self._limiter())
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": _raw_headers(response),
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    def _limiter(self) -> anyio.CapacityLimiter | None:
        """The dispatcher's own limit of worker threads (`dispatch_threads`), created in the
        event loop on first use; None: the default thread pool's."""
        if self.dispatch_threads <= 0:
            return None
        if self._dispatch_limiter is None:
            self._dispatch_limiter = anyio.CapacityLimiter(self.dispatch_threads)
        return self._dispatch_limiter


def create_app(
    *,
    services: object,
    key_resolver: KeyResolver,
    authorize: Authorize,
    clock: Callable[[], float] = time.time,
    registry: Registry | None = None,
    nonces: NonceStore | None = None,
    region: str = "local",
    recommend: str = DEFAULT_RECOMMEND,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    rate_limit_per_second: float = 0,
    limiter: Limiter | None = None,
    mounts: Sequence[BaseRoute] = (),
    request_transaction: Callable[[], AbstractContextManager[Any]] | None = None,
    dispatch_threads: int = 0,
) -> Starlette:
    """Build the RPC application.

    `services` is handed to every handler as `call.services`; `key_resolver` finds AccessKeys;
    `authorize(principal, ram_action, resource, call)` raises to deny (required: there is no
    allow-all default; the server passes `iam.authorizer.Authorizer`, tests their stand-in);
    `clock()` gives epoch seconds (time stamps, nonces, `call.now`). `registry` defaults to the
    process-wide one with every `opcenter.api.ops_*` module loaded; `nonces` to a bounded
    in-memory store of this process only (`build_server` passes the store's nonces).
    `region` goes into resource ARNs; `recommend` is the error bodies'
    `Recommend` (`{code}` and `{request_id}` are filled in). A body larger than
    `max_body_bytes` is refused (413) before it is read whole. `rate_limit_per_second` caps
    the calls of each AccessKey in this process (0: no limit; see `throttle.py`); a `limiter`
    given instead counts elsewhere (`build_server`: in the store, across processes). `mounts`
    are served before the RPC endpoint (the page under `/console`); with them, a browser's
    `GET /` without an `Action` is sent to the first of them. `request_transaction`
    makes each request one store transaction (see `rpc.Dispatcher`). `dispatch_threads` caps
    the RPC requests dispatched at once (worker threads; the others wait in arrival order);
    0 leaves them to the shared thread pool's limit.
    """
    dispatcher = Dispatcher(
        registry=registry if registry is not None else load_operations(),
        services=services,
        key_resolver=key_resolver,
        nonces=nonces,
        authorize=authorize,
        clock=clock,
        region=region,
        recommend=recommend,
        limiter=limiter
        or (RateLimiter(rate_limit_per_second) if rate_limit_per_second > 0 else None),
        request_transaction=request_transaction,
    )

    home = next((m.path for m in mounts if isinstance(m, Mount)), None)

    async def endpoint(request: Request) -> Response:
        if home and _is_browser_home(request):
            return RedirectResponse(home + "/", status_code=302)
        wire = _head(request)
        try:
            if wire.path != "/":
                raise _not_found(wire.path)
            if wire.method not in SERVED_METHODS:
                raise _bad_method(wire.method)
            wire = replace(wire, body=await _read_body(request, max_body_bytes))
        except OpcenterError as error:
            observe_request("", error.code, 0.0)
            return _send(dispatcher.error(error, wire, new_request_id()))
        dispatched = anyio.to_thread.run_sync(app.state.dispatcher, wire, limiter=app._limiter())
        return _send(await dispatched)

    slashless = [
        Route(m.path, _redirect_to(m.path + "/"), methods=["GET", "HEAD"])
        for m in mounts
        if isinstance(m, Mount)
    ]
    routes = [*slashless, *mounts, Route("/{path:path}", endpoint, methods=_ALL_METHODS)]
    app = RpcApp(routes=routes)
    app.home = home
    app.max_body_bytes = max_body_bytes
    app.dispatch_threads = dispatch_threads
    app.state.dispatcher = dispatcher
    return app


def serve(app: Any, host: str = "127.0.0.1", port: int = 8080, **options: Any) -> None:
    """Run `app` with uvicorn until interrupted; `options` go to `uvicorn.run`."""
    uvicorn.run(app, host=host, port=port, **options)


def _redirect_to(target: str) -> Callable[[Request], Awaitable[Response]]:
    async def redirect(request: Request) -> Response:
        return RedirectResponse(target, status_code=302)

    return redirect


def _is_browser_home(request: Request) -> bool:
    """`GET /` with no `Action` in the query: a person typing the server's address."""
    return (
        request.method in ("GET", "HEAD")
        and request.url.path == "/"
        and "Action" not in request.query_params
    )


def _is_browser_home_scope(scope: Scope) -> bool:
    """`_is_browser_home` on the raw scope (the path is known to be `/`)."""
    if scope["method"] not in ("GET", "HEAD"):
        return False
    query = scope.get("query_string", b"").decode("latin-1")
    return not any(name == "Action" for name, _ in parse_qsl(query, keep_blank_values=True))


async def _receive_body(receive: Receive, declared: str | None, limit: int) -> bytes | None:
    """The request body read from `receive`, refused (413) past `limit`; None when the client
    disconnected before sending it whole."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _raw_headers(response: WireResponse) -> list[tuple[bytes, bytes]]:
    """The header pairs Starlette's `Response` sends for `response` (see `_send`)."""
    raw = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in dict(response.headers).items()
    ]
    names = {name for name, _ in raw}
    status = response.status
    if b"content-length" not in names and not (status < 200 or status in (204, 304)):
        raw.append((b"content-length", str(len(response.body)).encode("latin-1")))
    if b"content-type" not in names:
        media_type = response.media_type
        if media_type.startswith("text/") and "charset=" not in media_type.lower():
            media_type += "; charset=utf-8"
        raw.append((b"content-type", media_type.encode("latin-1")))
    return raw


def _head(request: Request) -> WireRequest:
    """The request without its body (read later, within the size limit)."""
    scope = request.scope
    client = request.client
    return WireRequest(
        method=request.method.upper(),
        path=scope["path"],
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=tuple(
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in scope["headers"]
        ),
        client=client.host if client else None,
        scheme=scope.get("scheme"),
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _send(response: WireResponse) -> Response:
    return Response(
        content=response.body,
        status_code=response.status,
        headers=dict(response.headers),
        media_type=response.media_type,
    )


def _not_found(path: str) -> OpcenterError:
    return OpcenterError(
        "Specified api is not found, please check your url and method. "
        f'The path "{path}" is not served; requests go to "/".',
        code="InvalidApi.NotFound",
        http_status=404,
    )


def _too_large(limit: int) -> OpcenterError:
    return OpcenterError(
        f"The request body is larger than {limit} bytes.",
        code="InvalidParameter",
        http_status=413,
    )


def _bad_method(method: str) -> OpcenterError:
    return OpcenterError(
        f'Specified http method is not supported. "{method}" is not one of '
        f"{', '.join(SERVED_METHODS)}.",
        code="UnsupportedHTTPMethod",
        http_status=400,
    )
