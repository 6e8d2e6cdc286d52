"""The workspace a request touches, resolved once per request.

The RPC layer resolves it from the call's parameters (a workspace, or the instance, Dag, run or
node the call names); the authorizer judges the caller's roles in it and the handler reuses it,
instead of each looking it up again.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WorkspaceRef"]


@dataclass(frozen=True)
class WorkspaceRef:
    """A workspace as authorization needs it: its id, identifier and recorded owner."""

    id: int
    identifier: str
    owner: str = ""
