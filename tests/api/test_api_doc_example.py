"""docs/api.md's SDK example runs unchanged (but for endpoint and keys) against the demo
workspace exactly as `make serve` sets it up."""

from __future__ import annotations

import datetime as dt
from typing import Any

from alibabacloud_dataworks_public20200518 import models as dw

from opcenter.cli.serve import _apply_example
from tests.api.doc_snippets import ROOT, run_snippet
from tests.api.opsupport import Live, instance_log, instances_of, wait_for

EXAMPLE = ROOT / "examples" / "sales_daily.yaml"
WEEK = [f"2024-01-0{day}" for day in range(1, 8)]
DRY_RUN = "extract_customers"
NODES = {"start", "extract_orders", "extract_customers", "load_sales", "done"}
WEEK_SECONDS = 120.0


def _dags_of_the_run(client: Any, dag_id: int) -> list[Any]:
    op_seq = client.get_dag(dw.GetDagRequest(dag_id=dag_id, project_env="PROD")).body.data.op_seq
    request = dw.ListDagsRequest(op_seq=str(op_seq), project_env="PROD")
    return list(client.list_dags(request).body.data.dags)


def test_docs_api_example_runs_the_demo_workflow_for_a_week(live: Live) -> None:
    # Given the demo workspace as `make serve` sets it up
    _apply_example(live.ctx, EXAMPLE)
    # When docs/api.md's example runs
    namespace, _ = run_snippet(live, ROOT / "docs" / "api.md")
    client: Any = namespace["client"]
    dag_id = namespace["dag_id"]
    assert isinstance(dag_id, int)

    # Then its run is one Dag per date of the week, in date order, starting with the one answered
    def settled() -> list[Any] | None:
        dags = _dags_of_the_run(client, dag_id)
        failed = any(d.status == "FAILURE" for d in dags)
        return dags if failed or all(d.status == "SUCCESS" for d in dags) else None

    dags = wait_for(settled, "the week's Dags to succeed (or one to fail)", WEEK_SECONDS)
    dates = [dt.datetime.fromtimestamp(d.bizdate / 1000, dt.UTC).date().isoformat() for d in dags]
    assert dates == WEEK
    assert dags[0].dag_id == dag_id
    # And every Dag succeeded, with the excluded node as a dry run and the others run
    assert [d.status for d in dags] == ["SUCCESS"] * len(WEEK)
    for dag in dags:
        instances = instances_of(client, "demo", dag.dag_id)
        assert set(instances) == NODES
        assert {n: i.task_type for n, i in instances.items() if i.task_type != "MANUAL"} == {
            DRY_RUN: "SKIP"
        }
    # And the nodes saw the example's workflow parameter
    first = instances_of(client, "demo", dag_id)
    assert "region=cn-shanghai" in instance_log(client, first["extract_orders"].instance_id)
