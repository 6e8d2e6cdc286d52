"""Prometheus metrics of this process, served as `GET /metrics` (text format 0.0.4).

Two kinds:

- Counted in the process, in `REGISTRY` (one per process, never reset): API requests by
  Action and code with their latency, the engine's dispatch latency (ready → RUNNING) and Dag
  run durations, alert deliveries. The hot paths pay one counter increment or histogram
  observation each (about a microsecond); nothing is read from the store for them.
- Computed when scraped (`StoreCollector`): instances by state and node type (one GROUP BY
  query on the store), the executor's queue depth and free slots, the engine's leader state.

With several server processes (API servers, schedulers) each serves its own counters: scrape
every process; the store gauges are the same in each (they read the shared store).

`/metrics` is unsigned, like `/healthz`: keep it off public networks, or turn it off with
`OPCENTER_METRICS=off`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from opcenter.domain.model import FileType
from opcenter.store.db import Database

__all__ = [
    "ALERTS_FAILED",
    "ALERTS_SENT",
    "API_LATENCY",
    "API_REQUESTS",
    "CONTENT_TYPE",
    "DAG_DURATION",
    "DISPATCH_LATENCY",
    "REGISTRY",
    "StoreCollector",
    "exposition",
    "observe_dag_end",
    "observe_dispatch",
    "observe_request",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
disable_created_metrics()  # no `*_created` series: half the output, and nothing reads them
REGISTRY = CollectorRegistry(auto_describe=True)
"""This process's counters and histograms (the store gauges are added per app when scraped)."""
ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes, CPU seconds, open fds

API_REQUESTS = Counter(
    "opcenter_api_requests",
    "OpenAPI requests answered, by Action and code (OK, or the error code of the answer).",
    ["action", "code"],
    registry=REGISTRY,
)
API_LATENCY = Histogram(
    "opcenter_api_request_duration_seconds",
    "Time to answer an OpenAPI request (after its body was read), by Action.",
    ["action"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
DISPATCH_LATENCY = Histogram(
    "opcenter_dispatch_latency_seconds",
    "From an attempt becoming ready (WAIT_RESOURCE) to the engine committing it RUNNING.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
    registry=REGISTRY,
)
DAG_DURATION = Histogram(
    "opcenter_dag_run_duration_seconds",
    "From a Dag's start to its end, by how it ended (SUCCESS or FAILURE).",
    ["status"],
    buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400),
    registry=REGISTRY,
)
ALERTS_SENT = Counter(
    "opcenter_alerts_sent",
    "Alert messages delivered, by channel.",
    ["channel"],
    registry=REGISTRY,
)
ALERTS_FAILED = Counter(
    "opcenter_alerts_failed",
    "Alert messages whose delivery failed, by channel.",
    ["channel"],
    registry=REGISTRY,
)

# Children by label values, so a request pays a dict look-up and not `labels()` (its lock and
# argument checks) each time.
_request_children: dict[tuple[str, str], Any] = {}
_latency_children: dict[str, Any] = {}


def observe_request(action: str, code: str, seconds: float) -> None:
    """Count one answered request of `action` (the operation's name, or "" when the request
    named none that is served) with `code` ("OK" or the answer's error code)."""
    counter = _request_children.get((action, code))
    if counter is None:
        counter = _request_children[(action, code)] = API_REQUESTS.labels(action, code)
    counter.inc()
    latency = _latency_children.get(action)
    if latency is None:
        latency = _latency_children[action] = API_LATENCY.labels(action)
    latency.observe(seconds)


def observe_dispatch(latencies_ms: Iterable[int]) -> None:
    """Dispatch latencies in milliseconds (the store's clock), one per attempt."""
    observe = DISPATCH_LATENCY.observe
    for ms in latencies_ms:
        observe(max(ms, 0) / 1000)


def observe_dag_end(status: str, duration_ms: int) -> None:
    DAG_DURATION.labels(status).observe(max(duration_ms, 0) / 1000)


# --- computed at scrape time ----------------------------------------------------------------

_NODE_TYPES = {int(t): t.name for t in FileType}
_INSTANCES_BY_STATE = sa.text(
    "SELECT status, file_type, count(*) FROM instance GROUP BY status, file_type"
)


class StoreCollector(Collector):
    """The gauges read when scraped: instances by state and node type (one query), the
    engine's state, and — in the process whose engine leads — its queue and free slots.

    `engine_state()` gives "leader", "standby" or "off"; `engine()` the engine whose queue and
    slots to report (None: none in this process)."""

    def __init__(
        self,
        db: Database,
        engine_state: Callable[[], str],
        engine: Callable[[], Any] = lambda: None,
    ) -> None:
        self.db, self.engine_state, self.engine = db, engine_state, engine
        self.registry = CollectorRegistry(auto_describe=False)  # this collector alone
        self.registry.register(self)

    def collect(self) -> Iterator[Metric]:
        instances = GaugeMetricFamily(
            "opcenter_instances",
            "Instances in the store by state and node type (FileType name, or its code).",
            labels=["state", "node_type"],
        )
        with self.db.engine.connect() as conn:
            for status, file_type, count in conn.execute(_INSTANCES_BY_STATE):
                node_type = _NODE_TYPES.get(file_type, str(file_type))
                instances.add_metric([status, node_type], count)
        yield instances
        state = self.engine_state()
        leader = GaugeMetricFamily(
            "opcenter_engine_state",
            "1 for this process's engine state (leader, standby or off), 0 for the others.",
            labels=["state"],
        )
        for name in ("leader", "standby", "off"):
            leader.add_metric([name], 1.0 if state == name else 0.0)
        yield leader
        engine = self.engine() if state == "leader" else None
        queued = GaugeMetricFamily(
            "opcenter_executor_queue_depth",
            "Attempts ready (WAIT_RESOURCE) waiting for an executor slot in the leading engine.",
        )
        free = GaugeMetricFamily(
            "opcenter_executor_free_slots",
            "Executor slots the leading engine has free.",
        )
        if engine is not None:
            depth, slots = engine.load()
            queued.add_metric([], depth)
            free.add_metric([], slots)
        yield queued
        yield free


def exposition(collector: StoreCollector) -> bytes:
    """The text `/metrics` answers: this process's `REGISTRY`, then `collector`'s gauges."""
    return generate_latest(REGISTRY) + generate_latest(collector.registry)
