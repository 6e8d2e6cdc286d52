"""The CLI reference (docs/cli.md), generated from every command's `--help`.

`python -m opcenter.cli.reference > docs/cli.md` writes it; a test checks the file is current.
"""

from __future__ import annotations

import click

__all__ = ["render_reference"]

_WIDTH = 100

# What holds for every command (written once here rather than in each command's help).
_CONVENTIONS = """\
## Conventions

- `--data-dir DIR` may be given right after `opcenter`, after a command group or after the
  command (`opcenter --data-dir D node list`, `opcenter node --data-dir D list`, `opcenter node
  list --data-dir D`); the one nearest the command wins. Default: `OPCENTER_DATA_DIR`, else
  `./.opcenter`. Only `params` (which reads no store) takes none.
- `-w/--workspace IDENTIFIER` names a workspace; `--env` takes `PROD` or `DEV`, in any case.
- Dates are typed `yyyy-mm-dd` or `yyyymmdd`.
- Tables show times as `yyyy-mm-dd hh:mm:ss` and business dates as `yyyy-mm-dd`, in the store's
  time zone (`OPCENTER_TIMEZONE`); `--json` writes the same fields in ISO 8601
  (`2024-02-01T00:00:00.000+08:00`, `2024-01-31`).
- Listings page: `--page N` (from 1) and `--page-size N` (1 to 100); the table's last line says
  how to get the next page.
- Errors are one line `Error: …` on stderr, naming the option and the value as typed; a very long
  value is shown cut, with its length.
- Exit status: 0 on success; 1 when the operation failed (refused by the store's rules, or a run
  `--wait` followed ended in failure); 2 for a malformed command line (an unknown option, a
  value of the wrong form, and for `params eval` a malformed expression or a value out of
  range).""".splitlines()


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
        *_CONVENTIONS,
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
