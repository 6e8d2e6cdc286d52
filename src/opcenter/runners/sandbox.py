"""The boundary of a job: what an attempt may reach, and whom it runs as.

A job sees its own work directory (read-write; also its `HOME` and `TMPDIR` unless its tenant
has a home of its own), the paths its `Confinement` grants (its workspace environment's SQL
folder, the workspace's shared paths), and the ordinary system read-only: `/usr`, `/bin`,
`/lib*`, `/etc`, `/opt`, the interpreter opcenter runs on, `/proc`, `/sys`, and `/dev`. It never
sees opcenter's data directory (the store, logs, other attempts' work directories, other
workspaces' SQL databases), the `.env` file the server read its settings from, or the store's
folder when it lies elsewhere. Two mechanisms draw that line, each enough on its own:

- **Landlock** (Linux ≥ 5.13, no privilege needed): the thread that starts the job restricts
  itself to an allow-list of paths (runners/landlock.py) and the job inherits it, for good.
  From ABI 6 (Linux 6.12) the job can also signal only its own processes.
- **Tenants**, when opcenter runs as root: the job runs as its workspace environment's OS user
  (`Confinement.tenant`), or as the dedicated default user `OPCENTER_JOB_USER` (`opcenter-job`,
  created at start when missing), never as root. Its work directory and SQL folder belong to
  that user; the data directory is `0711`, its logs `0700` and the store `0600`, all root's.

Where neither is available (not root, and no Landlock or `OPCENTER_SANDBOX=none`) jobs cannot be
isolated: `OPCENTER_ISOLATION` decides (`auto`: PROD jobs are refused, DEV jobs run with a
warning in their log; `refuse`; `warn`).
"""

from __future__ import annotations

import functools
import grp
import logging
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import opcenter
from opcenter.runners import landlock
from opcenter.runners.base import Confinement, InstanceSpec
from opcenter.runners.landlock import Fs
from opcenter.runners.runner import Command, RunnerError
from opcenter.settings import DEFAULT_JOB_USER, Settings

__all__ = ["Jail", "JobUser", "Refused", "Sandbox"]

logger = logging.getLogger(__name__)

_READ = Fs.READ_FILE | Fs.READ_DIR
_READ_EXEC = _READ | Fs.EXECUTE
_DEVICES = _READ | Fs.WRITE_FILE | Fs.TRUNCATE | Fs.IOCTL_DEV
_ALL = Fs(sum(Fs))
_WRITE = _ALL & ~Fs.EXECUTE  # a shared writable path: everything but running programs from it

# The ordinary system a job may read (and run programs from); each only where it exists.
_SYSTEM = (
    ("/usr", _READ_EXEC),
    ("/bin", _READ_EXEC),
    ("/sbin", _READ_EXEC),
    ("/lib", _READ_EXEC),
    ("/lib32", _READ_EXEC),
    ("/lib64", _READ_EXEC),
    ("/libx32", _READ_EXEC),
    ("/opt", _READ_EXEC),
    ("/nix/store", _READ_EXEC),
    ("/etc", _READ),
    ("/proc", _READ),
    ("/sys", _READ),
    ("/dev", _DEVICES),
    ("/dev/shm", _WRITE),
)
_NO_HOME = ("/", "/nonexistent", "/dev/null")
_USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,30}\$?")
TMP_NAME = "tmp"  # the job's TMPDIR, inside its work directory


class Refused(RunnerError):
    """The attempt may not start under the isolation rules (no isolation in PROD, an unknown
    tenant, root as a tenant); the message says why."""


@dataclass(frozen=True)
class JobUser:
    """The OS user a job runs as (only when opcenter runs as root)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str

    def setpriv_args(self) -> tuple[str, ...]:
        """util-linux `setpriv` options that become this user, for good: no setuid program
        can raise the job's privileges again (no_new_privs), with Landlock or without."""
        uid, gid = str(self.uid), str(self.gid)
        return ("--reuid", uid, "--regid", gid, "--init-groups", "--no-new-privs")


