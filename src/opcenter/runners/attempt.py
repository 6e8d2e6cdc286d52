"""Running one instance attempt to its end: the part every executor shares.

`run_attempt` prepares the attempt with its node type's runner, starts the command in a new
process group (working directory `spec.workdir`, stdin from /dev/null, stdout and stderr
interleaved into the capped log), and supervises it until it ends:

- the process exits: exit code 0 is SUCCESS, anything else FAILURE; processes the script left
  running in its group are then terminated like a stop, so nothing outlives its attempt;
- `stop` is set: SIGTERM to the whole group, SIGKILL after `grace` seconds → STOPPED;
- `spec.timeout_seconds` pass: the same termination → TIMEOUT.

The result is returned only once the whole process group is gone (or, for a member that even
SIGKILL does not end, after `reaper.KILL_WAIT_SECONDS`, with a log line saying so). The process
is started with the parent-death signal SIGKILL: if the thread supervising it dies (the whole
server killed), the kernel kills it too; the rest of its group is left for `reaper.reap` at the
next start, which is why `on_started` receives the group's `ProcessHandle` to record. The
command itself waits behind a one-line `/bin/sh` gate until `on_started` has returned, so no job
code runs before its group could be recorded.

The log always ends with one `[opcenter]` line: `exit code N`, `killed by signal NAME`,
`timed out after S s`, `stopped`, or `cannot start: …`. Bad input never raises: an unknown node
type, a workdir or log that cannot be created, a missing interpreter are FAILURE results.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from opcenter.runners.base import InstanceResult, InstanceSpec, Outcome, ProcessHandle
from opcenter.runners.logs import CappedLog, append_log_line
from opcenter.runners.reaper import (
    KILL_WAIT_SECONDS,
    group_alive,
    handle_of,
    signal_group,
    wait_gone,
)
from opcenter.runners.runner import Command, Runner, RunnerError
from opcenter.runners.sandbox import Jail, Sandbox
from opcenter.settings import DEFAULT_STOP_GRACE_SECONDS

__all__ = ["STOP_GRACE_SECONDS", "group_alive", "run_attempt", "signal_group"]

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = DEFAULT_STOP_GRACE_SECONDS  # between SIGTERM and SIGKILL
POLL_SECONDS = 0.05  # longest a supervisor sleeps before looking at stop, timeout and exit
DRAIN_SECONDS = 0.5  # how long output is still read after the group is gone (escaped daemons)
READ_CHUNK_BYTES = 64 * 1024


def run_attempt(
    spec: InstanceSpec,
    runners: Mapping[int, Runner],
    *,
    stop: threading.Event,
    on_started: Callable[[ProcessHandle | None], None],
    grace_seconds: float = STOP_GRACE_SECONDS,
    sandbox: Sandbox | None = None,
) -> InstanceResult:
    """Run `spec` to its end and return its result, once its process group is gone.
    `on_started(process)` is called once the process is launched, with its group's handle (or,
    for a node type without a process, with None just before it succeeds), never when the
    attempt cannot be started. Setting `stop` from another thread terminates the attempt.
    The calling thread must not end before this returns: it is the parent the kernel watches
    for the parent-death signal. With a `sandbox`, the process starts inside the attempt's
    jail (runners/sandbox.py), or not at all when the isolation rules refuse it."""
    runner = runners.get(spec.file_type)
    if runner is None:
        return _cannot_start(spec, f"unsupported node type (FileType {spec.file_type})")
    if stop.is_set():
        return _ended_early(spec, Outcome.STOPPED, "stopped before it started")
    jail: Jail | None = None
    try:
        _make_workdir(spec.workdir)
        command = runner.prepare(spec)
        if command is not None and sandbox is not None:
            jail = sandbox.confine(spec)
            command = jail.command(command)
    except (OSError, RunnerError) as exc:
        return _cannot_start(spec, str(exc))
    if command is None:
        on_started(None)
        return _ended_early(spec, Outcome.SUCCESS, "nothing to run (virtual node)")
    return _run_process(spec, command, stop, on_started, grace_seconds, jail)


def _make_workdir(path: Path) -> None:
    """`mkdir -p` in two calls for the usual case (a new instance's folder, then its attempt's)
    instead of `Path.mkdir(parents=True)`'s three, one of them failing."""
    try:
        os.mkdir(path.parent)
    except FileExistsError:
        pass
    except FileNotFoundError:
        path.mkdir(parents=True, exist_ok=True)
        return
    path.mkdir(exist_ok=True)


