"""Per-peer virtual environments under ``bench/.venvs/<peer>/`` at pinned versions.

Installation is idempotent: a stamp file records what was installed, so a second call with the
same pins does nothing. The first install of a peer freezes the resolved environment into
``bench/peers/locks/<peer>.txt``; later installs use that file as pip constraints, which makes
the transitive versions reproducible (Airflow's own constraints file is not on PyPI).
"""

from __future__ import annotations

import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PEERS", "Peer", "ensure_venv", "peer_python"]

BENCH_DIR = Path(__file__).resolve().parent.parent
VENVS_DIR = BENCH_DIR / ".venvs"
LOCKS_DIR = Path(__file__).resolve().parent / "locks"


@dataclass(frozen=True)
class Peer:
    """A peer scheduler: its venv name, pinned requirements and the version shown in tables."""

    name: str
    requirements: tuple[str, ...]
    label: str


PEERS: dict[str, Peer] = {
    "luigi": Peer("luigi", ("luigi==3.8.1",), "Luigi 3.8.1"),
    "dagster": Peer("dagster", ("dagster==1.13.28",), "Dagster 1.13.28"),
    "prefect": Peer("prefect", ("prefect==3.9.1",), "Prefect 3.9.1"),
    "airflow": Peer(
        "airflow",
        ("apache-airflow==3.3.2", "psycopg2-binary==2.9.13", "asyncpg==0.32.0"),
        "Airflow 3.3.2",
    ),
}


def peer_python(name: str) -> Path:
    """The interpreter of the peer's virtual environment."""
    return VENVS_DIR / name / "bin" / "python"


def _stamp(peer: Peer) -> str:
    return "\n".join(peer.requirements) + "\n"


def ensure_venv(peer: Peer, *, log=print) -> Path:
    """Create and fill ``bench/.venvs/<peer>`` unless it already holds these pins."""
    root = VENVS_DIR / peer.name
    stamp = root / "bench-installed.txt"
    if stamp.exists() and stamp.read_text() == _stamp(peer):
        return peer_python(peer.name)
    log(f"installing {peer.label} into {root} (one time, a few minutes) ...")
    if not peer_python(peer.name).exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
    lock = LOCKS_DIR / f"{peer.name}.txt"
    cmd = [str(peer_python(peer.name)), "-m", "pip", "install", "-q", *peer.requirements]
    if lock.exists():
        cmd += ["-c", str(lock)]
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout)
        raise RuntimeError(f"pip install failed for {peer.label} (exit {result.returncode})")
    if not lock.exists():
        _freeze(peer, lock)
    stamp.write_text(_stamp(peer))
    log(f"installed {peer.label}")
    return peer_python(peer.name)


def _freeze(peer: Peer, lock: Path) -> None:
    frozen = subprocess.run(
        [str(peer_python(peer.name)), "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    LOCKS_DIR.mkdir(parents=True, exist_ok=True)
    lock.write_text(f"# pip freeze of bench/.venvs/{peer.name}, used as constraints\n" + frozen)
