"""Re-exports `opcenter.context` (the context moved there so the engine does not import the
service layer); existing imports from here keep working."""

from __future__ import annotations

from opcenter.context import Caller, ServiceContext, now_ms

__all__ = ["Caller", "ServiceContext", "now_ms"]
