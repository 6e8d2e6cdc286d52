"""The Operation Center page as an ASGI app, mounted by the API server under `/console`.

    app = create_console(ctx, authorizer)        # Starlette, routes relative to /console

Server-rendered pages (Jinja2 templates) on the same service functions and the same authorizer
as the API; static scripts and styles under `/console/static/` (no build step: the scripts
are plain, committed JavaScript); live states from one change feed per process (feed.py).
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from opcenter.console import web
from opcenter.console.feed import ChangeFeed
from opcenter.console.i18n import LANG_COOKIE, Translator, pick_language
from opcenter.context import ServiceContext
from opcenter.iam.authorizer import Authorizer

__all__ = ["create_console"]

_STATIC = Path(__file__).parent / "static"


def _load_pages() -> None:
    # Importing a page module registers its routes (web.ROUTES).
    from opcenter.console.pages import (  # noqa: F401
        alerts,
        audit,
        dag,
        home,
        instances,
        runs,
        workflows,
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    t = Translator(
        pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    )
    home = f'<a href="{web.PREFIX}/">{html.escape(t("error.home"))}</a>'
    message = html.escape(t("error.not_found"))
    body = f'<!doctype html><html lang="{t.lang}"><title>404</title><p>{message}</p><p>{home}</p>'
    return HTMLResponse(body, status_code=404)


def create_console(
    ctx: ServiceContext, authorizer: Authorizer, feed: ChangeFeed | None = None
) -> Starlette:
    """The page over `ctx`, deciding with `authorizer`; `feed` defaults to a new one."""
    _load_pages()
    routes = [*web.ROUTES, Mount("/static", StaticFiles(directory=_STATIC), name="static")]
    app = Starlette(routes=routes, exception_handlers={404: _not_found})
    app.state.console = web.Console(
        ctx=ctx, authorizer=authorizer, feed=feed if feed is not None else ChangeFeed(ctx)
    )
    return app
