"""End an execution's record: COMPLETED, PARTIAL or FAILED, with an end time and a message an operator can act on.

Both ways out of the workflow come here: Finalize after the waves, and Record failure after an unexpected error
(then the record may not exist yet, for instance when the input itself was invalid). Either way the record ends
terminal: no execution leaves its record PENDING or POLLING.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from lambdas.core import cleanup, locks, records, runbook, wave_end
from lambdas.core.explain import ACTION_MARK, before_action, listed, with_action
from lambdas.core.records import ACTIVE_EXECUTION_STATUSES, ExecutionRecord, ExecutionStatus, WaveRecord
from lambdas.core.resume import LAUNCHED_BEFORE

UNKNOWN_PLAN = "UNKNOWN"


class Failure(BaseModel):
    """A caught error as Step Functions hands it over (`Catch` with `ResultPath: $.Error`)."""

    model_config = ConfigDict(extra="ignore")

    Error: str
    Cause: str | None = None

    def explained(self) -> str:
        """The human part of the Cause: a Lambda's errorMessage, or the Cause itself."""
        cause = self.Cause or ""
        try:
            details = json.loads(cause)
        except ValueError:
            details = None
        if isinstance(details, dict) and "errorMessage" in details:
            cause = str(details["errorMessage"])
        return f"{self.Error}: {cause}" if cause else self.Error


class Finished(BaseModel):
    model_config = ConfigDict(extra="forbid")

    Status: ExecutionStatus
    ErrorMessage: str | None
    Summary: str
    Cleanup: cleanup.CleanupProgress = cleanup.CleanupProgress(Status="NONE")  # Options.DrillCleanup: what next


def plan_id_of(raw_input: Any) -> str:
    """The PlanId an execution input names, whether stored or inline, even if the input is otherwise invalid."""
    if isinstance(raw_input, dict):
        plan = raw_input.get("Plan")
        for candidate in (raw_input.get("PlanId"), plan.get("PlanId") if isinstance(plan, dict) else None):
            if isinstance(candidate, str) and candidate:
                return candidate
    return UNKNOWN_PLAN


def finish(
    *,
    execution_id: str,
    raw_input: Any,
    failure: Failure | None,
    now: int,
    execution_arn: str | None = None,
    stopped_as: ExecutionStatus | None = None,
) -> Finished:
    """End the record, every wave item and every server entry in it, and release every lock of the execution.

    `stopped_as` (CANCELLED, TIMED_OUT, FAILED) is set by the reconcile path: Step Functions ended the execution
    itself (a stop, the execution timeout, a failure nothing caught). Idempotent: a second call finds the record
    ended and only releases locks again.
    """
    plan_id = plan_id_of(raw_input)
    record = records.find_execution(execution_id, plan_id)
    exists = record is not None
    if record is None:
        execution_type = raw_input.get("ExecutionType") if isinstance(raw_input, dict) else None
        record = ExecutionRecord(
            ExecutionId=execution_id,
            PlanId=plan_id,
            ExecutionType=execution_type if execution_type in ("DRILL", "RECOVERY") else None,
            ExecutionArn=execution_arn,
            StartTime=now,
        )
    waves = records.execution_waves(execution_id) if exists else []
    # Ended waves released their servers' locks; the open ones (and the plan's) are released here, and whatever else
    # the execution holds is found through the LocksByExecution index.
    held = _lock_ids(record.PlanId, [w for w in waves if w.Status in records.OPEN_WAVE_STATUSES])
    if record.Status not in ACTIVE_EXECUTION_STATUSES:
        if stopped_as is not None or failure is not None:  # ended while its drill cleanup waited or ran
            cleanup.close_open(record, stopped_as or "FAILED", now)
        locks.release_execution(record.ExecutionId, held)
        return _finished(record)
    reason = _end_reason(stopped_as, failure)
    ended_because = failure.explained() if failure is not None else None
    # Every wave had ended by itself when this failure came (Finalize failing, say): the record tells how the
    # waves went, and names the failure, rather than call a recovery that worked a failure.
    waves_done = bool(waves) and all(w.Status not in records.OPEN_WAVE_STATUSES for w in waves)
    runbook.close_running_steps(execution_id, waves, reason, now)
    changed, unresolved = close_waves(record, waves, reason=reason, cause=ended_because, now=now)
    plan_stopped_it = failure is not None and (
        failure.Error.startswith("Wave") or failure.Error in runbook.RUNBOOK_ERRORS
    )
    if waves_done and failure is not None and stopped_as is None and not plan_stopped_it:
        status, message = _outcome(waves, None, None, record)
        note = f"Every wave had ended when closing the execution failed ({ended_because}); the record was closed after."
        message = before_action(message or "", note) if message else note
    else:
        status, message = _outcome(waves, failure, stopped_as, record)
    record.Status = status
    record.EndTime = now
    record.ErrorMessage = records.truncate(message) if message else None
    cleanup.at_end(record, stopped_as)
    if not records.close_execution(record, changed, exists=exists, unresolved=unresolved):
        record = records.get_execution(execution_id, plan_id)
    locks.release_execution(record.ExecutionId, held)
    return _finished(record)


