"""The RAM policy grammar and its evaluation: pure, no store."""

from __future__ import annotations

import json
import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opcenter.iam.policy import (
    Effect,
    Outcome,
    Policy,
    PolicyDocumentError,
    RequestContext,
    Statement,
    evaluate,
    parse_policy,
    wildcard_match,
)
from opcenter.iam.system_policies import FULL_ACCESS, READ_ONLY_ACCESS, SYSTEM_POLICIES

WS = "acs:dataworks:cn-shanghai:1000000000000000:workspace/sales"


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def ctx(action: str = "dataworks:RunManualDagNodes", resource: str = WS, **values: str):
    return RequestContext(action=action, resource=resource, values=values)


def decide(document: str, context: RequestContext) -> Outcome:
    return evaluate([parse_policy(document)], context).outcome


# --- wildcards ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("dataworks:Get*", "dataworks:GetDag", True),
        ("dataworks:Get*", "dataworks:Get", True),
        ("dataworks:Get*", "dataworks:ListDags", False),
        ("dataworks:Get?ag", "dataworks:GetDag", True),
        ("dataworks:Get?ag", "dataworks:GetDDag", False),
        ("*", "", True),
        ("a.b", "axb", False),
        ("a[b]", "a[b]", True),
        ("acs:dataworks:*:*:workspace/s*", WS, True),
    ],
)
def test_wildcard_match_does_match_given_star_and_question_mark(
    pattern: str, value: str, expected: bool
) -> None:
    assert wildcard_match(pattern, value) is expected


def _reference_match(pattern: str, value: str) -> bool:
    # Plain recursion over the pattern: the definition, independent of the regex translation.
    if not pattern:
        return not value
    head = pattern[0]
    if head == "*":
        return any(_reference_match(pattern[1:], value[i:]) for i in range(len(value) + 1))
    if not value:
        return False
    return (head == "?" or head == value[0]) and _reference_match(pattern[1:], value[1:])


_ALPHABET = st.sampled_from(list("ab*?.:[]\\"))


@given(st.text(_ALPHABET, max_size=7), st.text(st.sampled_from(list("ab.:[]\\*?")), max_size=7))
def test_wildcard_match_does_agree_with_the_reference_given_any_pattern(
    pattern: str, value: str
) -> None:
    assert wildcard_match(pattern, value) is _reference_match(pattern, value)


@given(st.text(st.characters(codec="utf-8"), max_size=20))
def test_wildcard_match_does_match_itself_given_a_pattern_without_wildcards(value: str) -> None:
    literal = value.replace("*", "").replace("?", "")
    assert wildcard_match(literal, literal)
    assert wildcard_match("*", value)


def test_action_match_does_ignore_case_given_a_differently_cased_action() -> None:
    document = doc({"Effect": "Allow", "Action": "DataWorks:runmanual*", "Resource": "*"})
    assert decide(document, ctx()) is Outcome.ALLOWED


def test_resource_match_does_respect_case_given_a_differently_cased_resource() -> None:
    document = doc({"Effect": "Allow", "Action": "*", "Resource": WS.upper()})
    assert decide(document, ctx()) is Outcome.IMPLICIT_DENY


# --- evaluation -----------------------------------------------------------------------------


def test_evaluate_does_allow_given_a_matching_allow() -> None:
    document = doc({"Effect": "Allow", "Action": "dataworks:*", "Resource": "*"})
    decision = evaluate([parse_policy(document)], ctx())
    assert decision.outcome is Outcome.ALLOWED
    assert decision.statement is not None and decision.statement.effect is Effect.ALLOW


def test_evaluate_does_deny_implicitly_given_no_policy() -> None:
    assert evaluate([], ctx()).outcome is Outcome.IMPLICIT_DENY


def test_evaluate_does_deny_implicitly_given_an_allow_for_another_action() -> None:
    document = doc({"Effect": "Allow", "Action": "dataworks:Get*", "Resource": "*"})
    assert decide(document, ctx()) is Outcome.IMPLICIT_DENY


def test_evaluate_does_deny_explicitly_given_deny_and_allow_in_two_policies() -> None:
    allow = parse_policy(doc({"Effect": "Allow", "Action": "*", "Resource": "*"}))
    deny = parse_policy(
        doc({"Effect": "Deny", "Action": "dataworks:RunManualDagNodes", "Resource": WS})
    )
    assert evaluate([allow, deny], ctx()).outcome is Outcome.EXPLICIT_DENY
    assert evaluate([deny, allow], ctx()).outcome is Outcome.EXPLICIT_DENY


