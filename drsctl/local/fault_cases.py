"""The fault matrix: named faults at every boundary, each run through the real definition, handlers, emulator and
engine, and checked against the same invariants (`drsctl.local.invariants`).

Used by `bench/fault_matrix.py` (every case) and `tests/safety/test_fault_matrix.py` (the fast subset). A case
names what it injects (a scenario for the emulator, faults for the engine, a hook that stops or races executions)
and what the record must end as; the runner also checks that nothing is left open or unaccounted for.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from drsctl.emulator import Scenario
from drsctl.emulator.scenario import Approval, FunctionSpec
from drsctl.local import hooks, invariants
from drsctl.local.engine import CANCELLATION_REASONS, DynamoDbFault, EngineFaults, LambdaFault, StepFunctionsFault
from drsctl.local.rehearsal import STOPPED, TERMINAL, LocalAws, local_aws
from lambdas.core import accounts, deadline, limits
from lambdas.core.plan import OptionsOverride, RecoveryPlan, RunOptions
from lambdas.core.records import ServerRecord, WaveRecord

SWEEP_INTERVAL_SECONDS = 900  # EventBridge Scheduler runs the sweeper every 15 minutes
RESUME_AFTER_SECONDS = 1800  # the team fixes the cause, then resumes: jobs the first left running have ended
SWEEPS = 4


def _server(kind: str, n: int) -> str:
    return "s-" + f"{kind}{n}".rjust(17, "0")


DB = [_server("db", n) for n in range(3)]
APP = [_server("app", n) for n in range(3)]
WEB = [_server("web", n) for n in range(2)]
EXACT = {"drill": {"snapshot": 1, "preparation": 50, "conversion": 200, "launch": 300}, "jitter": 0}


def base_scenario() -> dict[str, Any]:
    servers = [{"id": s, "hostname": f"db-{n}", "tags": {"Tier": "db"}} for n, s in enumerate(DB)]
    servers += [{"id": s, "hostname": f"app-{n}", "tags": {"Tier": "app"}} for n, s in enumerate(APP)]
    servers += [
        {"id": s, "hostname": f"web-{n}", "region": "us-west-2", "tags": {"Tier": "web"}} for n, s in enumerate(WEB)
    ]
    return {"region": "us-east-1", "seed": 11, "timing": EXACT, "servers": servers}


def base_plan() -> dict[str, Any]:
    return {
        "PlanId": "shop",
        "Name": "Shop",
        "ProtectionGroups": [
            {"GroupId": "db", "Region": "us-east-1", "SourceServerIds": DB},
            {"GroupId": "app", "Region": "us-east-1", "Selector": {"Tags": {"Tier": "app"}}},
            {"GroupId": "web", "Region": "us-west-2", "SourceServerIds": WEB},
        ],
        "Waves": [
            {"WaveName": "db", "ProtectionGroupId": "db"},
            {"WaveName": "app", "ProtectionGroupId": "app"},
            {"WaveName": "web", "ProtectionGroupId": "web"},
        ],
    }


Arm = Callable[[LocalAws, "Run"], None]
Change = Callable[[dict[str, Any]], None]
Fix = Callable[[LocalAws], None]  # what the team changes before resuming, beyond the servers' faults
Check = Callable[[LocalAws], list[str]]  # what the resume must have done: the problems found, none when it did


@dataclass
class Run:
    """What a case's hooks may touch while the first execution runs."""

    arn: str = ""
    stopped: bool = False
    others: list[str] = field(default_factory=list)


@dataclass
class Case:
    family: str
    name: str
    expect: tuple[str, ...]  # acceptable statuses of the first execution's record
    scenario: Callable[[dict[str, Any]], None] | None = None
    plan: Callable[[dict[str, Any]], None] | None = None
    faults: Callable[[], EngineFaults] | None = None
    arm: Arm | None = None
    mode: str = "DRILL"
    deliver_events: bool = True
    says: tuple[str, ...] = ()  # words the record's ErrorMessage must contain
    waves_say: tuple[str, ...] = ()  # words the first execution's wave records must hold (QuotaWaits, step details)
    fast: bool = False
    # After the first execution has ended: fix the servers, let 30 minutes pass, and resume it (ResumeFrom); the
    # resume's record must end as `resume_expect` says
    then_resume: bool = False
    resume_expect: tuple[str, ...] = ("COMPLETED",)
    fix: Fix | None = None
    resume_check: Check | None = None
    check: Check | None = None  # what the first execution must have done beyond its record's status
    point_in_time: str | None = None  # execution input PointInTime


@dataclass
class Outcome:
    case: Case
    execution_status: str
    record_status: str
    message: str
    start_recovery_calls: int
    violations: invariants.Violations
    executions: int
    resumed_status: str | None = None  # the resume's record, for a case that resumes
    resume_problems: list[str] = field(default_factory=list)  # what the case's resume_check found
    waves_text: str = ""  # the first execution's wave records (without their servers), as JSON
    problems: list[str] = field(default_factory=list)  # what the case's check found of the first execution

    def unexpected(self) -> list[str]:
        """How the outcome differs from the case's whole expectation (empty when it is as expected): the record's
        status, the words of its message and of its wave records, what the case's own check found of the first
        execution, and, for a case that resumes, the resume's status and what its check found."""
        found = []
        if self.record_status not in self.case.expect:
            found.append(f"record {self.record_status}, expected {'/'.join(self.case.expect)}")
        found += [f"message without {word!r}: {self.message!r}" for word in self.case.says if word not in self.message]
        found += [f"wave records without {word!r}" for word in self.case.waves_say if word not in self.waves_text]
        if self.case.then_resume and self.resumed_status not in self.case.resume_expect:
            found.append(f"resume {self.resumed_status}, expected {'/'.join(self.case.resume_expect)}")
        if self.case.then_resume:
            found += [f"resume: {problem}" for problem in self.resume_problems]
        return found + self.problems

    @property
    def expected(self) -> bool:
        return not self.unexpected()


# -- scenario, plan and engine changes ----------------------------------------------------------------------------


def op_fault(operation: str, error: str, **how: Any) -> Callable[[dict[str, Any]], None]:
    def change(scenario: dict[str, Any]) -> None:
        scenario.setdefault("faults", []).append({"operation": operation, "error": error, **how})

    return change


def server_fault(server: str, fault: Any) -> Callable[[dict[str, Any]], None]:
    def change(scenario: dict[str, Any]) -> None:
        for spec in scenario["servers"]:
            if spec["id"] == server:
                spec.setdefault("faults", []).append(fault)

    return change


EXTRA = [_server("ext", n) for n in range(4)]


def extra_servers(count: int) -> Callable[[dict[str, Any]], None]:
    """Servers of the estate that the base plan does not launch (for a second plan)."""

    def change(scenario: dict[str, Any]) -> None:
        scenario["servers"] += [{"id": s, "hostname": f"ext-{n}"} for n, s in enumerate(EXTRA[:count])]

    return change


def replication_state(server: str, state: str, **extra: Any) -> Change:
    def change(scenario: dict[str, Any]) -> None:
        for spec in scenario["servers"]:
            if spec["id"] == server:
                spec["replication"] = state
                spec.update(extra)

    return change


def scenario_keys(**keys: Any) -> Callable[[dict[str, Any]], None]:
    def change(scenario: dict[str, Any]) -> None:
        scenario.update(copy.deepcopy(keys))

    return change


def both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(target: dict[str, Any]) -> None:
        for each in changes:
            each(target)

    return change


def plan_options(**options: Any) -> Callable[[dict[str, Any]], None]:
    def change(plan: dict[str, Any]) -> None:
        plan.setdefault("Options", {}).update(options)

    return change


def impact(wave: int, level: str | None = None, servers: dict[str, str] | None = None) -> Callable[..., None]:
    def change(plan: dict[str, Any]) -> None:
        if level:
            plan["Waves"][wave]["Impact"] = level
        if servers:
            plan["Waves"][wave]["ServerImpact"] = servers

    return change


def lambda_faults(*faults: LambdaFault) -> Callable[[], EngineFaults]:
    return lambda: EngineFaults(lambdas=[copy.copy(f) for f in faults])


def dynamodb_faults(*faults: DynamoDbFault) -> Callable[[], EngineFaults]:
    return lambda: EngineFaults(dynamodb=[copy.copy(f) for f in faults])


def history_faults(*faults: StepFunctionsFault, page_max: int | None = None) -> Callable[[], EngineFaults]:
    """GetExecutionHistory (and other Step Functions calls of our functions) throttled; pages cut to `page_max`."""
    return lambda: EngineFaults(stepfunctions=[copy.copy(f) for f in faults], history_page_max=page_max)


# -- hooks: stops and races --------------------------------------------------------------------------------------


def stop_at_invocation(function: str, nth: int = 1) -> Arm:
    """Stop the execution while the nth invocation of `function` runs (before its handler starts)."""

    def arm(aws: LocalAws, run: Run) -> None:
        seen = [0]

        def hook(name: str, request: dict[str, Any]) -> None:
            if name.endswith(function):
                seen[0] += 1
                if seen[0] == nth and not run.stopped:
                    run.stopped = True
                    aws.stop(run.arn)

        aws.engine.before_invoke.append(hook)

    return arm


def _at_nth_call(function: str, operation: str, nth: int, action: Callable[[LocalAws, Run], None]) -> Arm:
    """Run `action` inside `function`, just before its nth `operation` call, once."""

    def arm(aws: LocalAws, run: Run) -> None:
        seen = [0]

        def hook(name: str, called: str) -> None:
            if name.endswith(function) and called == operation:
                seen[0] += 1
                if seen[0] == nth and not run.stopped:
                    run.stopped = True
                    action(aws, run)

        aws.engine.on_aws_call.append(hook)

    return arm


def stop_at_call(function: str, operation: str, nth: int = 1) -> Arm:
    """Stop the execution inside `function`, just before its nth `operation` call (e.g. between two chunks)."""
    return _at_nth_call(function, operation, nth, lambda aws, run: aws.stop(run.arn))


def reconcile_at_call(function: str, operation: str, nth: int = 1) -> Arm:
    """Stop the execution inside `function` before its nth `operation`, and have its reconcile event handled at once,
    while the step still runs (EventBridge is quick; a Lambda keeps running after a stop)."""

    def stop_and_reconcile(aws: LocalAws, run: Run) -> None:
        aws.stop(run.arn)
        described = dict(aws.client("stepfunctions").describe_execution(executionArn=run.arn))
        stopped_at = datetime.fromtimestamp(aws.clock.now(), tz=UTC)
        aws.deliver_status_change({**described, "status": "ABORTED", "stopDate": stopped_at})

    return _at_nth_call(function, operation, nth, stop_and_reconcile)


