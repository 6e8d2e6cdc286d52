"""A stand-in for `opcenter serve` with the HTTP API, for bench/bench_api_load.py.

    .venv/bin/python bench/_api_server.py --data-dir D --port P

Builds exactly what the server process is made of: `ServiceContext` on the data directory's
default SQLite store, the root account with the AccessKey from `OPCENTER_ROOT_ACCESS_KEY_ID` /
`OPCENTER_ROOT_ACCESS_KEY_SECRET` (`ensure_root`), the `Engine` with its local executor, and
the RPC app with the store's key resolver and the real `Authorizer`, served by uvicorn on
127.0.0.1. Prints `listening <endpoint>` once it accepts connections and runs until SIGTERM or
SIGINT (the line also names the engine thread's native id, so a benchmark can read that
thread's CPU time in /proc).

With `OPCENTER_BENCH_PROFILE=<file>` every dispatched request runs under cProfile (one profiler
per worker thread, merged into `<file>` on exit; read it with `pstats`). Profiling slows the
server down; use it to see where time goes, not for the figures. With
`OPCENTER_BENCH_TRACEMALLOC=<dir>` (bench/bench_memory.py `--tracemalloc`) allocations are
traced from the start, and each SIGUSR1 dumps a `tracemalloc` snapshot to the path written in
`<dir>/next`, then creates that path with the suffix `.done`; next to it, `.json` holds
SQLite's own heap, glibc malloc's in-use and free-but-kept bytes and the number of run seeds
the engine has not taken (with `OPCENTER_BENCH_TRACEMALLOC_FRAMES=0`: those figures only,
without tracing). (The store's own writer lock, store/db.py, replaced the
OPCENTER_BENCH_SERIALIZE experiment this file once carried.)
"""

from __future__ import annotations

import _sqlite3
import argparse
import cProfile
import ctypes
import gc
import json
import os
import pstats
import signal
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from opcenter.api.server import ServerThread, build_server  # noqa: E402
from opcenter.engine import view as views  # noqa: E402
from opcenter.engine.scheduler import Engine  # noqa: E402
from opcenter.iam.authorizer import Authorizer  # noqa: E402
from opcenter.iam.resolver import StoreKeyResolver  # noqa: E402
from opcenter.process_memory import Trimmer  # noqa: E402
from opcenter.service.context import ServiceContext  # noqa: E402
from opcenter.service.iam import ensure_root  # noqa: E402
from opcenter.settings import load_settings  # noqa: E402

PROFILE_ENV = "OPCENTER_BENCH_PROFILE"
SNAPSHOT_ENV = "OPCENTER_BENCH_TRACEMALLOC"
FRAMES_ENV = "OPCENTER_BENCH_TRACEMALLOC_FRAMES"  # 0: native figures only, no tracing


class _Profiled:
    """Wraps the app's dispatcher: each worker thread keeps its own cProfile.Profile."""

    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher
        self.local = threading.local()
        self.profiles: list[cProfile.Profile] = []
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dispatcher, name)

    def __call__(self, wire: Any) -> Any:
        profile = getattr(self.local, "profile", None)
        if profile is None:
            # CPU time of this thread, not wall time: waits on locks would drown the rest.
            profile = self.local.profile = cProfile.Profile(time.thread_time)
            with self.lock:
                self.profiles.append(profile)
        return profile.runcall(self.dispatcher, wire)

    def dump(self, path: str) -> None:
        with self.lock:
            if not self.profiles:
                return
            stats = pstats.Stats(self.profiles[0])
            for profile in self.profiles[1:]:
                stats.add(profile)
        stats.dump_stats(path)


def _profile(app: Any) -> _Profiled:
    """Route the app's requests through a profiling wrapper (the app reads its dispatcher
    from `app.state` on every request)."""
    wrapper = _Profiled(app.state.dispatcher)
    app.state.dispatcher = wrapper
    return wrapper


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _native_memory() -> dict[str, int]:
    """Memory outside Python's view: SQLite's own heap (sqlite3_status64 MEMORY_USED, current
    and high-water) and glibc malloc's bytes in use and free-but-kept (mallinfo2); {} where
    unavailable."""
    out: dict[str, int] = {}
    try:
        lib = ctypes.CDLL(_sqlite3.__file__)
        current, high = ctypes.c_int64(), ctypes.c_int64()
        if lib.sqlite3_status64(0, ctypes.byref(current), ctypes.byref(high), 0) == 0:
            out["sqlite_used"], out["sqlite_high"] = current.value, high.value
    except (OSError, AttributeError):
        pass
    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
        out["malloc_in_use"] = info.uordblks + info.hblkhd
        out["malloc_free_kept"] = info.fordblks
    except (OSError, AttributeError):
        pass
    return out


def _dump_snapshot(folder: Path, db: object) -> None:
    """A tracemalloc snapshot of what is live now (after a full collection) to `folder/next`
    (when tracing), and the native memory figures next to it as JSON, with the number of run
    seeds (engine/view.py) waiting for the engine of `db` (`seeds_kept`: a count, not bytes)."""
    gc.collect()
    target = Path((folder / "next").read_text().strip())
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot().dump(str(target))
    figures = {**_native_memory(), "seeds_kept": views.kept_seeds(db)}
    target.with_suffix(".json").write_text(json.dumps(figures))
    target.with_suffix(".done").touch()


def main() -> None:
    snapshots = os.environ.get(SNAPSHOT_ENV)
    if snapshots:
        frames = int(os.environ.get(FRAMES_ENV, "5"))  # deeper is much slower
        if frames > 0:
            tracemalloc.start(frames)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    settings = load_settings(
        dotenv=None, data_dir=args.data_dir, host="127.0.0.1", port=args.port, workers=args.workers
    )
    ctx = ServiceContext.open(settings)
    ensure_root(ctx)
    engine = Engine(ctx)
    engine.start()
    app = build_server(
        ctx,
        key_resolver=StoreKeyResolver(ctx.db, settings),
        authorize=Authorizer(ctx.db, settings),
    )
    profile_path = os.environ.get(PROFILE_ENV)
    profiled = _profile(app) if profile_path else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    wanted = threading.Event()
    if snapshots:
        signal.signal(signal.SIGUSR1, lambda *_: wanted.set())
    server = ServerThread(app, host="127.0.0.1", port=args.port).start()
    engine_tid = engine._thread.native_id if engine._thread else None  # for per-thread CPU
    print(f"listening {server.endpoint} engine-tid {engine_tid}", flush=True)
    try:
        trimmer = Trimmer()  # as `opcenter serve` does
        while not stop.wait(0.5):
            trimmer.tick()
            if wanted.is_set():
                wanted.clear()
                _dump_snapshot(Path(str(snapshots)), ctx.db)
    finally:
        server.stop()
        engine.stop()
        ctx.db.dispose()
        if profiled is not None and profile_path:
            profiled.dump(profile_path)


if __name__ == "__main__":
    main()
