"""The Operation Center page as an ASGI app, mounted by the API server under `/console`.

    app = create_console(ctx, authorizer)        # Starlette, routes relative to /console

Server-rendered pages (Jinja2 templates) on the same service functions and the same authorizer
as the API; static scripts and styles under `/console/static/` (no build step: the scripts
are plain, committed JavaScript); live states from one change feed per process (feed.py).
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from opcenter.console import web
from opcenter.console.feed import ChangeFeed
from opcenter.context import ServiceContext
from opcenter.iam.authorizer import Authorizer

__all__ = ["create_console"]

_STATIC = Path(__file__).parent / "static"


def _load_pages() -> None:
    # Importing a page module registers its routes (web.ROUTES).
    from opcenter.console.pages import audit, dag, home, instances, runs, workflows  # noqa: F401


def create_console(
    ctx: ServiceContext, authorizer: Authorizer, feed: ChangeFeed | None = None
) -> Starlette:
    """The page over `ctx`, deciding with `authorizer`; `feed` defaults to a new one."""
    _load_pages()
    routes = [*web.ROUTES, Mount("/static", StaticFiles(directory=_STATIC), name="static")]
    app = Starlette(routes=routes)
    app.state.console = web.Console(
        ctx=ctx, authorizer=authorizer, feed=feed if feed is not None else ChangeFeed(ctx)
    )
    return app