def one_server_waves(count: int) -> tuple[Change, Change]:
    """(scenario, plan) changes for a plan of `count` waves of one quick server each (1-minute jobs)."""
    ids = [_server("w", n) for n in range(count)]

    def scenario(target: dict[str, Any]) -> None:
        target["servers"] = [{"id": s, "hostname": f"w-{n}"} for n, s in enumerate(ids)]
        target["timing"] = {"drill": {"snapshot": 1, "preparation": 10, "conversion": 20, "launch": 30}, "jitter": 0}

    def plan(target: dict[str, Any]) -> None:
        target["ProtectionGroups"] = [{"GroupId": "g", "Region": "us-east-1", "SourceServerIds": ids}]
        target["Waves"] = [{"WaveName": f"w{n}", "ProtectionGroupId": "g", "ServerIds": [s]} for n, s in enumerate(ids)]
        target["Options"] = {"ExpectedJobMinutes": 1, "WaveTimeoutMinutes": 20}

    return scenario, plan


def start_another(execution_input: dict[str, Any], *, at_check: int = 1, plan: dict[str, Any] | None = None) -> Arm:
    """Start a second execution at the first execution's nth check, and hold the first until it has ended."""

    def arm(aws: LocalAws, run: Run) -> None:
        seen = [0]
        if plan is not None:
            aws.load_plan(RecoveryPlan.model_validate(plan))

        def listener(invocation: Any, request: dict[str, Any], response: Any) -> None:
            if invocation.function.endswith("check-wave") and request.get("ExecutionId") == "first":
                seen[0] += 1
                if seen[0] == at_check and not run.others:
                    run.others.append(aws.start_execution(execution_input, "second"))
                    aws.wait(run.others[0])

        aws.engine.listeners.append(listener)

    return arm


def start_concurrently(execution_input: dict[str, Any], plan: dict[str, Any]) -> Arm:
    """Start a second plan right away, running beside the first (they share the DRS quotas)."""

    def arm(aws: LocalAws, run: Run) -> None:
        aws.load_plan(RecoveryPlan.model_validate(plan))
        run.others.append(aws.start_execution(execution_input, "second"))

    return arm


def other_plan(plan_id: str, servers: list[str], region: str = "us-east-1") -> dict[str, Any]:
    return {
        "PlanId": plan_id,
        "Name": plan_id,
        "ProtectionGroups": [{"GroupId": f"{plan_id}-group", "Region": region, "SourceServerIds": servers}],
        "Waves": [{"WaveName": "only", "ProtectionGroupId": f"{plan_id}-group"}],
        "Options": {"MaxServersPerJob": 1},
    }


# -- the cases ---------------------------------------------------------------------------------------------------

OK = ("COMPLETED",)
FAILED = ("FAILED",)
CANCELLED = ("CANCELLED",)
DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}
DENIED = (
    "User: arn:aws:sts::111122223333:assumed-role/start-wave/x is not authorized to perform: drs:StartRecovery on "
    "resource: arn:aws:drs:us-east-1:111122223333:source-server/*"
)


def _storm_cases() -> list[Case]:
    cases = []
    for operation in ("DescribeJobs", "StartRecovery", "DescribeSourceServers"):
        for error in ("ThrottlingException", "InternalServerException"):
            for count in (3, 12):
                cases.append(
                    Case(
                        "storm",
                        f"{operation} {error} x{count}",
                        OK,
                        scenario=op_fault(operation, error, count=count),
                        fast=count == 12 and error == "ThrottlingException",
                    )
                )
    for seconds in (60, 600, 1800):
        cases.append(
            Case(
                "storm",
                f"DescribeJobs throttled for {seconds} s",
                OK,
                op_fault("DescribeJobs", "ThrottlingException", seconds=seconds, after=100),
            )
        )
    cases += [
        Case(
            "storm",
            "StartRecovery throttled for 120 s",
            OK,
            op_fault("StartRecovery", "ThrottlingException", seconds=120),
        ),
        Case(
            "storm",
            "StartRecovery 5xx for 600 s mid-plan",
            OK,
            op_fault("StartRecovery", "InternalServerException", seconds=600, after=500),
        ),
        Case(
            "storm",
            "every DRS operation throttled for 120 s",
            OK,
            op_fault("*", "ThrottlingException", seconds=120),
            fast=True,
        ),
        Case(
            "storm",
            "every DRS operation 5xx for 300 s mid-wave",
            OK,
            op_fault("*", "InternalServerException", seconds=300, after=300),
        ),
        Case(
            "storm",
            "DescribeSourceServers throttled for 180 s",
            OK,
            op_fault("DescribeSourceServers", "ThrottlingException", seconds=180),
        ),
    ]
    return cases


def _lost_answer_cases() -> list[Case]:
    return [
        Case(
            "lost answer",
            "StartRecovery answer lost once",
            OK,
            op_fault("StartRecovery", "drop_response", count=1),
            fast=True,
        ),
        Case(
            "lost answer", "StartRecovery answer lost 3 times", OK, op_fault("StartRecovery", "drop_response", count=3)
        ),
        Case(
            "lost answer",
            "StartRecovery answers lost for 120 s",
            OK,
            op_fault("StartRecovery", "drop_response", seconds=120),
        ),
        Case(
            "lost answer",
            "StartRecovery answer lost, then the lookup throttled",
            OK,
            both(
                op_fault("StartRecovery", "drop_response", count=1),
                op_fault("DescribeJobs", "ThrottlingException", count=6),
            ),
            fast=True,
        ),
        Case("lost answer", "DescribeJobs answers lost x4", OK, op_fault("DescribeJobs", "drop_response", count=4)),
        Case(
            "lost answer",
            "DescribeSourceServers answers lost x2",
            OK,
            op_fault("DescribeSourceServers", "drop_response", count=2),
        ),
        Case(
            "lost answer",
            "StartRecovery answer lost with chunks of one server",
            OK,
            op_fault("StartRecovery", "drop_response", count=2),
            plan=plan_options(MaxServersPerJob=1),
        ),
    ]


def _permanent_cases() -> list[Case]:
    return [
        Case(
            "permanent",
            "StartRecovery access denied",
            FAILED,
            op_fault("StartRecovery", "AccessDeniedException", count=1, message=DENIED),
            says=("drs:StartRecovery", "What to do:"),
            fast=True,
        ),
        Case(
            "permanent",
            "StartRecovery access denied in wave 2 (jobs of wave 1 named)",
            FAILED,
            op_fault("StartRecovery", "AccessDeniedException", seconds=10_000, after=300, message=DENIED),
            says=("drs:StartRecovery", "Wave 2", "DRS jobs this execution started: drsjob-"),
        ),
        Case(
            "permanent",
            "StartRecovery in an uninitialized region",
            FAILED,
            op_fault("StartRecovery", "UninitializedAccountException", count=1),
            says=("initialize DRS in us-east-1",),
        ),
        Case(
            "permanent",
            "a server deleted before its StartRecovery",
            FAILED,
            op_fault("StartRecovery", "ResourceNotFoundException", count=1),
            says=("no longer a DRS source server",),
        ),
        Case(
            "permanent",
            "StartRecovery refused as invalid",
            FAILED,
            op_fault("StartRecovery", "ValidationException", count=1),
        ),
        Case(
            "permanent",
            "a server of an OPTIONAL wave deleted: the plan goes on",
            ("PARTIAL",),
            op_fault("StartRecovery", "ResourceNotFoundException", after=1000, seconds=100_000),
            plan=impact(2, "OPTIONAL"),
            says=("ResourceNotFoundException", "The wave is OPTIONAL: the plan went on"),
        ),
        Case(
            "permanent",
            "access denied after a capacity wait, with long names: the fix survives",
            FAILED,
            both(
                scenario_keys(quotas={"maxConcurrentJobs": 2}, externalJobs=[{"seconds": 600}]),
                op_fault("StartRecovery", "AccessDeniedException", after=300, seconds=100_000, message=DENIED),
            ),
            plan=both(plan_options(MaxServersPerJob=1), lambda p: p["Waves"][0].update(WaveName="d" * 120)),
            says=("grant drs:StartRecovery to the start_wave function's role",),
        ),
        Case(
            "permanent",
            "DescribeJobs access denied",
            FAILED,
            op_fault("DescribeJobs", "AccessDeniedException", seconds=10_000, after=200),
            says=("drs:DescribeJobs",),
        ),
        Case(
            "permanent",
            "DescribeSourceServers access denied (Prepare)",
            FAILED,
            op_fault("DescribeSourceServers", "AccessDeniedException", count=1),
            says=("drs:DescribeSourceServers",),
        ),
        Case(
            "permanent",
            "DescribeSourceServers in an uninitialized region",
            FAILED,
            op_fault("DescribeSourceServers", "UninitializedAccountException", count=1),
            says=("initialize DRS",),
        ),
    ]


def _budget_cases() -> list[Case]:
    """Plans of many waves, whose history budget per wave is small: faults must still be absorbed."""
    scenario, plan = one_server_waves(120)
    return [
        Case(
            "budget",
            "120 waves, StartRecovery throttled twice",
            OK,
            both(scenario, op_fault("StartRecovery", "ThrottlingException", count=2)),
            plan=plan,
            fast=True,
        ),
        Case(
            "budget",
            "120 waves, a server busy in another job",
            OK,
            both(scenario, server_fault(_server("w", 0), {"conflict": 2})),
            plan=plan,
        ),
        Case(
            "budget",
            "120 waves, another tool holds the only job slot for 3 min",
            OK,
            both(scenario, scenario_keys(quotas={"maxConcurrentJobs": 1}, externalJobs=[{"seconds": 180}])),
            plan=plan,
        ),
        Case(
            "budget",
            "120 waves, DescribeJobs throttled for 5 min",
            OK,
            both(scenario, op_fault("DescribeJobs", "ThrottlingException", seconds=300, after=30)),
            plan=plan,
        ),
    ]


def _launch_cases() -> list[Case]:
    return [
        Case(
            "launch",
            "CRITICAL server fails to launch",
            FAILED,
            server_fault(DB[1], "launch_failure"),
            says=("CRITICAL",),
            fast=True,
        ),
        Case(
            "launch",
            "OPTIONAL wave's server fails",
            ("PARTIAL",),
            server_fault(APP[0], "launch_failure"),
            plan=impact(1, "OPTIONAL"),
        ),
        Case(
            "launch",
            "ServerImpact OPTIONAL server fails in a CRITICAL wave",
            ("PARTIAL",),
            server_fault(DB[2], "launch_failure"),
            plan=impact(0, servers={DB[2]: "OPTIONAL"}),
        ),
        Case(
            "launch",
            "ServerImpact CRITICAL server fails in an OPTIONAL wave",
            FAILED,
            server_fault(APP[1], "launch_failure"),
            plan=impact(1, "OPTIONAL", {APP[1]: "CRITICAL"}),
        ),
        Case(
            "launch",
            "CRITICAL server stuck: wave timeout",
            FAILED,
            server_fault(DB[0], "stuck"),
            plan=plan_options(WaveTimeoutMinutes=30),
            says=("timed out",),
        ),
        Case(
            "launch",
            "OPTIONAL server stuck: the plan goes on",
            ("PARTIAL",),
            server_fault(WEB[0], "stuck"),
            plan=both(impact(2, "OPTIONAL"), plan_options(WaveTimeoutMinutes=30)),
        ),
        Case(
            "launch",
            "job completes without launching a CRITICAL server",
            FAILED,
            server_fault(DB[0], "job_ends_without_launch"),
            says=("CRITICAL",),
            fast=True,
        ),
        Case(
            "launch",
            "every server fails in OPTIONAL waves: no launch is FAILED",
            FAILED,
            both(*(server_fault(s, "launch_failure") for s in DB + APP + WEB)),
            plan=both(impact(0, "OPTIONAL"), impact(1, "OPTIONAL"), impact(2, "OPTIONAL")),
            says=("No server of the plan launched",),
        ),
    ]


