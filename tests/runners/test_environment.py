"""The clean job environment: an allow-list of the server's variables plus the attempt's own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from opcenter.runners.environment import job_environment
from opcenter.runners.local import LocalExecutor
from opcenter.runners.python import PythonRunner
from opcenter.runners.sql import URL_ENV, SqlRunner
from tests.runners._support import Recorder, SpecFactory, run_one

SECRETS = {
    "OPCENTER_ROOT_ACCESS_KEY_SECRET": "root-secret",
    "OPCENTER_SECRET_KEY": "session-key",
    "OPCENTER_DATABASE_URL": "postgresql://opcenter:pw@db/opcenter",
    "DATABASE_URL": "postgresql://app:pw@db/app",
    "AWS_SECRET_ACCESS_KEY": "cloud-secret",
}
ALLOWED = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/ops",
    "USER": "ops",
    "LOGNAME": "ops",
    "SHELL": "/bin/bash",
    "LANG": "C.UTF-8",
    "LANGUAGE": "en",
    "LC_ALL": "C.UTF-8",
    "LC_TIME": "C",
    "TZ": "UTC",
    "TMPDIR": "/tmp",
}


def test_job_environment_keeps_only_the_allow_list_given_a_server_full_of_secrets() -> None:
    server = {**SECRETS, **ALLOWED, "PYTHONPATH": "/srv", "TERM": "xterm"}

    env = job_environment({"OPCENTER_INSTANCE_ID": "7", "TZ": "Asia/Shanghai"}, server=server)

    assert env == {**ALLOWED, "OPCENTER_INSTANCE_ID": "7", "TZ": "Asia/Shanghai"}


def test_job_environment_has_a_path_given_a_server_without_one() -> None:
    assert job_environment({}, server={}) == {"PATH": os.defpath}


@pytest.fixture
def server_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_TIME", "C")


@pytest.mark.usefixtures("server_secrets")
def test_a_shell_job_sees_no_server_secret_given_them_in_the_servers_environment(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory
) -> None:
    spec = make_spec(1, "env", env={"OPCENTER_INSTANCE_ID": "1", "TEAM_BUCKET": "s3://b"})

    run_one(executor, recorder, spec)

    lines = spec.log_path.read_text().splitlines()
    names = {line.split("=", 1)[0] for line in lines if "=" in line}
    assert not names & set(SECRETS)
    assert {"PATH", "HOME", "LC_TIME", "OPCENTER_INSTANCE_ID", "TEAM_BUCKET"} <= names
    assert "TEAM_BUCKET=s3://b" in lines
    assert not any(value in "\n".join(lines) for value in SECRETS.values())


@pytest.mark.usefixtures("server_secrets")
def test_python_and_sql_commands_carry_no_server_secret_given_them_in_the_servers_environment(
    make_spec: SpecFactory, tmp_path: Path
) -> None:
    node_url = f"sqlite:///{tmp_path / 'job.db'}"
    specs = [
        make_spec(1, "print(1)", env={"OPCENTER_ATTEMPT": "1"}),
        make_spec(2, "select 1", sql_url=node_url),
    ]
    for spec in specs:
        spec.workdir.mkdir(parents=True)  # the executor's part
    python, sql = PythonRunner().prepare(specs[0]), SqlRunner().prepare(specs[1])

    for command in (python, sql):
        assert not set(command.env) & set(SECRETS)
    assert python.env["OPCENTER_ATTEMPT"] == "1"
    assert sql.env[URL_ENV] == node_url  # the node's own connection, not the store's
