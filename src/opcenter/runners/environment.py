"""The environment a job starts with: a short allow-list of the server's variables, plus what
the engine gives the attempt.

A job never sees the server's own configuration: no `OPCENTER_*` variable of the server (the
root AccessKey secret, the session key, the store's database URL…), no `DATABASE_URL`, no cloud
credentials that happen to be in the server's environment. From the server it gets only what a
program needs to behave like one started from a login shell:

- `PATH`, `HOME`, `USER`, `LOGNAME`, `SHELL`: where programs are, whose they are;
- `LANG`, `LANGUAGE` and every `LC_*`: the locale (text encoding of the output);
- `TZ`, `TMPDIR`.

`PATH` falls back to the system default when the server has none. Everything else comes from
`extra`, which wins over the allow-list: the instance's identifiers and parameters
(`OPCENTER_INSTANCE_ID`, `OPCENTER_DAG_ID`, `OPCENTER_NODE_ID`, `OPCENTER_BIZDATE`,
`OPCENTER_ATTEMPT`, `OPCENTER_PARAMS`), the variables the workspace configures (`opcenter
workspace set-env`) and what a runner needs itself (`PYTHONUNBUFFERED`, a SQL node's own
connection in `OPCENTER_SQL_URL`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["ALLOWED", "ALLOWED_PREFIXES", "job_environment"]

ALLOWED = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR"}
)
ALLOWED_PREFIXES = ("LC_",)


def _allowed(name: str) -> bool:
    return name in ALLOWED or name.startswith(ALLOWED_PREFIXES)


def job_environment(
    extra: Mapping[str, str], *, server: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The complete environment of a job: the allow-listed variables of `server` (default: this
    process's environment), then `extra` on top."""
    source = os.environ if server is None else server
    env = {name: value for name, value in source.items() if _allowed(name)}
    env.setdefault("PATH", os.defpath)
    env.update(extra)
    return env
