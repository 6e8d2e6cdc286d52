"""Verification of Alibaba Cloud request signatures (ACS3-HMAC-SHA256 and V2 HMAC-SHA1).

Two schemes reach the server:

- **ACS3-HMAC-SHA256** (the default of `alibabacloud_tea_openapi`): an `Authorization` header
  `ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<h1;h2>,Signature=<hex>` over a
  canonical request built from the method, the path, the query, the signed headers and the
  SHA-256 of the body (which must equal the `x-acs-content-sha256` header).
- **V2 / HMAC-SHA1** (`Config(signature_algorithm='v2')`, `aliyun-python-sdk-core`): a `Signature`
  parameter, base64 HMAC-SHA1 with key `<secret>&` over `METHOD&%2F&pe(sorted query ∪ form)`.

`verify_request` is a pure function of the request parts, a clock reading, a `KeyResolver` and a
`NonceStore`; it returns who signed the request or raises `AuthError` with the gateway's code.
Checks run in this order, so that a request is never charged a nonce unless it is authentic:
structure → time stamp format → time stamp window → AccessKey → signature → nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import quote

from opcenter.errors import AuthError
from opcenter.iam.credentials import ResolvedKey  # re-exported: callers know it from here

__all__ = [
    "ACS3_ALGORITHM",
    "TIMESTAMP_WINDOW_SECONDS",
    "V2_ALGORITHM",
    "V2_SIGNATURE_PARAMS",
    "Authenticated",
    "InMemoryNonceStore",
    "KeyResolver",
    "NonceStore",
    "ResolvedKey",
    "StaticKeyResolver",
    "acs3_canonical_query",
    "acs3_signature",
    "acs3_string_to_sign",
    "root_key",
    "v2_string_to_sign",
    "verify_request",
]

logger = logging.getLogger(__name__)

ACS3_ALGORITHM = "ACS3-HMAC-SHA256"
V2_ALGORITHM = "HMAC-SHA1"
# A request's time stamp may differ from the server clock by at most this much, either way.
TIMESTAMP_WINDOW_SECONDS = 15 * 60
DEFAULT_NONCE_CAPACITY = 100_000
# UTC "YYYY-MM-DDThh:mm:ssZ" as both SDKs send it; fractions of a second are tolerated.
_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d{1,9})?Z")
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Parameters of the V2 scheme itself; never business parameters.
V2_SIGNATURE_PARAMS = frozenset(
    {
        "AccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureNonce",
        "SignatureType",
        "SignatureVersion",
        "SecurityToken",
        "Timestamp",
    }
)


# --- keys -----------------------------------------------------------------------------------


class KeyResolver(Protocol):
    """Finds the AccessKey a request names. Returns None when the key does not exist."""

    def resolve(self, access_key_id: str) -> ResolvedKey | None: ...


class StaticKeyResolver:
    """A fixed set of keys held in memory (the root key of a server, tests)."""

    def __init__(self, keys: Mapping[str, ResolvedKey]) -> None:
        self._keys = dict(keys)

    def resolve(self, access_key_id: str) -> ResolvedKey | None:
        return self._keys.get(access_key_id)


def root_key(access_key_id: str, secret: str, *, account_id: str = "0") -> ResolvedKey:
    """The account's root key: principal `acs:ram::<account_id>:root`."""
    return ResolvedKey(
        access_key_id=access_key_id,
        secret=secret,
        principal=f"acs:ram::{account_id}:root",
        enabled=True,
        account_id=account_id,
    )


# --- nonces ---------------------------------------------------------------------------------


class NonceStore(Protocol):
    """Remembers signature nonces so that a signed request cannot be replayed.

    A shared store (database, Redis) can replace the in-memory one when several server
    processes answer the same keys.
    """

    def add(self, access_key_id: str, nonce: str, *, now: float, expires_at: float) -> bool:
        """Record (key, nonce) until `expires_at`. Atomic check-and-set.

        Returns True if the pair was new, False if it is already recorded and not expired.
        """
        ...


