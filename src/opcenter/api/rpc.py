"""The one dispatch point of the RPC API: operation registry, typed parameters, error mapping.

An operation handler is a plain function `handler(call: Call) -> dict` registered under its
DataWorks name::

    from opcenter.api.rpc import Call, operation

    @operation("GetDag")
    def get_dag(call: Call) -> dict:
        dag = call.services.dags.get_dag(
            dag_id=call.int("DagId", required=True),
            project_env=call.choice("ProjectEnv", ("PROD", "DEV"), required=True),
        )
        return {"Success": True, "Data": {...}}

`Dispatcher` handles every request in this order: decode the query and form body → verify the
signature (`signature.verify_request`) → find the operation by action and version → build the
`Call` → resolve the resource (the workspace the call touches, kept on `call.workspace` for the
authorizer and the handler) and call `authorize` → run the handler → answer with `RequestId`, in
JSON or, for `Format=XML`, in XML (`wire.py`; errors too). Authorization fails closed: an error
while resolving the resource (an object that does not exist, a bad parameter, a store failure)
refuses the request with that error; the handler does not run. Any `OpcenterError` becomes the
gateway's error body with its status; anything else is logged with its traceback and answered
`InternalError.System` (500) without one.
"""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, overload

from opcenter.api import signature as sig
from opcenter.api.throttle import Limiter
from opcenter.api.wire import DEFAULT_RECOMMEND, WireRequest, WireResponse, response_format
from opcenter.api.wire import error_response as _error_response
from opcenter.api.wire import success_response as _success_response
from opcenter.errors import (
    Forbidden,
    InternalError,
    InvalidParameter,
    InvalidParameterFormat,
    MissingParameter,
    NotFound,
    OpcenterError,
    UnknownAction,
)
from opcenter.iam.scope import WorkspaceRef
from opcenter.iam.system_policies import is_read_action
from opcenter.logcontext import REQUEST_ID
from opcenter.metrics import observe_request
from opcenter.store.db import request_savepoint

__all__ = [
    "DEFAULT_VERSION",
    "REGISTRY",
    "Authorize",
    "Call",
    "Dispatcher",
    "Handler",
    "Operation",
    "Registry",
    "ResourceOf",
    "allow_all",
    "any_resource",
    "load_operations",
    "new_request_id",
    "operation",
]

logger = logging.getLogger(__name__)

DEFAULT_VERSION = "2020-05-18"
RAM_SERVICE = "dataworks"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_NOT_FOUND_MESSAGE = "Specified api is not found, please check your url and method."
_INTERNAL_MESSAGE = "An internal system error occurred. Try again later."
# Parameters that steer the protocol rather than the operation; handlers never see them.
_PROTOCOL_PARAMS = frozenset({"Action", "Version", "Format"}) | sig.V2_SIGNATURE_PARAMS

# The served operation a request named, once found ("" before): the `action` of its metrics.
_ACTION: ContextVar[str] = ContextVar("opcenter_action", default="")

Handler = Callable[["Call"], Mapping[str, Any]]
# The ARN of what the call touches (`*` only for an operation that names no workspace), or the
# resolved workspace (the dispatcher keeps it on `call.workspace` and builds its ARN).
ResourceOf = Callable[["Call"], "str | WorkspaceRef"]
Authorize = Callable[[str, str, str, "Call"], None]


def any_resource(call: Call) -> str:
    """The resource of an operation that touches no particular workspace: `*`."""
    return "*"


def allow_all(principal: str, action: str, resource: str, call: Call) -> None:
    """A stand-in authorizer that allows everything a valid signature asks for.

    For tests and benchmarks that pass it explicitly; no factory uses it by default.
    """


def new_request_id() -> str:
    """A request id shaped like the gateway's (upper-case UUID)."""
    return str(uuid.uuid4()).upper()


# --- registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """A registered operation: its wire name and version, handler, and RAM action/resource."""

    name: str
    version: str
    handler: Handler
    ram_action: str
    resource: ResourceOf
    # Runs inside the request's one transaction (see `Dispatcher`): only for handlers whose
    # every effect is a store write (nothing acts on the world before the commit).
    in_request_transaction: bool = False


