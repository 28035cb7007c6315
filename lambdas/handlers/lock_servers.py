"""Lock the plan's servers: one step of the loop that takes the execution's server locks, about 1,000 at a time."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core.events import LockServersEvent
from lambdas.core.locks import lock_servers
from lambdas.core.observability import counts_refusals, logger


@logger.inject_lambda_context(correlation_id_path="ExecutionId", clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = LockServersEvent.model_validate(event)
    next_wave, locked = lock_servers(
        execution_id=request.ExecutionId,
        execution_arn=request.ExecutionArn,
        plan_id=request.PlanId,
        next_wave=request.Locking.NextWave,
        wave_count=request.Locking.WaveCount,
        now=request.Now,
    )
    progress = request.Locking.model_copy(
        update={"NextWave": next_wave, "Done": next_wave > request.Locking.WaveCount, "Locked": locked}
    )
    logger.info("servers locked", extra={"locked": locked, "next_wave": next_wave})
    return progress.model_dump()
