"""runners/sandbox.py and `run_attempt(..., sandbox=...)` on the real machine: what a job may
reach, whom it runs as, and what happens where it cannot be isolated.

Tests that need root (tenant users, chown) or Landlock skip without them, and fail under CI=true.
The behaviour of a server that is not root runs in a child Python as an unprivileged user.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from opcenter.runners.attempt import run_attempt
from opcenter.runners.base import Confinement, Grant, InstanceResult, InstanceSpec, Outcome
from opcenter.runners.landlock import Fs
from opcenter.runners.registry import default_runners
from opcenter.runners.sandbox import Refused, Sandbox, _around, _system_rules
from opcenter.settings import DEFAULT_JOB_USER
from tests.runners._sandbox_support import (
    open_folder,
    require_landlock,
    require_root,
    run_unprivileged,
    unprivileged_folder,
)
from tests.runners._support import SHELL, TEST_GRACE_SECONDS, body

RIGHTS = Fs.READ_FILE | Fs.READ_DIR | Fs.EXECUTE
_ALL = Fs(sum(Fs))
_WRITE = _ALL & ~Fs.EXECUTE


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def spec_in(
    data: Path,
    instance_id: int,
    code: str = "true",
    confinement: Confinement | None = None,
    timeout: float = 10.0,
    argv: tuple[str, ...] = (),
) -> InstanceSpec:
    """A shell attempt laid out as the engine lays it out: work and logs in the data dir."""
    return InstanceSpec(
        instance_id=instance_id,
        attempt=1,
        file_type=SHELL,
        code=code,
        argv=argv,
        workdir=data / "work" / str(instance_id) / "1",
        log_path=data / "logs" / f"{instance_id}.log",
        timeout_seconds=timeout,
        confinement=confinement,
    )


def prepared(spec: InstanceSpec) -> InstanceSpec:
    """`spec` with its work directory made, as `run_attempt` has it before `confine`."""
    spec.workdir.mkdir(parents=True)
    return spec


@pytest.fixture
def as_root() -> None:
    require_root()


@pytest.fixture
def abi() -> int:
    return require_landlock()


@pytest.fixture
def job_user(as_root: None) -> pwd.struct_passwd:
    """The default job user, which a Sandbox creates as root when it is missing."""
    with open_folder() as folder:
        Sandbox(folder / "data")
    return pwd.getpwnam(DEFAULT_JOB_USER)


# -- the system a job sees: _around and _system_rules -------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/{top/, file.txt, a/{other/, b/{sibling/, protected/secret}}} and links in root/a."""
    root = tmp_path / "root"
    for folder in ("top", "a/other", "a/b/sibling", "a/b/protected"):
        (root / folder).mkdir(parents=True)
    (root / "file.txt").write_text("granted\n")
    (root / "a/b/protected/secret").write_text("never\n")
    (root / "a/into").symlink_to(root / "a/b/protected")
    (root / "a/into_file").symlink_to(root / "a/b/protected/secret")
    (root / "a/up").symlink_to(root / "a/b")  # holds the protected folder
    return root


def test_around_grants_the_siblings_and_never_the_protected_path_or_its_ancestors(
    tree: Path,
) -> None:
    protected = tree / "a/b/protected"

    rules = _around(tree, RIGHTS, (protected,))

    assert sorted(rules) == sorted(
        (tree / name, RIGHTS) for name in ("top", "file.txt", "a/other", "a/b/sibling")
    )
    granted = [path for path, _ in rules]
    for path in (tree, tree / "a", tree / "a/b", protected, protected / "secret"):
        assert path not in granted


def test_around_grants_nothing_through_a_link_into_the_protected_folder(tree: Path) -> None:
    protected = tree / "a/b/protected"

    granted = [path for path, _ in _around(tree, RIGHTS, (protected,))]

    assert not [p for p in granted if p == protected or protected in p.parents]
    # A link to a folder that holds the protected one is neither granted nor followed: what it
    # leads to is granted once, around the protected folder, under its own name.
    assert tree / "a/b" not in granted
    assert len(granted) == len(set(granted))


