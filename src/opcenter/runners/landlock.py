"""Linux Landlock, through its three system calls: an unprivileged, stackable allow-list of the
files a thread (and every process it starts) may reach, and, from ABI 6 (Linux 6.12), of the
processes it may signal.

Only what opcenter needs: the ABI version, a ruleset built from `(path, rights)` pairs, and
`restrict_current_thread`. Landlock restricts the calling *thread*; `runners/sandbox.py` calls
it from a thread of its own that then starts the job, so the server's other threads stay free.
No library is needed: the calls go through `syscall(2)` with ctypes.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["FILE_RIGHTS", "Fs", "Scope", "abi_version", "create_ruleset", "restrict_current_thread"]

# The same numbers on every architecture Linux added Landlock for (the unified syscall table).
_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38


class Fs(enum.IntFlag):
    """Filesystem rights (`LANDLOCK_ACCESS_FS_*`)."""

    EXECUTE = 1 << 0
    WRITE_FILE = 1 << 1
    READ_FILE = 1 << 2
    READ_DIR = 1 << 3
    REMOVE_DIR = 1 << 4
    REMOVE_FILE = 1 << 5
    MAKE_CHAR = 1 << 6
    MAKE_DIR = 1 << 7
    MAKE_REG = 1 << 8
    MAKE_SOCK = 1 << 9
    MAKE_FIFO = 1 << 10
    MAKE_BLOCK = 1 << 11
    MAKE_SYM = 1 << 12
    REFER = 1 << 13  # ABI 2
    TRUNCATE = 1 << 14  # ABI 3
    IOCTL_DEV = 1 << 15  # ABI 5


class Scope(enum.IntFlag):
    """Scoped restrictions (`LANDLOCK_SCOPE_*`, ABI 6)."""

    ABSTRACT_UNIX_SOCKET = 1 << 0
    SIGNAL = 1 << 1


# The rights that apply to a file itself (the rest only to directories).
FILE_RIGHTS = Fs.EXECUTE | Fs.WRITE_FILE | Fs.READ_FILE | Fs.TRUNCATE | Fs.IOCTL_DEV


def _handled_fs(abi: int) -> Fs:
    rights = Fs(0)
    for right in Fs:
        if right is Fs.REFER and abi < 2:
            continue
        if right is Fs.TRUNCATE and abi < 3:
            continue
        if right is Fs.IOCTL_DEV and abi < 5:
            continue
        rights |= right
    return rights


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # __attribute__((packed)) in the kernel's header
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _load() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        libc.prctl.restype = ctypes.c_int
        libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        libc.prctl.argtypes += [ctypes.c_ulong]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _load()


def _error(call: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{call}: {os.strerror(code)}")


def abi_version() -> int:
    """The Landlock ABI this kernel offers; 0 when it has none (not Linux, a kernel older than
    5.13, or Landlock not enabled at boot)."""
    if _LIBC is None:
        return 0
    version = _LIBC.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    return max(int(version), 0)


class Ruleset:
    """An open Landlock ruleset (a file descriptor); close it once the thread is restricted."""

    def __init__(self, abi: int) -> None:
        if _LIBC is None or abi < 1:
            raise OSError(errno.ENOSYS, "Landlock is not available")
        self.abi = abi
        self.handled = _handled_fs(abi)
        self.scoped = Scope.SIGNAL | Scope.ABSTRACT_UNIX_SOCKET if abi >= 6 else Scope(0)
        attr = _RulesetAttr(int(self.handled), 0, int(self.scoped))
        size = 24 if abi >= 6 else (16 if abi >= 4 else 8)
        fd = _LIBC.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
        if fd < 0:
            raise _error("landlock_create_ruleset")
        self.fd: int | None = int(fd)

    def allow(self, path: str | Path, rights: Fs) -> bool:
        """Allow `rights` beneath `path` (on the file itself when it is not a directory: only its
        file rights). False when the path does not exist: nothing is allowed then."""
        assert _LIBC is not None and self.fd is not None
        try:
            target = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            access = rights & self.handled
            if not os.path.isdir(f"/proc/self/fd/{target}"):
                access &= FILE_RIGHTS
            if not access:
                return False
            attr = _PathBeneathAttr(int(access), target)
            if _LIBC.syscall(_SYS_ADD_RULE, self.fd, _RULE_PATH_BENEATH, ctypes.byref(attr), 0):
                raise _error(f"landlock_add_rule {path}")
            return True
        finally:
            os.close(target)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Ruleset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create_ruleset(abi: int, rules: Iterable[tuple[str | Path, Fs]]) -> Ruleset:
    """A ruleset handling every right of `abi` (and, from ABI 6, scoping signals and abstract
    Unix sockets), allowing `rules`."""
    ruleset = Ruleset(abi)
    try:
        for path, rights in rules:
            ruleset.allow(path, rights)
    except BaseException:
        ruleset.close()
        raise
    return ruleset


def restrict_current_thread(ruleset: Ruleset) -> None:
    """Set no_new_privs on the calling thread and enforce `ruleset` on it: from now on, the
    thread and every process it starts reach only what the ruleset allows, and can never
    regain more (setuid programs included)."""
    assert _LIBC is not None and ruleset.fd is not None
    if _LIBC.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise _error("prctl(PR_SET_NO_NEW_PRIVS)")
    if _LIBC.syscall(_SYS_RESTRICT_SELF, ruleset.fd, 0) != 0:
        raise _error("landlock_restrict_self")
