"""The `authorize(principal, action, resource, call)` callable of the RPC layer.

A request that passed the signature check is decided in this order:

1. **Root** (`acs:ram::<account>:root`) is allowed everything.
2. **RAM policy**: the user's attached policies are evaluated on the action
   (`dataworks:<Operation>`) and the resource (`acs:dataworks:<region>:<account>:workspace/<id>`;
   an operation that names no workspace is checked on `acs:dataworks:<region>:<account>:*`,
   which both `*` and `acs:dataworks:*:*:*` match). An explicit Deny, or no Allow →
   `Forbidden.RAM` (403) with an `AccessDeniedDetail`.
3. **Visibility**: a workspace the user is not a member of answers exactly as a missing one:
   `Invalid.Project.NotExists` (404) with the message the service gives for a missing workspace.
4. **Workspace role** (`roles.allowed_roles`) → `Forbidden.Access` (403) naming the roles held
   and the roles that would do.

The workspace is the one the RPC layer resolved for the call (`call.workspace`, a
`WorkspaceRef`), so it is looked up once per request; a call without one (a workspace named by
an identifier that does not exist, or a caller of this class other than the RPC layer) is looked
up by the identifier of the resource. A workspace the caller cannot see answers with the
services' own "does not exist" error (`errors.not_found`), so both cases read the same.

Every decision on a write (an operation not named Get*/List*/…), and every denial, is
recorded in the audit trail. `allows(...)` asks the same question without raising or auditing
(e.g. "may this caller edit files here?", which decides what run parameters it may pass).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.errors import Forbidden, NotFound, OpcenterError, not_found
from opcenter.iam import audit
from opcenter.iam.members import roles_in
from opcenter.iam.policy import Outcome, RequestContext, evaluate
from opcenter.iam.policy_store import policies_of_user
from opcenter.iam.principals import UserRecord, find_user, parse_principal
from opcenter.iam.roles import ROLES, allowed_roles, roles_may
from opcenter.iam.scope import WorkspaceRef
from opcenter.iam.system_policies import is_read_action
from opcenter.settings import Settings
from opcenter.store.db import Database
from opcenter.store.tables import Workspace

__all__ = [
    "AccessRequest",
    "Authorizer",
    "PolicyDenied",
    "RoleDenied",
    "access_request",
]

_RAM_DENIED = (
    "User not authorized to operate on the specified resource, or this API doesn't support RAM."
)
_WORKSPACE_PREFIX = "workspace/"
# A call that names its workspace only through one object: if that workspace is invisible, the
# answer is the service's own error for a missing object of that kind.
_OBJECT_PARAMS = ("InstanceId", "DagId", "NodeId", "OpSeq")
_WORKSPACE_PARAMS = ("ProjectId", "ProjectName", "ProjectIdentifier")


class PolicyDenied(Forbidden):
    """Raised when no attached RAM policy allows the action, or one explicitly denies it."""

    code = "Forbidden.RAM"

    def __init__(self, message: str, access_denied_detail: Mapping[str, str]) -> None:
        super().__init__(message)
        self.access_denied_detail = dict(access_denied_detail)


class RoleDenied(Forbidden):
    """Raised when the user's workspace roles do not allow the operation."""

    code = "Forbidden.Access"


@dataclass(frozen=True)
class AccessRequest:
    """Everything a decision needs, taken from the call once."""

    principal: str
    action: str
    resource: str
    params: Mapping[str, str] = field(default_factory=dict)
    access_key_id: str = ""
    source_ip: str = ""
    secure_transport: bool | None = None
    user_agent: str = ""
    request_id: str = ""
    now: float = 0.0  # epoch seconds
    region: str = ""
    account_id: str = ""
    workspace: WorkspaceRef | None = None  # as the RPC layer resolved it

    @property
    def operation(self) -> str:
        return self.action.split(":", 1)[-1]

    @property
    def env(self) -> str | None:
        value = self.params.get("ProjectEnv") or self.params.get("Env")
        return value.upper() if value else None


def access_request(
    principal: str, action: str, resource: str, call: Any, *, now: float | None = None
) -> AccessRequest:
    """Read what the decision needs from an RPC `Call` (attributes it lacks default to empty)."""
    request = getattr(call, "request", None)
    source_ip = (
        getattr(call, "source_ip", None)
        or getattr(call, "client", None)
        or getattr(request, "client", None)
        or ""
    )
    return AccessRequest(
        principal=principal,
        action=action,
        resource=resource,
        params=dict(getattr(call, "params", {}) or {}),
        access_key_id=getattr(call, "access_key_id", "") or "",
        source_ip=str(source_ip),
        secure_transport=getattr(call, "secure", None),
        user_agent=getattr(call, "user_agent", "") or "",
        request_id=getattr(call, "request_id", "") or "",
        now=getattr(call, "now", None) or (time.time() if now is None else now),
        region=getattr(call, "region", "") or "",
        account_id=getattr(call, "account_id", "") or "",
        workspace=getattr(call, "workspace", None),
    )


def _workspace_part(resource: str) -> str | None:
    # acs:dataworks:<region>:<account>:workspace/<identifier>
    parts = resource.split(":", 4)
    if len(parts) == 5 and parts[4].startswith(_WORKSPACE_PREFIX):
        return parts[4][len(_WORKSPACE_PREFIX) :] or None
    return None


def _not_found(request: AccessRequest, named: str) -> NotFound:
    """The answer for a workspace the caller cannot see: what the service says when missing."""
    params = request.params
    if not any(params.get(p) for p in _WORKSPACE_PARAMS):
        for name in _OBJECT_PARAMS:
            if params.get(name):
                return not_found(name, _as_number(params[name]), request.env)
    for name in ("ProjectIdentifier", "ProjectName"):
        if params.get(name):
            return not_found(name, params[name])
    if params.get("ProjectId"):
        return not_found("ProjectId", _as_number(params["ProjectId"]))
    return NotFound("Project", f"The workspace {named!r} does not exist.")


def _memo(memo: dict[tuple[str, object], Any], key: tuple[str, object], read: Any) -> Any:
    """`read()`, once per key and transaction (see `Authorizer._decide`)."""
    if key not in memo:
        memo[key] = read()
    return memo[key]


def _as_number(raw: str) -> int | str:
    # The service formats the parsed integer (`+07` → 7).
    text = raw.strip()
    return int(text) if text.lstrip("+-").isdigit() else text


