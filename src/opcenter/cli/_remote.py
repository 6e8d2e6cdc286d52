"""`opcenter apply FILE --endpoint HOST:PORT`: the definition is sent to a running server
(ApplyWorkflowDefinition, docs/api.md) instead of being applied to a local store. The
`--endpoint` options are shared with `opcenter run` (whose path is `_remote_run`).

The request is signed with an AccessKey (`--access-key-id` / `--access-key-secret`, or
OPCENTER_ACCESS_KEY_ID / OPCENTER_ACCESS_KEY_SECRET) through the official SDK's generic
`call_api`, so the server decides it as every other call: same signature, same authorization.
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
VERSION = "2020-05-18"


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
    from alibabacloud_tea_openapi import models as open_api_models
    from alibabacloud_tea_openapi import utils_models as open_api_util_models
    from alibabacloud_tea_openapi.client import Client
    from darabonba.exceptions import DaraException
    from darabonba.runtime import RuntimeOptions

    host = endpoint.removeprefix("http://").removeprefix("https://").rstrip("/")
    protocol = "https" if endpoint.startswith("https://") else "http"
    client = Client(
        open_api_models.Config(
            access_key_id=key_id,
            access_key_secret=secret,
            endpoint=host,
            protocol=protocol,
        )
    )
    params = open_api_util_models.Params(
        action=ACTION,
        version=VERSION,
        protocol="HTTPS" if protocol == "https" else "HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = open_api_util_models.OpenApiRequest(body=body)
    try:
        answer = client.call_api(params, request, RuntimeOptions(autoretry=False))
    except DaraException as exc:
        code = getattr(exc, "code", "") or type(exc).__name__
        data = getattr(exc, "data", None)
        message = data.get("Message") if isinstance(data, dict) else None
        raise CommandFailed(f"{code}: {message or exc}") from None
    except Exception as exc:  # the transport: refused connection, unknown host, timeout
        raise CommandFailed(f"Cannot reach the server at {endpoint}: {exc}") from None
    return dict(answer.get("body") or {})


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
