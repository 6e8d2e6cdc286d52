"""`GET /healthz` and `GET /readyz`, for load balancers and orchestrators; no signature.

- `/healthz` → 200 `{"status": "ok"}` while the process runs (it answers at all).
- `/readyz` → 200 when the store answers a query within `READY_TIMEOUT_SECONDS`, else 503;
  body `{"status": "ok"|"unavailable", "store": <state>, "engine": <state>}`; the store's
  state is "ok", "unreachable", "no schema" or "no answer within 3 s"; the engine's state
  is "leader", "standby" (another process leads the store) or "off" (this process runs no
  engine: `serve --no-engine`).

`opcenter serve` serves them on its own port (before the RPC endpoint); `opcenter scheduler`
on its health port (`health_app`). Both serve `GET /metrics` there too (opcenter/metrics.py,
unsigned; `OPCENTER_METRICS=off` turns it off).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from opcenter.metrics import CONTENT_TYPE, StoreCollector, exposition
from opcenter.store.db import Database

__all__ = ["READY_TIMEOUT_SECONDS", "health_app", "health_routes", "metrics_route"]

logger = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 3.0
# The store's own table: a dropped schema or database is "unavailable", not merely a server up.
_PROBE = sa.text("SELECT version_num FROM alembic_version")


def health_routes(db: Database, engine_state: Callable[[], str]) -> list[Route]:
    """The two routes; `engine_state()` gives "leader", "standby" or "off"."""

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        store = await _probe(db)
        ready = store == "ok"
        body = {
            "status": "ok" if ready else "unavailable",
            "store": store,
            "engine": engine_state(),
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
    ]


def metrics_route(collector: StoreCollector) -> Route:
    """`GET /metrics` (unsigned): the process's metrics in the Prometheus text format."""

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(exposition, collector)
        return Response(body, media_type=CONTENT_TYPE)

    return Route("/metrics", metrics, methods=["GET"])


def health_app(
    db: Database,
    engine_state: Callable[[], str],
    *,
    metrics: bool = True,
    engine: Callable[[], Any] = lambda: None,
) -> Starlette:
    """A small app serving only the two routes (the scheduler's health port), and `/metrics`
    unless `metrics` is False (`engine()`: the engine whose queue and slots it reports)."""
    routes = health_routes(db, engine_state)
    if metrics:
        routes.append(metrics_route(StoreCollector(db, engine_state, engine)))
    return Starlette(routes=routes)


async def _probe(db: Database) -> str:
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(
            loop.run_in_executor(None, _query, db), timeout=READY_TIMEOUT_SECONDS
        )
    except TimeoutError:
        return f"no answer within {READY_TIMEOUT_SECONDS:g} s"


def _query(db: Database) -> str:
    # The answer names the kind of failure only (the endpoint is unsigned: no host names or
    # messages of the database server); the log has the reason.
    try:
        with db.engine.connect() as conn:
            conn.execute(_PROBE).all()
    except sa.exc.OperationalError:
        logger.warning("readiness: the store is unreachable", exc_info=True)
        return "unreachable"
    except sa.exc.SQLAlchemyError:
        logger.warning("readiness: the store does not answer", exc_info=True)
        return "no schema"
    return "ok"
