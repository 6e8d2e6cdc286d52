"""`opcenter workspace set-env` and the job environment shown by `opcenter workspace get`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.workspace_cli import demo_data_dir, run


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return demo_data_dir(tmp_path, monkeypatch)


def test_set_env_sets_and_unsets_and_get_shows_them_given_assignments(data_dir: Path) -> None:
    first = run(data_dir, "workspace", "set-env", "demo", "A=1", "URL=s3://x?a=b", "--json")
    assert json.loads(first.stdout) == {"A": "1", "URL": "s3://x?a=b"}

    second = run(data_dir, "workspace", "set-env", "demo", "--unset", "A", "B=2")
    assert second.exit_code == 0
    assert "URL" in second.stdout and "s3://x?a=b" in second.stdout and "A " not in second.stdout

    shown = json.loads(run(data_dir, "workspace", "get", "demo", "--json").stdout)
    assert (shown["project_identifier"], shown["job_env"]) == (
        "demo",
        {"B": "2", "URL": "s3://x?a=b"},
    )
    table = run(data_dir, "workspace", "get", "demo").stdout
    assert "job environment" in table and "s3://x?a=b" in table


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("OPCENTER_SECRET_KEY=x", "Error: Job variable name 'OPCENTER_SECRET_KEY' is reserved."),
        ("NOVALUE", "Error: 'NOVALUE' is not NAME=VALUE."),
    ],
)
def test_set_env_prints_one_error_line_given_a_bad_assignment(
    data_dir: Path, argument: str, message: str
) -> None:
    result = run(data_dir, "workspace", "set-env", "demo", argument)

    assert result.exit_code != 0
    assert result.stderr.strip() == message
    assert json.loads(run(data_dir, "workspace", "get", "demo", "--json").stdout)["job_env"] == {}