def test_around_grants_the_whole_root_given_it_holds_no_protected_path(tree: Path) -> None:
    assert _around(tree / "a", RIGHTS, (tree / "top",)) == [(tree / "a", RIGHTS)]


def test_around_grants_nothing_given_a_root_that_is_protected(tree: Path) -> None:
    assert _around(tree / "a", RIGHTS, (tree / "a",)) == []


def test_around_grants_no_link_target_outside_the_root(tree: Path, tmp_path: Path) -> None:
    # Granted whole, a root does not reach where its links point outside it (Landlock follows
    # the real path); granted child by child around a protected path, it must not either.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tree / "a/away").symlink_to(outside)

    granted = [path for path, _ in _around(tree, RIGHTS, (tree / "a/b/protected",))]

    assert outside not in granted


def test_system_rules_grant_the_system_around_a_protected_system_folder() -> None:
    protected = Path("/usr/share")

    rules = _system_rules((protected,))

    granted = [path for path, _ in rules]
    assert not [p for p in granted if p == protected or protected in p.parents]
    assert not [p for p in granted if p in protected.parents]  # not /usr, not /
    assert (Path("/usr/bin").resolve(), RIGHTS) in rules
    assert (Path("/etc"), Fs.READ_FILE | Fs.READ_DIR) in rules


# -- describe -----------------------------------------------------------------------------------


def test_describe_names_landlock_and_tenants_given_root_on_a_landlock_kernel(
    abi: int, as_root: None, tmp_path: Path
) -> None:
    line = Sandbox(tmp_path / "data").describe()

    assert line.startswith(f"Isolation: Landlock ABI {abi} confines ")
    assert "tenant" in line and f"{DEFAULT_JOB_USER!r}" in line
    assert "UNAVAILABLE" not in line


def test_describe_says_tenants_without_landlock_given_root_and_sandbox_none(
    as_root: None, tmp_path: Path
) -> None:
    line = Sandbox(tmp_path / "data", kernel="none").describe()

    assert "tenant" in line and "UNAVAILABLE" not in line
    assert "no Landlock" in line  # the operator learns the file allow-list is off


# -- without isolation: not root, OPCENTER_SANDBOX=none -----------------------------------------

