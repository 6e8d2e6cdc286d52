"""The vocabulary shared by every layer: environments, modes, node types and states.

Status values are `str` enums, so they store and serialise as their names.
"""

from __future__ import annotations

from enum import Enum, IntEnum

__all__ = [
    "DEFAULT_AUTO_RERUN_INTERVAL_MILLIS",
    "DEFAULT_AUTO_RERUN_TIMES",
    "RUNNABLE_FILE_TYPES",
    "DagStatus",
    "DeploymentStatus",
    "Env",
    "FileType",
    "InstanceStatus",
    "TaskType",
    "UseType",
    "WorkspaceMode",
]


class Env(str, Enum):
    DEV = "DEV"
    PROD = "PROD"


class WorkspaceMode(str, Enum):
    STANDARD = "STANDARD"  # DEV + PROD (DataWorks ProjectMode 3)
    BASIC = "BASIC"  # PROD only (DataWorks ProjectMode 2)

    @property
    def envs(self) -> tuple[Env, ...]:
        return (Env.DEV, Env.PROD) if self is WorkspaceMode.STANDARD else (Env.PROD,)

    @property
    def project_mode(self) -> int:
        return 3 if self is WorkspaceMode.STANDARD else 2


class UseType(str, Enum):
    MANUAL_BIZ = "MANUAL_BIZ"
    NORMAL = "NORMAL"


class FileType(IntEnum):
    """FileType codes of the 2020-05-18 API that opcenter runs; other codes are stored only."""

    ODPS_SQL = 10
    DIDE_SHELL = 6
    VIRTUAL = 99
    PYTHON = 1322


RUNNABLE_FILE_TYPES = frozenset(int(t) for t in FileType)

# What a node gets when its file does not set AutoRerunTimes / AutoRerunIntervalMillis: no
# automatic rerun. Every workspace has these defaults (GetProject SchedulerMaxRetryTimes /
# SchedulerRetryInterval); there is no per-workspace setting.
DEFAULT_AUTO_RERUN_TIMES = 0
DEFAULT_AUTO_RERUN_INTERVAL_MILLIS = 0


class InstanceStatus(str, Enum):
    NOT_RUN = "NOT_RUN"
    WAIT_TIME = "WAIT_TIME"
    WAIT_RESOURCE = "WAIT_RESOURCE"
    RUNNING = "RUNNING"
    FAILURE = "FAILURE"
    SUCCESS = "SUCCESS"
    CHECKING = "CHECKING"
    CHECKING_CONDITION = "CHECKING_CONDITION"

    @property
    def finished(self) -> bool:
        return self in (InstanceStatus.SUCCESS, InstanceStatus.FAILURE)


class TaskType(str, Enum):
    MANUAL = "MANUAL"
    SKIP = "SKIP"  # excluded: dry run
    SKIP_UNCHOOSE = "SKIP_UNCHOOSE"  # not included: dry run
    # How a suspended instance is shown (DataWorks' frozen instance): never stored, the instance
    # keeps its own type and gets it back when it is resumed.
    PAUSE = "PAUSE"

    @property
    def dry_run(self) -> bool:
        return self in (TaskType.SKIP, TaskType.SKIP_UNCHOOSE)


class DagStatus(str, Enum):
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    FAILURE = "FAILURE"
    SUCCESS = "SUCCESS"


class DeploymentStatus(IntEnum):
    READY = 0
    SUCCESS = 1
    FAILURE = 2
