"""Background services a peer needs (Airflow's components, Prefect's server), started by a
peer program's ``setup`` and stopped by its ``teardown``; standard library only.

Each service leads its own session, so stopping it signals exactly the process group this module
started (ids recorded in ``<home>/services.json``), never processes found by name.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["start", "stop_all", "wait_until"]


def _registry(home: Path) -> Path:
    return home / "services.json"


def start(home: Path, name: str, argv: list[str], env: Mapping[str, str]) -> int:
    """Start ``argv`` in the background, output to ``<home>/<name>.log``; return its pid."""
    with open(home / f"{name}.log", "w") as log:
        proc = subprocess.Popen(
            argv, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    registry = _registry(home)
    pids = json.loads(registry.read_text()) if registry.exists() else {}
    pids[name] = proc.pid
    registry.write_text(json.dumps(pids))
    return proc.pid


def stop_all(home: Path, grace_seconds: float = 5.0) -> None:
    """Stop every service started under ``home``: SIGTERM, then SIGKILL after the grace time."""
    registry = _registry(home)
    if not registry.exists():
        return
    pids = list(json.loads(registry.read_text()).values())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [pid for pid in pids if _signal(pid, sig)]
        deadline = time.monotonic() + grace_seconds
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [pid for pid in alive if _signal(pid, 0)]
        if not alive:
            break
    registry.unlink()


def _signal(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def wait_until(ready: Callable[[], bool], timeout_seconds: float, what: str) -> None:
    """Poll ``ready`` every half second; SystemExit naming ``what`` after the timeout."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    raise SystemExit(f"{what} not ready after {timeout_seconds:.0f} s")