class InMemoryNonceStore:
    """A bounded, thread-safe nonce memory for one process.

    Entries are kept in insertion order and dropped once expired. When `capacity` live entries
    are held, the oldest is dropped (and a warning logged): memory stays bounded at the cost of
    a shorter replay window under a flood of requests.
    """

    def __init__(self, capacity: int = DEFAULT_NONCE_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, access_key_id: str, nonce: str, *, now: float, expires_at: float) -> bool:
        key = (access_key_id, nonce)
        with self._lock:
            self._purge(now)
            expiry = self._entries.get(key)
            if expiry is not None and expiry > now:
                return False
            self._entries[key] = expires_at
            self._entries.move_to_end(key)
            if len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
                logger.warning(
                    "nonce store full (%d entries): oldest nonce forgotten", self.capacity
                )
            return True

    def __len__(self) -> int:
        return len(self._entries)

    def _purge(self, now: float) -> None:
        # Insertion order is close to expiry order (expiry = request time + window), so expired
        # entries gather at the front; stop at the first live one.
        while self._entries:
            first_key, first_expiry = next(iter(self._entries.items()))
            if first_expiry > now:
                return
            del self._entries[first_key]


# --- result and errors ----------------------------------------------------------------------


@dataclass(frozen=True)
class Authenticated:
    """Who signed a request, and how."""

    key: ResolvedKey
    algorithm: str  # ACS3_ALGORITHM or V2_ALGORITHM
    nonce: str
    timestamp: float

    @property
    def principal(self) -> str:
        return self.key.principal


def _incomplete(detail: str) -> AuthError:
    return AuthError(
        f"The request signature does not conform to Aliyun standards. {detail}",
        code="IncompleteSignature",
        http_status=400,
    )


def _bad_method(value: str) -> AuthError:
    return AuthError(
        f'Specified signature method is not valid. "{value}" is not supported; use '
        f'"{ACS3_ALGORITHM}" (Authorization header) or "{V2_ALGORITHM}" (Signature parameter).',
        code="InvalidSignatureMethod",
        http_status=400,
    )


def _bad_timestamp(name: str, value: str) -> AuthError:
    return AuthError(
        f'Specified time stamp or date value is not well formatted. {name} is "{value}"; '
        'expected "YYYY-MM-DDThh:mm:ssZ" (UTC).',
        code="InvalidTimeStamp.Format",
        http_status=400,
    )


def _expired() -> AuthError:
    return AuthError(
        "Specified time stamp or date value is expired.",
        code="InvalidTimeStamp.Expired",
        http_status=400,
    )


def _key_not_found() -> AuthError:
    return AuthError(
        "Specified access key is not found.", code="InvalidAccessKeyId.NotFound", http_status=404
    )


def _key_inactive() -> AuthError:
    return AuthError(
        "Specified access key is disabled.", code="InvalidAccessKeyId.Inactive", http_status=400
    )


def _mismatch(string_to_sign: str | None = None) -> AuthError:
    message = "Specified signature is not matched with our calculation."
    if string_to_sign is not None:
        # The V2 gateway appends its string to sign; aliyun-python-sdk-core parses it (it
        # splits the message on ':') to tell a wrong secret from a wrongly built request.
        message += f" server string to sign is:{string_to_sign}"
    return AuthError(message, code="SignatureDoesNotMatch", http_status=400)


def _nonce_used() -> AuthError:
    return AuthError(
        "Specified signature nonce was used already.", code="SignatureNonceUsed", http_status=400
    )


# --- entry point ----------------------------------------------------------------------------


def verify_request(
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    form: Sequence[tuple[str, str]] = (),
    now: float,
    keys: KeyResolver,
    nonces: NonceStore,
) -> Authenticated:
    """Verify the request's signature; return the signer or raise `AuthError`.

    `query` and `form` are the decoded (name, value) pairs of the query string and of an
    `application/x-www-form-urlencoded` body; `headers` are (name, value) pairs as received;
    `body` is the exact body bytes; `now` is the server clock in epoch seconds. The scheme is
    ACS3 when an `Authorization` header is present, V2 when a `Signature` parameter is.
    """
    header_map = _header_map(headers)
    if "authorization" in header_map:
        return _verify_acs3(method, path, query, header_map, body, now, keys, nonces)
    if any(name == "Signature" for name, _ in (*query, *form)):
        return _verify_v2(method, query, form, now, keys, nonces)
    raise _incomplete("The request has neither an Authorization header nor a Signature parameter.")


