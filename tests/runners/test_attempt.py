from __future__ import annotations

import threading
from pathlib import Path

from opcenter.runners.attempt import run_attempt
from opcenter.runners.base import InstanceResult, Outcome
from opcenter.runners.registry import default_runners
from tests.runners._support import SQL, SpecFactory, body


def test_run_attempt_stops_before_launch_given_a_stop_already_set(make_spec: SpecFactory) -> None:
    stop, started = threading.Event(), []
    stop.set()
    spec = make_spec(1, "echo never")

    result = run_attempt(spec, default_runners(), stop=stop, on_started=started.append)

    assert result == InstanceResult(1, 1, Outcome.STOPPED, None, "stopped before it started")
    assert started == []
    assert body(spec) == ["[opcenter] stopped before it started"]


def test_run_attempt_fails_given_a_log_that_cannot_be_opened(
    make_spec: SpecFactory, tmp_path: Path
) -> None:
    (tmp_path / "logs").write_text("a file where the log folder should be")
    spec = make_spec(1, "echo never")

    result = run_attempt(spec, default_runners(), stop=threading.Event(), on_started=lambda _: None)

    assert (result.outcome, result.exit_code) == (Outcome.FAILURE, None)
    expected = f"cannot start: cannot open log {spec.log_path}: [Errno 17] File exists"
    assert result.message.startswith(expected)


def test_run_attempt_succeeds_given_sql_without_statements(
    make_spec: SpecFactory, tmp_path: Path
) -> None:
    spec = make_spec(1, "-- nothing to do;\n", SQL, sql_url=f"sqlite:///{tmp_path / 'x.db'}")

    result = run_attempt(spec, default_runners(), stop=threading.Event(), on_started=lambda _: None)

    assert result.outcome is Outcome.SUCCESS
    assert body(spec) == ["[sql] no statements to run", "[opcenter] exit code 0"]
