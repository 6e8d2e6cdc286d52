"""The per-AccessKey limit kept in the store (iam/rate.py), on both backends: the same
answers as the per-process token bucket, shared by every limiter on one store."""

from __future__ import annotations

import pytest

from opcenter.errors import Throttled
from opcenter.iam.rate import StoreRateLimiter
from opcenter.store.db import Database


def _passes(limiter: StoreRateLimiter, key: str, now: float) -> bool:
    try:
        limiter.check(key, now=now)
    except Throttled:
        return False
    return True


def test_store_limiter_refuses_past_the_burst_and_says_when_to_retry(db: Database) -> None:
    db.migrate()
    limiter = StoreRateLimiter(db, 2, burst_seconds=1)  # 2 calls a second, 2 at once
    limiter.check("k", now=100.0)
    limiter.check("k", now=100.0)
    with pytest.raises(Throttled) as caught:
        limiter.check("k", now=100.0)
    assert caught.value.code == "Throttling.User"
    assert caught.value.retry_after_ms == 500  # type: ignore[attr-defined]
    assert "AccessKey k is limited to 2 calls per second; retry after 500 ms" in str(caught.value)


def test_store_limiter_refills_over_time_and_keeps_keys_apart(db: Database) -> None:
    db.migrate()
    limiter = StoreRateLimiter(db, 2, burst_seconds=1)
    calls = [("a", 0.0), ("a", 0.0), ("a", 0.0), ("b", 0.0), ("a", 0.5), ("a", 0.5), ("a", 1.5)]
    assert [_passes(limiter, key, 1000 + now) for key, now in calls] == [
        True, True, False, True, True, False, True,
    ]  # fmt: skip
    assert [_passes(limiter, "a", 1001.5) for _ in range(2)] == [True, False]


def test_store_limiters_on_one_store_share_the_limit(db: Database) -> None:
    db.migrate()
    # Given two limiters (two API processes) on one store, 1 call a second, bursts of 2
    first, second = (StoreRateLimiter(db, 1, burst_seconds=2) for _ in range(2))
    # Then the burst is spent once, whichever process takes the calls
    assert [_passes(limiter, "k", 50.0) for limiter in (first, second, first, second)] == [
        True, True, False, False,
    ]  # fmt: skip
    assert _passes(second, "k", 51.0) is True
