"""The CLI reference (docs/cli.md), generated from every command's `--help`.

`python -m opcenter.cli.reference > docs/cli.md` writes it; a test checks the file is current.
"""

from __future__ import annotations

import click

__all__ = ["render_reference"]

_WIDTH = 100


def _walk(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1])
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None:
                found.extend(_walk(sub, [*path, name]))
    return found


def _help_text(command: click.Command, path: list[str]) -> str:
    ctx = click.Context(
        command,
        info_name=" ".join(path),
        terminal_width=_WIDTH,
        max_content_width=_WIDTH,
        help_option_names=["-h", "--help"],  # as the root group sets for every command
    )
    return command.get_help(ctx)


def render_reference() -> str:
    """Markdown with one section per command, in tree order, each holding its `--help`."""
    from opcenter.cli import cli

    lines = [
        "# opcenter CLI reference",
        "",
        "Generated from `--help` by `python -m opcenter.cli.reference`; do not edit by hand.",
        "",
    ]
    for path, command in _walk(cli, ["opcenter"]):
        if command.hidden:
            continue
        lines += [
            f"## `{' '.join(path)}`",
            "",
            "```",
            _help_text(command, path).rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_reference(), end="")
