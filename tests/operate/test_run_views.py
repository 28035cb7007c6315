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
        "deadline 1970-01-01T01:00:05Z, on timeout CONTINUE: the plan goes on as if approved | 1 of 2 approved | "
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
    assert took >= 0.09
    assert took < 100  # scaled: 100 real seconds would be the sandbox's seconds unscaled (a bound on the rule only)
    assert clock.now() >= 100  # never goes back
    assert clock.advance_to(0) >= 100  # the past: at once


# -- one vocabulary, waitingFor, the clock, the cleanup, the RECOVERY confirmation ---------------------------------


def test_executions_read_in_one_vocabulary_whatever_the_records_store():
    from drsctl.operate.vocabulary import execution_state, record_statuses

    for stored, shown in (("PENDING", "RUNNING"), ("POLLING", "RUNNING"), ("PARTIAL", "PARTIAL")):
        assert execution_state(stored, "RUNNING") == shown
    for step_functions, shown in (("SUCCEEDED", "COMPLETED"), ("ABORTED", "CANCELLED"), ("RUNNING", "RUNNING")):
        assert execution_state(None, step_functions) == shown  # no record yet (Prepare has not written it)
    assert record_statuses("RUNNING") == ("PENDING", "POLLING") and record_statuses("FAILED") == ("FAILED",)
    polling = _snapshot([_wave(1, "db", 2, 1)])
    assert polling.status == "RUNNING" and polling.record_status == "POLLING"
    assert polling.to_json()["Status"] == "RUNNING" and polling.to_json()["RecordStatus"] == "POLLING"
    assert "wave 1 (db): RUNNING, 1/2 launched" in progress_lines(polling)[0]  # a wave under way reads RUNNING too


def test_waiting_for_says_what_a_running_execution_waits_for():
    from drsctl.operate.vocabulary import callback_steps

    running = {"Phase": "AFTER", "Index": 1, "Status": "RUNNING", "Name": "step"}
    for kind, waits in (("Approval", "approval"), ("HealthCheck", "health check"), ("Wait", "wait")):
        current = _snapshot([_wave(1, "db", 1, 1, steps=[{**running, "Kind": kind}])])
        assert current.waiting_for == waits
        assert current.to_json()["waitingFor"] == waits
        assert f"RUNNING, waiting for {waits}" in _printed(render(current), 120)
    hook = _snapshot([_wave(1, "db", 1, 1, steps=[{**running, "Kind": "Lambda"}])])
    assert hook.waiting_for is None  # a hook that returns: working, not waiting
    plan = {
        "Waves": [
            {
                "After": [
                    {"Lambda": {"FunctionName": "x"}},
                    {"Lambda": {"FunctionName": "drs-hook-dns", "WaitForCallback": True}},
                ]
            }
        ]
    }
    hook.callbacks = callback_steps(plan)
    assert hook.callbacks == {(1, "AFTER", 1)} and hook.waiting_for == "callback"
    done = {**running, "Kind": "Approval", "Status": "SUCCEEDED"}
    assert _snapshot([_wave(1, "db", 1, 1, steps=[done])]).waiting_for is None


def test_watch_lines_carry_the_utc_time_and_the_date_when_it_changes():
    from drsctl.stamps import LineStamps, duration

    stamps = LineStamps()
    day = 1_796_000_000 - 1_796_000_000 % 86_400  # a midnight, UTC
    assert stamps(day + 86_399) == "23:59:59 (2026-11-30 UTC)"
    assert stamps(day + 86_399) == "23:59:59"
    assert stamps.lines(day + 86_400, "a\nb") == ["00:00:00 (2026-12-01 UTC) a", "00:00:00 b"]
    assert duration(3_725) == "01:02:05" and duration(-5) == "00:00:00"


