"""An attempt's process group: reported when it starts, gone when it is reported finished, and
killed with the thread that supervises it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from opcenter.runners.base import InstanceResult, ProcessHandle
from opcenter.runners.local import LocalExecutor
from opcenter.runners.reaper import group_alive
from opcenter.settings import load_settings
from tests.runners._support import (
    TEST_GRACE_SECONDS,
    VIRTUAL,
    Recorder,
    SpecFactory,
    process_gone,
    run_one,
    wait_for_lines,
)


def test_on_started_reports_the_process_group_given_a_shell_job(
    executor: LocalExecutor, recorder: Recorder, make_spec: SpecFactory, tmp_path: Path
) -> None:
    out = tmp_path / "pid"
    run_one(executor, recorder, make_spec(1, f"echo $$ > {out}"))
    run_one(executor, recorder, make_spec(2, "", file_type=VIRTUAL))

    handle = recorder.processes[(1, 1)]
    assert handle is not None and handle.pgid == int(out.read_text())
    assert recorder.processes[(2, 1)] is None


class _GroupAtFinish(Recorder):
    """Notes whether the attempt's group still had a live member when `on_finished` came."""

    def __init__(self) -> None:
        super().__init__()
        self.alive_at_finish: dict[int, bool] = {}

    def on_finished(self, result: InstanceResult) -> None:
        handle = self.processes.get((result.instance_id, result.attempt))
        if handle is not None:
            self.alive_at_finish[result.instance_id] = group_alive(handle.pgid)
        super().on_finished(result)


# A member that ignores SIGTERM and takes a while to vanish once SIGKILLed (its memory is freed
# before it becomes a zombie), with no hold on the log pipe: a result reported at SIGKILL time
# would come while it still runs.
_FAT = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "b = bytearray(300 * 10**6); print('ready', flush=True); time.sleep(300)"
)


def test_on_finished_comes_after_the_whole_group_is_gone_given_a_member_slow_to_die(
    make_spec: SpecFactory, tmp_path: Path
) -> None:
    events = _GroupAtFinish()
    pool = LocalExecutor(2, stop_grace_seconds=TEST_GRACE_SECONDS)
    pool.start(events)
    pids = tmp_path / "pids"

    def job(number: int, end: str) -> str:
        ready = tmp_path / f"ready{number}"
        fat = f'{sys.executable} -c "{_FAT}" > {ready} 2>&1 & echo $! >> {pids}'
        return f"{fat}; until [ -s {ready} ]; do sleep 0.02; done; {end}"

    try:
        pool.submit(make_spec(1, job(1, "wait"), timeout=60))  # stopped: SIGTERM, SIGKILL
        pool.submit(make_spec(2, job(2, "exit 3"), timeout=60))  # left its child: the same
        wait_for_lines(tmp_path / "ready1", 1, timeout=30)
        assert pool.stop(1, 1)
        events.wait_finished(1, timeout=30)
        events.wait_finished(2, timeout=30)
    finally:
        pool.shutdown(wait=False)

    assert events.alive_at_finish == {1: False, 2: False}
    assert all(process_gone(int(pid)) for pid in pids.read_text().split())


def test_the_job_waits_for_on_started_to_return_given_a_slow_engine(
    make_spec: SpecFactory, tmp_path: Path
) -> None:
    # The engine records the group in on_started; job code before that could escape a crash.
    marker = tmp_path / "ran"
    seen: list[bool] = []

    class SlowRecorder(Recorder):
        def on_started(self, instance_id: int, attempt: int, process: ProcessHandle | None) -> None:
            time.sleep(0.5)
            seen.append(marker.exists())
            super().on_started(instance_id, attempt, process)

    events = SlowRecorder()
    pool = LocalExecutor(1)
    pool.start(events)
    try:
        result = run_one(pool, events, make_spec(1, f"touch {marker}"))
    finally:
        pool.shutdown(wait=False)

    assert (result.exit_code, seen, marker.exists()) == (0, [False], True)


_SUPERVISOR = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from opcenter.runners.attempt import run_attempt
    from opcenter.runners.base import InstanceSpec
    from opcenter.runners.registry import default_runners

    base = Path(sys.argv[1])
    code = f"echo $$ > {base / 'pid'}; sleep 300"
    spec = InstanceSpec(1, 1, 6, code, (), base / "work", base / "log", 600.0)
    run_attempt(spec, default_runners(), stop=threading.Event(), on_started=lambda _: None)
    """
)


def test_a_job_dies_with_its_supervisor_given_the_supervisor_is_killed(tmp_path: Path) -> None:
    supervisor = subprocess.Popen([sys.executable, "-c", _SUPERVISOR, str(tmp_path)])
    try:
        job = int(wait_for_lines(tmp_path / "pid", 1, timeout=15)[0])
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait()
        deadline = time.monotonic() + 5
        while not process_gone(job) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process_gone(job), "the job outlived its supervisor"
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
        supervisor.wait()
        pid_file = tmp_path / "pid"
        if pid_file.exists() and not process_gone(int(pid_file.read_text())):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)


def test_from_settings_takes_slots_and_stop_grace_from_the_settings(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"OPCENTER_WORKERS": "3", "OPCENTER_STOP_GRACE_SECONDS": "0.25"}, dotenv=None
    )

    pool = LocalExecutor.from_settings(settings)

    assert (pool.slots, pool.stop_grace_seconds) == (3, 0.25)
