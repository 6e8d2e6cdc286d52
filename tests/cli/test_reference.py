from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


@pytest.fixture(scope="module")
def reference() -> str:
    # A fresh interpreter: click caches each command's help option once built, so commands
    # invoked by other tests of this process could render differently.
    return subprocess.run(
        [sys.executable, "-m", "opcenter.cli.reference"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_cli_reference_is_current_given_the_commands_of_this_tree(reference: str) -> None:
    # When this fails: `make docs` (python -m opcenter.cli.reference > docs/cli.md)
    assert DOC.read_text(encoding="utf-8") == reference


def test_cli_reference_documents_every_command_with_its_help(reference: str) -> None:
    for command in ("opcenter run", "opcenter serve", "opcenter params eval", "opcenter apply"):
        assert f"## `{command}`" in reference
    assert "Usage: opcenter instance stop" in reference
