"""RAM policy documents: parsing, validation and evaluation. Pure: no I/O, no clock.

A document is the RAM grammar::

    {"Version": "1",
     "Statement": [{"Effect": "Allow" | "Deny",
                    "Action" | "NotAction": "dataworks:Get*" | [...],
                    "Resource" | "NotResource": "*" | "acs:dataworks:*:*:workspace/sales" | [...],
                    "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}}]}

Matching rules:

- Actions match case-insensitively, resources case-sensitively; in both `*` stands for any run
  of characters (also none) and `?` for exactly one character.
- A statement applies when its action part, its resource part and every one of its conditions
  hold. Within one operator, every key must hold (AND); a key given a list of values holds when
  any value matches (OR).
- A condition key absent from the request context fails a positive operator (`StringEquals`,
  `IpAddress`, ...) and satisfies a negated one (`StringNotEquals`, `NotIpAddress`, ...), so a
  Deny guarded by `NotIpAddress` still denies a request whose source address is unknown.
- Evaluation over all policies of a principal: any applicable Deny → denied (explicit deny);
  otherwise any applicable Allow → allowed; otherwise denied (implicit deny).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Any

from opcenter.errors import InvalidParameter

__all__ = [
    "CONDITION_KEYS",
    "CONDITION_OPERATORS",
    "Decision",
    "Effect",
    "Outcome",
    "Policy",
    "PolicyDocumentError",
    "RequestContext",
    "Statement",
    "evaluate",
    "parse_policy",
    "wildcard_match",
]

POLICY_VERSION = "1"
# The condition keys opcenter fills in for every request (see `RequestContext.values`).
CONDITION_KEYS = (
    "acs:SourceIp",
    "acs:SecureTransport",
    "acs:CurrentTime",
    "acs:AccessKeyId",
    "acs:UserAgent",
    "dataworks:ProjectEnv",
)
_MAX_DOCUMENT_CHARS = 6144  # RAM's own limit on a policy document


class PolicyDocumentError(InvalidParameter):
    """Raised when a policy document breaks the RAM grammar; the message says where."""

    code = "InvalidParameter.PolicyDocument"


class Effect(str, Enum):
    ALLOW = "Allow"
    DENY = "Deny"


class Outcome(str, Enum):
    """The result of evaluating a request against a set of policies."""

    ALLOWED = "Allowed"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


# --- wildcards ------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """True when `value` matches `pattern` entirely; `*` is any run (also empty), `?` one char."""
    return _wildcard_regex(pattern, ignore_case).fullmatch(value) is not None


# --- request context ------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestContext:
    """What a request is: the action, the resource, and the values of the condition keys."""

    action: str
    resource: str
    values: Mapping[str, str | Sequence[str]] = field(default_factory=dict)

    def get(self, key: str) -> list[str] | None:
        # Condition keys are case-insensitive in RAM.
        for name, value in self.values.items():
            if name.lower() == key.lower():
                return [value] if isinstance(value, str) else list(value)
        return None


# --- conditions -----------------------------------------------------------------------------


def _iso_time(text: str) -> float:
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _as_bool(text: str) -> bool | None:
    lowered = text.strip().lower()
    return {"true": True, "false": False}.get(lowered)


def _ip_in(value: str, cidr: str) -> bool:
    try:
        address = ipaddress.ip_address(value.strip())
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return False
    return address.version == network.version and address in network


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def test(actual: str, expected: str) -> bool:
        a, e = _number(actual), _number(expected)
        return a is not None and e is not None and compare(a, e)

    return test


def _dated(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def test(actual: str, expected: str) -> bool:
        try:
            return compare(_iso_time(actual), _iso_time(expected))
        except ValueError:
            return False

    return test


# Each operator: (test of one actual value against one expected value, negated?). A negated
# operator holds when no (actual, expected) pair satisfies its positive test.
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda a, e: a == e, False),
    "StringNotEquals": (lambda a, e: a == e, True),
    "StringEqualsIgnoreCase": (lambda a, e: a.lower() == e.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda a, e: a.lower() == e.lower(), True),
    "StringLike": (lambda a, e: wildcard_match(e, a), False),
    "StringNotLike": (lambda a, e: wildcard_match(e, a), True),
    "NumericEquals": (_numeric(lambda a, e: a == e), False),
    "NumericNotEquals": (_numeric(lambda a, e: a == e), True),
    "NumericLessThan": (_numeric(lambda a, e: a < e), False),
    "NumericLessThanEquals": (_numeric(lambda a, e: a <= e), False),
    "NumericGreaterThan": (_numeric(lambda a, e: a > e), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, e: a >= e), False),
    "DateEquals": (_dated(lambda a, e: a == e), False),
    "DateNotEquals": (_dated(lambda a, e: a == e), True),
    "DateLessThan": (_dated(lambda a, e: a < e), False),
    "DateLessThanEquals": (_dated(lambda a, e: a <= e), False),
    "DateGreaterThan": (_dated(lambda a, e: a > e), False),
    "DateGreaterThanEquals": (_dated(lambda a, e: a >= e), False),
    "Bool": (lambda a, e: _as_bool(a) is not None and _as_bool(a) == _as_bool(e), False),
    "IpAddress": (_ip_in, False),
    "NotIpAddress": (_ip_in, True),
}
CONDITION_OPERATORS = tuple(_OPERATORS)


@dataclass(frozen=True)
class Condition:
    """One `Operator: {Key: values}` entry of a statement's Condition block."""

    operator: str
    key: str
    values: tuple[str, ...]

    def holds(self, context: RequestContext) -> bool:
        test, negated = _OPERATORS[self.operator]
        actual = context.get(self.key)
        if actual is None:
            return negated
        matched = any(test(a, e) for a in actual for e in self.values)
        return not matched if negated else matched


