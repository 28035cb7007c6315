"""Errors the Lambdas raise. The class name is the contract: the state machine's Retry and Catch match on it.

DRS errors are not wrapped: botocore raises them as classes named after the service's error shapes
(`ConflictException`, `ThrottlingException`, ...), and those names are what the workflow retries on.
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base of every error we raise on purpose. Its message is written for an operator."""


class PlanValidationError(OrchestratorError):
    """The plan or the execution input cannot run as given. Not retried: the input must be fixed first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listed = "\n".join(
            f"- {problem.rstrip()}" + ("" if problem.rstrip().endswith(".") else ".") for problem in problems
        )
        super().__init__(
            f"The plan cannot run ({len(problems)} problem(s)):\n{listed}\nWhat to do: fix each problem above "
            "(nothing was launched), then start the execution again."
        )


class PlanNotFoundError(OrchestratorError):
    """No plan with the given PlanId in the RecoveryPlans table."""


class ExecutionRecordError(OrchestratorError):
    """The ExecutionHistory record is missing or not in the state this step expects."""


class ExecutionConflictError(OrchestratorError):
    """Another execution is running the same plan, or launching one of its servers. Not retried."""


class ExecutionStoppedError(OrchestratorError):
    """The execution's record has already ended (stopped, timed out): a late step must not launch anything.

    A redriven execution lands here too (its record ended with it): Redrive is refused, and the message says so."""

    REDRIVE = (
        ". If this execution was redriven: a Step Functions redrive does not run an ended execution again; start a "
        'new execution with "ResumeFrom": "<this execution>" (`drsctl run resume <this execution>`) to run what it '
        "did not"
    )

    def __init__(self, message: str) -> None:
        super().__init__(message + self.REDRIVE)


class ExecutionStoppedWhilePreparingError(ExecutionStoppedError):
    """The execution was stopped while Prepare ran: its record was ended by the reconcile path, its locks released."""

    REDRIVE = ""  # nothing ran: nothing to resume


class TransactionConflictError(OrchestratorError):
    """A DynamoDB transaction was cancelled for a conflict or throttling, not because a lock is held. Retried."""


class DrsRefusedError(OrchestratorError):
    """DRS refused a call for a reason waiting will not fix (access denied, not initialized). Not retried; the
    message names the call, the region and the fix."""


class WaveClosedError(ExecutionStoppedError):
    """A wave's record has already ended; a late step may not write it again."""


class RecordEndedError(ExecutionRecordError):
    """The execution's record has ended (the reconcile path closed it): a step still running writes nothing more."""


class StepsChangedError(ExecutionStoppedError):
    """A wave's runbook steps were written by someone else (the execution's end, or the answer function recording
    an approver's answer) since this step read them. Next runbook step is retried on it: it reads them again, and
    finds the execution ended (it stops) or the answer recorded (it decides from it)."""


class HealthCheckRefusedError(OrchestratorError):
    """DRS or EC2 refused a health check's call for a reason waiting will not fix (access denied, a bad request).
    Not retried: the step fails, naming the call, the region and the fix."""


class ReadinessNotEvaluatedError(OrchestratorError):
    """A stored plan could not be evaluated for readiness (it no longer parses, its tables cannot be read)."""


class ScheduledDrillRefusedError(OrchestratorError):
    """A drill its plan's schedule started was refused before anything launched: another execution of the plan
    runs, or the plan's readiness is FAIL. The record says which; the topic is told."""


class ExecutionHistoryUnavailableError(OrchestratorError):
    """GetExecutionHistory was throttled or unavailable (after the SDK's own retries) while Next runbook step read how
    a hook or an approval ended. Retried by the state (it only reads), never a reason to fail the plan."""


# What the workflow is built to meet and answers itself (a Catch, a retry, a refusal it records): not a failure of the
# stack. The handlers log each one (lambdas/core/observability.py counts_refusals) and the stack counts them apart
# from the Lambda Errors metric, so its error alarms fire on unexpected failures only (stacks/monitoring.py).
EXPECTED_REFUSALS: tuple[type[OrchestratorError], ...] = (
    PlanValidationError,  # the plan or the input cannot run: the operator fixes it
    PlanNotFoundError,
    ExecutionConflictError,  # another execution runs the plan or holds a server
    ExecutionStoppedError,  # a late step of an execution that was stopped (and its kin: wave closed, steps changed)
    RecordEndedError,
    TransactionConflictError,  # contention on the records: retried by the workflow
    ScheduledDrillRefusedError,  # a scheduled drill that could not start: recorded and notified
)