def test_the_view_shows_start_elapsed_and_the_rto_countdown_in_the_stacks_clock():
    current = _snapshot([_wave(1, "db", 2, 1)])
    current.record.StartTime = 1_000_000
    current.now = 1_000_000 + 12 * 60 + 30  # the stack's clock, not this machine's
    current.rto_minutes = 45
    text = _printed(render(current), 80)
    assert "started 1970-01-12 13:46:40 UTC, elapsed 00:12:30, RTO 45 min: 00:32:30 left\n" in text
    current.now += 40 * 60
    assert "elapsed 00:52:30, RTO 45 min: 00:07:30 over\n" in _printed(render(current), 80)
    current.record.Status, current.record.EndTime = "COMPLETED", 1_000_000 + 1_800
    current.described["status"] = "SUCCEEDED"
    assert "started 1970-01-12 13:46:40 UTC, ended 14:16:40 UTC (took 00:30:00)" in _printed(render(current), 120)


def _ended_drill(
    cleanup: dict | None, status: str = "COMPLETED", launched: int = 4, unknown: int = 0
) -> ExecutionRecord:
    from lambdas.core.records import WaveSummary

    wave = WaveSummary(
        WaveNumber=1, WaveName="db", ProtectionGroupId="g", Region="us-east-1", Launched=launched, Unknown=unknown
    )
    return ExecutionRecord.model_validate(
        {
            "ExecutionId": "d-1",
            "PlanId": "p",
            "ExecutionType": "DRILL",
            "Status": status,
            "StartTime": 0,
            "EndTime": 3_600,
            "Waves": [wave.model_dump()],
            "Cleanup": cleanup,
        }
    )


def test_the_cleanup_state_is_told_from_the_record_and_names_run_cleanup_when_instances_are_up():
    from drsctl.operate.cleanup_view import cleanup_view

    planned = {"AfterMinutes": 30, "OnFailure": "TERMINATE"}
    cases = [
        (_ended_drill({**planned, "Status": "PLANNED"}, status="POLLING"), "planned", "30 min after the drill ends"),
        (_ended_drill({**planned, "Status": "WAITING"}), "waiting", "4 instance(s) at 01:30:00 UTC"),
        (
            _ended_drill({**planned, "Status": "TERMINATING", "Terminated": 1, "StartedAt": 5_400}),
            "terminating",
            "terminating 1/4",
        ),
        (_ended_drill({**planned, "Status": "COMPLETED", "Terminated": 4, "EndedAt": 5_500}), "done", "4 drill"),
        (_ended_drill({**planned, "Status": "KEPT"}, status="FAILED"), "kept", "drsctl run cleanup d-1"),
        (_ended_drill({**planned, "Status": "NOT_RUN"}, status="CANCELLED"), "not run", "drsctl run cleanup d-1"),
        (_ended_drill(None, status="CANCELLED"), "none", "4 drill instance(s) still up; drsctl run cleanup d-1"),
        (_ended_drill(None, launched=0), "none", "no drill instance was launched"),
        # stopped while its servers were in a DRS launch job: DRS finishes the launch, the instances come up after
        (
            _ended_drill(None, status="CANCELLED", launched=0, unknown=4),
            "none",
            "4 server(s) still in DRS launch jobs when it ended (their drill instances may be up); drsctl run cleanup",
        ),
        (
            _ended_drill({**planned, "Status": "NOT_RUN"}, status="CANCELLED", launched=1, unknown=3),
            "not run",
            "1 drill instance(s), 3 more from launch jobs still running when it ended may still be up",
        ),
    ]
    for record, state, text in cases:
        view = cleanup_view(record)
        assert view is not None and view["state"] == state and text in view["text"], (state, view)
    # a drill resumed by another: the resume took its instances over, and the resume's cleanup terminates them
    resumed = _ended_drill(None, status="FAILED")
    resumed.ResumedBy = "d-2"
    view = cleanup_view(resumed)
    assert view is not None and view["short"] == "taken over by d-2" and "drsctl run cleanup d-2" in view["text"]
    resume = _ended_drill(None)
    resume.ResumedFrom = "d-0"
    view = cleanup_view(resume)
    assert view is not None and view["short"] == "none, 4 up, those of d-0 up"
    assert "and the drill instances it took over from d-0; drsctl run cleanup d-1 terminates them" in view["text"]
    recovery = _ended_drill(None)
    recovery.ExecutionType = "RECOVERY"
    assert cleanup_view(recovery) is None  # a recovery keeps its instances: nothing to clean up
    shown = _snapshot([])
    shown.record = _ended_drill({**planned, "Status": "KEPT"}, status="FAILED")
    shown.described["status"] = "FAILED"
    assert "cleanup: kept: " in _printed(render(shown), 200) and "drsctl run cleanup d-1" in _printed(
        render(shown), 200
    )


