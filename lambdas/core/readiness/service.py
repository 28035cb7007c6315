"""Readiness as the stack runs it: evaluate a stored plan against AWS and the stack's records, keep the result, and
tell the world (lambdas/core/readiness/notify.py).

The `readiness` function runs every 30 minutes (EventBridge Scheduler; context drs:readinessMinutes) for every
stored plan, oldest evaluation first, as many as its time allows (the rest are first next time), and right after
`drsctl plan load` for the plan loaded (drsctl invokes it asynchronously with {"PlanId": ...}).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from lambdas.core import locks, records
from lambdas.core.observability import logger
from lambdas.core.plan import parse_plan
from lambdas.core.plan_version import plan_version
from lambdas.core.readiness import notify, store
from lambdas.core.readiness.estate import Drill, Estate, HeldLock
from lambdas.core.readiness.model import Readiness
from lambdas.core.readiness.runner import evaluate

PLAN_EXECUTIONS_INDEX = "PlanExecutionsByTime"
TIME_MARGIN_SECONDS = 120  # a plan is started only with this much of the function's time left
HISTORY_FIELDS = "ExecutionId, PlanId, ExecutionType, #status, StartTime, EndTime, PlanVersion"


class TableHistory:
    """The plan's executions, from ExecutionHistory's PlanExecutionsByTime index (newest first)."""

    def executions(self, plan_id: str, since: int) -> list[Drill]:
        history = records.table(records.EXECUTION_HISTORY_TABLE)
        arguments: dict[str, Any] = {
            "IndexName": PLAN_EXECUTIONS_INDEX,
            "KeyConditionExpression": Key("PlanId").eq(plan_id) & Key("StartTime").gte(since),
            "ScanIndexForward": False,
            "ProjectionExpression": HISTORY_FIELDS,
            "ExpressionAttributeNames": {"#status": "Status"},
        }
        found: list[Drill] = []
        while True:
            page = history.query(**arguments)
            for item in (records.from_item(i) for i in page.get("Items", [])):
                found.append(
                    Drill(
                        execution_id=str(item["ExecutionId"]),
                        execution_type=str(item.get("ExecutionType") or "DRILL"),
                        status=str(item.get("Status")),
                        start_time=int(item.get("StartTime") or 0),
                        end_time=item.get("EndTime"),
                        plan_version=item.get("PlanVersion"),
                    )
                )
            if "LastEvaluatedKey" not in page:
                return found
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class TableLocks:
    """The plan's locks, from ExecutionLocks; a holder has ended when its record or Step Functions says so."""

    def stale(self, lock_ids: list[str]) -> list[HeldLock]:
        found = []
        for holder in locks.holders_of(lock_ids, execution_id=""):
            if not locks.holder_ended(holder):
                continue
            record = records.find_execution(str(holder["ExecutionId"]), str(holder["PlanId"]))
            status = record.Status if record is not None else "(no record; Step Functions says it ended)"
            found.append(HeldLock(str(holder["LockId"]), str(holder["ExecutionId"]), str(holder["PlanId"]), status))
        return found


@dataclass
class Evaluated:
    plan_id: str
    status: str | None
    error: str | None = None


def evaluate_stored_plan(plan_id: str, now: int) -> Readiness:
    """Evaluate one stored plan, keep the result and publish it."""
    plan = parse_plan(records.load_plan(plan_id), "stored plan")
    previous = store.stored_readiness(plan_id)
    estate = Estate(
        plan,
        now=now,
        history=TableHistory(),
        locks=TableLocks(),
        baseline=previous.baseline_for(plan_version(plan)) if previous is not None else None,
    )
    result = evaluate(estate)
    store.save_readiness(result, now=now, previous=previous, selector_counts=estate.selector_counts())
    failing = sum(status == "FAIL" for status, _ in store.summaries().values())
    notify.publish_readiness(result, previous.status if previous is not None else None, failing)
    logger.info(
        "readiness evaluated",
        extra={
            "plan": plan_id,
            "status": result.status,
            "findings": len(result.findings),
            "version": result.planVersion,
        },
    )
    return result


def evaluate_due(now: int, remaining_seconds: Callable[[], float]) -> list[Evaluated]:
    """Every stored plan, the longest unevaluated first, while the function has time. A plan that cannot be
    evaluated (its stored plan no longer valid) is logged and the others go on; the caller raises at the end."""
    evaluated_at = {plan_id: at for plan_id, (_, at) in store.summaries().items()}
    done: list[Evaluated] = []
    for plan_id in sorted(store.plan_ids(), key=lambda p: (evaluated_at.get(p, 0), p)):
        if remaining_seconds() < TIME_MARGIN_SECONDS:
            logger.warning("readiness: out of time, the rest next run", extra={"left": plan_id})
            break
        try:
            done.append(Evaluated(plan_id, evaluate_stored_plan(plan_id, now).status))
        except Exception as error:  # noqa: BLE001 - one plan must not stop the others' evaluation
            logger.exception("readiness: a plan could not be evaluated", extra={"plan": plan_id})
            done.append(Evaluated(plan_id, None, f"{type(error).__name__}: {error}"))
    return done
