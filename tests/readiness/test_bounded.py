"""Readiness's work is bounded by the plan's shape, not multiplied by it: one source server listing (its pages), one
GetLaunchConfiguration per server (DRS has no batch form), and a handful of EC2 describes, Service Quotas and IAM
calls, however many servers share a subnet, a group, a type or a profile. `make test` counts them for 250 servers;
bench/readiness_calls.py for 2,000 and 5,000, and how long each evaluation takes."""

from __future__ import annotations

import math
from typing import Any
from unittest.mock import patch

from drsctl.emulator import DrsEmulator, Scenario, model
from drsctl.emulator.protocol import DEFAULT_PAGE_SIZE
from drsctl.local.readiness import evaluate_plan_file
from lambdas.core.plan import parse_plan
from lambdas.core.readiness.model import Readiness
from tests.conftest import server_id

SERVERS = 250  # three pages of DescribeSourceServers


def evaluate_counting(servers: int) -> tuple[Readiness, DrsEmulator]:
    """A healthy plan of `servers` servers in one wave, evaluated against the emulator; and that emulator (its call
    counts)."""
    ids = [server_id(n, "big") for n in range(servers)]
    scenario = Scenario.model_validate(
        {"region": "us-east-1", "servers": [{"id": s, "hostname": f"h{n}"} for n, s in enumerate(ids)]}
    )
    plan = parse_plan(
        {
            "PlanId": "big",
            "Name": "Big",
            "ProtectionGroups": [{"GroupId": "all", "Region": "us-east-1", "SourceServerIds": ids}],
            "Waves": [{"WaveName": "all", "ProtectionGroupId": "all"}],
            "Options": {"RpoTargetMinutes": 60, "MaxConcurrentJobs": 100, "MaxServersInActiveJobs": servers},
        }
    )
    seen: list[DrsEmulator] = []
    original = model.DrsEmulator.__init__

    def keep(self: DrsEmulator, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        seen.append(self)

    with patch.object(model.DrsEmulator, "__init__", keep):
        result = evaluate_plan_file(plan, scenario)
    return result, seen[0]


def unbounded_calls(servers: int, emulator: DrsEmulator) -> dict[str, tuple[int, int]]:
    """Operation -> (calls made, calls expected), for each operation whose count is not what a bounded evaluation of
    `servers` healthy servers in one Region makes."""
    made = {
        **emulator.calls,
        **{f"ec2:{name}": count for name, count in emulator.ec2_calls.items()},
        **{f"quotas:{name}": count for name, count in emulator.other_calls.items()},
    }
    expected = {
        "DescribeSourceServers": math.ceil(servers / DEFAULT_PAGE_SIZE),
        "GetLaunchConfiguration": servers,
        "DescribeRecoverySnapshots": 0,  # every server CONTINUOUS: its lag is DRS's own
        "ec2:DescribeLaunchTemplateVersions": 1,  # one listing of the default versions
        "ec2:DescribeSubnets": 1,  # three subnets, one filtered call
        "ec2:DescribeSecurityGroups": 1,
        "ec2:DescribeInstanceTypeOfferings": 1,
        "ec2:DescribeInstanceTypes": 1,  # the templates' types (no instance runs here)
        "ec2:DescribeInstances": 1,
        "quotas:GetServiceQuota": 1,
    }
    return {
        name: (made.get(name, 0), expected.get(name, 0))
        for name in {*made, *expected}
        if made.get(name, 0) != expected.get(name, 0)
    }


def test_a_plan_of_many_servers_takes_a_bounded_number_of_calls():
    result, emulator = evaluate_counting(SERVERS)
    assert [(f.code, f.severity) for f in result.findings] == [("DRILL_OVERDUE", "WARN")]
    assert unbounded_calls(SERVERS, emulator) == {}
