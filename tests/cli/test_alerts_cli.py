"""`opcenter remind …` and `opcenter alert …` on a data directory of the test's own: rules made,
shown, changed and deleted through the command line, and alert messages written through the
store's `record_alert` (as the engine writes them) listed and shown with their deliveries."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from opcenter.cli import cli
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from opcenter.store.alerts import dedupe_key, record_alert
from tests.engine.builders import Flow, make_flow, make_workspace, node

ENV = {"OPCENTER_DATA_DIR": "", "OPCENTER_DATABASE_URL": ""}
HOUR = 3_600_000


@dataclass
class Store:
    data: Path
    ctx: ServiceContext
    flow: Flow
    other_id: int

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(cli, [*args, "--data-dir", str(self.data)], env=ENV)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.exit_code == 0, (args, result.output)
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def error(self, *args: str) -> tuple[int, str]:
        result = self.run(*args)
        assert result.exit_code != 0, (args, result.output)
        assert result.stdout == "", (args, result.stdout)
        return result.exit_code, result.stderr.splitlines()[-1]

    def record(self, remind_id: int | None, n: int, **more: Any) -> int:
        values: dict[str, Any] = {
            "workspace_id": self.flow.project_id,
            "remind_id": remind_id,
            "remind_name": "failures",
            "trigger": "ERROR",
            "key": dedupe_key(remind_id or 0, "ERROR", f"instance/{1000 + n}"),
            "receivers": [("MAIL", "alice"), ("WEBHOOKS", "https://hooks.example/x")],
            "created_at": self.ctx.clock() - (10 - n) * HOUR,
            "subject": f"b failed #{n}",
            "content": f"Instance {1000 + n} of node b failed.",
            "dag_id": 500 + n,
            "instance_id": 1000 + n,
            "node_id": self.flow.id("b"),
            "node_name": "b",
            "node_owner": "root",
            "instance_status": "FAILURE",
        }
        values.update(more)
        with self.ctx.db.transaction() as session:
            alert_id = record_alert(session.connection(), **values)
        assert alert_id is not None
        return alert_id


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.chdir(tmp_path)  # no stray .env file is read
    data = tmp_path / "data"
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data))
    flow = make_flow(ctx, [node("a"), node("b", after=["a"])])
    other = make_workspace(ctx, "other")
    yield Store(data, ctx, flow, other)
    ctx.db.dispose()


def _created_id(out: str) -> int:
    assert out.startswith("Created alert rule "), out
    return int(out.rsplit("RemindId ", 1)[1].rstrip(").\n"))


# --- remind ---------------------------------------------------------------------------------


def test_create_makes_project_workflow_and_node_rules_that_list_and_get_show(store: Store) -> None:
    whole = _created_id(store.ok("remind", "create", "--name", "all", "-w", "ws", "--type",
                                 "error", "--mail"))  # fmt: skip
    slow = store.json(
        "remind", "create", "--name", "slow", "-w", "ws", "--workflow", "flow", "--type",
        "TIMEOUT", "--timeout", "1h30m", "--to", "alice,bob", "--to", "carol", "--mail",
        "--webhook", "https://hooks.example/x", "--interval", "40m", "--max-alerts", "5",
        "--dnd-end", "7:00",
    )  # fmt: skip
    assert (slow["remind_unit"], slow["remind_type"], slow["detail"]) == (
        "BIZPROCESS",
        "TIMEOUT",
        "5400",
    )
    assert (slow["alert_unit"], slow["alert_targets"]) == ("OTHER", ["alice", "bob", "carol"])
    assert (slow["alert_methods"], slow["webhooks"]) == (
        ["MAIL", "WEBHOOKS"],
        ["https://hooks.example/x"],
    )
    assert (slow["alert_interval"], slow["max_alert_times"], slow["dnd_end"]) == (2400, 5, "07:00")
    assert slow["workspace"] == "ws" and slow["use_flag"] is True
    assert [t["name"] for t in slow["targets"]] == ["flow"]
    late = store.json(
        "remind", "create", "--name", "late", "-w", "ws", "--node", str(store.flow.id("a")),
        "--node", str(store.flow.id("b")), "--type", "unfinished", "--at", "25:30", "--robot",
        "https://robot.example/send",
    )  # fmt: skip
    assert (late["remind_unit"], late["detail"], late["alert_methods"]) == (
        "NODE",
        '{"hour":25,"minu":30}',
        ["DINGROBOTS"],
    )
    assert [t["name"] for t in late["targets"]] == ["a", "b"]

    table = store.ok("remind", "list")
    lines = [line for line in table.splitlines() if "│" in line]
    assert [line.split("│")[2].strip() for line in lines] == ["late", "slow", "all"]
    assert "unfinished 25:30" in lines[0] and "node: a, b" in lines[0] and "robot" in lines[0]
    assert "timeout 1h30m" in lines[1] and "workflow: flow" in lines[1]
    assert "alice, bob, carol" in lines[1] and "mail, webhook" in lines[1]
    assert "workspace" in lines[2] and "owner" in lines[2] and "yes" in lines[2]
    assert table.rstrip().endswith("page 1, 3 of 3")

    shown = store.ok("remind", "get", str(whole))
    assert "│ error " in shown and "│ owner " in shown and "│ 30m " in shown
    got = store.json("remind", "get", str(slow["remind_id"]))
    assert got == {**slow, "modified_at": got["modified_at"]}


def test_list_filters_by_workspace_type_name_recipient_node_and_pages(store: Store) -> None:
    store.ok("remind", "create", "--name", "ws-errors", "-w", "ws", "--type", "error", "--mail")
    store.ok("remind", "create", "--name", "other-done", "-w", "other", "--type", "finished",
             "--to", "dave", "--mail")  # fmt: skip
    store.ok("remind", "create", "--name", "node-b", "-w", "ws", "--node",
             str(store.flow.id("b")), "--type", "error", "--mail")  # fmt: skip

    def names(*args: str) -> list[str]:
        return [r["remind_name"] for r in store.json("remind", "list", *args)["items"]]

    assert names() == ["node-b", "other-done", "ws-errors"]
    assert names("-w", "other") == ["other-done"]
    assert names("--type", "finished") == ["other-done"]
    assert names("--type", "error", "-w", "ws") == ["node-b", "ws-errors"]
    assert names("--search", "ERRORS") == ["ws-errors"]
    assert names("--to", "dave") == ["other-done"]
    assert names("--node", str(store.flow.id("a"))) == ["ws-errors"]  # the workspace's rule
    page = store.json("remind", "list", "--page-size", "2", "--page", "2")
    assert [r["remind_name"] for r in page["items"]] == ["ws-errors"]
    assert (page["page_number"], page["page_size"], page["total_count"]) == (2, 2, 3)
    assert "(next: --page 2)" in store.ok("remind", "list", "--page-size", "2")
    assert store.error("remind", "list", "-w", "nosuch") == (
        1,
        "Error: The workspace 'nosuch' does not exist.",
    )


def test_update_enable_disable_and_delete(store: Store) -> None:
    rule = _created_id(store.ok("remind", "create", "--name", "r", "-w", "ws", "--type", "error",
                                "--to", "alice", "--mail"))  # fmt: skip
    rid = str(rule)
    assert store.ok("remind", "update", rid, "--name", "renamed", "--owner", "--robot",
                    "https://robot.example/a") == (
        f"Updated alert rule 'renamed' (RemindId {rule}).\n"
    )  # fmt: skip
    got = store.json("remind", "get", rid)
    assert (got["remind_name"], got["alert_unit"], got["alert_targets"]) == ("renamed", "OWNER", [])
    assert (got["alert_methods"], got["robot_urls"]) == (
        ["DINGROBOTS"],
        ["https://robot.example/a"],
    )
    changed = store.json("remind", "update", rid, "--type", "timeout", "--timeout", "900",
                         "--workflow", "flow", "--max-alerts", "2")  # fmt: skip
    assert (changed["remind_type"], changed["detail"], changed["remind_unit"]) == (
        "TIMEOUT",
        "900",
        "BIZPROCESS",
    )
    assert changed["max_alert_times"] == 2 and changed["alert_methods"] == ["DINGROBOTS"]
    assert (
        store.ok("remind", "disable", rid) == f"Disabled alert rule 'renamed' (RemindId {rule}).\n"
    )
    assert store.json("remind", "get", rid)["use_flag"] is False
    assert "│ no " in store.ok("remind", "list")
    assert store.json("remind", "enable", rid)["use_flag"] is True
    assert store.ok("remind", "delete", rid) == f"Deleted alert rule {rule}.\n"
    assert store.error("remind", "get", rid) == (1, f"Error: The alert rule {rule} does not exist.")
    assert store.error("remind", "delete", rid)[0] == 1
    assert store.error("remind", "enable", rid)[0] == 1


def test_refusals_are_one_line_in_the_words_of_the_command_line(store: Store) -> None:
    base = ("remind", "create", "-w", "ws")
    store.ok(*base, "--name", "taken", "--type", "error", "--mail")
    assert store.error(*base, "--name", "taken", "--type", "error", "--mail") == (
        1,
        "Error: --name 'taken' is already a rule of workspace 'ws'.",
    )

    def refused(*options: str) -> tuple[int, str]:
        return store.error(*base, "--name", "x", *options)

    assert refused("--type", "timeout", "--mail") == (
        2,
        "Error: --type timeout needs --timeout (e.g. --timeout 30m).",
    )
    assert refused("--type", "unfinished", "--mail") == (
        2,
        "Error: --type unfinished needs --at HH:MM.",
    )
    assert refused("--type", "error") == (
        2,
        "Error: Give at least one channel: --mail, --robot URL or --webhook URL.",
    )
    assert refused("--type", "error", "--mail", "--timeout", "5m") == (
        2,
        "Error: --timeout goes with --type timeout.",
    )
    assert refused("--type", "soon", "--mail") == (
        2,
        "Error: --type 'soon' is not an alert type (ERROR, FINISHED, TIMEOUT or UNFINISHED).",
    )
    assert refused("--type", "timeout", "--timeout", "5 min", "--mail") == (
        2,
        "Error: --timeout '5 min' is not a duration (seconds, or e.g. 30m, 2h, 1h30m).",
    )
    too_long = refused("--type", "timeout", "--timeout", "4d", "--mail")
    assert too_long[1].startswith("Error: --timeout (seconds) '345600' must be ")
    too_late = refused("--type", "unfinished", "--at", "50:00", "--mail")
    assert too_late[1].startswith("Error: --at '50:00' must be the time of day")
    assert refused("--type", "error", "--mail", "--interval", "5m") == (
        1,
        "Error: --interval (seconds) 300 must be between 1200 and 86400.",
    )
    assert refused("--type", "error", "--mail", "--dnd-end", "25:00") == (
        1,
        "Error: --dnd-end '25:00' must be a time of day HH:mm (00:00 to 23:59).",
    )
    assert refused("--type", "error", "--robot", "ftp://x") == (
        1,
        "Error: --robot: 'ftp://x' is not an http(s) URL.",
    )
    assert refused("--type", "error", "--mail", "--workflow", "nosuch") == (
        1,
        "Error: The workflow 'nosuch' does not exist in workspace 'ws'.",
    )
    assert refused("--type", "error", "--mail", "--workflow", "999") == (
        1,
        "Error: --workflow: 999 is not in workspace 'ws'.",
    )
    assert refused("--type", "error", "--mail", "--node", "999") == (
        1,
        "Error: --node: 999 is not in workspace 'ws'.",
    )
    assert refused("--type", "error", "--mail", "--node", "b") == (
        2,
        "Error: --node 'b' is not a NodeId (an integer).",
    )
    assert refused("--type", "error", "--mail", "--owner", "--to", "a") == (
        2,
        "Error: Give --owner or --to, not both.",
    )
    elsewhere = ("remind", "create", "-w", "nosuch", "--name", "x", "--type", "error", "--mail")
    assert store.error(*elsewhere) == (1, "Error: The workspace 'nosuch' does not exist.")
    rule = store.json("remind", "list", "-w", "ws")["items"][0]["remind_id"]
    assert store.error(
        "remind", "update", str(rule), "--to", ",".join(f"u{i}" for i in range(11))
    ) == (
        1,
        "Error: --to names at most 10 users.",
    )
    assert store.json("remind", "list")["total_count"] == 1  # nothing refused was stored


# --- alert ----------------------------------------------------------------------------------


@pytest.fixture
def alerts(store: Store) -> tuple[int, list[int]]:
    """A rule with four alerts, 10 to 7 hours ago; the second one's mail went out after two
    attempts, the third one's mail went out and its webhook failed."""
    rule = store.json("remind", "create", "--name", "failures", "-w", "ws", "--type", "error",
                      "--mail", "--to", "alice")["remind_id"]  # fmt: skip
    ids = [store.record(rule, n) for n in range(4)]
    with store.ctx.db.transaction() as session:
        conn = session.connection()
        conn.exec_driver_sql(
            "UPDATE alert_deliveries SET status = 'SENT', attempts = 2, sent_at = "
            f"{store.ctx.clock()} WHERE message_id IN ({ids[1]}, {ids[2]})"
        )
        conn.exec_driver_sql(
            "UPDATE alert_deliveries SET status = 'FAILED', attempts = 5, last_error = "
            f"'HTTP 500 from the webhook' WHERE message_id = {ids[2]} AND channel = 'WEBHOOKS'"
        )
    return rule, ids


