"""`opcenter apply FILE --endpoint HOST:PORT`: the definition is sent to a running server
(ApplyWorkflowDefinition, docs/api.md) instead of being applied to a local store. The
`--endpoint` options are shared with `opcenter run` (whose path is `_remote_run`).

The request is signed with an AccessKey (`--access-key-id` / `--access-key-secret`, or
OPCENTER_ACCESS_KEY_ID / OPCENTER_ACCESS_KEY_SECRET) as the official SDK signs it
(cli/_api_client.py, standard library only), so the server decides it as every other call:
same signature, same authorization.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from opcenter.cli._output import CommandFailed

if TYPE_CHECKING:
    from opcenter.service.definitions import ApplyReport

__all__ = ["apply_remotely", "endpoint_options", "endpoint_options_saying", "report_of"]

ACTION = "ApplyWorkflowDefinition"


def endpoint_options(command: Any) -> Any:
    """`--endpoint`, `--access-key-id`, `--access-key-secret` of `opcenter apply`."""
    return endpoint_options_saying(
        "Send the file to the opcenter server at HOST:PORT (ApplyWorkflowDefinition) "
        "instead of applying it to the local store (--data-dir is then not used)."
    )(command)


def endpoint_options_saying(endpoint_help: str) -> Any:
    """A decorator adding `--endpoint` (its help `endpoint_help`), `--access-key-id`,
    `--access-key-secret` (the latter two from the environment: OPCENTER_ACCESS_KEY_ID,
    OPCENTER_ACCESS_KEY_SECRET)."""
    return functools.partial(_add_endpoint_options, endpoint_help=endpoint_help)


def _add_endpoint_options(command: Any, *, endpoint_help: str) -> Any:
    options = [
        click.option("--endpoint", default=None, metavar="HOST:PORT", help=endpoint_help),
        click.option(
            "--access-key-id",
            envvar="OPCENTER_ACCESS_KEY_ID",
            default=None,
            help="With --endpoint: the AccessKey id signing the request "
            "[env: OPCENTER_ACCESS_KEY_ID].",
        ),
        click.option(
            "--access-key-secret",
            envvar="OPCENTER_ACCESS_KEY_SECRET",
            default=None,
            help="With --endpoint: the AccessKey secret [env: OPCENTER_ACCESS_KEY_SECRET].",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def apply_remotely(
    path: Path,
    *,
    endpoint: str,
    access_key_id: str | None,
    access_key_secret: str | None,
    workspace: str,
    deploy: bool,
    create_workspace: bool,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Send the file's text to `endpoint`; the report the server answers (`Data`).

    A refusal of the server → CommandFailed naming its code and message."""
    if not access_key_id or not access_key_secret:
        raise CommandFailed(
            "--endpoint needs an AccessKey: --access-key-id and --access-key-secret, or "
            "OPCENTER_ACCESS_KEY_ID and OPCENTER_ACCESS_KEY_SECRET."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandFailed(f"Cannot read definition file {str(path)!r}: {exc}") from None
    body = {
        "ProjectIdentifier": workspace,
        "Definition": text,
        "Deploy": "true" if deploy else "false",
        "CreateWorkspace": "true" if create_workspace else "false",
        **(extra or {}),
    }
    answer = _call(endpoint, access_key_id, access_key_secret, body)
    data = answer.get("Data")
    if not isinstance(data, dict):
        raise CommandFailed(f"The server at {endpoint} answered no report: {answer!r}")
    return data


def _call(endpoint: str, key_id: str, secret: str, body: dict[str, str]) -> dict[str, Any]:
    """One ApplyWorkflowDefinition call (a refusal: CommandFailed `<Code>: <Message>`)."""
    from opcenter.cli._api_client import ApiClient

    client = ApiClient(endpoint, key_id, secret)
    try:
        return dict(client.call(ACTION, dict(body)))
    finally:
        client.close()


def report_of(data: Mapping[str, Any]) -> ApplyReport:
    """The ApplyReport of the server's `Data` (the fields this client knows; `changed` is
    computed again)."""
    from opcenter.service.definitions import ApplyReport, FileOutcome

    def build(cls: Any, values: Mapping[str, Any]) -> Any:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    report = build(ApplyReport, data)
    files = tuple(build(FileOutcome, f) for f in data.get("files") or ())
    return dataclasses.replace(
        report, files=files, not_in_definition=tuple(data.get("not_in_definition") or ())
    )
