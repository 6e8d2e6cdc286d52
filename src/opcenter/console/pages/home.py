"""Signing in and out, the language switch, and the workspace picker."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.responses import RedirectResponse, Response

from opcenter.console.i18n import LANG_COOKIE, LANGUAGES
from opcenter.console.sessions import SignInRefused, sign_in, sign_out
from opcenter.console.web import PREFIX, SESSION_COOKIE, Page, page_route, public_route
from opcenter.service import workspaces

_YEAR = 365 * 24 * 3600


def _local(target: str | None) -> str:
    """`target` when it is a path of the page (never another site), else the page's home."""
    if not target:
        return PREFIX + "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX + "/"):
        return PREFIX + "/"
    return target


@public_route("/signin", methods=("GET", "POST"))
async def signin(page: Page) -> Response:
    request = page.request
    target = _local(request.query_params.get("next"))
    if request.method == "GET":
        return page.render("signin.html", next=target, name="")
    form = await page.form()
    client = request.client
    try:
        token, _ = await page.run(
            sign_in,
            page.ctx,
            name=form.get("name", ""),
            password=form.get("password", ""),
            source_ip=client.host if client else "",
            user_agent=request.headers.get("user-agent", ""),
        )
    except SignInRefused as refused:
        message = (
            page.t("signin.wait", seconds=refused.wait_seconds)
            if refused.wait_seconds
            else page.t("signin.wrong")
        )
        return page.render(
            "signin.html", status=403, next=target, name=form.get("name", ""), failed=message
        )
    response = RedirectResponse(_local(form.get("next") or target), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=PREFIX,
    )
    return response


@page_route("/signout", methods=("POST",))
async def signout(page: Page) -> Response:
    await page.run(sign_out, page.ctx, page.request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(PREFIX + "/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@public_route("/lang/{lang}")
async def switch_language(page: Page) -> Response:
    lang = page.request.path_params["lang"]
    response = RedirectResponse(_local(page.request.query_params.get("next")), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=_YEAR, samesite="lax", path=PREFIX)
    return response


@page_route("/")
async def home(page: Page) -> Response:
    """The workspaces the user may see, each with its environments."""
    caller = page.access.caller
    listed = await page.run(workspaces.list_projects, page.ctx, page_size=100, caller=caller)
    return page.render("home.html", workspaces=listed.items)
