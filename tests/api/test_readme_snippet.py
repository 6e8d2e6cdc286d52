"""The README's SDK snippet runs unchanged (but for endpoint and keys) against a live server."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

from opcenter.service import definitions, workspaces
from tests.api.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET
from tests.api.opsupport import Live, instances_of, wait_statuses

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sales_daily.yaml"
NODES = {"start", "extract_orders", "extract_customers", "load_sales", "done"}


def _snippet() -> str:
    """The one ```python block of README.md."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert len(blocks) == 1, f"README.md has {len(blocks)} python blocks, expected 1"
    return blocks[0]


def _aimed_at(live: Live, code: str) -> str:
    replacements = {
        '"<the key make serve printed>"': repr(ACCESS_KEY_ID),
        '"<its secret>"': repr(ACCESS_KEY_SECRET),
        '"127.0.0.1:8080"': repr(live.endpoint),
    }
    for placeholder, value in replacements.items():
        assert placeholder in code, f"the README snippet no longer contains {placeholder}"
        code = code.replace(placeholder, value)
    return code


def test_readme_snippet_runs_the_example_workflow(live: Live) -> None:
    # Given the example workspace `make serve` sets up
    workspaces.create_project(live.ctx, project_identifier="demo", project_name="demo")
    definitions.apply_definition(live.ctx, path_or_document=EXAMPLE, workspace="demo", deploy=True)
    # When the README's snippet runs
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(_aimed_at(live, _snippet()), "README.md", "exec"), namespace)
    # Then it printed one line per node of the run it started, and that run succeeds
    lines = printed.getvalue().splitlines()
    assert {line.split()[0] for line in lines} == NODES
    client: Any = namespace["client"]
    dag_id = namespace["dag"].body.dag_id  # type: ignore[attr-defined]
    wait_statuses(client, "demo", dag_id, {n: ("SUCCESS",) for n in NODES})
    assert set(instances_of(client, "demo", dag_id)) == NODES