QUOTA_ERROR = "ServiceQuotaExceededException"


def _capacity_cases() -> list[Case]:
    return [
        Case(
            "capacity",
            "another tool holds every concurrent job for 20 min",
            OK,
            scenario_keys(quotas={"maxConcurrentJobs": 3}, externalJobs=[{"servers": 1, "seconds": 1200}] * 3),
            fast=True,
        ),
        Case(
            "capacity",
            "another tool holds the active-server quota for 30 min",
            OK,
            scenario_keys(quotas={"maxServersInActiveJobs": 50}, externalJobs=[{"servers": 49, "seconds": 1800}]),
        ),
        Case(
            "capacity",
            "another tool holds the quota past the wave deadline",
            ("FAILED",),
            scenario_keys(quotas={"maxConcurrentJobs": 1}, externalJobs=[{"servers": 1, "seconds": 20_000}]),
            plan=plan_options(WaveTimeoutMinutes=30),
            says=("could not be started",),
        ),
        Case(
            "capacity",
            "DRS allows fewer servers per job than the plan asks",
            OK,
            scenario_keys(quotas={"maxServersPerJob": 2}),
        ),
        Case(
            "capacity",
            "capacity frees mid-wave: chunks start as jobs end",
            OK,
            scenario_keys(quotas={"maxConcurrentJobs": 2}, externalJobs=[{"servers": 1, "seconds": 700, "after": 0}]),
            plan=plan_options(MaxServersPerJob=1),
        ),
        Case(
            "capacity",
            "StartRecovery refused for 15 min with a Service Quotas code (L-...)",
            OK,
            op_fault("StartRecovery", QUOTA_ERROR, quotaCode="L-D88FAC3A", message="Quota exceeded", seconds=900),
            waves_say=("L-D88FAC3A (Concurrent jobs in progress)",),
            fast=True,
        ),
        Case(
            "capacity",
            "a quota code nobody knows, until the wave deadline",
            ("FAILED",),
            op_fault("StartRecovery", QUOTA_ERROR, quotaCode="L-0FF1CE00", message="Limit reached", seconds=20_000),
            plan=plan_options(WaveTimeoutMinutes=20),
            says=("could not be started", "L-0FF1CE00 (unknown quota"),
            waves_say=("L-0FF1CE00 (unknown quota, waited for as DRS capacity)",),
        ),
        Case(
            "capacity",
            "a per-job limit named only in the message",
            OK,
            op_fault("StartRecovery", QUOTA_ERROR, message="A job can include at most 1 source servers", count=1),
            waves_say=('"ChunkSize": 1',),
        ),
        Case(
            "capacity",
            "an account quota waiting never frees (L-C1D14A2B)",
            ("FAILED",),
            op_fault("StartRecovery", QUOTA_ERROR, quotaCode="L-C1D14A2B", message="Quota exceeded", count=1),
            says=("raise the DRS quota Max Total replicating source servers Per AWS Account (L-C1D14A2B)",),
        ),
        Case(
            "capacity",
            "two plans accepted one by one share the quota",
            OK,
            both(scenario_keys(quotas={"maxConcurrentJobs": 3}), extra_servers(2)),
            plan=plan_options(MaxServersPerJob=1),
            arm=start_concurrently({"PlanId": "other", "ExecutionType": "DRILL"}, other_plan("other", EXTRA[:2])),
        ),
    ]


MEMBER = "444455556666"  # the member account of the accounts cases: the app tier lives there


def in_member_account(**account: Any) -> Change:
    """The app servers in a member account (its own quotas, `account` keys), the db servers in the stack's own."""

    def change(scenario: dict[str, Any]) -> None:
        scenario["accounts"] = [{"id": MEMBER, **copy.deepcopy(account)}]
        for spec in scenario["servers"]:
            if spec["id"] in APP:
                spec["account"] = MEMBER

    return change


def app_in_member_account(plan: dict[str, Any]) -> None:
    """The app group in the member account, launched with the db group in one wave: a wave over two accounts."""
    plan["ProtectionGroups"][1]["Account"] = MEMBER
    plan["Waves"] = [
        {"WaveName": "db+app", "ProtectionGroupIds": ["db", "app"]},
        {"WaveName": "web", "ProtectionGroupId": "web"},
    ]


def deny_member_role(function: str, nth: int) -> Arm:
    """From the nth invocation of `function` on, STS refuses the member role (its trust was changed), and the
    credentials the functions held are gone (a new Lambda container, or their hour is up)."""

    def arm(aws: LocalAws, run: Run) -> None:
        seen = [0]

        def hook(name: str, request: dict[str, Any]) -> None:
            if name.endswith(function):
                seen[0] += 1
                if seen[0] == nth:
                    aws.engine.faults = replace(aws.engine.faults, assume_role_denied=frozenset({MEMBER}))
                    accounts.forget(MEMBER)

        aws.engine.before_invoke.append(hook)

    return arm


def _account_cases() -> list[Case]:
    return [
        Case(
            "accounts",
            "the member account's role cannot be assumed: refused before any launch",
            FAILED,
            in_member_account(assumable=False),
            plan=app_in_member_account,
            says=(f"account {MEMBER}", "drs-orchestrator-member", "could not be assumed", "nothing was launched"),
            fast=True,
        ),
        Case(
            "accounts",
            "the member account throttles DescribeJobs for 10 min",
            OK,
            both(
                in_member_account(),
                op_fault("DescribeJobs", "ThrottlingException", seconds=600, after=60, account=MEMBER),
            ),
            plan=app_in_member_account,
        ),
        Case(
            "accounts",
            "the member account's job quota is full for 15 min, the stack's own is free",
            OK,
            both(
                in_member_account(quotas={"maxConcurrentJobs": 1}),
                scenario_keys(externalJobs=[{"account": MEMBER, "servers": 1, "seconds": 900}]),
            ),
            plan=app_in_member_account,
        ),
        Case(
            "accounts",
            "the member role is refused mid-execution: the wave fails naming the account and role",
            FAILED,
            in_member_account(),
            plan=app_in_member_account,
            arm=deny_member_role("check-wave", 2),
            says=(f"account {MEMBER}", "drs-orchestrator-member", "What to do:"),
        ),
        Case(
            "accounts",
            "a point in time with a lagging member server: refused, the servers named",
            FAILED,
            both(in_member_account(), replication_state(APP[0], "CONTINUOUS", lagSeconds=7200)),
            plan=app_in_member_account,
            point_in_time="2025-12-31T23:30:00Z",
            says=("MaxSnapshotSkewMinutes", APP[0]),
        ),
    ]


def _stop_cases() -> list[Case]:
    return [
        Case("stop", "stopped during Prepare", CANCELLED, arm=stop_at_invocation("prepare"), fast=True),
        Case(
            "stop",
            "stopped during Prepare, before its locks",
            CANCELLED,
            arm=stop_at_call("prepare", "TransactWriteItems"),
        ),
        Case(
            "stop",
            "stopped between two chunks of a wave",
            CANCELLED,
            plan=plan_options(MaxServersPerJob=1),
            arm=stop_at_call("start-wave", "StartRecovery", 2),
            fast=True,
        ),
        Case("stop", "stopped while a wave starts", CANCELLED, arm=stop_at_invocation("start-wave", 2)),
        Case("stop", "stopped mid-poll", CANCELLED, arm=stop_at_invocation("check-wave", 3)),
        Case("stop", "stopped at a wave's last check", CANCELLED, arm=stop_at_call("check-wave", "DescribeJobs", 6)),
        Case("stop", "stopped during Finalize", ("CANCELLED", "COMPLETED"), arm=stop_at_invocation("finalize")),
        Case(
            "stop",
            "reconciled while Start wave is about to call StartRecovery",
            CANCELLED,
            arm=reconcile_at_call("start-wave", "StartRecovery"),
            fast=True,
        ),
        Case(
            "stop",
            "reconciled between two chunks of a wave",
            CANCELLED,
            plan=plan_options(MaxServersPerJob=1),
            arm=reconcile_at_call("start-wave", "StartRecovery", 2),
        ),
        Case(
            "stop",
            "reconciled while Prepare lists the servers",
            CANCELLED,
            arm=reconcile_at_call("prepare", "DescribeSourceServers"),
            fast=True,
        ),
        Case(
            "stop",
            "reconciled while Prepare takes its locks",
            CANCELLED,
            arm=reconcile_at_call("prepare", "TransactWriteItems"),
        ),
        Case(
            "stop",
            "reconciled while the lock loop takes the servers' locks",
            CANCELLED,
            arm=reconcile_at_call("lock-servers", "TransactWriteItems"),
        ),
        Case(
            "stop",
            "stopped as the lock loop starts",
            CANCELLED,
            arm=stop_at_invocation("lock-servers"),
        ),
        Case(
            "stop",
            "stopped while waiting for DRS capacity",
            CANCELLED,
            scenario_keys(quotas={"maxConcurrentJobs": 1}, externalJobs=[{"servers": 1, "seconds": 3000}]),
            arm=stop_at_invocation("start-wave", 3),
        ),
    ]


def _lost_event_cases() -> list[Case]:
    return [
        Case(
            "lost event",
            "stop with the reconcile event lost",
            CANCELLED,
            arm=stop_at_invocation("check-wave", 3),
            deliver_events=False,
            fast=True,
        ),
        Case(
            "lost event",
            "stop in Prepare with the event lost",
            CANCELLED,
            arm=stop_at_invocation("prepare"),
            deliver_events=False,
        ),
        Case(
            "lost event",
            "reconcile fails (DynamoDB down) and the sweeper closes it",
            CANCELLED,
            arm=stop_at_invocation("check-wave", 2),
            faults=dynamodb_faults(DynamoDbFault("Query", "InternalServerError", count=6)),
        ),
    ]


def _race_cases() -> list[Case]:
    return [
        Case("race", "a second start of the running plan", OK, arm=start_another(DRILL), fast=True),
        Case(
            "race",
            "another plan shares a server",
            OK,
            arm=start_another({"PlanId": "other", "ExecutionType": "DRILL"}, plan=other_plan("other", [DB[1]])),
        ),
        Case(
            "race",
            "another plan shares a server, started later",
            OK,
            arm=start_another(
                {"PlanId": "other", "ExecutionType": "DRILL"},
                at_check=5,
                plan=other_plan("other", [WEB[0]], "us-west-2"),
            ),
        ),
    ]