@dataclass(frozen=True)
class Jail:
    """How one attempt starts: as whom, inside which allow-list, and what its log says."""

    abi: int  # Landlock ABI to enforce; 0: none
    rules: tuple[tuple[Path, Fs], ...] = ()
    user: JobUser | None = None
    env: dict[str, str] = field(default_factory=dict)  # HOME, TMPDIR, USER, LOGNAME
    notes: tuple[str, ...] = ()  # `[opcenter]` lines for the attempt's log

    def command(self, command: Command) -> Command:
        """`command` with the jail's environment on top of its own."""
        return replace(command, env={**command.env, **self.env})

    def launch(
        self, popen: Callable[[], subprocess.Popen[bytes]]
    ) -> tuple[Any, Callable[[], None]]:
        """Start the job with `popen` inside the jail; returns the process and the function to
        call once its whole process group is gone.

        With Landlock, `popen` runs in a new thread that first restricts itself: the job inherits
        the restriction, the server's other threads keep theirs. That thread then waits for the
        release: it is the parent the job's parent-death signal watches, so it must outlive the
        job (runners/attempt.py)."""
        if not self.abi:
            return popen(), _nothing
        ruleset = landlock.create_ruleset(self.abi, self.rules)
        outcome: dict[str, Any] = {}
        started, release = threading.Event(), threading.Event()

        def spawner() -> None:
            try:
                landlock.restrict_current_thread(ruleset)
                outcome["proc"] = popen()
            except BaseException as exc:  # handed to the supervising thread
                outcome["error"] = exc
                started.set()
                return
            started.set()
            release.wait()

        thread = threading.Thread(target=spawner, name="opcenter-jail", daemon=True)
        try:
            thread.start()
            started.wait()
        finally:
            ruleset.close()
        if "error" in outcome:
            thread.join()
            raise outcome["error"]
        return outcome["proc"], release.set


def _nothing() -> None:
    return None


