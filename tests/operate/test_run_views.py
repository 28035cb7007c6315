"""What `run show` and `run watch` print, from records alone: 2,000 servers read as a few lines per wave, at 80
columns and piped, with user text printed as written; and the sandbox's clock."""

from __future__ import annotations

import io
import json
import time

from rich.console import Console

from drsctl.commands.run_views import progress_lines, render
from drsctl.operate.executions import Snapshot, default_name, execution_input, pending_approvals
from drsctl.sandbox.clock import ScaledClock
from lambdas.core.records import ExecutionRecord, ServerRecord, WaveRecord


def _wave(number: int, name: str, servers: int, launched: int, *, status: str = "POLLING", steps=()) -> WaveRecord:
    return WaveRecord(
        WaveNumber=number,
        WaveName=name,
        ProtectionGroupId=f"group-{number}",
        Region="us-east-1",
        Status=status,
        Steps=list(steps),
        Servers=[
            ServerRecord(
                SourceServerId=f"s-{number:03d}{index:014d}",
                Status="LAUNCHED" if index < launched else "IN_PROGRESS",
                InstanceId=f"i-{index:017x}" if index < launched else None,
                Hostname=f"host-{number}-{index}.example.com",
            )
            for index in range(servers)
        ],
    )


def _snapshot(waves: list[WaveRecord], status: str = "POLLING") -> Snapshot:
    return Snapshot(
        name="big-drill",
        described={
            "executionArn": "arn:aws:states:us-east-1:1:execution:m:big-drill",
            "status": "RUNNING",
            "input": '{"PlanId": "big", "ExecutionType": "DRILL"}',
        },
        record=ExecutionRecord(
            ExecutionId="big-drill", PlanId="big", ExecutionType="DRILL", Status=status, StartTime=1
        ),
        waves=waves,
    )


def _printed(renderable, width: int) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, markup=False, emoji=False, highlight=False).print(renderable)
    return buffer.getvalue()


APPROVAL = {
    "Phase": "BEFORE",
    "Index": 0,
    "Kind": "Approval",
    "Name": "[bold]CAB[/]",
    "Status": "RUNNING",
    "StartedAt": 5,
    "TaskToken": "secret-token",
    "Message": "Fail [red]over[/]?",
    "Deadline": 3605,
    "OnTimeout": "CONTINUE",
    "ApproversNeeded": 2,
    "Approvals": [{"By": "arn:aws:iam::123456789012:user/alice", "Decision": "APPROVE", "At": 60}],
}


def test_two_thousand_servers_read_as_one_row_per_wave_at_80_columns():
    waves = [
        _wave(n, f"[eu] tier {n}", 500, 500 if n < 3 else 120, status="COMPLETED" if n < 3 else "POLLING")
        for n in range(1, 5)
    ]
    waves[3].Steps = [APPROVAL]
    text = _printed(render(_snapshot(waves)), 80)
    assert len(text.splitlines()) < 25
    assert "[eu] tier 4" in text and "120/500 launched" in text and "380 in" in text  # free text folds
    assert "[bold]CAB[/] before wave 4" in text  # user text as written, never markup
    assert "question:   Fail [red]over[/]?" in text
    assert "asked:      1970-01-01T00:00:05Z" in text and "deadline:   1970-01-01T01:00:05Z" in text
    assert "on timeout: CONTINUE: the plan goes on as if approved" in text
    assert "1 of 2 distinct principal(s) approved" in text and "arn:aws:iam::123456789012:user/alice" in text
    assert "secret-token" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    lines = progress_lines(_snapshot(waves))
    assert lines[0] == "wave 1 ([eu] tier 1): COMPLETED, 500/500 launched"
    assert lines[-1] == (
        "Approval waiting: [bold]CAB[/] before wave 4 ([eu] tier 4): Fail [red]over[/]? | asked 1970-01-01T00:00:05Z, "
        "deadline 1970-01-01T01:00:05Z, on timeout CONTINUE (the plan goes on as if approved), 1 of 2 approved | "
        'answer: drsctl run approve big-drill --reason "..." (or --reject --reason "...")'
    )