def test_alert_list_shows_the_newest_first_with_each_delivery(
    store: Store, alerts: tuple[int, list[int]]
) -> None:
    _, ids = alerts
    table = store.ok("alert", "list")
    rows = [line for line in table.splitlines() if "│" in line]
    assert [int(r.split("│")[1]) for r in rows] == ids[::-1]
    assert "SEND_FAIL" in rows[1] and "mail alice SENT, webhook FAILED" in rows[1]
    assert "SEND_SUCCESS" in rows[2] and "mail alice SENT, webhook SENT" in rows[2]
    assert "READY_TO_SEND" in rows[0] and "│ failures " in rows[0] and "│ 503 " in rows[0]
    listed = store.json("alert", "list")
    assert [m["alert_id"] for m in listed["items"]] == ids[::-1]
    assert [m["status"] for m in listed["items"]] == [
        "READY_TO_SEND",
        "SEND_FAIL",
        "SEND_SUCCESS",
        "READY_TO_SEND",
    ]
    first = listed["items"][0]
    assert (first["dag_id"], first["node_name"], first["trigger"]) == (503, "b", "ERROR")
    assert first["created_at"].startswith("20") and "T" in first["created_at"]
    assert listed["total_count"] == 4


def test_alert_list_filters_and_pages(store: Store, alerts: tuple[int, list[int]]) -> None:
    rule, ids = alerts
    other = store.record(None, 9, workspace_id=store.other_id, remind_name="gone",
                         receivers=[("DINGROBOTS", "https://robot.example/r")])  # fmt: skip

    def listed(*args: str) -> list[int]:
        return [m["alert_id"] for m in store.json("alert", "list", *args)["items"]]

    assert listed() == [other, *ids[::-1]]
    assert listed("-w", "other") == [other]
    assert listed("--rule", str(rule)) == ids[::-1]
    assert listed("--channel", "robot") == [other]
    assert listed("--channel", "mail", "--channel", "robot") == [other, *ids[::-1]]
    assert listed("--user", "alice") == ids[::-1]
    assert listed("--user", "bob") == []
    page = store.json("alert", "list", "--page-size", "2", "--page", "3")
    assert ([m["alert_id"] for m in page["items"]], page["total_count"]) == ([ids[0]], 5)
    # the period, in the store's time zone: a date alone is its whole day
    zone = store.ctx.settings.tz
    created = {
        i: dt.datetime.fromisoformat(store.json("alert", "show", str(i))["created_at"])
        for i in (ids[1], ids[2])
    }
    since = created[ids[1]].astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    until = (created[ids[2]] + dt.timedelta(seconds=1)).astimezone(zone)
    until = until.strftime("%Y-%m-%dT%H:%M:%S")
    assert listed("--since", since, "--until", until) == [ids[2], ids[1]]
    tomorrow = (dt.datetime.now(zone) + dt.timedelta(days=1)).date().isoformat()
    assert listed("--since", tomorrow, "--until", tomorrow) == []
    assert listed("--until", "2020-01-01") == []
    assert store.error("alert", "list", "--since", "yesterday") == (
        2,
        "Error: --since 'yesterday' is not a time (yyyy-mm-dd or 'yyyy-mm-dd hh:mm[:ss]').",
    )
    assert store.error("alert", "list", "--since", "2026-01-02", "--until", "2026-01-01") == (
        2,
        "Error: --since 2026-01-02 00:00:00 is after --until 2026-01-01 23:59:59.",
    )
    assert store.error("alert", "list", "--channel", "sms")[0] == 2


