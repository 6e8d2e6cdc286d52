"""The floor of an embedded ``opcenter run``: opcenter's interpreter starts, imports its store
library (SQLAlchemy Core and ORM, as every command that opens the store does, with the garbage
collector off as the CLI loads) and exits. It runs no workflow: any ``opcenter run --wait``
without a server takes at least this long, since the store is SQLAlchemy (one implementation
for SQLite and PostgreSQL). The driver times it beside the peers to show how far ahead of them
an embedded run could be at best.

Usage: ``python floor_bench.py [WORKLOAD ...]`` (arguments are ignored).
"""

import gc

gc.disable()

import sqlalchemy  # noqa: E402
import sqlalchemy.orm  # noqa: E402, F401
