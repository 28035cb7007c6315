"""Locks: one running execution per plan, and one per source server across all plans.

Each lock is an item in ExecutionLocks (`plan#<PlanId>`, `server#<region>#<sourceServerId>`) naming the execution
that holds it. Prepare takes them with conditional transactional writes, so two executions racing for a plan or a
server cannot both win; every terminal path (Finalize, Record failure, and the reconcile Lambda that runs when an
execution is stopped, times out or fails) releases them. A lock whose execution's record has already ended (a
release that never ran) is stale and is taken over, so a lost release cannot block a plan forever.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from boto3.dynamodb.conditions import Attr

from lambdas.core import records
from lambdas.core.batches import batched
from lambdas.core.errors import ExecutionConflictError

EXECUTION_LOCKS_TABLE = "EXECUTION_LOCKS_TABLE"
TRANSACTION_MAX = 100  # DynamoDB TransactWriteItems limit


def plan_lock(plan_id: str) -> str:
    return f"plan#{plan_id}"


def server_lock(region: str, server_id: str) -> str:
    return f"server#{region}#{server_id}"


def locks_for(plan_id: str, servers: Iterable[tuple[str, str]]) -> list[str]:
    """The plan's lock first, then one per (region, server)."""
    return [plan_lock(plan_id), *(server_lock(region, server) for region, server in servers)]


def acquire(lock_ids: list[str], *, execution_id: str, plan_id: str, now: int) -> None:
    """Take every lock or none. Raises ExecutionConflictError naming the execution that holds one."""
    taken: list[str] = []
    try:
        for batch in batched(lock_ids, TRANSACTION_MAX):
            _acquire_batch(batch, execution_id=execution_id, plan_id=plan_id, now=now)
            taken.extend(batch)
    except ExecutionConflictError:
        release(taken, execution_id=execution_id)
        raise


def _acquire_batch(batch: list[str], *, execution_id: str, plan_id: str, now: int, retried: bool = False) -> None:
    table = records.table(EXECUTION_LOCKS_TABLE)
    client = table.meta.client
    try:  # "OR ExecutionId = :me": a retried Prepare takes its own locks again
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table.name,
                        "Item": {"LockId": lock_id, "ExecutionId": execution_id, "PlanId": plan_id, "AcquiredAt": now},
                        "ConditionExpression": "attribute_not_exists(LockId) OR ExecutionId = :me",
                        "ExpressionAttributeValues": {":me": execution_id},
                    }
                }
                for lock_id in batch
            ]
        )
    except client.exceptions.TransactionCanceledException as cancelled:
        holders = _holders(batch, execution_id)
        stale = [holder for holder in holders if _ended(holder)]
        if stale and not retried:
            for holder in stale:
                table.delete_item(
                    Key={"LockId": holder["LockId"]},
                    ConditionExpression=Attr("ExecutionId").eq(holder["ExecutionId"]),
                )
            _acquire_batch(batch, execution_id=execution_id, plan_id=plan_id, now=now, retried=True)
            return
        live = [holder for holder in holders if holder not in stale] or holders
        raise ExecutionConflictError(_conflict_message(live, plan_id)) from cancelled


def _holders(lock_ids: list[str], execution_id: str) -> list[dict[str, Any]]:
    table = records.table(EXECUTION_LOCKS_TABLE)
    response = table.meta.client.batch_get_item(
        RequestItems={table.name: {"Keys": [{"LockId": lock_id} for lock_id in lock_ids], "ConsistentRead": True}}
    )
    found = response["Responses"].get(table.name, [])
    return sorted((item for item in found if item["ExecutionId"] != execution_id), key=lambda item: str(item["LockId"]))


def _ended(holder: dict[str, Any]) -> bool:
    record = records.find_execution(str(holder["ExecutionId"]), str(holder["PlanId"]))
    return record is not None and record.Status not in records.ACTIVE_EXECUTION_STATUSES


def _conflict_message(holders: list[dict[str, Any]], plan_id: str) -> str:
    first = holders[0]
    lock_id = str(first["LockId"])
    running = f"execution {first['ExecutionId']} (plan {first['PlanId']!r})"
    if lock_id.startswith("plan#"):
        what = f"Plan {plan_id!r} is already running in {running}"
    else:
        servers = [str(h["LockId"]).rsplit("#", 1)[-1] for h in holders if str(h["LockId"]).startswith("server#")]
        shown = ", ".join(servers[:5]) + (f" and {len(servers) - 5} more" if len(servers) > 5 else "")
        what = f"Server(s) {shown} of plan {plan_id!r} are being launched by {running}"
    return (
        f"{what}. One execution at a time may run a plan or launch a server: wait for it to end, or stop it "
        "(its record then ends CANCELLED and its locks are released), then start again."
    )


def release(lock_ids: list[str], *, execution_id: str) -> None:
    """Release the locks this execution holds; locks held by others (or already gone) are left alone."""
    table = records.table(EXECUTION_LOCKS_TABLE)
    client = table.meta.client
    for batch in batched(lock_ids, TRANSACTION_MAX):
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": table.name,
                            "Key": {"LockId": lock_id},
                            "ConditionExpression": "attribute_not_exists(LockId) OR ExecutionId = :me",
                            "ExpressionAttributeValues": {":me": execution_id},
                        }
                    }
                    for lock_id in batch
                ]
            )
        except client.exceptions.TransactionCanceledException:
            for lock_id in batch:  # one of them was taken over: release the rest one by one
                try:
                    table.delete_item(Key={"LockId": lock_id}, ConditionExpression=Attr("ExecutionId").eq(execution_id))
                except client.exceptions.ConditionalCheckFailedException:
                    continue
