"""LOCK_STALE: a lock of the plan or of one of its servers is held by an execution that has ended. The next
execution takes a stale lock over and the 15-minute sweeper releases it, so this warns: one that stays says the
sweeper is not running (its schedule, its dead-letter queue)."""

from __future__ import annotations

from collections.abc import Iterator

from lambdas.core import locks
from lambdas.core.readiness.estate import Estate, FactUnavailable
from lambdas.core.readiness.model import Check, Finding


def run(estate: Estate) -> Iterator[Finding]:
    lock_ids = [
        locks.plan_lock(estate.plan.PlanId),
        *dict.fromkeys(locks.server_lock(s.where, s.server_id) for s in estate.servers()),
    ]
    try:
        stale = estate.locks.stale(lock_ids)
    except Exception as error:
        raise FactUnavailable(
            "the plan's locks (ExecutionLocks)",
            f"{type(error).__name__}: {error}",
            "look at the readiness function's logs",
        ) from error
    servers = {locks.server_lock(s.where, s.server_id): s for s in estate.servers()}
    for held in stale:
        server = servers.get(held.lock_id)
        yield CHECK.finding(
            "WARN",
            f"lock {held.lock_id} is held by execution {held.execution_id} (plan {held.plan_id}), which ended "
            f"{held.holder_status}",
            "nothing, if it goes: the next execution takes it over and the sweeper releases it within 15 minutes; if "
            "it stays, check the sweeper (its schedule and dead-letter queue, SweepDeadLetterQueueUrl)",
            account=server.where.account if server else None,
            region=server.where.region if server else None,
            server_id=server.server_id if server else None,
            hostname=server.hostname if server else None,
        )


CHECK = Check(
    code="LOCK_STALE",
    severity="WARN",
    title="A lock of the plan or of one of its servers is held by an execution that has ended",
    reads=(
        "ExecutionLocks: the plan's lock and its servers' (BatchGetItem, 100 a call)",
        "ExecutionHistory: each holder's record; Step Functions DescribeExecution when the record still says it runs",
    ),
    remediation="Nothing when it clears on its own (the sweeper, every 15 minutes); when it stays, repair the "
    "sweeper: its schedule, its function's errors, its dead-letter queue.",
    link="docs/architecture.md#records",
    run=run,
)
