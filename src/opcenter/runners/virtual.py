"""Virtual nodes (FileType 99): nothing runs; the attempt succeeds at once."""

from __future__ import annotations

from opcenter.runners.base import InstanceSpec
from opcenter.runners.runner import Command

__all__ = ["VirtualRunner"]


class VirtualRunner:
    """Needs no process: `prepare` returns None."""

    def prepare(self, spec: InstanceSpec) -> Command | None:
        return None