def _lambda_cases() -> list[Case]:
    return [
        Case(
            "lambda",
            "Lock the plan's servers: answer lost",
            OK,
            faults=lambda_faults(LambdaFault("lock-servers", 1, "timeout_after")),
        ),
        Case(
            "lambda",
            "Lock the plan's servers cut off before its transaction",
            OK,
            faults=lambda_faults(LambdaFault("lock-servers", 1, "timeout_after_calls", calls=3)),
        ),
        Case(
            "lambda",
            "Start wave times out before StartRecovery",
            OK,
            faults=lambda_faults(LambdaFault("start-wave", 1, "timeout_after_calls", calls=4)),
            fast=True,
        ),
        Case(
            "lambda",
            "Start wave times out after StartRecovery",
            OK,
            faults=lambda_faults(LambdaFault("start-wave", 1, "timeout_after_calls", calls=5)),
            fast=True,
        ),
        Case(
            "lambda",
            "Start wave's answer lost (timed out at the end)",
            OK,
            faults=lambda_faults(LambdaFault("start-wave", 2, "timeout_after")),
        ),
        Case(
            "lambda",
            "Check wave times out at the wave's end",
            OK,
            faults=lambda_faults(LambdaFault("check-wave", 3, "timeout_after")),
        ),
        Case(
            "lambda",
            "Check wave times out 4 times in a row",
            FAILED,
            faults=lambda_faults(*(LambdaFault("check-wave", n, "timeout_after_calls", calls=1) for n in range(2, 6))),
            says=("Sandbox.Timedout",),
        ),
        Case(
            "lambda",
            "Prepare times out after taking its locks",
            OK,
            faults=lambda_faults(LambdaFault("prepare", 1, "timeout_after_calls", calls=8)),
        ),
        Case("lambda", "Prepare's answer lost", OK, faults=lambda_faults(LambdaFault("prepare", 1, "timeout_after"))),
        Case(
            "lambda",
            "Finalize times out midway",
            OK,
            faults=lambda_faults(LambdaFault("finalize", 1, "timeout_after_calls", calls=3)),
        ),
        Case(
            "lambda",
            "Lambda service errors on every function",
            OK,
            faults=lambda_faults(
                *(LambdaFault(f, 1, "service_error") for f in ("prepare", "start-wave", "check-wave", "finalize"))
            ),
        ),
    ]


def _dynamodb_cases() -> list[Case]:
    return [
        Case(
            "dynamodb",
            "PutItem throttled x6",
            OK,
            faults=dynamodb_faults(DynamoDbFault("PutItem", "ProvisionedThroughputExceededException", count=6)),
            fast=True,
        ),
        Case(
            "dynamodb",
            "UpdateItem throttled x9",
            OK,
            faults=dynamodb_faults(DynamoDbFault("UpdateItem", "ThrottlingException", count=9)),
        ),
        Case(
            "dynamodb",
            "GetItem 500 x6",
            OK,
            faults=dynamodb_faults(DynamoDbFault("GetItem", "InternalServerError", count=6)),
        ),
        Case(
            "dynamodb",
            "lock transaction conflicts x2",
            OK,
            faults=dynamodb_faults(DynamoDbFault("TransactWriteItems", "TransactionConflict", count=2)),
            fast=True,
        ),
        Case(
            "dynamodb",
            "lock transaction throttled x3",
            OK,
            faults=dynamodb_faults(DynamoDbFault("TransactWriteItems", "ThrottlingError", count=3)),
        ),
        Case(
            "dynamodb",
            "PutItem applied, answer lost x3",
            OK,
            faults=dynamodb_faults(DynamoDbFault("PutItem", "InternalServerError", count=3, after_effect=True)),
        ),
    ]


def _replication_cases() -> list[Case]:
    state = replication_state

    return [
        Case(
            "replication",
            "RECOVERY with a STALLED server (source region down)",
            OK,
            state(DB[0], "STALLED", lagSeconds=5400),
            mode="RECOVERY",
            says=(),
            fast=True,
        ),
        Case(
            "replication",
            "DRILL with a DISCONNECTED server is refused",
            FAILED,
            state(DB[0], "DISCONNECTED"),
            says=("AllowUnhealthyReplication",),
        ),
        Case("replication", "DRILL with a BACKLOG server is accepted", OK, state(APP[0], "BACKLOG")),
    ]


def runbook(wave: int, phase: str, steps: list[dict[str, Any]], **scenario: Any) -> tuple[Change, Change]:
    """(scenario, plan) changes: `steps` in wave `wave` (0-based), and the scenario's stand-ins and approvers."""

    def plan(target: dict[str, Any]) -> None:
        target["Waves"][wave][phase] = copy.deepcopy(steps)

    return scenario_keys(**scenario), plan


HOOK = {"Name": "Promote the database", "Lambda": {"FunctionName": "drs-hook-promote"}}
CALLBACK = {"Lambda": {"FunctionName": "drs-hook-dns", "WaitForCallback": True, "TimeoutMinutes": 20}}
APPROVAL = {"Approval": {"Message": "Fail over?", "TimeoutMinutes": 30}}


def _runbook_cases() -> list[Case]:
    fails = runbook(1, "Before", [HOOK], functions={"drs-hook-promote": {"seconds": 5, "error": "PromotionFailed"}})
    rejected = runbook(1, "Before", [APPROVAL], approvals=[{"decision": "REJECT", "afterSeconds": 60}])
    late = runbook(0, "After", [APPROVAL], approvals=[{"decision": "APPROVE", "afterSeconds": 1800}])
    late_ok = runbook(0, "After", [APPROVAL], approvals=[{"decision": "APPROVE", "afterSeconds": 300}])
    continue_on_timeout = {"Approval": {**APPROVAL["Approval"], "OnTimeout": "CONTINUE"}}
    never_asked = runbook(0, "After", [continue_on_timeout], approvals=[{"decision": "REJECT", "afterSeconds": 60}])
    rejected_at_deadline = runbook(
        0, "After", [continue_on_timeout], approvals=[{"decision": "REJECT", "afterSeconds": 1800}]
    )
    steps = runbook(0, "Before", [HOOK, CALLBACK], functions={"drs-hook-promote": {}, "drs-hook-dns": {"seconds": 60}})
    optional_late = runbook(
        2,
        "After",
        [{"Lambda": {**CALLBACK["Lambda"], "Impact": "OPTIONAL"}}],
        functions={"drs-hook-dns": {"seconds": 7200}},
    )
    return [
        Case("runbook", "a CRITICAL hook fails before wave 2", FAILED, *fails, says=("PromotionFailed",), fast=True),
        Case("runbook", "an approval rejected before wave 2", FAILED, *rejected, says=("was rejected",)),
        Case("runbook", "an approval unanswered past its timeout", FAILED, *late, says=("was not answered",)),
        Case("runbook", "an OPTIONAL callback past its timeout", OK, *optional_late),
        Case(
            "runbook",
            "Next runbook step's answer lost, twice",
            OK,
            *steps,
            faults=lambda_faults(
                LambdaFault("next-step", 1, "timeout_after"), LambdaFault("next-step", 3, "timeout_after")
            ),
        ),
        Case(
            "runbook",
            "Next runbook step cut off mid-call",
            OK,
            *steps,
            faults=lambda_faults(LambdaFault("next-step", 2, "timeout_after_calls", calls=2)),
        ),
        Case(
            "runbook",
            "reconciled while Next runbook step writes the next step",
            CANCELLED,
            *steps,
            arm=reconcile_at_call("next-step", "UpdateItem"),
        ),
        Case(
            "runbook",
            "reconciled while an approval waits",
            CANCELLED,
            *late,
            arm=reconcile_at_call("request-approval", "UpdateItem"),
        ),
        Case(
            "runbook",
            "Ask for approval's request killed on every attempt (OnTimeout CONTINUE): not a timeout, the plan stops",
            FAILED,
            *never_asked,
            faults=lambda_faults(
                *(LambdaFault("request-approval", n, "timeout_after_calls", calls=1) for n in range(1, 9))
            ),
            says=("could not be asked",),
        ),
        Case(
            "runbook",
            "a rejection recorded as the deadline passes (OnTimeout CONTINUE): it stands, the plan stops",
            FAILED,
            *rejected_at_deadline,
            says=("was rejected",),
        ),
        Case(
            "runbook",
            "Ask for approval's answer lost (a new token is asked for)",
            OK,
            *late_ok,
            faults=lambda_faults(LambdaFault("request-approval", 1, "timeout_after")),
        ),
        Case(
            "runbook",
            "GetExecutionHistory throttled while Next runbook step reads how the hooks ended",
            OK,
            *steps,
            faults=history_faults(StepFunctionsFault("GetExecutionHistory", count=4)),
        ),
        Case(
            "runbook",
            "GetExecutionHistory answers in pages of 2 events",
            OK,
            *steps,
            faults=history_faults(page_max=2),
        ),
        Case(
            "runbook",
            "the wave's steps written while DynamoDB throttles",
            OK,
            *steps,
            faults=dynamodb_faults(DynamoDbFault("UpdateItem", "ProvisionedThroughputExceededException")),
        ),
        Case(
            "runbook",
            "every DynamoDB write throttled 8 times in a row during the runbook",
            OK,
            *steps,
            faults=dynamodb_faults(DynamoDbFault("*", "ThrottlingException", count=8)),
        ),
    ]


def _cleanup_cases() -> list[Case]:
    cleanup = plan_options(DrillCleanup={"AfterMinutes": 10})
    terminate = "TerminateRecoveryInstances"
    return [
        Case("cleanup", "a completed drill's instances terminated", OK, plan=cleanup, fast=True),
        Case(
            "cleanup",
            "a failed drill's instances terminated too",
            FAILED,
            scenario=server_fault(APP[0], "launch_failure"),
            plan=cleanup,
        ),
        Case(
            "cleanup",
            "TerminateRecoveryInstances throttled 6 times",
            OK,
            op_fault(terminate, "ThrottlingException", count=6),
            cleanup,
        ),
        Case("cleanup", "TerminateRecoveryInstances' answer lost", OK, op_fault(terminate, "drop_response"), cleanup),
        Case(
            "cleanup",
            "the terminate step cut off after its TerminateRecoveryInstances",
            OK,
            plan=cleanup,
            faults=lambda_faults(LambdaFault("cleanup", 1, "timeout_after")),
        ),
        Case("cleanup", "stopped while the cleanup waits", OK, plan=cleanup, arm=stop_at_invocation("cleanup")),
        Case(
            "cleanup",
            "stopped while the cleanup waits, the stop's event lost (the sweeper ends it)",
            OK,
            plan=cleanup,
            arm=stop_at_invocation("cleanup"),
            deliver_events=False,
        ),
        Case(
            "cleanup",
            "reconciled while the terminate step records its job",
            OK,
            plan=cleanup,
            arm=reconcile_at_call("cleanup", "UpdateItem"),
        ),
        Case(
            "cleanup",
            "the cleanup's steps fail for good",
            OK,
            plan=cleanup,
            faults=lambda_faults(*(LambdaFault("cleanup", n, "service_error") for n in range(1, 9))),
        ),
    ]


