"""A real uvicorn server running the RPC app on 127.0.0.1 in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from opcenter.api.app import create_app
from opcenter.api.rpc import Registry, allow_all
from opcenter.api.signature import ResolvedKey, StaticKeyResolver, root_key
from opcenter.store.db import Database

ACCESS_KEY_ID = "LTAI-test-root"
ACCESS_KEY_SECRET = "test-secret-0123456789"
ACCOUNT_ID = "1234567890"
DISABLED_KEY_ID = "LTAI-test-disabled"
DISABLED_KEY_SECRET = "disabled-secret"
STARTUP_TIMEOUT_SECONDS = 10


def make_key_resolver() -> StaticKeyResolver:
    """The root key plus a disabled key."""
    return StaticKeyResolver(
        {
            ACCESS_KEY_ID: root_key(ACCESS_KEY_ID, ACCESS_KEY_SECRET, account_id=ACCOUNT_ID),
            DISABLED_KEY_ID: ResolvedKey(
                access_key_id=DISABLED_KEY_ID,
                secret=DISABLED_KEY_SECRET,
                principal=f"acs:ram::{ACCOUNT_ID}:user/disabled",
                enabled=False,
                account_id=ACCOUNT_ID,
            ),
        }
    )


@dataclass
class RunningServer:
    """A served app: `endpoint` is `127.0.0.1:<port>` (no scheme), as the SDK Config wants."""

    app: Any
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}/"


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the main thread keeps its own handlers
        pass


def _start(app: Any) -> tuple[_ThreadServer, threading.Thread, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    return server, thread, port


ServerFactory = Callable[..., RunningServer]


def _factory(stack: list[tuple[_ThreadServer, threading.Thread]]) -> ServerFactory:
    def rpc_server(registry: Registry, **options: Any) -> RunningServer:
        """Serve `create_app(registry=registry, **options)`; defaults: test keys, no services,
        the allow-all stand-in authorizer (passed explicitly: the app has no default)."""
        options.setdefault("key_resolver", make_key_resolver())
        options.setdefault("authorize", allow_all)
        options.setdefault("services", None)
        app = create_app(registry=registry, **options)
        server, thread, port = _start(app)
        stack.append((server, thread))
        return RunningServer(app=app, host="127.0.0.1", port=port)

    return rpc_server


def _stop(stack: list[tuple[_ThreadServer, threading.Thread]]) -> None:
    for server, thread in stack:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT_SECONDS)


@pytest.fixture
def rpc_server() -> Iterator[ServerFactory]:
    """Factory: `rpc_server(registry, **create_app_options) -> RunningServer`; stops them all."""
    stack: list[tuple[_ThreadServer, threading.Thread]] = []
    yield _factory(stack)
    _stop(stack)


@pytest.fixture(scope="module")
def module_rpc_server() -> Iterator[ServerFactory]:
    """The same factory, with servers living for the whole test module."""
    stack: list[tuple[_ThreadServer, threading.Thread]] = []
    yield _factory(stack)
    _stop(stack)


# --- a live opcenter (store, engine, server) per test module, for the operation tests ----------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_db: Database) -> Iterator[Any]:
    """A real opcenter for the module: store, engine and server on 127.0.0.1; the module runs
    on SQLite, then on PostgreSQL (`module_db`)."""
    from tests.api.opsupport import live_opcenter

    yield from live_opcenter(tmp_path_factory, module_db)


@pytest.fixture(scope="module")
def client(live: Any) -> Any:
    """The official SDK client, signed with the live server's root key."""
    return live.client()
