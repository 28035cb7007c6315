"""Readiness of a plan file against the DRS emulator (`drsctl plan readiness PLAN_FILE --scenario S`): the same checks
as the stack's readiness function, against the estate a scenario describes.

The emulator serves DRS, EC2 and Service Quotas on loopback; IAM and STS are moto's, IAM holding the scenario's
instance profiles. Member accounts are reached as in a rehearsal: the member role is assumed through moto's STS
(refused where the scenario says `assumable: false`), and the emulator answers each call in the account of the
credentials it is signed with.
A plan file has no history (no drill of it: DRILL_OVERDUE says it was never drilled) and holds no lock. With
`rehearse`, the plan is first rehearsed against the scenario, and RTO_AT_RISK judges that rehearsal's makespan.
"""

from __future__ import annotations

import os
import time
from unittest.mock import patch

import boto3
from moto import mock_aws

from drsctl.clock import VirtualClock
from drsctl.emulator import DrsEmulator, Scenario, serving
from drsctl.local.engine import EngineStats, account_of_access_key, member_roles
from drsctl.local.instance_profiles import create_in_every_account
from drsctl.local.run import rehearse
from lambdas.core.plan import RecoveryPlan
from lambdas.core.readiness import reads
from lambdas.core.readiness.estate import Estate
from lambdas.core.readiness.model import Readiness
from lambdas.core.readiness.runner import evaluate

REGION = "us-east-1"


def evaluate_plan_file(
    plan: RecoveryPlan, scenario: Scenario, *, now: float | None = None, rehearse: bool = False
) -> Readiness:
    """The plan's readiness against the scenario's estate, at `now` (default: this machine's time)."""
    predicted = _rehearsed_makespan(plan, scenario) if rehearse else None
    clock = VirtualClock(time.time() if now is None else now)
    emulator = DrsEmulator(scenario, clock)
    emulator.resolve_caller = account_of_access_key
    fake = {
        "AWS_ACCESS_KEY_ID": "readiness",
        "AWS_SECRET_ACCESS_KEY": "readiness",
        "AWS_DEFAULT_REGION": scenario.region,
        "ORCHESTRATOR_ACCOUNT": scenario.accountId,
    }
    with (
        serving(emulator) as running,
        patch.dict(os.environ, fake),
        mock_aws(),
        member_roles(EngineStats(assumable=scenario.assumable)),
    ):
        endpoints = {
            "AWS_ENDPOINT_URL_DRS": running.endpoint,
            "AWS_ENDPOINT_URL_EC2": running.endpoint,
            "AWS_ENDPOINT_URL_SERVICE_QUOTAS": running.endpoint,
        }
        with patch.dict(os.environ, endpoints):
            os.environ.pop("AWS_SESSION_TOKEN", None)
            reads.reset()
            try:
                create_in_every_account(emulator.launch, scenario, boto3.client("iam", region_name=REGION))
                estate = Estate(plan, now=int(clock.now()), predicted_makespan=predicted)
                return evaluate(estate)
            finally:
                reads.reset()


def _rehearsed_makespan(plan: RecoveryPlan, scenario: Scenario) -> float | None:
    return rehearse(plan, scenario, "DRILL").makespanSeconds
