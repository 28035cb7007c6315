"""Locks: one running execution per plan, and one per source server across all plans.

Each lock is an item in ExecutionLocks (`plan#<PlanId>`, `server#<account>#<region>#<sourceServerId>`: a server is
known by its account, Region and ID) naming the execution
that holds it (ExecutionId and ExecutionArn). Prepare takes them with conditional transactional writes, so two
executions racing for a plan or a server cannot both win. Locks cannot outlive their execution:

- every terminal path (Finalize, Record failure, the reconcile Lambda, the sweeper) releases every lock the
  execution holds, found through the LocksByExecution index as well as from the record (Prepare may have taken
  locks before the record listed the servers);
- a lock whose holder has ended (its record is closed, or Step Functions says the execution is no longer running)
  is stale and is taken over;
- the sweeper releases locks of ended executions every 15 minutes, whatever else was lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from lambdas.core import executions, records
from lambdas.core.accounts import Target
from lambdas.core.batches import batched
from lambdas.core.errors import ExecutionConflictError, ExecutionStoppedError, TransactionConflictError
from lambdas.core.explain import listed, with_action

EXECUTION_LOCKS_TABLE = "EXECUTION_LOCKS_TABLE"
LOCKS_BY_EXECUTION = "LocksByExecution"
TRANSACTION_MAX = 100  # DynamoDB TransactWriteItems limit
# CancellationReasons codes that say "try again" rather than "someone holds it" (DynamoDB TransactWriteItems).
RETRYABLE_REASONS = frozenset(["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"])


def plan_lock(plan_id: str) -> str:
    return f"plan#{plan_id}"


def server_lock(where: Target, server_id: str) -> str:
    return f"server#{where.account}#{where.region}#{server_id}"


def wave_locks(wave: records.WaveRecord) -> list[str]:
    """The locks of a wave's servers."""
    return [server_lock(wave.target_of(server), server.SourceServerId) for server in wave.Servers]


def locks_for(plan_id: str, servers: Iterable[tuple[Target, str]]) -> list[str]:
    """The plan's lock first, then one per (account and Region, server)."""
    return [plan_lock(plan_id), *(server_lock(where, server) for where, server in servers)]


def acquire(lock_ids: list[str], *, execution_id: str, execution_arn: str | None, plan_id: str, now: int) -> None:
    """Take every lock or none. Raises ExecutionConflictError naming the execution that holds one."""
    taken: list[str] = []
    try:
        for batch in batched(lock_ids, TRANSACTION_MAX):
            _acquire_batch(batch, execution_id=execution_id, execution_arn=execution_arn, plan_id=plan_id, now=now)
            taken.extend(batch)
    except ExecutionConflictError:
        release(taken, execution_id=execution_id)
        raise


def _acquire_batch(
    batch: list[str], *, execution_id: str, execution_arn: str | None, plan_id: str, now: int, retried: bool = False
) -> None:
    table = records.table(EXECUTION_LOCKS_TABLE)
    client = table.meta.client
    item = {"ExecutionId": execution_id, "PlanId": plan_id, "AcquiredAt": now}
    if execution_arn:
        item["ExecutionArn"] = execution_arn
    try:  # "OR ExecutionId = :me": a retried Prepare takes its own locks again
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table.name,
                        "Item": {"LockId": lock_id, **item},
                        "ConditionExpression": "attribute_not_exists(LockId) OR ExecutionId = :me",
                        "ExpressionAttributeValues": {":me": execution_id},
                    }
                }
                for lock_id in batch
            ]
        )
    except client.exceptions.TransactionCanceledException as cancelled:
        reasons = [str(reason.get("Code", "None")) for reason in cancelled.response.get("CancellationReasons", [])]
        if "ConditionalCheckFailed" not in reasons:
            # Nobody holds these locks: the transaction collided with another one, or was throttled. The state
            # machine retries Prepare (TransactionConflictError is in its transient list); locks already taken are
            # ours and are taken again.
            raise TransactionConflictError(
                f"Taking {len(batch)} lock(s) was cancelled ({', '.join(sorted(set(reasons))) or 'no reason given'}); "
                "Prepare will try again"
            ) from cancelled
        holders = _holders(batch, execution_id)
        stale = [holder for holder in holders if holder_ended(holder)]
        if stale and not retried:
            for holder in stale:
                table.delete_item(
                    Key={"LockId": holder["LockId"]},
                    ConditionExpression=Attr("ExecutionId").eq(holder["ExecutionId"]),
                )
            _acquire_batch(
                batch, execution_id=execution_id, execution_arn=execution_arn, plan_id=plan_id, now=now, retried=True
            )
            return
        live = [holder for holder in holders if holder not in stale] or holders
        if not live:  # the holder released its lock between our write and our read: just try again
            raise TransactionConflictError(
                "A lock was released while it was being taken; Prepare will try again"
            ) from cancelled
        raise ExecutionConflictError(_conflict_message(live, plan_id)) from cancelled


def holders_of(lock_ids: list[str], execution_id: str) -> list[dict[str, Any]]:
    """The lock items among `lock_ids` held by executions other than `execution_id`."""
    found: list[dict[str, Any]] = []
    for batch in batched(lock_ids, TRANSACTION_MAX):
        found.extend(_holders(batch, execution_id))
    return found


