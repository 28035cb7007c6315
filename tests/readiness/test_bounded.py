"""Readiness's work is bounded by the plan's shape, not multiplied by it: for 2,000 servers in one Region, one
source server listing (its pages), one GetLaunchConfiguration per server (DRS has no batch form), and a handful of
EC2 describes, Service Quotas and IAM calls, however many servers share a subnet, a group, a type or a profile."""

from __future__ import annotations

import math

from drsctl.emulator import Scenario
from drsctl.emulator.protocol import DEFAULT_PAGE_SIZE
from drsctl.local.readiness import evaluate_plan_file
from lambdas.core.plan import parse_plan
from tests.conftest import server_id

SERVERS = 2_000


def test_two_thousand_servers_take_a_bounded_number_of_calls(monkeypatch):
    ids = [server_id(n, "big") for n in range(SERVERS)]
    scenario = Scenario.model_validate(
        {"region": "us-east-1", "servers": [{"id": s, "hostname": f"h{n}"} for n, s in enumerate(ids)]}
    )
    plan = parse_plan(
        {
            "PlanId": "big",
            "Name": "Big",
            "ProtectionGroups": [{"GroupId": "all", "Region": "us-east-1", "SourceServerIds": ids}],
            "Waves": [{"WaveName": "all", "ProtectionGroupId": "all"}],
            "Options": {"RpoTargetMinutes": 60, "MaxConcurrentJobs": 40, "MaxServersInActiveJobs": 2000},
        }
    )
    seen = {}
    from drsctl.emulator import model

    original = model.DrsEmulator.__init__

    def keep(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen["emulator"] = self

    monkeypatch.setattr(model.DrsEmulator, "__init__", keep)
    result = evaluate_plan_file(plan, scenario)
    assert [(f.code, f.severity) for f in result.findings] == [("DRILL_OVERDUE", "WARN")]
    emulator = seen["emulator"]
    assert emulator.calls["DescribeSourceServers"] == math.ceil(SERVERS / DEFAULT_PAGE_SIZE)
    assert emulator.calls["GetLaunchConfiguration"] == SERVERS
    assert emulator.calls["DescribeRecoverySnapshots"] == 0  # every server CONTINUOUS: its lag is DRS's own
    assert {operation: count for operation, count in emulator.ec2_calls.items()} == {
        "DescribeLaunchTemplateVersions": 1,  # one listing of the default versions
        "DescribeSubnets": 1,  # three subnets, one filtered call
        "DescribeSecurityGroups": 1,
        "DescribeInstanceTypeOfferings": 1,
        "DescribeInstanceTypes": 1,  # the templates' types (no instance runs here)
        "DescribeInstances": 1,
    }
    assert emulator.other_calls["GetServiceQuota"] == 1
