from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from opcenter.cli import cli
from opcenter.settings import SettingsError, load_settings


def test_settings_take_the_environment_over_the_dotenv_file(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("OPCENTER_WORKERS=3\nOPCENTER_PORT=9000\n# a comment\n")
    settings = load_settings(environ={"OPCENTER_PORT": "9100"}, dotenv=dotenv)
    assert (settings.workers, settings.port) == (3, 9100)


def test_settings_default_to_sqlite_under_the_data_dir_given_no_database_url(
    tmp_path: Path,
) -> None:
    settings = load_settings(environ={"OPCENTER_DATA_DIR": str(tmp_path)}, dotenv=None)
    assert settings.db_url == f"sqlite:///{(tmp_path / 'opcenter.db').resolve()}"
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    assert load_settings(environ={"OPCENTER_DATABASE_URL": url}, dotenv=None).db_url == url


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("OPCENTER_WORKERS", "two", "Setting OPCENTER_WORKERS='two' is not an integer."),
        ("OPCENTER_WORKERS", "0", "Setting OPCENTER_WORKERS='0' must be at least 1."),
        ("OPCENTER_PORT", "80.5", "Setting OPCENTER_PORT='80.5' is not an integer."),
        ("OPCENTER_TIMEZONE", "Mars/Olympus", "Setting OPCENTER_TIMEZONE='Mars/Olympus' is not"),
        (
            "OPCENTER_LOG_CAP_BYTES",
            str(1024**3 + 1),
            "Setting OPCENTER_LOG_CAP_BYTES='1073741825' must be at most 1073741824.",
        ),
        ("OPCENTER_LOG_CAP_BYTES", "1023", "Setting OPCENTER_LOG_CAP_BYTES='1023' must be at"),
        (
            "OPCENTER_RETENTION_DAYS",
            "-1",
            "Setting OPCENTER_RETENTION_DAYS='-1' must be at least 0.",
        ),
        (
            "OPCENTER_RETENTION_DAYS",
            "1y",
            "Setting OPCENTER_RETENTION_DAYS='1y' is not an integer.",
        ),
        (
            "OPCENTER_RATE_LIMIT_PER_SECOND",
            "fast",
            "Setting OPCENTER_RATE_LIMIT_PER_SECOND='fast' is not a number.",
        ),
        (
            "OPCENTER_STOP_GRACE_SECONDS",
            "-1",
            "Setting OPCENTER_STOP_GRACE_SECONDS='-1' must be 0 or more.",
        ),
    ],
)
def test_settings_fail_naming_the_key_given_a_bad_value(key: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={key: value}, dotenv=None)
    assert caught.value.message.startswith(message)


