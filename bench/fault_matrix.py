"""Run the example plan under each fault of docs/reliability.md and print what happened.

Run: .venv/bin/python bench/fault_matrix.py. Columns: the execution's end, the record's status, StartRecovery
calls, the most launches of one server (must be 1 or 0), and records left PENDING or POLLING (must be 0).
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drsctl.emulator import Scenario
from drsctl.local import figures
from drsctl.local.rehearsal import STOPPED, LocalAws, local_aws
from lambdas.core.plan import RecoveryPlan

ROOT = Path(__file__).resolve().parents[1]
BASE_SCENARIO = yaml.safe_load((ROOT / "examples" / "scenario.yaml").read_text())
BASE_PLAN = yaml.safe_load((ROOT / "examples" / "plan.yaml").read_text())
DRILL = {"PlanId": "storefront", "ExecutionType": "DRILL"}


def scenario_with(
    faults: list[dict[str, Any]] | None = None, server_faults: dict[int, list[Any]] | None = None
) -> dict[str, Any]:
    scenario = copy.deepcopy(BASE_SCENARIO)
    scenario["faults"] = faults or []
    for index, server_faults_list in (server_faults or {}).items():
        scenario["servers"][index]["faults"] = server_faults_list
    return scenario


def stop_during_wave(wave: int) -> Callable[[LocalAws, list[str]], None]:
    def arm(aws: LocalAws, arns: list[str]) -> None:
        def listener(invocation: Any, request: dict[str, Any], response: Any) -> None:
            if invocation.function.endswith("check-wave") and request.get("WaveNumber") == wave and arns:
                aws.stop(arns.pop())

        aws.engine.listeners.append(listener)

    return arm


def second_start(aws: LocalAws, arns: list[str]) -> None:
    def listener(invocation: Any, request: dict[str, Any], response: Any) -> None:
        if invocation.function.endswith("check-wave") and not second:
            second.append(aws.start_execution(DRILL, "second"))
            aws.wait(second[0])  # hold the first execution (and its locks) until the second has ended

    second: list[str] = []
    aws.engine.listeners.append(listener)


CASES: list[tuple[str, dict[str, Any], dict[str, Any], Callable[[LocalAws, list[str]], None] | None]] = [
    ("no fault", scenario_with(), DRILL, None),
    (
        "StartRecovery answer lost x2",
        scenario_with([{"operation": "StartRecovery", "error": "drop_response", "count": 2}]),
        DRILL,
        None,
    ),
    (
        "StartRecovery 5xx x2",
        scenario_with([{"operation": "StartRecovery", "error": "InternalServerException", "count": 2}]),
        DRILL,
        None,
    ),
    (
        "DescribeJobs throttled x8",
        scenario_with([{"operation": "DescribeJobs", "error": "ThrottlingException", "count": 8}]),
        DRILL,
        None,
    ),
    (
        "DescribeSourceServers 5xx x3",
        scenario_with([{"operation": "DescribeSourceServers", "error": "InternalServerException", "count": 3}]),
        DRILL,
        None,
    ),
    ("server conflict x2", scenario_with(server_faults={0: [{"conflict": 2}]}), DRILL, None),
    ("OPTIONAL server launch fails", scenario_with(server_faults={3: ["launch_failure"]}), DRILL, None),
    ("CRITICAL server launch fails", scenario_with(server_faults={5: ["launch_failure"]}), DRILL, None),
    ("server stuck (wave timeout)", scenario_with(server_faults={1: ["stuck"]}), DRILL, None),
    ("server not replicating", scenario_with(), DRILL, None),
    ("RECOVERY without Confirm", scenario_with(), {"PlanId": "storefront", "ExecutionType": "RECOVERY"}, None),
    ("stop during wave 2", scenario_with(), DRILL, stop_during_wave(2)),
    ("second start of a running plan", scenario_with(), DRILL, second_start),
]


def run_case(name: str, scenario: dict[str, Any], execution_input: dict[str, Any], arm: Any) -> list[str]:
    if name == "server not replicating":
        scenario["servers"][2]["replication"] = "STALLED"
    with local_aws(Scenario.model_validate(scenario)) as aws:
        aws.load_plan(RecoveryPlan.model_validate(BASE_PLAN))
        arns: list[str] = []
        if arm is not None:
            arm(aws, arns)
        arn = aws.start_execution(execution_input, "first")
        arns.append(arn)  # what a stop listener stops
        described = aws.wait(arn)
        executions = [described]
        for other in aws.client("stepfunctions").list_executions(stateMachineArn=aws.state_machine_arn)["executions"]:
            if other["executionArn"] != arn:
                executions.append(aws.wait(other["executionArn"]))
        for each in executions:
            if each["status"] in STOPPED:
                aws.deliver_status_change(each)
        items = boto3.resource("dynamodb", region_name="us-east-1").Table("ExecutionHistory").scan()["Items"]
        open_records = sum(item["Status"] in ("PENDING", "POLLING") for item in items)
        record = next(item for item in items if item["ExecutionId"] == "first")
        jobs = list(aws.drs.jobs.values())
        return [
            name,
            str(len(executions)),
            described["status"] + (f" ({described.get('error')})" if described.get("error") else ""),
            str(record["Status"]),
            str(aws.drs.calls["StartRecovery"]),
            str(figures.launches_per_server_max(jobs)),
            str(open_records),
        ]


def main() -> None:
    columns = [
        "fault",
        "executions",
        "execution end",
        "record",
        "StartRecovery calls",
        "max launches/server",
        "open records",
    ]
    print(" | ".join(columns))
    print(" | ".join("---" for _ in columns))
    totals = {"executions": 0, "twice": 0, "open": 0}
    for name, scenario, execution_input, arm in CASES:
        row = run_case(name, scenario, execution_input, arm)
        totals["executions"] += int(row[1])
        totals["twice"] += int(row[5]) > 1
        totals["open"] += int(row[6])
        print(" | ".join(row), flush=True)
    print(
        f"\n{len(CASES)} faults, {totals['executions']} executions, servers launched twice: {totals['twice']}, "
        f"records left non-terminal: {totals['open']}"
    )


if __name__ == "__main__":
    main()