def _header_map(headers: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, value in headers:
        result.setdefault(name.lower(), []).append(value)
    return result


def _single(header_map: Mapping[str, list[str]], name: str) -> str | None:
    values = header_map.get(name)
    return values[-1] if values else None


def _parse_timestamp(name: str, value: str) -> float:
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        raise _bad_timestamp(name, value)
    text = match.group(1)
    try:
        # fromisoformat reads this fixed shape as strptime does, ~50x faster (on every request);
        # strptime for the non-ASCII digits that `\d` lets through (and strptime accepts).
        moment = (
            datetime.fromisoformat(text)
            if text.isascii()
            else datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
        )
    except ValueError:
        raise _bad_timestamp(name, value) from None
    return moment.replace(tzinfo=UTC).timestamp()


def _check_window(timestamp: float, now: float) -> None:
    if abs(now - timestamp) > TIMESTAMP_WINDOW_SECONDS:
        raise _expired()


def _resolve(keys: KeyResolver, access_key_id: str) -> ResolvedKey:
    key = keys.resolve(access_key_id)
    if key is None:
        raise _key_not_found()
    if not key.enabled:
        raise _key_inactive()
    return key


def _claim_nonce(
    nonces: NonceStore, key: ResolvedKey, nonce: str, timestamp: float, now: float
) -> None:
    # The request stays acceptable until its time stamp leaves the window, so the nonce must be
    # remembered at least that long.
    expires_at = max(now, timestamp) + TIMESTAMP_WINDOW_SECONDS
    if not nonces.add(key.access_key_id, nonce, now=now, expires_at=expires_at):
        raise _nonce_used()


# --- ACS3-HMAC-SHA256 -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Acs3Authorization:
    algorithm: str
    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def _parse_authorization(value: str) -> _Acs3Authorization:
    algorithm, _, rest = value.strip().partition(" ")
    if not algorithm or not rest.strip():
        raise _incomplete(
            "The Authorization header is not of the form "
            '"<Algorithm> Credential=...,SignedHeaders=...,Signature=...".'
        )
    if algorithm != ACS3_ALGORITHM:
        raise _bad_method(algorithm)
    parts: dict[str, str] = {}
    for piece in rest.split(","):
        name, sep, item = piece.strip().partition("=")
        if sep:
            parts[name] = item
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not parts.get(n)]
    if missing:
        raise _incomplete(f'The Authorization header lacks "{missing[0]}".')
    return _Acs3Authorization(
        algorithm=algorithm,
        access_key_id=parts["Credential"],
        signed_headers=tuple(parts["SignedHeaders"].split(";")),
        signature=parts["Signature"].lower(),
    )


def _require_signed(header_map: Mapping[str, list[str]], auth: _Acs3Authorization) -> None:
    signed = {name.lower() for name in auth.signed_headers}
    for name in ("x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"):
        if not _single(header_map, name):
            raise _incomplete(f'The header "{name}" is missing.')
    # Every x-acs-* header (action, version, date, nonce, token...) and the content type steer
    # how the request is read, so none of them may be changed without breaking the signature.
    for name in sorted(header_map):
        if (name.startswith("x-acs-") or name == "content-type") and name not in signed:
            raise _incomplete(f'The header "{name}" is not among SignedHeaders.')


def acs3_canonical_query(query: Sequence[tuple[str, str]]) -> str:
    """The canonical query string: pairs sorted by name, values RFC 3986 percent-encoded."""
    # Names are left as they are, values encoded with quote(safe='~'), exactly as
    # alibabacloud_tea_openapi.utils.get_canonical_query_string does.
    pairs = sorted(dict(query).items())
    return "&".join(f"{name}={quote(value, safe='~')}" for name, value in pairs)


