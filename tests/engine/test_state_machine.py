"""A hypothesis state machine of the engine: random Dags, random completion orders and random
operator operations (stop, rerun, set success, suspend, resume) from the engine's own process
and from a second process (tests/engine/_operator.py, its own Database and ServiceContext on
the same store), with the engine's guarantees checked after every step.

Each example runs one random Dag (up to MAX_NODES Shell and virtual nodes, often more ready
Shell nodes than the executor's SLOTS) under one engine shared by the test. Every Shell job
runs the JOB script below: it writes a journal (`start <instance> <attempt> <pid> <start
ticks>` first, `term …` when it gets SIGTERM, which it ignores until the executor's SIGKILL,
`end …` last) and blocks until the test writes `release/<instance>.<attempt>` holding its exit
code (it looks every 20 ms, and at once on SIGUSR1, so jobs released together end together):
the test decides which job ends, when, and how. A job that finds an earlier attempt of its own
instance still alive when it starts writes `overlap …`.

The steps: let up to SLOTS running jobs end at once; an operation from either process (on any
instance, or on one whose state allows it); an operation racing another instance's job end;
an operation racing its own instance's job end; a stop then an immediate rerun; both
processes operating at the same moment.

After every step the test observes the journal, the store, then which processes live, until
the engine has settled (nothing left for it to do, the same observation for QUIET_SECONDS),
with a deadline: a state that never settles fails. Checked on every observation:
  - no attempt started twice;
  - no two live attempts of one instance;
  - stopped means gone: an attempt the store shows ended has no live process.
Checked once settled:
  - no RUNNING instance without a live attempt;
  - no instance left waiting whose upstreams all succeeded (NOT_RUN, or WAIT_RESOURCE while an
    executor slot is free);
  - the Dag's status is `derive_dag_status` of its instances;
  - an operation answered as docs/running.md says for the state it was issued in (OK or
    Invalid.Instance.Status; a RestartInstance of a RUNNING instance, whose stop is still being
    carried out, is refused), and an accepted one, like a released job's result, took effect.

The budget is fixed (EXAMPLES examples of STEPS steps, derandomized): about half a minute per
backend. OPCENTER_TEST_SM_EXAMPLES raises it; OPCENTER_TEST_SHRINK=1 (with --timeout=0)
minimises a failing example.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import hypothesis.strategies as st
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.domain.states import (
    InstanceFacts,
    Operation,
    RerunMode,
    blocked_by_failure,
    check_operation,
    derive_dag_status,
)
from opcenter.engine.scheduler import Engine
from opcenter.errors import Conflict
from opcenter.service.context import Caller, ServiceContext
from opcenter.store.tables import Dag, Instance, InstanceEdge
from tests.engine._operator import perform
from tests.engine.builders import by_name, make_flow, make_workspace, node, run_flow

S = InstanceStatus
SLOTS = 3  # fewer than a wide Dag's roots: some instances wait for a slot
MAX_NODES = 7
MAX_ROOTS = 6
SETTLE_SECONDS = 10.0  # the engine reacts in milliseconds; generous for a loaded machine
QUIET_SECONDS = 0.2  # four engine polls (tests/engine/conftest.py polls every 50 ms)
OBSERVE_EVERY = 0.02
OK = "OK"
REFUSED = Conflict("Instance", "").code  # Invalid.Instance.Status
EXAMPLES = int(os.environ.get("OPCENTER_TEST_SM_EXAMPLES", "8"))
STEPS = 10
OPERATOR = Path(__file__).with_name("_operator.py")

# `${` would be read as a parameter reference: the script never uses it.
JOB = """J={journal}
R={release}
I=$OPCENTER_INSTANCE_ID
A=$OPCENTER_ATTEMPT
[ -n "$A" ] || A=$(basename "$PWD")
T=$(awk '{{print $22}}' /proc/$$/stat)
trap 'echo "term $I $A $$ $T" >> "$J"' TERM
trap 'kill "$P" 2>/dev/null' USR1
echo "start $I $A $$ $T" >> "$J"
alive() {{ awk -v t="$2" '$3 != "Z" && $22 == t {{ok = 1}} END {{exit !ok}}' "/proc/$1/stat"; }}
while read -r K II AA PP TT; do
  if [ "$K" = start ] && [ "$II" = "$I" ] && [ "$AA" != "$A" ] && alive "$PP" "$TT" 2>/dev/null
  then echo "overlap $I $A $AA $PP" >> "$J"; fi
