"""`opcenter params eval`: the CLI preview of the parameter language."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from opcenter.cli.params import params


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(params, ["eval", *args])
    return result.exit_code, result.stdout, result.stderr


def test_eval_prints_each_value_on_its_own_line_given_expressions() -> None:
    code, out, _ = run(
        "--bizdate", "2020-11-10", "$bizdate", "${yyyymmdd-1}", "$[hh24-1/24]", "${yyyymm}01"
    )
    assert (code, out) == (0, "20201110\n20201109\n23\n20201101\n")


def test_eval_uses_the_given_cyctime_over_the_manual_run_rule() -> None:
    code, out, _ = run(
        "--bizdate", "2025-10-31", "--cyctime", "2025-11-01 02:30:45", "$[hh24:mi:ss]", "$cyctime"
    )
    assert (code, out) == (0, "02:30:45\n20251101023045\n")


def test_eval_prints_key_value_lines_given_a_parameter_string() -> None:
    code, out, _ = run("--bizdate", "2020-11-10", "dt=$bizdate $cyctime h=$[hh24-1/24] x")
    assert (code, out) == (0, "dt=20201110\n$1=20201111000000\nh=23\n$2=x\n")


def test_eval_merges_workflow_params_given_dag_param_options() -> None:
    code, out, _ = run(
        "--bizdate", "2020-11-10", "--dag-param", "region=us", "dt=$bizdate region=cn",
        "${region}_x",
    )  # fmt: skip
    assert (code, out) == (0, "dt=20201110\nregion=us\nus_x\n")
    assert run("--bizdate", "2020-11-10", "--workflow-param", "region=us", "${region}")[1] == "us\n"


def test_eval_refuses_w_with_what_to_use_instead() -> None:
    # -w names a workspace in every other command: here it says what to type instead
    code, out, err = run("--bizdate", "2020-11-10", "-w", "region=us", "${region}")
    assert (code, out) == (2, "")
    assert err.endswith(
        "Error: -w names a workspace in opcenter's other commands; give a workflow parameter "
        "here as --dag-param KEY=VALUE.\n"
    )


def test_eval_fills_id_builtins_given_id_options() -> None:
    code, out, _ = run(
        "--bizdate", "20201110", "--node-id", "7", "--dag-id", "8", "--instance-id", "9",
        "$nodeid $jobid $taskid",
    )  # fmt: skip
    assert (code, out) == (0, "$1=7\n$2=8\n$3=9\n")


def test_eval_fails_with_one_error_line_and_status_2_given_a_malformed_expression() -> None:
    code, out, err = run("--bizdate", "2020-11-10", "$bizdate", "${yyyymmdd-x}")
    assert (code, out) == (2, "")
    assert err == 'Error: Invalid parameter "${yyyymmdd-x}": bad offset arithmetic "-x"\n'


def test_eval_fails_with_status_2_given_a_bad_business_date() -> None:
    code, _, err = run("--bizdate", "2020-13-01", "$bizdate")
    assert code == 2
    assert err.endswith(
        "Error: --bizdate '2020-13-01' is not a date (yyyy-mm-dd, yyyymmdd or "
        "'yyyy-mm-dd 00:00:00').\n"
    )
    code, _, err = run("--cyctime", "noon", "$bizdate")
    assert code == 2
    assert err.endswith(
        "Error: --cyctime 'noon' is not a date and time ('yyyy-mm-dd hh:mm:ss', "
        "yyyy-mm-ddThh:mm:ss, yyyymmddhhmmss or 'yyyy-mm-dd hh:mm').\n"
    )


def test_eval_exits_as_its_help_documents() -> None:
    # 0 when every EXPR was evaluated; 2 with one Error line for a malformed expression, a
    # value out of range or a bad option (the help and docs/parameters.md say so)
    assert run("--bizdate", "2020-11-10", "$bizdate")[0] == 0
    for args in (["$[bad"], ["--bizdate", "0001-01-01", "${yyyymmdd-1}"], ["--node-id", "x", "a"],
                 ["a=${b} b=${a}"], [""]):  # fmt: skip
        code, out, err = run(*args)
        assert (code, out) == (2, ""), args
        assert err.count("Error: ") == 1, args
    assert "Exit status: 0 when every EXPR was evaluated; 2" in " ".join(
        CliRunner().invoke(params, ["eval", "--help"]).output.split()
    )


def test_eval_fails_with_status_2_given_a_workflow_param_without_equals() -> None:
    code, _, err = run("--bizdate", "2020-11-10", "--dag-param", "region", "$bizdate")
    assert code == 2
    assert "'region' is not KEY=VALUE" in err


def test_eval_runs_as_a_real_subprocess_through_the_console_entry_point() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "opcenter.cli", "params", "eval", "--bizdate", "2020-11-10",
         "$gmtdate", "$bizmonth", "$[add_months(yyyymmdd,-1)]"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (completed.returncode, completed.stdout) == (0, "20201111\n202010\n20201011\n")


def test_eval_subprocess_exits_2_with_error_line_given_a_forbidden_offset() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "opcenter.cli", "params", "eval", "--bizdate", "2020-11-10",
         "$[yyyy-1]"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr.startswith('Error: Invalid parameter "$[yyyy-1]": year/month offsets')
