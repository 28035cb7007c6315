"""A wave's own item in ExecutionWaves stays under the 100 KB every record is kept under, approvals included: each
approval keeps one answer per approver (the principal's ARN, a reason), who decided and why, and its question.
Prepare sizes it from the plan (lambdas/core/limits.py wave_item_bytes) and refuses a wave that could outgrow it,
before anything launches; the bound is checked against what a rehearsal answered at its longest really writes."""

from __future__ import annotations

from typing import Any

from lambdas.core import limits
from lambdas.core.approval_record import PRINCIPAL_MAX, REASON_MAX
from lambdas.core.item_size import DESIGN_MAX_BYTES, ITEM_MAX_BYTES
from lambdas.core.plan import RecoveryPlan
from lambdas.core.records import ServerRecord, WaveRecord
from tests.workflow.conftest import DB, load, run, start_recovery_waves, three_tier_scenario, three_wave_plan

DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}
WIDEST = "\U0001d11e"  # 4 bytes in UTF-8


def gate(n: int, approvers: int) -> dict[str, Any]:
    return {"Name": f"Gate {n}", "Approval": {"Message": "€" * 340, "Approvers": approvers}}


def one_wave(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, Any]:
    return three_wave_plan(Waves=[{"WaveName": "db", "ProtectionGroupId": "db", "Before": before, "After": after}])


def approvers_at_their_longest(count: int) -> list[str]:
    """IAM ARNs as long as the record takes them (a user's path makes them long), distinct."""
    return [f"arn:aws:iam::123456789012:user/{'p' * (PRINCIPAL_MAX - 40)}/u{n}" for n in range(count)]


def test_a_wave_whose_approvals_could_outgrow_its_record_is_refused_before_anything_launches(stage):
    """10 approvals before the wave and 10 after, 5 approvers each: answered at their longest, the wave's item
    would pass DynamoDB's 400 KB (an answer could then never be recorded, and the plan would stall mid-recovery)."""
    plan = one_wave([gate(n, 5) for n in range(10)], [gate(n + 10, 5) for n in range(10)])
    parsed = RecoveryPlan.model_validate(plan)
    with stage(three_tier_scenario()) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert described["status"] == "FAILED" and described["error"] == "PlanValidationError"
        message = aws.record("exec-1", "shop").ErrorMessage or ""
        assert "wave 1 ('db'): its record in ExecutionWaves could reach" in message, message
        assert "20 approval(s) keeping up to 100 answers" in message and "fewer Approvers" in message
        assert start_recovery_waves(aws) == [] and aws.waves("exec-1") == []  # refused before any wave was written
    size = limits.wave_item_bytes(parsed, _wave_of(parsed, len(DB)))
    assert size > ITEM_MAX_BYTES  # past DynamoDB's own limit, not only ours


def test_the_bound_holds_what_a_rehearsal_writes_with_every_answer_at_its_longest(stage):
    """Two approvals of 5 approvers after the wave, each answered by 5 principals with the longest ARNs and reasons
    the record takes: the largest wave item written stays within wave_item_bytes, which Prepare accepted."""
    plan = one_wave([], [gate(0, 5), gate(1, 5)])
    parsed = RecoveryPlan.model_validate(plan)
    bound = limits.wave_item_bytes(parsed, _wave_of(parsed, len(DB)))
    assert bound <= DESIGN_MAX_BYTES
    answered = {"decision": "APPROVE", "afterSeconds": 60, "reason": WIDEST * REASON_MAX}
    scenario = three_tier_scenario(approvals=[{**answered, "by": approvers_at_their_longest(5)}])
    with stage(scenario) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        steps = aws.waves("exec-1")[0].Steps
        assert [len(step["Approvals"]) for step in steps] == [5, 5]
        assert aws.engine.max_item_table == "ExecutionWaves"
        written = aws.engine.max_item_bytes
    assert 0.6 * bound < written <= bound, (written, bound)


def _wave_of(plan: RecoveryPlan, servers: int) -> WaveRecord:
    return WaveRecord(
        WaveNumber=1,
        WaveName=plan.Waves[0].WaveName,
        ProtectionGroupId="db",
        Region="us-east-1",
        Servers=[ServerRecord(SourceServerId=server) for server in DB[:servers]],
    )