def _resume_cases() -> list[Case]:
    return [
        Case(
            "resume",
            "resume after a CRITICAL launch failure",
            FAILED,
            scenario=server_fault(APP[0], "launch_failure"),
            then_resume=True,
            fast=True,
        ),
        Case(
            "resume",
            "resume after a stop between two chunks",
            CANCELLED,
            plan=plan_options(MaxServersPerJob=1),
            arm=stop_at_call("start-wave", "StartRecovery", 4),
            then_resume=True,
        ),
        Case(
            "resume",
            "resume after a stop while a wave's jobs run",
            CANCELLED,
            arm=stop_at_invocation("check-wave", 2),
            then_resume=True,
        ),
        Case(
            "resume",
            "a resume while the first's job still runs (a stuck launch) is refused",
            FAILED,
            scenario=server_fault(WEB[0], "stuck"),
            plan=plan_options(WaveTimeoutMinutes=20),
            then_resume=True,
            resume_expect=FAILED,
        ),
        Case(
            "resume",
            "resume after a job ended without launching a server (its lastLaunch still IN_PROGRESS): launched again",
            FAILED,
            scenario=server_fault(APP[0], "job_ends_without_launch"),
            then_resume=True,
            resume_check=resume_launched(2, 3),
        ),
        Case(
            "resume",
            "resume of a drill whose failure was kept (OnFailure: KEEP), then cleaned up",
            FAILED,
            scenario=server_fault(APP[0], "launch_failure"),
            plan=plan_options(DrillCleanup={"AfterMinutes": 0, "OnFailure": "KEEP"}),
            then_resume=True,
        ),
    ]


def time_out_at_invocation(function: str, nth: int = 1) -> Arm:
    """End the execution as its 48 hours would, while the nth invocation of `function` runs: Step Functions ends it
    TIMED_OUT, and the reconcile Lambda gets that event."""

    def arm(aws: LocalAws, run: Run) -> None:
        seen = [0]

        def hook(name: str, request: dict[str, Any]) -> None:
            if name.endswith(function):
                seen[0] += 1
                if seen[0] == nth and not run.stopped:
                    run.stopped = True
                    aws.stop(run.arn, cause="the execution's TimeoutSeconds ran out")
                    described = dict(aws.client("stepfunctions").describe_execution(executionArn=run.arn))
                    stopped_at = datetime.fromtimestamp(aws.clock.now(), tz=UTC)
                    aws.deliver_status_change({**described, "status": "TIMED_OUT", "stopDate": stopped_at})

        aws.engine.before_invoke.append(hook)

    return arm


# -- what a resume after a failed gate must have done (family "resume-gates") -----------------------------------


def ran_again(wave: int, name: str, status: str, before: str) -> Check:
    """The resume ran step `name` of wave `wave` (1-based) again, as a new step: it ended `status`, and its record
    says it had ended `before` in the first execution."""

    def check(aws: LocalAws) -> list[str]:
        found = [s for s in aws.waves("resumed")[wave - 1].Steps if s.get("Name") == name]
        if len(found) != 1:
            return [f"wave {wave}: step {name!r} recorded {len(found)} times by the resume"]
        step = found[0]
        problems = []
        if step.get("RanIn") is not None:
            problems.append(f"wave {wave}: step {name!r} taken over from {step['RanIn']}, not run again")
        if step.get("Status") != status:
            problems.append(f"wave {wave}: step {name!r} ended {step.get('Status')}, not {status}")
        if not str(step.get("Previously") or "").startswith(before):
            problems.append(f"wave {wave}: step {name!r} was {step.get('Previously')!r} before, not {before}")
        return problems

    return check


def resume_launched(*waves: int) -> Check:
    """The resume started launch jobs for exactly these waves (none: nothing launched past a gate that failed
    again), and its taken-over waves started none."""

    def check(aws: LocalAws) -> list[str]:
        started = sorted(
            {int(job.tags["WaveNumber"]) for job in aws.drs.jobs.values() if job.tags.get("ExecutionId") == "resumed"}
        )
        return [] if started == list(waves) else [f"the resume launched waves {started}, not {list(waves)}"]

    return check


def all_of(*checks: Check) -> Check:
    return lambda aws: [problem for check in checks for problem in check(aws)]


def answers(
    *, functions: dict[str, dict[str, Any]] | None = None, approvals: list[dict[str, Any]] | None = None
) -> Fix:
    """The team fixed a hook, or the approvers answer differently, before the resume."""

    def fix(aws: LocalAws) -> None:
        hooks.answer_from_now_on(
            aws.drs.scenario,
            functions={name: FunctionSpec.model_validate(spec) for name, spec in (functions or {}).items()},
            approvals=None if approvals is None else [Approval.model_validate(a) for a in approvals],
        )

    return fix


def _resume_gate_cases() -> list[Case]:
    promote = "Promote the database"
    hook_fails = runbook(0, "After", [HOOK], functions={"drs-hook-promote": {"seconds": 5, "error": "PromotionFailed"}})
    sign_off = {"Name": "Sign-off", "Approval": {"Message": "Is the database serving?", "TimeoutMinutes": 30}}
    rejected = runbook(0, "After", [sign_off], approvals=[{"decision": "REJECT", "afterSeconds": 60}])
    late = runbook(0, "After", [sign_off], approvals=[{"decision": "APPROVE", "afterSeconds": 2400}])
    waiting = runbook(0, "After", [sign_off], approvals=[{"decision": "APPROVE", "afterSeconds": 600}])
    dns = {"Name": "Switch DNS", "Lambda": {**CALLBACK["Lambda"]}}
    slow_dns = runbook(0, "After", [dns], functions={"drs-hook-dns": {"seconds": 600}})
    failing = health(db1={"postLaunch": {"seconds": 60, "result": "FAILED"}})
    slow = health(check={"TimeoutMinutes": 5}, db0={"postLaunch": {"seconds": 900}})
    checked = "Database healthy"
    approve = answers(approvals=[{"decision": "APPROVE", "afterSeconds": 60}])
    return [
        Case(
            "resume-gates",
            "CRITICAL After hook failed: run again, fails again, nothing launched past it",
            FAILED,
            *hook_fails,
            then_resume=True,
            resume_expect=FAILED,
            resume_check=all_of(ran_again(1, promote, "FAILED", "FAILED"), resume_launched()),
        ),
        Case(
            "resume-gates",
            "CRITICAL After hook failed, fixed: run again, the plan goes on",
            FAILED,
            *hook_fails,
            then_resume=True,
            fix=answers(functions={"drs-hook-promote": {"seconds": 5}}),
            resume_check=all_of(ran_again(1, promote, "SUCCEEDED", "FAILED"), resume_launched(2, 3)),
        ),
        Case(
            "resume-gates",
            "CRITICAL health check failed: taken-over servers judged again, fail again",
            FAILED,
            *failing,
            then_resume=True,
            resume_expect=FAILED,
            resume_check=all_of(ran_again(1, checked, "FAILED", "FAILED"), resume_launched()),
            fast=True,
        ),
        Case(
            "resume-gates",
            "health check timed out: taken-over servers healthy by the resume",
            FAILED,
            *slow,
            then_resume=True,
            resume_check=all_of(ran_again(1, checked, "SUCCEEDED", "TIMED_OUT"), resume_launched(2, 3)),
        ),
        Case(
            "resume-gates",
            "stopped while the health check waits, a taken-over server's post-launch action fails",
            CANCELLED,
            *failing,
            arm=stop_at_invocation("check-health", 2),
            then_resume=True,
            resume_expect=FAILED,
            resume_check=all_of(ran_again(1, checked, "FAILED", "CANCELLED"), resume_launched()),
        ),
        Case(
            "resume-gates",
            "approval REJECTED after wave 1: asked again, rejected again",
            FAILED,
            *rejected,
            then_resume=True,
            resume_expect=FAILED,
            resume_check=all_of(ran_again(1, "Sign-off", "REJECTED", "REJECTED"), resume_launched()),
        ),
        Case(
            "resume-gates",
            "approval REJECTED after wave 1: asked again, approved",
            FAILED,
            *rejected,
            then_resume=True,
            fix=approve,
            resume_check=all_of(ran_again(1, "Sign-off", "SUCCEEDED", "REJECTED"), resume_launched(2, 3)),
        ),
        Case(
            "resume-gates",
            "approval TIMED_OUT after wave 1: asked again, times out again",
            FAILED,
            *late,
            then_resume=True,
            resume_expect=FAILED,
            resume_check=all_of(ran_again(1, "Sign-off", "TIMED_OUT", "TIMED_OUT"), resume_launched()),
        ),
        Case(
            "resume-gates",
            "approval TIMED_OUT after wave 1: asked again, approved",
            FAILED,
            *late,
            then_resume=True,
            fix=approve,
            resume_check=all_of(ran_again(1, "Sign-off", "SUCCEEDED", "TIMED_OUT"), resume_launched(2, 3)),
        ),
        Case(
            "resume-gates",
            "stopped while an After callback hook waits: run again",
            CANCELLED,
            *slow_dns,
            arm=stop_at_invocation("drs-hook-dns"),
            then_resume=True,
            resume_check=all_of(ran_again(1, "Switch DNS", "SUCCEEDED", "CANCELLED"), resume_launched(2, 3)),
        ),
        Case(
            "resume-gates",
            "execution timed out while an approval waited: asked again",
            ("TIMED_OUT",),
            *waiting,
            arm=time_out_at_invocation("request-approval"),
            then_resume=True,
            resume_check=all_of(ran_again(1, "Sign-off", "SUCCEEDED", "CANCELLED"), resume_launched(2, 3)),
        ),
    ]


def health(*, check: dict[str, Any] | None = None, **servers: dict[str, Any]) -> tuple[Change, Change]:
    """(scenario, plan) changes: a HealthCheck after wave 1, and per db server (db0, db1, db2) its scenario fields."""

    def scenario(target: dict[str, Any]) -> None:
        for spec in target["servers"]:
            if spec["id"] in DB:
                spec.update(copy.deepcopy(servers.get(f"db{DB.index(spec['id'])}", SLOW_BUT_HEALTHY)))

    def plan(target: dict[str, Any]) -> None:
        target["Waves"][0]["After"] = [{"Name": "Database healthy", "HealthCheck": check or {}}]

    return scenario, plan


SLOW_BUT_HEALTHY = {"postLaunch": {"seconds": 200}, "instanceStatus": {"seconds": 150}}
HEALTH_CHECKS_START = 551 + 30  # the db wave's jobs end at 551 s


