"""Sending the alerts the engine records (the outbox of store/alerts.py).

- `outbox`: the store side — which deliveries are due, claiming one (compare-and-set with a
  lease, committed before anything is sent), marking it SENT, retrying it later or giving up.
- `channels`: what is sent where — the generic webhook JSON, the DingTalk, Lark/Feishu, WeCom
  and Slack robot formats, and mail over SMTP (recipients resolved from user names).
- `sender`: the thread that does it, in the process that leads the engine (`opcenter serve`,
  `opcenter scheduler`), woken when a transaction of its process that recorded an alert ends
  (`record_alert` marks the connection; nothing for the engine to do) and polling the store
  every second for the rest.

`wake()` makes the sender look at once, for a caller that knows of new work otherwise.
"""

from __future__ import annotations

import threading

__all__ = ["WAKE", "wake"]

# Set when an alert was recorded in this process; the sender waits on it between polls.
WAKE = threading.Event()


def wake() -> None:
    """Tell this process's alert sender that an alert was committed (cheap; never blocks)."""
    WAKE.set()
