"""The HTTP exchange as plain values: what was received, what is sent back.

`WireRequest` holds a request exactly as it arrived (raw query string, header pairs, body
bytes) and decodes the query and an `application/x-www-form-urlencoded` body the way the SDKs
encode them (`+` is a space). `WireResponse` is a status, header pairs and a JSON body;
`json_response` and `error_response` build the two shapes the SDKs read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl

from opcenter.errors import InvalidParameter, OpcenterError, Throttled

__all__ = [
    "DEFAULT_RECOMMEND",
    "JSON_MEDIA_TYPE",
    "MAX_PARAMETERS",
    "WireRequest",
    "WireResponse",
    "error_response",
    "json_response",
]

JSON_MEDIA_TYPE = "application/json;charset=utf-8"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
# More name=value pairs than this in the query or the body is refused, not parsed.
MAX_PARAMETERS = 10_000
# Default retry hint for a throttled call, in milliseconds (the SDK sleeps that long).
DEFAULT_RETRY_AFTER_MS = 1000
DEFAULT_RECOMMEND = "See docs/api-wire.md of opcenter for the error code {code}."


def _decode_pairs(text: str, where: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="replace",
            max_num_fields=MAX_PARAMETERS,
        )
    except ValueError:
        raise InvalidParameter(
            f"The {where} carries more than {MAX_PARAMETERS} parameters."
        ) from None


@dataclass(frozen=True)
class WireRequest:
    """One HTTP request as received. Header names are lower-case.

    `client` is the peer's address as the server saw it (the ASGI `client` host); `scheme` the
    ASGI scope's `scheme` (`http`/`https`), None when the server did not say.
    """

    method: str
    path: str
    query_string: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    client: str | None = field(default=None, compare=False)
    scheme: str | None = field(default=None, compare=False)

    def header(self, name: str) -> str | None:
        """The last value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        found = None
        for key, value in self.headers:
            if key == wanted:
                found = value
        return found

    @property
    def secure(self) -> bool | None:
        """True over TLS, False over plain HTTP, None when the scheme is unknown."""
        if self.scheme is None:
            return None
        return self.scheme.lower() in ("https", "wss")

    @property
    def user_agent(self) -> str:
        """The `User-Agent` header, or an empty string."""
        return self.header("user-agent") or ""

    @cached_property
    def query(self) -> list[tuple[str, str]]:
        """The decoded (name, value) pairs of the query string."""
        return _decode_pairs(self.query_string, "query string")

    @cached_property
    def form(self) -> list[tuple[str, str]]:
        """The decoded pairs of a form body; empty for any other content type."""
        content_type = (self.header("content-type") or "").split(";")[0].strip().lower()
        if content_type != FORM_MEDIA_TYPE or not self.body:
            return []
        return _decode_pairs(self.body.decode("utf-8", errors="replace"), "request body")


@dataclass(frozen=True)
class WireResponse:
    """A response ready to send: status, extra headers, JSON body bytes."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    media_type: str = JSON_MEDIA_TYPE

    def json(self) -> Any:
        return json.loads(self.body)


def _dump(data: Mapping[str, Any]) -> bytes:
    # NaN and Infinity are not JSON; refusing them here turns them into an internal error.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def json_response(data: Mapping[str, Any], request_id: str) -> WireResponse:
    """A 200 answer: `RequestId` first, then the handler's fields exactly as given.

    Raises TypeError/ValueError when `data` is not JSON-serialisable.
    """
    body = {"RequestId": request_id}
    body.update((k, v) for k, v in data.items() if k != "RequestId")
    return WireResponse(status=200, body=_dump(body), headers=(("x-acs-request-id", request_id),))


def error_response(
    error: OpcenterError,
    *,
    request_id: str,
    host_id: str,
    recommend: str = DEFAULT_RECOMMEND,
) -> WireResponse:
    """The gateway's error body `{RequestId, HostId, Code, Message, Recommend}`.

    An error with an `access_denied_detail` mapping adds `AccessDeniedDetail`; a throttling error
    adds the `x-acs-retry-after` header (milliseconds) that turns it into the SDK's
    `ThrottlingException`.
    """
    body: dict[str, Any] = {
        "RequestId": request_id,
        "HostId": host_id,
        "Code": error.code,
        "Message": error.message,
        "Recommend": recommend.format(code=error.code, request_id=request_id),
    }
    detail = getattr(error, "access_denied_detail", None)
    if isinstance(detail, Mapping):
        body["AccessDeniedDetail"] = dict(detail)
    headers: list[tuple[str, str]] = [("x-acs-request-id", request_id)]
    if isinstance(error, Throttled) or error.http_status == 429:
        retry_after = getattr(error, "retry_after_ms", None) or DEFAULT_RETRY_AFTER_MS
        headers.append(("x-acs-retry-after", str(max(1, int(retry_after)))))
    return WireResponse(status=error.http_status, body=_dump(body), headers=tuple(headers))
