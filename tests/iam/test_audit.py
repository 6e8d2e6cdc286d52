"""The audit trail: recording and filtering."""

from __future__ import annotations

import pytest

from opcenter.errors import InvalidParameter
from opcenter.iam.audit import AuditFilter, AuditRecord, list_events, record_event
from opcenter.service.context import ServiceContext


def _event(at: int, principal: str, action: str, outcome: str = "Allowed") -> AuditRecord:
    return AuditRecord(
        at=at,
        principal=principal,
        action=action,
        resource="acs:dataworks:r:1:workspace/sales",
        outcome=outcome,
        access_key_id="LTAI1",
        source_ip="10.0.0.1",
        request_id=f"R{at}",
    )


@pytest.fixture
def trail(ictx: ServiceContext) -> ServiceContext:
    with ictx.db.transaction() as s:
        record_event(s, _event(1000, "acs:ram::1:user/alice", "dataworks:CreateFile"))
        record_event(s, _event(2000, "acs:ram::1:user/bob", "dataworks:DeployFile", "Denied"))
        record_event(s, _event(3000, "acs:ram::1:root", "dataworks:RunManualDagNodes"))
    return ictx


def _actions(ctx: ServiceContext, where: AuditFilter) -> list[str]:
    with ctx.db.transaction() as s:
        return [e.action.split(":")[1] for e in list_events(s, where)]


def test_list_events_does_list_newest_first_given_no_filter(trail: ServiceContext) -> None:
    assert _actions(trail, AuditFilter()) == ["RunManualDagNodes", "DeployFile", "CreateFile"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (AuditFilter(principal="acs:ram::1:user/*"), ["DeployFile", "CreateFile"]),
        (AuditFilter(action="dataworks:*File"), ["DeployFile", "CreateFile"]),
        (AuditFilter(outcome="Denied"), ["DeployFile"]),
        (AuditFilter(since_ms=2000), ["RunManualDagNodes", "DeployFile"]),
        (AuditFilter(until_ms=2000), ["CreateFile"]),
        (AuditFilter(request_id="R3000"), ["RunManualDagNodes"]),
        (AuditFilter(source_ip="10.0.0.2"), []),
        (AuditFilter(limit=1), ["RunManualDagNodes"]),
        (
            AuditFilter(resource="*/sales", access_key_id="LTAI1"),
            ["RunManualDagNodes", "DeployFile", "CreateFile"],
        ),
    ],
)
def test_list_events_does_filter_given_a_filter(
    trail: ServiceContext, where: AuditFilter, expected: list[str]
) -> None:
    assert _actions(trail, where) == expected


def test_list_events_does_treat_like_characters_literally(trail: ServiceContext) -> None:
    assert _actions(trail, AuditFilter(principal="acs:ram::1:user_alice")) == []


def test_list_events_fails_given_a_bad_outcome_or_limit(trail: ServiceContext) -> None:
    with pytest.raises(InvalidParameter) as caught:
        _actions(trail, AuditFilter(outcome="Maybe"))
    assert caught.value.message == "outcome='Maybe' is not one of Allowed, Denied."
    with pytest.raises(InvalidParameter):
        _actions(trail, AuditFilter(limit=0))