_UNISOLATED = """
import json, os, stat, sys
from pathlib import Path
from opcenter.runners.base import Confinement, InstanceSpec
from opcenter.runners.sandbox import Refused, Sandbox

base = Path(sys.argv[1])
report = {"euid": os.geteuid()}
for policy in ("auto", "refuse", "warn"):
    data = base / policy
    sandbox = Sandbox(data, policy=policy, kernel="none")
    entry = {"describe": sandbox.describe(), "mode": stat.S_IMODE(data.stat().st_mode)}
    for env in ("DEV", "PROD"):
        work = data / "work" / env
        spec = InstanceSpec(1, 1, 6, "true", (), work, data / "x.log", 10.0,
                            confinement=Confinement("ws", env))
        try:
            jail = sandbox.confine(spec)
        except Refused as exc:
            entry[env] = {"refused": str(exc)}
        else:
            entry[env] = {"abi": jail.abi, "user": jail.user, "rules": len(jail.rules),
                          "env": jail.env, "notes": list(jail.notes)}
    report[policy] = entry
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def unisolated() -> Iterator[dict]:
    """What a server that is not root, with OPCENTER_SANDBOX=none, says and decides, for each
    OPCENTER_ISOLATION policy (one child Python for the module)."""
    with unprivileged_folder() as folder:
        yield json.loads(run_unprivileged(_UNISOLATED, folder, str(folder)))


_RULES = {
    "auto": "PROD jobs are refused, DEV jobs run unisolated",
    "refuse": "jobs are refused",
    "warn": "jobs run unisolated",
}


@pytest.mark.parametrize("policy", ["auto", "refuse", "warn"])
def test_describe_says_unavailable_and_the_policy_given_no_root_and_sandbox_none(
    unisolated: dict, policy: str
) -> None:
    assert unisolated["euid"] != 0
    assert unisolated[policy]["describe"] == (
        "Isolation: UNAVAILABLE (OPCENTER_SANDBOX=none, and opcenter is not root): "
        f"{_RULES[policy]} (OPCENTER_ISOLATION={policy})."
    )


_WARNING = "WARNING: this job runs unisolated (OPCENTER_SANDBOX=none, and opcenter is not root)."


@pytest.mark.parametrize(
    ("policy", "refused"),
    [("auto", {"PROD"}), ("refuse", {"DEV", "PROD"}), ("warn", set())],
)
def test_confine_applies_the_isolation_policy_given_no_isolation(
    unisolated: dict, policy: str, refused: set[str]
) -> None:
    for env in ("DEV", "PROD"):
        decision = unisolated[policy][env]
        if env in refused:
            assert decision == {
                "refused": "jobs cannot be isolated on this machine (OPCENTER_SANDBOX=none, and "
                f"opcenter is not root); OPCENTER_ISOLATION={policy} refuses {env} jobs then"
            }
        else:
            assert decision == {
                "abi": 0,
                "user": None,
                "rules": 0,
                "env": {},
                "notes": [_WARNING],
            }


def test_private_data_dir_is_the_owners_alone_given_no_root(unisolated: dict) -> None:
    assert unisolated["auto"]["mode"] == 0o700


# -- confine as root ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant", "reason"),
    [
        ("root", "tenant 'root' is root: jobs never run as root"),
        ("oc-no-such-tenant", "tenant user 'oc-no-such-tenant' does not exist on this machine"),
        ("Bad User", "tenant 'Bad User' is not a valid user name"),
        ("../etc", "tenant '../etc' is not a valid user name"),
    ],
)
def test_confine_refuses_the_tenant_given_root_an_unknown_or_an_invalid_user(
    as_root: None, tmp_path: Path, tenant: str, reason: str
) -> None:
    sandbox = Sandbox(tmp_path / "data")
    spec = prepared(spec_in(sandbox.data_dir, 1, confinement=Confinement("ws", "DEV", tenant)))

    with pytest.raises(Refused) as caught:
        sandbox.confine(spec)

    assert str(caught.value) == reason


def test_confine_runs_as_the_default_job_user_in_its_own_work_directory(
    abi: int, job_user: pwd.struct_passwd, tmp_path: Path
) -> None:
    sandbox = Sandbox(tmp_path / "data")
    spec = prepared(spec_in(sandbox.data_dir, 1))
    (spec.workdir / "script.sh").write_text("true\n")  # what the runner wrote, as root

    jail = sandbox.confine(spec)

    assert jail.user is not None
    assert (jail.user.name, jail.user.uid, jail.user.gid) == (
        DEFAULT_JOB_USER,
        job_user.pw_uid,
        job_user.pw_gid,
    )
    assert job_user.pw_dir in ("/nonexistent", "/")  # no home: HOME is the work directory
    assert jail.env == {
        "TMPDIR": str(spec.workdir / "tmp"),
        "HOME": str(spec.workdir),
        "USER": DEFAULT_JOB_USER,
        "LOGNAME": DEFAULT_JOB_USER,
    }
    assert jail.notes == (
        f"Isolated (Landlock ABI {abi}), as {DEFAULT_JOB_USER} (uid {job_user.pw_uid}).",
    )
    assert jail.abi == abi
    for path in (spec.workdir, spec.workdir / "tmp", spec.workdir / "script.sh"):
        assert path.stat().st_uid == job_user.pw_uid
    assert mode_of(spec.workdir) == 0o700
    assert (spec.workdir, _ALL) in jail.rules
    data = sandbox.data_dir
    for path, _ in jail.rules:  # of the data directory, the job sees its work directory only
        assert path != data and path not in data.parents
        assert data not in path.parents or path == spec.workdir


def test_sandbox_creates_the_job_user_given_it_is_missing(as_root: None, tmp_path: Path) -> None:
    name = "oc-unit-created"
    subprocess.run(["userdel", name], capture_output=True, check=False)
    try:
        sandbox = Sandbox(tmp_path / "data", job_user=name)
        entry = pwd.getpwnam(name)
        spec = prepared(spec_in(sandbox.data_dir, 1))

        jail = sandbox.confine(spec)

        assert sandbox.problem is None
        assert entry.pw_uid != 0 and entry.pw_shell.endswith("nologin")
        assert jail.user is not None and (jail.user.name, jail.user.uid) == (name, entry.pw_uid)
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)


def test_confine_shares_only_grantable_paths_and_says_why_not_the_others(
    as_root: None, job_user: pwd.struct_passwd, tmp_path: Path
) -> None:
    store = tmp_path / "store"  # a store folder outside the data dir: protected too
    store.mkdir()
    sandbox = Sandbox(tmp_path / "data", protect=[store])
    data = sandbox.data_dir
    shared, sql = tmp_path / "shared", data / "sql" / "ws_dev"
    shared.mkdir()
    sql.mkdir()
    (sql / "ws.db").write_text("")
    (data / "work" / "2").mkdir()
    link = tmp_path / "link-to-logs"
    link.symlink_to(data / "logs")
    refused = {
        tmp_path: "it holds opcenter's own files",
        store: "it holds opcenter's own files",
        data / "logs": "inside opcenter's data directory",
        data / "work" / "2": "inside opcenter's data directory",
        data / "sql": "inside opcenter's data directory",
        link: "inside opcenter's data directory",
        tmp_path / "missing": "does not exist",
    }
    grants = (
        *(Grant(path, writable=True) for path in refused),
        Grant(shared),
        Grant(sql, writable=True),
    )
    spec = prepared(spec_in(data, 1, confinement=Confinement("ws", "DEV", grants=grants)))

    jail = sandbox.confine(spec)

    assert list(jail.notes[1:]) == [f"not shared: {p} ({why})" for p, why in refused.items()]
    assert (shared, Fs.READ_FILE | Fs.READ_DIR) in jail.rules
    assert (sql, _WRITE) in jail.rules
    granted = [path for path, _ in jail.rules]
    for path in refused:
        assert path not in granted and path.resolve() not in granted
    # The writable SQL folder inside the data dir is the job user's, private to it.
    assert (sql.stat().st_uid, mode_of(sql)) == (job_user.pw_uid, 0o700)
    assert (sql / "ws.db").stat().st_uid == job_user.pw_uid
    assert shared.stat().st_uid == 0  # a shared path outside is not given away


def test_confine_does_not_share_a_path_inside_a_protected_folder(abi: int, tmp_path: Path) -> None:
    store = tmp_path / "store"  # the SQLite store's folder, outside the data dir
    (store / "backups").mkdir(parents=True)
    (store / "opcenter.db").write_text("every workspace's secrets")
    sandbox = Sandbox(tmp_path / "data", protect=[store])
    inside = (store / "opcenter.db", store / "backups")
    grants = tuple(Grant(path) for path in inside)
    spec = prepared(
        spec_in(sandbox.data_dir, 1, confinement=Confinement("ws", "DEV", grants=grants))
    )

    jail = sandbox.confine(spec)

    granted = [path for path, _ in jail.rules]
    for path in inside:
        assert path not in granted
    assert [note.split(" (")[0] for note in jail.notes[1:]] == [f"not shared: {p}" for p in inside]


def test_sandbox_makes_the_data_dir_passable_but_private_given_root(
    as_root: None, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    os.chmod(data / "logs", 0o755)
    for name in ("opcenter.db", "opcenter.db-wal"):
        (data / name).write_text("")
        os.chmod(data / name, 0o644)

    Sandbox(data)

    assert mode_of(data) == 0o711
    assert mode_of(data / "work") == 0o711
    assert mode_of(data / "sql") == 0o711
    assert mode_of(data / "logs") == 0o700
    assert mode_of(data / "opcenter.db") == 0o600
    assert mode_of(data / "opcenter.db-wal") == 0o600


# -- run_attempt with a sandbox -----------------------------------------------------------------


@pytest.fixture
def data(as_root: None) -> Iterator[Path]:
    """A data dir a job user can pass through to its work directory (not under tmp_path)."""
    with open_folder() as folder:
        yield folder / "data"


def run(
    sandbox: Sandbox,
    spec: InstanceSpec,
    stop: threading.Event | None = None,
    on_started: object = None,
) -> InstanceResult:
    return run_attempt(
        spec,
        default_runners(),
        stop=stop or threading.Event(),
        on_started=on_started or (lambda _: None),  # type: ignore[arg-type]
        grace_seconds=TEST_GRACE_SECONDS,
        sandbox=sandbox,
    )


def wait_for_text(path: Path, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} did not say {text!r} within {timeout} s")


def test_sandboxed_job_runs_as_the_job_user_and_owns_what_it_creates(
    abi: int, job_user: pwd.struct_passwd, data: Path
) -> None:
    sandbox = Sandbox(data)
    code = "set -e\nid -un\necho to-stderr > /dev/stderr\ntouch made\nmkdir sub\n"
    code += 'echo "home=$HOME tmp=$TMPDIR"\n'
    spec = spec_in(data, 1, code)

    result = run(sandbox, spec)

    assert result.outcome is Outcome.SUCCESS, body(spec)
    assert body(spec) == [
        f"[opcenter] Isolated (Landlock ABI {abi}), as {DEFAULT_JOB_USER} "
        f"(uid {job_user.pw_uid}).",
        DEFAULT_JOB_USER,
        "to-stderr",
        f"home={spec.workdir} tmp={spec.workdir / 'tmp'}",
        "[opcenter] exit code 0",
    ]
    for made in ("made", "sub"):
        assert (spec.workdir / made).stat().st_uid == job_user.pw_uid


def test_sandboxed_job_cannot_read_a_file_of_the_data_dir_that_only_landlock_keeps(
    abi: int, data: Path
) -> None:
    sandbox = Sandbox(data)
    secret = data / "opcenter.db"
    secret.write_text("the store's secret\n")
    os.chmod(secret, 0o644)  # the job user may read it by its modes: only Landlock stops it
    spec = spec_in(data, 1, f"cat {secret}\n")

    result = run(sandbox, spec)

    assert (result.outcome, result.exit_code) == (Outcome.FAILURE, 1)
    assert f"cat: {secret}: Permission denied" in body(spec)
    assert "the store's secret" not in spec.log_path.read_text()


def test_job_cannot_read_the_store_without_landlock_given_root(
    data: Path, job_user: pwd.struct_passwd
) -> None:
    data.mkdir()
    secret = data / "opcenter.db"
    secret.write_text("the store's secret\n")
    sandbox = Sandbox(data, kernel="none")  # file modes alone: the store becomes 0600 root's
    spec = spec_in(data, 1, f"id -un\ncat {secret}\n")

    result = run(sandbox, spec)

    assert (result.outcome, result.exit_code) == (Outcome.FAILURE, 1)
    assert body(spec)[:3] == [
        f"[opcenter] Isolated (no Landlock: file permissions only), as {DEFAULT_JOB_USER} "
        f"(uid {job_user.pw_uid}).",
        DEFAULT_JOB_USER,
        f"cat: {secret}: Permission denied",
    ]


def test_sandboxed_job_does_not_start_given_an_unknown_tenant(data: Path) -> None:
    sandbox = Sandbox(data)
    confinement = Confinement("ws", "DEV", tenant="oc-no-such-tenant")
    spec = spec_in(data, 1, "echo never", confinement=confinement)
    started: list[object] = []

    result = run(sandbox, spec, on_started=started.append)

    message = "cannot start: tenant user 'oc-no-such-tenant' does not exist on this machine"
    assert (result.outcome, result.exit_code, result.message) == (Outcome.FAILURE, None, message)
    assert started == []
    assert body(spec) == [f"[opcenter] {message}"]


def test_stop_ends_a_sandboxed_job_and_its_whole_group(abi: int, data: Path) -> None:
    sandbox = Sandbox(data)
    spec = spec_in(data, 1, "echo ready\nsleep 60\n", timeout=60)
    stop, handles, outcome = threading.Event(), [], {}

    def supervise() -> None:
        outcome["result"] = run(sandbox, spec, stop, on_started=handles.append)

    supervisor = threading.Thread(target=supervise)
    supervisor.start()
    try:
        wait_for_text(spec.log_path, "ready")  # the job runs, as the job user, in its jail
    finally:
        stop.set()
        supervisor.join(30)
    assert not supervisor.is_alive()

    result = outcome["result"]
    assert (result.outcome, result.exit_code) == (Outcome.STOPPED, -signal.SIGTERM)
    (handle,) = handles
    assert live_members(handle.pgid) == []


def live_members(pgid: int) -> list[int]:
    """The processes of group `pgid` that are not zombies. (`os.killpg(pgid, 0)` alone is not
    enough: the killed `sleep` is an orphan, and it stays a zombie in the group until this
    machine's init reaps it, which a container's init may do late.)"""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


# -- Landlock alone: a server that is not root --------------------------------------------------

_LANDLOCK_ALONE = """
import json, os, sys, threading
from pathlib import Path
from opcenter.runners.attempt import run_attempt
from opcenter.runners.base import Confinement, InstanceSpec
from opcenter.runners.registry import default_runners
from opcenter.runners.sandbox import Sandbox