def test_evaluate_does_allow_other_workspaces_given_a_deny_on_one_workspace() -> None:
    document = doc(
        {"Effect": "Allow", "Action": "dataworks:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "dataworks:*", "Resource": WS},
    )
    other = WS.replace("sales", "finance")
    assert decide(document, ctx(resource=other)) is Outcome.ALLOWED
    assert decide(document, ctx()) is Outcome.EXPLICIT_DENY


def test_not_action_does_apply_given_an_action_outside_its_list() -> None:
    document = doc({"Effect": "Allow", "NotAction": "dataworks:Delete*", "Resource": "*"})
    assert decide(document, ctx()) is Outcome.ALLOWED
    assert decide(document, ctx("dataworks:DeleteFile")) is Outcome.IMPLICIT_DENY


def test_not_resource_does_apply_given_a_resource_outside_its_list() -> None:
    document = doc({"Effect": "Allow", "Action": "*", "NotResource": WS})
    assert decide(document, ctx()) is Outcome.IMPLICIT_DENY
    assert decide(document, ctx(resource=WS + "2")) is Outcome.ALLOWED


def test_missing_resource_does_mean_every_resource_given_a_statement_without_it() -> None:
    document = doc({"Effect": "Allow", "Action": "dataworks:*"})
    assert decide(document, ctx()) is Outcome.ALLOWED


# --- conditions -----------------------------------------------------------------------------


def _with_condition(effect: str, condition: dict) -> str:
    return doc({"Effect": effect, "Action": "dataworks:*", "Resource": "*", "Condition": condition})


def test_ip_address_does_allow_given_a_source_inside_the_block() -> None:
    document = _with_condition("Allow", {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}})
    assert decide(document, ctx(**{"acs:SourceIp": "10.1.2.3"})) is Outcome.ALLOWED
    assert decide(document, ctx(**{"acs:SourceIp": "192.168.1.1"})) is Outcome.IMPLICIT_DENY


def test_ip_address_does_match_given_a_single_address_and_ipv6() -> None:
    document = _with_condition(
        "Allow", {"IpAddress": {"acs:SourceIp": ["127.0.0.1", "2001:db8::/32"]}}
    )
    assert decide(document, ctx(**{"acs:SourceIp": "127.0.0.1"})) is Outcome.ALLOWED
    assert decide(document, ctx(**{"acs:SourceIp": "2001:db8::1"})) is Outcome.ALLOWED
    assert decide(document, ctx(**{"acs:SourceIp": "127.0.0.2"})) is Outcome.IMPLICIT_DENY


