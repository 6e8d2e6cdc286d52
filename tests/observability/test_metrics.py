"""`GET /metrics` of a real server (store, engine, API on 127.0.0.1), driven with the official
SDK on SQLite and PostgreSQL: the gauges equal the store, the counters count the requests the
test made, the histograms observed the run; and the deploy files use only metrics it serves."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client
from prometheus_client.parser import text_string_to_metric_families

from opcenter.api.rpc import allow_all
from opcenter.api.server import ServerThread, build_server
from opcenter.engine.scheduler import Engine
from opcenter.runners.local import LocalExecutor
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from opcenter.store.db import Database
from opcenter.store.tables import Instance
from tests.api.conftest import make_key_resolver
from tests.api.opsupport import (
    SHELL,
    VIRTUAL,
    WAIT_SECONDS,
    WORKER_SLOTS,
    FileSpec,
    Live,
    create_flow,
    create_workspace,
    sdk_error,
)
from tests.api.sdk import tea_client

ROOT = Path(__file__).resolve().parents[2]
WS, FLOW = "metrics_ws", "measured"
NODE_TYPES = {SHELL: "DIDE_SHELL", VIRTUAL: "VIRTUAL"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_db: Database) -> Iterator[Live]:
    """As tests/api/opsupport.py's, with the engine reported to /metrics as the leader."""
    data_dir = tmp_path_factory.mktemp("opcenter") / "data"
    data_dir.mkdir(parents=True)
    settings = load_settings(environ={}, dotenv=None, data_dir=data_dir, timezone="UTC")
    ctx = ServiceContext(db=module_db, settings=settings)
    engine = Engine(ctx, LocalExecutor(WORKER_SLOTS))
    engine.start()
    app = build_server(
        ctx,
        key_resolver=make_key_resolver(),
        authorize=allow_all,
        engine_state=lambda: "leader",
        engine=lambda: engine,
    )
    server = ServerThread(app).start()
    yield Live(ctx=ctx, engine=engine, server=server, data_dir=data_dir)
    server.stop()
    engine.stop()


def scrape(endpoint: str) -> Samples:
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = answer.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def family(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def test_metrics_count_a_known_run_and_match_the_store(live: Live) -> None:
    client: Client = live.client()
    create_workspace(client, WS)
    create_flow(
        client,
        WS,
        FLOW,
        [
            FileSpec("begin", VIRTUAL),
            FileSpec("work", SHELL, "echo measured", inputs=["begin"]),
            FileSpec("end", VIRTUAL, inputs=["work"]),
        ],
    )
    before = scrape(live.endpoint)
    dag_id = client.run_manual_dag_nodes(
        dw.RunManualDagNodesRequest(
            project_env="PROD", project_name=WS, flow_name=FLOW, biz_date="2024-03-01 00:00:00"
        )
    ).body.dag_id
    done = live.engine.watch(dag_id)
    missing = sdk_error(lambda: client.get_dag(dw.GetDagRequest(dag_id=dag_id + 10**6)))
    with pytest.raises(urllib.error.HTTPError) as elsewhere:  # refused before any Action
        urllib.request.urlopen(f"http://{live.endpoint}/elsewhere", timeout=10)
    elsewhere.value.close()
    assert elsewhere.value.code == 404
    assert done.wait(WAIT_SECONDS), "the run did not end"
    after = scrape(live.endpoint)

    # Requests: exactly those the test made between the scrapes, by Action and code.
    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "opcenter_api_requests_total"
    assert delta(requests, action="RunManualDagNodes", code="OK") == 1
    assert delta(requests, action="GetDag", code=missing.code) == 1
    assert missing.code != "OK"
    moved = {
        labels: v - before.get((requests, labels), 0.0)
        for labels, v in family(after, requests).items()
        if v != before.get((requests, labels), 0.0)
    }
    assert moved == {
        (("action", "RunManualDagNodes"), ("code", "OK")): 1,
        (("action", "GetDag"), ("code", missing.code)): 1,
        (("action", ""), ("code", "InvalidApi.NotFound")): 1,
    }
    latency = "opcenter_api_request_duration_seconds_count"
    assert delta(latency, action="RunManualDagNodes") == 1
    assert delta(latency, action="GetDag") == 1
    assert delta("opcenter_api_request_duration_seconds_sum", action="GetDag") > 0

    # The engine: one attempt dispatched (the virtual nodes finish without one), one Dag ended.
    assert delta("opcenter_dispatch_latency_seconds_count") == 1
    assert delta("opcenter_dag_run_duration_seconds_count", status="SUCCESS") == 1
    assert delta("opcenter_dag_run_duration_seconds_sum", status="SUCCESS") > 0
    assert value(after, "opcenter_engine_state", state="leader") == 1
    assert value(after, "opcenter_engine_state", state="standby") == 0
    assert value(after, "opcenter_executor_free_slots") == WORKER_SLOTS
    assert value(after, "opcenter_executor_queue_depth") == 0
    # The alert counters are declared (counted by the alert deliveries, by channel).
    declared = _families(live.endpoint)
    assert declared["opcenter_alerts_sent"] == declared["opcenter_alerts_failed"] == "counter"
    # The process's own figures (resident memory: docs/operations.md "Memory").
    assert declared["process_resident_memory_bytes"] == "gauge"

    # Instances by state and node type: the store's own count.
    with live.ctx.db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(Instance.status, Instance.file_type, sa.func.count()).group_by(
                Instance.status, Instance.file_type
            )
        ).all()
    stored = {
        (("node_type", NODE_TYPES.get(ftype, str(ftype))), ("state", status)): float(count)
        for status, ftype, count in rows
    }
    assert family(after, "opcenter_instances") == stored
    assert stored[(("node_type", "DIDE_SHELL"), ("state", "SUCCESS"))] >= 1


def _families(endpoint: str) -> dict[str, str]:
    """Metric family name -> type, those without samples yet (no channel counted) included."""
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def test_every_metric_of_the_deploy_files_is_served(live: Live) -> None:
    with urllib.request.urlopen(f"http://{live.endpoint}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    served: set[str] = set()
    for metric in text_string_to_metric_families(text):
        served.add(metric.name)
        served.update(sample.name for sample in metric.samples)
        if metric.type == "counter":
            served.add(f"{metric.name}_total")
        if metric.type == "histogram":
            served.update(f"{metric.name}_{suffix}" for suffix in ("bucket", "count", "sum"))
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "opcenter-rules.yml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "opcenter-dashboard.json").read_text())
    expressions += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in expressions for name in re.findall(r"\bopcenter_[a-z_]+", expr)}
    assert len(used) >= 8
    assert used - served == set()


def test_metrics_can_be_turned_off(sqlite_ctx: ServiceContext) -> None:
    ctx = ServiceContext(
        db=sqlite_ctx.db,
        settings=load_settings(
            environ={"OPCENTER_METRICS": "off"}, dotenv=None, data_dir=sqlite_ctx.settings.data_dir
        ),
    )
    app = build_server(ctx, key_resolver=make_key_resolver(), authorize=allow_all, console=False)
    with ServerThread(app) as running:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://{running.endpoint}/metrics", timeout=10)
        refused.value.close()
        assert refused.value.code == 404
        body = tea_client(running).list_projects(dw.ListProjectsRequest()).body
        assert body.page_result.total_count == 0