def _health_cases() -> list[Case]:
    failing = health(db1={"postLaunch": {"seconds": 60, "result": "FAILED"}})
    throttled = {"after": HEALTH_CHECKS_START, "seconds": 240}
    return [
        Case(
            "health",
            "a CRITICAL server's post-launch action fails",
            FAILED,
            *failing,
            says=("Health check",),
            fast=True,
        ),
        Case(
            "health",
            "an OPTIONAL server's post-launch action fails",
            OK,
            scenario=failing[0],
            plan=both(failing[1], impact(0, servers={DB[1]: "OPTIONAL"})),
        ),
        Case(
            "health",
            "servers not healthy within the step's timeout",
            FAILED,
            *health(check={"TimeoutMinutes": 5}, db0={"postLaunch": {"seconds": 7200}}),
            says=("not healthy within 5 min",),
        ),
        Case(
            "health",
            "a CRITICAL server's SSM agent never reports",
            FAILED,
            *health(check={"TimeoutMinutes": 5}, db1={"postLaunch": {"seconds": 60, "agentDiscovered": False}}),
            says=("SSM agent never reported: 1 post-launch actions did not run",),
            fast=True,
        ),
        Case(
            "health",
            "an OPTIONAL server's SSM agent never reports",
            OK,
            scenario=health(db2={"postLaunch": {"seconds": 60, "agentDiscovered": False}})[0],
            plan=both(health(check={"TimeoutMinutes": 5})[1], impact(0, servers={DB[2]: "OPTIONAL"})),
            waves_say=("SSM agent never reported: 1 post-launch actions did not run",),
        ),
        Case(
            "health",
            "ListLaunchActions throttled for the first 4 minutes of the checks",
            OK,
            scenario=both(
                health()[0], op_fault("ListLaunchActions", "ThrottlingException", seconds=HEALTH_CHECKS_START + 240)
            ),
            plan=health()[1],
            waves_say=("checks got no answer (last: ThrottlingException",),
        ),
        Case(
            "health",
            "EC2 status checks throttled for 4 minutes",
            OK,
            scenario=both(health()[0], op_fault("DescribeInstanceStatus", "RequestLimitExceeded", **throttled)),
            plan=health()[1],
        ),
        Case(
            "health",
            "DescribeJobs throttled and failing with 500s during the checks",
            OK,
            scenario=both(
                health()[0],
                op_fault("DescribeJobs", "ThrottlingException", **throttled),
                op_fault("DescribeJobs", "InternalServerException", after=HEALTH_CHECKS_START + 300, seconds=60),
            ),
            plan=health()[1],
        ),
        Case(
            "health",
            "EC2 access denied on a CRITICAL check",
            FAILED,
            scenario=both(health()[0], op_fault("DescribeInstanceStatus", "UnauthorizedOperation", count=3)),
            plan=health()[1],
            says=("DescribeInstanceStatus", "UnauthorizedOperation"),
        ),
        Case(
            "health",
            "Check health's answer lost, twice",
            OK,
            *health(),
            faults=lambda_faults(
                LambdaFault("check-health", 1, "timeout_after"), LambdaFault("check-health", 3, "timeout_after")
            ),
        ),
        Case(
            "health",
            "the Lambda service fails Check health twice in a row",
            OK,
            *health(),
            faults=lambda_faults(
                LambdaFault("check-health", 2, "service_error"), LambdaFault("check-health", 3, "service_error")
            ),
        ),
        Case(
            "health",
            "stopped while the health check waits",
            CANCELLED,
            *health(),
            arm=stop_at_invocation("check-health", 2),
        ),
        Case(
            "health",
            "reconciled while a check reads the wave",
            CANCELLED,
            *health(),
            arm=reconcile_at_call("check-health", "Query", 2),
        ),
    ]


# -- limits: payloads of 256 KiB, the 48 h fit ----------------------------------------------------------------------

OVER_256_KIB = {"blob": "x" * 270_000}  # a Lambda may return 6 MB; Step Functions passes 262,144 bytes
# DRS throttling Prepare's listing: its first 18 calls, both SDK attempts of 9 Prepare attempts in a row, so Prepare
# succeeds on its 10th (its Retry allows 11) after minutes of backoff (the 5 minutes once allowed for Prepare and
# Finalize together were how a plan at that edge, so throttled, ended TIMED_OUT at 48 h)
PREPARE_STORM_CALLS = 18


def _hook_returning(output: dict[str, Any], impact: str) -> tuple[Change, Change]:
    hook = {"Name": "Export the catalog", "Lambda": {"FunctionName": "drs-hook-export", "Impact": impact}}
    return runbook(1, "Before", [hook], functions={"drs-hook-export": {"output": output}})


def long_hostname_wave(servers: int, hostname_characters: int) -> tuple[Change, Change]:
    """(scenario, plan) changes: the app wave holds `servers` servers whose hostnames have `hostname_characters`
    characters, and runs a hook before it (its event lists them all)."""
    ids = [_server("big", n) for n in range(servers)]

    def scenario(target: dict[str, Any]) -> None:
        target["servers"] = [s for s in target["servers"] if s["id"] not in APP]
        target["servers"] += [
            {"id": s, "hostname": f"{n:05d}".ljust(hostname_characters, "h"), "tags": {"Tier": "app"}}
            for n, s in enumerate(ids)
        ]
        target["functions"] = {"drs-hook-drain": {"seconds": 5}}

    def plan(target: dict[str, Any]) -> None:
        target["Waves"][1]["Before"] = [{"Name": "Drain the app tier", "Lambda": {"FunctionName": "drs-hook-drain"}}]
        target.setdefault("Options", {}).update(MaxServersInActiveJobs=servers, MaxConcurrentJobs=20)

    return scenario, plan


def widest_fitting_wave_timeout() -> int:
    """The largest WaveTimeoutMinutes with which the base plan fits the 48 h TimeoutSeconds (lambdas/core/limits.py),
    every Task at its worst under the definition's Retry blocks."""
    plan = RecoveryPlan.model_validate(base_plan())
    sizes = {"db": len(DB), "app": len(APP), "web": len(WEB)}
    waves = [
        WaveRecord(
            WaveNumber=n,
            WaveName=wave.WaveName,
            ProtectionGroupId=",".join(wave.group_ids),
            Region=plan.groups_of(wave)[0].Region,
            Servers=[ServerRecord(SourceServerId=_server("x", i)) for i in range(sizes[wave.WaveName])],
        )
        for n, wave in enumerate(plan.Waves, start=1)
    ]
    minutes = 1
    while limits.worst_case(plan, waves, RunOptions(WaveTimeoutMinutes=minutes + 1)).total <= (
        limits.EXECUTION_TIMEOUT_SECONDS
    ):
        minutes += 1
    return minutes


def at_the_48_hour_edge(minutes: int) -> tuple[Change, Change]:
    """(scenario, plan) changes: every wave's jobs launch a minute before its WaveTimeoutMinutes of `minutes`, and
    DRS throttles Prepare's DescribeSourceServers (PREPARE_STORM_CALLS)."""
    launch = minutes * 60 - 60 - (1 + 50 + 200)

    def scenario(target: dict[str, Any]) -> None:
        target["timing"] = {
            "drill": {"snapshot": 1, "preparation": 50, "conversion": 200, "launch": launch},
            "jitter": 0,
        }
        op_fault("DescribeSourceServers", "ThrottlingException", count=PREPARE_STORM_CALLS)(target)

    def plan(target: dict[str, Any]) -> None:
        target["Options"] = {"WaveTimeoutMinutes": minutes, "ExpectedJobMinutes": minutes - 1}

    return scenario, plan


# -- the execution's own deadline (lambdas/core/deadline.py): faults piled at every loop of a plan at the edge ------

# Enough waves that checks retried past their deadlines outrun what the fit over-counts elsewhere (without the
# execution's own deadline, the same schedule ends TIMED_OUT at 48 h: bench/execution_deadline.py)
EDGE_WAVES = 30
FAST_EDGE_WAVES = 6  # without runbook steps, enough for the execution's own deadline to cut the last wave
OUT_OF_TIME_SAYS = ("must end within 48 h of its start", "drsctl run resume first")
LATE_SECONDS = 600  # each wave's second server launches this long after the wave's deadline: its last checks come
HUNG = 3  # the Lambda retrier of every Task: 3 attempts that hang to their function's timeout, the 4th answers
EVERY_TASK = ("start-wave", "check-wave", "next-step", "check-health", "finalize", "cleanup")
NEVER = 10**7  # a post-launch action, an approver or a callback that never answers in time
CAPACITY_HELD_SECONDS = 6_000  # another tool's DRS job, holding one of the two job slots


def widest_fitting(plan: dict[str, Any], wave_sizes: list[int]) -> int:
    """The largest WaveTimeoutMinutes with which `plan` (its other Options as given) fits the 48 h TimeoutSeconds
    (lambdas/core/limits.py), every Task and step at its worst."""
    parsed = RecoveryPlan.model_validate(plan)
    waves = [
        WaveRecord(
            WaveNumber=n,
            WaveName=wave.WaveName,
            ProtectionGroupId=wave.group_ids[0],
            Region=parsed.groups_of(wave)[0].Region,
            Servers=[ServerRecord(SourceServerId=_server("x", i)) for i in range(size)],
        )
        for n, (wave, size) in enumerate(zip(parsed.Waves, wave_sizes, strict=True), start=1)
    ]

    def fits(minutes: int) -> bool:
        options = RunOptions.resolve("DRILL", parsed.Options, OptionsOverride(WaveTimeoutMinutes=minutes))
        return limits.worst_case(parsed, waves, options).total <= limits.EXECUTION_TIMEOUT_SECONDS

    expected = parsed.Options.ExpectedJobMinutes if parsed.Options is not None else None
    minutes = math.ceil(expected or 1)  # no shorter than the jobs it expects
    while fits(minutes + 1):
        minutes += 1
    return minutes


def hung_at_every_loop() -> EngineFaults:
    """Prepare and the lock step get no answer 3 times (each attempt to its Task's TimeoutSeconds, then
    States.Timeout); so does every Task of the waves, the runbook, the end and the drill cleanup, at every call (3
    attempts time out, the 4th answers). Asking for approval hangs instead (its task's timeout is the approvers')."""
    once = [LambdaFault(f, n, "no_answer") for f in ("prepare", "lock-servers") for n in range(1, HUNG + 1)]
    always = [LambdaFault(f, n, "no_answer", every=HUNG + 1) for f in EVERY_TASK for n in range(1, HUNG + 1)]
    asking = [LambdaFault("request-approval", n, "hang", every=HUNG + 1) for n in range(1, HUNG + 1)]
    return EngineFaults(lambdas=once + always + asking)


