"""What the RPC layer tells the authorizer about the connection: the source IP, whether it is
TLS, the User-Agent (policy conditions `acs:SourceIp`, `acs:SecureTransport`, `acs:UserAgent`).
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

import pytest
from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest

from opcenter.api.rpc import Call, Dispatcher, Registry
from opcenter.api.signature import ACS3_ALGORITHM
from opcenter.api.wire import WireRequest
from opcenter.iam.authorizer import access_request
from tests.api.conftest import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    RunningServer,
    ServerFactory,
    make_key_resolver,
    rpc_server,
)
from tests.api.sdk import call_api, tea_client

__all__ = ["rpc_server"]

HOST = "opcenter.test:8080"


def _echo(call: Call) -> dict[str, Any]:
    return {"SourceIp": call.source_ip, "Secure": call.secure, "UserAgent": call.user_agent}


def _registry() -> Registry:
    registry = Registry()
    registry.operation("GetProject")(_echo)
    return registry


def _signed(client: str | None, scheme: str | None, user_agent: str | None) -> WireRequest:
    """A GetProject request signed the SDK's way, as the ASGI app would hand it on."""
    query = {"ProjectId": "1"}
    body = b""
    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = query
    request.headers = {
        "host": HOST,
        "x-acs-action": "GetProject",
        "x-acs-version": "2020-05-18",
        "x-acs-date": Utils.get_timestamp(),
        "x-acs-signature-nonce": Utils.get_nonce(),
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    if user_agent is not None:
        request.headers["user-agent"] = user_agent
    request.headers["Authorization"] = Utils.get_authorization(
        request, ACS3_ALGORITHM, hashlib.sha256(body).hexdigest(), ACCESS_KEY_ID, ACCESS_KEY_SECRET
    )
    return WireRequest(
        method="POST",
        path="/",
        query_string=urlencode(query),
        headers=tuple((k.lower(), v) for k, v in request.headers.items()),
        body=body,
        client=client,
        scheme=scheme,
    )


@pytest.fixture
def seen() -> list[Call]:
    """The calls the authorizer was asked about."""
    return []


def _dispatcher(seen: list[Call]) -> Dispatcher:
    def authorize(principal: str, action: str, resource: str, call: Call) -> None:
        seen.append(call)

    return Dispatcher(
        registry=_registry(), services=None, key_resolver=make_key_resolver(), authorize=authorize
    )


@pytest.mark.parametrize(
    ("scheme", "secure"), [("https", True), ("HTTPS", True), ("http", False), (None, None)]
)
def test_wire_request_is_secure_given_the_https_scheme(scheme: str | None, secure: bool) -> None:
    request = WireRequest("POST", "/", "", (("user-agent", "ua/1"),), scheme=scheme)
    assert (request.secure, request.user_agent) == (secure, "ua/1")


def test_call_carries_source_ip_tls_and_user_agent_to_the_authorizer(seen: list[Call]) -> None:
    answer = _dispatcher(seen)(_signed("10.1.2.3", "https", "AlibabaCloud (Linux) Python/3.11"))
    (call,) = seen
    decided = access_request(call.principal, "dataworks:GetProject", "*", call)
    assert answer.json()["SourceIp"] == "10.1.2.3"
    assert (call.source_ip, call.secure, call.user_agent) == (
        "10.1.2.3",
        True,
        "AlibabaCloud (Linux) Python/3.11",
    )
    assert (decided.source_ip, decided.secure_transport, decided.user_agent) == (
        "10.1.2.3",
        True,
        "AlibabaCloud (Linux) Python/3.11",
    )


def test_call_connection_facts_are_empty_given_an_unknown_peer(seen: list[Call]) -> None:
    _dispatcher(seen)(_signed(None, None, None))
    (call,) = seen
    assert (call.source_ip, call.secure, call.user_agent) == ("", None, "")


@pytest.fixture
def server(rpc_server: ServerFactory) -> RunningServer:
    return rpc_server(_registry())


def test_served_call_sees_the_loopback_peer_and_the_sdk_user_agent(server: RunningServer) -> None:
    body = call_api(tea_client(server), "GetProject", query={"ProjectId": 1})["body"]
    assert body["SourceIp"] == "127.0.0.1"
    assert body["UserAgent"].startswith("AlibabaCloud (")


def test_served_call_knows_it_is_plain_http(server: RunningServer) -> None:
    body = call_api(tea_client(server), "GetProject", query={"ProjectId": 1})["body"]
    assert body["Secure"] is False
