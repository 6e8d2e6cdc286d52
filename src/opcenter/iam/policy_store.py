"""Custom policies in the store, system policies from code, and their attachment to users."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.errors import Conflict, InvalidParameter, NotFound
from opcenter.iam.policy import Policy, parse_policy
from opcenter.iam.system_policies import SYSTEM_POLICIES, SYSTEM_POLICY_DESCRIPTIONS
from opcenter.store.tables import IamPolicy, IamPolicyAttachment

__all__ = [
    "CUSTOM",
    "SYSTEM",
    "PolicyRecord",
    "attach_policy",
    "create_policy",
    "delete_policy",
    "detach_policy",
    "get_policy",
    "list_policies",
    "policies_of_user",
    "user_policy_names",
]

SYSTEM = "System"
CUSTOM = "Custom"
_POLICY_NAME = re.compile(r"[A-Za-z0-9-]{1,128}")


@dataclass(frozen=True)
class PolicyRecord:
    name: str
    type: str  # System | Custom
    description: str
    document: str  # canonical JSON


def _system_record(name: str) -> PolicyRecord:
    document = json.dumps(SYSTEM_POLICIES[name].to_document(), indent=2)
    return PolicyRecord(name, SYSTEM, SYSTEM_POLICY_DESCRIPTIONS[name], document)


def _custom_row(session: Session, name: str) -> IamPolicy | None:
    return session.scalar(sa.select(IamPolicy).where(IamPolicy.name == name))


def create_policy(
    session: Session, *, name: str, document: str, description: str = "", now: int
) -> PolicyRecord:
    """Validate and store a custom policy; its document is kept in canonical form."""
    if not _POLICY_NAME.fullmatch(name or ""):
        raise InvalidParameter(
            f'PolicyName "{name}" is not valid: use 1 to 128 letters, digits or "-".'
        )
    if name in SYSTEM_POLICIES or _custom_row(session, name) is not None:
        raise Conflict("Policy", f'The policy "{name}" already exists.', reason="Duplicate")
    canonical = json.dumps(parse_policy(document).to_document(), indent=2)
    session.add(
        IamPolicy(
            name=name,
            description=description,
            document=canonical,
            created_at=now,
            modified_at=now,
        )
    )
    session.flush()
    return PolicyRecord(name, CUSTOM, description, canonical)


def get_policy(session: Session, name: str) -> PolicyRecord:
    if name in SYSTEM_POLICIES:
        return _system_record(name)
    row = _custom_row(session, name)
    if row is None:
        raise NotFound("Policy", f'The policy "{name}" does not exist.')
    return PolicyRecord(row.name, CUSTOM, row.description, row.document)


def list_policies(session: Session) -> list[PolicyRecord]:
    records = [_system_record(n) for n in SYSTEM_POLICIES]
    rows = session.scalars(sa.select(IamPolicy).order_by(IamPolicy.name))
    records += [PolicyRecord(r.name, CUSTOM, r.description, r.document) for r in rows]
    return records


def delete_policy(session: Session, name: str) -> None:
    """Delete a custom policy; refused while it is attached to a user (as RAM does)."""
    if name in SYSTEM_POLICIES:
        raise InvalidParameter(f'The policy "{name}" is a system policy and cannot be deleted.')
    row = _custom_row(session, name)
    if row is None:
        raise NotFound("Policy", f'The policy "{name}" does not exist.')
    attached = session.scalar(
        sa.select(sa.func.count()).where(IamPolicyAttachment.policy_name == name)
    )
    if attached:
        raise Conflict(
            "Policy",
            f'The policy "{name}" is attached to {attached} user(s); detach it first.',
            reason="InUse",
        )
    session.delete(row)


def attach_policy(session: Session, *, user_id: int, name: str, now: int) -> None:
    """Attach a policy to a user; attaching it again changes nothing."""
    record = get_policy(session, name)
    if session.get(IamPolicyAttachment, (user_id, name)) is not None:
        return
    session.add(
        IamPolicyAttachment(
            user_id=user_id, policy_name=name, policy_type=record.type, attached_at=now
        )
    )
    session.flush()


def detach_policy(session: Session, *, user_id: int, name: str) -> None:
    row = session.get(IamPolicyAttachment, (user_id, name))
    if row is None:
        raise NotFound("PolicyAttachment", f'The policy "{name}" is not attached to the user.')
    session.delete(row)


def user_policy_names(session: Session, user_id: int) -> list[str]:
    return list(
        session.scalars(
            sa.select(IamPolicyAttachment.policy_name)
            .where(IamPolicyAttachment.user_id == user_id)
            .order_by(IamPolicyAttachment.policy_name)
        )
    )


def policies_of_user(session: Session, user_id: int) -> list[Policy]:
    """The parsed policies attached to a user, system ones from code."""
    rows = session.execute(
        sa.select(IamPolicyAttachment.policy_name, IamPolicy.document)
        .outerjoin(IamPolicy, IamPolicy.name == IamPolicyAttachment.policy_name)
        .where(IamPolicyAttachment.user_id == user_id)
    ).all()
    policies = []
    for name, document in rows:
        if name in SYSTEM_POLICIES:
            policies.append(SYSTEM_POLICIES[name])
        elif document is not None:
            policies.append(_parsed(document))
    return policies


_PARSED: dict[str, Policy] = {}


def _parsed(document: str) -> Policy:
    # Stored documents were validated on the way in; parsing is cached by their text.
    policy = _PARSED.get(document)
    if policy is None:
        if len(_PARSED) > 1024:
            _PARSED.clear()
        policy = _PARSED[document] = parse_policy(document)
    return policy
