"""The alert sender: a thread of the process that leads the engine, sending what the outbox
holds (outbox.py) to its receivers (channels.py).

Started by `opcenter serve` and `opcenter scheduler` beside the engine; it works only while
`active()` says this process leads the store (a standby's sender idles, and takes over with the
lead). It runs apart from the engine: sends happen on a small pool of its own threads, each
network call with a timeout (`alert_timeout_seconds`), so a receiver that is down, slow or
hanging never holds up a run.

Each round: read the due deliveries, claim as many as there are free sending threads (a claim
is committed before the send; its lease is `LEASE_TIMEOUTS` × the timeout), send each, then mark
it SENT, or retry it later (5 s, 10 s, 20 s ... 300 s after the attempt), or, after
`alert_max_attempts` attempts, FAILED with the last error. A round starts at once after a
transaction of this process that recorded an alert has ended (`record_alert` marks its pooled
connection; the pool's check-in wakes the sender), or when `wake()` is called; else every
`POLL_SECONDS` (alerts recorded by another process, retries coming due, expired leases).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from opcenter.alerts import WAKE, channels, outbox
from opcenter.metrics import ALERTS_FAILED, ALERTS_SENT
from opcenter.settings import Settings
from opcenter.store.alerts import RECORDED
from opcenter.store.db import Database

__all__ = ["LEASE_TIMEOUTS", "POLL_SECONDS", "SENDING_THREADS", "AlertSender"]

POLL_SECONDS = 1.0
SENDING_THREADS = 4
LEASE_TIMEOUTS = 6  # a claim's lease, in network timeouts: room for every call of one send

logger = logging.getLogger("opcenter.alerts")


def _woken_by_a_recorded_alert(_dbapi_connection: Any, record: Any) -> None:
    """A pooled connection came back: if it recorded an alert (`record_alert` marked it), its
    transaction has ended — committed, or rolled back and the look is for nothing."""
    if record.info.pop(RECORDED, False):
        WAKE.set()


def _now() -> int:
    return int(time.time() * 1000)


class AlertSender:
    """Sends the due alert deliveries of the store `db`; `base_url` is the public address of
    the console for the links; `active()` whether this process should send now."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        base_url: str,
        active: Callable[[], bool] = lambda: True,
    ) -> None:
        self.db, self.settings = db, settings
        self.base_url = (settings.public_url or base_url).rstrip("/")
        self.active = active
        self.lease_ms = int(LEASE_TIMEOUTS * settings.alert_timeout_seconds * 1000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Daemon threads (not an executor's): a send hanging until its timeout never holds up
        # the process's exit.
        self._queue: queue.SimpleQueue[outbox.Claim | None] = queue.SimpleQueue()
        self._senders = [
            threading.Thread(target=self._work, name=f"opcenter-alert-{n}", daemon=True)
            for n in range(SENDING_THREADS)
        ]
        self._busy = 0
        self.rounds = 0  # rounds done (looked at the outbox), for tests and diagnostics
        self._lock = threading.Lock()

    def start(self) -> AlertSender:
        sa.event.listen(self.db.engine, "checkin", _woken_by_a_recorded_alert)
        for thread in self._senders:
            thread.start()
        self._thread = threading.Thread(target=self._loop, name="opcenter-alerts", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sending. Sends in flight are abandoned: their leases run out and the next
        sender sends them again."""
        if sa.event.contains(self.db.engine, "checkin", _woken_by_a_recorded_alert):
            sa.event.remove(self.db.engine, "checkin", _woken_by_a_recorded_alert)
        self._stop.set()
        WAKE.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for _ in self._senders:
            self._queue.put(None)

    def _loop(self) -> None:
        while not self._stop.is_set():
            WAKE.clear()
            if self.active():
                try:
                    self.run_once()
                except Exception:  # a store hiccup: the next round tries again
                    logger.exception("reading the alert outbox failed; trying again")
            self.rounds += 1
            WAKE.wait(POLL_SECONDS)

    def run_once(self) -> int:
        """Claim due deliveries (as many as there are free sending threads) and hand them to
        the sending threads; how many were claimed."""
        with self._lock:
            free = SENDING_THREADS - self._busy
        if free <= 0:
            return 0
        claimed = 0
        for row in outbox.due(self.db, _now(), limit=free * 4):
            if claimed == free or self._stop.is_set():
                break
            held = outbox.claim(self.db, row, _now(), self.lease_ms)
            if held is None:
                continue
            claimed += 1
            with self._lock:
                self._busy += 1
            self._queue.put(held)
        return claimed

    def _work(self) -> None:
        while (held := self._queue.get()) is not None:
            if self._stop.is_set():  # claimed but not sent: its lease runs out, sent again
                continue
            self._send(held)

    def _send(self, held: outbox.Claim) -> None:
        try:
            self._attempt(held)
        except Exception:  # the store failed marking it: the lease runs out, it is sent again
            logger.exception("alert delivery %s: recording the outcome failed", held.delivery_id)
        finally:
            with self._lock:
                self._busy -= 1
            WAKE.set()  # a thread is free: look again

    def _attempt(self, held: outbox.Claim) -> None:
        settings = self.settings
        try:
            message = outbox.load_message(self.db, held.message_id)
            if message is None:
                raise channels.Undeliverable(f"alert message {held.message_id} no longer exists")
            page = channels.link(self.base_url, message)
            if held.channel == "MAIL":
                to = channels.mail_address(self.db, settings, held.receiver)
                channels.send_mail(settings, to, message, page)
            elif held.channel in ("WEBHOOKS", "DINGROBOTS"):
                fmt, url = channels.format_of(held.channel, held.receiver)
                body = channels.payload(fmt, message, page)
                channels.post(url, body, message.alert_id, settings.alert_timeout_seconds)
            else:
                raise channels.Undeliverable(f"no sender for channel {held.channel!r}")
        except channels.Undeliverable as exc:
            self._failed(held, str(exc), final=True)
        except Exception as exc:
            self._failed(held, f"{type(exc).__name__}: {exc}")
        else:
            if outbox.sent(self.db, held, _now()):
                ALERTS_SENT.labels(channel=held.channel).inc()

    def _failed(self, held: outbox.Claim, error: str, *, final: bool = False) -> None:
        status = outbox.failed(
            self.db,
            held,
            _now(),
            error,
            max_attempts=self.settings.alert_max_attempts,
            final=final,
        )
        if status == "FAILED":
            ALERTS_FAILED.labels(channel=held.channel).inc()
            logger.warning(
                "alert %s to %s %s given up after %d attempt(s): %s",
                held.message_id,
                held.channel,
                held.receiver,
                held.attempts,
                error,
            )
