"""Prepare sizes every payload the definition can make for a plan, in bytes (lambdas/core/payloads.py): the shapes
it builds are the definition's, and the sizes grow with what the plan and DRS put in them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lambdas.core import payloads, runbook
from lambdas.core.finish import Finished
from lambdas.core.plan import RecoveryPlan, RunOptions
from lambdas.core.prepare import Prepared, WaveRef
from lambdas.core.records import ServerRecord, WaveRecord
from lambdas.core.waves import WaveProgress

ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachine" / "recovery_plan.asl.json").read_text())
MAP = ASL["States"]["Run waves in order"]
INNER = MAP["ItemProcessor"]["States"]


def selected(template: dict[str, Any]) -> set[str]:
    return {key.removesuffix(".$") for key in template}


def plan_with(before: list[dict[str, Any]], **options: Any) -> tuple[RecoveryPlan, WaveRecord, RunOptions]:
    plan = RecoveryPlan.model_validate(
        {
            "PlanId": "p",
            "Name": "P",
            "ProtectionGroups": [{"GroupId": "g", "Region": "us-east-1", "Selector": {"Tags": {"Tier": "app"}}}],
            "Waves": [{"WaveName": "w", "ProtectionGroupId": "g", "Before": before}],
        }
    )
    wave = WaveRecord(WaveNumber=1, WaveName="w", ProtectionGroupId="g", Region="us-east-1")
    return plan, wave, RunOptions(**options)


def test_the_shapes_sized_are_the_definitions():
    plan, wave, options = plan_with([{"Lambda": {"FunctionName": "drs-hook-x"}}])
    assert set(payloads.iteration_input(plan, wave, options)) == selected(MAP["ItemSelector"])
    assert set(payloads.map_item(plan, 1)) == set(WaveRef.model_fields)
    assert set(payloads.prepared_result(plan, [wave], options)) == set(Prepared.model_fields)
    prepare = ASL["States"]["Prepare execution"]["ResultSelector"]
    assert selected(prepare) == set(Prepared.model_fields) - {"Warnings"}
    assert set(payloads.worst_progress(wave)) == set(WaveProgress.model_fields)
    assert set(payloads.worst_progress(wave)) == selected(INNER["Check wave jobs"]["ResultSelector"])
    assert set(payloads.cursor(plan.Waves[0].Before[0], wave)) == selected(INNER["Next runbook step"]["ResultSelector"])
    assert set(runbook.ANSWER_KEYS) == selected(INNER["Next runbook step"]["ResultSelector"])
    finalize = ASL["States"]["Finalize execution"]["ResultSelector"]
    assert selected(finalize) == set(Finished.model_fields) == set(payloads._finished())


def servers(count: int, hostname: str) -> list[ServerRecord]:
    return [ServerRecord(SourceServerId=f"s-{n:017x}", Hostname=hostname) for n in range(count)]


def state_at_the_hook(plan: RecoveryPlan, wave: WaveRecord, options: RunOptions) -> int:
    found = {p.what: p.size for p in payloads.wave_payloads(plan, wave, options)}
    return found["the state of wave 1 ('w'), Before[0] ('Lambda drs-hook-x')"]


def test_a_hooks_event_grows_with_every_servers_hostname_in_utf8_bytes():
    plan, wave, options = plan_with([{"Lambda": {"FunctionName": "drs-hook-x"}}])
    wave.Servers = servers(100, "h" * 10)
    short = state_at_the_hook(plan, wave, options)
    wave.Servers = servers(100, "h" * 60)
    assert state_at_the_hook(plan, wave, options) - short == 100 * 50
    wave.Servers = servers(100, "é" * 60)  # two bytes each in UTF-8
    assert state_at_the_hook(plan, wave, options) - short == 100 * (120 - 10)
    # the event is the one the hook receives: every server with a status and a recovery instance at their longest
    event = payloads.cursor(plan.Waves[0].Before[0], payloads._worst_wave(wave))["Event"]
    assert event["Servers"][0] == {
        "SourceServerId": "s-00000000000000000",
        "Account": payloads.ACCOUNT,  # 12 digits, as every account ID
        "Region": "us-east-1",
        "Hostname": "é" * 60,
        "Status": "IN_PROGRESS",
        "RecoveryInstanceId": payloads.INSTANCE_ID,
        "Ec2InstanceId": payloads.INSTANCE_ID,
    }


def test_the_state_of_a_wave_counts_a_job_per_server_and_a_health_checks_caught_error():
    plan, wave, options = plan_with([])
    wave.Servers = servers(1000, "h")
    launching = {p.what: p.size for p in payloads.wave_payloads(plan, wave, options)}
    assert launching["the state of wave 1 ('w') while it launches"] > 1000 * len(payloads.JOB_ID)
    after = [{"WaveName": "w", "ProtectionGroupId": "g", "After": [{"HealthCheck": {}}]}]
    with_check = RecoveryPlan.model_validate({**plan.model_dump(exclude_none=True), "Waves": after})
    checked = {p.what: p.size for p in payloads.wave_payloads(with_check, wave, options)}
    state = checked["the state of wave 1 ('w'), After[0] ('HealthCheck')"]
    assert state - launching["the state of wave 1 ('w') while it launches"] > payloads.payload_bytes(
        payloads.caught_error()
    )


def test_an_inline_plan_near_256_kib_is_refused_naming_the_fix():
    plan, wave, options = plan_with([])
    raw = {"Plan": {**plan.model_dump(exclude_none=True), "Description": "x" * 250_000}, "ExecutionType": "DRILL"}
    problems = payloads.problems(plan, [wave], options, raw)
    assert any(
        "the execution's input, as Record failure receives it" in p and "drsctl plan load" in p for p in problems
    )
    assert not payloads.problems(plan, [wave], options, {"PlanId": "p", "ExecutionType": "DRILL"})
