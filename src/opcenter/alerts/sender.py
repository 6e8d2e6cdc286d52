"""The alert sender: a thread of the process that leads the engine, sending what the outbox
holds (outbox.py) to its receivers (channels.py).

Started by `opcenter serve` and `opcenter scheduler` beside the engine; it works only while
`active()` says this process leads the store (a standby's sender idles, and takes over with the
lead). It runs apart from the engine: sends happen on a small pool of its own threads, each
network call with a timeout (`alert_timeout_seconds`), so a receiver that is down, slow or
hanging never holds up a run.

One send at a time to each destination (`outbox.destination`: a webhook's URL; the SMTP
server for every mail): the other due deliveries of a destination that is being sent to wait
in the store, unclaimed, taking no thread. So a destination that is down or hangs holds at
most one of the `SENDING_THREADS` threads (for up to the timeout of its calls), and the other
destinations keep being sent to on the rest.

Each round: while a thread is free, take the oldest due delivery among the destinations not
being sent to, claim it (a claim is committed before the send; its lease is `LEASE_TIMEOUTS` ×
the timeout; only what a thread takes at once is claimed, so nothing claimed waits for a
thread), send it, then mark it SENT, or retry it later (5 s, 10 s, 20 s ... 300 s after the
attempt), or, after `alert_max_attempts` attempts, FAILED with the last error. A round starts
at once after a transaction of this process that recorded an alert has ended (`record_alert`
marks its pooled connection; the pool's check-in wakes the sender), when a send has ended, or
when `wake()` is called; else every `POLL_SECONDS` (alerts recorded by another process,
retries coming due, expired leases).
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
SENDING_THREADS = 8  # sends at a time, to as many destinations
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
        self._sending: set[str] = set()  # the destinations with a send in flight (one each)
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
        """Claim due deliveries, each to a destination not being sent to, while a sending
        thread is free, and hand them to the threads; how many were claimed."""
        claimed = 0
        while not self._stop.is_set():
            with self._lock:
                busy = set(self._sending)
            free = SENDING_THREADS - len(busy)
            if free <= 0:
                break
            limit = free * 4
            rows = outbox.due(self.db, _now(), limit=limit, skip=busy)
            took = 0
            for row in rows:
                if took == free or self._stop.is_set():
                    break
                if row.destination in busy:  # taken in this pass: its turn comes after
                    continue
                held = outbox.claim(self.db, row, _now(), self.lease_ms)
                if held is None:  # another sender took it
                    continue
                busy.add(row.destination)
                with self._lock:
                    self._sending.add(row.destination)
                self._queue.put(held)
                took += 1
            claimed += took
            if took == 0 or len(rows) < limit:  # nothing more to take (or to take now)
                break
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
                self._sending.discard(outbox.destination(held.channel, held.receiver))
            WAKE.set()  # a thread and a destination are free: look again

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