def test_cli_prints_one_error_line_given_a_bad_setting(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["workspace", "list", "--data-dir", str(tmp_path)],
        env={"OPCENTER_WORKERS": "many"},
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: Setting OPCENTER_WORKERS='many' is not an integer."


def test_settings_read_the_stop_grace_given_the_environment() -> None:
    assert load_settings(environ={}, dotenv=None).stop_grace_seconds == 3.0
    settings = load_settings(environ={"OPCENTER_STOP_GRACE_SECONDS": "0.5"}, dotenv=None)
    assert settings.stop_grace_seconds == 0.5


def test_settings_read_the_api_rate_limit_given_the_environment() -> None:
    settings = load_settings(environ={"OPCENTER_RATE_LIMIT_PER_SECOND": "12.5"}, dotenv=None)
    assert settings.rate_limit_per_second == 12.5


def test_settings_read_the_log_cap_and_retention_given_the_environment() -> None:
    settings = load_settings(
        environ={"OPCENTER_LOG_CAP_BYTES": str(1024**3), "OPCENTER_RETENTION_DAYS": "0"},
        dotenv=None,
    )
    assert (settings.log_cap_bytes, settings.retention_days) == (1024**3, 0)
    assert load_settings(environ={}, dotenv=None).retention_days == 30


def test_settings_default_to_auto_isolation_landlock_and_the_dedicated_job_user() -> None:
    settings = load_settings(environ={}, dotenv=None)
    assert (settings.isolation, settings.sandbox, settings.job_user) == (
        "auto",
        "landlock",
        "opcenter-job",
    )


@pytest.mark.parametrize(
    ("key", "field", "value", "expected"),
    [
        ("OPCENTER_ISOLATION", "isolation", "AUTO", "auto"),
        ("OPCENTER_ISOLATION", "isolation", "Refuse", "refuse"),
        ("OPCENTER_ISOLATION", "isolation", "warn", "warn"),
        ("OPCENTER_SANDBOX", "sandbox", "LandLock", "landlock"),
        ("OPCENTER_SANDBOX", "sandbox", "NONE", "none"),
    ],
)
def test_settings_read_isolation_and_sandbox_case_insensitively(
    key: str, field: str, value: str, expected: str
) -> None:
    settings = load_settings(environ={key: value}, dotenv=None)
    assert getattr(settings, field) == expected


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "OPCENTER_ISOLATION",
            "strict",
            "Setting OPCENTER_ISOLATION='strict' must be one of: auto, refuse, warn.",
        ),
        (
            "OPCENTER_SANDBOX",
            "seccomp",
            "Setting OPCENTER_SANDBOX='seccomp' must be one of: landlock, none.",
        ),
        ("OPCENTER_JOB_USER", "root", "Setting OPCENTER_JOB_USER must not be root"),
        ("OPCENTER_JOB_USER", "0", "Setting OPCENTER_JOB_USER must not be root"),
    ],
)
def test_settings_refuse_naming_the_key_given_a_bad_isolation_setting(
    key: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={key: value}, dotenv=None)
    assert caught.value.message.startswith(message)


def test_settings_read_the_job_user_given_the_environment() -> None:
    settings = load_settings(environ={"OPCENTER_JOB_USER": "etl-jobs"}, dotenv=None)
    assert settings.job_user == "etl-jobs"


def test_settings_default_to_the_local_executor_without_a_broker() -> None:
    settings = load_settings(environ={}, dotenv=None)
    assert (settings.executor, settings.broker_url) == ("local", None)


def test_settings_read_the_celery_executor_and_its_broker() -> None:
    broker = "amqp://guest:guest@127.0.0.1:5672//"
    environ = {"OPCENTER_EXECUTOR": "Celery", "OPCENTER_BROKER_URL": broker}
    settings = load_settings(environ=environ, dotenv=None)
    assert (settings.executor, settings.broker_url) == ("celery", broker)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"OPCENTER_EXECUTOR": "celery"},
            "Setting OPCENTER_EXECUTOR=celery needs OPCENTER_BROKER_URL",
        ),
        (
            {"OPCENTER_EXECUTOR": "k8s"},
            "Setting OPCENTER_EXECUTOR='k8s' must be one of: local, celery.",
        ),
        (
            {"OPCENTER_BROKER_URL": "kafka://127.0.0.1:9092"},
            "Setting OPCENTER_BROKER_URL='kafka://127.0.0.1:9092' must be a RabbitMQ",
        ),
    ],
)
def test_settings_refuse_an_executor_without_a_usable_broker(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=environ, dotenv=None)
    assert caught.value.message.startswith(message)


def test_the_executor_is_built_from_the_settings_in_one_place(tmp_path: Path) -> None:
    from opcenter.runners.executors import executor_from_settings
    from opcenter.runners.local import LocalExecutor
    from opcenter.runners.remote.executor import CeleryExecutor
    from opcenter.store.db import Database

    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    local = executor_from_settings(load_settings(environ={}, dotenv=None), db)
    celery = executor_from_settings(
        load_settings(
            environ={
                "OPCENTER_EXECUTOR": "celery",
                "OPCENTER_BROKER_URL": "redis://127.0.0.1:6379/0",
            },
            dotenv=None,
        ),
        db,
    )
    assert isinstance(local, LocalExecutor)
    assert isinstance(celery, CeleryExecutor)
    assert celery.db is db


def test_worker_prints_one_error_line_given_no_broker(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["worker", "--data-dir", str(tmp_path)], env={})
    assert result.exit_code == 1
    assert result.stderr.strip() == ("Error: OPCENTER_BROKER_URL is not set (amqp:// or redis://).")
