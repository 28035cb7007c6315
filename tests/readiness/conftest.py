"""An emulated estate with one server per kind of drift (and healthy ones), served once per module, and readiness
evaluated against it through the real reads (DRS, EC2 and Service Quotas from the emulator, IAM from moto)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from moto import mock_aws

from drsctl.clock import VirtualClock
from drsctl.emulator import DrsEmulator, Scenario, serving
from drsctl.emulator.launch import create_instance_profiles
from lambdas.core.plan import parse_plan
from lambdas.core.readiness import reads
from lambdas.core.readiness.checks import CHECKS
from lambdas.core.readiness.estate import NO_HISTORY, NO_LOCKS, Estate, History, Locks
from lambdas.core.readiness.model import Readiness
from lambdas.core.readiness.runner import evaluate
from tests.conftest import server_id

ACCOUNT = "111122223333"
HEALTHY = [server_id(n, "ok") for n in range(3)]
STALLED, LAGGING, HALF_LAG = server_id(1, "st"), server_id(2, "lag"), server_id(3, "half")
DISCONNECTED = server_id(4, "disc")  # 25 minutes behind, its newest snapshot 30 (snapshots every 10 minutes)
NO_SUBNET, NO_GROUP, NO_PROFILE, NOT_OFFERED = (server_id(n, "lt") for n in range(4))
WEB = [server_id(n, "web") for n in range(2)]
BIG = server_id(1, "big")  # in us-west-2, where 4 vCPUs are free
GONE = server_id(9, "gone")  # listed by plans, unknown to DRS
SERVERS: list[dict[str, Any]] = [
    *({"id": s, "hostname": f"ok-{n}"} for n, s in enumerate(HEALTHY)),
    {"id": STALLED, "hostname": "stalled", "replication": "STALLED"},
    {"id": LAGGING, "hostname": "lagging", "lagSeconds": 7200},
    {"id": HALF_LAG, "hostname": "half-lag", "lagSeconds": 1200},
    {"id": DISCONNECTED, "hostname": "disconnected", "replication": "DISCONNECTED", "lagSeconds": 1500},
    {"id": NO_SUBNET, "hostname": "no-subnet", "launchTemplate": {"subnetMissing": True}},
    {"id": NO_GROUP, "hostname": "no-group", "launchTemplate": {"securityGroupMissing": True}},
    {"id": NO_PROFILE, "hostname": "no-profile", "launchTemplate": {"instanceProfileMissing": True}},
    {"id": NOT_OFFERED, "hostname": "not-offered", "launchTemplate": {"instanceTypeNotOffered": True}},
    *({"id": s, "hostname": f"web-{n}", "tags": {"Tier": "web"}} for n, s in enumerate(WEB)),
    {"id": BIG, "hostname": "big", "region": "us-west-2", "launchTemplate": {"instanceType": "m5.4xlarge"}},
]
SCENARIO = {
    "region": "us-east-1",
    "accountId": ACCOUNT,
    "seed": 5,
    "servers": SERVERS,
    "capacity": {"us-west-2": {"vcpuLimit": 8, "vcpusInUse": 4}},
}


def plan(*groups: dict[str, Any], options: dict[str, Any] | None = None, plan_id: str = "estate") -> dict[str, Any]:
    """A plan of one wave per group (`{"GroupId": ..., "SourceServerIds"|"Selector": ..., "Region"?: ...}`)."""
    filled = [{"Region": "us-east-1", **group} for group in groups]
    return {
        "PlanId": plan_id,
        "Name": "Readiness estate",
        "ProtectionGroups": filled,
        "Waves": [{"WaveName": g["GroupId"], "ProtectionGroupId": g["GroupId"]} for g in filled],
        **({"Options": options} if options else {}),
    }


def servers(group_id: str, *ids: str, region: str = "us-east-1") -> dict[str, Any]:
    return {"GroupId": group_id, "Region": region, "SourceServerIds": list(ids)}


@dataclass
class Evaluator:
    clock: VirtualClock
    emulator: DrsEmulator

    def __call__(
        self,
        raw_plan: dict[str, Any],
        code: str | None = None,
        *,
        history: History = NO_HISTORY,
        locks: Locks = NO_LOCKS,
        baseline: dict[str, int] | None = None,
    ) -> Readiness:
        """The plan's readiness, with only the check of `code` (all checks when None)."""
        checks = tuple(c for c in CHECKS if code is None or c.code == code)
        assert checks, code
        estate = Estate(
            parse_plan(raw_plan), now=int(self.clock.now()), history=history, locks=locks, baseline=baseline
        )
        return evaluate(estate, checks)


@pytest.fixture(scope="module")
def readiness_of() -> Iterator[Callable[..., Readiness]]:
    clock = VirtualClock(1_800_000_000.0)
    emulator = DrsEmulator(Scenario.model_validate(SCENARIO), clock)
    fake = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ORCHESTRATOR_ACCOUNT": ACCOUNT,
    }
    with serving(emulator) as running, patch.dict(os.environ, fake), mock_aws():
        endpoints = {name: running.endpoint for name in ("AWS_ENDPOINT_URL_DRS", "AWS_ENDPOINT_URL_EC2")}
        with patch.dict(os.environ, {**endpoints, "AWS_ENDPOINT_URL_SERVICE_QUOTAS": running.endpoint}):
            os.environ.pop("AWS_SESSION_TOKEN", None)
            reads.reset()
            create_instance_profiles(emulator.launch, boto3.client("iam", region_name="us-east-1"))
            yield Evaluator(clock, emulator)
            reads.reset()


def on(result: Readiness, code: str) -> dict[str | None, str]:
    """Server (or Region when the finding names no server) -> severity, for the findings of one code."""
    return {f.sourceServerId or f.region: f.severity for f in result.findings if f.code == code}
