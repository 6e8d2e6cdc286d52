"""What an alert looks like on each channel, and sending it there (every call with a timeout).

Webhook formats, chosen per URL (`format_of`):

- `dingtalk` (`oapi.dingtalk.com`, and every `DINGROBOTS` URL):
  `{"msgtype": "markdown", "markdown": {"title", "text"}}`
- `lark` (`open.feishu.cn`, `open.larksuite.com`): `{"msg_type": "text", "content": {"text"}}`
- `wecom` (`qyapi.weixin.qq.com`): `{"msgtype": "markdown", "markdown": {"content"}}`
- `slack` (`hooks.slack.com`): `{"text"}`
- `generic` (any other URL): the alert as JSON (`generic_payload`)

A URL may force its format with a fragment, `https://hooks.example/x#format=lark` (a fragment is
never sent). Every request carries the header `X-Opcenter-Alert-Id`, and every body the AlertId,
so that a receiver can drop the copy a retry may bring (delivery is at least once).

Mail goes over SMTP (settings `smtp_*`, `mail_from`) to an address: a receiver that is one is
used as is; a user name (or UserId) is looked up in `mail_addresses`, else mailed at
`<name>@<mail_domain>`; with neither, the delivery fails for good (`Undeliverable`).
"""

from __future__ import annotations

import datetime as dt
import json
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa

from opcenter.alerts.outbox import Message
from opcenter.settings import Settings
from opcenter.store.db import Database

__all__ = [
    "ALERT_ID_HEADER",
    "FORMATS",
    "Undeliverable",
    "format_of",
    "generic_payload",
    "link",
    "mail_address",
    "payload",
    "post",
    "send_mail",
    "text_lines",
]

ALERT_ID_HEADER = "X-Opcenter-Alert-Id"
FORMATS = ("generic", "dingtalk", "lark", "wecom", "slack")
_HOSTS = {
    "oapi.dingtalk.com": "dingtalk",
    "open.feishu.cn": "lark",
    "open.larksuite.com": "lark",
    "qyapi.weixin.qq.com": "wecom",
    "hooks.slack.com": "slack",
}
_ANSWER_CHARS = 500


class Undeliverable(Exception):
    """Sending cannot succeed however often it is tried (the delivery fails at once)."""


def format_of(channel: str, url: str) -> tuple[str, str]:
    """(format, the URL to post to): `#format=<name>` forces one (and is taken off), a
    DINGROBOTS receiver is always DingTalk, else the URL's host decides (`generic` for any
    other host)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Undeliverable(f"not an http(s) URL: {url!r}")
    fragment = urllib.parse.parse_qs(parts.fragment)
    target = urllib.parse.urlunsplit(parts._replace(fragment=""))
    if channel == "DINGROBOTS":
        return "dingtalk", target
    forced = (fragment.get("format") or [""])[0].lower()
    if forced:
        if forced not in FORMATS:
            raise Undeliverable(
                f"unknown format {forced!r} in the URL (one of: {', '.join(FORMATS)})"
            )
        return forced, target
    return _HOSTS.get((parts.hostname or "").lower(), "generic"), target


def link(base_url: str, message: Message) -> str:
    """The run's page on the console: its Dag, or the console's home without one."""
    base = base_url.rstrip("/")
    return f"{base}/console/dags/{message.dag_id}" if message.dag_id else f"{base}/console/"


def _time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def title(message: Message) -> str:
    where = "/".join(x for x in (message.workspace, message.workflow, message.node_name) if x)
    return message.subject or f"[opcenter] {message.trigger} {where}".rstrip()


def text_lines(message: Message, page: str) -> list[tuple[str, str]]:
    """(label, value) lines of the alert's text, empty values left out."""
    node = message.node_name
    if message.node_id is not None:
        node = f"{node} ({message.node_id})" if node else str(message.node_id)
    lines = [
        ("Rule", f"{message.remind_name} ({message.remind_id})" if message.remind_id else ""),
        ("Trigger", message.trigger),
        ("Workspace", message.workspace),
        ("Workflow", message.workflow),
        ("Node", node),
        ("Owner", message.node_owner),
        ("Instance", str(message.instance_id or "")),
        ("Dag", str(message.dag_id or "")),
        ("Status", message.status or ""),
        ("Business date", message.biz_date or ""),
        ("Time", _time(message.created_at)),
        ("AlertId", str(message.alert_id)),
        ("Link", page),
    ]
    return [(k, v) for k, v in lines if v]