# --- statements and policies ----------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """One statement. Exactly one of `actions`/`not_actions`; at most one of the resource forms."""

    effect: Effect
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ("*",)
    not_resources: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()

    def applies(self, context: RequestContext) -> bool:
        return (
            self._action_matches(context.action)
            and self._resource_matches(context.resource)
            and all(c.holds(context) for c in self.conditions)
        )

    def _action_matches(self, action: str) -> bool:
        if self.not_actions:
            return not any(wildcard_match(p, action, ignore_case=True) for p in self.not_actions)
        return any(wildcard_match(p, action, ignore_case=True) for p in self.actions)

    def _resource_matches(self, resource: str) -> bool:
        if self.not_resources:
            return not any(wildcard_match(p, resource) for p in self.not_resources)
        return any(wildcard_match(p, resource) for p in self.resources)


@dataclass(frozen=True)
class Policy:
    """A parsed, valid policy document."""

    statements: tuple[Statement, ...]
    version: str = POLICY_VERSION

    def to_document(self) -> dict[str, Any]:
        """The document in its canonical JSON form (lists everywhere)."""
        return {"Version": self.version, "Statement": [_statement_doc(s) for s in self.statements]}


def _statement_doc(statement: Statement) -> dict[str, Any]:
    doc: dict[str, Any] = {"Effect": statement.effect.value}
    if statement.not_actions:
        doc["NotAction"] = list(statement.not_actions)
    else:
        doc["Action"] = list(statement.actions)
    if statement.not_resources:
        doc["NotResource"] = list(statement.not_resources)
    else:
        doc["Resource"] = list(statement.resources)
    if statement.conditions:
        block: dict[str, dict[str, list[str]]] = {}
        for c in statement.conditions:
            block.setdefault(c.operator, {})[c.key] = list(c.values)
        doc["Condition"] = block
    return doc


# --- parsing --------------------------------------------------------------------------------


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise PolicyDocumentError(f"{where} must be a string or a non-empty list of strings.")
    for item in items:
        if not isinstance(item, str) or not item:
            raise PolicyDocumentError(f"{where} holds {item!r}, which is not a non-empty string.")
    return tuple(items)


def _condition_values(value: Any, where: str) -> tuple[str, ...]:
    # RAM accepts numbers and booleans as condition values; compare them as their JSON text.
    items = value if isinstance(value, list) else [value]
    if not items:
        raise PolicyDocumentError(f"{where} must not be an empty list.")
    result = []
    for item in items:
        if isinstance(item, bool):
            result.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            result.append(str(item))
        else:
            raise PolicyDocumentError(f"{where} holds {item!r}, which is not a string.")
    return tuple(result)


def _check_action(pattern: str, where: str) -> None:
    if pattern != "*" and ":" not in pattern:
        raise PolicyDocumentError(
            f'{where} holds "{pattern}", which is not "*" nor "<service>:<action>".'
        )