done < "$J"
while [ ! -e "$R/$I.$A" ]; do sleep 0.02 & P=$!; wait "$P"; done
C=$(cat "$R/$I.$A")
echo "end $I $A $$ $T" >> "$J"
exit "$C"
"""

Key = tuple[int, int]  # (instance id, attempt)


# -- the jobs' journal ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    instance: int
    attempt: int
    pid: int
    ticks: int

    @property
    def key(self) -> Key:
        return self.instance, self.attempt


@dataclass
class Journal:
    starts: list[Started] = field(default_factory=list)
    terms: set[Key] = field(default_factory=set)
    ends: set[Key] = field(default_factory=set)
    overlaps: list[str] = field(default_factory=list)
    size: int = 0


def read_journal(path: Path) -> Journal:
    journal = Journal()
    text = path.read_text() if path.exists() else ""
    journal.size = len(text)
    for line in text.splitlines():
        word, *rest = line.split()
        if word == "overlap":
            journal.overlaps.append(line)
        elif word == "start":
            journal.starts.append(Started(*map(int, rest)))
        elif word in ("term", "end"):
            (journal.terms if word == "term" else journal.ends).add((int(rest[0]), int(rest[1])))
    return journal


def alive(job: Started) -> bool:
    """The job's process is running (a zombie, or another process with its pid, is not)."""
    try:
        stat = Path(f"/proc/{job.pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()  # after the command name
    return fields[0] != "Z" and int(fields[19]) == job.ticks


def kill_job(job: Started) -> None:
    if alive(job):
        with contextlib.suppress(OSError):
            os.killpg(job.pid, signal.SIGKILL)


# -- the store ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: int
    status: S
    suspended: bool
    attempt: int
    rerun_mode: str
    stopped_by: str | None


@dataclass
class Observation:
    dag_status: DagStatus
    rows: dict[int, Row]
    parents: dict[int, tuple[int, ...]]
    journal: Journal
    live: dict[int, list[int]]  # instance -> attempts with a live process

    def key(self) -> object:
        live = tuple(sorted((i, tuple(a)) for i, a in self.live.items()))
        return self.dag_status, tuple(sorted(self.rows.items())), live, self.journal.size

    def ended(self, key: Key) -> bool:
        """The store says this attempt is over (a later attempt, or a final state)."""
        row = self.rows[key[0]]
        done = row.status in (S.SUCCESS, S.FAILURE, S.NOT_RUN, S.WAIT_TIME)
        return row.attempt > key[1] or (row.attempt == key[1] and done)

    def running(self) -> list[int]:
        return sorted(i for i, r in self.rows.items() if r.status is S.RUNNING)


def read_store(ctx: ServiceContext, dag_id: int) -> tuple[DagStatus, dict[int, Row], dict]:
    with ctx.db.transaction(readonly=True) as session:
        status = DagStatus(session.scalar(sa.select(Dag.status).where(Dag.id == dag_id)))
        rows = session.execute(
            sa.select(
                Instance.id,
                Instance.status,
                Instance.suspended,
                Instance.attempt,
                Instance.rerun_mode,
                Instance.stopped_by,
            ).where(Instance.dag_id == dag_id)
        ).all()
        edges = session.execute(
            sa.select(InstanceEdge.parent_id, InstanceEdge.child_id).where(
                InstanceEdge.dag_id == dag_id
            )
        ).all()
    parents: dict[int, list[int]] = {r.id: [] for r in rows}
    for parent, child in edges:
        parents[child].append(parent)
    by_id = {
        r.id: Row(r.id, S(r.status), bool(r.suspended), r.attempt, r.rerun_mode, r.stopped_by)
        for r in rows
    }
    return status, by_id, {k: tuple(sorted(v)) for k, v in parents.items()}


def observe(ctx: ServiceContext, dag_id: int, journal_path: Path) -> Observation:
    """Journal, then store, then processes: an attempt the store shows ended and that is alive
    afterwards really outlived its end; and within one instance the later attempt is checked
    first, so two found alive really lived at the same time."""
    journal = read_journal(journal_path)
    status, rows, parents = read_store(ctx, dag_id)
    live: dict[int, list[int]] = {}
    for job in sorted(journal.starts, key=lambda j: (j.instance, -j.attempt)):
        if alive(job):
            live.setdefault(job.instance, []).append(job.attempt)
    return Observation(status, rows, parents, journal, live)


def check_safety(obs: Observation) -> None:
    """What must hold at every moment, not only once the engine has settled."""
    twice = [k for k, n in Counter(j.key for j in obs.journal.starts).items() if n > 1]
    assert not twice, f"attempt started twice (instance, attempt): {twice}"
    # Seen by a job as it started, or by this observation: one assertion, so that which of the
    # two sees an overlap first does not make hypothesis call the failure flaky.
    both = [f"instance {i}: {a}" for i, a in obs.live.items() if len(a) > 1]
    assert not (
        obs.journal.overlaps or both
    ), f"two live attempts of one instance: {both} {obs.journal.overlaps}"
    for instance, attempts in obs.live.items():
        row = obs.rows[instance]
        assert not obs.ended((instance, attempts[0])), (
            f"stopped means gone: instance {instance} attempt {attempts[0]} is alive while the "
            f"store says {row.status.value} attempt {row.attempt}"
        )


def unsettled(obs: Observation, live_total: int) -> list[str]:
    """Why the engine still has work to do; empty once settled (the invariants the engine must
    reach, since a state that never settles fails after SETTLE_SECONDS)."""
    problems: list[str] = []
    for row in obs.rows.values():
        key = (row.id, row.attempt)
        parents_done = all(obs.rows[p].status is S.SUCCESS for p in obs.parents[row.id])
        if row.status is S.RUNNING and not (
            row.attempt in obs.live.get(row.id, ())
            and key not in obs.journal.terms
            and key not in obs.journal.ends
        ):
            problems.append(f"RUNNING instance {row.id} attempt {row.attempt} has no live attempt")
        elif row.suspended:
            continue
        elif row.status is S.NOT_RUN and parents_done:
            problems.append(f"instance {row.id} left NOT_RUN though its upstreams all succeeded")
        elif row.status is S.WAIT_RESOURCE and live_total < SLOTS:
            problems.append(f"instance {row.id} left WAIT_RESOURCE with a free slot")
        elif row.status is S.WAIT_TIME:
            problems.append(f"instance {row.id} left WAIT_TIME (no automatic rerun here)")
    facts = {r.id: (r.status, r.suspended) for r in obs.rows.values()}
    derived = derive_dag_status(obs.dag_status, facts, obs.parents)
    if derived is not obs.dag_status:
        problems.append(f"Dag status {obs.dag_status.value}, its instances say {derived.value}")
    return problems


def describe(obs: Observation) -> str:
    """The observation in one line, for failure messages."""
    rows = ", ".join(
        f"{r.id}:{r.status.value}{'(suspended)' if r.suspended else ''}@{r.attempt}"
        f"<-{list(obs.parents[r.id])}"
        for r in sorted(obs.rows.values(), key=lambda r: r.id)
    )
    return f"Dag {obs.dag_status.value}, instances {rows}, live attempts {obs.live}"


def settle(ctx: ServiceContext, dag_id: int, journal_path: Path) -> Observation:
    """Observe until the engine has settled: no problem, and the same observation for
    QUIET_SECONDS. Safety is checked on every observation on the way."""
    deadline = time.monotonic() + SETTLE_SECONDS
    quiet_since, last = time.monotonic(), None
    while True:
        obs = observe(ctx, dag_id, journal_path)
        check_safety(obs)
        problems = unsettled(obs, sum(len(a) for a in obs.live.values()))
        now = time.monotonic()
        if problems or obs.key() != last:
            quiet_since, last = now, obs.key()
        elif now - quiet_since >= QUIET_SECONDS:
            return obs
        assert (
            now < deadline
        ), f"not settled after {SETTLE_SECONDS} s: {problems or 'changing'}; {describe(obs)}"
        time.sleep(OBSERVE_EVERY)


# -- the operators --------------------------------------------------------------------------------


class Remote:
    """The second process (tests/engine/_operator.py) on the same store and data directory."""

    def __init__(self, ctx: ServiceContext) -> None:
        args = [ctx.db.url, ctx.db.schema or "-", str(ctx.settings.data_dir)]
        self.proc = subprocess.Popen(
            [sys.executable, str(OPERATOR), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.answer() == "READY"

    def answer(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the operator process ended (exit code {self.proc.poll()})"
        return line.strip()

    def operate(self, op: Operation, instance_id: int) -> str:
        self.send(op, instance_id)
        return self.answer()

    def send(self, op: Operation, instance_id: int) -> None:
        """Ask without waiting for the answer (`answer()` reads it)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{op.value} {instance_id}\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@dataclass
class Harness:
    """What every example of one test shares: the store, the engine, the second process."""

    ctx: ServiceContext
    engine: Engine
    remote: Remote
    examples: int = 0

    def operate(self, where: str, op: Operation, instance_id: int) -> str:
        if where == "remote":
            return self.remote.operate(op, instance_id)
        return perform(self.ctx, op.value, instance_id, Caller(name="local"))


def expected_answer(obs: Observation, op: Operation, instance_id: int) -> str:
    """What docs/running.md answers for `op` in the observed (settled) state."""
    row = obs.rows[instance_id]
    statuses = {r.id: r.status for r in obs.rows.values()}
    facts = InstanceFacts(
        instance_id=instance_id,
        status=row.status,
        suspended=row.suspended,
        rerun_mode=RerunMode.of(row.rerun_mode),
        blocked_by_failure=blocked_by_failure(instance_id, statuses, obs.parents),
    )
    try:
        check_operation(op, facts)
    except Conflict as exc:
        return exc.code
    return OK


def effect(op: Operation, before: Row) -> Callable[[Row], bool]:
    """What an accepted operation leaves once the engine has settled."""
    if op is Operation.STOP:
        return lambda row: row.status is S.FAILURE
    if op is Operation.SET_SUCCESS:
        return lambda row: row.status is S.SUCCESS
    if op is Operation.SUSPEND:
        return lambda row: row.suspended
    if op is Operation.RESUME:
        return lambda row: not row.suspended
    return lambda row: (row.status, row.attempt) != (before.status, before.attempt)


# -- the machine ----------------------------------------------------------------------------------

WHERE = st.sampled_from(("local", "remote"))
OPERATIONS = st.sampled_from(list(Operation))
PICK = st.integers(0, MAX_NODES - 1)
CODE = st.sampled_from((0, 1))


@st.composite
def dag_shapes(draw: st.DrawFn) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """(kind, parent indexes) per node: 1 to MAX_ROOTS roots, often more than the executor's
    slots, then up to MAX_NODES - roots nodes below earlier ones (so it is acyclic)."""
    kinds = st.sampled_from(("shell", "shell", "shell", "virtual"))
    roots = draw(st.integers(1, MAX_ROOTS))
    shape = [(draw(kinds), ()) for _ in range(roots)]
    for index in range(roots, roots + draw(st.integers(0, MAX_NODES - roots))):
        parents = draw(st.sets(st.integers(0, index - 1), min_size=1, max_size=2))
        shape.append((draw(kinds), tuple(sorted(parents))))
    return tuple(shape)


def machine(h: Harness) -> type[RuleBasedStateMachine]:
    class EngineMachine(RuleBasedStateMachine):
        """One Dag per example; `state` is the last settled observation."""

        def __init__(self) -> None:
            super().__init__()
            h.examples += 1
            self.number = h.examples
            self.folder = h.ctx.settings.data_dir / "sm" / str(self.number)
            (self.folder / "release").mkdir(parents=True)
            self.journal = self.folder / "journal"
            self.dag_id = 0
            self.ids: list[int] = []
            self.state: Observation | None = None
            self.expect: list[tuple[int, Callable[[Row], bool], str]] = []

        @initialize(shape=dag_shapes())
        def build(self, shape: tuple[tuple[str, tuple[int, ...]], ...]) -> None:
            code = JOB.format(journal=self.journal, release=self.folder / "release")
            names = [f"f{self.number}n{i}" for i in range(len(shape))]
            nodes = [
                node(names[i], kind, code if kind == "shell" else "", after=[names[p] for p in ps])
                for i, (kind, ps) in enumerate(shape)
            ]
            flow = make_flow(h.ctx, nodes, name=f"flow{self.number}", create_workspace=False)
            self.dag_id = run_flow(flow).dag_id
            rows = by_name(h.ctx, self.dag_id)
            self.ids = [rows[name].instance_id for name in names]

        # -- steps ------------------------------------------------------------------------------

        @rule(first=PICK, count=st.integers(1, SLOTS), codes=st.lists(CODE, min_size=SLOTS))
        def release(self, first: int, count: int, codes: list[int]) -> None:
            """Let `count` running jobs end at once (all of them, when fewer run), each with
            its exit code: a random completion order, and several slots freed in one go."""
            running = self.state.running() if self.state else []
            chosen = [running[(first + i) % len(running)] for i in range(min(count, len(running)))]
            for target, exit_code in zip(chosen, codes, strict=False):
                self._release(target, exit_code, wake=False)
            for target in chosen:
                self._wake(target)

        @rule(op=OPERATIONS, pick=PICK, where=WHERE, allowed=st.booleans())
        def operate(self, op: Operation, pick: int, where: str, allowed: bool) -> None:
            """An operation on any instance, or on one whose state allows it."""
            self._operate(op, self._target(op, pick, allowed), where, predicted=True)

        @rule(
            op=OPERATIONS,
            pick=PICK,
            where=WHERE,
            allowed=st.booleans(),
            job=PICK,
            code=CODE,
            op_first=st.booleans(),
        )
        def operate_while_a_job_ends(
            self,
            op: Operation,
            pick: int,
            where: str,
            allowed: bool,
            job: int,
            code: int,
            op_first: bool,
        ) -> None:
            """An operation and another instance's job ending, racing (no settling between)."""
            target = self._target(op, pick, allowed)
            running = [i for i in self.state.running() if i != target] if self.state else []
            if op_first:
                self._operate(op, target, where, predicted=True)
            if running:
                self._release(running[job % len(running)], code)
            if not op_first:
                self._operate(op, target, where, predicted=False)

        @rule(op=OPERATIONS, where=WHERE, job=PICK, code=CODE, op_first=st.booleans())
        def operate_as_its_job_ends(
            self, op: Operation, where: str, job: int, code: int, op_first: bool
        ) -> None:
            """An operation on a running instance racing the end of its own job."""
            running = self.state.running() if self.state else []
            if not running:
                return
            target = running[job % len(running)]
            if op_first:
                self._operate(op, target, where, predicted=True, check=False)
            self._release(target, code, expect=False)
            if not op_first:
                self._operate(op, target, where, predicted=False, check=False)

        @rule(
            op=OPERATIONS,
            pick=PICK,
            allowed=st.booleans(),
            local_op=OPERATIONS,
            local_pick=PICK,
            local_allowed=st.booleans(),
        )
        def two_operators_at_once(
            self,
            op: Operation,
            pick: int,
            allowed: bool,
            local_op: Operation,
            local_pick: int,
            local_allowed: bool,
        ) -> None:
            """The second process and the engine's own process operate at the same moment."""
            target = self._target(op, pick, allowed)
            local_target = self._target(local_op, local_pick, local_allowed)
            h.remote.send(op, target)
            local = h.operate("local", local_op, local_target)
            self._judge(local_op, local_target, "local", local, predicted=False)
            self._judge(op, target, "remote", h.remote.answer(), predicted=False)

        @rule(pick=PICK, stop_where=WHERE, restart_where=WHERE)
        def stop_then_restart(self, pick: int, stop_where: str, restart_where: str) -> None:
            """Stop a running (else any) instance and rerun it at once."""
            running = self.state.running() if self.state else []
            target = running[pick % len(running)] if running else self.ids[pick % len(self.ids)]
            stop = self._operate(Operation.STOP, target, stop_where, predicted=True, check=False)
            if stop != OK:
                return
            stopped = replace(self.state.rows[target], status=S.FAILURE)
            restart = self._operate(
                Operation.RESTART, target, restart_where, predicted=False, before=stopped
            )
            if restart != OK:  # refused while the stopped attempt still runs
                self._expect(target, effect(Operation.STOP, self.state.rows[target]), "stopped")

        @invariant()
        def settled(self) -> None:
            if not self.dag_id:
                return
            self.state = settle(h.ctx, self.dag_id, self.journal)
            expected, self.expect = self.expect, []
            for instance_id, holds, what in expected:
                row = self.state.rows[instance_id]
                assert holds(row), f"instance {instance_id}: {what}, but it is {row}"

        def teardown(self) -> None:
            if self.dag_id:
                end_example(h, self.dag_id, self.folder)

        # -- helpers -------------------------------------------------------------------------------

        def _target(self, op: Operation, pick: int, allowed: bool) -> int:
            """The instance `pick` names among all, or (`allowed`) among those `op` may act on
            in the settled state, when there are any."""
            assert self.state is not None
            state = self.state
            ids = self.ids
            if allowed:
                ids = [i for i in ids if expected_answer(state, op, i) == OK] or ids
            return ids[pick % len(ids)]

        def _release(
            self, instance_id: int, exit_code: int, *, wake: bool = True, expect: bool = True
        ) -> None:
            assert self.state is not None
            attempt = self.state.rows[instance_id].attempt
            write_release(self.folder, (instance_id, attempt), exit_code)
            if wake:
                self._wake(instance_id)
            if not expect:
                return
            wanted = (S.SUCCESS if exit_code == 0 else S.FAILURE, attempt)
            self._expect(
                instance_id,
                lambda row: (row.status, row.attempt) == wanted,
                f"its job ended with exit code {exit_code}",
            )

        def _wake(self, instance_id: int) -> None:
            """SIGUSR1 ends the job's wait at once: jobs released together end together."""
            assert self.state is not None
            key = (instance_id, self.state.rows[instance_id].attempt)
            for job in self.state.journal.starts:
                if job.key == key and alive(job):
                    os.kill(job.pid, signal.SIGUSR1)

        def _operate(
            self,
            op: Operation,
            target: int,
            where: str,
            *,
            predicted: bool,
            check: bool = True,
            before: Row | None = None,
        ) -> str:
            """Perform `op` from `where` and judge it."""
            answer = h.operate(where, op, target)
            return self._judge(
                op, target, where, answer, predicted=predicted, check=check, before=before
            )

        def _judge(
            self,
            op: Operation,
            target: int,
            where: str,
            answer: str,
            *,
            predicted: bool,
            check: bool = True,
            before: Row | None = None,
        ) -> str:
            """Check an operation's answer (against docs/running.md for the settled state when
            `predicted`, else OK or Invalid.Instance.Status) and, with `check`, expect the
            effect of an accepted one once the engine has settled."""
            assert self.state is not None
            if predicted:
                wanted = expected_answer(self.state, op, target)
                assert answer == wanted, f"{op.value} {target} from {where}: {answer}, not {wanted}"
            else:
                assert answer in (OK, REFUSED), f"{op.value} {target} from {where}: {answer}"
            if answer == OK and check:
                before = before or self.state.rows[target]
                self._expect(target, effect(op, before), f"{op.value} from {where} was accepted")
            return answer

        def _expect(self, instance_id: int, holds: Callable[[Row], bool], what: str) -> None:
            """Expect an effect, unless the same step touched the instance twice."""
            if any(i == instance_id for i, _, _ in self.expect):
                self.expect = [e for e in self.expect if e[0] != instance_id]
                return
            self.expect.append((instance_id, holds, what))

    return EngineMachine


def write_release(folder: Path, key: Key, exit_code: int) -> None:
    """Atomically, so the job never reads a half-written code."""
    path = folder / "release" / f"{key[0]}.{key[1]}"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(str(exit_code))
    temporary.rename(path)


def end_example(h: Harness, dag_id: int, folder: Path) -> None:
    """Leave nothing running for the next example: stop what waits, let every job end, stop
    what is RUNNING without a process, and kill what is still alive after a while (best
    effort: the example may have failed)."""
    journal = folder / "journal"
    deadline = time.monotonic() + SETTLE_SECONDS
    idle = 0
    while time.monotonic() < deadline and idle < 10:
        _, rows, _ = read_store(h.ctx, dag_id)
        for row in rows.values():
            if row.status in (S.NOT_RUN, S.WAIT_TIME, S.WAIT_RESOURCE) or (
                row.status is S.RUNNING and idle == 5
            ):
                h.operate("local", Operation.STOP, row.id)
        jobs = read_journal(journal).starts
        for job in jobs:
            if not (folder / "release" / f"{job.instance}.{job.attempt}").exists():
                write_release(folder, job.key, 1)
        busy = any(map(alive, jobs)) or any(r.status is S.RUNNING for r in rows.values())
        idle = 0 if any(map(alive, jobs)) else idle + 1
        if not busy:
            return
        time.sleep(0.05)
    for job in read_journal(journal).starts:
        kill_job(job)


@pytest.fixture
def harness(ctx: ServiceContext, start_engine: Callable[..., Engine]) -> Iterator[Harness]:
    make_workspace(ctx, "ws")
    engine = start_engine(ctx, slots=SLOTS)
    remote = Remote(ctx)
    try:
        yield Harness(ctx, engine, remote)
    finally:
        remote.close()
        for journal in (ctx.settings.data_dir / "sm").glob("*/journal"):
            for job in read_journal(journal).starts:
                kill_job(job)


def test_engine_state_machine(harness: Harness) -> None:
    """A fixed budget and seed, so the suite's time is bounded and a failure repeats. Shrinking
    is off (a failing example could take many minutes to minimise): set
    OPCENTER_TEST_SHRINK=1 (and --timeout=0) to get the smallest failing example."""
    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    if os.environ.get("OPCENTER_TEST_SHRINK") == "1":
        phases.append(Phase.shrink)
    run_state_machine_as_test(
        machine(harness),
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            phases=phases,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_a_reload_then_three_jobs_ending_together_strand_nothing(harness: Harness) -> None:
    """Six Shell roots, three slots: three run, three wait. A suspend from the second process
    (a reload of the Dag), then the three running jobs end together: every freed slot takes a
    waiting instance, each exactly once, and none is left RUNNING without a process (issue 10,
    item 1). Three rounds: the jobs' ends must fall into one engine step to matter."""
    engine_machine = machine(harness)
    for _ in range(3):
        state = engine_machine()
        try:
            state.build(shape=(("shell", ()),) * 6)
            state.settled()
            state.operate(op=Operation.SUSPEND, pick=0, where="remote", allowed=True)
            state.settled()
            state.release(first=0, count=SLOTS, codes=[0] * SLOTS)
            state.settled()
        finally:
            state.teardown()


@pytest.mark.parametrize("where", ["local", "remote"])
def test_set_success_racing_a_job_end_releases_the_successor(harness: Harness, where: str) -> None:
    """A sequence the machine found (PostgreSQL): a, b running; c (virtual) after both. b is
    stopped; then a's job ends with exit code 0 and, at the same moment, b is set to success.
    c must run: the Dag must not be left FAILURE with c NOT_RUN."""
    engine_machine = machine(harness)
    for _ in range(3):
        state = engine_machine()
        try:
            state.build(shape=(("shell", ()), ("shell", ()), ("virtual", (0, 1))))
            state.settled()
            state.stop_then_restart(pick=1, stop_where="local", restart_where="local")
            state.settled()
            state.operate_while_a_job_ends(
                op=Operation.SET_SUCCESS,
                pick=1,
                where=where,
                allowed=False,
                job=0,
                code=0,
                op_first=False,
            )
            state.settled()
        finally:
            state.teardown()