def _result(spec: InstanceSpec, outcome: Outcome, code: int | None, message: str) -> InstanceResult:
    return InstanceResult(spec.instance_id, spec.attempt, outcome, code, message)


def _log_line(spec: InstanceSpec, text: str) -> None:
    try:
        append_log_line(spec.log_path, text)
    except OSError as exc:
        logger.warning("instance %s attempt %s: cannot write log: %s", *_key(spec), exc)


def _key(spec: InstanceSpec) -> tuple[int, int]:
    return spec.instance_id, spec.attempt


def _cannot_start(spec: InstanceSpec, reason: str) -> InstanceResult:
    message = f"cannot start: {reason}"
    _log_line(spec, message)
    return _result(spec, Outcome.FAILURE, None, message)


def _ended_early(spec: InstanceSpec, outcome: Outcome, message: str) -> InstanceResult:
    """End an attempt without a process: log `message` (a log that cannot be written is only
    warned about) and return the result."""
    _log_line(spec, message)
    return _result(spec, outcome, None, message)


def _run_process(
    spec: InstanceSpec,
    command: Command,
    stop: threading.Event,
    on_started: Callable[[ProcessHandle | None], None],
    grace_seconds: float,
    jail: Jail | None = None,
) -> InstanceResult:
    try:
        log = CappedLog(spec.log_path, spec.log_cap_bytes)
    except OSError as exc:
        return _cannot_start(spec, f"cannot open log {spec.log_path}: {exc}")
    with log:
        for note in jail.notes if jail is not None else ():
            log.line(note)
        try:
            proc, gate, release = _launch(spec, command, jail)
        except (OSError, ValueError) as exc:
            message = f"cannot start: {exc}"
            log.line(message)
            return _result(spec, Outcome.FAILURE, None, message)
        supervisor = _Supervisor(proc, log, spec.timeout_seconds, stop, grace_seconds)
        try:
            try:
                on_started(handle_of(proc.pid))
            finally:
                _open_gate(gate)
            reason = supervisor.run()
        finally:
            supervisor.close()  # on any error too: never leave a process group behind
            release()  # the jail's thread may end only now: the group is gone
        result = _conclude(spec, reason, proc.returncode)
        _final_lines(log, supervisor, result)
    return result


def _final_lines(log: CappedLog, supervisor: _Supervisor, result: InstanceResult) -> None:
    if supervisor.left_behind:
        log.line("terminated processes the script left running")
    if supervisor.unkillable:
        log.line(f"processes of group {supervisor.pgid} did not end after SIGKILL")
    log.line(result.message)


# The command waits behind this gate until its process group has been reported (and so, by the
# engine, recorded): a server killed in between leaves no job code running unaccounted. The gate
# is the group leader itself (`exec` keeps the pid), so the reported handle stays valid.
# It reads its go-ahead on stdin, which the command then gets from /dev/null.
_GATE = 'read -r _ && exec "$@" </dev/null'