class Registry:
    """Operations by (name, version). Registering the same pair twice is a programming error."""

    def __init__(self) -> None:
        self._operations: dict[tuple[str, str], Operation] = {}

    def operation(
        self,
        name: str,
        version: str = DEFAULT_VERSION,
        *,
        resource: ResourceOf = any_resource,
        ram_action: str | None = None,
        in_request_transaction: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Decorator registering `handler(call) -> dict` as operation `name`.

        `resource(call)` names what the call touches for authorization (a `WorkspaceRef`, an
        ARN such as `call.workspace_arn(identifier)`, or `*` for an operation that names no
        workspace); it raises when that cannot be resolved, which refuses the call. The RAM
        action defaults to `dataworks:<name>`. `in_request_transaction=True` runs the handler
        inside the request's transaction (see `Dispatcher`): only for a handler that only
        reads or writes the store (no process started, no file written, no signal sent).
        """

        def register(handler: Handler) -> Handler:
            self.add(
                Operation(
                    name=name,
                    version=version,
                    handler=handler,
                    ram_action=ram_action or f"{RAM_SERVICE}:{name}",
                    resource=resource,
                    in_request_transaction=in_request_transaction,
                )
            )
            return handler

        return register

    def add(self, op: Operation) -> None:
        """Register `op`; raises ValueError if its (name, version) is taken."""
        key = (op.name, op.version)
        if key in self._operations:
            raise ValueError(f"operation {op.name} {op.version} is already registered")
        self._operations[key] = op

    def find(self, action: str, version: str) -> Operation:
        """The operation for (action, version); raises `UnknownAction` naming what is wrong."""
        op = self._operations.get((action, version))
        if op is not None:
            return op
        versions = sorted(v for (name, v) in self._operations if name == action)
        if not versions:
            raise UnknownAction(f'{_NOT_FOUND_MESSAGE} Action "{action}" is not served here.')
        raise UnknownAction(
            f'Specified parameter Version is not valid. Version "{version}" of action '
            f'"{action}" is not served here; served: {", ".join(versions)}.',
            code="InvalidVersion",
            http_status=400,
        )

    def __contains__(self, name: object) -> bool:
        return any(key[0] == name for key in self._operations)

    def __iter__(self) -> Iterator[Operation]:
        return iter(sorted(self._operations.values(), key=lambda op: (op.name, op.version)))

    def __len__(self) -> int:
        return len(self._operations)


REGISTRY = Registry()
"""The process-wide registry that `operation` fills and `create_app` serves by default."""


def operation(
    name: str,
    version: str = DEFAULT_VERSION,
    *,
    resource: ResourceOf = any_resource,
    ram_action: str | None = None,
    in_request_transaction: bool = False,
) -> Callable[[Handler], Handler]:
    """Register a handler in the process-wide `REGISTRY` (see `Registry.operation`)."""
    return REGISTRY.operation(
        name,
        version,
        resource=resource,
        ram_action=ram_action,
        in_request_transaction=in_request_transaction,
    )


def load_operations(package: str = "opcenter.api") -> Registry:
    """Import every `ops_*` module of `package` (they register themselves); return `REGISTRY`."""
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        if info.name.startswith("ops_"):
            importlib.import_module(f"{package}.{info.name}")
    return REGISTRY


# --- the call a handler receives ------------------------------------------------------------


def _not_valid(name: str, reason: str) -> str:
    return f'The specified value of parameter "{name}" is not valid: {reason}.'


# The getters of Call are named str/int/bool; inside its body these aliases name the types.
_Str = str
_Int = int
_Bool = bool


class Call:
    """One authenticated call of an operation, with typed access to its parameters.

    Getters return None (or `default`) for an absent parameter; with `required=True` an absent
    or empty one raises `MissingParameter`. A value that cannot be decoded raises
    `InvalidParameterFormat` naming the parameter and the value.

    `source_ip` (the peer address, empty when unknown), `secure` (True over TLS, None when
    unknown) and `user_agent` describe the connection, for policy conditions and the audit trail.
    `workspace` is the workspace the call touches once the dispatcher resolved it (None for an
    operation that names none); `may(action, resource)` asks the authorizer, without raising or
    auditing, whether the caller would be allowed another action.
    """

    def __init__(
        self,
        *,
        action: _Str,
        version: _Str,
        params: Mapping[_Str, _Str],
        request_id: _Str,
        auth: sig.Authenticated,
        services: object,
        now: float,
        region: _Str,
        source_ip: _Str = "",
        secure: _Bool | None = None,
        user_agent: _Str = "",
        authorize: Authorize | None = None,
    ) -> None:
        self.action = action
        self.version = version
        self.params: Mapping[_Str, _Str] = params
        self.request_id = request_id
        self.auth = auth
        self.services: Any = services
        self.now = now
        self.region = region
        self.source_ip = source_ip
        self.secure = secure
        self.user_agent = user_agent
        self.workspace: WorkspaceRef | None = None
        self._authorize = authorize

    def may(self, action: _Str, resource: _Str) -> _Bool:
        """Whether the caller would be allowed `action` on `resource` (nothing is audited).

        Uses the authorizer's `allows(principal, action, resource, call)` when it has one;
        otherwise calls it and reads a `Forbidden` or `NotFound` as no. Without an authorizer
        the answer is no. Other errors (a store failure) propagate.
        """
        if self._authorize is None:
            return False
        allows = getattr(self._authorize, "allows", None)
        if allows is not None:
            return _Bool(allows(self.principal, action, resource, self))
        try:
            self._authorize(self.principal, action, resource, self)
        except (Forbidden, NotFound):
            return False
        return True

    def require(self, action: _Str, resource: _Str) -> None:
        """Authorize another action for this call as the dispatcher authorizes the call's own:
        returns when allowed, raises the denial (`Forbidden.RAM`, `Forbidden.Access`, a
        NotFound for an invisible workspace) otherwise; the authorizer audits it. For an
        operation that stands for several (ApplyWorkflowDefinition writes files, submits and
        deploys them). Without an authorizer the answer is no (`Forbidden`)."""
        if self._authorize is None:
            raise Forbidden(f"Access is forbidden: no authorizer to decide {action}.")
        self._authorize(self.principal, action, resource, self)

    @property
    def principal(self) -> _Str:
        return self.auth.key.principal

    @property
    def access_key_id(self) -> _Str:
        return self.auth.key.access_key_id

    @property
    def account_id(self) -> _Str:
        return self.auth.key.account_id

    def has(self, name: _Str) -> _Bool:
        """True when `name` was sent with a non-empty value."""
        return _Bool(self.params.get(name))

    def _raw(self, name: _Str, required: _Bool) -> _Str | None:
        value = self.params.get(name)
        if value is None or value == "":
            if required:
                raise MissingParameter(name)
            return None
        return value

    @overload
    def str(self, name: _Str, *, required: Literal[True]) -> _Str: ...
    @overload
    def str(self, name: _Str, *, default: _Str) -> _Str: ...
    @overload
    def str(self, name: _Str, *, required: _Bool = ..., default: None = ...) -> _Str | None: ...

    def str(
        self, name: _Str, *, required: _Bool = False, default: _Str | None = None
    ) -> _Str | None:
        """The parameter as sent."""
        value = self._raw(name, required)
        return default if value is None else value

    @overload
    def int(
        self, name: _Str, *, required: Literal[True], min: _Int | None = ..., max: _Int | None = ...
    ) -> _Int: ...
    @overload
    def int(
        self, name: _Str, *, default: _Int, min: _Int | None = ..., max: _Int | None = ...
    ) -> _Int: ...
    @overload
    def int(
        self,
        name: _Str,
        *,
        required: _Bool = ...,
        default: None = ...,
        min: _Int | None = ...,
        max: _Int | None = ...,
    ) -> _Int | None: ...

    def int(
        self,
        name: _Str,
        *,
        required: _Bool = False,
        default: _Int | None = None,
        min: _Int | None = None,
        max: _Int | None = None,
    ) -> _Int | None:
        """A decimal 64-bit integer, optionally bounded (`InvalidParameter` outside)."""
        raw = self._raw(name, required)
        if raw is None:
            return default
        number = _to_int(name, raw)
        if min is not None and number < min:
            raise InvalidParameter(_not_valid(name, f"{number} is less than {min}"))
        if max is not None and number > max:
            raise InvalidParameter(_not_valid(name, f"{number} is greater than {max}"))
        return number

    @overload
    def bool(self, name: _Str, *, required: Literal[True]) -> _Bool: ...
    @overload
    def bool(self, name: _Str, *, default: _Bool) -> _Bool: ...
    @overload
    def bool(self, name: _Str, *, required: _Bool = ..., default: None = ...) -> _Bool | None: ...

    def bool(
        self, name: _Str, *, required: _Bool = False, default: _Bool | None = None
    ) -> _Bool | None:
        """`true`/`false` in any case (the SDK sends Python's `True`/`False`)."""
        raw = self._raw(name, required)
        if raw is None:
            return default
        lowered = raw.strip().lower()
        if lowered not in ("true", "false"):
            raise InvalidParameterFormat(_not_valid(name, f'"{raw}" is not true or false'))
        return lowered == "true"

    @overload
    def choice(self, name: _Str, choices: Iterable[_Str], *, required: Literal[True]) -> _Str: ...
    @overload
    def choice(self, name: _Str, choices: Iterable[_Str], *, default: _Str) -> _Str: ...
    @overload
    def choice(
        self, name: _Str, choices: Iterable[_Str], *, required: _Bool = ..., default: None = ...
    ) -> _Str | None: ...

    def choice(
        self,
        name: _Str,
        choices: Iterable[_Str],
        *,
        required: _Bool = False,
        default: _Str | None = None,
    ) -> _Str | None:
        """One of `choices`, compared exactly (`InvalidParameter` otherwise)."""
        raw = self._raw(name, required)
        if raw is None:
            return default
        allowed = list(choices)
        if raw not in allowed:
            raise InvalidParameter(_not_valid(name, f'"{raw}" is not one of {", ".join(allowed)}'))
        return raw

    def json(self, name: _Str, *, required: _Bool = False) -> Any:
        """A JSON document sent as a string (e.g. `DagParameters`); None when absent."""
        raw = self._raw(name, required)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise InvalidParameterFormat(
                _not_valid(name, f"it is not valid JSON ({exc})")
            ) from None

    def int_list(self, name: _Str, *, required: _Bool = False) -> list[_Int] | None:
        """Comma-separated integers (e.g. `IncludeNodeIds=74324,74325`); None when absent."""
        raw = self._raw(name, required)
        if raw is None:
            return None
        pieces = [piece.strip() for piece in raw.split(",")]
        if any(piece == "" for piece in pieces):
            raise InvalidParameterFormat(
                _not_valid(name, f'"{raw}" is not a comma-separated list of integers')
            )
        return [_to_int(name, piece) for piece in pieces]

    def arn(self, relative_id: _Str) -> _Str:
        """`acs:dataworks:<region>:<account-id>:<relative_id>` for this caller's account."""
        return f"acs:{RAM_SERVICE}:{self.region}:{self.account_id}:{relative_id}"

    def workspace_arn(self, project_identifier: _Str) -> _Str:
        """The resource of a workspace: `acs:dataworks:<region>:<account>:workspace/<name>`."""
        return self.arn(f"workspace/{project_identifier}")


def _to_int(name: str, raw: str) -> int:
    text = raw.strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isascii() or not digits.isdigit():
        raise InvalidParameterFormat(_not_valid(name, f'"{raw}" is not an integer'))
    number = int(text)
    if not INT64_MIN <= number <= INT64_MAX:
        raise InvalidParameterFormat(_not_valid(name, f'"{raw}" is out of the 64-bit range'))
    return number


# --- dispatch -------------------------------------------------------------------------------


class Dispatcher:
    """Turns a `WireRequest` into a `WireResponse`; synchronous, thread-safe, no HTTP server.

    `authorize(principal, ram_action, resource, call)` returns to allow and raises an
    `OpcenterError` (normally `Forbidden`, optionally with an `access_denied_detail` mapping)
    to deny. `clock()` gives epoch seconds.

    With `request_transaction` (a context manager factory: `Database.request_transaction`),
    a request is one store transaction where it used to be four: the AccessKey lookup, the
    nonce, the rate limit, resolving the resource, the authorization reads and the audit row
    all run inside it, and so does the handler of an operation registered with
    `in_request_transaction=True` (a writing one under a savepoint: its writes are undone when
    it fails, while the nonce and the audit row stay). An error raised on the way (a refused
    signature, a denial, a failed handler, an unexpected one) still commits what was recorded
    before it (the nonce, the audit row), as the separate transactions did. Other handlers run after
    the commit, as before.
    """

    def __init__(
        self,
        *,
        registry: Registry,
        services: object,
        key_resolver: sig.KeyResolver,
        authorize: Authorize,
        nonces: sig.NonceStore | None = None,
        clock: Callable[[], float] = time.time,
        region: str = "local",
        recommend: str = DEFAULT_RECOMMEND,
        limiter: Limiter | None = None,
        request_transaction: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> None:
        self.registry = registry
        self.request_transaction = request_transaction
        self.limiter = limiter
        self.services = services
        self.key_resolver = key_resolver
        self.nonces: sig.NonceStore = nonces if nonces is not None else sig.InMemoryNonceStore()
        self.authorize = authorize
        self.clock = clock
        self.region = region
        self.recommend = recommend

    def __call__(self, request: WireRequest) -> WireResponse:
        request_id = new_request_id()
        # The request's id for the log lines (logcontext.py), its Action for the metrics.
        tokens = REQUEST_ID.set(request_id), _ACTION.set("")
        started, code = time.perf_counter(), "OK"
        try:
            return self._dispatch(request, request_id)
        except OpcenterError as error:
            code = error.code
            logger.info(
                "request %s refused: %s %s", request_id, error.code, error.message.split("\n")[0]
            )
            return self.error(error, request, request_id)
        except Exception:
            code = InternalError.code
            logger.exception("request %s failed with an unexpected error", request_id)
            return self.error(InternalError(_INTERNAL_MESSAGE), request, request_id)
        finally:
            observe_request(_ACTION.get(), code, time.perf_counter() - started)
            REQUEST_ID.reset(tokens[0])
            _ACTION.reset(tokens[1])

    def error(self, error: OpcenterError, request: WireRequest, request_id: str) -> WireResponse:
        """The error answer for `error`, with HostId taken from the request's Host header, in
        the format the request asks for (`Format=XML`)."""
        return _error_response(
            error,
            request_id=request_id,
            host_id=request.header("host") or "opcenter",
            recommend=self.recommend,
            fmt=response_format(request),
        )

    def _dispatch(self, request: WireRequest, request_id: str) -> WireResponse:
        if self.request_transaction is None:
            op, call = self._admit(request, request_id)
            return self._handle(op, call, request)
        failure: Exception | None = None
        inside = False
        with self.request_transaction() as session:
            try:
                op, call = self._admit(request, request_id)
                inside = op.in_request_transaction
                if inside and is_read_action(op.ram_action):
                    response = self._handle(op, call, request)  # nothing of it to undo
                elif inside:
                    with request_savepoint(session):  # its after-commit actions go with it
                        response = self._handle(op, call, request)
            except Exception as error:  # raised again below, once committed
                # What was recorded before it (the nonce, the audit row) commits, as the
                # separate transactions did; a failed handler's own writes were undone.
                failure = error
        if failure is not None:
            raise failure
        if not inside:
            return self._handle(op, call, request)
        return response

    def _admit(self, request: WireRequest, request_id: str) -> tuple[Operation, Call]:
        """Signature, nonce, rate limit, operation, resource and authorization: the call to
        run, or the error refusing it."""
        now = self.clock()
        query, form = request.query, request.form
        auth = sig.verify_request(
            request.method,
            request.path,
            query,
            request.headers,
            request.body,
            form=form,
            now=now,
            keys=self.key_resolver,
            nonces=self.nonces,
        )
        if self.limiter is not None:
            self.limiter.check(auth.key.access_key_id, now)
        params = dict(query)
        params.update(form)
        action, version = _action_of(request, params, auth)
        op = self.registry.find(action, version)
        _ACTION.set(op.name)
        call = Call(
            action=action,
            version=version,
            params={k: v for k, v in params.items() if k not in _PROTOCOL_PARAMS},
            request_id=request_id,
            auth=auth,
            services=self.services,
            now=now,
            region=self.region,
            source_ip=request.client or "",
            secure=request.secure,
            user_agent=request.user_agent,
            authorize=self.authorize,
        )
        self.authorize(call.principal, op.ram_action, _resource(op, call), call)
        return op, call

    @staticmethod
    def _handle(op: Operation, call: Call, request: WireRequest) -> WireResponse:
        result = op.handler(call)
        if not isinstance(result, Mapping):
            raise TypeError(f"handler of {op.name} returned {type(result).__name__}, not a dict")
        return _success_response(
            result, call.request_id, action=op.name, fmt=response_format(request)
        )


def _resource(op: Operation, call: Call) -> str:
    """The ARN to authorize; a resolved workspace is kept on the call. Errors propagate."""
    resolved = op.resource(call)
    if isinstance(resolved, WorkspaceRef):
        call.workspace = resolved
        return call.workspace_arn(resolved.identifier)
    return resolved


def _action_of(
    request: WireRequest, params: Mapping[str, str], auth: sig.Authenticated
) -> tuple[str, str]:
    # V2 signs parameters only, so its action must come from the signed Action parameter; the
    # ACS3 scheme signs the x-acs-* headers (verify_request insists), which the SDK prefers.
    if auth.algorithm == sig.ACS3_ALGORITHM:
        action = request.header("x-acs-action") or params.get("Action")
        version = request.header("x-acs-version") or params.get("Version")
    else:
        action, version = params.get("Action"), params.get("Version")
    if not action:
        raise MissingParameter("Action")
    if not version:
        raise MissingParameter("Version")
    return action, version
