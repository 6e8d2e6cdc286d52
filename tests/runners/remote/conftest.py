"""A Celery cluster on this machine for the remote-executor tests: a fresh PostgreSQL schema, a
broker of its own (a RabbitMQ virtual host, or a Redis database, made for the test), `opcenter
worker` subprocesses, and an engine in the test process with a `CeleryExecutor`. A broker that
is unreachable skips locally and fails under CI=true."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from opcenter.engine.scheduler import Engine
from opcenter.runners.remote.executor import CeleryExecutor
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from opcenter.store.db import Database
from tests.conftest import PG_URL, store_url

OPCENTER = Path(sys.executable).with_name("opcenter")
RABBIT = ("127.0.0.1", 5672)
REDIS = ("127.0.0.1", 6379)


def _reachable(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError:
        return False
    return True


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true"):
        pytest.fail(f"{what} is unreachable (required under CI=true)")
    pytest.skip(f"{what} is unreachable")


def _rabbitmqctl(*args: str) -> bool:
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        return False
    done = subprocess.run([tool, *args], capture_output=True, timeout=60)
    return done.returncode == 0


@pytest.fixture
def rabbitmq_url() -> Iterator[str]:
    """A RabbitMQ virtual host of the test's own (the default one where `rabbitmqctl` is not
    at hand), so no other test's worker takes its messages."""
    if not _reachable(RABBIT):
        _missing("RabbitMQ at 127.0.0.1:5672")
    vhost = f"t_{uuid.uuid4().hex[:10]}"
    if not _rabbitmqctl("add_vhost", vhost):
        yield "amqp://guest:guest@127.0.0.1:5672//"
        return
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database (1..15) of the test's own, emptied afterwards."""
    if not _reachable(REDIS):
        _missing("Redis at 127.0.0.1:6379")
    import redis

    number = random.randint(1, 15)
    url = f"redis://127.0.0.1:6379/{number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def pg_db(pg_schema: str) -> Iterator[Database]:
    db = Database(PG_URL, schema=pg_schema)
    db.migrate()
    yield db
    db.dispose()


@pytest.fixture
def cctx(pg_db: Database, tmp_path: Path) -> ServiceContext:
    """The scheduler's context: the PostgreSQL store and a data directory of its own."""
    settings = load_settings(
        environ={}, dotenv=None, data_dir=tmp_path / "scheduler", timezone="UTC"
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return ServiceContext(db=pg_db, settings=settings)


class Worker:
    """`opcenter worker` as a subprocess, with a data directory of its own."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], output: Path) -> None:
        self.name, self.process, self.output = name, process, output

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_worker(tmp_path: Path, pg_db: Database) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(broker: str, name: str, queues: str = "default", concurrency: int = 2) -> Worker:
        data = tmp_path / name
        data.mkdir(parents=True, exist_ok=True)
        output = tmp_path / f"{name}.out"
        env = {
            **os.environ,
            "OPCENTER_DATABASE_URL": store_url(pg_db),
            "OPCENTER_BROKER_URL": broker,
            "OPCENTER_DATA_DIR": str(data),
            "OPCENTER_TIMEZONE": "UTC",
            "OPCENTER_STOP_GRACE_SECONDS": "1",
        }
        with open(output, "wb") as out:
            process = subprocess.Popen(
                [
                    str(OPCENTER),
                    "worker",
                    "--queues",
                    queues,
                    "--concurrency",
                    str(concurrency),
                    "--name",
                    name,
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(name, process, output)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def start_celery_engine() -> Iterator[Callable[..., Engine]]:
    started: list[Engine] = []

    def start(ctx: ServiceContext, broker: str) -> Engine:
        engine = Engine(ctx, CeleryExecutor(ctx.db, broker), poll_seconds=0.1)
        engine.start()
        started.append(engine)
        return engine

    yield start
    for engine in started:
        engine.stop()
