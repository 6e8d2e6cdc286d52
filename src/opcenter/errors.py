"""The errors a user can cause, each carrying its DataWorks wire code and HTTP status.

    OpcenterError                      (code, http_status, message)
    ├── MissingParameter               400  MissingParameter
    ├── InvalidParameter               400  InvalidParameter
    │   └── InvalidParameterFormat     400  InvalidParameter.Format
    ├── NotFound                       404  Invalid.<Kind>.NotExists
    ├── Conflict                       409  Invalid.<Kind>.Status / Invalid.<Kind>.Duplicate
    ├── AuthError                      400/403/404  signature, AccessKey and time-stamp codes
    ├── Forbidden                      403  Forbidden.Access / ResourceNotAuthorized.Api
    ├── Throttled                      429  Throttling.User
    ├── UnknownAction                  404  InvalidAction.NotFound
    └── InternalError                  500  InternalError.System

Adapters translate an `OpcenterError` into their own form (the Alibaba Cloud error body, a CLI
`Error: ...` line); nothing above an adapter builds an error by hand.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "Conflict",
    "Forbidden",
    "InternalError",
    "InvalidParameter",
    "InvalidParameterFormat",
    "MissingParameter",
    "NotFound",
    "OpcenterError",
    "Throttled",
    "UnknownAction",
    "not_found",
]


class OpcenterError(Exception):
    """Raised for any failure a user can cause; carries the DataWorks code and HTTP status."""

    code: str = "InternalError.System"
    http_status: int = 500

    def __init__(
        self, message: str, *, code: str | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class MissingParameter(OpcenterError):
    """Raised when a mandatory parameter is absent."""

    code = "MissingParameter"
    http_status = 400

    def __init__(self, name: str) -> None:
        super().__init__(
            f'The input parameter "{name}" that is mandatory for processing this request '
            "is not supplied."
        )
        self.parameter = name


class InvalidParameter(OpcenterError):
    """Raised when a parameter is present but its value breaks a rule; the message says which."""

    code = "InvalidParameter"
    http_status = 400


class InvalidParameterFormat(InvalidParameter):
    """Raised when a parameter cannot be decoded (JSON, integer, boolean, date form)."""

    code = "InvalidParameter.Format"


class NotFound(OpcenterError):
    """Raised when the named object does not exist (or is not visible to the caller)."""

    http_status = 404

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message, code=f"Invalid.{kind}.NotExists")
        self.kind = kind


class Conflict(OpcenterError):
    """Raised when an operation is refused in the object's current state, or a name is taken."""

    http_status = 409

    def __init__(self, kind: str, message: str, *, reason: str = "Status") -> None:
        super().__init__(message, code=f"Invalid.{kind}.{reason}")
        self.kind = kind


class AuthError(OpcenterError):
    """Raised when a request's signature, AccessKey or time stamp does not hold."""

    http_status = 400


class Forbidden(OpcenterError):
    """Raised when the caller is known but not allowed to do this."""

    code = "Forbidden.Access"
    http_status = 403


class Throttled(OpcenterError):
    """Raised when the caller sends more requests than allowed."""

    code = "Throttling.User"
    http_status = 429

    @classmethod
    def over_limit(cls, access_key_id: str, rate: float, wait_ms: int) -> Throttled:
        """The refusal of a call of `access_key_id` over `rate` calls per second, carrying
        `retry_after_ms` (the gateway's `x-acs-retry-after`)."""
        error = cls(
            f"Request was denied due to user flow control: AccessKey {access_key_id} is limited "
            f"to {rate:g} calls per second; retry after {wait_ms} ms."
        )
        error.retry_after_ms = wait_ms  # type: ignore[attr-defined]
        return error


class UnknownAction(OpcenterError):
    """Raised when the requested action or version is not served here."""

    code = "InvalidAction.NotFound"
    http_status = 404


class InternalError(OpcenterError):
    """Raised for a fault of ours; the message never carries a traceback."""

    code = "InternalError.System"
    http_status = 500


# The one wording of "that object does not exist", by the parameter that names it: the services
# raise it, and the authorizer answers it for an object in a workspace the caller cannot see,
# so both cases read the same. {value} is the parsed value; {env} the environment.
_NOT_FOUND: dict[str, tuple[str, str]] = {
    "InstanceId": ("Instance", "The instance InstanceId={value} does not exist in {env}."),
    "DagId": ("Dag", "The Dag DagId={value} does not exist in {env}."),
    "OpSeq": ("Dag", "No Dag has OpSeq={value} in {env}."),
    "NodeId": ("Node", "The node NodeId={value} does not exist."),
    "ProjectId": ("Project", "The workspace ProjectId={value} does not exist."),
    "ProjectName": ("Project", "The workspace ProjectName={value!r} does not exist."),
    "ProjectIdentifier": ("Project", "The workspace ProjectIdentifier={value!r} does not exist."),
}


def not_found(parameter: str, value: object, env: str | None = None) -> NotFound:
    """`Invalid.<Kind>.NotExists` for the object that `parameter`=`value` names (in `env`).

    `parameter` is one of InstanceId, DagId, OpSeq, NodeId, ProjectId, ProjectName,
    ProjectIdentifier; raises KeyError for another (a programming error).
    """
    kind, template = _NOT_FOUND[parameter]
    return NotFound(kind, template.format(value=value, env=env or ""))
