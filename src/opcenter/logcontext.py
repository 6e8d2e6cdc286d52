"""What a server's log line is about, and the JSON log format (`OPCENTER_LOG_FORMAT=json`).

The API sets `REQUEST_ID` (the `RequestId` its answer carries) while it handles a request; the
engine sets `INSTANCE_ID` and `DAG_ID` while it records or hands over an attempt. They are
context variables: each request's thread and the engine's thread see their own.

With the JSON format each log line is one object::

    {"time": "2026-12-06T07:50:32.123Z", "level": "INFO", "logger": "opcenter.api.rpc",
     "message": "...", "request_id": "6C1E...", "instance_id": 12, "dag_id": 3}

the last three only when set. The default format (`text`) is unchanged.
"""

from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar

__all__ = [
    "DAG_ID",
    "INSTANCE_ID",
    "REQUEST_ID",
    "JsonFormatter",
    "configure_logging",
]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(message)s"

REQUEST_ID: ContextVar[str | None] = ContextVar("opcenter_request_id", default=None)
INSTANCE_ID: ContextVar[int | None] = ContextVar("opcenter_instance_id", default=None)
DAG_ID: ContextVar[int | None] = ContextVar("opcenter_dag_id", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the context
    (request_id, instance_id, dag_id, when set) and the traceback (`exc_info`), if any."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, object] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (request_id := REQUEST_ID.get()) is not None:
            entry["request_id"] = request_id
        if (instance_id := INSTANCE_ID.get()) is not None:
            entry["instance_id"] = instance_id
        if (dag_id := DAG_ID.get()) is not None:
            entry["dag_id"] = dag_id
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str = "text") -> None:
    """Log INFO and above to stderr in `log_format` ("text" or "json"), for a long-running
    process (serve, scheduler)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
