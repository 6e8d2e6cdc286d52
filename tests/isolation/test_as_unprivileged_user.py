"""The isolation tests again, as an unprivileged user: there Landlock alone draws the line (no
tenant switch is possible), and the tests that need a process that is not root run. Needs root
to create that user and to become it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.isolation.conftest import TESTER, ensure_user

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve()


def test_the_isolation_tests_pass_as_an_unprivileged_user() -> None:
    user = ensure_user(TESTER)
    home = Path(tempfile.mkdtemp(prefix="opcenter-unprivileged-"))
    try:
        os.chown(home, user.pw_uid, user.pw_gid)
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "CI": os.environ.get("CI", ""),
        }
        for name in ("OPCENTER_TEST_PG_URL", "TZ"):
            if name in os.environ:
                env[name] = os.environ[name]
        command = [
            "setpriv", "--reuid", str(user.pw_uid), "--regid", str(user.pw_gid),
            "--init-groups", "--",
            sys.executable, "-m", "pytest", str(HERE.parent), "-q", "-p", "no:cacheprovider",
            "--basetemp", str(home / "tmp"), "-m", "not root",
        ]  # fmt: skip
        done = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        report = done.stdout[-6000:] + done.stderr[-3000:]
        assert done.returncode == 0, report
        assert " passed" in report and " failed" not in report
        assert "skipped" not in report, report  # every test it is given runs there
    finally:
        shutil.rmtree(home, ignore_errors=True)