class Authorizer:
    """Decides requests against the store's users, policies and workspace members."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def __call__(self, principal: str, action: str, resource: str, call: Any) -> None:
        self.check(access_request(principal, action, resource, call))

    def allows(self, principal: str, action: str, resource: str, call: Any) -> bool:
        """Whether the request would be allowed; nothing raised (but store errors), nothing
        audited."""
        try:
            self._decide(access_request(principal, action, resource, call))
        except (Forbidden, NotFound):
            return False
        return True

    def denial(self, request: AccessRequest) -> Forbidden | NotFound | None:
        """Why the request would be refused (the error `check` would raise), or None when it
        would be allowed; nothing audited. The page shows it beside a disabled button."""
        try:
            self._decide(request)
        except (Forbidden, NotFound) as denied:
            return denied
        return None

    def check(self, request: AccessRequest) -> None:
        """Return when allowed; raise the denial (and audit it) otherwise."""
        try:
            self._decide(request)
        except OpcenterError as denial:
            self._audit(request, audit.DENIED, denial)
            raise
        if not is_read_action(request.action):
            self._audit(request, audit.ALLOWED, None)

    # --- the decision -----------------------------------------------------------------------

    def _decide(self, request: AccessRequest) -> None:
        principal = parse_principal(request.principal)
        account = request.account_id or self.settings.account_id
        if principal is not None and principal.is_root and principal.account_id == account:
            return
        with self.db.transaction(readonly=True) as session:
            # What the decision reads is kept in the session for the rest of its transaction:
            # in an API request (one transaction) a run asks twice, for RunManualDagNodes and
            # for "may it edit code" (UpdateFile), with the same user, policies and roles.
            memo: dict[tuple[str, object], Any] = session.info.setdefault("authorizer", {})
            user = (
                _memo(memo, ("user", principal.name), lambda: find_user(session, principal.name))
                if principal and principal.name
                else None
            )
            if user is None or principal is None or principal.account_id != account:
                raise self._policy_denied(request, None, Outcome.IMPLICIT_DENY, request.resource)
            named = _workspace_part(request.resource)
            workspace = self._workspace(session, request, named) if named else None
            resource = self._policy_resource(request, named, workspace, account)
            self._check_policy(session, request, user, resource, memo)
            if named is None:
                return
            # No such workspace, or not a member of it: the same answer (visibility).
            roles = (
                _memo(
                    memo,
                    ("roles", (workspace.id, user.id, request.principal)),
                    lambda: roles_in(session, workspace, user, request.principal),
                )
                if workspace
                else None
            )
            if workspace is None or roles is None:
                raise _not_found(request, named)
            self._check_role(request, user, workspace, roles)

    @staticmethod
    def _workspace(session: Session, request: AccessRequest, named: str) -> WorkspaceRef | None:
        if request.workspace is not None and named == request.workspace.identifier:
            return request.workspace  # resolved once, by the RPC layer
        ws = session.scalar(sa.select(Workspace).where(Workspace.identifier == named))
        if ws is None and named.isdigit():
            ws = session.get(Workspace, int(named))
        return None if ws is None else WorkspaceRef(ws.id, ws.identifier, ws.owner or "")

    def _policy_resource(
        self,
        request: AccessRequest,
        named: str | None,
        workspace: WorkspaceRef | None,
        account: str,
    ) -> str:
        region = request.region or self.settings.region
        if request.resource == "*":
            return f"acs:dataworks:{region}:{account}:*"
        if workspace is not None and named != workspace.identifier:
            # Named by id: policies are written against identifiers.
            return f"acs:dataworks:{region}:{account}:workspace/{workspace.identifier}"
        return request.resource

    def _check_policy(
        self,
        session: Session,
        request: AccessRequest,
        user: UserRecord,
        resource: str,
        memo: dict[tuple[str, object], Any],
    ) -> None:
        context = RequestContext(
            action=request.action, resource=resource, values=self._condition_values(request)
        )
        policies = _memo(memo, ("policies", user.id), lambda: policies_of_user(session, user.id))
        decision = evaluate(policies, context)
        if not decision.allowed:
            raise self._policy_denied(request, user, decision.outcome, resource)

    @staticmethod
    def _condition_values(request: AccessRequest) -> dict[str, str]:
        values = {
            "acs:CurrentTime": datetime.fromtimestamp(request.now, UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "acs:AccessKeyId": request.access_key_id,
        }
        if request.source_ip:
            values["acs:SourceIp"] = request.source_ip
        if request.secure_transport is not None:
            values["acs:SecureTransport"] = "true" if request.secure_transport else "false"
        if request.user_agent:
            values["acs:UserAgent"] = request.user_agent
        if request.env:
            values["dataworks:ProjectEnv"] = request.env
        return values

    def _policy_denied(
        self,
        request: AccessRequest,
        user: UserRecord | None,
        outcome: Outcome,
        resource: str,
    ) -> PolicyDenied:
        who = f'The RAM user "{user.name}"' if user else f"The principal {request.principal}"
        why = (
            "an attached policy explicitly denies it"
            if outcome is Outcome.EXPLICIT_DENY
            else "no attached policy allows it"
        )
        message = f"{_RAM_DENIED} {who} may not perform {request.action} on {resource}: {why}."
        detail = {
            "AuthAction": request.action,
            "AuthPrincipalDisplayName": user.name if user else request.principal,
            "AuthPrincipalOwnerId": request.account_id or self.settings.account_id,
            "AuthPrincipalType": "SubUser",
            "NoPermissionType": outcome.value,
            "PolicyType": "AccountLevelIdentityBasedPolicy",
            "EncodedDiagnosticMessage": "",
        }
        return PolicyDenied(message, detail)

    @staticmethod
    def _check_role(
        request: AccessRequest, user: UserRecord, workspace: WorkspaceRef, roles: frozenset[str]
    ) -> None:
        if roles_may(roles, request.operation, request.env):
            return
        order = [r.code for r in ROLES]
        held = ", ".join(c for c in order if c in roles) or "no role"
        needed = allowed_roles(request.operation, request.env)
        where = f" in {request.env}" if request.env else ""
        raise RoleDenied(
            f'Access is forbidden. The RAM user "{user.name}" holds {held} in workspace '
            f'"{workspace.identifier}", which may not perform {request.action}{where} on '
            f"{request.resource}; it takes one of: {', '.join(c for c in order if c in needed)}."
        )

    # --- the trail ----------------------------------------------------------------------------

    def _audit(self, request: AccessRequest, outcome: str, denial: OpcenterError | None) -> None:
        event = audit.AuditRecord(
            at=int(request.now * 1000),
            principal=request.principal,
            access_key_id=request.access_key_id,
            source_ip=request.source_ip,
            action=request.action,
            resource=request.resource,
            outcome=outcome,
            code=denial.code if denial else "",
            message=denial.message if denial else "",
            request_id=request.request_id,
        )
        with self.db.transaction() as session:
            audit.record_event(session, event)
