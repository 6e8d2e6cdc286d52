from __future__ import annotations

from opcenter.runners.base import Outcome
from opcenter.runners.local import LocalExecutor
from opcenter.runners.shell import ShellRunner
from tests.runners._support import Recorder, SpecFactory, body, run_one


def test_shell_node_sees_positional_parameters_given_argv(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    spec = make_spec(1, 'echo "one=$1 two=$2 count=$#"', argv=("a b", "c"))

    result = run_one(executor, recorder, spec)

    assert (result.outcome, result.exit_code, result.message) == (Outcome.SUCCESS, 0, "exit code 0")
    assert body(spec) == ["one=a b two=c count=2", "[opcenter] exit code 0"]


def test_shell_node_fails_with_its_exit_code_given_exit_3(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    spec = make_spec(1, "echo out; echo err >&2; exit 3")

    result = run_one(executor, recorder, spec)

    assert (result.outcome, result.exit_code, result.message) == (Outcome.FAILURE, 3, "exit code 3")
    assert body(spec) == ["out", "err", "[opcenter] exit code 3"]


def test_shell_node_runs_in_its_own_workdir_given_a_new_path(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    spec = make_spec(1, "pwd; echo data > out.txt")

    run_one(executor, recorder, spec)

    assert body(spec)[0] == str(spec.workdir)
    assert (spec.workdir / "out.txt").read_text() == "data\n"


def test_shell_node_sees_extra_variables_given_spec_env(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    spec = make_spec(1, 'echo "$OPC_GREETING ${PATH:+has-path}"', env={"OPC_GREETING": "hello"})

    run_one(executor, recorder, spec)

    assert body(spec)[0] == "hello has-path"


def test_shell_node_appends_to_the_log_given_engine_header_lines(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    spec = make_spec(1, "echo body")
    spec.log_path.parent.mkdir(parents=True)
    spec.log_path.write_text("header written by the engine\n")

    run_one(executor, recorder, spec)

    assert body(spec) == ["header written by the engine", "body", "[opcenter] exit code 0"]


def test_shell_node_fails_without_starting_given_a_missing_bash(
    recorder: Recorder, make_spec: SpecFactory
) -> None:
    pool = LocalExecutor(1, runners={6: ShellRunner("/nonexistent/bash")})
    pool.start(recorder)
    spec = make_spec(1, "echo never")
    try:
        result = run_one(pool, recorder, spec)
    finally:
        pool.shutdown()

    assert result.outcome is Outcome.FAILURE
    assert result.exit_code is None
    assert result.message.startswith("cannot start: [Errno 2] No such file or directory")
    assert "/nonexistent/bash" in result.message
    assert recorder.started() == []
    assert body(spec) == [f"[opcenter] {result.message}"]