def _launch(
    spec: InstanceSpec, command: Command, jail: Jail | None
) -> tuple[subprocess.Popen[bytes], int, Callable[[], None]]:
    """Start `command` behind the gate, inside `jail` when given; returns the process, the
    gate's write end and the function to call once the process group is gone."""
    _check_executable(command)
    gate_read, gate_write = os.pipe()
    prefix, preexec = _PDEATHSIG_PREFIX, None
    switch: dict[str, Any] = {}
    user = jail.user if jail is not None else None
    if user is not None and prefix:  # setpriv becomes the tenant in the same exec
        prefix = (*prefix[:-1], *user.setpriv_args(), "--")
    elif user is not None:
        switch = {"user": user.uid, "group": user.gid, "extra_groups": list(user.groups)}
    if not prefix:
        preexec = _die_with_parent()
    output: Any = subprocess.PIPE
    reader = None
    if user is not None:
        # The job's user owns the pipe of its output, so `> /dev/stderr` (a reopening of the
        # pipe through /proc) works for it as for any process.
        reader, output = os.pipe()
        os.fchown(output, user.uid, user.gid)

    def popen() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            (*prefix, "/bin/sh", "-c", _GATE, "opcenter-gate", *command.argv),
            cwd=spec.workdir,
            env=command.env,
            stdin=gate_read,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop and timeout reach children
            preexec_fn=preexec,
            **switch,
        )

    try:
        if jail is None:
            proc, release = popen(), _released
        else:
            proc, release = jail.launch(popen)
    except BaseException:
        os.close(gate_write)
        if reader is not None:
            os.close(reader)
        raise
    finally:
        os.close(gate_read)
        if reader is not None:
            os.close(output)
    if reader is not None:
        proc.stdout = os.fdopen(reader, "rb", buffering=0)
    return proc, gate_write, release


def _released() -> None:
    return None


def _check_executable(command: Command) -> None:
    """Fail as `Popen` would for a missing program: behind the gate, the shell would only exit
    127 once the attempt had already started."""
    program = command.argv[0]
    found = shutil.which(program, path=command.env.get("PATH", os.defpath))
    if found is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)


def _open_gate(gate: int) -> None:
    try:
        os.write(gate, b"\n")
    except OSError:  # the process is gone already (killed, or its gate failed)
        pass
    finally:
        os.close(gate)


def _conclude(spec: InstanceSpec, reason: Outcome | None, code: int | None) -> InstanceResult:
    if reason is Outcome.STOPPED:
        return _result(spec, reason, code, "stopped")
    if reason is Outcome.TIMEOUT:
        return _result(spec, reason, code, f"timed out after {_seconds(spec.timeout_seconds)} s")
    if code == 0:
        return _result(spec, Outcome.SUCCESS, code, "exit code 0")
    if code is not None and code < 0:
        return _result(spec, Outcome.FAILURE, code, f"killed by signal {_signal_name(-code)}")
    return _result(spec, Outcome.FAILURE, code, f"exit code {code}")


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()  # looked up once, in the parent: the child only calls it


def _pdeathsig_prefix() -> tuple[str, ...]:
    """util-linux `setpriv --pdeathsig KILL`, when present, arms the parent-death signal and
    `exec`s the gate (the signal survives `exec`). It costs one `exec`, where a Python
    `preexec_fn` costs a full `fork` of the server (no `vfork` is possible then): about 7 ms
    per attempt here. A parent that died before `setpriv` ran is still covered: the gate then
    reads end-of-file instead of its go-ahead, and the command never starts."""
    if _PRCTL is None:
        return ()
    found = shutil.which("setpriv")
    return (found, "--pdeathsig", "KILL", "--") if found else ()


_PDEATHSIG_PREFIX = _pdeathsig_prefix()