class Sandbox:
    """The isolation rules of one executor, settled at start: what the kernel offers, whether
    opcenter runs as root, what is protected. `confine` turns each attempt into a `Jail`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        policy: str = "auto",
        kernel: str = "landlock",
        job_user: str = DEFAULT_JOB_USER,
        protect: Iterable[Path] = (),
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.policy = policy
        self.kernel = kernel
        self.abi = landlock.abi_version() if kernel == "landlock" else 0
        self.root = os.geteuid() == 0
        self.job_user = job_user
        self.protected = (self.data_dir, *(Path(p).resolve() for p in protect))
        self.problem: str | None = None  # why jobs of the default user cannot start, if so
        _private_data_dir(self.data_dir, self.root)
        self.closed_path: Path | None = None  # where tenants cannot reach the interpreter
        self.closed_data: Path | None = None  # where tenants cannot reach their work directory
        if self.root:
            self.problem = _ensure_user(job_user)
            self.closed_path = _closed_interpreter()
            self.closed_data = _closed_to_others(self.data_dir, folder=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> Sandbox:
        """The sandbox of a server or worker: `OPCENTER_ISOLATION`, `OPCENTER_SANDBOX`,
        `OPCENTER_JOB_USER`; it also protects the `.env` file settings come from and the store's
        folder when the store is a SQLite file outside the data directory."""
        protect = [Path(".env")] if Path(".env").is_file() else []
        url = settings.db_url
        if url.startswith("sqlite:///"):
            protect.append(Path(url.removeprefix("sqlite:///").split("?", 1)[0]).parent)
        return cls(
            settings.data_dir,
            policy=settings.isolation,
            kernel=settings.sandbox,
            job_user=settings.job_user,
            protect=protect,
        )

    @property
    def isolated(self) -> bool:
        return self.abi > 0 or self.root

    def describe(self) -> str:
        """One line for the start of a server: how jobs are isolated, or that they are not."""
        if self.isolated:
            parts = []
            if self.abi:
                scope = "files and signals" if self.abi >= 6 else "files (signals need Linux 6.12)"
                parts.append(f"Landlock ABI {self.abi} confines {scope}")
            if self.root and not self.abi:
                why = "OPCENTER_SANDBOX=none" if self.kernel == "none" else "none in this kernel"
                parts.append(f"no Landlock ({why}): file permissions alone keep jobs apart")
            if self.root:
                parts.append(f"jobs run as their workspace's tenant or {self.job_user!r}")
                if self.problem:
                    parts.append(self.problem)
                if self.closed_data is not None:
                    parts.append(
                        f"jobs cannot run as tenants: {self.closed_data} is closed to other users "
                        "(the data directory must be reachable by them)"
                    )
                if self.closed_path is not None:
                    parts.append(
                        f"Python and SQL nodes cannot run as tenants: {self.closed_path} is "
                        "closed to other users (install opcenter where they can read it)"
                    )
            return "Isolation: " + "; ".join(parts) + "."
        why = "OPCENTER_SANDBOX=none" if self.kernel == "none" else "this kernel has no Landlock"
        rule = {
            "auto": "PROD jobs are refused, DEV jobs run unisolated",
            "refuse": "jobs are refused",
            "warn": "jobs run unisolated",
        }[self.policy]
        return (
            f"Isolation: UNAVAILABLE ({why}, and opcenter is not root): {rule} "
            f"(OPCENTER_ISOLATION={self.policy})."
        )

    def confine(self, spec: InstanceSpec) -> Jail:
        """The jail of one attempt; raises `Refused` when it may not start. Call it after the
        runner has written the attempt's files: their ownership is settled here."""
        c = spec.confinement or Confinement(workspace="", env="DEV")
        if not self.isolated:
            return self._unisolated(c)
        notes: list[str] = []
        user = self._user(c) if self.root else None
        if user is not None and self.closed_data is not None:
            raise Refused(
                f"tenant {user.name!r} cannot reach its work directory: {self.closed_data} is "
                "closed to other users"
            )
        if c.tenant and not self.root and c.tenant != _current_user():
            notes.append(
                f"tenant {c.tenant!r} not applied: opcenter does not run as root; "
                f"the job runs as {_current_user()!r} in the sandbox"
            )
        workdir = spec.workdir
        tmp = workdir / TMP_NAME
        tmp.mkdir(exist_ok=True)
        home = _home_of(user, self.protected)
        rules: list[tuple[Path, Fs]] = [*_system_rules(self.protected), (workdir, _ALL)]
        if home is not None:
            rules.append((home, _ALL))
        for grant in c.grants:
            path, reason = self._grantable(Path(grant.path))
            if reason is not None:
                notes.append(f"not shared: {grant.path} ({reason})")
                continue
            rules.append((path, _WRITE if grant.writable else _READ))
            if user is not None and grant.writable and self._inside_data_dir(path):
                _own_tree(path, user)
        if user is not None:
            _own_tree(workdir, user)
        env = {"TMPDIR": str(tmp), "HOME": str(home or workdir)}
        if user is not None:
            env.update(USER=user.name, LOGNAME=user.name)
        notes.insert(0, self._summary(user))
        return Jail(self.abi, tuple(rules), user, env, tuple(notes))

    def _summary(self, user: JobUser | None) -> str:
        how = f"Landlock ABI {self.abi}" if self.abi else "no Landlock: file permissions only"
        who = f"as {user.name} (uid {user.uid})" if user else f"as {_current_user()}"
        return f"Isolated ({how}), {who}."

    def _unisolated(self, c: Confinement) -> Jail:
        refuse = self.policy == "refuse" or (self.policy == "auto" and c.env == "PROD")
        why = "OPCENTER_SANDBOX=none" if self.kernel == "none" else "no Landlock in this kernel"
        if refuse:
            raise Refused(
                f"jobs cannot be isolated on this machine ({why}, and opcenter is not root); "
                f"OPCENTER_ISOLATION={self.policy} refuses {c.env} jobs then"
            )
        note = f"WARNING: this job runs unisolated ({why}, and opcenter is not root)."
        return Jail(0, notes=(note,))

    def _user(self, c: Confinement) -> JobUser:
        name = c.tenant or self.job_user
        if c.tenant is None and self.problem:
            raise Refused(self.problem)
        if not _USER_NAME.fullmatch(name):
            raise Refused(f"tenant {name!r} is not a valid user name")
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise Refused(f"tenant user {name!r} does not exist on this machine") from None
        if entry.pw_uid == 0:
            raise Refused(f"tenant {name!r} is root: jobs never run as root")
        groups = tuple(g for g in os.getgrouplist(name, entry.pw_gid) if g != 0)
        return JobUser(name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)

    def _inside_data_dir(self, path: Path) -> bool:
        return self.data_dir in path.parents

    def _grantable(self, path: Path) -> tuple[Path, str | None]:
        """The path to allow, or why it is not: it must not hold opcenter's own files, and inside
        the data directory only a workspace environment's SQL folder can be granted."""
        try:
            real = path.resolve(strict=True)
        except OSError:
            return path, "does not exist"
        data = self.data_dir
        # The data directory is handled on its own: its SQL folders may be granted.
        others = [p for p in self.protected[1:] if p != data and data not in p.parents]
        if real == data or real in data.parents:
            return real, "it holds opcenter's own files"
        if any(p == real or real in p.parents or p in real.parents for p in others):
            return real, "it holds opcenter's own files"
        if self._inside_data_dir(real) and real.parent != data / "sql":
            return real, "inside opcenter's data directory"
        return real, None


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _home_of(user: JobUser | None, protected: tuple[Path, ...]) -> Path | None:
    """The tenant's home, when it has a real one that holds none of opcenter's files."""
    if user is None or user.home in _NO_HOME:
        return None
    home = Path(user.home)
    try:
        info = home.stat()
    except OSError:
        return None
    if info.st_uid != user.uid or any(p == home or home in p.parents for p in protected):
        return None
    return home