data = Path(sys.argv[1]) / "data"
sandbox = Sandbox(data)
secret = data / "opcenter.db"
secret.write_text("the store's secret")  # this user's own file: only Landlock keeps it
code = '''
if cat "$1"; then echo READ; else echo NOREAD; fi
if kill -0 "$2"; then echo SIGNALLED; else echo NOSIGNAL; fi
if cat "/proc/$2/environ" > /dev/null; then echo ENVIRON; else echo NOENVIRON; fi
echo kept > here && echo WROTE
'''
spec = InstanceSpec(1, 1, 6, code, (str(secret), str(os.getpid())), data / "work" / "1" / "1",
                    data / "logs" / "1.log", 10.0,
                    confinement=Confinement("ws", "PROD", tenant="someone"))
result = run_attempt(spec, default_runners(), stop=threading.Event(),
                     on_started=lambda _: None, sandbox=sandbox)
print(json.dumps({"outcome": result.outcome.value, "log": spec.log_path.read_text(),
                  "user": os.getuid(), "describe": sandbox.describe()}))
"""


def test_landlock_alone_keeps_a_job_from_the_data_dir_and_the_server_given_no_root(
    abi: int,
) -> None:
    with unprivileged_folder() as folder:
        report = json.loads(run_unprivileged(_LANDLOCK_ALONE, folder, str(folder)))

    assert report["user"] != 0
    assert report["describe"].startswith(f"Isolation: Landlock ABI {abi} confines ")
    lines = [line.split(" [opcenter] ")[-1] for line in report["log"].splitlines()]
    user = pwd.getpwuid(report["user"]).pw_name
    assert lines[:2] == [
        f"Isolated (Landlock ABI {abi}), as {user}.",
        f"tenant 'someone' not applied: opcenter does not run as root; the job runs as {user!r} "
        "in the sandbox",
    ]
    assert "NOREAD" in lines and "the store's secret" not in report["log"]
    assert "NOENVIRON" in lines  # the server's environment holds its secrets
    if abi >= 6:
        assert "NOSIGNAL" in lines
    assert "WROTE" in lines
    assert report["outcome"] == "SUCCESS"
