"""Running `opcenter workspace …` on a data directory of the test's own, for the workspace
settings tests (job variables, isolation)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from opcenter.cli import cli

ENV = {"OPCENTER_DATA_DIR": "", "OPCENTER_DATABASE_URL": ""}


def run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--data-dir", str(data_dir)], env=ENV)


def demo_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory holding the workspace `demo`; the working directory moves to
    `tmp_path` so that no stray .env file is read."""
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    assert run(data, "workspace", "create", "demo").exit_code == 0
    return data