def _own_tree(path: Path, user: JobUser) -> None:
    """Give `path` (and what it holds) to the job's user, private to it."""
    info = path.stat()
    if info.st_uid == user.uid and stat.S_IMODE(info.st_mode) == 0o700:
        return
    os.chown(path, user.uid, user.gid)
    os.chmod(path, 0o700)
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.chown(os.path.join(folder, name), user.uid, user.gid, follow_symlinks=False)


def _private_data_dir(data_dir: Path, root: bool) -> None:
    """Only opcenter reads its data directory. As root, tenants must still pass through it to
    their own work directory and SQL folder: the folders on that way are `0711` (enter, not
    list), the logs `0700` and every file of the data directory itself `0600`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o711 if root else 0o700)
    if not root:
        return
    for name, mode in (("work", 0o711), ("sql", 0o711), ("logs", 0o700)):
        folder = data_dir / name
        folder.mkdir(exist_ok=True)
        os.chmod(folder, mode)
    for entry in os.scandir(data_dir):
        if entry.is_file(follow_symlinks=False):
            os.chmod(entry.path, 0o600)


def _closed_interpreter() -> Path | None:
    """Where other users cannot reach what Python and SQL nodes run on: the interpreter (the
    program a virtual environment links to), the virtual environment, opcenter's package."""
    package = Path(opcenter.__file__).resolve().parent
    return (
        _closed_to_others(Path(sys.executable).resolve())
        or _closed_to_others(Path(sys.prefix), folder=True)
        or _closed_to_others(package, folder=True)
    )


