"""docs/operations.md's examples against a real `opcenter serve` process with JSON logs, on
SQLite and PostgreSQL: its `curl … /metrics` command, run as written but for the address, prints
the series the example shows; its JSON log lines have the keys of real ones; and a failing Shell
attempt is one INFO line carrying its instance and Dag ids, while the dispatch latency and
the Dag duration (status FAILURE) histograms count the run."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from prometheus_client.parser import text_string_to_metric_families

from tests.api.opsupport import (
    SHELL,
    VIRTUAL,
    FileSpec,
    create_flow,
    create_workspace,
    sdk_error,
    wait_for,
    wait_statuses,
)
from tests.cli.processes import Proc, sdk_client
from tests.conftest import database_on, store_url

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operations.md"
DOC_ENDPOINT = "127.0.0.1:8080"
WS, FLOW = "ops_doc", "failing"
FAILED_LINE = re.compile(r"instance (\d+) attempt (\d+) failed: (.*)")


def _blocks() -> list[str]:
    """The text of each fenced block of the doc without a language (the shell examples)."""
    fenced = re.findall(r"^```(\w*)\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.M | re.S)
    return [text for language, text in fenced if not language]


def _example(prompt: str) -> tuple[str, list[str]]:
    """The command of the doc's block starting `$ <prompt>` and the lines it shows."""
    blocks = [b for b in _blocks() if b.startswith(f"$ {prompt}")]
    assert len(blocks) == 1, f"operations.md has {len(blocks)} blocks starting '$ {prompt}'"
    command, *shown = blocks[0].splitlines()
    return command.removeprefix("$ "), shown


def _series(text: str) -> dict[str, set[tuple[str, ...]]]:
    """Sample name -> the sets of label names it is shown with (`# …` lines skipped)."""
    found: dict[str, set[tuple[str, ...]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        matched = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        assert matched, f"not a sample line: {line!r}"
        name, labels, value = matched.groups()
        float(value)
        keys = tuple(sorted(re.findall(r'(\w+)="', labels or "")))
        found.setdefault(name, set()).add(keys)
    return found


def _samples(endpoint: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Proc]:
    """`OPCENTER_LOG_FORMAT=json opcenter serve` on a fresh store of each backend."""
    schema = request.getfixturevalue("pg_schema") if request.param == "postgresql" else None
    db = database_on(request.param, tmp_path / "store.db", schema)
    url = store_url(db)
    db.dispose()
    (tmp_path / "serve").mkdir()
    proc = Proc("serve", url, tmp_path / "serve" / "data", tmp_path / "serve.out",
                OPCENTER_LOG_FORMAT="json")  # fmt: skip
    proc.start()
    yield proc
    proc.kill()


def _json_lines(proc: Proc) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proc.output.splitlines() if line.startswith("{")]


def test_the_operations_doc_examples_match_a_real_server_and_a_failed_attempt_is_logged(
    api: Proc,
) -> None:
    client = sdk_client(api)
    endpoint = api.endpoint()
    create_workspace(client, WS)
    create_flow(
        client,
        WS,
        FLOW,
        [FileSpec("begin", VIRTUAL), FileSpec("broken", SHELL, "exit 1", inputs=["begin"])],
    )
    before = _samples(endpoint)
    # When a run fails on its Shell node, and a request is refused
    dag_id = client.run_manual_dag_nodes(
        dw.RunManualDagNodesRequest(
            project_env="PROD", project_name=WS, flow_name=FLOW, biz_date="2024-03-01 00:00:00"
        )
    ).body.dag_id
    broken = wait_statuses(client, WS, dag_id, {"broken": ("FAILURE",)})["broken"]
    refused = sdk_error(lambda: client.get_dag(dw.GetDagRequest(dag_id=dag_id + 10**6)))

    # Then the engine logged one INFO line for the attempt, with its instance and Dag ids
    def failed_lines() -> list[dict[str, Any]] | None:
        mine = [e for e in _json_lines(api) if e.get("instance_id") == broken.instance_id]
        return [e for e in mine if FAILED_LINE.fullmatch(str(e["message"]))] or None

    [entry] = wait_for(failed_lines, "the log line of the failed attempt")
    assert (entry["level"], entry["logger"]) == ("INFO", "opcenter.engine.scheduler")
    assert entry["dag_id"] == dag_id
    assert FAILED_LINE.fullmatch(entry["message"]).groups() == (  # type: ignore[union-attr]
        str(broken.instance_id),
        "1",
        "exit code 1",
    )

    # And each example JSON line of the doc has the keys, logger and level of a real line
    command, shown = _example("OPCENTER_LOG_FORMAT=json opcenter serve")
    examples = [json.loads(line) for line in shown]
    assert len(examples) >= 2
    real = wait_for(
        lambda: (
            _json_lines(api)
            if any(e.get("request_id") == refused.request_id for e in _json_lines(api))
            else None
        ),
        "the log line of the refused request",
    )
    for example in examples:
        shape = (set(example), example["logger"], example["level"])
        assert shape in [(set(e), e["logger"], e["level"]) for e in real], example
        matched = FAILED_LINE.fullmatch(example["message"])
        if matched:  # the example of a failed attempt names the ids its fields carry
            assert int(matched.group(1)) == example["instance_id"]

    # And the dispatch latency and Dag duration histograms counted the run (its end is
    # observed just after it is committed: wait for it)
    def after_run() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        now = _samples(endpoint)
        key = ("opcenter_dag_run_duration_seconds_count", (("status", "FAILURE"),))
        return now if now.get(key, 0) > before.get(key, 0) else None

    after = wait_for(after_run, "the Dag's end on /metrics")

    def delta(name: str, *labels: tuple[str, str]) -> float:
        key = (name, tuple(sorted(labels)))
        return after.get(key, 0.0) - before.get(key, 0.0)

    failure = ("status", "FAILURE")
    assert delta("opcenter_dag_run_duration_seconds_count", failure) == 1
    assert delta("opcenter_dag_run_duration_seconds_sum", failure) > 0
    assert delta("opcenter_dag_run_duration_seconds_bucket", failure, ("le", "+Inf")) == 1
    assert delta("opcenter_dag_run_duration_seconds_count", ("status", "SUCCESS")) == 0
    assert delta("opcenter_dispatch_latency_seconds_count") == 1
    assert delta("opcenter_dispatch_latency_seconds_bucket", ("le", "+Inf")) == 1

    # And the doc's scrape command, aimed at this server, prints every series its example shows
    # (by name and label names), among them this run's
    command, shown = _example(f"curl -s http://{DOC_ENDPOINT}/metrics")
    printed = _shell(command.replace(DOC_ENDPOINT, endpoint))
    served, example = _series(printed), _series("\n".join(shown))
    assert len(example) >= 8
    for name, label_sets in example.items():
        assert name in served, f"{name} is not served"
        assert label_sets <= served[name], (name, label_sets, served[name])
    assert not any(line.startswith("#") for line in printed.splitlines())
    # And its readiness example answers as shown
    command, shown = _example(f"curl -s http://{DOC_ENDPOINT}/readyz")
    assert json.loads(_shell(command.replace(DOC_ENDPOINT, endpoint))) == json.loads(shown[0])


def _shell(command: str) -> str:
    """What `command` prints, run by bash as a reader would."""
    return subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, check=True, timeout=30
    ).stdout
