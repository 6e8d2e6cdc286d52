"""The system policies every account has, as RAM names them. They cannot be changed or deleted."""

from __future__ import annotations

from opcenter.iam.policy import Policy, parse_policy

__all__ = [
    "FULL_ACCESS",
    "READ_ONLY_ACCESS",
    "READ_ONLY_ACTIONS",
    "SYSTEM_POLICIES",
    "SYSTEM_POLICY_DESCRIPTIONS",
    "is_read_action",
]

FULL_ACCESS = "AliyunDataWorksFullAccess"
READ_ONLY_ACCESS = "AliyunDataWorksReadOnlyAccess"

# Operations whose name starts with one of these verbs only read; everything else writes.
READ_VERBS = ("Get", "List", "Describe", "Query", "Check", "Search")
READ_ONLY_ACTIONS = tuple(f"dataworks:{verb}*" for verb in READ_VERBS)


def is_read_action(action: str) -> bool:
    """True for `dataworks:Get…`, `dataworks:List…` and the other read verbs."""
    operation = action.split(":", 1)[-1]
    return operation.startswith(READ_VERBS)


SYSTEM_POLICIES: dict[str, Policy] = {
    FULL_ACCESS: parse_policy(
        {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": "dataworks:*", "Resource": "*"}],
        }
    ),
    # The resource is the one Alibaba Cloud's own AliyunDataWorksReadOnlyAccess names.
    READ_ONLY_ACCESS: parse_policy(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": list(READ_ONLY_ACTIONS),
                    "Resource": "acs:dataworks:*:*:*",
                }
            ],
        }
    ),
}

SYSTEM_POLICY_DESCRIPTIONS = {
    FULL_ACCESS: "Full access to DataWorks (still bounded by the user's workspace roles).",
    READ_ONLY_ACCESS: "Read-only access to DataWorks (Get*, List*, Describe*, Query*, ...).",
}
