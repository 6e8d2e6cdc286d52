"""Per-AccessKey flow control kept in the store, so the limit holds across every API process
on one store (several `opcenter serve --no-engine` behind a load balancer), not per process.

The algorithm is GCRA, the token bucket written as one number per AccessKey: its theoretical
arrival time `tat`. A call at `now` is allowed when `tat - now <= tau` (tau: the burst, in
time), and then moves `tat` to `max(tat, now) + interval`. That is one statement, an upsert
whose update is conditional: the database serialises concurrent calls on the key's row, so
two processes never both spend the last token. A refused call changes nothing; a second,
read-only statement then tells how long to wait. `rate_per_second` × `burst_seconds` calls may
come at once (the server passes api/throttle.py's `DEFAULT_BURST`, as its per-process
`RateLimiter` has).

Cost: one short write transaction per signed call, only when a limit is set (0: no limiter at
all, nothing on the request path); measured in docs/benchmarks.md.
"""

from __future__ import annotations

import math

import sqlalchemy as sa

from opcenter.errors import Throttled
from opcenter.store.db import Database

__all__ = ["StoreRateLimiter"]

_ALLOW = (
    "INSERT INTO rate_limit (access_key_id, tat) VALUES (:k, :now + :interval) "
    "ON CONFLICT (access_key_id) DO UPDATE SET tat = {greatest}(rate_limit.tat, :now) + :interval "
    "WHERE rate_limit.tat - :now <= :tau RETURNING tat"
)
_TAT = sa.text("SELECT tat FROM rate_limit WHERE access_key_id = :k")


class StoreRateLimiter:
    """`rate_per_second` calls per AccessKey across all processes on `db`, bursts of
    `burst_seconds` × rate; `check(key, now)` raises `Throttled` (with `retry_after_ms`) when
    the key is over its limit."""

    def __init__(self, db: Database, rate_per_second: float, *, burst_seconds: float) -> None:
        if rate_per_second <= 0:
            raise ValueError("a store rate limiter needs a rate above 0")
        self.db = db
        self.rate = rate_per_second
        capacity = max(1.0, rate_per_second * burst_seconds)
        self.interval_us = max(1, round(1_000_000 / rate_per_second))
        self.tau_us = round((capacity - 1) * 1_000_000 / rate_per_second)
        greatest = "MAX" if db.is_sqlite else "GREATEST"
        self._allow = sa.text(_ALLOW.format(greatest=greatest))

    def check(self, access_key_id: str, now: float) -> None:
        now_us = int(now * 1_000_000)
        params = {"k": access_key_id, "now": now_us, "interval": self.interval_us}
        with self.db.transaction() as session:
            allowed = session.execute(self._allow, {**params, "tau": self.tau_us}).first()
            if allowed is not None:
                return
            tat = session.execute(_TAT, {"k": access_key_id}).scalar_one()
        wait_ms = max(1, math.ceil((tat - self.tau_us - now_us) / 1000))
        raise Throttled.over_limit(access_key_id, self.rate, wait_ms)
