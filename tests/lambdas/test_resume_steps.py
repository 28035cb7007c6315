"""Which steps a resume takes over and which it runs again (lambdas/core/resume.py taken_over_steps), from the
earlier wave's step records and the plan: pure, no AWS."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.core.plan import Wave
from lambdas.core.records import WaveRecord
from lambdas.core.resume import taken_over_steps
from lambdas.core.runbook import StepRecord

HOOK = {"Name": "Promote", "Lambda": {"FunctionName": "drs-hook-promote"}}
OPTIONAL_HOOK = {"Name": "Report", "Lambda": {"FunctionName": "drs-hook-report", "Impact": "OPTIONAL"}}
CHECK = {"Name": "Healthy", "HealthCheck": {}}
SIGN_OFF = {"Name": "Sign-off", "Approval": {"Message": "ok?", "OnTimeout": "CONTINUE"}}


def ran(phase: str, index: int, step: dict[str, Any], status: str, **more: Any) -> dict[str, Any]:
    kind = next(k for k in ("Lambda", "Approval", "HealthCheck", "Wait") if k in step)
    return {
        "Phase": phase,
        "Index": index,
        "Kind": kind,
        "Name": step["Name"],
        "Status": status,
        "StartedAt": 1,
        **more,
    }


def carried(after: list[dict[str, Any]], records: list[dict[str, Any]]) -> tuple[list[tuple[str, str]], bool]:
    wave = Wave.model_validate({"WaveName": "db", "ProtectionGroupId": "db", "After": after})
    earlier = WaveRecord(WaveNumber=1, WaveName="db", ProtectionGroupId="db", Region="us-east-1", Steps=records)
    steps, finished = taken_over_steps(earlier, wave, "exec-1")
    parsed = [StepRecord.model_validate(s) for s in steps]
    assert all(s.RanIn == "exec-1" for s in parsed)
    return [(s.Name, "past" if s.taken_over() else "again") for s in parsed], finished


def test_the_steps_the_runbook_went_past_are_taken_over_and_the_one_that_stopped_it_runs_again():
    records = [
        ran("AFTER", 0, OPTIONAL_HOOK, "FAILED", StoppedPlan=False),
        ran("AFTER", 1, HOOK, "FAILED", StoppedPlan=True),
    ]
    assert carried([OPTIONAL_HOOK, HOOK, CHECK], records) == ([("Report", "past"), ("Promote", "again")], False)


def test_a_wave_whose_every_step_after_it_went_through_is_done():
    records = [
        ran("AFTER", 0, HOOK, "SUCCEEDED", StoppedPlan=False),
        ran("AFTER", 1, CHECK, "FAILED", StoppedPlan=False),
    ]
    assert carried([HOOK, CHECK], records) == ([("Promote", "past"), ("Healthy", "past")], True)


@pytest.mark.parametrize(
    ("step", "status", "went_past"),
    [
        (HOOK, "FAILED", False),  # CRITICAL
        (OPTIONAL_HOOK, "TIMED_OUT", True),
        (SIGN_OFF, "TIMED_OUT", True),  # OnTimeout: CONTINUE
        (SIGN_OFF, "REJECTED", False),
        (CHECK, "FAILED", False),  # its servers' impact is not on the record: fails closed, the check runs again
    ],
)
def test_a_record_without_stopped_plan_is_judged_from_the_plan_failing_closed(step, status, went_past):
    steps, finished = carried([step], [ran("AFTER", 0, step, status)])
    assert steps == [(step["Name"], "past" if went_past else "again")] and finished is went_past


def test_a_step_cut_short_or_never_reached_runs_again_and_a_changed_step_is_not_taken_over():
    assert carried([HOOK, CHECK], [ran("AFTER", 0, HOOK, "CANCELLED")]) == ([("Promote", "again")], False)
    assert carried([HOOK, CHECK], [ran("AFTER", 0, HOOK, "SUCCEEDED", StoppedPlan=False)]) == (
        [("Promote", "past")],
        False,
    )
    renamed = {**HOOK, "Name": "Promote the primary"}
    assert carried([renamed], [ran("AFTER", 0, HOOK, "SUCCEEDED", StoppedPlan=False)]) == ([], False)
