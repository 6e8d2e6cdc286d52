from __future__ import annotations

import time

from opcenter.runners.base import Outcome
from opcenter.runners.local import LocalExecutor
from opcenter.runners.logs import read_log
from opcenter.runners.python import PythonRunner
from tests.runners._support import PYTHON, Recorder, SpecFactory, body, run_one


def test_python_node_sees_argv_given_positional_parameters(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    spec = make_spec(1, "import sys, os\nprint(sys.argv[1:], os.getcwd())", PYTHON, ("x", "y z"))

    result = run_one(executor, recorder, spec)

    assert result.outcome is Outcome.SUCCESS
    assert body(spec) == [f"['x', 'y z'] {spec.workdir}", "[opcenter] exit code 0"]


def test_python_node_fails_with_the_traceback_logged_given_an_exception(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    spec = make_spec(1, "raise ValueError('bad input')", PYTHON)

    result = run_one(executor, recorder, spec)

    assert (result.outcome, result.exit_code) == (Outcome.FAILURE, 1)
    lines = body(spec)
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-2:] == ["ValueError: bad input", "[opcenter] exit code 1"]


def test_python_node_log_is_readable_while_it_runs_given_unbuffered_output(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    spec = make_spec(1, "import time\nprint('first')\ntime.sleep(30)", PYTHON)
    executor.submit(spec)
    recorder.wait_started(1)

    deadline = time.monotonic() + 5
    while read_log(spec.log_path) != "first\n" and time.monotonic() < deadline:
        time.sleep(0.02)

    assert read_log(spec.log_path) == "first\n"
    assert executor.stop(1, 1) is True
    assert recorder.wait_finished(1).outcome is Outcome.STOPPED


def test_python_node_fails_without_starting_given_a_missing_interpreter(
    recorder: Recorder, make_spec: SpecFactory
) -> None:
    pool = LocalExecutor(1, runners={PYTHON: PythonRunner("/nonexistent/python3")})
    pool.start(recorder)
    try:
        result = run_one(pool, recorder, make_spec(1, "print(1)", PYTHON))
    finally:
        pool.shutdown()

    assert (result.outcome, result.exit_code) == (Outcome.FAILURE, None)
    assert result.message == (
        "cannot start: [Errno 2] No such file or directory: '/nonexistent/python3'"
    )
    assert recorder.started() == []
