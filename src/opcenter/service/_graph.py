"""The graph functions the services use; they live in `domain/graph.py` (one module for the
services and the definition files)."""

from __future__ import annotations

from opcenter.domain.graph import find_cycle, parents_by_output

__all__ = ["find_cycle", "parents_by_output"]