def test_not_ip_address_does_deny_given_a_source_outside_the_block() -> None:
    allow = parse_policy(doc({"Effect": "Allow", "Action": "*", "Resource": "*"}))
    deny = parse_policy(_with_condition("Deny", {"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}}))
    inside = ctx(**{"acs:SourceIp": "10.9.9.9"})
    outside = ctx(**{"acs:SourceIp": "8.8.8.8"})
    assert evaluate([allow, deny], inside).outcome is Outcome.ALLOWED
    assert evaluate([allow, deny], outside).outcome is Outcome.EXPLICIT_DENY


def test_negated_operator_does_hold_given_the_key_is_absent() -> None:
    deny = parse_policy(_with_condition("Deny", {"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}}))
    allow = parse_policy(doc({"Effect": "Allow", "Action": "*", "Resource": "*"}))
    assert evaluate([allow, deny], ctx()).outcome is Outcome.EXPLICIT_DENY


def test_positive_operator_does_fail_given_the_key_is_absent() -> None:
    document = _with_condition("Allow", {"StringEquals": {"acs:AccessKeyId": "LTAIabc"}})
    assert decide(document, ctx()) is Outcome.IMPLICIT_DENY


def test_bool_does_match_given_secure_transport() -> None:
    document = _with_condition("Allow", {"Bool": {"acs:SecureTransport": True}})
    assert decide(document, ctx(**{"acs:SecureTransport": "true"})) is Outcome.ALLOWED
    assert decide(document, ctx(**{"acs:SecureTransport": "false"})) is Outcome.IMPLICIT_DENY


def test_string_like_does_match_given_a_wildcard_value() -> None:
    document = _with_condition("Allow", {"StringLike": {"acs:UserAgent": "AlibabaCloud*"}})
    assert decide(document, ctx(**{"acs:UserAgent": "AlibabaCloud (Linux)"})) is Outcome.ALLOWED
    assert decide(document, ctx(**{"acs:UserAgent": "curl/8"})) is Outcome.IMPLICIT_DENY


def test_condition_keys_do_ignore_case_given_a_lower_case_key() -> None:
    document = _with_condition("Allow", {"StringEquals": {"acs:sourceip": "1.2.3.4"}})
    assert decide(document, ctx(**{"acs:SourceIp": "1.2.3.4"})) is Outcome.ALLOWED


def test_current_time_does_bound_access_given_date_operators() -> None:
    document = _with_condition(
        "Allow",
        {
            "DateGreaterThanEquals": {"acs:CurrentTime": "2026-01-01T00:00:00Z"},
            "DateLessThan": {"acs:CurrentTime": "2026-02-01T00:00:00+08:00"},
        },
    )
    assert decide(document, ctx(**{"acs:CurrentTime": "2026-01-15T10:00:00Z"})) is Outcome.ALLOWED
    assert (
        decide(document, ctx(**{"acs:CurrentTime": "2026-02-01T00:00:00Z"}))
        is Outcome.IMPLICIT_DENY
    )


def test_all_keys_of_a_condition_do_have_to_hold_given_two_operators() -> None:
    document = _with_condition(
        "Allow",
        {
            "IpAddress": {"acs:SourceIp": "10.0.0.0/8"},
            "StringEquals": {"dataworks:ProjectEnv": "DEV"},
        },
    )
    both = ctx(**{"acs:SourceIp": "10.0.0.1", "dataworks:ProjectEnv": "DEV"})
    one = ctx(**{"acs:SourceIp": "10.0.0.1", "dataworks:ProjectEnv": "PROD"})
    assert decide(document, both) is Outcome.ALLOWED
    assert decide(document, one) is Outcome.IMPLICIT_DENY


def test_numeric_operators_do_compare_given_numbers() -> None:
    document = _with_condition("Allow", {"NumericLessThan": {"x:n": 10}})
    assert decide(document, ctx(**{"x:n": "9.5"})) is Outcome.ALLOWED
    assert decide(document, ctx(**{"x:n": "10"})) is Outcome.IMPLICIT_DENY
    assert decide(document, ctx(**{"x:n": "ten"})) is Outcome.IMPLICIT_DENY


# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "The policy document is not valid JSON"),
        ("[]", "The policy document must be a JSON object."),
        ('{"Version": "2", "Statement": []}', "Version is '2'; the only valid version is \"1\"."),
        ('{"Version": "1"}', "Statement must be a non-empty list of statements."),
        (
            doc({"Effect": "Maybe", "Action": "*"}),
            'Statement[0].Effect is \'Maybe\'; expected "Allow" or "Deny".',
        ),
        (
            doc({"Effect": "Allow"}),
            "Statement[0] must have exactly one of Action and NotAction.",
        ),
        (
            doc({"Effect": "Allow", "Action": "RunManualDagNodes"}),
            'Statement[0].Action holds "RunManualDagNodes", which is not "*" nor '
            '"<service>:<action>".',
        ),
        (
            doc({"Effect": "Allow", "Action": []}),
            "Statement[0].Action must be a string or a non-empty list of strings.",
        ),
        (
            doc({"Effect": "Allow", "Action": "*", "Principal": "*"}),
            'Statement[0] has the unknown element "Principal".',
        ),
        (
            doc({"Effect": "Allow", "Action": "*", "Condition": {"IpLike": {"a": "b"}}}),
            'Statement[0].Condition uses the operator "IpLike", which is not one of',
        ),
        (
            doc(
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "Condition": {"IpAddress": {"acs:SourceIp": "10.0.0.300/8"}},
                }
            ),
            'Statement[0].Condition.IpAddress.acs:SourceIp holds "10.0.0.300/8", which is not '
            "an IP address or CIDR block.",
        ),
    ],
)
def test_parse_policy_fails_given_a_malformed_document(document: str, message: str) -> None:
    with pytest.raises(PolicyDocumentError) as caught:
        parse_policy(document)
    assert caught.value.message.startswith(message)
    assert caught.value.code == "InvalidParameter.PolicyDocument"
    assert caught.value.http_status == 400


def test_parse_policy_does_accept_a_single_statement_object() -> None:
    policy = parse_policy({"Version": "1", "Statement": {"Effect": "Deny", "Action": "*"}})
    assert policy.statements == (Statement(effect=Effect.DENY, actions=("*",)),)


def test_to_document_does_round_trip_given_a_parsed_policy() -> None:
    original = parse_policy(
        _with_condition("Deny", {"NotIpAddress": {"acs:SourceIp": ["10.0.0.0/8", "::1"]}})
    )
    assert parse_policy(json.dumps(original.to_document())) == original


# --- system policies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "resource", "expected"),
    [
        ("dataworks:GetInstance", WS, Outcome.ALLOWED),
        ("dataworks:ListProjects", "acs:dataworks:cn-shanghai:1:*", Outcome.ALLOWED),
        ("dataworks:GetInstanceLog", WS, Outcome.ALLOWED),
        ("dataworks:DescribeThing", WS, Outcome.ALLOWED),
        ("dataworks:RunManualDagNodes", WS, Outcome.IMPLICIT_DENY),
        ("dataworks:DeployFile", WS, Outcome.IMPLICIT_DENY),
        ("dataworks:CreateProjectMember", WS, Outcome.IMPLICIT_DENY),
        ("ecs:DescribeInstances", WS, Outcome.IMPLICIT_DENY),
    ],
)
def test_read_only_access_does_allow_only_reads(
    action: str, resource: str, expected: Outcome
) -> None:
    policy = SYSTEM_POLICIES[READ_ONLY_ACCESS]
    assert evaluate([policy], ctx(action, resource)).outcome is expected


def test_full_access_does_allow_every_dataworks_action_and_nothing_else() -> None:
    policy = SYSTEM_POLICIES[FULL_ACCESS]
    assert evaluate([policy], ctx("dataworks:DeleteProject", "*")).allowed
    assert not evaluate([policy], ctx("ram:CreateUser", "*")).allowed


# --- properties -----------------------------------------------------------------------------

_ACTIONS = ["dataworks:GetDag", "dataworks:RunManualDagNodes", "dataworks:DeployFile", "x:Y"]
_PATTERNS = ["*", "dataworks:*", "dataworks:Get*", "dataworks:Run?anual*", "x:Y", "dataworks:D*"]
_RESOURCES = [WS, WS.replace("sales", "hr"), "acs:dataworks:cn-shanghai:1:*"]
_RESOURCE_PATTERNS = ["*", WS, "acs:dataworks:*:*:workspace/*", "acs:dataworks:*:*:*", "x"]

statements = st.builds(
    Statement,
    effect=st.sampled_from(list(Effect)),
    actions=st.lists(st.sampled_from(_PATTERNS), min_size=1, max_size=3).map(tuple),
    resources=st.lists(st.sampled_from(_RESOURCE_PATTERNS), min_size=1, max_size=2).map(tuple),
)
policies = st.lists(
    st.lists(statements, min_size=1, max_size=4).map(lambda s: Policy(statements=tuple(s))),
    max_size=4,
)
contexts = st.builds(
    RequestContext, action=st.sampled_from(_ACTIONS), resource=st.sampled_from(_RESOURCES)
)


@given(policies, contexts)
def test_evaluate_does_deny_given_any_policies_plus_a_matching_deny(
    some: list[Policy], context: RequestContext
) -> None:
    deny = Policy(statements=(Statement(effect=Effect.DENY, actions=(context.action,)),))
    for position in range(len(some) + 1):
        mixed = [*some[:position], deny, *some[position:]]
        assert evaluate(mixed, context).outcome is Outcome.EXPLICIT_DENY


@given(policies, contexts, st.randoms(use_true_random=False))
def test_evaluate_does_not_depend_on_order_given_shuffled_policies_and_statements(
    some: list[Policy], context: RequestContext, rnd: random.Random
) -> None:
    shuffled = [Policy(statements=tuple(rnd.sample(p.statements, len(p.statements)))) for p in some]
    rnd.shuffle(shuffled)
    assert evaluate(shuffled, context).outcome is evaluate(some, context).outcome


@given(policies, contexts)
def test_evaluate_does_allow_exactly_when_an_allow_applies_and_no_deny_does(
    some: list[Policy], context: RequestContext
) -> None:
    applying = [s for p in some for s in p.statements if s.applies(context)]
    outcome = evaluate(some, context).outcome
    if any(s.effect is Effect.DENY for s in applying):
        assert outcome is Outcome.EXPLICIT_DENY
    elif applying:
        assert outcome is Outcome.ALLOWED
    else:
        assert outcome is Outcome.IMPLICIT_DENY


@given(st.sampled_from(_PATTERNS), st.sampled_from(_ACTIONS))
def test_statement_action_does_match_like_a_case_insensitive_regex(
    pattern: str, action: str
) -> None:
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    statement = Statement(effect=Effect.ALLOW, actions=(pattern,))
    expected = re.fullmatch(regex, action, re.IGNORECASE) is not None
    assert statement.applies(RequestContext(action=action, resource="*")) is expected
