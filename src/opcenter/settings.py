"""One settings object, built once at start-up from the environment (prefix `OPCENTER_`),
a `.env` file in the working directory, and defaults, in that order; passed explicitly.

Nothing reads `os.environ` at import time. A bad value fails at start-up naming the key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opcenter.errors import InvalidParameter

__all__ = ["DEFAULT_DATA_DIR", "EXECUTORS", "Settings", "SettingsError", "load_settings"]

DEFAULT_DATA_DIR = ".opcenter"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_LOG_CAP_BYTES = 10 * 1024 * 1024  # per instance attempt
MIN_LOG_CAP_BYTES = 1024
MAX_LOG_CAP_BYTES = 1024 * 1024 * 1024  # 1 GiB: a log is a diagnostic, not a data channel
DEFAULT_RETENTION_DAYS = 30  # logs and work directories of finished instances; 0: keep forever
MAX_RETENTION_DAYS = 36_500
DEFAULT_REGION = "cn-shanghai"
DEFAULT_ACCOUNT_ID = "1000000000000000"
DEFAULT_RATE_LIMIT_PER_SECOND = 0.0  # calls per AccessKey per second on the API; 0: no limit
DEFAULT_STOP_GRACE_SECONDS = 3.0  # between SIGTERM and SIGKILL when a job is stopped
# What to do where jobs cannot be isolated (runners/sandbox.py): "auto" refuses PROD jobs and
# runs DEV jobs with a warning; "refuse" refuses both; "warn" runs both with a warning.
ISOLATION_POLICIES = ("auto", "refuse", "warn")
# The kernel sandbox for jobs: "landlock" where the kernel has it, or "none".
SANDBOXES = ("landlock", "none")
DEFAULT_JOB_USER = "opcenter-job"  # the tenant of a workspace that names none (as root)
# A page session signed out after this long without a request.
DEFAULT_SESSION_IDLE_MINUTES = 30
# Where attempts run: "local" (processes of the leading engine) or "celery" (`opcenter worker`).
EXECUTORS = ("local", "celery")
BROKER_SCHEMES = ("amqp", "amqps", "pyamqp", "redis", "rediss")  # RabbitMQ or Redis
LOG_FORMATS = ("text", "json")
# The words a yes/no setting takes (OPCENTER_METRICS, OPCENTER_SMTP_STARTTLS).
_SWITCH = {"on": True, "true": True, "1": True, "yes": True}
_SWITCH |= {"off": False, "false": False, "0": False, "no": False}
DEFAULT_ALERT_MAX_ATTEMPTS = 10  # sending an alert: 5 s, 10 s, 20 s ... 300 s apart, then FAILED
DEFAULT_ALERT_TIMEOUT_SECONDS = 10.0  # each network call of the alert sender


class SettingsError(InvalidParameter):
    """Raised when a setting is missing or cannot be cast; the message names the key."""


def _local_timezone() -> str:
    tz = os.environ.get("TZ")
    if tz:
        return tz
    try:
        link = os.readlink("/etc/localtime")
        return link.split("zoneinfo/", 1)[1]
    except (OSError, IndexError):
        return "UTC"


@dataclass(frozen=True)
class Settings:
    """What the process needs to know; `database_url` defaults to SQLite under `data_dir`."""

    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))
    database_url: str | None = None
    timezone: str = "UTC"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    log_cap_bytes: int = DEFAULT_LOG_CAP_BYTES
    retention_days: int = DEFAULT_RETENTION_DAYS
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    rate_limit_per_second: float = DEFAULT_RATE_LIMIT_PER_SECOND
    secret_key: str | None = None
    root_access_key_id: str | None = None
    root_access_key_secret: str | None = None
    stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS
    isolation: str = "auto"
    sandbox: str = "landlock"
    job_user: str = DEFAULT_JOB_USER
    session_idle_minutes: int = DEFAULT_SESSION_IDLE_MINUTES
    executor: str = "local"  # OPCENTER_EXECUTOR: local (a process pool) or celery (workers)
    broker_url: str | None = None  # OPCENTER_BROKER_URL: the Celery broker (amqp:// or redis://)
    metrics: bool = True  # OPCENTER_METRICS: serve GET /metrics (on) or not (off)
    log_format: str = "text"  # OPCENTER_LOG_FORMAT: text, or json (one object per line)
    # Sending alerts (alerts/sender.py, docs/alerts.md#sending): the page's public address for
    # links, the SMTP server and who a user name is mailed at, and the retry schedule.
    public_url: str | None = None  # OPCENTER_PUBLIC_URL; default http://<host>:<port>
    smtp_host: str | None = None  # OPCENTER_SMTP_HOST; unset: MAIL deliveries fail
    smtp_port: int = 25  # OPCENTER_SMTP_PORT
    smtp_starttls: bool = False  # OPCENTER_SMTP_STARTTLS
    smtp_user: str | None = None  # OPCENTER_SMTP_USER
    smtp_password: str | None = None  # OPCENTER_SMTP_PASSWORD
    mail_from: str = "opcenter@localhost"  # OPCENTER_MAIL_FROM
    mail_addresses: tuple[tuple[str, str], ...] = ()  # OPCENTER_MAIL_ADDRESSES: user=address
    mail_domain: str | None = None  # OPCENTER_MAIL_DOMAIN: <user>@<domain> for the others
    alert_max_attempts: int = DEFAULT_ALERT_MAX_ATTEMPTS  # OPCENTER_ALERT_MAX_ATTEMPTS
    alert_timeout_seconds: float = DEFAULT_ALERT_TIMEOUT_SECONDS  # OPCENTER_ALERT_TIMEOUT_SECONDS

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'opcenter.db').resolve()}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip().strip("'\"")
    return values


def _int(key: str, value: str, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"Setting {key}={value!r} is not an integer.") from None
    if number < minimum:
        raise SettingsError(f"Setting {key}={value!r} must be at least {minimum}.")
    if maximum is not None and number > maximum:
        raise SettingsError(f"Setting {key}={value!r} must be at most {maximum}.")
    return number


def _float(key: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"Setting {key}={value!r} is not a number.") from None
    if not number >= 0:
        raise SettingsError(f"Setting {key}={value!r} must be 0 or more.")
    return number


def _choice(key: str, value: str, choices: tuple[str, ...]) -> str:
    if value.lower() not in choices:
        raise SettingsError(f"Setting {key}={value!r} must be one of: {', '.join(choices)}.")
    return value.lower()


def _alert_settings(get: Callable[[str], str | None]) -> dict[str, object]:
    """The OPCENTER_* settings of the alert sender (alerts/sender.py)."""
    found: dict[str, object] = {}
    if (v := get("PUBLIC_URL")) is not None:
        if not v.startswith(("http://", "https://")):
            raise SettingsError(f"Setting OPCENTER_PUBLIC_URL={v!r} must be an http(s) URL.")
        found["public_url"] = v.rstrip("/")
    if (v := get("SMTP_PORT")) is not None:
        found["smtp_port"] = _int("OPCENTER_SMTP_PORT", v, minimum=1, maximum=65535)
    if (v := get("SMTP_STARTTLS")) is not None:
        found["smtp_starttls"] = _SWITCH[_choice("OPCENTER_SMTP_STARTTLS", v, tuple(_SWITCH))]
    if (v := get("MAIL_ADDRESSES")) is not None:
        pairs = [item.split("=", 1) for item in v.split(",") if item.strip()]
        if any(len(p) != 2 or "@" not in p[1] or not p[0].strip() for p in pairs):
            raise SettingsError(
                f"Setting OPCENTER_MAIL_ADDRESSES={v!r} must read user=address,user=address."
            )
        found["mail_addresses"] = tuple((name.strip(), addr.strip()) for name, addr in pairs)
    if (v := get("ALERT_MAX_ATTEMPTS")) is not None:
        found["alert_max_attempts"] = _int("OPCENTER_ALERT_MAX_ATTEMPTS", v, minimum=1, maximum=50)
    if (v := get("ALERT_TIMEOUT_SECONDS")) is not None:
        found["alert_timeout_seconds"] = _float("OPCENTER_ALERT_TIMEOUT_SECONDS", v) or 0.1
    for name in ("SMTP_HOST", "SMTP_USER", "SMTP_PASSWORD", "MAIL_FROM", "MAIL_DOMAIN"):
        if (v := get(name)) is not None:
            found[name.lower()] = v
    return found


def load_settings(
    environ: Mapping[str, str] | None = None,
    dotenv: Path | None = Path(".env"),
    **overrides: object,
) -> Settings:
    """Build the settings: explicit overrides > environment > `.env` > defaults."""
    env = dict(_read_dotenv(dotenv)) if dotenv is not None else {}
    env.update(os.environ if environ is None else environ)

    def get(name: str) -> str | None:
        value = env.get(f"OPCENTER_{name}")
        return value if value not in (None, "") else None

    kwargs: dict[str, object] = {"timezone": get("TIMEZONE") or _local_timezone()}
    if (v := get("DATA_DIR")) is not None:
        kwargs["data_dir"] = Path(v)
    if (v := get("DATABASE_URL")) is not None:
        kwargs["database_url"] = v
    if (v := get("WORKERS")) is not None:
        kwargs["workers"] = _int("OPCENTER_WORKERS", v, minimum=1)
    if (v := get("HOST")) is not None:
        kwargs["host"] = v
    if (v := get("PORT")) is not None:
        kwargs["port"] = _int("OPCENTER_PORT", v, minimum=1)
    if (v := get("LOG_CAP_BYTES")) is not None:
        kwargs["log_cap_bytes"] = _int(
            "OPCENTER_LOG_CAP_BYTES", v, minimum=MIN_LOG_CAP_BYTES, maximum=MAX_LOG_CAP_BYTES
        )
    if (v := get("RETENTION_DAYS")) is not None:
        kwargs["retention_days"] = _int("OPCENTER_RETENTION_DAYS", v, maximum=MAX_RETENTION_DAYS)
    if (v := get("RATE_LIMIT_PER_SECOND")) is not None:
        kwargs["rate_limit_per_second"] = _float("OPCENTER_RATE_LIMIT_PER_SECOND", v)
    if (v := get("STOP_GRACE_SECONDS")) is not None:
        kwargs["stop_grace_seconds"] = _float("OPCENTER_STOP_GRACE_SECONDS", v)
    if (v := get("SESSION_IDLE_MINUTES")) is not None:
        kwargs["session_idle_minutes"] = _int(
            "OPCENTER_SESSION_IDLE_MINUTES", v, minimum=1, maximum=7 * 24 * 60
        )
    if (v := get("ISOLATION")) is not None:
        kwargs["isolation"] = _choice("OPCENTER_ISOLATION", v, ISOLATION_POLICIES)
    if (v := get("SANDBOX")) is not None:
        kwargs["sandbox"] = _choice("OPCENTER_SANDBOX", v, SANDBOXES)
    if (v := get("JOB_USER")) is not None:
        if v == "root" or v == "0":
            raise SettingsError(
                "Setting OPCENTER_JOB_USER must not be root: jobs never run as root."
            )
        kwargs["job_user"] = v
    if (v := get("METRICS")) is not None:
        kwargs["metrics"] = _SWITCH[_choice("OPCENTER_METRICS", v, tuple(_SWITCH))]
    if (v := get("LOG_FORMAT")) is not None:
        kwargs["log_format"] = _choice("OPCENTER_LOG_FORMAT", v, LOG_FORMATS)
    if (v := get("EXECUTOR")) is not None:
        kwargs["executor"] = _choice("OPCENTER_EXECUTOR", v, EXECUTORS)
    if (v := get("BROKER_URL")) is not None:
        if v.split("://", 1)[0].lower() not in BROKER_SCHEMES or "://" not in v:
            raise SettingsError(
                f"Setting OPCENTER_BROKER_URL={v!r} must be a RabbitMQ (amqp://) "
                "or Redis (redis://) URL."
            )
        kwargs["broker_url"] = v
    kwargs.update(_alert_settings(get))
    for name in (
        "REGION",
        "ACCOUNT_ID",
        "SECRET_KEY",
        "ROOT_ACCESS_KEY_ID",
        "ROOT_ACCESS_KEY_SECRET",
    ):
        if (v := get(name)) is not None:
            kwargs[name.lower()] = v
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    if isinstance(kwargs.get("data_dir"), str):
        kwargs["data_dir"] = Path(str(kwargs["data_dir"]))
    settings = Settings(**kwargs)  # type: ignore[arg-type]
    if settings.executor == "celery" and not settings.broker_url:
        raise SettingsError(
            "Setting OPCENTER_EXECUTOR=celery needs OPCENTER_BROKER_URL "
            "(e.g. amqp://guest:guest@127.0.0.1:5672// or redis://127.0.0.1:6379/0)."
        )
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"Setting OPCENTER_TIMEZONE={settings.timezone!r} is not a known zone."
        ) from None
    return settings