def _die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that asks the kernel to SIGKILL the child when the thread that started it
    ends (`prctl(PR_SET_PDEATHSIG)`; it is per *thread*, hence the rule in `run_attempt`). If
    the parent is already gone by then, the child kills itself at once. None off Linux."""
    if _PRCTL is None:
        return None
    prctl, parent = _PRCTL, os.getpid()

    def arm() -> None:
        if prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0 and os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux, an old kernel, or a seccomp filter
        return None


class _Supervisor:
    """Pumps one process's output into its log and enforces stop, timeout and cleanup."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        log: CappedLog,
        timeout_seconds: float,
        stop: threading.Event,
        grace_seconds: float,
    ) -> None:
        self.proc = proc
        self.pgid = proc.pid  # start_new_session: the child leads a group with its own pid
        self.log = log
        self.stop = stop
        self.grace_seconds = grace_seconds
        self.deadline = time.monotonic() + timeout_seconds
        self.reason: Outcome | None = None
        self.kill_at: float | None = None  # SIGTERM sent, SIGKILL due then
        self.killed = False
        self.give_up_at: float | None = None  # SIGKILL sent: wait for the group until then
        self.unkillable = False
        self.gone = False  # the process and its whole group were seen gone
        self.left_behind = False
        self.drain_until: float | None = None
        self.pipe = proc.stdout
        # Readable once the process has exited: waiting on it wakes at the exit itself, where
        # `Popen.wait(timeout)` would poll in growing sleeps (Linux ≥ 5.3; else None).
        self.pidfd = _pidfd(proc.pid)

    def run(self) -> Outcome | None:
        """Supervise until the process and its group are gone; the reason it was ended early
        (STOPPED, TIMEOUT) or None when it exited by itself."""
        while not self._finished(time.monotonic()):
            self._enforce(time.monotonic())
            self._wait()
        return self.reason

    def close(self) -> None:
        if self.proc.poll() is None or (not self.gone and group_alive(self.pgid)):
            signal_group(self.pgid, signal.SIGKILL)
            self.killed = True
            self.proc.wait()
            self.unkillable = not wait_gone([self.pgid], KILL_WAIT_SECONDS)
        self._close_pipe()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    def _finished(self, now: float) -> bool:
        if self.proc.poll() is None:
            return False
        if group_alive(self.pgid):  # stopped means gone: the whole group, not only the leader
            if self.give_up_at is None or now < self.give_up_at:
                return False
            self.unkillable = True
        else:
            self.gone = True
        if self.pipe is not None:
            # Someone outside the group (a daemon that called setsid) may hold the pipe open.
            self.drain_until = self.drain_until or now + DRAIN_SECONDS
            if now < self.drain_until:
                return False
            self._close_pipe()
        return True

    def _enforce(self, now: float) -> None:
        if self.reason is None and self.proc.returncode is None:  # an exit already counts
            if self.stop.is_set():
                self.reason = Outcome.STOPPED
            elif now >= self.deadline:
                self.reason = Outcome.TIMEOUT
            if self.reason is not None:
                self._terminate(now)
        exited = self.proc.returncode is not None
        if exited and self.kill_at is None and not self.killed and group_alive(self.pgid):
            self.left_behind = True  # the script ended but left processes in its group
            self._terminate(now)
        if self.kill_at is not None and now >= self.kill_at:
            signal_group(self.pgid, signal.SIGKILL)
            self.killed, self.kill_at = True, None
            self.give_up_at = now + KILL_WAIT_SECONDS

    def _terminate(self, now: float) -> None:
        if self.kill_at is None and not self.killed:
            signal_group(self.pgid, signal.SIGTERM)
            self.kill_at = now + self.grace_seconds

    def _wait(self) -> None:
        now = time.monotonic()
        due = [self.deadline] if self.reason is None else []
        due += [self.kill_at] if self.kill_at is not None else []
        timeout = max(0.0, min([POLL_SECONDS, *(t - now for t in due)]))
        exit_fd = self.pidfd if self.proc.returncode is None else None
        if self.pipe is not None:
            self._pump(timeout, exit_fd)
        elif exit_fd is not None:
            select.select([exit_fd], [], [], timeout)
        elif self.proc.returncode is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        else:
            time.sleep(timeout)

    def _pump(self, timeout: float, exit_fd: int | None) -> None:
        assert self.pipe is not None
        watched: list[Any] = [self.pipe] if exit_fd is None else [self.pipe, exit_fd]
        ready, _, _ = select.select(watched, [], [], timeout)
        if self.pipe not in ready:
            return  # nothing, or the process exited: the loop looks at it now
        data = os.read(self.pipe.fileno(), READ_CHUNK_BYTES)
        if data:
            self.log.write(data)
        else:
            self._close_pipe()

    def _close_pipe(self) -> None:
        if self.pipe is not None:
            self.pipe.close()
            self.pipe = None
