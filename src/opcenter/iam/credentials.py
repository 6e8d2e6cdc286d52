"""What a resolved AccessKey is: the type the store's key resolver returns and the signature
check consumes. It lives in `iam` (the owner of keys) so that `iam` needs nothing from `api`."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ResolvedKey"]


@dataclass(frozen=True)
class ResolvedKey:
    """An AccessKey as the server knows it: its secret and who it speaks for."""

    access_key_id: str
    secret: str = field(repr=False)
    principal: str
    enabled: bool = True
    account_id: str = "0"
