"""The official clients, pointed at a test server, and raw HTTP for what they cannot send."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from alibabacloud_dataworks_public20200518.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi import utils_models as open_api_util_models
from alibabacloud_tea_openapi.utils import Utils
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import RpcRequest
from darabonba.core import DaraCore
from darabonba.request import DaraRequest
from darabonba.runtime import RuntimeOptions

from tests.api.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, RunningServer


def tea_client(
    server: RunningServer,
    *,
    access_key_id: str = ACCESS_KEY_ID,
    access_key_secret: str = ACCESS_KEY_SECRET,
    signature_algorithm: str | None = None,
    endpoint: str | None = None,
) -> Client:
    """The DataWorks client of `alibabacloud-dataworks-public20200518` (ACS3 unless told)."""
    config = open_api_models.Config(
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        endpoint=endpoint or server.endpoint,
        protocol="http",
        signature_algorithm=signature_algorithm,
    )
    return Client(config)


def call_api(
    client: Client,
    action: str,
    *,
    version: str = "2020-05-18",
    body: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | None = None,
    pathname: str = "/",
) -> dict[str, Any]:
    """The SDK's generic `call_api`, for actions and versions it has no method for."""
    params = open_api_util_models.Params(
        action=action,
        version=version,
        protocol="HTTPS",
        pathname=pathname,
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = open_api_util_models.OpenApiRequest(
        body=dict(body) if body else None, query=Utils.query(dict(query)) if query else None
    )
    return client.call_api(params, request, RuntimeOptions())


def acs_client(
    server: RunningServer,
    *,
    access_key_id: str = ACCESS_KEY_ID,
    access_key_secret: str = ACCESS_KEY_SECRET,
) -> AcsClient:
    """`aliyun-python-sdk-core`'s client (V2 HMAC-SHA1), without automatic retries."""
    return AcsClient(
        access_key_id, access_key_secret, "cn-hangzhou", port=server.port, auto_retry=False
    )


def aimed(request: RpcRequest) -> RpcRequest:
    """Point an `aliyunsdkdataworks_public` request at the test server over plain HTTP."""
    request.set_endpoint("127.0.0.1")
    request.set_protocol_type("http")
    return request


@dataclass
class Sent:
    """A request exactly as the SDK sent it."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@contextmanager
def capture(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Sent]]:
    """Record every request the tea SDK sends (it still sends them)."""
    sent: list[Sent] = []
    original = DaraCore.do_action

    def recording(request: DaraRequest, runtime: Any = None) -> Any:
        body = request.body
        sent.append(
            Sent(
                method=request.method,
                url=DaraCore.compose_url(request),
                headers={str(k): str(v) for k, v in request.headers.items()},
                body=body.encode("utf-8") if isinstance(body, str) else (body or b""),
            )
        )
        return original(request, runtime)

    monkeypatch.setattr(DaraCore, "do_action", recording)
    try:
        yield sent
    finally:
        monkeypatch.setattr(DaraCore, "do_action", original)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def send_raw(
    method: str, url: str, headers: Mapping[str, str] | None = None, body: bytes = b""
) -> Answer:
    """Send one request with urllib; 4xx/5xx answers are returned, not raised."""
    request = urllib.request.Request(
        url, data=body or None, headers=dict(headers or {}), method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, raw_headers, raw = error.code, error.headers, error.read()
        error.close()
    headers = {k.lower(): v for k, v in raw_headers.items()}
    return Answer(status=status, headers=headers, body=json.loads(raw))


def resend(sent: Sent, *, body: bytes | None = None, **header_changes: str | None) -> Answer:
    """Send a captured request again, optionally with another body or changed headers.

    Header names in `header_changes` use `_` for `-`; None removes the header.
    """
    headers = dict(sent.headers)
    for name, value in header_changes.items():
        header = name.replace("_", "-")
        headers.pop(header, None)
        if value is not None:
            headers[header] = value
    return send_raw(sent.method, sent.url, headers, sent.body if body is None else body)
