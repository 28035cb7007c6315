"""How a health check reads DRS's and EC2's answers, and how Next runbook step decides on its outcome."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lambdas.core import health, limits, polling, runbook
from lambdas.core.plan import RecoveryPlan, RunOptions
from lambdas.core.records import ServerRecord, WaveRecord
from lambdas.core.steps import HealthCheckStep, Step

A, B = "s-" + "a" * 17, "s-" + "b" * 17
WAVE = WaveRecord(
    WaveNumber=1,
    WaveName="db",
    ProtectionGroupId="g",
    Region="us-east-1",
    Servers=[
        ServerRecord(SourceServerId=A, Hostname="db-a", Status="LAUNCHED", RecoveryJobId="j1", InstanceId="i-1"),
        ServerRecord(SourceServerId=B, Status="LAUNCHED", RecoveryJobId="j1", InstanceId="i-2", Impact="OPTIONAL"),
        ServerRecord(SourceServerId="s-" + "c" * 17, Status="FAILED"),
    ],
)


def runs(*statuses: str, reason: str | None = None) -> dict[str, Any]:
    items = [{"status": s, **({"failureReason": reason} if s == "FAILED" and reason else {})} for s in statuses]
    return {"launchActionsStatus": {"ssmAgentDiscoveryDatetime": "2026-01-01T00:00:00Z", "runs": items}}


@pytest.mark.parametrize(
    ("participant", "state"),
    [
        (runs("SUCCEEDED", "SUCCEEDED"), "HEALTHY"),
        (runs("SUCCEEDED", "IN_PROGRESS"), "PENDING"),
        (runs("SUCCEEDED", "FAILED", reason="disk full"), "UNHEALTHY"),
        (runs("IN_PROGRESS", "FAILED"), "UNHEALTHY"),  # a failure is final whatever else still runs
        ({"launchActionsStatus": {"ssmAgentDiscoveryDatetime": "2026-01-01T00:00:00Z", "runs": []}}, "PENDING"),
        ({"launchActionsStatus": {"runs": []}}, "HEALTHY"),  # no action configured: nothing to wait for
        (None, "UNHEALTHY"),
    ],
)
def test_post_launch_actions(participant, state):
    assert health.post_launch_state(participant)[0] == state


def test_a_failed_post_launch_action_names_its_reason():
    assert health.post_launch_state(runs("FAILED", reason="disk full")) == (
        "UNHEALTHY",
        "post-launch action 'a post-launch action' FAILED: disk full",
    )


def status(state: str = "running", instance: str = "ok", system: str = "ok") -> dict[str, Any]:
    return {
        "InstanceState": {"Name": state},
        "InstanceStatus": {"Status": instance},
        "SystemStatus": {"Status": system},
    }


@pytest.mark.parametrize(
    ("item", "state", "reason"),
    [
        (status(), "HEALTHY", None),
        (status(instance="initializing", system="initializing"), "PENDING", None),
        (status(system="insufficient-data"), "PENDING", None),
        (status(instance="impaired"), "UNHEALTHY", "EC2 instance status impaired"),
        (status(instance="impaired", system="initializing"), "UNHEALTHY", "EC2 instance status impaired"),
        (status("terminated", "not-applicable", "not-applicable"), "UNHEALTHY", "EC2 instance terminated"),
        (status("stopped"), "UNHEALTHY", "EC2 instance stopped"),
        (None, "UNHEALTHY", "EC2 instance not found"),
    ],
)
def test_ec2_status_checks(item, state, reason):
    found = health.instance_state(item)
    assert found[0] == state and (reason is None or found[1] == reason)


def test_only_launched_servers_are_judged_each_by_its_impact_or_the_steps():
    participants = {("j1", A): runs("FAILED", reason="x"), ("j1", B): runs("FAILED", reason="y")}
    statuses = {"i-1": status(), "i-2": status()}
    judged = health.judge(WAVE, HealthCheckStep(), participants, statuses)
    assert [(j.server.SourceServerId, j.state, j.impact) for j in judged] == [
        (A, "UNHEALTHY", "CRITICAL"),
        (B, "UNHEALTHY", "OPTIONAL"),
    ]
    overridden = health.judge(WAVE, HealthCheckStep(Impact="OPTIONAL"), participants, statuses)
    assert {j.impact for j in overridden} == {"OPTIONAL"}
    assert judged[0].name == f"db-a ({A}, CRITICAL)" and judged[1].name == f"{B} ({B}, OPTIONAL)"


@pytest.mark.parametrize(("minutes", "interval"), [(1, 30), (10, 30), (30, 90), (60, 180), (1440, 4320)])
def test_checks_come_every_twentieth_of_the_timeout_and_never_under_30_seconds(minutes, interval):
    assert health.check_interval(minutes * 60) == interval


CHECK = Step.model_validate({"Name": "Database healthy", "HealthCheck": {}})
OPTIONAL_CHECK = Step.model_validate({"HealthCheck": {"Impact": "OPTIONAL"}})


def ended(step: Step, outcome: dict[str, Any]) -> tuple[runbook.StepRecord, dict[str, str] | None]:
    record = runbook.StepRecord(Phase="AFTER", Index=0, Kind=step.kind, Name=step.label, Status="RUNNING", StartedAt=0)
    cursor = runbook.StepCursor(Phase="AFTER", Index=0, Outcome=outcome)
    return record, runbook._record_outcome([record], cursor, step, 60, WAVE)


def test_a_healthy_outcome_succeeds_with_its_sentence():
    record, stop = ended(CHECK, {"Status": "HEALTHY", "Output": "2 launched server(s) healthy", "Error": None})
    assert (record.Status, record.Detail, stop) == ("SUCCEEDED", "2 launched server(s) healthy", None)


def test_a_critical_server_unhealthy_stops_the_plan_an_optional_one_does_not():
    failed = {
        "Status": "UNHEALTHY",
        "Error": "HealthCheckFailed",
        "Cause": "1 server(s) unhealthy: db-a",
        "Critical": 1,
    }
    record, stop = ended(CHECK, failed)
    assert record.Status == "FAILED" and record.Detail == "HealthCheckFailed: 1 server(s) unhealthy: db-a"
    assert stop is not None and stop["Error"] == "HealthCheckFailed"
    assert (
        "Health check 'Database healthy' after wave 1 (db) failed" in stop["Cause"] and "What to do:" in stop["Cause"]
    )
    record, stop = ended(CHECK, {**failed, "Critical": 0})
    assert record.Status == "FAILED" and stop is None


def test_servers_only_late_time_the_step_out():
    record, stop = ended(CHECK, {"Status": "UNHEALTHY", "Error": "HealthCheckTimedOut", "Cause": "late", "Critical": 2})
    assert record.Status == "TIMED_OUT" and stop is not None and "timed out" in stop["Cause"]


def test_a_check_that_could_not_run_fails_closed_unless_the_step_is_optional():
    refused = {"Error": "HealthCheckRefusedError", "Cause": '{"errorMessage": "EC2 refused", "stackTrace": []}'}
    record, stop = ended(CHECK, refused)
    assert record.Detail == "HealthCheckRefusedError: EC2 refused" and stop is not None
    assert ended(OPTIONAL_CHECK, refused)[1] is None


def test_a_health_check_before_a_wave_is_refused_by_the_plan_model():
    plan = {
        "PlanId": "p",
        "Name": "P",
        "ProtectionGroups": [{"GroupId": "g", "Region": "us-east-1", "SourceServerIds": [A]}],
        "Waves": [{"WaveName": "w", "ProtectionGroupId": "g", "Before": [{"HealthCheck": {}}]}],
    }
    with pytest.raises(ValidationError, match=r"Before\[0\] is a HealthCheck.*move the step to After"):
        RecoveryPlan.model_validate(plan)


def test_a_plan_whose_health_checks_leave_the_waves_no_history_is_refused():
    count = 40  # 40 waves, each with a HealthCheck after it: 40 x 441 events leave each wave less than it needs
    plan = RecoveryPlan.model_validate(
        {
            "PlanId": "p",
            "Name": "P",
            "ProtectionGroups": [{"GroupId": "g", "Region": "us-east-1", "Selector": {"Tags": {"Tier": "app"}}}],
            "Waves": [
                {"WaveName": f"w{n}", "ProtectionGroupId": "g", "After": [{"HealthCheck": {}}]} for n in range(count)
            ],
        }
    )
    waves = [
        WaveRecord(
            WaveNumber=n + 1,
            WaveName=f"w{n}",
            ProtectionGroupId="g",
            Region="us-east-1",
            Servers=[ServerRecord(SourceServerId=f"s-{n:017d}")],
        )
        for n in range(count)
    ]
    problems = limits.problems(plan, waves, RunOptions(WaveTimeoutMinutes=5, ExpectedJobMinutes=2))
    assert any(
        "its 40 runbook steps" in p and f"40 of them HealthChecks ({polling.EVENTS_PER_HEALTH_STEP} each" in p
        for p in problems
    ), problems
    assert polling.EVENTS_PER_HEALTH_STEP == 45 + 22 * 18
    # the same plan with Wait steps instead fits: the health checks' polling is what is budgeted
    assert polling.wave_event_budget(count, count) + polling.WAVE_FIXED_EVENTS >= polling.MIN_WAVE_EVENTS
    # and with fewer waves it fits too
    assert polling.wave_event_budget(30, 30, 30) + polling.WAVE_FIXED_EVENTS >= polling.MIN_WAVE_EVENTS