def _holders(lock_ids: list[str], execution_id: str) -> list[dict[str, Any]]:
    table = records.table(EXECUTION_LOCKS_TABLE)
    response = table.meta.client.batch_get_item(
        RequestItems={table.name: {"Keys": [{"LockId": lock_id} for lock_id in lock_ids], "ConsistentRead": True}}
    )
    found = response["Responses"].get(table.name, [])
    return sorted((item for item in found if item["ExecutionId"] != execution_id), key=lambda item: str(item["LockId"]))


def holder_ended(holder: dict[str, Any]) -> bool:
    """A holder has ended when its record is closed, or when Step Functions says it no longer runs."""
    record = records.find_execution(str(holder["ExecutionId"]), str(holder["PlanId"]))
    if record is not None and record.Status not in records.ACTIVE_EXECUTION_STATUSES:
        return True
    arn = holder.get("ExecutionArn") or (record.ExecutionArn if record is not None else None)
    return executions.has_ended(str(arn) if arn else None)


def _conflict_message(holders: list[dict[str, Any]], plan_id: str) -> str:
    first = holders[0]
    lock_id = str(first["LockId"])
    running = f"execution {first['ExecutionId']} (plan {first['PlanId']!r})"
    if lock_id.startswith("plan#"):
        what = f"Plan {plan_id!r} is already running in {running}"
    else:
        servers = [str(h["LockId"]).rsplit("#", 1)[-1] for h in holders if str(h["LockId"]).startswith("server#")]
        what = f"Server(s) {listed(servers, 5)} of plan {plan_id!r} are being launched by {running}"
    return with_action(
        f"{what}. One execution at a time may run a plan or launch a server",
        "wait for that execution to end, or stop it (its record then ends CANCELLED and its locks are released), "
        "then start again",
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
            for lock_id in batch:  # one was taken over, or the transaction collided: release them one by one
                try:
                    table.delete_item(Key={"LockId": lock_id}, ConditionExpression=Attr("ExecutionId").eq(execution_id))
                except client.exceptions.ConditionalCheckFailedException:
                    continue


def held_by(execution_id: str) -> list[str]:
    """Every lock the execution holds, from the LocksByExecution index."""
    table = records.table(EXECUTION_LOCKS_TABLE)
    found: list[str] = []
    arguments: dict[str, Any] = {
        "IndexName": LOCKS_BY_EXECUTION,
        "KeyConditionExpression": Key("ExecutionId").eq(execution_id),
        "ProjectionExpression": "LockId",
    }
    while True:
        page = table.query(**arguments)
        found.extend(str(item["LockId"]) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return found
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def release_execution(execution_id: str, known: list[str]) -> None:
    """Release every lock of an execution: those its record implies, and any other the index finds."""
    lock_ids = list(dict.fromkeys([*known, *held_by(execution_id)]))
    release(lock_ids, execution_id=execution_id)


def holders() -> dict[str, dict[str, Any]]:
    """One lock item per execution holding any lock (for the sweeper): a small table, so a Scan."""
    table = records.table(EXECUTION_LOCKS_TABLE)
    found: dict[str, dict[str, Any]] = {}
    arguments: dict[str, Any] = {"ProjectionExpression": "LockId, ExecutionId, PlanId, ExecutionArn"}
    while True:
        page = table.scan(**arguments)
        for item in page.get("Items", []):
            found.setdefault(str(item["ExecutionId"]), item)
        if "LastEvaluatedKey" not in page:
            return found
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


SERVERS_PER_LOCK_STEP = 1_000  # about 10 transactions: one step of "Lock the plan's servers" stays short


def lock_servers(
    *,
    execution_id: str,
    execution_arn: str | None,
    plan_id: str,
    next_wave: int,
    wave_count: int,
    now: int,
    before_locking: Callable[[records.WaveRecord], bool] | None = None,
) -> tuple[int, int]:
    """Take the locks of the servers of waves `next_wave`, ... up to about SERVERS_PER_LOCK_STEP servers: one step of
    the state machine's loop, so no Lambda's work grows with the plan. Returns (the next wave to lock, locks taken).

    `before_locking`: what must be done for a wave before its servers are locked (a point-in-time recovery chooses
    their recovery snapshots); when it says the wave is not done yet (this step's time is up), the step ends there
    and the next one goes on with that wave.

    Locks taken by earlier steps stay held when a later one finds a server locked (ExecutionConflictError): the
    execution then fails through Record failure, which releases every lock of the execution.
    """
    lock_ids: list[str] = []
    wave = next_wave
    while wave <= wave_count and len(lock_ids) < SERVERS_PER_LOCK_STEP:
        resolved = records.get_wave(execution_id, wave)
        if before_locking is not None and not before_locking(resolved):
            break
        lock_ids.extend(wave_locks(resolved))
        wave += 1
    lock_ids = list(dict.fromkeys(lock_ids))
    if not records.execution_active(execution_id, plan_id):
        raise ExecutionStoppedError(f"Execution {execution_id} has ended; it takes no more locks")
    acquire(lock_ids, execution_id=execution_id, execution_arn=execution_arn, plan_id=plan_id, now=now)
    if not records.execution_active(execution_id, plan_id):  # stopped meanwhile: the reconcile path may be done
        release(lock_ids, execution_id=execution_id)
        raise ExecutionStoppedError(f"Execution {execution_id} has ended; the locks it just took are released")
    return wave, len(lock_ids)
