from __future__ import annotations

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_tea_openapi.exceptions import ThrottlingException

from opcenter.api.throttle import RateLimiter
from opcenter.errors import Throttled
from tests.api.conftest import ServerFactory
from tests.api.sdk import tea_client
from tests.api.test_rpc import _registry


def test_rate_limiter_refuses_the_call_past_the_burst_given_one_key() -> None:
    limiter = RateLimiter(2, burst_seconds=1)  # 2 calls a second, 2 at once
    limiter.check("k", now=100.0)
    limiter.check("k", now=100.0)
    with pytest.raises(Throttled) as caught:
        limiter.check("k", now=100.0)
    assert caught.value.code == "Throttling.User"
    assert caught.value.retry_after_ms == 500  # type: ignore[attr-defined]
    assert "AccessKey k is limited to 2 calls per second; retry after 500 ms" in str(caught.value)


def test_rate_limiter_refills_over_time_and_keeps_keys_apart() -> None:
    limiter = RateLimiter(2, burst_seconds=1)
    limiter.check("a", now=0.0)
    limiter.check("a", now=0.0)
    limiter.check("b", now=0.0)  # another key has its own bucket
    limiter.check("a", now=0.5)  # one token back after half a second


def test_rate_limiter_never_refuses_given_no_limit() -> None:
    limiter = RateLimiter(0)
    for _ in range(1000):
        limiter.check("k", now=0.0)


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
