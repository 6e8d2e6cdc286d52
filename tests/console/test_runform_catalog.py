"""Every message the Workflows, run form and Runs templates ask for is in both catalogs,
including the keys they build (a mark, a TaskType, a Dag status)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opcenter.console.i18n import LANGUAGES, catalog
from opcenter.console.run_form import MARKS
from opcenter.domain.model import DagStatus, TaskType

TEMPLATES = Path(__file__).parents[2] / "src" / "opcenter" / "console" / "templates"
MINE = ("workflows.html", "workflow.html", "runs.html")
_KEY = re.compile(r"""\bt\(\s*["']([a-z_.]+)["']""")


def used() -> set[str]:
    keys = set()
    for name in MINE:
        keys |= {k for k in _KEY.findall((TEMPLATES / name).read_text()) if not k.endswith(".")}
    keys |= {f"runform.{group}.{m}" for group in ("mark", "sel", "all") for m in MARKS}
    keys |= {f"runform.task.{t.value}" for t in TaskType if t is not TaskType.PAUSE}
    keys |= {f"runs.status.{s.value}" for s in DagStatus}
    return keys


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_every_message_of_the_run_pages_is_in_the_catalog(lang: str) -> None:
    assert sorted(used() - set(catalog(lang))) == []
