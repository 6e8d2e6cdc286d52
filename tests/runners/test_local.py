from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from opcenter.runners.base import InstanceResult, InstanceSpec, Outcome, ProcessHandle
from opcenter.runners.local import STOP_GRACE_SECONDS, LocalExecutor
from opcenter.runners.registry import default_runners
from opcenter.runners.runner import Command
from tests.runners._support import (
    PYTHON,
    SHELL,
    TEST_GRACE_SECONDS,
    VIRTUAL,
    Recorder,
    SpecFactory,
    body,
    process_gone,
    run_one,
    wait_for_lines,
)


def test_local_executor_defaults_to_one_slot_per_cpu_given_no_slots() -> None:
    assert LocalExecutor().slots == os.cpu_count()
    assert STOP_GRACE_SECONDS == 3.0


def test_local_executor_fails_given_zero_slots() -> None:
    with pytest.raises(ValueError, match="slots must be at least 1, got 0"):
        LocalExecutor(0)


def test_local_executor_runs_two_at_a_time_given_two_slots_and_four_sleeps(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    began = time.monotonic()
    for number in range(1, 5):
        executor.submit(make_spec(number, "sleep 0.4"))
    results = [recorder.wait_finished(number) for number in range(1, 5)]

    assert [r.outcome for r in results] == [Outcome.SUCCESS] * 4
    # (observed order, not durations: a loaded machine only makes each step slower)
    assert time.monotonic() - began >= 0.8  # at least two batches of 0.4 s, not one
    assert recorder.time_of("started", 2) < recorder.time_of("finished", 1)  # two at once
    # the second batch starts only when the first has finished
    assert recorder.time_of("started", 3) >= min(
        recorder.time_of("finished", 1), recorder.time_of("finished", 2)
    )


def test_local_executor_starts_in_submission_order_given_one_slot(
    recorder: Recorder, make_spec: SpecFactory
) -> None:
    pool = LocalExecutor(1)
    for number in (3, 1, 2):
        pool.submit(make_spec(number, "true"))  # queued before start: still FIFO
    pool.start(recorder)
    pool.shutdown(wait=True)

    assert recorder.started() == [3, 1, 2]


def test_local_executor_kills_the_process_tree_given_stop_of_a_running_shell(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    script = f"echo $$ > {pids}; sleep 300 & echo $! >> {pids}; sleep 300 & echo $! >> {pids}; wait"
    spec = make_spec(1, script)
    executor.submit(spec)
    started = [int(pid) for pid in wait_for_lines(pids, 3)]

    assert executor.stop(1, 1) is True
    result = recorder.wait_finished(1)

    assert result.outcome is Outcome.STOPPED
    assert result.message == "stopped"
    assert all(process_gone(pid) for pid in started), started
    assert body(spec)[-1] == "[opcenter] stopped"


def test_local_executor_kills_after_the_grace_given_children_ignoring_sigterm(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    child = "import signal, subprocess, sys, time\n" + (
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "kid = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{kid.pid}}\\n')\n"
        "time.sleep(300)\n"
    )
    executor.submit(make_spec(1, child, PYTHON))
    [kid] = [int(pid) for pid in wait_for_lines(pids, 1)]
    recorder.wait_started(1)

    began = time.monotonic()
    executor.stop(1, 1)
    result = recorder.wait_finished(1)

    assert result.outcome is Outcome.STOPPED
    assert result.exit_code == -9
    assert time.monotonic() - began >= TEST_GRACE_SECONDS  # killed after the grace, not before
    assert process_gone(kid)


def test_local_executor_drops_the_attempt_given_stop_while_queued(
    recorder: Recorder, make_spec: SpecFactory
) -> None:
    pool = LocalExecutor(1, stop_grace_seconds=TEST_GRACE_SECONDS)
    pool.start(recorder)
    pool.submit(make_spec(1, "sleep 300"))
    queued = make_spec(2, "echo never")
    pool.submit(queued)
    recorder.wait_started(1)
    try:
        assert pool.stop(2, 1) is True
        result = recorder.wait_finished(2)
    finally:
        pool.shutdown(wait=False)

    assert result == InstanceResult(2, 1, Outcome.STOPPED, None, "stopped before it started")
    assert recorder.started() == [1]
    assert body(queued) == ["[opcenter] stopped before it started"]
    assert not queued.workdir.exists()


def test_local_executor_answers_false_given_stop_of_an_unknown_or_finished_attempt(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    run_one(executor, recorder, make_spec(1, "true"))

    assert executor.stop(1, 1) is False
    assert executor.stop(99, 1) is False


def test_local_executor_times_out_given_a_script_longer_than_its_timeout(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    spec = make_spec(1, "echo begin; sleep 30", timeout=0.3)

    began = time.monotonic()
    result = run_one(executor, recorder, spec)

    assert (result.outcome, result.exit_code) == (Outcome.TIMEOUT, -15)
    assert result.message == "timed out after 0.3 s"
    assert 0.3 <= time.monotonic() - began < 10  # killed at its timeout, not after `sleep 30`
    assert body(spec) == ["begin", "[opcenter] timed out after 0.3 s"]


def test_local_executor_terminates_background_processes_given_a_script_that_exits(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    spec = make_spec(1, f"sleep 300 & echo $! > {pids}; echo done")

    result = run_one(executor, recorder, spec)

    assert result.outcome is Outcome.SUCCESS
    assert process_gone(int(pids.read_text()))
    assert body(spec) == [
        "done",
        "[opcenter] terminated processes the script left running",
        "[opcenter] exit code 0",
    ]


def test_local_executor_caps_the_log_given_output_past_the_cap(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    spec = make_spec(
        1, "head -c 100000 /dev/zero | tr '\\0' x; echo; echo tail", log_cap_bytes=1000
    )

    result = run_one(executor, recorder, spec)

    assert result.outcome is Outcome.SUCCESS  # the process never blocks on a full log
    assert body(spec) == [
        "x" * 1000,
        "[opcenter] log truncated at 1000 bytes",
        "[opcenter] exit code 0",
    ]


def test_local_executor_fails_the_attempt_given_an_unsupported_file_type(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    result = run_one(executor, recorder, make_spec(1, "x", file_type=23))

    assert result == InstanceResult(
        1, 1, Outcome.FAILURE, None, "cannot start: unsupported node type (FileType 23)"
    )


def test_local_executor_fails_the_attempt_given_a_workdir_that_cannot_exist(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory, tmp_path: Path
) -> None:
    (tmp_path / "work").write_text("a file where the folder should be")

    result = run_one(executor, recorder, make_spec(1, "true"))

    assert (result.outcome, result.exit_code) == (Outcome.FAILURE, None)
    assert result.message.startswith("cannot start: [Errno 20] Not a directory:")


class _BrokenRunner:
    """A runner with a bug: raises what no runner should."""

    def prepare(self, spec: InstanceSpec) -> Command | None:
        raise RuntimeError("runner bug")


def test_local_executor_keeps_working_given_a_runner_that_crashes(
    recorder: Recorder, make_spec: SpecFactory
) -> None:
    pool = LocalExecutor(1, runners={**default_runners(), 77: _BrokenRunner()})
    pool.start(recorder)
    pool.submit(make_spec(1, "x", file_type=77))
    pool.submit(make_spec(2, "echo fine"))
    pool.shutdown(wait=True)

    assert recorder.results[(1, 1)] == [
        InstanceResult(1, 1, Outcome.FAILURE, None, "executor error: runner bug")
    ]
    assert recorder.results[(2, 1)][0].outcome is Outcome.SUCCESS


class _RaisingEvents(Recorder):
    def on_started(self, instance_id: int, attempt: int, process: ProcessHandle | None) -> None:
        super().on_started(instance_id, attempt, process)
        raise RuntimeError("engine bug")


def test_local_executor_keeps_working_given_callbacks_that_raise(make_spec: SpecFactory) -> None:
    events = _RaisingEvents()
    pool = LocalExecutor(1)
    pool.start(events)
    pool.submit(make_spec(1, "true"))
    pool.submit(make_spec(2, "true"))
    pool.shutdown(wait=True)

    assert [events.results[(n, 1)][0].outcome for n in (1, 2)] == [Outcome.SUCCESS] * 2


def test_local_executor_reports_each_attempt_exactly_once_given_every_kind_of_end(
    recorder: Recorder, make_spec: SpecFactory
) -> None:
    pool = LocalExecutor(2, stop_grace_seconds=TEST_GRACE_SECONDS)
    pool.start(recorder)
    specs = [
        make_spec(1, "sleep 300"),  # stopped while running
        make_spec(2, "sleep 300", timeout=0.2),  # timed out
        make_spec(3, "exit 4"),  # failed
        make_spec(4, "true", attempt=1),  # succeeded
        make_spec(4, "true", attempt=2),  # a second attempt of the same instance
        make_spec(5, "", VIRTUAL),  # no process
        make_spec(6, "x", file_type=23),  # cannot start
        make_spec(7, "sleep 300"),  # stopped while queued
    ]
    for spec in specs:
        pool.submit(spec)
    recorder.wait_started(1)
    pool.stop(7, 1)
    pool.stop(1, 1)
    pool.shutdown(wait=True)

    outcomes = {key: [r.outcome for r in results] for key, results in recorder.results.items()}
    assert outcomes == {
        (1, 1): [Outcome.STOPPED],
        (2, 1): [Outcome.TIMEOUT],
        (3, 1): [Outcome.FAILURE],
        (4, 1): [Outcome.SUCCESS],
        (4, 2): [Outcome.SUCCESS],
        (5, 1): [Outcome.SUCCESS],
        (6, 1): [Outcome.FAILURE],
        (7, 1): [Outcome.STOPPED],
    }


def test_local_executor_refuses_a_duplicate_given_the_same_attempt_queued(
    executor: LocalExecutor, make_spec: SpecFactory
) -> None:
    executor.submit(make_spec(1, "sleep 300"))

    with pytest.raises(ValueError, match="instance 1 attempt 1 is active"):
        executor.submit(make_spec(1, "sleep 300"))


def test_local_executor_kills_running_and_drops_queued_given_shutdown_without_wait(
    recorder: Recorder, make_spec: SpecFactory
) -> None:
    pool = LocalExecutor(1, stop_grace_seconds=TEST_GRACE_SECONDS)
    pool.start(recorder)
    pool.submit(make_spec(1, "sleep 300"))
    pool.submit(make_spec(2, "sleep 300"))
    recorder.wait_started(1)

    began = time.monotonic()
    pool.shutdown(wait=False)

    assert time.monotonic() - began < 10  # without waiting for `sleep 300`
    assert recorder.results[(1, 1)][0].outcome is Outcome.STOPPED
    assert recorder.results[(2, 1)][0] == InstanceResult(
        2, 1, Outcome.STOPPED, None, "executor shut down"
    )


def test_local_executor_runs_queued_work_given_shutdown_with_wait(
    recorder: Recorder, make_spec: SpecFactory
) -> None:
    pool = LocalExecutor(1)
    pool.start(recorder)
    for number in (1, 2, 3):
        pool.submit(make_spec(number, "sleep 0.05"))
    pool.shutdown(wait=True)

    assert sorted(recorder.results) == [(1, 1), (2, 1), (3, 1)]


def test_local_executor_fails_new_work_given_a_shut_down_executor(
    recorder: Recorder, make_spec: SpecFactory
) -> None:
    pool = LocalExecutor(1)
    pool.start(recorder)
    pool.shutdown()

    pool.submit(make_spec(1, "true"))

    assert recorder.wait_finished(1) == InstanceResult(
        1, 1, Outcome.FAILURE, None, "executor is shut down"
    )


def test_local_executor_uses_the_given_interpreter_given_python_runner_override(
    recorder: Recorder, make_spec: SpecFactory
) -> None:
    pool = LocalExecutor(1, runners=default_runners(python=sys.executable))
    pool.start(recorder)
    spec = make_spec(1, "import sys; print(sys.executable)", PYTHON)
    try:
        run_one(pool, recorder, spec)
    finally:
        pool.shutdown()

    assert body(spec)[0] == sys.executable
    assert SHELL in default_runners()
