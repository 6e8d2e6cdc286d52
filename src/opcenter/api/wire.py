"""The HTTP exchange as plain values: what was received, what is sent back.

`WireRequest` holds a request exactly as it arrived (raw query string, header pairs, body
bytes) and decodes the query and an `application/x-www-form-urlencoded` body the way the SDKs
encode them (`+` is a space). `WireResponse` is a status, header pairs and a body;
`success_response` and `error_response` build the two shapes the SDKs read, in JSON or, when
the request's `Format` parameter says `XML` (`response_format`), in XML as DataWorks writes it:
the root `<{Action}Response>` (`<Error>` for an error), one element per field, a list as its
element repeated, a null field left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from opcenter.errors import InvalidParameter, OpcenterError, Throttled

__all__ = [
    "DEFAULT_RECOMMEND",
    "JSON",
    "JSON_MEDIA_TYPE",
    "MAX_PARAMETERS",
    "XML",
    "XML_MEDIA_TYPE",
    "WireRequest",
    "WireResponse",
    "error_response",
    "json_response",
    "response_format",
    "success_response",
    "xml_document",
]

JSON_MEDIA_TYPE = "application/json;charset=utf-8"
XML_MEDIA_TYPE = "text/xml;charset=utf-8"
JSON, XML = "JSON", "XML"
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
    """A response ready to send: status, extra headers, body bytes (JSON unless `media_type`
    says XML)."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    media_type: str = JSON_MEDIA_TYPE

    def json(self) -> Any:
        return json.loads(self.body)


def response_format(request: WireRequest) -> str:
    """`XML` when the request's `Format` parameter (query or form body, any case) says so, else
    `JSON` (also for a request whose parameters cannot be decoded). Never raises."""
    try:
        pairs = [*request.query, *request.form]
    except OpcenterError:
        return JSON
    chosen = [value for name, value in pairs if name == "Format"]
    return XML if chosen and chosen[-1].strip().upper() == XML else JSON


def _dump(data: Mapping[str, Any]) -> bytes:
    # NaN and Infinity are not JSON; refusing them here turns them into an internal error.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


# Characters XML 1.0 cannot carry at all (they become U+FFFD), and a name an element can have.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = json.dumps(value, allow_nan=False)
    else:
        raise TypeError(f"{type(value).__name__} is not serialisable as XML")
    # `\r` as a character reference: a parser would turn a literal one into `\n`.
    return escape(_NOT_XML_CHAR.sub("\ufffd", text), {"\r": "&#13;"})


def _xml_element(name: str, value: Any, out: list[str]) -> None:
    if value is None:
        return
    if isinstance(value, list | tuple):
        for item in value:
            _xml_element(name, item, out)
        return
    if not _XML_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an XML element name")
    if isinstance(value, Mapping):
        out.append(f"<{name}>")
        for key, item in value.items():
            _xml_element(str(key), item, out)
        out.append(f"</{name}>")
        return
    out.append(f"<{name}>{_xml_text(value)}</{name}>")


def xml_document(root: str, data: Mapping[str, Any]) -> bytes:
    """`data` as DataWorks writes an XML answer: `<root>` holding one element per field, a list
    as its element repeated, a null field left out, booleans `true`/`false`. Characters XML 1.0
    cannot carry become U+FFFD. Raises TypeError/ValueError for what has no XML form."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    _xml_element(root, dict(data), out)
    return "".join(out).encode("utf-8")


def _body(data: Mapping[str, Any], fmt: str, root: str) -> tuple[bytes, str]:
    if fmt == XML:
        return xml_document(root, data), XML_MEDIA_TYPE
    return _dump(data), JSON_MEDIA_TYPE


def json_response(data: Mapping[str, Any], request_id: str) -> WireResponse:
    """A 200 answer: `RequestId` first, then the handler's fields exactly as given.

    Raises TypeError/ValueError when `data` is not JSON-serialisable.
    """
    return success_response(data, request_id, action="", fmt=JSON)


def success_response(
    data: Mapping[str, Any], request_id: str, *, action: str, fmt: str = JSON
) -> WireResponse:
    """A 200 answer in `fmt`: `RequestId` first, then the handler's fields exactly as given;
    in XML under the root `<{action}Response>`.

    Raises TypeError/ValueError when `data` has no form in `fmt`.
    """
    body = {"RequestId": request_id}
    body.update((k, v) for k, v in data.items() if k != "RequestId")
    content, media_type = _body(body, fmt, f"{action}Response")
    return WireResponse(
        status=200,
        body=content,
        headers=(("x-acs-request-id", request_id),),
        media_type=media_type,
    )


def error_response(
    error: OpcenterError,
    *,
    request_id: str,
    host_id: str,
    recommend: str = DEFAULT_RECOMMEND,
    fmt: str = JSON,
) -> WireResponse:
    """The gateway's error body `{RequestId, HostId, Code, Message, Recommend}` (in XML, the
    root `<Error>`).

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
    try:
        content, media_type = _body(body, fmt, "Error")
    except (TypeError, ValueError):  # a detail with no XML form: the error still gets out
        content, media_type = _dump(body), JSON_MEDIA_TYPE
    return WireResponse(
        status=error.http_status, body=content, headers=tuple(headers), media_type=media_type
    )
