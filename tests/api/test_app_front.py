"""The RPC endpoint `/` is answered in front of Starlette's middleware and router (app.py
`RpcApp`), with exactly the answers the catch-all route gives; everything else still goes
through Starlette."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from opcenter.api import app as app_module
from opcenter.api.rpc import Registry, allow_all
from opcenter.api.server import ServerThread
from opcenter.api.wire import XML_MEDIA_TYPE, WireResponse
from tests.api.conftest import make_key_resolver
from tests.api.sdk import send_raw


def _app() -> app_module.RpcApp:
    app = app_module.create_app(
        services=None, key_resolver=make_key_resolver(), authorize=allow_all, registry=Registry()
    )
    assert isinstance(app, app_module.RpcApp)
    return app


@pytest.mark.parametrize(
    "response",
    [
        WireResponse(status=200, body=b'{"a":1}'),
        WireResponse(status=200, body=b"<a/>", media_type=XML_MEDIA_TYPE),
        WireResponse(status=429, body=b"{}", headers=(("Retry-After", "1"),)),
        WireResponse(status=400, body=b"{}", media_type="text/plain"),
        WireResponse(status=204, body=b""),
    ],
)
def test_front_sends_the_headers_starlette_sends(response: WireResponse) -> None:
    assert app_module._raw_headers(response) == app_module._send(response).raw_headers


def test_rpc_requests_do_not_enter_starlette_but_other_paths_do() -> None:
    app = _app()
    with ServerThread(app) as server:
        url = f"http://{server.endpoint}"
        for method in ("POST", "GET", "PATCH"):
            answer = send_raw(method, url + "/?Action=GetProject")
            assert answer.status == 400
            assert answer.headers["content-type"] == "application/json;charset=utf-8"
        assert answer.body["Code"] == "UnsupportedHTTPMethod"
        # Starlette builds its middleware stack on the first request it serves itself.
        assert app.middleware_stack is None
        other = send_raw("POST", url + "/v2/projects")
        assert (other.status, other.body["Code"]) == (404, "InvalidApi.NotFound")
        assert app.middleware_stack is not None


class _ThroughStarlette:
    """The same app, every request through Starlette's stack and the catch-all route."""

    def __init__(self, app: app_module.RpcApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await Starlette.__call__(self.app, scope, receive, send)


def test_front_answers_as_the_route_did() -> None:
    front = _app()
    with ServerThread(front) as a, ServerThread(_ThroughStarlette(_app())) as b:
        for method, path, headers, body in [
            ("POST", "/?Action=GetProject&Version=2020-05-18", _FORM, b"ProjectId=1"),
            ("POST", "/", {"authorization": "ACS3-HMAC-SHA256 Credential=x"}, b""),
            ("DELETE", "/", {}, b"x" * 10),
            ("OPTIONS", "/", {}, b""),
        ]:
            one = send_raw(method, f"http://{a.endpoint}{path}", headers, body)
            two = send_raw(method, f"http://{b.endpoint}{path}", headers, body)
            assert one.status == two.status
            assert one.headers["content-type"] == two.headers["content-type"]
            assert int(one.headers["content-length"]) > 0
            assert _comparable(one.body) == _comparable(two.body)
        assert front.middleware_stack is None


_FORM = {"content-type": "application/x-www-form-urlencoded"}


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("RequestId", "HostId")}
