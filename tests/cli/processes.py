"""`opcenter serve`, `scheduler` and `worker` as separate processes for tests: started with an
environment of their own, their output in a file, their endpoints read from what they print."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

OPCENTER = Path(sys.executable).with_name("opcenter")
ROOT_KEY_ID, ROOT_KEY_SECRET = "LTAI-procs-root", "procs-secret-0123456789"
# Every process on one store seals and opens AccessKey secrets with one server key.
SERVER_KEY = "aSUPBSydbEoWVU62e15r8c9x0quBDiQQnmTMIhMKXvc="
_ENDPOINT = {
    "serve": re.compile(r"OpenAPI endpoint: http://([\d.]+:\d+)/"),
    "scheduler": re.compile(r"Health: http://([\d.]+:\d+)/"),
}


class Proc:
    """One `opcenter serve …`, `scheduler …` or `worker …` process on the store at `url`."""

    def __init__(
        self, command: str, url: str, data_dir: Path, out: Path, *args: str, **env: str
    ) -> None:
        self.command, self.url, self.data_dir, self.out = command, url, data_dir, out
        self.args, self.env = args, env
        self.process: subprocess.Popen[bytes] | None = None
        self._endpoint: str | None = None

    def start(self) -> Proc:
        env = {**os.environ, "OPCENTER_TIMEZONE": "UTC", "OPCENTER_DATABASE_URL": self.url,
               "OPCENTER_ROOT_ACCESS_KEY_ID": ROOT_KEY_ID,
               "OPCENTER_ROOT_ACCESS_KEY_SECRET": ROOT_KEY_SECRET,
               "OPCENTER_SECRET_KEY": SERVER_KEY, **self.env}  # fmt: skip
        port = {"serve": ["--port", "0"], "scheduler": ["--health-port", "0"]}.get(self.command, [])
        with open(self.out, "wb") as out:
            self.process = subprocess.Popen(
                [str(OPCENTER), self.command, "--data-dir", str(self.data_dir), *port, *self.args],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=self.data_dir.parent,
            )  # fmt: skip
        return self

    @property
    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def said(self, text: str) -> bool:
        return text in self.output

    def endpoint(self, timeout: float = 60.0) -> str:
        """host:port of the API (serve) or of the health port (scheduler), once printed."""
        deadline = time.monotonic() + timeout
        while self._endpoint is None:
            found = _ENDPOINT[self.command].search(self.output)
            if found:
                self._endpoint = found.group(1)
                break
            assert self.process is not None and self.process.poll() is None, self.output
            assert time.monotonic() < deadline, f"no endpoint printed:\n{self.output}"
            time.sleep(0.05)
        return self._endpoint

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        """GET a health path: (status, JSON body)."""
        url = f"http://{self.endpoint()}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def engine(self) -> str | None:
        """What /readyz says of the engine (None when it does not answer)."""
        try:
            return self.get("/readyz")[1].get("engine")
        except OSError:
            return None

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait()


class TcpProxy:
    """A TCP relay on 127.0.0.1 to `target`: a store reached through it becomes unreachable
    when it closes (its port refuses connections, the open ones are cut), and reachable again
    when it opens on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port, self._listener = listener.getsockname()[1], listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def close(self) -> None:
        with self._lock:
            sockets, self._open = [*self._open], []
            if self._listener is not None:
                sockets.append(self._listener)
                self._listener = None
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def sdk_client(api: Proc) -> Any:
    """The official DataWorks client, signing with the root key, on an API process."""
    from alibabacloud_dataworks_public20200518.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    config = open_api_models.Config(
        access_key_id=ROOT_KEY_ID,
        access_key_secret=ROOT_KEY_SECRET,
        endpoint=api.endpoint(),
        protocol="http",
    )
    return Client(config)


def marking(marks: Path, seconds: float) -> str:
    """Shell code that records its (instance, attempt) when it starts and when it ends, in one
    file (`marks/events`), in order; in between it takes `seconds`."""
    line = "$OPCENTER_INSTANCE_ID $OPCENTER_ATTEMPT"
    events = marks / "events"
    return f'echo "start {line}" >> {events}; sleep {seconds}; echo "end {line}" >> {events}'


def overlaps(events: list[str]) -> list[str]:
    """Events of an attempt seen after a later attempt of its instance started: two live
    copies of one instance (the earlier one was not killed before the rerun began)."""
    latest: dict[str, int] = {}
    wrong = []
    for event in events:
        _, instance, attempt = event.split()
        if int(attempt) < latest.get(instance, 0):
            wrong.append(event)
        latest[instance] = max(latest.get(instance, 0), int(attempt))
    return wrong
