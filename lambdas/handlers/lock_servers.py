"""Lock the plan's servers: one step of the loop that takes the execution's server locks, about 1,000 at a time (and,
for a point-in-time recovery, first chooses each server's recovery snapshot)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core import records, recovery_points
from lambdas.core.events import LockServersEvent
from lambdas.core.locks import lock_servers
from lambdas.core.observability import counts_refusals, logger


@logger.inject_lambda_context(correlation_id_path="ExecutionId", clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = LockServersEvent.model_validate(event)
    locking = request.Locking

    def choose_snapshots(wave: records.WaveRecord) -> bool:
        assert locking.PointInTime is not None
        return recovery_points.choose(
            request.ExecutionId, wave, locking.PointInTime, lambda: context.get_remaining_time_in_millis() / 1000
        )

    next_wave, locked = lock_servers(
        execution_id=request.ExecutionId,
        execution_arn=request.ExecutionArn,
        plan_id=request.PlanId,
        next_wave=locking.NextWave,
        wave_count=locking.WaveCount,
        now=request.Now,
        before_locking=choose_snapshots if locking.PointInTime is not None else None,
    )
    done = next_wave > locking.WaveCount
    if done and locking.PointInTime is not None:
        skew = recovery_points.verdict(
            request.ExecutionId,
            request.PlanId,
            locking.PointInTime,
            locking.MaxSnapshotSkewSeconds or 0,
            records.execution_waves(request.ExecutionId),
        )
        logger.info("recovery points chosen", extra={"snapshot_skew_seconds": skew})
    progress = locking.model_copy(update={"NextWave": next_wave, "Done": done, "Locked": locked})
    logger.info("servers locked", extra={"locked": locked, "next_wave": next_wave})
    return progress.model_dump()
