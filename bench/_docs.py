"""Writing a benchmark's figures into docs/benchmarks.md: each benchmark owns one section."""

from __future__ import annotations

import os
import platform
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def replace_section(heading: str, block: str, *, doc: Path = DOC, before: str = "## Peers") -> None:
    """Put `block` (starting with `heading`) in place of the section under `heading`; a new
    section goes before the section `before` (the peer comparison stays last), else at the end."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    block = block.rstrip("\n") + "\n"
    if heading in text:
        start = text.index(heading)
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + block + (text[end:] if end >= 0 else "")
    elif (at := text.find("\n" + before)) >= 0:
        text = text[:at] + "\n\n" + block + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    doc.write_text(text)


def machine() -> str:
    """One line naming this machine: CPU model, CPU count, kernel, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} CPUs, {system}, Python {platform.python_version()}"