def acs3_string_to_sign(
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Sequence[tuple[str, str]],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """The ACS3-HMAC-SHA256 string to sign, built as the SDK builds it."""
    header_map = _header_map(headers)
    canonical_headers = "".join(
        f"{name}:{','.join(sorted(v.strip() for v in header_map.get(name.lower(), [])))}\n"
        for name in signed_headers
    )
    canonical_request = "\n".join(
        [
            method.upper(),
            path or "/",
            acs3_canonical_query(query),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        ]
    )
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{ACS3_ALGORITHM}\n{digest}"


def acs3_signature(secret: str, string_to_sign: str) -> str:
    """The ACS3-HMAC-SHA256 signature of a string to sign: what a client sends, what the server
    expects (one function for both: `opcenter run --endpoint` signs with it)."""
    return hmac.new(
        secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def _verify_acs3(
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    header_map: dict[str, list[str]],
    body: bytes,
    now: float,
    keys: KeyResolver,
    nonces: NonceStore,
) -> Authenticated:
    auth = _parse_authorization(_single(header_map, "authorization") or "")
    _require_signed(header_map, auth)
    date = _single(header_map, "x-acs-date") or ""
    timestamp = _parse_timestamp("x-acs-date", date)
    _check_window(timestamp, now)
    key = _resolve(keys, auth.access_key_id)
    payload_hash = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
    declared_hash = (_single(header_map, "x-acs-content-sha256") or "").strip().lower()
    if not hmac.compare_digest(declared_hash.encode(), payload_hash.encode()):
        raise _mismatch()
    headers = [(name, value) for name, values in header_map.items() for value in values]
    string_to_sign = acs3_string_to_sign(
        method, path, query, headers, auth.signed_headers, payload_hash
    )
    expected = acs3_signature(key.secret, string_to_sign)
    if not hmac.compare_digest(expected.encode(), auth.signature.encode()):
        raise _mismatch()
    nonce = _single(header_map, "x-acs-signature-nonce") or ""
    _claim_nonce(nonces, key, nonce, timestamp, now)
    return Authenticated(key=key, algorithm=ACS3_ALGORITHM, nonce=nonce, timestamp=timestamp)


# --- V2 HMAC-SHA1 ---------------------------------------------------------------------------


def _percent_encode(value: str) -> str:
    return quote(value, safe="~")


def v2_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """The V2 string to sign over all parameters except `Signature`.

    Same as `alibabacloud_tea_openapi.utils.Utils.get_rpcsignature` and
    `aliyunsdkcore.auth.composer.rpc_signature_composer`.
    """
    canonical = "&".join(
        f"{_percent_encode(name)}={_percent_encode(value)}"
        for name, value in sorted(params.items())
        if name != "Signature"
    )
    return f"{method.upper()}&%2F&{_percent_encode(canonical)}"


def _verify_v2(
    method: str,
    query: Sequence[tuple[str, str]],
    form: Sequence[tuple[str, str]],
    now: float,
    keys: KeyResolver,
    nonces: NonceStore,
) -> Authenticated:
    # Later pairs win, the form over the query: the SDKs merge the two dicts in this order.
    params = dict(query)
    params.update(form)
    signature_method = params.get("SignatureMethod")
    if signature_method is None:
        raise _incomplete('The parameter "SignatureMethod" is missing.')
    if signature_method != V2_ALGORITHM:
        raise _bad_method(signature_method)
    if params.get("SignatureType"):
        # aliyun-python-sdk-core sends an empty SignatureType; bearer tokens are not served.
        raise _bad_method(f"SignatureType={params['SignatureType']}")
    for name in ("AccessKeyId", "SignatureNonce", "Timestamp"):
        if not params.get(name):
            raise _incomplete(f'The parameter "{name}" is missing.')
    if params.get("SignatureVersion", "1.0") != "1.0":
        raise _incomplete(f'SignatureVersion "{params["SignatureVersion"]}" is not "1.0".')
    timestamp = _parse_timestamp("Timestamp", params["Timestamp"])
    _check_window(timestamp, now)
    key = _resolve(keys, params["AccessKeyId"])
    string_to_sign = v2_string_to_sign(method, params)
    digest = hmac.new(
        f"{key.secret}&".encode(), string_to_sign.encode("utf-8"), hashlib.sha1
    ).digest()
    expected = base64.b64encode(digest).decode("ascii")
    if not hmac.compare_digest(expected.encode(), params["Signature"].encode("utf-8")):
        raise _mismatch(string_to_sign)
    nonce = params["SignatureNonce"]
    _claim_nonce(nonces, key, nonce, timestamp, now)
    return Authenticated(key=key, algorithm=V2_ALGORITHM, nonce=nonce, timestamp=timestamp)
