"""A small OpenAPI client on the standard library, for the CLI's `--endpoint` paths that must
start fast (`opcenter run --endpoint`): no SDK, no SQLAlchemy.

Each call is an RPC-style POST of a form body, signed ACS3-HMAC-SHA256 as the official SDK signs
it (the string to sign and the signature are the server's own functions, api/signature.py), on
one keep-alive HTTP connection. The server decides it as every other call: same signature check,
same authorization, same audit. A refusal becomes `CommandFailed("<Code>: <Message>")`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import time
from typing import Any
from urllib.parse import urlencode

from opcenter.api.signature import ACS3_ALGORITHM, acs3_signature, acs3_string_to_sign
from opcenter.cli._output import CommandFailed

__all__ = ["VERSION", "ApiClient", "ApiRefused"]

VERSION = "2020-05-18"
_FORM = "application/x-www-form-urlencoded"


class ApiRefused(CommandFailed):
    """The server answered an error: its code and message (`<Code>: <Message>` as the text)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.server_message = code, message


class ApiClient:
    """Calls to the server at `endpoint` (`HOST:PORT`, or `http://HOST:PORT`) signed with one
    AccessKey, over one connection kept open between calls."""

    def __init__(
        self, endpoint: str, access_key_id: str, secret: str, timeout: float = 60.0
    ) -> None:
        self.endpoint = endpoint
        host = endpoint.removeprefix("http://").rstrip("/")
        if endpoint.startswith("https://"):
            host = endpoint.removeprefix("https://").rstrip("/")
            self._connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, timeout=timeout
            )
        else:
            self._connection = http.client.HTTPConnection(host, timeout=timeout)
        self.host, self.key_id, self.secret = host, access_key_id, secret

    def close(self) -> None:
        self._connection.close()

    def call(self, action: str, params: dict[str, str | None], *, retry: bool = False) -> Any:
        """The body the server answers to `action` with `params` (None values are not sent).
        `retry`: a read may be sent again once when the kept-open connection was closed by the
        server meanwhile (never a call that changes something)."""
        body = urlencode({k: v for k, v in params.items() if v is not None}).encode("utf-8")
        try:
            status, text = self._send(action, body)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
            self._connection.close()
            if not retry:
                raise CommandFailed(f"Cannot reach the server at {self.endpoint}: {exc}") from None
            status, text = self._send_once_more(action, body)
        except OSError as exc:  # refused, unknown host, timeout
            raise CommandFailed(f"Cannot reach the server at {self.endpoint}: {exc}") from None
        try:
            answer = json.loads(text)
        except ValueError:
            raise CommandFailed(
                f"The server at {self.endpoint} answered {status} with no JSON body."
            ) from None
        if status >= 400 or not isinstance(answer, dict):
            code = answer.get("Code") if isinstance(answer, dict) else None
            message = answer.get("Message") if isinstance(answer, dict) else None
            raise ApiRefused(str(code or f"HTTP {status}"), str(message or text[:200]))
        return answer

    def _send_once_more(self, action: str, body: bytes) -> tuple[int, str]:
        try:
            return self._send(action, body)
        except OSError as exc:
            raise CommandFailed(f"Cannot reach the server at {self.endpoint}: {exc}") from None

    def _send(self, action: str, body: bytes) -> tuple[int, str]:
        self._connection.request("POST", "/", body=body, headers=self._headers(action, body))
        response = self._connection.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")

    def _headers(self, action: str, body: bytes) -> dict[str, str]:
        """The headers of one call, signed as the SDK signs them (ACS3-HMAC-SHA256)."""
        payload_hash = hashlib.sha256(body).hexdigest()
        headers = {
            "content-type": _FORM,
            "host": self.host,
            "x-acs-action": action,
            "x-acs-content-sha256": payload_hash,
            "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "x-acs-signature-nonce": os.urandom(16).hex(),
            "x-acs-version": VERSION,
        }
        signed = sorted(headers)
        string_to_sign = acs3_string_to_sign(
            "POST", "/", [], list(headers.items()), signed, payload_hash
        )
        headers["authorization"] = (
            f"{ACS3_ALGORITHM} Credential={self.key_id},SignedHeaders={';'.join(signed)},"
            f"Signature={acs3_signature(self.secret, string_to_sign)}"
        )
        return headers
