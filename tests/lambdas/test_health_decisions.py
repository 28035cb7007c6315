"""How a health check reads DRS's and EC2's answers, and how Next runbook step decides on its outcome."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lambdas.core import health, launch_actions, limits, polling, runbook
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


def runs(*statuses: str, reason: str | None = None, optional: tuple[int, ...] = ()) -> dict[str, Any]:
    """A participant whose SSM agent DRS discovered, with one run per status, each of its own action (the shapes of
    botocore's LaunchActionRun); `optional`: the positions of actions marked optional."""
    items = [
        {
            "runId": f"run-{n}",
            "status": s,
            "action": {"actionId": f"action-{n}", "name": f"check-{n}", "active": True, "optional": n in optional},
            **({"failureReason": reason} if s == "FAILED" and reason else {}),
        }
        for n, s in enumerate(statuses)
    ]
    return {"launchActionsStatus": {"ssmAgentDiscoveryDatetime": "2026-01-01T00:00:00Z", "runs": items}}


NO_AGENT = {"launchActionsStatus": {"runs": []}}  # DRS has not discovered the SSM agent: it lists no run
AGENT_NO_RUN = {"launchActionsStatus": {"ssmAgentDiscoveryDatetime": "2026-01-01T00:00:00Z", "runs": []}}


@pytest.mark.parametrize(
    ("participant", "configured", "state"),
    [
        (runs("SUCCEEDED", "SUCCEEDED"), 2, "HEALTHY"),
        (runs("SUCCEEDED", "IN_PROGRESS"), 2, "PENDING"),
        (runs("SUCCEEDED", "FAILED", reason="disk full"), 2, "UNHEALTHY"),
        (runs("IN_PROGRESS", "FAILED"), 2, "UNHEALTHY"),  # a failure is final whatever else still runs
        (runs("SUCCEEDED"), 2, "PENDING"),  # a run of each active action is required: one has not run yet
        (runs("SUCCEEDED", "FAILED", optional=(1,)), 2, "HEALTHY"),  # an optional action may fail
        (runs("SUCCEEDED", "IN_PROGRESS", optional=(1,)), 2, "PENDING"),  # but it must have run
        (AGENT_NO_RUN, 1, "PENDING"),
        (AGENT_NO_RUN, 0, "HEALTHY"),
        (NO_AGENT, 0, "HEALTHY"),  # no action configured: nothing to wait for
        (NO_AGENT, 2, "PENDING"),  # actions configured, the agent not reported yet: they cannot have run
        (runs("SUCCEEDED", "SUCCEEDED"), None, "PENDING"),  # what is configured not read yet
        (runs("FAILED", reason="x"), None, "UNHEALTHY"),  # a required action's failure needs no more reading
        (NO_AGENT, launch_actions.GONE, "UNHEALTHY"),  # DRS no longer knows the source server
        (None, 1, "UNHEALTHY"),
    ],
)
def test_post_launch_actions(participant, configured, state):
    assert health.post_launch_state(participant, configured)[0] == state


def test_actions_whose_agent_never_reports_are_unhealthy_at_the_last_check_naming_how_many_did_not_run():
    assert health.post_launch_state(NO_AGENT, 2) == (
        "PENDING",
        "SSM agent not reported yet: 2 post-launch action(s) waiting to run",
    )
    assert health.post_launch_state(NO_AGENT, 2, final=True) == (
        "UNHEALTHY",
        "SSM agent never reported: 2 post-launch actions did not run",
    )
    # nothing configured: the same answer from DRS passes, at the last check too, and says why
    assert health.post_launch_state(NO_AGENT, 0, final=True) == ("HEALTHY", health.NO_ACTIONS_NOTE)
    # the agent reported: actions still missing at the last check are only late (the step's deadline decides)
    assert health.post_launch_state(runs("SUCCEEDED"), 2, final=True)[0] == "PENDING"


def test_a_failed_post_launch_action_names_its_reason():
    assert health.post_launch_state(runs("FAILED", reason="disk full"), 1) == (
        "UNHEALTHY",
        "post-launch action 'check-0' FAILED: disk full",
    )
    healthy, note = health.post_launch_state(runs("FAILED", reason="disk full", optional=(0,)), 1)
    assert healthy == "HEALTHY" and note == "optional post-launch action 'check-0' FAILED (optional: not counted)"


def test_inactive_actions_and_a_status_botocore_does_not_know_are_not_counted_as_ended():
    participant = runs("SUCCEEDED", "SKIPPED")  # SKIPPED is no LaunchActionRunStatus: not ended
    assert health.post_launch_state(participant, 2)[0] == "PENDING"
    participant["launchActionsStatus"]["runs"][1]["action"]["active"] = False
    assert health.post_launch_state(participant, 1)[0] == "HEALTHY"


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
