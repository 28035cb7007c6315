"""A drill its plan's schedule started (execution input `Scheduled`) runs only when it can: Prepare refuses it,
before anything launches, while another execution of the plan runs (its drill cleanup included) or while the plan's
readiness (as last evaluated, for this plan version) is FAIL. The refusal is the execution's record, FAILED with
ScheduledDrillRefusedError and the reason, and the stack's topic hears of the failed execution: a scheduled drill is
never skipped in silence."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key

from lambdas.core import records
from lambdas.core.errors import ScheduledDrillRefusedError
from lambdas.core.explain import with_action
from lambdas.core.readiness import store
from lambdas.core.readiness.model import iso
from lambdas.core.records import ExecutionRecord

FINDINGS_NAMED = 3
PLAN_EXECUTIONS_INDEX = "PlanExecutionsByTime"
# An execution runs at most 48 hours (the state machine's timeout) and its drill cleanup a day more: one that started
# earlier has ended, whatever its record says (the sweeper closes such records).
RUNNING_LOOK_BACK_SECONDS = 3 * 86_400
STILL_OPEN = ("ACTIVE", records.OPEN_FOR_CLEANUP)  # running, or ended with its drill cleanup still to end


def refuse_if_running(plan_id: str, execution_id: str, now: int) -> None:
    """Raise ScheduledDrillRefusedError when another execution of the plan still runs, its drill cleanup included
    (the plan's lock is released when its waves end, before the cleanup)."""
    history = records.table(records.EXECUTION_HISTORY_TABLE)
    arguments: dict[str, Any] = {
        "IndexName": PLAN_EXECUTIONS_INDEX,
        "KeyConditionExpression": Key("PlanId").eq(plan_id) & Key("StartTime").gte(now - RUNNING_LOOK_BACK_SECONDS),
        "ScanIndexForward": False,
        "ProjectionExpression": "ExecutionId, #open, #status",
        "ExpressionAttributeNames": {"#open": records.OPEN_ATTRIBUTE, "#status": "Status"},
    }
    while True:
        page = history.query(**arguments)
        for item in page.get("Items", []):
            if item["ExecutionId"] != execution_id and item.get(records.OPEN_ATTRIBUTE) in STILL_OPEN:
                what = "runs" if item.get(records.OPEN_ATTRIBUTE) == "ACTIVE" else "is still cleaning up its drill"
                raise ScheduledDrillRefusedError(
                    with_action(
                        f"The scheduled drill of plan {plan_id!r} was not started: execution {item['ExecutionId']} "
                        f"of the plan {what}",
                        "nothing: the schedule tries again at its next time; to drill now, wait for that execution "
                        f"to end and start one (drsctl run start {plan_id})",
                    )
                )
        if "LastEvaluatedKey" not in page:
            return
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def refused_while_running(plan_id: str, conflict: Exception) -> ScheduledDrillRefusedError:
    return ScheduledDrillRefusedError(
        with_action(
            f"The scheduled drill of plan {plan_id!r} was not started: {str(conflict).split('. One execution')[0]}",
            "nothing: the schedule tries again at its next time; to drill now, wait for that execution to end and "
            f"start one (drsctl run start {plan_id})",
        )
    )


def refuse_if_not_ready(plan_id: str, version: str) -> None:
    """Raise ScheduledDrillRefusedError when the plan's stored readiness, for this version, is FAIL."""
    stored = store.stored_readiness(plan_id)
    if stored is None or stored.plan_version != version or stored.status != "FAIL":
        return
    failing = [f for f in stored.findings if f.severity == "FAIL"]
    named = "; ".join(
        f"{f.code}{f' on server {f.sourceServerId}' if f.sourceServerId else ''}: {f.detail}"
        for f in failing[:FINDINGS_NAMED]
    )
    more = f" (and {len(failing) - FINDINGS_NAMED} more)" if len(failing) > FINDINGS_NAMED else ""
    raise ScheduledDrillRefusedError(
        with_action(
            f"The scheduled drill of plan {plan_id!r} was not started: its readiness is FAIL (version {version}, "
            f"evaluated {iso(stored.evaluated_at)}): {named}{more}",
            f"fix the findings (drsctl plan readiness {plan_id}); the schedule tries again at its next time, or start "
            f"the drill by hand (drsctl run start {plan_id})",
        )
    )


def refused_before_start(record: ExecutionRecord) -> bool:
    """A scheduled drill Prepare refused (another execution of the plan ran, or its readiness was FAIL): it launched
    nothing and has no report of its own (drsctl/report/publish.py); its FAILED record, which says why, and the
    topic's notification are what is kept of it, so the plan's reports are its drills."""
    return (
        bool(record.Scheduled)
        and not record.Waves
        and (record.ErrorMessage or "").startswith(ScheduledDrillRefusedError.__name__)
    )
