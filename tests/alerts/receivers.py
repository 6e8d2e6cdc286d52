"""Real receivers on 127.0.0.1 for the alert sender's tests: an HTTP server that records what
is posted (and can refuse, fail, hang or be down), an SMTP server (aiosmtpd) that records
the mails it is given, and a server that takes connections and never answers (an SMTP server
hanging)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() when it arrived
    wall: float  # time.time() when it arrived, to compare with times the store keeps


class HttpReceiver:
    """Records every POST. `mode`: "ok" (200, `{"errcode": 0}`), "fail" (500), "hold" (keeps
    the request open until `release()`). `down()` closes the port, `up()` opens it again."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.mode = "ok"
        self.arrived = threading.Event()
        self.released = threading.Event()
        self._lock = threading.Lock()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def up(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.posts.append(
                        Post(
                            self.path,
                            dict(self.headers),
                            json.loads(raw),
                            time.monotonic(),
                            time.time(),
                        )
                    )
                receiver.arrived.set()
                if receiver.mode == "hold":
                    receiver.released.wait(120)
                status, answer = (500, b"broken") if receiver.mode == "fail" else (200, b"{}")
                if receiver.mode == "ok":
                    answer = b'{"errcode": 0, "errmsg": "ok"}'
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def release(self) -> None:
        self.released.set()

    def received(self, path: str) -> list[Post]:
        with self._lock:
            return [p for p in self.posts if p.path == path]


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: Message


class MailReceiver:
    """An SMTP server (aiosmtpd) on 127.0.0.1 that records every mail."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        self.mails.append(
            Mail(envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(content))
        )
        return "250 Message accepted for delivery"

    def start(self) -> MailReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts every connection and never says a word (an SMTP
    server hanging before its greeting); `accepted`: the connections it holds."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=32)
        self.port = self._socket.getsockname()[1]
        self.accepted: list[socket.socket] = []

    def start(self) -> SilentServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:  # stopped
                return
            self.accepted.append(connection)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._socket.close()
        for connection in self.accepted:
            connection.close()
