"""`opcenter file diff`: two versions of a file (or a version and the draft) as unified diffs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from opcenter.cli import cli

ENV = {"OPCENTER_DATA_DIR": "", "OPCENTER_DATABASE_URL": ""}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env file is read
    return tmp_path / "data"


def run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--data-dir", str(data_dir)], env=ENV)


def ok(data_dir: Path, *args: str) -> str:
    result = run(data_dir, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def load(data_dir: Path) -> Path:
    """File `load` of workspace `demo`: version 1 submitted, the draft changed since."""
    ok(data_dir, "workspace", "create", "demo")
    ok(data_dir, "workflow", "create", "sales", "-w", "demo")
    ok(
        data_dir, "file", "create", "load", "-w", "demo", "--workflow", "sales", "--type",
        "shell", "--content", "echo load $1\n", "--para-value", "dt=$bizdate", "--input",
        "demo_root",
    )  # fmt: skip
    ok(data_dir, "file", "submit", "load", "-w", "demo")
    ok(
        data_dir, "file", "update", "load", "-w", "demo", "--content",
        "echo load $1\necho done\n", "--para-value", "dt=$bizdate region=cn",
    )  # fmt: skip
    return data_dir


def test_file_diff_shows_the_draft_against_the_newest_version_given_no_versions(
    load: Path,
) -> None:
    assert ok(load, "file", "diff", "load", "-w", "demo") == (
        "--- load v1\n"
        "+++ load draft\n"
        "@@ -1 +1,2 @@\n"
        " echo load $1\n"
        "+echo done\n"
        "--- load v1 settings\n"
        "+++ load draft settings\n"
        "@@ -1 +1 @@\n"
        "-para_value: dt=$bizdate\n"
        "+para_value: dt=$bizdate region=cn\n"
    )


def test_file_diff_shows_the_two_newest_versions_given_a_clean_draft(load: Path) -> None:
    ok(load, "file", "submit", "load", "-w", "demo")
    out = ok(load, "file", "diff", "load", "-w", "demo")
    assert out.splitlines()[:2] == ["--- load v1", "+++ load v2"]
    assert "+para_value: dt=$bizdate region=cn" in out.splitlines()


def test_file_diff_compares_the_versions_named(load: Path) -> None:
    ok(load, "file", "submit", "load", "-w", "demo")
    ok(load, "file", "update", "load", "-w", "demo", "--content", "echo three\n")
    one_draft = ok(load, "file", "diff", "load", "1", "-w", "demo").splitlines()
    draft_two = ok(load, "file", "diff", "load", "draft", "v2", "-w", "demo").splitlines()
    two_one = ok(load, "file", "diff", "load", "2", "1", "-w", "demo").splitlines()
    assert one_draft[:2] == ["--- load v1", "+++ load draft"]
    assert draft_two[:6] == [
        "--- load draft",
        "+++ load v2",
        "@@ -1 +1,2 @@",
        "-echo three",
        "+echo load $1",
        "+echo done",
    ]
    assert two_one[-2:] == ["-para_value: dt=$bizdate region=cn", "+para_value: dt=$bizdate"]


def test_file_diff_says_so_given_equal_sides(load: Path) -> None:
    ok(load, "file", "submit", "load", "-w", "demo")
    assert ok(load, "file", "diff", "load", "2", "-w", "demo") == (
        "No differences between load v2 and draft.\n"
    )


def test_file_diff_prints_json_given_json(load: Path) -> None:
    got = json.loads(ok(load, "file", "diff", "load", "-w", "demo", "--json"))
    assert (got["file_name"], got["old"], got["new"]) == ("load", "v1", "draft")
    assert got["code_diff"].startswith("--- load v1\n+++ load draft\n")
    assert got["settings_diff"].endswith("+para_value: dt=$bizdate region=cn\n")
    assert got["settings"] == [
        {"name": "para_value", "old": "dt=$bizdate", "new": "dt=$bizdate region=cn"}
    ]


def test_file_diff_stays_within_80_columns_given_long_settings(load: Path) -> None:
    outputs = [f"demo.some_rather_long_output_name_number_{n}" for n in range(4)]
    ok(load, "file", "update", "load", "-w", "demo", "--output", ",".join(outputs))
    lines = ok(load, "file", "diff", "load", "-w", "demo").splitlines()
    assert max(len(line) for line in lines) <= 80
    assert [line for line in lines if line.startswith("+output_list")] == [
        f"+output_list: {name}" for name in outputs
    ]


def test_file_diff_fails_given_a_version_the_file_does_not_have(load: Path) -> None:
    result = run(load, "file", "diff", "load", "5", "-w", "demo")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: The file 1 ('load') has no version V1=5.\n",
    )


def test_file_diff_fails_given_a_file_never_submitted(load: Path) -> None:
    ok(load, "file", "create", "fresh", "-w", "demo", "--workflow", "sales", "--type", "shell")
    result = run(load, "file", "diff", "fresh", "-w", "demo")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: The file 2 ('fresh') has never been submitted: it has no version to " "compare.\n"
    )


def test_file_diff_fails_given_a_side_that_is_no_version(load: Path) -> None:
    result = run(load, "file", "diff", "load", "latest", "-w", "demo")
    assert result.exit_code == 2
    assert "'latest' is not a version number (1, 2, …) or 'draft'" in result.stderr
