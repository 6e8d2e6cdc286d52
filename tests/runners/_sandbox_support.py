"""Helpers for the sandbox tests: requirements that skip locally and fail under CI=true, a
folder every user can pass through, and Python run as a user that is not root."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from opcenter.runners import landlock

UNPRIVILEGED_USER = "oc-unit-tester"  # created (as root) when missing


def ci_required() -> bool:
    """Under CI=true a missing requirement (root, Landlock) fails instead of skipping, as
    PostgreSQL does in tests/conftest.py: the CI machine runs as root and has Landlock."""
    return os.environ.get("CI", "").lower() in ("1", "true")


def require(ok: bool, reason: str) -> None:
    """Skip the test when `ok` is false; fail it instead under CI=true."""
    if ok:
        return
    if ci_required():
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def require_root() -> None:
    require(os.geteuid() == 0, "needs root (tenant users, chown)")


def require_landlock() -> int:
    """This kernel's Landlock ABI; skips (fails under CI=true) when it has none."""
    abi = landlock.abi_version()
    require(abi > 0, "this kernel has no Landlock")
    return abi


@contextmanager
def open_folder(owner: str | None = None) -> Iterator[Path]:
    """A fresh folder under /tmp that every user may pass through (0711), or owned by `owner`
    (0700); removed afterwards. pytest's tmp_path lies under a 0700 folder of root's: a job
    user could not reach a work directory there."""
    folder = Path(tempfile.mkdtemp(prefix="oc-unit-", dir="/tmp"))
    try:
        if owner is not None:
            entry = pwd.getpwnam(owner)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        else:
            os.chmod(folder, 0o711)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ensure_unprivileged_user() -> str:
    """The unprivileged user tests run Python as (root only): created when missing."""
    try:
        pwd.getpwnam(UNPRIVILEGED_USER)
        return UNPRIVILEGED_USER
    except KeyError:
        pass
    command = ["useradd", "--system", "--user-group", "--no-create-home"]
    command += ["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", UNPRIVILEGED_USER]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:  # a parallel run may have created it first
        pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        pytest.fail(f"cannot create {UNPRIVILEGED_USER}: {done.stderr.strip()}")
    return UNPRIVILEGED_USER


@contextmanager
def unprivileged_folder() -> Iterator[Path]:
    """A folder the unprivileged user owns (this process's own user when it is not root)."""
    owner = ensure_unprivileged_user() if os.geteuid() == 0 else None
    with open_folder(owner) as folder:
        yield folder


def run_unprivileged(code: str, cwd: Path, *args: str) -> str:
    """Run Python `code` (with `args` in sys.argv[1:]) as a user that is not root and return its
    standard output: as root, as UNPRIVILEGED_USER through setpriv; otherwise as this process's
    own user. The virtual environment is built on /usr/bin/python3, which that user can run."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = ensure_unprivileged_user()
        setpriv = shutil.which("setpriv")
        assert setpriv is not None, "util-linux setpriv is needed to run as another user"
        prefix = [setpriv, "--reuid", user, "--regid", user, "--init-groups", "--"]
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(cwd), "LANG": "C.UTF-8"}
    done = subprocess.run(
        [*prefix, sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout
