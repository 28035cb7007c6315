"""Workflow tests: the real ASL in moto's engine, the real handlers, the DRS emulator, one virtual clock."""

from __future__ import annotations

from typing import Any

from drsctl.local.rehearsal import LocalAws
from lambdas.core.plan import RecoveryPlan
from tests.conftest import server_id

DB = [server_id(n, "db") for n in range(3)]
APP = [server_id(n, "app") for n in range(3)]
WEB = [server_id(n, "web") for n in range(2)]

EXACT = {"drill": {"snapshot": 1, "preparation": 50, "conversion": 200, "launch": 300}, "jitter": 0}


def three_tier_scenario(**changes: Any) -> dict[str, Any]:
    """db and app servers in us-east-1, web servers in us-west-2; deterministic 551 s drill jobs."""
    servers = [{"id": s, "hostname": f"db-{n}", "tags": {"Tier": "db"}} for n, s in enumerate(DB)]
    servers += [{"id": s, "hostname": f"app-{n}", "tags": {"Tier": "app"}} for n, s in enumerate(APP)]
    servers += [
        {"id": s, "hostname": f"web-{n}", "region": "us-west-2", "tags": {"Tier": "web"}} for n, s in enumerate(WEB)
    ]
    return {"region": "us-east-1", "seed": 11, "timing": EXACT, "servers": servers, **changes}


def with_server_faults(scenario: dict[str, Any], server: str, faults: list[Any]) -> dict[str, Any]:
    for spec in scenario["servers"]:
        if spec["id"] == server:
            spec["faults"] = faults
    return scenario


def three_wave_plan(**changes: Any) -> dict[str, Any]:
    plan = {
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
    plan.update(changes)
    return plan


def run(
    aws: LocalAws, execution_input: dict[str, Any], name: str = "exec-1"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start an execution, wait for its end, return (DescribeExecution, history)."""
    arn = aws.start_execution(execution_input, name)
    described = aws.wait(arn)
    return described, aws.history(arn)


def load(aws: LocalAws, plan: dict[str, Any]) -> RecoveryPlan:
    parsed = RecoveryPlan.model_validate(plan)
    aws.load_plan(parsed)
    return parsed


def failed_task_errors(history: list[dict[str, Any]]) -> list[str]:
    return [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]


def start_recovery_waves(aws: LocalAws) -> list[str]:
    """The WaveNumber tag of every job the emulator holds, in creation order."""
    jobs = sorted(aws.drs.jobs.values(), key=lambda job: job.sequence)
    return [job.tags.get("WaveNumber", "?") for job in jobs]


def entered(history: list[dict[str, Any]], state: str) -> int:
    """How many times the execution entered `state` (as the graph view counts it)."""
    return sum(
        1 for e in history if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == state
    )
