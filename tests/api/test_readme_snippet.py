"""The README's SDK snippet runs unchanged (but for endpoint and keys) against a live server."""

from __future__ import annotations

from typing import Any

from opcenter.service import definitions, workspaces
from tests.api.doc_snippets import ROOT, run_snippet
from tests.api.opsupport import Live, instances_of, wait_statuses

EXAMPLE = ROOT / "examples" / "sales_daily.yaml"
NODES = {"start", "extract_orders", "extract_customers", "load_sales", "done"}


def test_readme_snippet_runs_the_example_workflow(live: Live) -> None:
    # Given the example workspace `make serve` sets up
    workspaces.create_project(live.ctx, project_identifier="demo", project_name="demo")
    definitions.apply_definition(live.ctx, path_or_document=EXAMPLE, workspace="demo", deploy=True)
    # When the README's snippet runs
    namespace, printed = run_snippet(live, ROOT / "README.md")
    # Then it printed one line per node of the run it started, and that run succeeds
    lines = printed.splitlines()
    assert {line.split()[0] for line in lines} == NODES
    client: Any = namespace["client"]
    dag_id = namespace["dag"].body.dag_id  # type: ignore[attr-defined]
    wait_statuses(client, "demo", dag_id, {n: ("SUCCESS",) for n in NODES})
    assert set(instances_of(client, "demo", dag_id)) == NODES