def _closed_to_others(program: Path, *, folder: bool = False) -> Path | None:
    """The first folder on the way to `program` that other users may not pass through (or
    `program` itself, if they may not run it); None when they can. With `folder`, `program` is
    a folder of opcenter's own: only the way to it counts."""
    for parent in reversed(program.parents):
        try:
            if not parent.stat().st_mode & stat.S_IXOTH:
                return parent
        except OSError:
            return parent
    if folder:
        return None
    try:
        mode = program.stat().st_mode
    except OSError:
        return program
    return None if mode & stat.S_IXOTH and mode & stat.S_IROTH else program


def _ensure_user(name: str) -> str | None:
    """Create the dedicated default job user when it is missing (as root); the reason jobs of
    the default user cannot start when that fails."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        entry = None
    if entry is not None:
        return f"OPCENTER_JOB_USER {name!r} is root" if entry.pw_uid == 0 else None
    useradd = shutil.which("useradd")
    if useradd is None:
        return f"default job user {name!r} is missing and useradd is not installed"
    command = [useradd, "--system", "--user-group", "--no-create-home"]
    command += ["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 and not _exists(name):
        return f"cannot create default job user {name!r}: {done.stderr.strip()}"
    logger.info("created the default job user %s", name)
    return None


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


@functools.lru_cache(maxsize=16)
def _system_rules(protected: tuple[Path, ...]) -> tuple[tuple[Path, Fs], ...]:
    """The read-only system every job sees, computed once per set of protected paths: the
    system folders, the interpreter opcenter runs on and its own package, and what `/etc`'s
    links point to elsewhere (`/etc/resolv.conf`…); a folder that holds a protected path is
    granted child by child around it."""
    roots: list[tuple[str, Fs]] = list(_SYSTEM)
    package_root = Path(opcenter.__file__).resolve().parent.parent
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        roots.append((prefix, _READ_EXEC))
    roots.append((str(Path(sys.executable).resolve().parent), _READ_EXEC))
    roots.append((str(package_root), _READ_EXEC))
    rules: list[tuple[Path, Fs]] = []
    for name, rights in roots:
        try:
            real = Path(name).resolve(strict=True)
        except OSError:
            continue
        rules.extend(_around(real, rights, protected))
    rules.extend(_etc_links(rules, protected))
    return tuple(rules)


def _etc_links(rules: list[tuple[Path, Fs]], protected: tuple[Path, ...]) -> list[tuple[Path, Fs]]:
    extra: list[tuple[Path, Fs]] = []
    try:
        entries = list(os.scandir("/etc"))
    except OSError:
        return extra
    granted = [path for path, _ in rules]
    for entry in entries:
        if not entry.is_symlink():
            continue
        try:
            real = Path(entry.path).resolve(strict=True)
        except OSError:
            continue
        if any(g == real or g in real.parents for g in granted):
            continue
        if not any(p == real or p in real.parents or real in p.parents for p in protected):
            extra.append((real, _READ))
    return extra


def _around(root: Path, rights: Fs, protected: tuple[Path, ...]) -> list[tuple[Path, Fs]]:
    """`root` with `rights`, unless it holds a protected path: then each of its children that
    holds none, recursively, so that the protected paths stay out of reach."""
    if not any(p == root or root in p.parents for p in protected):
        return [(root, rights)]
    if root in protected:
        return []
    rules: list[tuple[Path, Fs]] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return rules
    for entry in entries:
        try:
            real = Path(entry.path).resolve(strict=True)
        except OSError:
            continue
        if any(p == real or p in real.parents for p in protected):
            continue  # a protected path, or inside one (perhaps through a link)
        if entry.is_symlink() and root not in real.parents:
            continue  # granting `root` whole would not reach where the link points
        if any(real in p.parents for p in protected):
            if not entry.is_symlink():
                rules.extend(_around(real, rights, protected))
            continue
        rules.append((real, rights))
    return rules
