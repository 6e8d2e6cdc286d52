"""The plumbing every page shares: who is signed in, the language, CSRF, rendering, errors.

A page handler is `async def handler(page: Page) -> Response`, wrapped by `page_route`:

    @page_route("/w/{ws}/{env}/runs")
    async def runs(page: Page) -> Response:
        access = page.access
        ...
        return page.render("runs.html", dags=...)

The wrapper loads the session (no session: a page is redirected to the sign-in form, a script's
request gets 401), checks the CSRF token on every POST, builds the `Access` of the signed-in
user and the `Translator` of the request's language, runs blocking service calls in a worker
thread (`await page.run(fn, ...)`), and turns an `OpcenterError` into the page with its banner
(or, for a script, `{"Code", "Message"}` JSON) with the error's HTTP status. Nothing else
reaches the browser: an unexpected exception is logged and answered with the generic message.
"""

from __future__ import annotations

import functools
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from opcenter.console.access import Access
from opcenter.console.i18n import LANG_COOKIE, LANGUAGES, Translator, pick_language
from opcenter.console.sessions import SessionInfo, load_session
from opcenter.context import ServiceContext
from opcenter.errors import OpcenterError
from opcenter.iam.authorizer import Authorizer

__all__ = [
    "PREFIX",
    "SESSION_COOKIE",
    "Console",
    "Page",
    "page_route",
    "public_route",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

PREFIX = "/console"
SESSION_COOKIE = "opcenter_session"
CSRF_HEADER = "x-csrf-token"
_HERE = Path(__file__).parent
_INTERNAL = "An internal system error occurred. Try again later."


@dataclass
class Console:
    """What every page handler needs: the store's services, the authorizer, the change feed
    and the template environment (kept on the app's state)."""

    ctx: ServiceContext
    authorizer: Authorizer
    feed: Any  # console.feed.ChangeFeed
    templates: Environment = field(
        default_factory=lambda: Environment(
            loader=FileSystemLoader(_HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )


@dataclass
class Page:
    """One request to the page, signed in (`session` is None only on public routes)."""

    request: Request
    console: Console
    session: SessionInfo | None
    t: Translator
    request_id: str

    @property
    def ctx(self) -> ServiceContext:
        return self.console.ctx

    @property
    def access(self) -> Access:
        assert self.session is not None, "a public route has no signed-in user"
        client = self.request.client
        return Access(
            ctx=self.ctx,
            authorizer=self.console.authorizer,
            session=self.session,
            source_ip=client.host if client else "",
            user_agent=self.request.headers.get("user-agent", ""),
            secure=self.request.url.scheme == "https",
            request_id=self.request_id,
        )

    @property
    def wants_json(self) -> bool:
        """A script's request (fetch with `Accept: application/json`, or an event stream)."""
        accept = self.request.headers.get("accept", "")
        return "application/json" in accept or "text/event-stream" in accept

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Call a blocking (store) function in a worker thread."""
        return await run_in_threadpool(fn, *args, **kwargs)

    async def form(self) -> dict[str, str]:
        """The POSTed form fields (last value of each)."""
        data = await self.request.form()
        return {k: str(v) for k, v in data.items()}

    def url(self, path: str) -> str:
        return PREFIX + path

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        """Render `templates/<template>` with the page's common values."""
        values.setdefault("error", None)
        html = self.console.templates.get_template(template).render(
            t=self.t,
            lang=self.t.lang,
            languages=LANGUAGES,
            session=self.session,
            csrf=self.session.csrf if self.session else "",
            prefix=PREFIX,
            path=self.request.url.path,
            request_id=self.request_id,
            **values,
        )
        response = HTMLResponse(html, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        return response

    def error(self, error: OpcenterError) -> Response:
        """The answer for a refused request: JSON for scripts, the error page otherwise."""
        if self.wants_json:
            body = {"Code": error.code, "Message": error.message, "RequestId": self.request_id}
            return JSONResponse(body, status_code=error.http_status)
        return self.render("error.html", status=error.http_status, error=error)


Handler = Callable[[Page], Awaitable[Response]]


def _console(request: Request) -> Console:
    return request.app.state.console


def _translator(request: Request) -> Translator:
    return Translator(
        pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    )


def _csrf_ok(request: Request, session: SessionInfo, form: Any) -> bool:
    sent = request.headers.get(CSRF_HEADER) or (form.get("csrf") if form is not None else None)
    return bool(sent) and hmac.compare_digest(str(sent), session.csrf)


def _same_origin(request: Request) -> bool:
    """A POST from another site's page is refused even before its token is looked at."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def _guarded(handler: Handler, *, public: bool) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        console = _console(request)
        page = Page(request, console, None, _translator(request), str(uuid.uuid4()).upper())
        try:
            if request.method == "POST" and not _same_origin(request):
                # Another site's page, signed in or not (the sign-in form too: no login CSRF).
                raise CsrfRefused(page.t("error.csrf"))
            if not public:
                token = request.cookies.get(SESSION_COOKIE)
                page.session = await run_in_threadpool(load_session, console.ctx, token)
                if page.session is None:
                    return _signed_out(page)
                if request.method == "POST":
                    form = None
                    if "form" in request.headers.get("content-type", ""):
                        form = await request.form()
                    if not _csrf_ok(request, page.session, form):
                        raise CsrfRefused(page.t("error.csrf"))
            return await handler(page)
        except OpcenterError as error:
            return page.error(error)
        except Exception:
            logger.exception("The page failed on %s %s", request.method, request.url.path)
            return page.error(OpcenterError(_INTERNAL))

    return endpoint


class CsrfRefused(OpcenterError):
    """Raised when a state-changing request of the page lacks its session's CSRF token or
    comes from another site."""

    code = "Forbidden.CSRF"
    http_status = 403


def _signed_out(page: Page) -> Response:
    if page.wants_json:
        body = {"Code": "SessionExpired", "Message": page.t("signin.expired")}
        return JSONResponse(body, status_code=401)
    target = page.request.url.path
    if page.request.url.query:
        target += "?" + page.request.url.query
    return RedirectResponse(f"{PREFIX}/signin?next={quote(target)}", status_code=303)


ROUTES: list[Route] = []


def page_route(path: str, methods: tuple[str, ...] = ("GET",)) -> Callable[[Handler], Handler]:
    """Register a signed-in page or action at `PREFIX + path`."""

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(path, _guarded(handler, public=False), methods=list(methods)))
        return handler

    return register


def public_route(path: str, methods: tuple[str, ...] = ("GET",)) -> Callable[[Handler], Handler]:
    """Register a page reachable without signing in (the sign-in form)."""

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(path, _guarded(handler, public=True), methods=list(methods)))
        return handler

    return register
