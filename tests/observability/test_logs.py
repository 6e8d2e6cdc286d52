"""`opcenter serve` and `opcenter scheduler` as real processes: with `OPCENTER_LOG_FORMAT=json`
each log line is one JSON object carrying the RequestId the API answered; both serve
`/metrics` with their engine's state."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from alibabacloud_dataworks_public20200518 import models as dw
from prometheus_client.parser import text_string_to_metric_families

from opcenter.logcontext import DAG_ID, INSTANCE_ID, JsonFormatter
from opcenter.settings import SettingsError, load_settings
from tests.api.opsupport import sdk_error, wait_for
from tests.cli.processes import Proc, sdk_client


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.kill()


def _start(procs: list[Proc], tmp_path: Path, command: str, *args: str, **env: str) -> Proc:
    name = f"{command}{len(procs)}"
    (tmp_path / name).mkdir()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    proc = Proc(command, url, tmp_path / name / "data", tmp_path / f"{name}.out", *args, **env)
    procs.append(proc.start())
    return proc


def _engine_state(proc: Proc) -> dict[str, float]:
    with urllib.request.urlopen(f"http://{proc.endpoint()}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {
        sample.labels["state"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "opcenter_engine_state"
        for sample in family.samples
    }


def _json_lines(proc: Proc) -> list[dict[str, object]]:
    return [json.loads(line) for line in proc.output.splitlines() if line.startswith("{")]


def test_json_log_lines_carry_the_request_id_the_api_answered(
    procs: list[Proc], tmp_path: Path
) -> None:
    api = _start(procs, tmp_path, "serve", OPCENTER_LOG_FORMAT="json")
    client = sdk_client(api)
    error = sdk_error(lambda: client.get_dag(dw.GetDagRequest(dag_id=424242)))
    assert error.request_id

    def logged() -> dict[str, object] | None:
        mine = [e for e in _json_lines(api) if e.get("request_id") == error.request_id]
        return mine[0] if mine else None

    entry = wait_for(logged, "the log line of the refused request")
    assert entry["level"] == "INFO" and entry["logger"] == "opcenter.api.rpc"
    assert error.code in str(entry["message"])
    assert {"time", "level", "logger", "message"} <= set(entry)
    assert _engine_state(api) == {"leader": 1, "standby": 0, "off": 0}
    # Nothing but JSON objects from the server's own loggers.
    assert all("message" in e for e in _json_lines(api))


def test_the_scheduler_serves_metrics_on_its_health_port_and_text_logs_stay_the_default(
    procs: list[Proc], tmp_path: Path
) -> None:
    scheduler = _start(procs, tmp_path, "scheduler")
    wait_for(lambda: scheduler.engine() == "leader", "the scheduler to lead")
    api = _start(procs, tmp_path, "serve", "--no-engine")
    assert _engine_state(scheduler) == {"leader": 1, "standby": 0, "off": 0}
    assert _engine_state(api) == {"leader": 0, "standby": 0, "off": 1}
    error = sdk_error(lambda: sdk_client(api).get_dag(dw.GetDagRequest(dag_id=424242)))
    line = f"INFO request {error.request_id} refused: {error.code}"
    wait_for(lambda: line in api.output, "the text log line of the refused request")
    assert not _json_lines(api) and not _json_lines(scheduler)


def test_the_settings_of_metrics_and_log_format_are_checked() -> None:
    def settings(**environ: str) -> tuple[bool, str]:
        loaded = load_settings(environ=environ, dotenv=None)
        return loaded.metrics, loaded.log_format

    assert settings() == (True, "text")
    assert settings(OPCENTER_METRICS="off", OPCENTER_LOG_FORMAT="JSON") == (False, "json")
    assert settings(OPCENTER_METRICS="1")[0] and not settings(OPCENTER_METRICS="false")[0]
    with pytest.raises(SettingsError, match="OPCENTER_LOG_FORMAT='xml' must be one of"):
        load_settings(environ={"OPCENTER_LOG_FORMAT": "xml"}, dotenv=None)
    with pytest.raises(SettingsError, match="OPCENTER_METRICS='maybe' must be one of"):
        load_settings(environ={"OPCENTER_METRICS": "maybe"}, dotenv=None)


def test_a_json_line_carries_the_instance_and_dag_the_engine_handles() -> None:
    record = logging.LogRecord(
        "opcenter.engine.scheduler", logging.ERROR, __file__, 1, "cannot start %d", (7,), None
    )
    tokens = INSTANCE_ID.set(7), DAG_ID.set(3)
    try:
        entry = json.loads(JsonFormatter().format(record))
    finally:
        INSTANCE_ID.reset(tokens[0])
        DAG_ID.reset(tokens[1])
    assert entry["message"] == "cannot start 7" and entry["level"] == "ERROR"
    assert (entry["instance_id"], entry["dag_id"]) == (7, 3) and "request_id" not in entry
    assert "instance_id" not in json.loads(JsonFormatter().format(record))
