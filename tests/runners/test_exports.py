from __future__ import annotations

from opcenter.runners import attempt, local, logs, python, registry, runner, shell, sql, virtual


def test_runner_modules_export_exactly_their_public_api_given_star_imports() -> None:
    assert local.__all__ == ["STOP_GRACE_SECONDS", "LocalExecutor"]
    assert attempt.__all__ == ["STOP_GRACE_SECONDS", "group_alive", "run_attempt", "signal_group"]
    assert runner.__all__ == ["Command", "Runner", "RunnerError"]
    assert registry.__all__ == ["default_runners"]
    assert shell.__all__ == ["SCRIPT_NAME", "ShellRunner"]
    assert python.__all__ == ["SCRIPT_NAME", "PythonRunner"]
    assert virtual.__all__ == ["VirtualRunner"]
    assert sql.__all__ == [
        "MAX_ROWS_SHOWN",
        "QUERY_NAME",
        "URL_ENV",
        "SqlRunner",
        "main",
        "render_table",
        "run_sql",
        "split_statements",
    ]
    assert logs.__all__ == [
        "LOG_TAG",
        "CappedLog",
        "append_log_line",
        "format_log_line",
        "log_size",
        "read_log",
        "read_log_page",
        "tail_log",
    ]
