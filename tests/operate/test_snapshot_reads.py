"""`run show`/`run watch` read an execution in several calls while the workflow writes it: what they show must never
be behind itself. The execution moves on between the snapshot's reads here (the workflow's own writes, made right
after the snapshot's first read), at both ends of its life:

- starting: Prepare writes the waves and moves the record from PENDING to POLLING, then a runbook step starts;
- ending: a stop closes the running steps, then the record (finish.finish, as the reconcile Lambda calls it).

Once, under load, `run show` said RUNNING "waiting for wait" with the record still PENDING: it had read the record,
then the waves a moment later. Reading the waves first, and ignoring the steps of an ended record, keeps each view
consistent whatever the timing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from drsctl.operate import vocabulary
from drsctl.operate.executions import Snapshot, snapshot
from drsctl.operate.stack import DeployedStack
from lambdas.core import finish, records
from lambdas.core.records import ExecutionRecord, WaveRecord
from tests.operate.recorded import record, recorded_stack, wave

NAME = "moving"
PLAN = {"PlanId": "moving-plan", "ExecutionType": "DRILL"}
APPROVAL = {
    "Phase": "BEFORE",
    "Index": 0,
    "Kind": "Approval",
    "Name": "Change board",
    "Status": "RUNNING",
    "StartedAt": 1_000,
    "Message": "Go on?",
    "Deadline": 4_600,
    "OnTimeout": "FAIL",
    "TaskToken": "token",
}


@pytest.fixture
def stack(stage) -> Iterator[DeployedStack]:
    with recorded_stack(stage, NAME, PLAN) as recorded:
        yield recorded


def _record(status: str) -> ExecutionRecord:
    return record(NAME, PLAN["PlanId"], status)


def _wave() -> WaveRecord:
    return wave()


def _moving_after_the_first_read(monkeypatch, move: Callable[[], None]) -> None:
    """The workflow makes `move` right after the snapshot's first read of the tables, whichever read that is."""
    moved: list[bool] = []
    for name in ("execution_waves", "find_execution_by_id"):
        real = getattr(records, name)

        def read(*args: Any, _real: Callable[..., Any] = real, **kwargs: Any) -> Any:
            value = _real(*args, **kwargs)
            if not moved:
                moved.append(True)
                move()
            return value

        monkeypatch.setattr(records, name, read)


def _never_behind(shown: Snapshot) -> None:
    running_steps = [s for w in shown.waves for s in w.Steps if s.get("Status") == "RUNNING"]
    if running_steps and shown.record_status in records.ACTIVE_EXECUTION_STATUSES:
        # a step runs only once Prepare has written the record POLLING: a record read after the steps says so
        assert shown.record_status == "POLLING", (shown.record_status, running_steps)
    if shown.record_status not in records.ACTIVE_EXECUTION_STATUSES:
        assert shown.waiting_for in (None, "cleanup"), (shown.status, shown.waiting_for)


def test_an_execution_that_starts_its_first_step_between_the_reads(stack, monkeypatch):
    with stack.environment():
        records.put_execution(_record("PENDING"))  # Prepare has begun

    def prepared_and_asking() -> None:
        with stack.environment():
            records.put_execution_waves(_record("POLLING"), [_wave()])
            records.set_wave_steps(NAME, 1, [APPROVAL], read_version=0)

    _moving_after_the_first_read(monkeypatch, prepared_and_asking)
    shown = snapshot(stack, NAME)
    _never_behind(shown)
    assert (shown.status, shown.record_status) == ("RUNNING", "POLLING")
    monkeypatch.undo()
    now = snapshot(stack, NAME)  # and read again, it has caught up
    assert (now.status, now.record_status, now.waiting_for) == ("RUNNING", "POLLING", "approval")
    assert now.to_json()["approval"]["message"] == "Go on?"


def test_an_execution_stopped_between_the_reads(stack, monkeypatch):
    with stack.environment():
        records.put_execution(_record("PENDING"))
        records.put_execution_waves(_record("POLLING"), [_wave()])
        records.set_wave_steps(NAME, 1, [APPROVAL], read_version=0)
    assert snapshot(stack, NAME).waiting_for == "approval"

    def stopped() -> None:
        with stack.environment():
            finish.finish(execution_id=NAME, raw_input=PLAN, failure=None, now=2_000, stopped_as="CANCELLED")

    _moving_after_the_first_read(monkeypatch, stopped)
    shown = snapshot(stack, NAME)
    _never_behind(shown)
    assert shown.status == "CANCELLED" and shown.waiting_for is None
    assert shown.to_json()["waitingFor"] is None


def test_the_steps_of_an_ended_record_are_not_waited_for():
    """Read before the record ended, a step may still say RUNNING: the record, read after, has the last word."""
    wave = _wave()
    wave.Steps = [APPROVAL]
    assert vocabulary.waiting_for(_record("POLLING"), [wave]) == "approval"
    for ended in ("CANCELLED", "FAILED", "TIMED_OUT", "COMPLETED"):
        assert vocabulary.waiting_for(_record(ended), [wave]) is None
    assert vocabulary.waiting_for(None, [wave]) == "approval"  # no record yet: the steps are all there is