def test_the_recovery_confirmation_resolves_tags_and_reads_at_80_columns(serve):
    import os
    from unittest.mock import patch

    from drsctl.commands.confirmation import lag_seconds, lag_text, wave_lines, wrap

    assert [lag_seconds(v) for v in ("PT0S", "PT1H30M", "PT4.25S", "P1DT2H", "", None, "bogus")] == [
        0,
        5_400,
        4.25,
        93_600,
        None,
        None,
        None,
    ]
    assert [lag_text(s) for s in (0, 45, 725, 10_920)] == ["0s", "45s", "12m05s", "3h02m"]
    servers = [
        {
            "id": f"s-{n:017d}",
            "hostname": f"app-{n:02d}.storefront.example.com",
            "tags": {"Tier": "app"},
            "lagSeconds": n * 10,
        }
        for n in range(13)
    ]
    servers[3]["replication"] = "STALLED"
    running = serve({"region": "us-east-1", "accountId": "444455556666", "servers": servers})
    plan = {
        "PlanId": "shop",
        "Name": "Shop",
        "ProtectionGroups": [{"GroupId": "app", "Region": "us-east-1", "Selector": {"Tags": {"Tier": "app"}}}],
        "Waves": [{"WaveName": "application", "ProtectionGroupId": "app"}],
    }
    env = {"AWS_ENDPOINT_URL_DRS": running.endpoint, "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}
    with patch.dict(os.environ, env):
        lines = wave_lines(plan, "111122223333")
    text = "\n".join(lines)
    assert "wave 1: application" in text
    assert (
        "Region us-east-1, account 444455556666: 13 server(s) (tagged Tier=app), worst replication lag 2m00s"
        f" (s-{12:017d}); not continuous: 1 STALLED" in text
    )
    assert "app-00.storefront.example.com" in text and "app-09.storefront.example.com and 3 more" in text
    assert "app-10" not in text
    for line in lines:
        wrapped = wrap(line, 80)
        assert all(len(part) <= 80 for part in wrapped)
        assert " ".join(" ".join(wrapped).split()) == " ".join(line.split())  # words whole, none lost


class _WithCancel(ExecutionRecord):
    """The record with the shared contract's cancel fields (the approvals work writes them)."""

    CancelledBy: str | None = None
    CancelReason: str | None = None


def test_who_cancelled_and_why_are_shown_from_the_record():
    current = _snapshot([])
    current.described["status"] = "ABORTED"
    current.record = _ended_drill(None, status="CANCELLED", launched=0)
    assert "cancelled by" not in _printed(render(current), 120)  # a record that keeps neither
    current.record = _WithCancel.model_validate(
        {
            **current.record.model_dump(),
            "CancelledBy": "arn:aws:iam::123456789012:user/ops",
            "CancelReason": "drill window closed",
        }
    )
    assert "cancelled by arn:aws:iam::123456789012:user/ops: drill window closed" in _printed(render(current), 120)


def test_run_list_fits_80_columns_with_names_whole():
    from drsctl.commands.run import _executions_table

    long_name = "storefront-drill-20261129-201500"
    items = [
        {
            "ExecutionId": long_name,
            "PlanId": "a-plan-identifier-longer-than-the-execution-name",
            "ExecutionType": "RECOVERY",
            "Status": "CANCELLED",
            "StartTime": 1_796_634_491,
            "cleanup": {"short": "waiting until 10:37:55 UTC"},
        }
    ]
    narrow = _printed(_executions_table(items, wide=False), 80)
    assert all(len(line) <= 80 for line in narrow.splitlines())
    assert long_name in narrow and "10:37:55 UTC" in narrow and "CANCELLED" in narrow
    wide = _printed(_executions_table(items, wide=True), 160)
    assert any(long_name in line and "waiting until 10:37:55 UTC" in line for line in wide.splitlines())
