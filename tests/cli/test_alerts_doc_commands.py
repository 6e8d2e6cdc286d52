"""docs/alerts.md's `opcenter remind …` / `opcenter alert …` block, read from the doc and run
line by line as real `opcenter` processes on a new data directory: every line succeeds and does
what the doc says of it. The alert the last two lines look at is written through the store's
`record_alert`, as the engine writes the alerts it raises."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from opcenter.store.alerts import dedupe_key, record_alert
from opcenter.store.tables import Remind, Workspace

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "alerts.md"
OPCENTER = Path(sys.executable).with_name("opcenter")


def doc_commands() -> list[list[str]]:
    """The commands of the doc's one block of `opcenter remind` lines: continuation lines
    joined, `# …` comments dropped, each split as a shell splits it."""
    text = DOC.read_text(encoding="utf-8")
    fenced = re.findall(r"^```(\w*)\n(.*?)^```$", text, re.M | re.S)
    blocks = [body for _, body in fenced if "opcenter remind create" in body]
    assert len(blocks) == 1, f"alerts.md has {len(blocks)} blocks of opcenter remind commands"
    joined = blocks[0].replace("\\\n", " ")
    commands = [shlex.split(line, comments=True) for line in joined.splitlines()]
    assert all(c[0] == "opcenter" for c in commands if c), commands
    return [c for c in commands if c]


def _record_webhook_alert(data: Path, remind_id: int, remind_name: str, url: str) -> int:
    """An ERROR alert of rule `remind_id` about load_sales, raised now, to be mailed to alice
    and posted to `url` (as the engine records it)."""
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data))
    try:
        with ctx.db.transaction() as session:
            workspace = sa.select(Workspace.id).where(Workspace.identifier == "sales")
            alert_id = record_alert(
                session.connection(),
                workspace_id=session.execute(workspace).scalar_one(),
                remind_id=remind_id,
                remind_name=remind_name,
                trigger="ERROR",
                key=dedupe_key(remind_id, "ERROR", "instance/1"),
                receivers=[("MAIL", "alice"), ("WEBHOOKS", url)],
                created_at=ctx.clock(),
                subject="load_sales failed",
                node_id=4,
                node_name="load_sales",
            )
        with ctx.db.transaction(readonly=True) as session:
            rules = {r.id: (r.name, r.use_flag) for r in session.scalars(sa.select(Remind))}
    finally:
        ctx.db.dispose()
    assert alert_id is not None
    assert rules == {1: ("nightly-failures", True), 2: ("load-slow", True)}
    return alert_id


def test_the_remind_and_alert_commands_of_the_doc_run_on_a_new_data_directory(
    tmp_path: Path,
) -> None:
    # Given a new data directory, and the example workflow where the doc's `apply` looks
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPCENTER_")}
    env.update(OPCENTER_DATA_DIR=str(data), OPCENTER_TIMEZONE="UTC")
    commands = doc_commands()
    assert commands[0][:2] == ["opcenter", "apply"]
    assert [c[1] for c in commands].count("alert") == 2
    printed: list[str] = []
    for command in commands:
        if command[1:3] == ["alert", "list"]:
            # the rule's alert, raised now: after the --since of the doc's line
            rule = next(c for c in commands if "nightly-failures" in c)
            url = rule[rule.index("--webhook") + 1]
            alert_id = _record_webhook_alert(data, 1, "nightly-failures", url)
        if command[1:3] == ["alert", "show"]:
            assert command[3] == str(alert_id)  # the AlertId the list gave
        # When the doc's line runs
        done = subprocess.run(
            [str(OPCENTER), *command[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        # Then it succeeds, and prints something
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        assert done.stdout.strip(), command
        printed.append(done.stdout)

    said = dict(zip((" ".join(c[1:3]) for c in commands), printed, strict=False))
    listed = printed[[" ".join(c[1:3]) for c in commands].index("remind list")]
    for name in ("nightly-failures", "load-slow", "late"):
        assert name in listed
    assert "load_sales" in listed  # the node rule names node 4, the example's load_sales
    assert "RemindId 3" in printed[3]  # the third create made rule 3
    assert "nightly-failures" in said["alert list"] and "page 1, 1 of 1" in said["alert list"]
    assert url in said["alert show"] and "PENDING" in said["alert show"]
