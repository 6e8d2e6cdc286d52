from __future__ import annotations

from pathlib import Path

from opcenter.cli.reference import render_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_is_current_given_the_commands_of_this_tree() -> None:
    # When this fails: `.venv/bin/python -m opcenter.cli.reference > docs/cli.md`
    assert DOC.read_text(encoding="utf-8") == render_reference()


def test_cli_reference_documents_every_command_with_its_help() -> None:
    text = render_reference()
    for command in ("opcenter run", "opcenter serve", "opcenter params eval", "opcenter apply"):
        assert f"## `{command}`" in text
    assert "Usage: opcenter instance stop" in text
