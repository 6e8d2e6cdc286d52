"""Which format a webhook URL gets, how a mail recipient becomes an address, and the alert
settings read from the environment."""

from __future__ import annotations

import pytest

from opcenter.alerts.channels import Undeliverable, format_of, mail_address
from opcenter.service import iam
from opcenter.service.context import ServiceContext
from opcenter.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("channel", "url", "expected"),
    [
        ("WEBHOOKS", "https://oapi.dingtalk.com/robot/send?access_token=t", "dingtalk"),
        ("WEBHOOKS", "https://open.feishu.cn/open-apis/bot/v2/hook/x", "lark"),
        ("WEBHOOKS", "https://open.larksuite.com/open-apis/bot/v2/hook/x", "lark"),
        ("WEBHOOKS", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", "wecom"),
        ("WEBHOOKS", "https://hooks.slack.com/services/T/B/X", "slack"),
        ("WEBHOOKS", "https://alerts.example.com/in", "generic"),
        ("WEBHOOKS", "https://HOOKS.SLACK.COM/services/T/B/X", "slack"),
        ("DINGROBOTS", "https://robots.example.com/send", "dingtalk"),
        ("DINGROBOTS", "https://hooks.slack.com/x#format=slack", "dingtalk"),
    ],
)
def test_the_host_or_the_method_chooses_the_format(channel: str, url: str, expected: str) -> None:
    assert format_of(channel, url) == (expected, url.split("#")[0])


def test_a_fragment_forces_a_format_and_is_not_sent() -> None:
    assert format_of("WEBHOOKS", "http://127.0.0.1:9/x?a=1#format=wecom") == (
        "wecom",
        "http://127.0.0.1:9/x?a=1",
    )
    with pytest.raises(Undeliverable, match="unknown format 'teams'"):
        format_of("WEBHOOKS", "http://127.0.0.1:9/x#format=teams")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://h/x", "http:///x", "hooks/x"])
def test_only_http_urls_are_posted_to(url: str) -> None:
    with pytest.raises(Undeliverable, match="not an http"):
        format_of("WEBHOOKS", url)


def test_a_recipient_is_an_address_a_mapped_user_or_a_user_of_the_mail_domain(
    sqlite_ctx: ServiceContext,
) -> None:
    alice = iam.create_user(sqlite_ctx, user_name="alice")
    mapped = load_settings(
        environ={"OPCENTER_MAIL_ADDRESSES": "alice=a.l@corp.test, root=root@corp.test"},
        dotenv=None,
    )
    db = sqlite_ctx.db
    assert mail_address(db, mapped, "x@y.test") == "x@y.test"
    assert mail_address(db, mapped, "alice") == "a.l@corp.test"
    assert mail_address(db, mapped, alice.uid) == "a.l@corp.test"  # a UserId: its user's name
    assert mail_address(db, mapped, "root") == "root@corp.test"
    with pytest.raises(Undeliverable, match="no e-mail address for user 'bob'"):
        mail_address(db, mapped, "bob")
    domain = load_settings(environ={"OPCENTER_MAIL_DOMAIN": "corp.test"}, dotenv=None)
    assert mail_address(db, domain, "bob") == "bob@corp.test"
    assert mail_address(db, domain, alice.uid) == "alice@corp.test"


def test_alert_settings_are_read_and_checked() -> None:
    settings = load_settings(
        environ={
            "OPCENTER_SMTP_HOST": "smtp.test",
            "OPCENTER_SMTP_PORT": "587",
            "OPCENTER_SMTP_STARTTLS": "true",
            "OPCENTER_SMTP_USER": "u",
            "OPCENTER_SMTP_PASSWORD": "p",
            "OPCENTER_MAIL_FROM": "ops@test",
            "OPCENTER_PUBLIC_URL": "https://opcenter.test/",
            "OPCENTER_ALERT_MAX_ATTEMPTS": "4",
            "OPCENTER_ALERT_TIMEOUT_SECONDS": "2.5",
        },
        dotenv=None,
    )
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == (
        "smtp.test",
        587,
        True,
    )
    assert (settings.smtp_user, settings.smtp_password, settings.mail_from) == (
        "u",
        "p",
        "ops@test",
    )
    assert settings.public_url == "https://opcenter.test"
    assert (settings.alert_max_attempts, settings.alert_timeout_seconds) == (4, 2.5)
    defaults = load_settings(environ={}, dotenv=None)
    assert (defaults.smtp_host, defaults.smtp_starttls, defaults.alert_max_attempts) == (
        None,
        False,
        10,
    )
    for key, value, message in [
        ("OPCENTER_MAIL_ADDRESSES", "alice", "must read user=address"),
        ("OPCENTER_PUBLIC_URL", "opcenter.test", "must be an http\\(s\\) URL"),
        ("OPCENTER_SMTP_STARTTLS", "maybe", "must be one of"),
        ("OPCENTER_ALERT_MAX_ATTEMPTS", "0", "must be at least 1"),
    ]:
        with pytest.raises(SettingsError, match=message):
            load_settings(environ={key: value}, dotenv=None)