def at_the_edge_with_every_fault(waves: int = EDGE_WAVES, *, steps: bool = True) -> tuple[Change, Change]:
    """(scenario, plan) changes: `waves` waves of two servers at the widest WaveTimeoutMinutes that fits 48 h, with a
    drill cleanup, and a fault at every loop besides the hung Tasks (hung_at_every_loop):

    - DRS throttles Prepare's listing 9 times in a row (PREPARE_STORM_CALLS), StartRecovery twice, and DescribeJobs
      6 times (missed checks);
    - DRS runs two jobs at a time (maxConcurrentJobs 2) and another tool holds one slot for the first
      CAPACITY_HELD_SECONDS, so wave 2 waits for capacity while wave 1's late server is still in its job;
    - each wave's second server (OPTIONAL) launches LATE_SECONDS after the wave's deadline, so every wave's last
      checks come at its deadline, each late by its retries;
    - a health check after wave 1 waits to its deadline (post-launch actions that never end), an approval before
      wave 2 is never answered (OnTimeout CONTINUE), a callback after wave 3 never called back (OPTIONAL), unless
      `steps` is False.
    """
    quick = [_server("q", n) for n in range(waves)]
    slow = [_server("l", n) for n in range(waves)]

    def steps_and_servers(target: dict[str, Any]) -> None:
        target["ProtectionGroups"] = [{"GroupId": "g", "Region": "us-east-1", "SourceServerIds": quick + slow}]
        target["Waves"] = [
            {"WaveName": f"w{n}", "ProtectionGroupId": "g", "ServerIds": [q, s], "ServerImpact": {s: "OPTIONAL"}}
            for n, (q, s) in enumerate(zip(quick, slow, strict=True))
        ]
        if steps:
            health = {"TimeoutMinutes": 30, "Impact": "OPTIONAL"}
            approval = {"Message": "Go on?", "TimeoutMinutes": 30, "OnTimeout": "CONTINUE"}
            callback = {**CALLBACK["Lambda"], "TimeoutMinutes": 5, "Impact": "OPTIONAL"}
            target["Waves"][0]["After"] = [{"Name": "App healthy", "HealthCheck": health}]
            target["Waves"][1]["Before"] = [{"Approval": approval}]
            target["Waves"][2]["After"] = [{"Lambda": callback}]
        # checks at most every 10 minutes once a wave runs late: long waves, few checks (each one retried 3 times)
        target["Options"] = {"ExpectedJobMinutes": 10, "PollIntervalSeconds": 600, "DrillCleanup": {"AfterMinutes": 10}}

    edge = base_plan()
    steps_and_servers(edge)
    minutes = widest_fitting(edge, [2] * waves)

    def plan(target: dict[str, Any]) -> None:
        steps_and_servers(target)
        target["Options"]["WaveTimeoutMinutes"] = minutes

    def scenario(target: dict[str, Any]) -> None:
        timing = {"launch": minutes * 60 + LATE_SECONDS}
        target["servers"] = [{"id": q, "hostname": f"q-{n}"} for n, q in enumerate(quick)]
        target["servers"] += [{"id": s, "hostname": f"l-{n}", "timing": timing} for n, s in enumerate(slow)]
        target["servers"][0]["postLaunch"] = {"seconds": NEVER}
        target["quotas"] = {"maxConcurrentJobs": 2}
        target["externalJobs"] = [{"seconds": CAPACITY_HELD_SECONDS}]
        target["approvals"] = [{"wave": "w1", "decision": "APPROVE", "afterSeconds": NEVER}]
        target["functions"] = {"drs-hook-dns": {"seconds": NEVER}}
        op_fault("DescribeSourceServers", "ThrottlingException", count=PREPARE_STORM_CALLS)(target)
        op_fault("StartRecovery", "ThrottlingException", count=2)(target)
        op_fault("DescribeJobs", "ThrottlingException", count=6)(target)

    return scenario, plan


LOOP_ENDS = ("MapStateSucceeded", "MapStateFailed", "MapStateExited")


def late_loop_tasks(history: list[dict[str, Any]]) -> list[str]:
    """Every Task of the wave loop that was entered too late to end, at its worst under its Retry, by the execution's
    own deadline (WavesEndBy, lambdas/core/deadline.py), and the loop itself if it ended after it. What the engine
    cannot make happen (every attempt of every retrier to its limit) is counted as if it had: this is the rule, checked
    on the history of a real run, not only its outcome."""
    loop = deadline.loop_task_names()
    ends_by: int | None = None
    late = []
    for event in history:
        details = event.get("stateEnteredEventDetails") or {}
        entered = event["timestamp"].timestamp()
        if event["type"] == "MapStateEntered":
            ends_by = int(json.loads(details["input"])["WavesEndBy"])
        elif event["type"] in LOOP_ENDS and ends_by is not None and entered > ends_by:
            late.append(f"the wave loop ended at {entered:.0f}, {entered - ends_by:.0f} s after WavesEndBy")
        elif event["type"] == "TaskStateEntered" and details.get("name") in loop and ends_by is not None:
            name = details["name"]
            timeout = (json.loads(details["input"]).get("Steps") or {}).get("TimeoutSeconds")
            worst = deadline.worst(name, timeout if name in deadline.STEP_STATES.values() else None)
            if entered + worst > ends_by:
                late.append(f"{name!r} entered at {entered:.0f} could end {entered + worst - ends_by:.0f} s late")
    return late if ends_by is not None else ["the wave loop never started"]


def ended_by_its_own_deadline(aws: LocalAws) -> list[str]:
    """The first execution ended by the plan's own deadline, before the state machine's TimeoutSeconds: Step
    Functions' status FAILED (not TIMED_OUT), a wave or step TIMED_OUT or out of time, the drill cleanup run to its
    own end (COMPLETED, or FAILED at its 30 minutes when a launch job of the execution still runs), not NOT_RUN."""
    client = aws.client("stepfunctions")
    found = client.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]
    described = client.describe_execution(executionArn=next(e["executionArn"] for e in found if e["name"] == "first"))
    ran = (described["stopDate"] - described["startDate"]).total_seconds()
    record = aws.record("first", "shop")
    problems = late_loop_tasks(aws.history(described["executionArn"]))
    if described["status"] != "FAILED" or ran >= limits.EXECUTION_TIMEOUT_SECONDS:
        problems.append(f"the execution ended {described['status']} after {ran:.0f} s, not by the plan's own deadline")
    cut = [w for w in record.Waves if w.Status == "TIMED_OUT" and "must end within" in (w.ErrorMessage or "")]
    if not cut and deadline.OUT_OF_TIME not in (described.get("error") or ""):
        problems.append("no wave was cut short and no step ended out of time")
    if record.Cleanup is None or record.Cleanup.Status not in ("COMPLETED", "FAILED"):  # it ran to its own end
        problems.append(f"the drill cleanup ended {record.Cleanup.Status if record.Cleanup else None}, not by itself")
    return problems


def _limit_cases() -> list[Case]:
    edge = widest_fitting_wave_timeout()
    return [
        Case(
            "limits",
            "a CRITICAL hook returns more than 256 KiB: its step fails, the plan stops",
            FAILED,
            *_hook_returning(OVER_256_KIB, "CRITICAL"),
            says=("Export the catalog", "States.DataLimitExceeded", "256 KiB", "it is CRITICAL"),
            fast=True,
        ),
        Case(
            "limits",
            "an OPTIONAL hook returns more than 256 KiB: recorded, the plan goes on",
            OK,
            *_hook_returning(OVER_256_KIB, "OPTIONAL"),
        ),
        Case(
            "limits",
            "a hook's event over 256 KiB (1,000 servers, 160-character hostnames) is refused before launch",
            FAILED,
            *long_hostname_wave(1_000, 160),
            says=("wave 2 ('app'), Before[0] ('Drain the app tier')", "bytes", "256 KiB", "nothing was launched"),
            fast=True,
        ),
        Case(
            "limits",
            f"48 h edge: {edge} min waves, the widest that fit, complete with Prepare throttled 9 times in a row",
            OK,
            *at_the_48_hour_edge(edge),
        ),
        Case(
            "limits",
            f"48 h edge: {edge + 1} min waves, one minute past the fit, are refused before launch",
            FAILED,
            *at_the_48_hour_edge(edge + 1),
            says=("more than the 48 h", f"WaveTimeoutMinutes to at most {edge}", "nothing was launched"),
        ),
        Case(
            "limits",
            f"48 h edge: {EDGE_WAVES} waves that fit, every Task timed out 3 times, every wave's last checks late, "
            "health, approval and callback to their timeouts, capacity waits, storms: its own deadline ends it",
            FAILED,
            *at_the_edge_with_every_fault(),
            faults=hung_at_every_loop,
            says=OUT_OF_TIME_SAYS,
            check=ended_by_its_own_deadline,
        ),
        Case(
            "limits",
            f"48 h edge: {FAST_EDGE_WAVES} waves that fit, every Task timed out 3 times, every wave's last checks "
            "late, capacity waits, storms: its own deadline ends it",
            FAILED,
            *at_the_edge_with_every_fault(FAST_EDGE_WAVES, steps=False),
            faults=hung_at_every_loop,
            says=OUT_OF_TIME_SAYS,
            check=ended_by_its_own_deadline,
            fast=True,
        ),
    ]


CASES: list[Case] = [
    *_storm_cases(),
    *_lost_answer_cases(),
    *_permanent_cases(),
    *_launch_cases(),
    *_capacity_cases(),
    *_stop_cases(),
    *_lost_event_cases(),
    *_race_cases(),
    *_lambda_cases(),
    *_dynamodb_cases(),
    *_replication_cases(),
    *_budget_cases(),
    *_runbook_cases(),
    *_cleanup_cases(),
    *_resume_cases(),
    *_health_cases(),
    *_resume_gate_cases(),
    *_limit_cases(),
    *_account_cases(),
]


def run_case(case: Case) -> Outcome:
    scenario = base_scenario()
    if case.scenario is not None:
        case.scenario(scenario)
    plan = base_plan()
    if case.plan is not None:
        case.plan(plan)
    execution_input: dict[str, Any] = {"PlanId": "shop", "ExecutionType": case.mode}
    if case.mode == "RECOVERY":
        execution_input["Confirm"] = "RECOVER shop"
    if case.point_in_time is not None:
        execution_input["PointInTime"] = case.point_in_time
    with local_aws(Scenario.model_validate(scenario)) as aws:
        aws.load_plan(RecoveryPlan.model_validate(plan))
        run = Run()
        if case.arm is not None:
            case.arm(aws, run)  # before the faults: its own set-up (a second plan loaded) is not the fault
        if case.faults is not None:
            aws.engine.faults = case.faults()
        run.arn = aws.start_execution(execution_input, "first")
        described = aws.wait(run.arn)
        ended = [described, *(aws.wait(arn) for arn in run.others)]
        outcome = _settle(aws, case, described, ended)
        outcome.problems = case.check(aws) if case.check is not None else []
        if not case.then_resume:
            return outcome
        run.stopped = True  # the case's stop or race was for the first execution: none in its resume
        aws.drs.repair_servers()
        if case.fix is not None:
            case.fix(aws)
        aws.clock.advance(RESUME_AFTER_SECONDS)
        aws.engine.before_invoke.clear()  # the first execution's stop or race is over
        aws.engine.on_aws_call.clear()
        resumed = aws.wait(aws.start_execution({**execution_input, "ResumeFrom": "first"}, "resumed"))
        settled = _settle(aws, case, described, [resumed])
        settled.resumed_status = aws.record("resumed", "shop").Status
        settled.resume_problems = case.resume_check(aws) if case.resume_check is not None else []
        settled.problems = outcome.problems
        settled.executions += outcome.executions
        return settled


def _settle(aws: LocalAws, case: Case, described: dict[str, Any], ended: list[dict[str, Any]]) -> Outcome:
    """Deliver the status-change events (unless lost), let the sweeper run as its schedule would, then check."""
    for each in ended:
        if case.deliver_events and each["status"] in STOPPED:
            # If the reconcile Lambda fails, EventBridge retries, then the DLQ; the sweeper catches it either way.
            with contextlib.suppress(RuntimeError):
                aws.deliver_status_change(each)
    aws.engine.faults = EngineFaults()  # the storm is over
    violations = invariants.check(aws.drs)
    for _ in range(SWEEPS):  # the schedule runs every 15 minutes until nothing is left for it
        aws.clock.advance(SWEEP_INTERVAL_SECONDS)
        swept = aws.sweep()
        violations = invariants.check(aws.drs)
        if not any(swept.values()) and not violations:
            break
    assert described["status"] in TERMINAL
    record = aws.record("first", "shop")
    return Outcome(
        case=case,
        execution_status=described["status"],
        record_status=record.Status,
        message=record.ErrorMessage or "",
        start_recovery_calls=aws.drs.calls["StartRecovery"],
        violations=violations,
        executions=len(ended),
        waves_text=json.dumps([wave.model_dump(exclude={"Servers"}) for wave in aws.waves("first")]),
    )