def test_alert_show_gives_the_message_and_each_delivery(
    store: Store, alerts: tuple[int, list[int]]
) -> None:
    _, ids = alerts
    shown = store.ok("alert", "show", str(ids[2]))
    assert "SEND_FAIL" in shown and "b failed #2" in shown and "Instance 1002 of node b" in shown
    deliveries = [line for line in shown.split("last_error", 1)[1].splitlines() if "│" in line]
    assert len(deliveries) == 2
    assert "mail" in deliveries[0] and "alice" in deliveries[0] and "SENT" in deliveries[0]
    assert "webhook" in deliveries[1] and "FAILED" in deliveries[1] and "│ 5 " in deliveries[1]
    assert "HTTP 500 from the webhook" in deliveries[1]
    got = store.json("alert", "show", str(ids[1]))
    assert (got["alert_id"], got["status"], got["remind_name"], got["instance_id"]) == (
        ids[1],
        "SEND_SUCCESS",
        "failures",
        1001,
    )
    assert [(d["channel"], d["status"], d["attempts"]) for d in got["deliveries"]] == [
        ("MAIL", "SENT", 2),
        ("WEBHOOKS", "SENT", 2),
    ]
    assert got["deliveries"][0]["sent_at"].startswith("20")
    assert store.error("alert", "show", "999") == (1, "Error: The alert 999 does not exist.")
    assert store.error("alert", "show", "abc") == (1, "Error: The alert abc does not exist.")