def plain_text(message: Message, page: str) -> str:
    body = [title(message), *(f"{k}: {v}" for k, v in text_lines(message, page))]
    if message.content:
        body += ["", message.content]
    return "\n".join(body)


def _markdown(message: Message, page: str) -> str:
    body = [f"### {title(message)}"]
    body += [f"- **{k}**: {v}" for k, v in text_lines(message, page) if k != "Link"]
    if message.content:
        body += ["", message.content]
    body += ["", f"[Open the run]({page})"]
    return "\n".join(body)


def generic_payload(message: Message, page: str) -> dict[str, Any]:
    """The alert as JSON, for any webhook that is no known robot."""
    return {
        "alertId": message.alert_id,
        "rule": {"id": message.remind_id, "name": message.remind_name},
        "trigger": message.trigger,
        "workspace": {"id": message.workspace_id, "identifier": message.workspace},
        "workflow": {"id": message.workflow_id, "name": message.workflow},
        "node": {"id": message.node_id, "name": message.node_name, "owner": message.node_owner},
        "instanceId": message.instance_id,
        "dagId": message.dag_id,
        "env": message.env,
        "status": message.status,
        "bizDate": message.biz_date,
        "time": _time(message.created_at),
        "link": page,
        "title": title(message),
        "text": plain_text(message, page),
    }


def payload(fmt: str, message: Message, page: str) -> dict[str, Any]:
    """The body of `message` in webhook format `fmt`."""
    if fmt == "dingtalk":
        return {
            "msgtype": "markdown",
            "markdown": {"title": title(message), "text": _markdown(message, page)},
        }
    if fmt == "lark":
        return {"msg_type": "text", "content": {"text": plain_text(message, page)}}
    if fmt == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": _markdown(message, page)}}
    if fmt == "slack":
        return {"text": plain_text(message, page)}
    return generic_payload(message, page)


def post(url: str, body: dict[str, Any], alert_id: int, timeout: float) -> None:
    """POST `body` as JSON; raises on a connection error, a timeout, a status other than 2xx,
    or a robot's answer saying it refused (`errcode`/`code` not 0)."""
    data = json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            ALERT_ID_HEADER: str(alert_id),
            "User-Agent": "opcenter-alerts",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            raw = answer.read(64 * 1024)
    except urllib.error.HTTPError as error:
        detail = error.read(_ANSWER_CHARS).decode(errors="replace")
        raise OSError(f"HTTP {error.code} from {url}: {detail}") from None
    try:
        answer_json = json.loads(raw) if raw else None
    except ValueError:
        return
    if isinstance(answer_json, dict):
        code = answer_json.get("errcode", answer_json.get("code", 0))
        if code not in (0, "0", None):
            text = raw.decode(errors="replace")[:_ANSWER_CHARS]
            raise OSError(f"the receiver at {url} refused the alert: {text}")


def mail_address(db: Database, settings: Settings, receiver: str) -> str:
    """The e-mail address of a MAIL receiver: itself when it is one; else the address
    `mail_addresses` gives its user name (a UserId is read as its user's name first), else
    `<name>@<mail_domain>`. Raises Undeliverable when none applies."""
    if "@" in receiver:
        return receiver
    addresses = dict(settings.mail_addresses)
    names = [receiver]
    from opcenter.store.tables import IamUser

    with db.transaction(readonly=True) as session:
        name = session.scalar(sa.select(IamUser.name).where(IamUser.uid == receiver))
    if name is not None:
        names.insert(0, name)
    for candidate in names:
        if candidate in addresses:
            return addresses[candidate]
    if settings.mail_domain:
        return f"{names[0]}@{settings.mail_domain}"
    raise Undeliverable(
        f"no e-mail address for user {receiver!r}: set OPCENTER_MAIL_ADDRESSES "
        f"({names[0]}=address) or OPCENTER_MAIL_DOMAIN"
    )


def send_mail(settings: Settings, to: str, message: Message, page: str) -> None:
    """Send the alert to `to` over SMTP (STARTTLS and login when set)."""
    if not settings.smtp_host:
        raise Undeliverable("no SMTP server: set OPCENTER_SMTP_HOST to send alert mail")
    mail = EmailMessage()
    mail["Subject"] = title(message)
    mail["From"] = settings.mail_from
    mail["To"] = to
    mail["Message-ID"] = f"<alert-{message.alert_id}@opcenter>"
    mail[ALERT_ID_HEADER] = str(message.alert_id)
    mail.set_content(plain_text(message, page))
    timeout = settings.alert_timeout_seconds
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(mail)