# -- randomized schedules ------------------------------------------------------------------------------------------

ANY_END = ("COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "TIMED_OUT")
_OPERATIONS = ("DescribeJobs", "StartRecovery", "DescribeSourceServers", "*")
_TRANSIENT = ("ThrottlingException", "InternalServerException", "drop_response")
_PERMANENT = ("AccessDeniedException", "UninitializedAccountException", "ResourceNotFoundException")
_FUNCTIONS = ("prepare", "start-wave", "check-wave", "finalize")
_DYNAMODB_OPERATIONS = ("PutItem", "UpdateItem", "GetItem", "Query", "TransactWriteItems", "BatchWriteItem")
_DYNAMODB_ERRORS = ("ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError")
_WAVE_NAMES = ("db", "app", "web")  # base_plan's waves, and their servers
_WAVE_SERVERS = (DB, APP, WEB)
_UNHEALTHY = (
    {"postLaunch": {"seconds": 120, "result": "FAILED"}},
    {"instanceStatus": {"seconds": 90, "result": "impaired"}},
    {"postLaunch": {"seconds": 7200}},  # still pending at the deadline
    SLOW_BUT_HEALTHY,
)


def random_case(seed: int) -> Case:
    """A small plan, a schedule of faults and at most one stop or race, runbook steps, health checks, the drill
    cleanup and a resume, all drawn from `seed` (replayable).

    The case expects nothing of the outcome but the invariants: any final status is acceptable. The runbook, health
    checks, cleanup and resume come from a generator of their own (`<seed>:runbook`), so the rest of a seed's
    schedule is what it was before they were drawn.
    """
    rng = random.Random(seed)
    drawn: list[str] = []
    plan = _draw_plan(rng, drawn)
    scenario, mode = _draw_scenario(rng, drawn)
    lambdas, dynamodb = _draw_engine_faults(rng, drawn)
    arm, extra = _draw_hook(rng, drawn)
    deliver = rng.random() < 0.8
    if not deliver:
        drawn.append("status-change events lost")
    steps = random.Random(f"{seed}:runbook")
    runbook_scenario, runbook_plan = _draw_runbook(steps, drawn, waves=len(_WAVE_NAMES))
    cleanup = _draw_cleanup(steps, drawn)
    then_resume = steps.random() < 0.3
    if then_resume:
        drawn.append("resumed once it has ended")
    return Case(
        "random",
        f"seed {seed}: " + "; ".join(drawn),
        ANY_END,
        scenario=both(*scenario, *extra, *runbook_scenario),
        plan=both(*runbook_plan, *plan, *cleanup),  # the runbook first: the plan's draw may drop waves
        faults=lambda: EngineFaults(lambdas=[copy.copy(f) for f in lambdas], dynamodb=[copy.copy(f) for f in dynamodb]),
        arm=arm,
        mode=mode,
        deliver_events=deliver,
        then_resume=then_resume,
        resume_expect=ANY_END,
    )


def _draw_plan(rng: random.Random, drawn: list[str]) -> list[Change]:
    waves = rng.randint(1, 3)
    options = {"MaxServersPerJob": rng.choice((1, 2, 100)), "WaveTimeoutMinutes": rng.choice((20, 60, 120))}
    changes: list[Change] = [lambda plan: plan.update(Waves=plan["Waves"][:waves]), plan_options(**options)]
    drawn.append(f"{waves} wave(s), {options}")
    for wave in range(waves):
        if rng.random() < 0.3:
            changes.append(impact(wave, "OPTIONAL"))
            drawn.append(f"wave {wave + 1} OPTIONAL")
    return changes


def _draw_scenario(rng: random.Random, drawn: list[str]) -> tuple[list[Change], str]:
    changes: list[Change] = []
    servers = DB + APP + WEB
    for _ in range(rng.choice((0, 0, 1, 2))):
        fault: Any = rng.choice(("launch_failure", "stuck", "job_ends_without_launch", {"conflict": rng.randint(1, 3)}))
        server = rng.choice(servers)
        changes.append(server_fault(server, fault))
        drawn.append(f"{server} {fault}")
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        operation = rng.choice(_OPERATIONS)
        error = rng.choice(_TRANSIENT) if rng.random() < 0.9 else rng.choice(_PERMANENT)
        if error == "drop_response" and operation == "*":
            operation = "StartRecovery"
        how: dict[str, Any] = (
            {"count": rng.randint(1, 12)}
            if rng.random() < 0.5
            else {"seconds": rng.choice((30, 120, 600, 1800)), "after": rng.randint(0, 1500)}
        )
        changes.append(op_fault(operation, error, **how))
        drawn.append(f"{operation} {error} {how}")
    if rng.random() < 0.2:
        jobs = rng.randint(1, 3)
        seconds = rng.choice((300, 1500, 9000))
        changes.append(scenario_keys(quotas={"maxConcurrentJobs": jobs}, externalJobs=[{"seconds": seconds}] * jobs))
        drawn.append(f"other tools hold {jobs} job(s) for {seconds} s")
    if rng.random() < 0.15:
        unhealthy, state = rng.choice(servers), rng.choice(("STALLED", "DISCONNECTED", "BACKLOG"))
        changes.append(replication_state(unhealthy, state))
        drawn.append(f"RECOVERY with {unhealthy} {state}")
        return changes, "RECOVERY"
    return changes, "DRILL"


def _draw_engine_faults(rng: random.Random, drawn: list[str]) -> tuple[list[LambdaFault], list[DynamoDbFault]]:
    lambdas = [
        LambdaFault(
            rng.choice(_FUNCTIONS),
            rng.randint(1, 6),
            rng.choice(("timeout_after", "timeout_after_calls", "service_error")),
            calls=rng.randint(1, 8),
        )
        for _ in range(rng.choice((0, 0, 1, 2)))
    ]
    dynamodb = [
        DynamoDbFault(
            rng.choice(_DYNAMODB_OPERATIONS), rng.choice(_DYNAMODB_ERRORS), rng.randint(1, 6), rng.random() < 0.3
        )
        for _ in range(rng.choice((0, 0, 1, 2)))
    ]
    if rng.random() < 0.1:
        dynamodb.append(DynamoDbFault("TransactWriteItems", rng.choice(CANCELLATION_REASONS), rng.randint(1, 3)))
    drawn += [f"lambda {f}" for f in lambdas] + [f"dynamodb {f}" for f in dynamodb]
    return lambdas, dynamodb


def _draw_hook(rng: random.Random, drawn: list[str]) -> tuple[Arm | None, list[Change]]:
    roll = rng.random()
    if roll < 0.2:
        function, nth = rng.choice(_FUNCTIONS), rng.randint(1, 6)
        drawn.append(f"stop at {function} #{nth}")
        return stop_at_invocation(function, nth), []
    if roll < 0.3:
        function, operation = rng.choice(_FUNCTIONS), rng.choice(("StartRecovery", "DescribeJobs", "PutItem"))
        drawn.append(f"stop in {function} before {operation}")
        return stop_at_call(function, operation), []
    if roll < 0.37:
        drawn.append("a second start of the plan")
        return start_another(DRILL, at_check=rng.randint(1, 4)), []
    if roll < 0.42:
        shared = [rng.choice(DB + APP + WEB), EXTRA[0]]
        drawn.append(f"another plan shares {shared[0]}")
        plan = other_plan("other", shared)
        return start_another({"PlanId": "other", "ExecutionType": "DRILL"}, plan=plan), [extra_servers(2)]
    return None, []


def _draw_runbook(rng: random.Random, drawn: list[str], *, waves: int) -> tuple[list[Change], list[Change]]:
    """Runbook steps before and after the waves (hooks that succeed, fail or run long, callbacks answered in time or
    not, approvals approved, rejected or unanswered, waits, health checks over healthy, failing and slow servers) and
    the scenario's stand-ins that play them."""
    functions: dict[str, dict[str, Any]] = {}
    approvals: dict[str, dict[str, Any]] = {}
    servers: dict[str, dict[str, Any]] = {}
    steps: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for wave in range(waves):
        for phase in ("Before", "After"):
            if rng.random() >= 0.3:
                continue
            kinds = ("Lambda", "WaitForCallback", "Approval", "Wait", *(("HealthCheck",) * (phase == "After")))
            kind = rng.choice(kinds)
            impact = rng.choice(("CRITICAL", "OPTIONAL"))
            name = f"drs-hook-w{wave}-{phase.lower()}"
            if kind in ("Lambda", "WaitForCallback"):
                callback = kind == "WaitForCallback"
                seconds = rng.choice((30, 600, 1800) if callback else (0, 30, 300))
                functions[name] = {"seconds": seconds, **({"error": "HookFailed"} if rng.random() < 0.25 else {})}
                hook: dict[str, Any] = {"FunctionName": name, "Impact": impact}
                if callback:
                    hook.update(WaitForCallback=True, TimeoutMinutes=20)
                step: dict[str, Any] = {"Lambda": hook}
                described = f"{kind} {functions[name]} {impact}"
            elif kind == "Approval":
                on_timeout = rng.choice(("FAIL", "CONTINUE"))
                step = {"Approval": {"Message": "Go on?", "TimeoutMinutes": 30, "OnTimeout": on_timeout}}
                answer = approvals.setdefault(
                    _WAVE_NAMES[wave],
                    {
                        "wave": _WAVE_NAMES[wave],
                        "decision": rng.choice(("APPROVE", "APPROVE", "REJECT")),
                        "afterSeconds": rng.choice((0, 120, 2400)),
                    },
                )
                described = f"Approval answered {answer['decision']} after {answer['afterSeconds']} s, {on_timeout}"
            elif kind == "Wait":
                step = {"Wait": {"Minutes": rng.choice((1, 30))}}
                described = f"Wait {step['Wait']['Minutes']} min"
            else:
                step = {"HealthCheck": {"TimeoutMinutes": rng.choice((10, 30)), "Impact": impact}}
                server = rng.choice(_WAVE_SERVERS[wave])
                servers[server] = copy.deepcopy(rng.choice(_UNHEALTHY))
                described = f"HealthCheck {impact}, {server} {servers[server]}"
            steps.setdefault((wave, phase), []).append(step)
            drawn.append(f"wave {wave + 1} {phase}: {described}")

    def plan(target: dict[str, Any]) -> None:
        for (wave, phase), listed in steps.items():
            target["Waves"][wave][phase] = copy.deepcopy(listed)

    def scenario(target: dict[str, Any]) -> None:
        target["functions"] = copy.deepcopy(functions)
        target["approvals"] = list(copy.deepcopy(approvals).values())
        for spec in target["servers"]:
            spec.update(copy.deepcopy(servers.get(spec["id"], {})))

    return [scenario], [plan]


def _draw_cleanup(rng: random.Random, drawn: list[str]) -> list[Change]:
    if rng.random() >= 0.3:
        return []
    cleanup = {"AfterMinutes": rng.choice((0, 10, 60)), "OnFailure": rng.choice(("TERMINATE", "KEEP"))}
    drawn.append(f"DrillCleanup {cleanup}")
    return [plan_options(DrillCleanup=cleanup)]