def _parse_conditions(block: Any, where: str) -> tuple[Condition, ...]:
    if not isinstance(block, dict):
        raise PolicyDocumentError(f"{where} must be an object.")
    conditions = []
    for operator, keys in block.items():
        if operator not in _OPERATORS:
            raise PolicyDocumentError(
                f'{where} uses the operator "{operator}", which is not one of '
                f"{', '.join(CONDITION_OPERATORS)}."
            )
        if not isinstance(keys, dict) or not keys:
            raise PolicyDocumentError(f"{where}.{operator} must be a non-empty object.")
        for key, values in keys.items():
            place = f"{where}.{operator}.{key}"
            parsed = _condition_values(values, place)
            if operator in ("IpAddress", "NotIpAddress"):
                for cidr in parsed:
                    _check_cidr(cidr, place)
            conditions.append(Condition(operator=operator, key=key, values=parsed))
    return tuple(conditions)


def _check_cidr(text: str, where: str) -> None:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise PolicyDocumentError(
            f'{where} holds "{text}", which is not an IP address or CIDR block.'
        ) from None


_STATEMENT_KEYS = {"Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Sid"}


def _parse_statement(raw: Any, where: str) -> Statement:
    if not isinstance(raw, dict):
        raise PolicyDocumentError(f"{where} must be an object.")
    unknown = sorted(set(raw) - _STATEMENT_KEYS)
    if unknown:
        raise PolicyDocumentError(f'{where} has the unknown element "{unknown[0]}".')
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyDocumentError(f'{where}.Effect is {effect!r}; expected "Allow" or "Deny".')
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyDocumentError(f"{where} must have exactly one of Action and NotAction.")
    if "Resource" in raw and "NotResource" in raw:
        raise PolicyDocumentError(f"{where} must not have both Resource and NotResource.")
    action_key = "Action" if "Action" in raw else "NotAction"
    actions = _strings(raw[action_key], f"{where}.{action_key}")
    for pattern in actions:
        _check_action(pattern, f"{where}.{action_key}")
    kwargs: dict[str, Any] = {"effect": Effect(effect)}
    kwargs["actions" if action_key == "Action" else "not_actions"] = actions
    if "NotResource" in raw:
        kwargs["not_resources"] = _strings(raw["NotResource"], f"{where}.NotResource")
        kwargs["resources"] = ()
    elif "Resource" in raw:
        kwargs["resources"] = _strings(raw["Resource"], f"{where}.Resource")
    if "Condition" in raw:
        kwargs["conditions"] = _parse_conditions(raw["Condition"], f"{where}.Condition")
    return Statement(**kwargs)


def parse_policy(document: str | Mapping[str, Any]) -> Policy:
    """Parse and validate a policy document (JSON text or an already decoded mapping).

    Raises `PolicyDocumentError` naming the element at fault. A missing `Resource` means `*`.
    """
    if isinstance(document, str):
        if len(document) > _MAX_DOCUMENT_CHARS:
            raise PolicyDocumentError(
                f"The policy document has {len(document)} characters; at most "
                f"{_MAX_DOCUMENT_CHARS} are allowed."
            )
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise PolicyDocumentError(f"The policy document is not valid JSON: {exc}.") from None
    if not isinstance(document, Mapping):
        raise PolicyDocumentError("The policy document must be a JSON object.")
    version = document.get("Version")
    if version != POLICY_VERSION:
        raise PolicyDocumentError(f'Version is {version!r}; the only valid version is "1".')
    unknown = sorted(set(document) - {"Version", "Statement"})
    if unknown:
        raise PolicyDocumentError(f'The policy document has the unknown element "{unknown[0]}".')
    raw_statements = document.get("Statement")
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not raw_statements:
        raise PolicyDocumentError("Statement must be a non-empty list of statements.")
    statements = tuple(_parse_statement(s, f"Statement[{i}]") for i, s in enumerate(raw_statements))
    return Policy(statements=statements, version=version)


# --- evaluation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """The outcome, and the statement that decided it (None for an implicit deny)."""

    outcome: Outcome
    statement: Statement | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOWED


def evaluate(policies: Iterable[Policy], context: RequestContext) -> Decision:
    """Decide `context` against every policy: explicit Deny > Allow > implicit deny."""
    allow: Statement | None = None
    for policy in policies:
        for statement in policy.statements:
            if not statement.applies(context):
                continue
            if statement.effect is Effect.DENY:
                return Decision(Outcome.EXPLICIT_DENY, statement)
            allow = allow or statement
    if allow is not None:
        return Decision(Outcome.ALLOWED, allow)
    return Decision(Outcome.IMPLICIT_DENY)