def close_waves(
    record: ExecutionRecord, waves: list[WaveRecord], *, reason: wave_end.EndReason, cause: str | None, now: int
) -> tuple[list[WaveRecord], bool]:
    """Bring every wave of the execution to a final status (in `waves`, and their summaries in the record).

    Returns the waves that changed, and whether a StartRecovery without a recorded answer remains that DRS could
    not be asked about (the sweeper will ask again).
    """
    changed: list[WaveRecord] = []
    unresolved = False
    if len(record.Waves) != len(waves):  # Prepare wrote the waves but was stopped before the record listed them
        record.Waves = [records.WaveSummary.of(wave) for wave in waves]
    for wave in waves:
        before = wave.model_dump()
        tags = wave_end.job_tags(record.ExecutionId, record.ExecutionType or "DRILL", record.PlanId, wave.WaveNumber)
        if wave.Status == "PENDING" and wave.StartTime is None:
            wave.Status = "SKIPPED"
            for server in wave.Servers:
                if server.Error != LAUNCHED_BEFORE:  # what a resumed execution launched stays said (a later resume)
                    server.Status = "SKIPPED"
                    server.Error = "NOT_STARTED"
        elif wave.Status in records.OPEN_WAVE_STATUSES:
            unresolved |= not wave_end.close(wave, reason=reason, now=now, tags=tags, cause=cause)
        elif wave.PendingStart is not None:
            found = wave_end.discover(wave, tags, now)
            unresolved |= not found.complete and wave.PendingStart is not None
            wave_end.apply(wave, found.observed)
        summary = records.WaveSummary.of(wave)
        if wave.model_dump() != before or record.Waves[wave.WaveNumber - 1] != summary:
            record.Waves[wave.WaveNumber - 1] = summary
            changed.append(wave)
    return changed, unresolved


def _end_reason(stopped_as: ExecutionStatus | None, failure: Failure | None) -> wave_end.EndReason:
    if stopped_as == "CANCELLED":
        return "stopped"
    if stopped_as == "TIMED_OUT":
        return "execution_timed_out"
    return "execution_failed"  # only waves that did not end by themselves are closed with this reason


def _lock_ids(plan_id: str, waves: list[WaveRecord]) -> list[str]:
    servers = ((wave.target_of(server), server.SourceServerId) for wave in waves for server in wave.Servers)
    return locks.locks_for(plan_id, servers)


def _outcome(
    waves: list[WaveRecord], failure: Failure | None, stopped_as: ExecutionStatus | None, record: ExecutionRecord
) -> tuple[ExecutionStatus, str | None]:
    """The execution's status and message: what happened, the jobs it started and those still running, what to do."""
    servers = [s for w in waves for s in w.Servers]
    facts = _jobs_facts(waves)
    failed_wave = next((w for w in waves if w.Status in ("FAILED", "TIMED_OUT")), None)
    if stopped_as is not None:
        what = failure.explained() if failure is not None else stopped_as
        return stopped_as, _ensure_action(before_action(what, facts), _after_a_stop(record))
    if failed_wave is not None:
        return "FAILED", _ensure_action(before_action(failed_wave.ErrorMessage or "A wave failed.", facts), _RUN_AGAIN)
    if failure is not None:
        return "FAILED", _ensure_action(before_action(failure.explained(), facts), _RUN_AGAIN)
    launched = sum(s.Status == "LAUNCHED" or s.taken_over for s in servers)  # taken over by a resume: launched
    if servers and launched == 0:
        return "FAILED", with_action(
            f"No server of the plan launched ({len(servers)} tried). {facts}",
            "read each wave's ErrorMessage and the DRS job logs (DescribeJobLogItems), fix the cause and run the plan "
            "again",
        )
    partial = [w for w in waves if w.Status == "PARTIAL"]
    if partial:
        stories = " ".join((w.ErrorMessage or "").partition(ACTION_MARK)[0].strip() for w in partial)
        return "PARTIAL", with_action(
            f"{stories} {facts}",
            "read the job logs in the DRS console (DescribeJobLogItems) for the servers named, and launch them again "
            "when fixed",
        )
    return "COMPLETED", None


def _jobs_facts(waves: list[WaveRecord]) -> str:
    """The DRS jobs the execution started, and the servers whose job was still running when it ended."""
    started = [f"{job} (wave {w.WaveNumber})" for w in waves for job in w.JobIds]
    text = f"DRS jobs this execution started: {listed(started) if started else 'none'}."
    running = [
        s for w in waves for s in w.Servers if s.Error in ("JOB_STILL_RUNNING", "WAVE_TIMEOUT", "START_UNCONFIRMED")
    ]
    if running:
        jobs = sorted({s.RecoveryJobId for s in running if s.RecoveryJobId})
        text += (
            f" Server(s) {listed([s.SourceServerId for s in running])} were still in DRS job(s) "
            f"{listed(jobs) or '(see the waves)'} when the execution ended: DRS may still launch them."
        )
    return text


_RUN_AGAIN = "fix the cause named above and run the plan again"


def _after_a_stop(record: ExecutionRecord) -> str:
    """What an operator does after a stop, in the commands that do it (drsctl run resume, drsctl run cleanup)."""
    name = record.ExecutionId
    resume = (
        f"resume the waves that did not run with `drsctl run resume {name}` (an execution with ResumeFrom {name}: "
        "servers already launched are not launched again)"
    )
    if record.ExecutionType == "RECOVERY":
        return f"DRS finishes the launch jobs already started (it cannot cancel a launch); {resume}"
    return (
        f"DRS finishes the launch jobs already started (it cannot cancel a launch); to finish the drill, {resume}; "
        f"when done with its drill instances, terminate them with `drsctl run cleanup {name}` (a drill cleaned up "
        "cannot be resumed)"
    )


def _ensure_action(text: str, action: str) -> str:
    return text if ACTION_MARK in text else with_action(text, action)


def _finished(record: ExecutionRecord) -> Finished:
    launched = sum(w.Launched for w in record.Waves)
    servers = sum(w.ServerCount for w in record.Waves)
    summary = f"{record.Status}: {launched} of {servers} server(s) launched in {len(record.Waves)} wave(s)"
    return Finished(
        Status=record.Status,
        ErrorMessage=record.ErrorMessage,
        Summary=summary,
        Cleanup=cleanup.summary(record),
    )