def test_a_small_wave_lists_its_servers_with_ids_whole_at_80_columns():
    text = _printed(render(_snapshot([_wave(1, "db", 3, 1)])), 80)
    assert "s-00100000000000000" in text and "s-00100000000000002" in text and "i-00000000000000000" in text
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "host-1-2.example.com" in _printed(render(_snapshot([_wave(1, "db", 3, 1)])), 120)


def test_pending_approvals_are_running_approval_steps_with_a_token():
    done = {**APPROVAL, "Status": "SUCCEEDED", "TaskToken": None}
    waves = [_wave(1, "a", 1, 1, steps=[done]), _wave(2, "b", 1, 0, steps=[APPROVAL])]
    (pending,) = pending_approvals(waves)
    assert (pending.wave_number, pending.name, pending.approvers_needed) == (2, "[bold]CAB[/]", 2)
    shown = _snapshot(waves).to_json()
    assert "secret-token" not in json.dumps(shown) and "TaskToken" not in str(shown)
    assert shown["approval"] == {
        "wave": 2,
        "waveName": "b",
        "step": "[bold]CAB[/]",
        "phase": "BEFORE",
        "index": 0,
        "message": "Fail [red]over[/]?",
        "askedAt": "1970-01-01T00:00:05Z",
        "deadline": "1970-01-01T01:00:05Z",
        "onTimeout": "CONTINUE",
        "approversNeeded": 2,
        "approvals": [
            {
                "by": "arn:aws:iam::123456789012:user/alice",
                "decision": "APPROVE",
                "reason": None,
                "at": "1970-01-01T00:01:00Z",
            }
        ],
        "answer": 'drsctl run approve big-drill --reason "..." (or --reject --reason "...")',
    }


def test_a_decided_step_says_who_decided_why_and_when():
    decided = {
        **APPROVAL,
        "Status": "REJECTED",
        "TaskToken": None,
        "Decision": "REJECT",
        "DecidedBy": "arn:aws:sts::123456789012:assumed-role/DrApprover/bob",
        "Reason": "DB not ready",
        "DecidedAt": 120,
    }
    waves = [_wave(1, "a", 1, 1, steps=[decided])]
    (step,) = _snapshot(waves).to_json()["Waves"][0]["Steps"]
    assert (step["decision"], step["decidedBy"], step["reason"], step["decidedAt"]) == (
        "REJECT",
        "arn:aws:sts::123456789012:assumed-role/DrApprover/bob",
        "DB not ready",
        "1970-01-01T00:02:00Z",
    )
    assert _snapshot(waves).to_json()["approval"] is None
    text = _printed(render(_snapshot(waves)), 200)
    assert (
        "REJECT by arn:aws:sts::123456789012:assumed-role/DrApprover/bob at 1970-01-01T00:02:00Z: DB not ready" in text
    )


def test_execution_input_and_names():
    assert execution_input("p", "RECOVERY", "RECOVER p", "old") == {
        "PlanId": "p",
        "ExecutionType": "RECOVERY",
        "Confirm": "RECOVER p",
        "ResumeFrom": "old",
    }
    assert execution_input("p", "DRILL", None, None) == {"PlanId": "p", "ExecutionType": "DRILL"}
    name = default_name("x" * 128, "DRILL", 0)
    assert len(name) == 80 and name.endswith("-drill-19700101-000000")


def test_the_sandbox_clock_runs_speed_times_real_time():
    clock = ScaledClock(speed=1000, start=0)
    began = time.monotonic()
    assert clock.advance(100) >= 100  # 100 s of sandbox time: 0.1 s of real time
    took = time.monotonic() - began
    assert 0.09 <= took < 5
    assert clock.now() >= 100 + (time.monotonic() - began - took) * 0  # never goes back
    assert clock.advance_to(0) >= 100  # the past: at once
