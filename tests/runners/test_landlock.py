"""runners/landlock.py on the real kernel: a restricted thread, and the processes it starts,
reach only what its ruleset allows; the rest of the server is untouched."""

from __future__ import annotations

import errno
import subprocess
import threading
from pathlib import Path

import pytest

from opcenter.runners import landlock
from opcenter.runners.landlock import Fs
from tests.runners._sandbox_support import require, require_landlock

_READ = Fs.READ_FILE | Fs.READ_DIR
# What /bin/cat needs to run: the programs, their libraries, the loader's configuration.
_SYSTEM = [(path, _READ | Fs.EXECUTE) for path in ("/usr", "/bin", "/lib", "/lib64", "/lib32")]
_SYSTEM.append(("/etc", _READ))


@pytest.fixture
def abi() -> int:
    return require_landlock()


def _in_thread(abi: int, rules: list[tuple[str | Path, Fs]], *argv_list: list[str]):
    """Restrict a thread of its own to `rules`, then run each command from it; returns the
    finished processes (any error of the thread is raised here)."""
    outcome: dict[str, object] = {}

    def confined() -> None:
        try:
            with landlock.create_ruleset(abi, rules) as ruleset:
                landlock.restrict_current_thread(ruleset)
            outcome["runs"] = [
                subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
                for argv in argv_list
            ]
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=confined)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["runs"]


def test_abi_version_is_positive_given_this_kernel() -> None:
    assert require_landlock() > 0


def test_require_fails_under_ci_and_skips_locally_given_a_missing_requirement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI=true"):
        require(False, "this kernel has no Landlock")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require(False, "this kernel has no Landlock")
    require(True, "met")  # a requirement that holds neither skips nor fails


def test_restricted_thread_starts_processes_that_read_only_the_allowed_folder(
    abi: int, tmp_path: Path
) -> None:
    allowed, other = tmp_path / "allowed", tmp_path / "other"
    allowed.mkdir()
    other.mkdir()
    (allowed / "in.txt").write_text("inside\n")
    (other / "out.txt").write_text("outside\n")

    inside, outside = _in_thread(
        abi,
        [*_SYSTEM, (allowed, _READ)],
        ["/bin/cat", str(allowed / "in.txt")],
        ["/bin/cat", str(other / "out.txt")],
    )

    assert (inside.returncode, inside.stdout) == (0, "inside\n")
    assert outside.returncode != 0
    assert outside.stdout == ""
    assert "Permission denied" in outside.stderr  # EACCES, though root: Landlock, not modes
    # Only that thread was restricted: this one still reads the file.
    assert (other / "out.txt").read_text() == "outside\n"


def test_restricted_thread_cannot_write_where_only_reading_is_allowed(
    abi: int, tmp_path: Path
) -> None:
    (tmp_path / "f").write_text("kept\n")
    (tmp_path / "g").write_text("new\n")

    (run,) = _in_thread(
        abi, [*_SYSTEM, (tmp_path, _READ)], ["/bin/cp", str(tmp_path / "g"), str(tmp_path / "f")]
    )

    assert run.returncode != 0
    assert "Permission denied" in run.stderr
    assert (tmp_path / "f").read_text() == "kept\n"


def test_ruleset_allow_returns_false_given_a_missing_path(abi: int, tmp_path: Path) -> None:
    with landlock.Ruleset(abi) as ruleset:
        assert ruleset.allow(tmp_path / "missing", _READ) is False
        assert ruleset.allow(tmp_path, _READ) is True


def test_ruleset_allow_adds_only_file_rights_given_a_file(abi: int, tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    target.write_text("file rule\n")
    directory_rights = Fs.READ_DIR | Fs.MAKE_DIR | Fs.REMOVE_FILE | Fs.MAKE_REG

    with landlock.Ruleset(abi) as ruleset:
        # The kernel answers EINVAL to directory rights on a file: they are dropped first.
        assert ruleset.allow(target, _READ | directory_rights) is True
        assert ruleset.allow(target, directory_rights) is False  # nothing left to allow

    # The rule works: the file alone (not its folder) is readable.
    sibling = tmp_path / "sibling.txt"
    sibling.write_text("not allowed\n")
    read, denied = _in_thread(
        abi,
        [*_SYSTEM, (target, _READ | directory_rights)],
        ["/bin/cat", str(target)],
        ["/bin/cat", str(sibling)],
    )
    assert (read.returncode, read.stdout) == (0, "file rule\n")
    assert "Permission denied" in denied.stderr


def test_ruleset_refuses_to_open_given_no_landlock_abi() -> None:
    with pytest.raises(OSError) as caught:
        landlock.Ruleset(0)
    assert caught.value.errno == errno.ENOSYS
