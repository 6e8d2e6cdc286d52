from __future__ import annotations

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_tea_openapi.exceptions import ThrottlingException

from opcenter.api.throttle import RateLimiter
from opcenter.errors import Throttled
from tests.api.conftest import ServerFactory
from tests.api.sdk import tea_client
from tests.api.test_rpc import _registry, _signed_raw


def test_rate_limiter_refuses_the_call_past_the_burst_given_one_key() -> None:
    limiter = RateLimiter(2, burst_seconds=1)  # 2 calls a second, 2 at once
    limiter.check("k", now=100.0)
    limiter.check("k", now=100.0)
    with pytest.raises(Throttled) as caught:
        limiter.check("k", now=100.0)
    assert caught.value.code == "Throttling.User"
    assert caught.value.retry_after_ms == 500  # type: ignore[attr-defined]
    assert "AccessKey k is limited to 2 calls per second; retry after 500 ms" in str(caught.value)


def _passes(limiter: RateLimiter, key: str, now: float) -> bool:
    """True when the call is let through, False when it is throttled."""
    try:
        limiter.check(key, now=now)
    except Throttled:
        return False
    return True


def test_rate_limiter_refills_over_time_and_keeps_keys_apart() -> None:
    limiter = RateLimiter(2, burst_seconds=1)  # 2 calls a second, 2 at once
    calls = [("a", 0.0), ("a", 0.0), ("a", 0.0), ("b", 0.0), ("a", 0.5), ("a", 0.5), ("a", 1.5)]
    # the third call of `a` is refused; `b` has its own bucket; half a second gives `a` one
    # token back (not two); a second more gives it two
    assert [_passes(limiter, key, now) for key, now in calls] == [
        True,
        True,
        False,
        True,
        True,
        False,
        True,
    ]
    assert [_passes(limiter, "a", 1.5) for _ in range(2)] == [True, False]


def test_rate_limiter_never_refuses_given_no_limit() -> None:
    limiter = RateLimiter(0)
    assert all(_passes(limiter, "k", now=0.0) for _ in range(1000))


def test_a_throttled_call_reaches_the_sdk_with_retry_after_given_a_rate_limit(
    rpc_server: ServerFactory,
) -> None:
    # Given a server limiting each AccessKey to 1 call a second (bursts of 2)
    server = rpc_server(_registry(), rate_limit_per_second=1)
    client = tea_client(server)
    request = dw.GetProjectRequest(project_id=4)
    # When the same key calls three times at once
    client.get_project(request)
    client.get_project(request)
    with pytest.raises(ThrottlingException) as caught:
        client.get_project(request)
    # Then the third is refused with the gateway's code, 429 and a retry-after in ms
    assert (caught.value.code, caught.value.status_code) == ("Throttling.User", 429)
    assert 0 < caught.value.retry_after <= 1000


def test_calls_under_the_limit_pass_and_the_next_is_refused_with_retry_after_on_the_wire(
    rpc_server: ServerFactory,
) -> None:
    # Given a server limiting each AccessKey to 1 call a second (bursts of 2)
    server = rpc_server(_registry(), rate_limit_per_second=1)
    query = {"Action": "GetProject", "Version": "2020-05-18", "ProjectId": "4"}
    # When the same key sends three signed requests at once
    answers = [_signed_raw(server, query, {}) for _ in range(3)]
    # Then the two within the burst are answered, and the third is refused as the gateway does
    assert [a.status for a in answers] == [200, 200, 429]
    assert answers[0].body["Data"] == {"ProjectId": 4, "ProjectName": None}
    refused = answers[2]
    assert refused.body["Code"] == "Throttling.User"
    assert refused.body["Message"].startswith(
        "Request was denied due to user flow control: AccessKey LTAI-test-root is limited to 1 "
        "calls per second; retry after "
    )
    assert 0 < int(refused.headers["x-acs-retry-after"]) <= 1000
